"""Bench kinds of the meta-learned methods, evaluated leave-one-domain-out (PROTOCOL.md).

- `meta_init`: phi_0 meta-learned by MAML, first-order MAML or Reptile
  (`sggft_meta.baselines.meta_init.MetaInitLearner`), then plain target fine-tuning from it
  (`run_method` with `method=finetune`).
- `sggft_meta`: the alignment network meta-trained by `sggft_meta.outer_loop.MetaLearner`, then
  SGGFT adaptation guided by it (`run_method` with `method=sggft`, `aligner=<dir>`).

Meta-training runs once per (method, held-out domain) and is kept under
`OUT/meta/<method>/<domain>/` (checkpoints, so a killed grid resumes it; the learned init or
aligner, reused by every task, K and seed of that domain). The sources are never of the target's
domain: `lodo: true` takes every classification task of the target's data pack (the embedded demo
tasks for a demo target, else the tasks present in the data folder) whose domain differs; an
explicit `sources` list loses its tasks of the target's domain (recorded as `dropped_sources`).

Options (grid `options:`), both kinds: `sources` (list) or `lodo: true`; `outer_steps`,
`meta_batch`, `meta_lr`, `inner_steps`, `n_way`, `k_shot`, `q_query`, `seed`,
`checkpoint_every`, `max_grad_norm`, `reptile_lr` (the `meta.*` fields of the same names).
`meta_init` adds `algorithm` (maml, fomaml, reptile), `inner_optimizer` (sgd, train),
`inner_lr`, `inner_head_lr`; `sggft_meta` adds `meta_grad`, `truncate_k`, `adjoint`,
`across_domains`, `reptile`, `aligner` (a mapping of `meta.aligner.*` fields). RunConfig
overrides (`overrides:`) apply to meta-training and to the target runs alike.

A cell's `seconds` is its target episode (adaptation + test), as for kind `run`; the
meta-training it paid for is in `meta.seconds_this_cell` (0 when the domain's result was reused)
and `meta.train_seconds` (the whole meta-training of that domain, as recorded when it ended).
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

from sggft_meta.errors import ConfigError, SggftError
from .heap import release_freed_memory
from .grid import safe_name
from .methods import BENCH_METHODS

#: option -> `meta.*` config path, shared by both kinds
META_OPTIONS = {
    "outer_steps": "meta.outer_steps", "meta_batch": "meta.meta_batch", "meta_lr": "meta.meta_lr",
    "inner_steps": "meta.inner_steps", "n_way": "meta.episode.n_way", "k_shot": "meta.episode.k_shot",
    "q_query": "meta.episode.q_query", "seed": "meta.seed", "checkpoint_every": "meta.checkpoint_every",
    "max_grad_norm": "meta.max_grad_norm", "reptile_lr": "meta.reptile_lr",
}
SGGFT_META_OPTIONS = {
    "meta_grad": "meta.meta_grad", "truncate_k": "meta.truncate_k", "adjoint": "meta.adjoint",
    "across_domains": "meta.across_domains", "reptile": "meta.reptile",
}
INIT_SETTINGS = ("algorithm", "inner_optimizer", "inner_lr", "inner_head_lr")
SOURCE_OPTIONS = ("sources", "lodo")
META_DIR = "meta"
RECORD = "bench_meta.json"


# ----------------------------------------------------------------------------- sources
def pack_tasks(target, data_dir) -> tuple[list[str], str]:
    """The task names of `target`'s data pack, and the pack in words: the embedded demo tasks
    when the target is one, else the registered tasks whose folder is in the data folder."""
    from sggft_meta.data.io import find_split_file
    from sggft_meta.task import TASKS, load_builtin_tasks, resolve_data_dir

    load_builtin_tasks()
    from sggft_tasks.demo import DEMO_TASKS

    if target.name in DEMO_TASKS:
        return list(DEMO_TASKS), "the embedded demo tasks"
    root = resolve_data_dir(data_dir)
    if root is None:
        raise ConfigError("lodo: true takes its sources from the data pack, but no data folder is set: pass --data-dir "
                          "(or set SGGFT_DATA_DIR), or list the sources explicitly (options.sources)")
    names = [n for n in TASKS.names()
             if TASKS.get(n).folder is None and (root / n).is_dir() and find_split_file(root / n, "train") is not None]
    return names, f"the data folder {root}"


def lodo_sources(target, data_dir=None) -> list[str]:
    """Every classification task of `target`'s data pack whose domain is not the target's."""
    from sggft_meta.task import get_task

    names, where = pack_tasks(target, data_dir)
    out = []
    for name in names:
        task = get_task(name)
        if name != target.name and not task.is_regression and task.domain != target.domain:
            out.append(name)
    return out


def resolve_sources(opts: dict, target, data_dir, minimum: int) -> tuple[list[str], list[str]]:
    """(sources, dropped): the meta-training sources for `target`, none of its domain."""
    from sggft_meta.task import get_task

    if opts.get("lodo"):
        sources, dropped = lodo_sources(target, data_dir), []
        how = "lodo: true found"
    else:
        listed = list(opts["sources"])
        dropped = [s for s in listed if get_task(s).domain == target.domain or get_task(s).name == target.name]
        sources = [get_task(s).name for s in listed if s not in dropped]
        how = f"sources {listed} leave" + (f" (without {dropped}, of the target's domain)" if dropped else "")
    if len(sources) < minimum:
        raise ConfigError(f"{how} {len(sources)} source task(s) outside domain {target.domain!r} of {target.name!r}; "
                          f"meta-training needs {minimum} or more: add sources of other domains")
    return sources, dropped


# ----------------------------------------------------------------------------- options
def _split_options(kind: str, options: dict) -> tuple[dict, dict, list[str]]:
    """(source options, meta-init settings, `meta.*` overrides) of a method's options."""
    allowed = {**META_OPTIONS, **(SGGFT_META_OPTIONS if kind == "sggft_meta" else {})}
    extra = (INIT_SETTINGS if kind == "meta_init" else ("aligner",))
    unknown = [k for k in options if k not in allowed and k not in extra and k not in SOURCE_OPTIONS]
    if unknown:
        known = sorted([*SOURCE_OPTIONS, *allowed, *extra])
        raise ConfigError(f"kind {kind!r}: unknown option(s) {', '.join(unknown)}; known: {', '.join(known)}")
    has_sources, lodo = options.get("sources") is not None, options.get("lodo", False)
    if not isinstance(lodo, bool):
        raise ConfigError(f"kind {kind!r}: option lodo must be true or false, got {lodo!r}")
    if has_sources == bool(lodo):
        raise ConfigError(f"kind {kind!r}: give either sources: [task, ...] or lodo: true (all tasks of the data "
                          "pack outside the target's domain), not both and not neither")
    if has_sources and (not isinstance(options["sources"], list) or not options["sources"]
                        or not all(isinstance(s, str) for s in options["sources"])):
        raise ConfigError(f"kind {kind!r}: option sources must be a non-empty list of task names")
    sources = {k: options[k] for k in SOURCE_OPTIONS if k in options}
    settings = {k: options[k] for k in INIT_SETTINGS if k in options} if kind == "meta_init" else {}
    overrides = [f"{allowed[k]}={json.dumps(v)}" for k, v in options.items() if k in allowed]
    if kind == "sggft_meta" and "aligner" in options:
        if not isinstance(options["aligner"], dict):
            raise ConfigError("kind 'sggft_meta': option aligner must be a mapping of meta.aligner fields (type, hidden, ...)")
        overrides += [f"meta.aligner.{k}={json.dumps(v)}" for k, v in options["aligner"].items()]
    return sources, settings, overrides


