"""`sggft-meta`: a thin command line over the library.

    sggft-meta tasks list [--data-dir DIR]
    sggft-meta quickstart [--save DIR] [--out FILE] [key=value ...]
    sggft-meta finetune --task sst2 --shots 16 [--seeds 13,42] [--steps T] [--config run.yaml] [--out FILE [--overwrite]] [key=value ...]
    sggft-meta adapt --task rte --shots 16 [--method sggft] [--mode hvp] [--steps T] [--aligner DIR] [key=value ...]
    sggft-meta meta-train --sources mnli,trec,ag_news --out DIR [--outer-steps N] [--config meta.yaml] [key=value ...]
    sggft-meta evaluate --task sst2 --aligner DIR [--shots 16] [key=value ...]
    sggft-meta fit --task TASK_OR_FOLDER --save DIR [--method finetune|sggft] [--aligner DIR] [--overwrite] [key=value ...]
    sggft-meta predict DIR --input FILE|- --out FILE [--overwrite] [--no-progress]

`key=value` config overrides may come anywhere on the line, before or after flags. `--steps`
means `train.max_steps` (inner steps) wherever it exists; meta-train's outer steps are
`--outer-steps`. Only meta-train runs under torchrun; the other commands refuse WORLD_SIZE > 1.

Input errors print one line (`sggft-meta: error: ...`) and exit with status 2, before any model
loads. `--out` is checked before any work (a file name in a writable folder; an existing result
is replaced only with `--overwrite`); the per-seed results go to `OUT.partial` while the run
goes on and replace `--out` when it ends, so an interrupted run leaves `--out` as it was.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .errors import CheckpointError, DataError, SggftError
from .io import check_writable


def int_list_arg(flag: str, what: str, example: str):
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


seeds_arg = int_list_arg("--seeds", "integers", "13,21,42")


def _setup_options(p: argparse.ArgumentParser, *, adapt: bool = True, config: str = "YAML file of config fields") -> None:
    """Where the data and the backbone come from, and a config file: every command that trains."""
    p.add_argument("--config", help=config)
    p.add_argument("--data-dir", help="folder with one sub-folder per task (config field: data.dir; env: SGGFT_DATA_DIR)")
    p.add_argument("--model", help="backbone: minilm, mpnet, smollm2, a hub id or a local path (config field: model.name)")
    if adapt:
        p.add_argument("--adapt", help="head, lora or full (config field: model.adapt)")


def _guidance_options(p: argparse.ArgumentParser, *, aligner_required: bool = False) -> None:
    """The SGGFT settings a command that adapts takes by flag."""
    p.add_argument("--mode", help="exact, hvp or surgery (config field: sggft.mode; with --aligner, default: the mode it was trained with)")
    p.add_argument("--aligner", required=aligner_required,
                   help="a trained aligner directory (meta-train --out) to guide SGGFT (config field: aligner)")
    p.add_argument("--source-task", help="task(s) whose gradient direction guides adaptation (config field: source_task; "
                   "default with --aligner: its first source)")


def _tail_options(p: argparse.ArgumentParser, *, progress: str, example: str) -> None:
    """`--no-progress` and the `key=value` overrides (anywhere on the line): every command that trains."""
    p.add_argument("--no-progress", action="store_true", help=progress)
    p.add_argument("overrides", nargs="*", metavar="key=value", help=f"config overrides, anywhere on the line, e.g. {example}")


def _run_options(p: argparse.ArgumentParser, *, task: bool = True) -> None:
    if task:
        p.add_argument("--task", help="registered task name or path to a task folder (config field: task)")
    p.add_argument("--shots", type=int, help="K examples per class (config field: shots)")
    p.add_argument("--seeds", type=seeds_arg, help="comma-separated data seeds (default 13,21,42,87,100)")
    _setup_options(p)
    p.add_argument("--steps", help="T, inner steps at most (config field: train.max_steps)")
    p.add_argument("--out", help="JSON file for per-seed results, written when the run ends; OUT.partial holds the "
                   "seeds finished so far (config field: out)")
    _tail_options(p, progress="no progress bars (a line per finished seed still shows)", example="train.lr=5e-4 model.lora.r=16")


def _overwrite_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true", help="replace --out if it already holds a result")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sggft-meta", description="Few-shot adaptation of language models (SGGFT).")
    sub = parser.add_subparsers(dest="command", required=True)
    tasks = sub.add_parser("tasks", help="inspect the task registry")
    tasks_sub = tasks.add_subparsers(dest="tasks_command", required=True)
    listing = tasks_sub.add_parser("list", help="every registered task and where its data comes from")
    listing.add_argument("--data-dir", help="folder with one sub-folder per task (env: SGGFT_DATA_DIR)")
    quick = sub.add_parser("quickstart", help="the main job on the embedded demo tasks, offline, in a few minutes: fit, save, "
                           "load, predict; then SGGFT against plain fine-tuning")
    _run_options(quick, task=False)
    quick.add_argument("--save", help="keep the fitted demo classifier in this folder (default: a temporary folder)")
    quick.add_argument("--overwrite", action="store_true", help="replace an existing --save folder or --out file")
    finetune = sub.add_parser("finetune", help="plain fine-tuning over the LM-BFF seeds of one task")
    _run_options(finetune)
    _overwrite_option(finetune)
    adapt = sub.add_parser("adapt", help="the SGGFT inner loop (or plain fine-tuning) over the LM-BFF seeds of one task")
    _run_options(adapt)
    _overwrite_option(adapt)
    adapt.add_argument("--method", help="sggft (default) or finetune (config field: method)")
    _guidance_options(adapt)
    evaluate = sub.add_parser("evaluate", help="adapt with a trained aligner on a task (any domain) and score its test set")
    _run_options(evaluate)
    _overwrite_option(evaluate)
    _guidance_options(evaluate, aligner_required=True)
    meta = sub.add_parser("meta-train", help="meta-learn the alignment network on source-task pairs (torchrun: one rank per process)")
    meta.add_argument("--sources", help="comma-separated source tasks (config field: meta.sources)")
    meta.add_argument("--out", required=True, help="run directory: checkpoints/ and the trained aligner (config.json + model.safetensors); resumed if it holds a checkpoint")
    _setup_options(meta, adapt=False)
    meta.add_argument("--outer-steps", help="outer steps (config field: meta.outer_steps)")
    meta.add_argument("--mode", help="inner-loop update mode (config field: sggft.mode; default for meta-training: surgery)")
    _tail_options(meta, progress="no progress bar", example="meta.meta_batch=8 meta.meta_grad=unrolled")
    fit = sub.add_parser("fit", help="adapt on all of a task's training data and save the classifier (docs/fit.md)")
    fit.add_argument("--task", help="registered task name or path to a task folder: its train split is the training data (config field: task)")
    fit.add_argument("--save", required=True, help="folder to save the classifier to (created; see --overwrite)")
    fit.add_argument("--method", help="finetune (default) or sggft (config field: method)")
    _guidance_options(fit)
    fit.add_argument("--steps", help="inner steps at most (config field: train.max_steps)")
    _setup_options(fit, config="YAML file of config fields (FitConfig: a run config plus dev.*, seed, head_rows)")
    fit.add_argument("--seed", help="seed of the dev split and minibatch order (config field: seed)")
    fit.add_argument("--overwrite", action="store_true", help="replace --save if it holds a saved classifier")
    _tail_options(fit, progress="no progress bar or messages", example="train.max_steps=200 dev.fraction=0.2")
    predict = sub.add_parser("predict", help="classify a file of texts with a saved classifier")
    predict.add_argument("model_dir", metavar="DIR", help="a saved classifier (sggft-meta fit --save, save_pretrained)")
    predict.add_argument("--input", required=True, help="jsonl, csv or tsv (by extension) with a 'text' field (and 'text_pair' for pair models); - reads jsonl from stdin")
    predict.add_argument("--out", required=True, help="predictions: jsonl, or csv / tsv by extension; - writes jsonl to stdout")
    predict.add_argument("--batch-size", type=int, default=64, help="texts per forward pass (default 64)")
    predict.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda when available)")
    predict.add_argument("--backbone", help="where the backbone lives now, if its local folder moved (its weights must match)")
    predict.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    predict.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


#: commands that run in one process: under torchrun every rank would run the whole job and write
#: the same files
NOT_DISTRIBUTED = ("finetune", "adapt", "evaluate", "fit", "predict", "quickstart")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The parsed command line, with `key=value` overrides taken from anywhere on it (before or
    after flags, as torchtune reads them) in the order given; anything else argparse does not
    know is an error that names it."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    takes_overrides = hasattr(args, "overrides")
    overrides = [a for a in rest if "=" in a and not a.startswith("-")] if takes_overrides else []
    unknown = [a for a in rest if a not in overrides]
    if unknown:
        args.unknown = unknown
    if takes_overrides:
        args.overrides = [*args.overrides, *overrides]
    return args


def _command_name(args: argparse.Namespace) -> str:
    return "tasks list" if args.command == "tasks" else args.command


def check_unknown_arguments(args: argparse.Namespace) -> None:
    """SggftError naming what on the command line is neither a flag of the command nor an override."""
    unknown = getattr(args, "unknown", None)
    if not unknown:
        return
    command = _command_name(args)
    if command == "meta-train" and any(a == "--steps" or a.startswith("--steps=") for a in unknown):
        raise SggftError("meta-train has no --steps: its number of outer steps is --outer-steps N (config field: "
                         "meta.outer_steps); --steps means inner steps (train.max_steps) in the commands that adapt")
    listed = " ".join(unknown)
    if any("=" in a and not a.startswith("-") for a in unknown):
        raise SggftError(f"{command} takes no key=value overrides, got {listed!r}; see `sggft-meta {command} --help` for its flags")
    hint = ("; config overrides are key=value (e.g. train.lr=5e-4)" if hasattr(args, "overrides") else "")
    raise SggftError(f"unrecognized argument{'s' if len(unknown) > 1 else ''} {listed!r} for {command}{hint}; "
                     f"see `sggft-meta {command} --help` for its flags")


def check_not_distributed(command: str) -> None:
    """SggftError when a one-process command was launched by torchrun (WORLD_SIZE > 1)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        world = 1
    if world > 1 and command in NOT_DISTRIBUTED:
        raise SggftError(f"sggft-meta {command} is not distributed; run it without torchrun "
                         f"(only meta-train uses several processes; WORLD_SIZE is {world})")


