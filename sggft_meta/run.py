"""Running a method over the LM-BFF seeds of a task: the library call behind `sggft-meta finetune`
and `sggft-meta adapt`."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from tqdm.auto import tqdm

from .version import __version__
from .config import RunConfig
from .data.samplers import few_shot_split
from .scoring import score
from .episode import adapt_split
from .model.backbone import Backbone
from .model.loading import load_backbone
from .report import git_commit, machine, mean_std, write_json_atomic
from .task import TASKS, Task, data_source_record, get_task


@dataclass
class SeedResult:
    seed: int
    test_metric: float
    test_loss: float
    dev_metric: float
    best_step: int
    steps: int
    stopped_early: bool
    train_seconds: float
    eval_seconds: float
    trace: dict = field(default_factory=dict)  # Trace.summary() of the episode
    per_step: dict = field(default_factory=dict)  # per-step loss, gradient norm, ... (Trace.steps)


@dataclass
class TaskReport:
    task: str
    metric: str
    shots: int
    backbone: str
    adapt: str
    method: str
    seeds: list[SeedResult] = field(default_factory=list)
    aligner: dict | None = None  # the trained aligner used, its sources, whether the target domain was seen
    source: dict | None = None  # the source tasks used: tasks, weights, pool size, examples dropped for test overlap

    @property
    def mean_std(self) -> tuple[float, float]:
        return mean_std([s.test_metric for s in self.seeds])

    def trace_mean(self, key: str) -> float:
        """Mean over seeds of one trace summary figure (NaN when no seed has it)."""
        values = [s.trace.get(key) for s in self.seeds]
        values = [v for v in values if v is not None and v == v]
        return sum(values) / len(values) if values else float("nan")

    @property
    def seconds_per_run(self) -> float:
        return sum(s.train_seconds + s.eval_seconds for s in self.seeds) / max(len(self.seeds), 1)

    def to_json(self) -> dict:
        mean, std = self.mean_std if self.seeds else (float("nan"), float("nan"))
        return {**{k: v for k, v in asdict(self).items() if k != "seeds"},
                "seeds": [asdict(s) for s in self.seeds],
                "summary": {"mean": mean, "std": std, "n_seeds": len(self.seeds), "std_ddof": 0,
                            "seconds_per_run": self.seconds_per_run}}


def check_splits(task: Task, cfg: RunConfig):
    """Read the train split and draw every seed's split up front: bad K fails before any model loads."""
    train = task.load_split("train", cfg.data.dir)
    splits = [few_shot_split(task.name, train.labels, cfg.shots, seed, task.label_names or ("low", "high")) for seed in cfg.seeds]
    return train, splits


def partial_path(out: str | Path) -> Path:
    """Where a run with `out` keeps its results while it goes on: `OUT.partial` beside `out`."""
    out = Path(out)
    return out.with_name(out.name + ".partial")


