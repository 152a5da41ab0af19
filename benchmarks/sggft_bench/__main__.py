"""`python -m sggft_bench run|aggregate|setfit ...`: the same as the `sggft-bench` command."""

import sys

from .cli import main

sys.exit(main())