def _is_result_file(path: Path) -> bool:
    try:
        return isinstance(json.loads(path.read_text(encoding="utf-8")).get("results"), list)
    except (OSError, ValueError, AttributeError):
        return False


def check_results_out(out, overwrite: bool = False) -> Path:
    """The `--out` JSON of finetune / adapt / evaluate, checked before any work: a file name (not
    a folder) whose folder exists or can be created and is writable; an existing file is
    replaced only with `overwrite`."""
    from .classifier import check_out_file

    path = Path(out).expanduser()
    if path.is_dir():
        raise DataError(f"--out {path} is a folder; give a file name for the results, e.g. {path / 'results.json'}")
    if path.exists() and not overwrite:
        what = "already holds a finished result" if _is_result_file(path) else "already exists"
        raise DataError(f"--out {path} {what}; pass --overwrite to replace it, or choose another file")
    check_out_file(path, overwrite=True)  # the library's checks of an output file, writability (a real write) included
    return path


def check_run_dir(out) -> Path:
    """meta-train's `--out` (a run folder, resumed when it holds checkpoints), checked before
    the backbone loads: not a file, and writable."""
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise CheckpointError(f"meta-train --out {path} is a file; --out names the run's folder (checkpoints and the "
                              "trained aligner): choose a folder name")
    check_writable(path, folder=True)
    return path