def run_method(cfg: RunConfig, backbone: Backbone | None = None, *, out_payload: dict | None = None,
               aligner=None, source_task: str | None = None, source_candidates: list[str] | None = None,
               on_seed: Callable[[TaskReport, SeedResult], None] | None = None) -> TaskReport:
    """Adapt with `cfg.method` (plain fine-tuning or SGGFT) on every seed's K-shot split of
    `cfg.task`, early-stopped on its dev split, and score the whole test set. The backbone is
    loaded once (or given) and stays on its device; every seed restores the same adapter
    initialisation in place. `on_seed(report, seed_result)` is called after every seed.

    With `cfg.out`, the results so far are written after every seed to `OUT.partial`
    (`partial_path`, with `"complete": false`), and at the end to `cfg.out` (`"complete": true`),
    which replaces any file there; the partial file is then removed. A run stopped part way
    (Ctrl-C, a crash) leaves `cfg.out` as it was and its finished seeds in `OUT.partial`.

    With `source_task="auto"` each seed chooses its source on its own K-shot train split at the
    starting adapter (`sggft_meta.selection`; candidates: `source_candidates`, default every
    registered task allowed as a source); `report.source["per_seed"]` keeps each seed's ranking."""
    task = get_task(cfg.task)
    train, splits = check_splits(task, cfg)
    test = task.load_split("test", cfg.data.dir)
    guidance = check_guidance(cfg, task, aligner=aligner, source_task=source_task, test=test,
                              source_candidates=source_candidates)  # before any model loads
    cfg = guidance.cfg
    if backbone is None:
        backbone = load_backbone(cfg.model, cfg.data.max_length)
    init = backbone.snapshot(include_head=False)
    train_pool = backbone.pool(task, "train", train)
    test_pool = backbone.pool(task, "test", test)
    report = TaskReport(task.name, task.metric, cfg.shots, backbone.backbone_name, cfg.model.adapt, cfg.method)
    bar = tqdm(total=len(splits) * cfg.train.max_steps, desc=f"{cfg.method} {task.name} K={cfg.shots}", unit="step",
               disable=not cfg.progress, file=sys.stderr, leave=False)
    aligner, source = (None, None) if guidance.auto else guidance.bind(backbone)
    report.aligner = guidance.aligner_info
    report.source = source.record() if source is not None else None
    payload = (out_payload or run_metadata(cfg, task=task)) if cfg.out is not None else None
    for split in splits:
        generator = torch.Generator().manual_seed(split.seed)
        backbone.restore(init)
        if guidance.auto:  # each seed chooses from its own K-shot train split, at phi_0 (PROTOCOL.md)
            aligner, source = guidance.bind(backbone, support=train_pool.batch(split.train))
            chosen = {**(source.record() if source is not None else {"tasks": []}), "selection": guidance.selection}
            report.source = {"auto": True, "per_seed": [*(report.source or {}).get("per_seed", []), {"seed": split.seed, **chosen}]}
        if source is not None:
            source.seed = split.seed  # each seed's source minibatches: drawn afresh from its own seed
        t0 = time.perf_counter()
        fit = adapt_split(backbone, task, train_pool, split, cfg, generator, aligner=aligner, source=source, progress=bar)
        train_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        test_metric, test_loss = score(backbone, task.metric, test_pool, None, cfg.eval.batch_size)
        report.seeds.append(SeedResult(split.seed, test_metric, test_loss, fit.dev_metric, fit.best_step, fit.steps,
                                       fit.stopped_early, train_seconds, time.perf_counter() - t0,
                                       fit.trace.summary(), {k: v.tolist() for k, v in fit.trace.steps.items()}))
        bar.set_postfix(seed=split.seed, test=f"{test_metric:.3f}")
        if cfg.out is not None:
            write_json_atomic(partial_path(cfg.out), {**payload, "complete": False, "results": [report.to_json()]})
        if on_seed is not None:
            on_seed(report, report.seeds[-1])
    bar.close()
    backbone.restore(init)
    if cfg.out is not None:
        write_json_atomic(cfg.out, {**payload, "complete": True, "results": [report.to_json()]})
        partial_path(cfg.out).unlink(missing_ok=True)
    return report


@dataclass
class Guidance:
    """What guides adaptation besides the target's own data: an aligner and a source task.

    Built by `check_guidance` before any model loads (bad settings fail early); `bind` moves the
    aligner to the backbone's device and builds the source direction on the backbone."""

    cfg: RunConfig  # with an aligner's training settings filled in where the user left them unset
    aligner: object | None = None
    source_task: str | list[str] | None = None  # as given: one name, or a list
    aligner_info: dict | None = None  # the trained aligner used, its sources, whether the target domain was seen
    source_weights: list[float] | None = None  # one per source task
    test: object | None = None  # the target's test split (its texts are dropped from the source pools)
    candidates: list | None = None  # source_task=auto: the candidate tasks (Task objects)
    target: object | None = None  # source_task=auto: the target task
    selection: dict | None = None  # source_task=auto: ranking, chosen, threshold (after `bind`)
    chosen: list[str] | None = None  # source_task=auto: the tasks chosen by `bind` ([] = abstained)

    @property
    def auto(self) -> bool:
        """Whether the source tasks are chosen automatically (`source_task="auto"`)."""
        return is_auto(self.source_task)

    @property
    def source_tasks(self) -> list[str]:
        if self.auto:
            return list(self.chosen or [])
        return [] if self.source_task is None else ([self.source_task] if isinstance(self.source_task, str) else list(self.source_task))

    def bind(self, backbone: Backbone, support=None):
        """(aligner on the backbone's device or None, `SourceDirection` or None). The source
        direction draws from each source's whole training pool, less the target's test texts;
        its heads are built at the backbone's current adapter (phi_0).

        With `source_task="auto"`, `support` (the target's support Batch or Split) is needed: the
        candidates are ranked at phi_0 (`sggft_meta.selection`), the ranking printed when progress
        is on and kept in `selection`; no candidate above the threshold means no source."""
        aligner = self.aligner.to(backbone.device) if self.aligner is not None else None
        source = None
        if self.auto:
            return aligner, self._bind_auto(backbone, support)
        if self.source_tasks:
            from .align.source import SourceDirection

            seed = int(getattr(self.cfg, "seed", 0))  # fit's seed; run_method reseeds per data seed
            source = SourceDirection.for_tasks(backbone, [get_task(name) for name in self.source_tasks], self.cfg,
                                               weights=self.source_weights, test=self.test, seed=seed)
        return aligner, source

    def _bind_auto(self, backbone: Backbone, support):
        from .align.source import SourceDirection
        from .errors import ConfigError
        from .selection import DEFAULT_THRESHOLD, DEFAULT_TOP, print_ranking, rank_sources, select_sources, selection_record

        if support is None:
            raise ConfigError("source_task=auto needs the target's support set to rank the candidates; name the source task(s) here")
        seed = int(getattr(self.cfg, "seed", 0))
        scores = rank_sources(backbone, self.target, support, self.candidates, batch_size=self.cfg.source.batch_size,
                              seed=seed, cfg=self.cfg, test=self.test)
        self.chosen = select_sources(scores, top=DEFAULT_TOP, threshold=DEFAULT_THRESHOLD)
        self.selection = selection_record(scores, self.chosen, DEFAULT_THRESHOLD)
        if self.cfg.progress:
            print_ranking(scores, self.chosen, DEFAULT_THRESHOLD)
        if not self.chosen:
            return None
        by_name = {t.name: t for t in self.candidates}
        return SourceDirection.for_tasks(backbone, [by_name[n] for n in self.chosen], self.cfg, test=self.test, seed=seed)


