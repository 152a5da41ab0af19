"""`sggft-bench`: run benchmark grids, aggregate their results, run the SetFit baseline.

    sggft-bench run GRID.yaml --out OUT [--data-dir DIR] [--shard I/N] [--tasks A,B] [--methods M,N] [--shots 8,16] [--fail-fast]
    sggft-bench aggregate OUT [--focus METHOD] [--against A,B]
    sggft-bench setfit --task sst2 [--shots 16] [--seeds 13,42] [--data-dir DIR] [--body DIR] [--out FILE] [key=value ...]

`python -m sggft_bench ...` is the same command. Input errors print one line
(`sggft-bench: error: ...`) and exit with status 2. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys

from sggft_meta.errors import SggftError

from .arguments import name_list, shots_arg

PROG = "sggft-bench"


def build_parser() -> argparse.ArgumentParser:
    from .setfit_runner import add_arguments as add_setfit_arguments

    parser = argparse.ArgumentParser(prog=PROG, description="Benchmark grids for sggft-meta: methods x tasks x K x seeds "
                                     "(docs/benchmarks.md).")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run every unfinished cell of a grid YAML, then aggregate")
    run.add_argument("grid", help="grid YAML file (see benchmarks/grids/example.yaml)")
    run.add_argument("--out", required=True, help="output folder: cells/ records, results.md, summary.json, plots")
    run.add_argument("--data-dir", help="folder with one sub-folder per task (else the grid's data_dir, else SGGFT_DATA_DIR)")
    run.add_argument("--shard", help="I/N: run only every N-th cell starting at the I-th, so N processes can share "
                     "one grid and --out (each aggregates what is finished)")
    run.add_argument("--tasks", type=name_list("--tasks", "sst2,rte", "task names"),
                     help="comma-separated: run only these tasks of the grid (the others stay missing)")
    run.add_argument("--methods", type=name_list("--methods", "finetune_lora,sggft_all"),
                     help="comma-separated: run only these methods of the grid (the others stay missing)")
    run.add_argument("--shots", dest="only_shots", type=shots_arg,
                     help="comma-separated K values: run only these K of the grid (the others stay missing)")
    run.add_argument("--fail-fast", action="store_true", help="stop at the first failed cell (default: record it and go on)")
    agg = sub.add_parser("aggregate", help="tables, summary.json and plots from the cells of a run")
    agg.add_argument("out", help="the --out folder of `sggft-bench run`")
    agg.add_argument("--focus", help="method compared (paired, per task and seed) against the best other method")
    agg.add_argument("--against", type=name_list("--against", "finetune_lora,reptile"),
                     help="comma-separated: compare the focus with the best of these by average (default: the "
                     "grid's `against`, else every other method)")
    setfit = sub.add_parser("setfit", help="the SetFit baseline over the LM-BFF seeds of one task (one JSON result)")
    add_setfit_arguments(setfit)
    return parser


def cmd_run(args) -> int:
    from . import aggregate, load_grid, run_grid
    from .runner import parse_shard

    shard = parse_shard(args.shard) if args.shard else None
    run = run_grid(load_grid(args.grid), args.out, data_dir=args.data_dir, fail_fast=args.fail_fast, shard=shard,
                   only_tasks=args.tasks, only_methods=args.methods, only_shots=args.only_shots)
    aggregate(args.out)
    copied = f"{run.reused} copied (reuse), " if run.reused else ""
    print(f"{run.ran} cells run, {run.skipped} skipped (done earlier), {copied}{len(run.failed)} failed, of {run.total}; "
          f"results: {args.out}/results.md")
    return 0 if run.ok else 1


def cmd_aggregate(args) -> int:
    from . import aggregate

    summary = aggregate(args.out, focus=args.focus, against=args.against)
    c = summary["cells"]
    print(f"{c['ok']} cells ok, {c['errors']} failed, {c['missing']} missing, of {c['expected']}; results: {args.out}/results.md")
    return 0


def cmd_setfit(args, argv: list[str]) -> int:
    from .setfit_runner import run_from_args

    return run_from_args(args, [PROG, *argv])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "aggregate":
            return cmd_aggregate(args)
        if args.command == "setfit":
            return cmd_setfit(args, argv)
    except SggftError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; cell records written so far are kept", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