def check_meta_resume(cfg, out: Path) -> None:
    """Before the backbone and pools load: a resumed run's sources and training config."""
    from .outer_loop import MetaLearner

    MetaLearner.check_resume(cfg, out)


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


def print_seed(report, seed) -> None:
    """One line on stderr per finished seed, shown with or without progress bars."""
    from tqdm.auto import tqdm

    tqdm.write(f"seed {seed.seed}: test {report.metric} {seed.test_metric:.3f} "
               f"({seed.train_seconds + seed.eval_seconds:.0f} s)", file=sys.stderr)


def interrupted_message(out: Path | None, since: float, out_existed: bool) -> str:
    """Where the results of an interrupted run are, for the line printed on Ctrl-C."""
    from .run import partial_path

    kept = f"; {out} is unchanged" if out_existed else ""
    if out is None:
        return "sggft-meta: interrupted; no --out was given, so nothing was written"
    partial = partial_path(out)
    try:
        fresh = partial.stat().st_mtime >= since
        n = len(json.loads(partial.read_text(encoding="utf-8"))["results"][0]["seeds"]) if fresh else 0
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        fresh, n = False, 0
    if not fresh:
        return f"sggft-meta: interrupted before the first seed finished; nothing was written{kept}"
    return f"sggft-meta: interrupted after {n} finished seed{'s' if n != 1 else ''}; the results so far are in {partial}{kept}"


def cmd_run(args, base: dict | None = None) -> int:
    from .classifier import quiet_loading
    from .run import run_method

    cfg = config_from_args(args, base=base)
    out = check_results_out(cfg.out, args.overwrite) if cfg.out else None  # before any work
    out_existed, since = out is not None and out.exists(), time.time()
    try:
        with quiet_loading(not cfg.progress):
            report = run_method(cfg, on_seed=print_seed)
    except KeyboardInterrupt:
        print(interrupted_message(out, since, out_existed), file=sys.stderr)
        return 130
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