def is_auto(source_task) -> bool:
    """Whether `source_task` asks for automatic source selection (`"auto"`)."""
    return isinstance(source_task, str) and source_task.strip().lower() == "auto" or (
        isinstance(source_task, (list, tuple)) and len(source_task) == 1 and is_auto(source_task[0]))


def source_names(source_task) -> list[str] | None:
    """`source_task` as a list of names (a comma-separated string is several), or None when unset."""
    if source_task is None:
        return None
    if isinstance(source_task, str):
        return [s.strip() for s in source_task.split(",")] if "," in source_task else [source_task]
    return [str(s) for s in source_task]


def check_guidance(cfg: RunConfig, task: Task, *, aligner=None, source_task: str | list[str] | None = None,
                   test=None, source_candidates: list[str] | None = None) -> Guidance:
    """Check the aligner and source-task settings of `cfg` against the target `task` and load a
    trained aligner from `cfg.aligner` (unless `aligner` is given): the part of a run shared by
    `run_method` (LM-BFF seeds) and `fit` (all of a user's data). `test` is the target's test
    split (read here when the task has one): source examples with its texts are dropped.

    Source tasks are refused here, before any model loads: an empty list, one listed twice,
    the target itself, an unknown name, SST-2 / SST-5 / MR as sources of one another, and
    weights that do not match them (`source.weights`).

    `source_task="auto"` chooses the source when the guidance is bound (`Guidance.bind`), among
    `source_candidates` (default: every registered task allowed as a source of `task`); an empty
    or unknown candidate, or `source.weights` with auto, is refused here."""
    from .align.source import check_sources, source_weights
    from .config import check_alignment_inputs
    from .errors import ConfigError, SggftError

    check_alignment_inputs(cfg, aligner=aligner, source_task=source_task)
    source_task = source_task if source_task is not None else cfg.source_task
    if is_auto(source_task):
        return check_auto_guidance(cfg, task, aligner=aligner, test=test, candidates=source_candidates)
    names = source_names(source_task)
    if names is not None:
        check_sources(task.name, names)
    if cfg.train.multitask is not None and source_task is None and cfg.aligner is None:
        raise ConfigError(f"train.multitask={cfg.train.multitask!r} trains on a source task too: set source_task=NAME")
    info = None
    if aligner is None and cfg.aligner is not None:
        aligner, cfg, source_task = load_run_aligner(cfg, task)
        names = source_names(source_task)
        check_sources(task.name, names)
        info = {"dir": str(cfg.aligner), "source_task": source_task, **aligner_provenance(cfg.aligner, task)}
    weights = None
    if names is not None:
        for name in names:
            get_task(name)  # an unknown name fails here, with the closest names
        weights = source_weights(cfg.source.weights, len(names))
        if test is None:
            try:
                test = task.load_split("test", cfg.data.dir)
            except SggftError:  # a target with no test split (a user's own data): nothing to drop
                test = None
    return Guidance(cfg, aligner, source_task, info, weights, test)


