"""`sggft-meta`: a thin command line over the library.

    sggft-meta tasks list [--data-dir DIR]
    sggft-meta quickstart [--out FILE] [key=value ...]
    sggft-meta finetune --task sst2 --shots 16 [--seeds 13,42] [--config run.yaml] [--out FILE] [key=value ...]
    sggft-meta adapt --task rte --shots 16 [--method sggft] [--mode hvp] [--steps T] [--aligner DIR] [key=value ...]
    sggft-meta meta-train --sources mnli,trec,ag_news --out DIR [--config meta.yaml] [key=value ...]
    sggft-meta evaluate --task sst2 --aligner DIR [--shots 16] [key=value ...]
    sggft-meta bench run GRID.yaml --out OUT [--data-dir DIR] [--shard I/N] [--tasks A,B] [--methods M,N] [--shots 8,16] [--fail-fast]
    sggft-meta bench aggregate OUT [--focus METHOD] [--against A,B]

Input errors print one line (`sggft-meta: error: ...`) and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys

from .errors import SggftError

QUICKSTART_DEFAULTS = {"shots": 8, "seeds": [13, 21, 42], "train": {"max_steps": 60}}


def _int_list(flag: str, what: str, example: str):
    """An argparse `type` for `--flag 1,2,3`: a list of ints, or a one-line error naming the flag."""
    def parse(text: str) -> list[int]:
        try:
            values = [int(s) for s in text.split(",") if s.strip()]
        except ValueError:
            values = []
        if not values:
            raise argparse.ArgumentTypeError(f"{flag} takes comma-separated {what} like {example}, got {text!r}")
        return values
    return parse


def _name_list(flag: str, example: str, what: str = "method names"):
    """An argparse `type` for `--flag a, b`: a non-empty list of names, spaces stripped, or a one-line
    error naming the flag (an empty list would silently mean something else than what was asked for)."""
    def parse(text: str) -> list[str]:
        names = [x.strip() for x in text.split(",") if x.strip()]
        if not names:
            raise argparse.ArgumentTypeError(f"{flag} takes comma-separated {what} like {example}, got {text!r}")
        return names
    return parse


# argparse `type`s shared with the other entry points (the SetFit runner's --seeds)
seeds_arg = _int_list("--seeds", "integers", "13,21,42")
shots_arg = _int_list("--shots", "K values", "8,16")


def _run_options(p: argparse.ArgumentParser, *, task: bool = True) -> None:
    if task:
        p.add_argument("--task", help="registered task name or path to a task folder (config field: task)")
    p.add_argument("--shots", type=int, help="K examples per class (config field: shots)")
    p.add_argument("--seeds", type=seeds_arg, help="comma-separated data seeds (default 13,21,42,87,100)")
    p.add_argument("--config", help="YAML file of config fields")
    p.add_argument("--data-dir", help="folder with one sub-folder per task (config field: data.dir; env: SGGFT_DATA_DIR)")
    p.add_argument("--model", help="backbone: minilm, smollm2, a hub id or a local path (config field: model.name)")
    p.add_argument("--adapt", help="head, lora or full (config field: model.adapt)")
    p.add_argument("--out", help="JSON file for per-seed results (config field: out)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.lr=5e-4 model.lora.r=16")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sggft-meta", description="Few-shot adaptation of language models (SGGFT).")
    sub = parser.add_subparsers(dest="command", required=True)
    tasks = sub.add_parser("tasks", help="inspect the task registry")
    tasks_sub = tasks.add_subparsers(dest="tasks_command", required=True)
    listing = tasks_sub.add_parser("list", help="every registered task and where its data comes from")
    listing.add_argument("--data-dir", help="folder with one sub-folder per task (env: SGGFT_DATA_DIR)")
    _run_options(sub.add_parser("quickstart", help="fine-tune MiniLM on the embedded demo tasks (offline, a few minutes)"), task=False)
    _run_options(sub.add_parser("finetune", help="plain fine-tuning over the LM-BFF seeds of one task"))
    adapt = sub.add_parser("adapt", help="the SGGFT inner loop (or plain fine-tuning) over the LM-BFF seeds of one task")
    _run_options(adapt)
    adapt.add_argument("--method", help="sggft (default) or finetune (config field: method)")
    adapt.add_argument("--mode", help="exact, hvp or surgery (config field: sggft.mode)")
    adapt.add_argument("--steps", help="T, inner steps at most (config field: train.max_steps)")
    adapt.add_argument("--aligner", help="a trained aligner directory (meta-train --out) to guide adaptation (config field: aligner)")
    adapt.add_argument("--source-task", help="task whose gradient direction the aligner aligns to (default: the aligner's first source)")
    evaluate = sub.add_parser("evaluate", help="adapt with a trained aligner on a task (any domain) and score its test set")
    _run_options(evaluate)
    evaluate.add_argument("--aligner", required=True, help="the trained aligner directory (meta-train --out)")
    evaluate.add_argument("--source-task", help="task whose gradient direction the aligner aligns to (default: the aligner's first source)")
    evaluate.add_argument("--mode", help="exact, hvp or surgery (default: the mode the aligner was trained with)")
    meta = sub.add_parser("meta-train", help="meta-learn the alignment network on source-task pairs (torchrun: one rank per process)")
    meta.add_argument("--sources", help="comma-separated source tasks (config field: meta.sources)")
    meta.add_argument("--out", required=True, help="run directory: checkpoints/ and the trained aligner (config.json + model.safetensors); resumed if it holds a checkpoint")
    meta.add_argument("--config", help="YAML file of config fields")
    meta.add_argument("--data-dir", help="folder with one sub-folder per task (config field: data.dir; env: SGGFT_DATA_DIR)")
    meta.add_argument("--model", help="backbone (config field: model.name)")
    meta.add_argument("--steps", help="outer steps (config field: meta.outer_steps)")
    meta.add_argument("--mode", help="inner-loop update mode (config field: sggft.mode; default for meta-training: surgery)")
    meta.add_argument("--no-progress", action="store_true", help="no progress bar")
    meta.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. meta.meta_batch=8 meta.meta_grad=unrolled")
    bench = sub.add_parser("bench", help="benchmark grids: methods x tasks x K x seeds (docs/benchmarks.md)")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True)
    bench_run = bench_sub.add_parser("run", help="run every unfinished cell of a grid YAML, then aggregate")
    bench_run.add_argument("grid", help="grid YAML file (see benchmarks/grids/example.yaml)")
    bench_run.add_argument("--out", required=True, help="output folder: cells/ records, results.md, summary.json, plots")
    bench_run.add_argument("--data-dir", help="folder with one sub-folder per task (else the grid's data_dir, else SGGFT_DATA_DIR)")
    bench_run.add_argument("--shard", help="I/N: run only every N-th cell starting at the I-th, so N processes can share "
                           "one grid and --out (each aggregates what is finished)")
    bench_run.add_argument("--tasks", type=_name_list("--tasks", "sst2,rte", "task names"), help="comma-separated: run only these tasks of the grid (the others stay missing)")
    bench_run.add_argument("--methods", type=_name_list("--methods", "finetune_lora,sggft_all"), help="comma-separated: run only these methods of the grid (the others stay missing)")
    bench_run.add_argument("--shots", dest="only_shots", type=shots_arg,
                           help="comma-separated K values: run only these K of the grid (the others stay missing)")
    bench_run.add_argument("--fail-fast", action="store_true", help="stop at the first failed cell (default: record it and go on)")
    bench_agg = bench_sub.add_parser("aggregate", help="tables, summary.json and plots from the cells of a run")
    bench_agg.add_argument("out", help="the --out folder of `bench run`")
    bench_agg.add_argument("--focus", help="method compared (paired, per task and seed) against the best other method")
    bench_agg.add_argument("--against", type=_name_list("--against", "finetune_lora,reptile"),
                           help="comma-separated: compare the focus with the best of these by average (default: the "
                           "grid's `against`, else every other method)")
    return parser


def config_from_args(args: argparse.Namespace, base: dict | None = None):
    from .config import load_config

    overrides = list(args.overrides)
    flags = (("task", "task"), ("shots", "shots"), ("data_dir", "data.dir"), ("model", "model.name"), ("adapt", "model.adapt"),
             ("out", "out"), ("method", "method"), ("mode", "sggft.mode"), ("steps", "train.max_steps"),
             ("aligner", "aligner"), ("source_task", "source_task"))
    for flag, key in flags:
        value = getattr(args, flag, None)
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.seeds is not None:
        overrides.append(f"seeds={args.seeds}")
    if args.no_progress:
        overrides.append("progress=false")
    return load_config(args.config, overrides, base=base)


def cmd_tasks_list(args) -> int:
    from .report import markdown_table
    from .task import TASKS, load_builtin_tasks, resolve_data_dir

    load_builtin_tasks()
    data_dir = args.data_dir
    root = resolve_data_dir(data_dir)
    rows = []
    for name in TASKS.names():
        task = TASKS.get(name)
        source = task.source(data_dir)
        folder = task.local_folder(data_dir)
        if folder is not None and not folder.is_dir():
            counts, source = "-", f"missing: {folder}"
        elif folder is not None:
            counts = "/".join(f"{k} {v}" for k, v in task.row_counts(data_dir).items())
        else:
            counts = "-"
        classes = "regression" if task.is_regression else str(task.num_classes)
        rows.append([name, task.domain, classes, "yes" if task.pair else "no", task.metric, counts, source])
    print(markdown_table(["task", "domain", "classes", "pair", "metric", "rows", "data from"], rows))
    where = f"data folder: {root}" if root else "no data folder set (--data-dir or SGGFT_DATA_DIR): real tasks load from the hub when online"
    print(f"\n{len(rows)} tasks; {where}")
    return 0


def print_reports(reports) -> None:
    from .report import fmt_mean_std, markdown_table

    rows = []
    for r in reports:
        mean, std = r.mean_std
        rows.append([r.task, r.shots, r.method, r.backbone, r.adapt, r.metric, fmt_mean_std(mean, std), len(r.seeds),
                     f"{r.trace_mean('grad_norm_cv'):.2f}", f"{r.seconds_per_run:.1f}"])
    print(markdown_table(["task", "K", "method", "backbone", "adapt", "metric", "mean (std)", "seeds", "grad-norm CV", "s/run"], rows))


def cmd_run(args, base: dict | None = None) -> int:
    from .run import run_method

    cfg = config_from_args(args, base=base)
    report = run_method(cfg)
    print_reports([report])
    if report.aligner:
        a = report.aligner
        seen = "SEEN in meta-training" if a["target_domain_seen"] else "not seen in meta-training"
        print(f"aligner {a['dir']} (sources {', '.join(a['sources'])}; aligned to {a['source_task']}); "
              f"target domain {seen}; mean gate {report.trace_mean('gate'):.3f}, rho {report.trace_mean('rho'):+.3f}")
    if cfg.out:
        print(f"per-seed results: {cfg.out}")
    return 0


#: meta-training defaults that differ from adaptation's: the alignment term is what it learns,
#: and first-order `surgery` steps keep a truncated meta-gradient first order
META_TRAIN_DEFAULTS = {"method": "sggft", "sggft": {"mode": "surgery", "lambda_align": 1.0}}


def cmd_meta_train(args) -> int:
    import os

    from .config import load_config
    from .outer_loop import MetaLearner

    overrides = list(args.overrides)
    for flag, key in (("data_dir", "data.dir"), ("model", "model.name"), ("steps", "meta.outer_steps"), ("mode", "sggft.mode")):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={getattr(args, flag)}")
    if args.sources:
        overrides.append(f"meta.sources=[{args.sources}]")
    if args.no_progress:
        overrides.append("progress=false")
    cfg = load_config(args.config, overrides, base=META_TRAIN_DEFAULTS)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:  # launched by torchrun: one process per rank
        import torch

        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"device": f"cuda:{local}"})})
        torch.distributed.init_process_group(backend)
    try:
        learner = MetaLearner(cfg)
        learner.train(args.out)
    finally:
        if world > 1:
            import torch

            torch.distributed.destroy_process_group()
    if learner.rank == 0:
        h = learner.history[-10:]
        if h:
            print(f"meta-trained {learner.step} outer steps on {', '.join(cfg.meta.sources)}; last {len(h)} steps: "
                  f"meta-loss {sum(x['meta_loss'] for x in h) / len(h):.4f}, gate {sum(x['gate'] for x in h) / len(h):.3f}, "
                  f"rho {sum(x['rho'] for x in h) / len(h):+.3f}")
        print(f"aligner: {args.out} (load with --aligner {args.out})")
    return 0


def cmd_quickstart(args) -> int:
    from sggft_tasks.demo import DEMO_TASKS

    from .model.loading import load_backbone
    from .report import write_json_atomic
    from .run import run_finetune, run_metadata

    cfg = config_from_args(args, base=dict(QUICKSTART_DEFAULTS))
    print(f"quickstart: {cfg.model.name} ({cfg.model.adapt}), K={cfg.shots}, seeds {cfg.seeds}, demo tasks {', '.join(DEMO_TASKS)}", file=sys.stderr)
    backbone = load_backbone(cfg.model, cfg.data.max_length)
    reports, meta = [], run_metadata(cfg)
    for name in DEMO_TASKS:
        task_cfg = cfg.model_copy(update={"task": name, "out": None})
        reports.append(run_finetune(task_cfg, backbone))
        if cfg.out:
            write_json_atomic(cfg.out, {**meta, "results": [r.to_json() for r in reports]})
    print_reports(reports)
    print("\nThe demo corpus is small and written for this demo: it shows the pipeline works, it is not a benchmark.")
    return 0


def cmd_bench_run(args) -> int:
    from .bench import aggregate, load_grid, run_grid
    from .bench.runner import parse_shard

    shard = parse_shard(args.shard) if args.shard else None
    run = run_grid(load_grid(args.grid), args.out, data_dir=args.data_dir, fail_fast=args.fail_fast, shard=shard,
                   only_tasks=args.tasks, only_methods=args.methods, only_shots=args.only_shots)
    aggregate(args.out)
    copied = f"{run.reused} copied (reuse), " if run.reused else ""
    print(f"{run.ran} cells run, {run.skipped} skipped (done earlier), {copied}{len(run.failed)} failed, of {run.total}; "
          f"results: {args.out}/results.md")
    return 0 if run.ok else 1


def cmd_bench_aggregate(args) -> int:
    from .bench import aggregate

    summary = aggregate(args.out, focus=args.focus, against=args.against)
    c = summary["cells"]
    print(f"{c['ok']} cells ok, {c['errors']} failed, {c['missing']} missing, of {c['expected']}; results: {args.out}/results.md")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "tasks":
            return cmd_tasks_list(args)
        if args.command in ("finetune", "adapt", "evaluate"):
            if not args.task and not args.config:
                raise SggftError(f"{args.command} needs --task NAME (or a config file that sets task); see `sggft-meta tasks list`")
            return cmd_run(args, base={"method": "finetune" if args.command == "finetune" else "sggft"})
        if args.command == "meta-train":
            return cmd_meta_train(args)
        if args.command == "quickstart":
            return cmd_quickstart(args)
        if args.command == "bench":
            return cmd_bench_run(args) if args.bench_command == "run" else cmd_bench_aggregate(args)
    except SggftError as e:
        print(f"sggft-meta: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sggft-meta: interrupted; results written so far are kept", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
