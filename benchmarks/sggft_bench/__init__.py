"""sggft-bench, the experiment harness of sggft-meta: a YAML grid of methods x tasks x K x seeds,
run resumably (one JSON record per cell), aggregated into Markdown tables, a JSON summary and
plots. It uses the library's public names only; the library never imports it. See
docs/benchmarks.md; the command line is `sggft-bench run|aggregate|setfit` (`sggft_bench.cli`).

    from sggft_bench import load_grid, run_grid, aggregate
    run_grid(load_grid("benchmarks/grids/example.yaml"), "runs/bench/example")
    aggregate("runs/bench/example", focus="sggft")

New method kinds register with `@BENCH_METHODS.register("name")` a function
`fn(cell: Cell, ctx: Context) -> dict` (see `sggft_bench.methods`).
"""

from .aggregate import aggregate
from .grid import Cell, Grid, MethodSpec, cells, load_grid, parse_grid
from .methods import BENCH_METHODS
from . import meta_methods  # noqa: F401,E402  (registers the meta_init and sggft_meta kinds)
from .runner import Context, GridRun, run_grid
from .stats import PairedTest, paired_sign_flip

__all__ = ["BENCH_METHODS", "Cell", "Context", "Grid", "GridRun", "MethodSpec", "PairedTest", "aggregate", "cells",
           "load_grid", "paired_sign_flip", "parse_grid", "run_grid"]