def check_auto_guidance(cfg: RunConfig, task: Task, *, aligner=None, test=None, candidates=None) -> Guidance:
    """`check_guidance` for `source_task="auto"`: the candidates checked, the aligner loaded."""
    from .errors import ConfigError, SggftError
    from .selection import candidate_tasks

    if cfg.source.weights is not None:
        raise ConfigError("source.weights cannot be used with source_task=auto (the sources are chosen by the run); drop source.weights")
    tasks = candidate_tasks(task, candidates)
    info = None
    if aligner is None and cfg.aligner is not None:
        aligner, cfg, _ = load_run_aligner(cfg.model_copy(update={"source_task": "auto"}), task)
        info = {"dir": str(cfg.aligner), "source_task": "auto", **aligner_provenance(cfg.aligner, task)}
    if test is None:
        try:
            test = task.load_split("test", cfg.data.dir)
        except SggftError:  # a target with no test split (a user's own data): nothing to drop
            test = None
    return Guidance(cfg, aligner, "auto", info, None, test, candidates=tasks, target=task)


def load_run_aligner(cfg: RunConfig, target: Task):
    """The trained aligner of `cfg.aligner` (a directory, or the name of an aligner that needs no
    training: `gradvac`, `none`), the config with its training settings filled in where the user
    left them unset (alignment weight, mode), and the source task to align to."""
    from .align import ALIGNERS, load_aligner
    from .align import read_aligner_config
    from .errors import ConfigError

    if cfg.method != "sggft":
        raise ConfigError("aligner: an aligner guides the SGGFT inner loop; use method=sggft (sggft-meta adapt) or drop --aligner")
    name = str(cfg.aligner)
    if not Path(name).exists() and name in ALIGNERS and not ALIGNERS.get(name).learnable:
        # a rule that needs no training (gradvac, none): built with its defaults, no directory
        saved, aligner = {"sources": [], "summary": {}}, ALIGNERS.get(name)()
    else:
        saved = read_aligner_config(cfg.aligner)
        aligner = load_aligner(cfg.aligner)
    trained = saved.get("summary") or {}
    updates = {k: trained[k] for k in ("lambda_align", "mode") if k in trained and k not in cfg.sggft.model_fields_set}
    if updates:
        cfg = cfg.model_copy(update={"sggft": cfg.sggft.model_copy(update=updates)})
    if cfg.sggft.lambda_align <= 0:
        raise ConfigError("sggft.lambda_align is 0, so the aligner would have no effect; set sggft.lambda_align (e.g. 1)")
    source = cfg.source_task or (saved.get("sources") or [None])[0]
    if source is None:
        raise ConfigError(f"aligner {cfg.aligner} records no source task; set source_task=NAME (the task whose gradient direction to align to)")
    return aligner.to(torch.float64 if cfg.model.dtype == "float64" else torch.float32), cfg, source


def aligner_provenance(directory, target: Task) -> dict:
    """What the aligner was trained on, and whether the target's domain was among its sources."""
    from .align import read_aligner_config

    if not Path(directory).exists():  # a rule aligner named by type: trained on nothing
        return {"sources": [], "source_domains": [], "target_domain_seen": False, "target_task_seen": False}
    sources = read_aligner_config(directory).get("sources") or []
    domains = sorted({get_task(name).domain for name in sources if name in TASKS or Path(name).is_dir()})
    return {"sources": sources, "source_domains": domains, "target_domain_seen": target.domain in domains,
            "target_task_seen": target.name in sources}


def run_finetune(cfg: RunConfig, backbone: Backbone | None = None, **kw) -> TaskReport:
    """`run_method` with plain fine-tuning."""
    return run_method(cfg.model_copy(update={"method": "finetune"}), backbone, **kw)


def run_metadata(cfg: RunConfig, command: str | None = None, *, task: Task | None = None) -> dict:
    """What a result file records besides the results: library version, commit, command line,
    machine, the config as given, and where the data came from (`data_source`: the folder
    actually read, and whether it came from data.dir, $SGGFT_DATA_DIR, the hub, a task folder or
    the packaged demo corpus; `task` defaults to `cfg.task`)."""
    from .errors import SggftError

    try:
        source = data_source_record(cfg.data.dir, task if task is not None else get_task(cfg.task))
    except SggftError:  # the run itself reports a missing task or data folder
        source = None
    return {"library_version": __version__, "commit": git_commit(), "command": command or " ".join(sys.argv),
            "machine": machine(), "config": cfg.model_dump(mode="json"), "data_source": source}