def _check(kind: str):
    def check(name, spec, grid) -> None:
        from sggft_meta.config import load_config
        from sggft_meta.task import get_task

        sources, settings, overrides = _split_options(kind, spec.options)
        if settings:
            from pydantic import ValidationError

            from sggft_meta.baselines.meta_init import MetaInitSettings

            try:
                MetaInitSettings(**settings)
            except ValidationError as e:
                err = e.errors()[0]
                raise ConfigError(f"options.{'.'.join(map(str, err['loc']))}: {err['msg']} (got {err.get('input')!r})") from None
        base = {"task": grid.tasks[0], "shots": grid.shots[0], "seeds": [grid.seeds[0]]}
        try:
            cfg = load_config(None, [*grid.base, *spec.overrides, *overrides], base=base)
        except ConfigError as e:
            raise ConfigError(f"overrides or options: {e}") from None
        for s in sources.get("sources") or []:
            task = get_task(s)  # RegistryError (an SggftError) with the closest names
            if task.is_regression:
                raise ConfigError(f"options.sources: {task.name!r} is a regression task; source episodes need classes")
        if kind == "meta_init" and cfg.model.adapt == "head":
            raise ConfigError("kind 'meta_init' with model.adapt=head: the head is rebuilt per task, so there is no "
                              "initialisation to meta-learn; use model.adapt=lora (or full)")
        if kind == "sggft_meta":
            if cfg.sggft.lambda_align <= 0:
                raise ConfigError("kind 'sggft_meta' meta-trains the alignment term: add sggft.lambda_align=1 (> 0) to overrides")
            if cfg.meta.meta_grad == "truncated" and cfg.meta.truncate_k > cfg.meta.inner_steps:
                raise ConfigError(f"options: truncate_k={cfg.meta.truncate_k} exceeds inner_steps={cfg.meta.inner_steps}")
            if sources.get("sources") is not None and len(sources["sources"]) < 2:
                raise ConfigError("options.sources: the aligner's meta-training needs two or more source tasks")
    return check