def cmd_meta_train(args) -> int:
    from .classifier import quiet_loading
    from .config import META_TRAIN_DEFAULTS, load_config
    from .outer_loop import MetaLearner

    out = check_run_dir(args.out)  # before the backbone loads
    overrides = list(args.overrides)
    for flag, key in (("data_dir", "data.dir"), ("model", "model.name"), ("outer_steps", "meta.outer_steps"), ("mode", "sggft.mode")):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={getattr(args, flag)}")
    if args.sources:
        overrides.append(f"meta.sources=[{args.sources}]")
    if args.no_progress:
        overrides.append("progress=false")
    cfg = load_config(args.config, overrides, base=META_TRAIN_DEFAULTS)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    check_meta_resume(cfg, out)  # a changed config is refused before the backbone and pools load
    if world > 1:  # launched by torchrun: one process per rank
        import torch

        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"device": f"cuda:{local}"})})
        torch.distributed.init_process_group(backend)
    try:
        with quiet_loading(not cfg.progress):
            learner = MetaLearner(cfg)
        learner.train(out)
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
    from pathlib import Path

    from .classifier import check_out_file, check_save_dir
    from .quickstart import DEFAULTS, run_quickstart

    save = check_save_dir(args.save, args.overwrite) if args.save else None  # before any work
    out = check_out_file(args.out, args.overwrite) if args.out else None
    args.out = None
    cfg = config_from_args(args, base=dict(DEFAULTS))
    reports = run_quickstart(cfg, save=save, out=Path(out) if out else None)
    print_reports(reports)
    print("\nThe demo corpus is small and written for this demo: it shows the pipeline works, it is not a benchmark.")
    return 0


def cmd_fit(args) -> int:
    from .classifier import check_save_dir
    from .config import FitConfig, load_config
    from .fitting import fit

    save = check_save_dir(args.save, args.overwrite)  # before any work
    overrides = list(args.overrides)
    flags = (("task", "task"), ("data_dir", "data.dir"), ("model", "model.name"), ("adapt", "model.adapt"), ("method", "method"),
             ("mode", "sggft.mode"), ("steps", "train.max_steps"), ("aligner", "aligner"), ("source_task", "source_task"), ("seed", "seed"))
    for flag, key in flags:
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={getattr(args, flag)}")
    if args.no_progress:
        overrides.append("progress=false")
    base = {"method": "sggft"} if args.aligner and not args.method else None
    cfg = load_config(args.config, overrides, base=base, model=FitConfig)
    if not args.task and "task" not in cfg.model_fields_set:
        raise SggftError("fit needs --task NAME_OR_FOLDER (or a config file that sets task); see `sggft-meta tasks list`")
    model = fit(cfg.task, config=cfg)
    model.save_pretrained(save, overwrite=args.overwrite)
    info = model.fit_info
    print(f"fit {info['method']} on {info['n_examples']} examples of {cfg.task} ({model.backbone_ref}, {model.adapt}): {info['note']}; "
          f"{info['steps']} steps, {info['train_seconds']:.1f} s")
    print(f"saved: {save} (sggft-meta predict {save} --input FILE --out FILE)")
    return 0


def cmd_predict(args) -> int:
    from .classifier import predict_file

    n = predict_file(args.model_dir, args.input, args.out, overwrite=args.overwrite, batch_size=args.batch_size,
                     device=args.device, backbone=args.backbone, progress=not args.no_progress)
    if args.out != "-":
        print(f"{n} predictions: {args.out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        check_unknown_arguments(args)
        check_not_distributed(args.command)
        if args.command == "tasks":
            return cmd_tasks_list(args)
        if args.command in ("finetune", "adapt", "evaluate"):
            if not args.task and not args.config:
                raise SggftError(f"{args.command} needs --task NAME (or a config file that sets task); see `sggft-meta tasks list`")
            return cmd_run(args, base={"method": "finetune" if args.command == "finetune" else "sggft"})
        if args.command == "meta-train":
            return cmd_meta_train(args)
        if args.command == "fit":
            return cmd_fit(args)
        if args.command == "predict":
            return cmd_predict(args)
        if args.command == "quickstart":
            return cmd_quickstart(args)
    except SggftError as e:
        print(f"sggft-meta: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sggft-meta: interrupted; results written so far are kept", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
