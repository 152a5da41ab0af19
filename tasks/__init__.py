"""Built-in tasks of sggft-meta, installed as `sggft_tasks`.

Importing this package registers every task of the shared data pack (../shared/data,
MANIFEST.md) and the embedded demo tasks in `sggft_meta.TASKS`. Data for the real tasks comes
from the data folder (`--data-dir` / `SGGFT_DATA_DIR`) or, online, from the hub ids given here.
"""

from . import demo, nli_paraphrase, sentiment, topic_and_more  # noqa: F401  (register on import)