# ----------------------------------------------------------------------------- the cache
def meta_dir(ctx, cell, domain: str) -> Path:
    return Path(ctx.out) / META_DIR / cell.method / safe_name(domain)


def _claim(directory: Path, cell, domain: str, sources: list[str]) -> None:
    """Record (or check) what `directory` meta-trains: a result made for another definition of
    the method or other sources is never reused."""
    from sggft_meta.report import write_json_atomic

    mine = {"kind": cell.kind, "method": cell.method, "domain": domain, "definition_hash": cell.definition_hash,
            "sources": sources}
    path = directory / RECORD
    if path.is_file():
        try:
            theirs = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            theirs = None
        if isinstance(theirs, dict) and all(theirs.get(k) == v for k, v in mine.items()):
            return
        if isinstance(theirs, dict):
            raise ConfigError(f"{directory} holds meta-training of another definition of method {cell.method!r} or other "
                              f"sources ({theirs.get('sources')}); delete {directory} to redo it, or use another --out")
    write_json_atomic(path, {**mine, "definition": cell.definition})


@contextlib.contextmanager
def _exclusive(directory: Path):
    """Hold an exclusive lock on `directory` (a `.lock` file, flock): grid shards that reach the
    same domain at once meta-train it once; the others wait, then find it done."""
    with open(directory / ".lock", "a") as handle:
        try:
            import fcntl
        except ImportError:  # not POSIX: no shards there
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _finish(directory: Path, seconds: float) -> float:
    """Add this cell's meta-training seconds to the domain's record; return the total."""
    from sggft_meta.report import write_json_atomic

    path = directory / RECORD
    record = json.loads(path.read_text(encoding="utf-8"))
    record["train_seconds"] = float(record.get("train_seconds") or 0.0) + seconds
    write_json_atomic(path, record)
    return record["train_seconds"]


def _recorded_seconds(directory: Path) -> float | None:
    try:
        return json.loads((directory / RECORD).read_text(encoding="utf-8")).get("train_seconds")
    except (OSError, ValueError):
        return None


# ----------------------------------------------------------------------------- records
def _record(report, cfg, ctx, meta: dict) -> dict:
    """The cell record of a one-seed `run_method` report (the fields of kind `run`) plus `meta`."""
    from sggft_meta.run import run_metadata

    s = report.seeds[0]
    return {
        "test_metric": s.test_metric, "metric": report.metric, "seconds": s.train_seconds + s.eval_seconds,
        "train_seconds": s.train_seconds, "eval_seconds": s.eval_seconds, "test_loss": s.test_loss,
        "dev_metric": s.dev_metric, "best_step": s.best_step, "steps": s.steps, "stopped_early": s.stopped_early,
        "trace": s.trace, "peak_memory_bytes": s.trace.get("peak_memory_bytes"),
        "per_step": {k: s.per_step[k] for k in ("grad_norm", "loss") if k in s.per_step},
        "backbone": report.backbone, "adapt": report.adapt, "run_method": report.method,
        "aligner": getattr(report, "aligner", None), "meta": meta, "run_metadata": run_metadata(cfg, ctx.command),
    }


def _prepare(cell, ctx, kind: str, minimum: int):
    """The cell's target task, meta-training config (sources filled in), settings, backbone, cache dir."""
    from sggft_meta.task import get_task

    opts, settings, overrides = _split_options(kind, cell.options)
    cfg = ctx.run_config(cell, overrides)
    target = get_task(cell.task)
    sources, dropped = resolve_sources(opts, target, cfg.data.dir, minimum)
    cfg = cfg.model_copy(update={"meta": cfg.meta.model_copy(update={"sources": sources})})
    backbone = ctx.backbone(cfg)
    directory = meta_dir(ctx, cell, target.domain)
    info = {"kind": kind, "dir": str(directory), "held_out_domain": target.domain, "sources": sources,
            "source_domains": sorted({get_task(s).domain for s in sources}), "dropped_sources": dropped,
            "target_domain_seen": False, "outer_steps": cfg.meta.outer_steps}
    return cfg, settings, target, backbone, directory, info


# ----------------------------------------------------------------------------- meta_init
@BENCH_METHODS.register("meta_init")
def meta_init_cell(cell, ctx) -> dict:
    """MAML / FOMAML / Reptile initialisation meta-trained on the other domains (once per
    domain), then plain fine-tuning from it on this cell's task, K and seed."""
    import torch

    from sggft_meta.baselines.meta_init import MetaInitLearner, MetaInitSettings, load_init, saved_steps
    from sggft_meta.run import run_method

    cfg, settings, target, backbone, directory, info = _prepare(cell, ctx, "meta_init", minimum=1)
    settings = MetaInitSettings(**settings)
    info["algorithm"] = settings.algorithm
    directory.mkdir(parents=True, exist_ok=True)
    _claim(directory, cell, target.domain, info["sources"])
    spent = 0.0
    with _exclusive(directory):
        if saved_steps(directory) != cfg.meta.outer_steps:
            ctx.log(f"  meta-training {settings.algorithm} for domain {target.domain!r} on {', '.join(info['sources'])} -> {directory}")
            t0 = time.perf_counter()
            with torch.random.fork_rng(devices=[]):  # the cell's own RNG stream is the same trained or reused
                MetaInitLearner(cfg, settings, backbone).train(directory)
            spent = time.perf_counter() - t0
            release_freed_memory()  # the meta-training's heap, before this cell's fine-tuning
            _finish(directory, spent)
    saved = load_init(directory, backbone)  # from disk in both cases: a reused init gives the same cell
    info.update(trained_in_this_cell=spent > 0, seconds_this_cell=spent, train_seconds=_recorded_seconds(directory),
                summary=saved.get("summary"))
    report = run_method(cfg.model_copy(update={"method": "finetune", "aligner": None}), backbone)
    return _record(report, cfg, ctx, info)


meta_init_cell.check = _check("meta_init")


# ----------------------------------------------------------------------------- sggft_meta
@BENCH_METHODS.register("sggft_meta")
def sggft_meta_cell(cell, ctx) -> dict:
    """The aligner meta-trained by MetaLearner on the other domains (once per domain), then
    SGGFT adaptation guided by it on this cell's task, K and seed."""
    import torch

    from sggft_meta.align import read_aligner_config, read_latest_checkpoint
    from sggft_meta.model.backbone import eval_mode
    from sggft_meta.outer_loop import MetaLearner
    from sggft_meta.run import run_method

    cfg, _, target, backbone, directory, info = _prepare(cell, ctx, "sggft_meta", minimum=2)
    directory.mkdir(parents=True, exist_ok=True)
    _claim(directory, cell, target.domain, info["sources"])
    pristine = backbone.snapshot(include_head=False)

    def done() -> bool:
        try:
            saved = read_aligner_config(directory)
        except SggftError:
            return False
        return saved["summary"].get("outer_steps") == cfg.meta.outer_steps and saved["sources"] == info["sources"]

    spent = 0.0
    with _exclusive(directory):
        if not done():
            ctx.log(f"  meta-training the aligner for domain {target.domain!r} on {', '.join(info['sources'])} -> {directory}")
            t0 = time.perf_counter()
            # eval mode: MetaLearner leaves the mode as it finds it, and after set_head a loaded encoder's body
            # is in train mode, whose dropout would differ between the forward sweep and its recomputation
            with torch.random.fork_rng(devices=[]), eval_mode(backbone):
                MetaLearner(cfg.model_copy(update={"method": "sggft"}), backbone).train(directory)
            spent = time.perf_counter() - t0
            release_freed_memory()  # the meta-training's heap, before this cell's fine-tuning
            _finish(directory, spent)
    backbone.restore(pristine)
    if cfg.meta.reptile:  # the Reptile phi_0 lives in the checkpoint, beside the aligner
        _, tensors, _ = read_latest_checkpoint(directory)
        backbone.restore({k[5:]: v for k, v in tensors.items() if k.startswith("init.")})
    info.update(trained_in_this_cell=spent > 0, seconds_this_cell=spent, train_seconds=_recorded_seconds(directory),
                summary=read_aligner_config(directory)["summary"])
    report = run_method(cfg.model_copy(update={"method": "sggft", "aligner": directory}), backbone)
    if report.aligner is not None:
        info["target_domain_seen"] = report.aligner.get("target_domain_seen")
    return _record(report, cfg, ctx, info)


sggft_meta_cell.check = _check("sggft_meta")
