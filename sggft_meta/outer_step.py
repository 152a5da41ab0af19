"""One outer step of meta-learning, shared by every meta-learner of the library.

`OuterLearner` is the outer loop that the aligner's meta-learner (`outer_loop.MetaLearner`) and
the meta-learned initialisations (`baselines.meta_init.MetaInitLearner`: MAML, first-order MAML,
Reptile) have in common; a subclass supplies only what its episodes compute:

- `draw_meta_batch()`: the meta-batch, drawn whole by every rank (the samplers stay in step);
- `episode_update(*item)`: one episode's update direction by parameter (in `params` order)
  and its statistics (a dict holding the subclass's `STAT_FIELDS`);
- `own_tensors()` / `load_own_tensors()`, `checkpoint_meta()`, `check_resumable()`,
  `save_result()`, `make_stats()`: what its checkpoints and results hold.

One outer step (`outer_step`): draw the meta-batch; run the episodes `i % world == rank` and
average their updates over the whole meta-batch; under torchrun, all-reduce the sums (updates
and statistics in one flat tensor, so one step on N ranks equals the meta-batch on one rank);
take the update's norm; `apply_update` (by default: clip to `meta.max_grad_norm`, one Adam
step on `params`); count the step and record its statistics.

`train` runs to `meta.outer_steps`, checkpointing every `meta.checkpoint_every` steps and at
the end (`save`: the resumable state through `checkpoint.write_checkpoint`, then the
subclass's result); given a directory with checkpoints, it first `resume`s from them, so a
killed run started again ends bitwise where the uninterrupted one does. Resuming refuses a
changed training config: each checkpoint records the run's config (`checkpoint_meta`), and
every field but those in `RESUME_MAY_CHANGE` and the learner's `unused_config()` must be the
same (`check_config_unchanged`; a checkpoint that records no config is not compared). A run
found already finished has its result checked against the last checkpoint (`verify_result`)
and rebuilt from it when it is missing, corrupt or stale.

Also here: the source tasks, pools and seeded episode samplers both meta-learners draw from
(`source_tasks`, `source_pools`, `episode_task`) and the rank / world size (`dist`).
"""

from __future__ import annotations

import contextlib
import json
import sys
from abc import ABC, abstractmethod
import time
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch

from .checkpoint import load_trainer_state, read_latest_checkpoint, trainer_state_tensors, write_checkpoint
from .config import RunConfig
from .data.samplers import EpisodeSampler
from .errors import CheckpointError, ConfigError
from .model.backbone import Backbone
from .task import Task, get_task


def dist() -> tuple[int, int]:
    """(rank, world size) of an initialised torch.distributed group, else (0, 1)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


# ---------------------------------------------------------------------------------------------
# the source tasks meta-learning draws from


def episode_task(task: Task, classes: tuple[int, ...]) -> Task:
    """`task` restricted to `classes` (episode label i = class classes[i]), for building heads."""
    attrs = {"label_names": tuple(task.label_names[c] for c in classes)}
    if task.verbalizers:
        attrs["verbalizers"] = tuple(task.verbalizers[c] for c in classes)
    return type(f"{type(task).__name__}Episode", (type(task),), attrs)()


def source_tasks(names: list[str]) -> list[Task]:
    """The registered source tasks, checked: classification only, each once."""
    tasks = [get_task(name) for name in names]
    for task in tasks:
        if task.is_regression:
            raise ConfigError(f"meta.sources: {task.name!r} is a regression task; source episodes need classes")
    if len({t.name for t in tasks}) != len(tasks):
        raise ConfigError("meta.sources: a task is listed twice")
    return tasks


def source_pools(tasks: list[Task], backbone: Backbone, cfg: RunConfig) -> tuple[dict, dict]:
    """Each source's training pool (tokenised once) and its seeded episode sampler (`meta.episode`);
    sampler i is seeded `meta.seed * 1000 + i + 1`, so every meta-learner draws the same episodes."""
    ep, pools, samplers = cfg.meta.episode, {}, {}
    for i, task in enumerate(tasks):
        train = task.load_split("train", cfg.data.dir)
        pools[task.name] = backbone.pool(task, "train", train)
        gen = torch.Generator().manual_seed(cfg.meta.seed * 1000 + i + 1)
        samplers[task.name] = EpisodeSampler(task.name, train.labels, k_shot=ep.k_shot, q_query=ep.q_query,
                                             n_way=min(ep.n_way, task.num_classes) if ep.n_way else None,
                                             generator=gen, class_names=task.label_names)
    return pools, samplers


# ---------------------------------------------------------------------------------------------
# the config a resumed run must keep

#: config fields a resumed run may change: how long it trains (`meta.outer_steps`), how often it
#: checkpoints, whether it shows progress, where its results go, and the device
RESUME_MAY_CHANGE: tuple[str, ...] = ("meta.outer_steps", "meta.checkpoint_every", "progress", "out", "model.device")
#: config fields meta-training does not read: the settings of target runs, and where files are
#: found (data.dir, model.cache_dir) rather than what they hold
NOT_READ_BY_META_TRAINING: tuple[str, ...] = (
    "task", "method", "shots", "seeds", "eval", "aligner", "source_task", "source", "data.dir", "model.cache_dir",
    "train.batch_size", "train.max_steps", "train.eval_every", "train.patience",
)


def flat_fields(tree: dict, prefix: str = "") -> dict[str, Any]:
    """The leaves of a nested JSON dict by dotted name (`{"meta": {"seed": 0}}` -> `{"meta.seed": 0}`)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flat_fields(value, name + "."))
        else:
            out[name] = value
    return out


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """`name old -> new` (values as JSON) for each field recorded in both `old` and `new` whose
    value differs, in `new`'s order."""
    def show(value) -> str:
        return json.dumps(value, sort_keys=True)

    return [f"{k} {show(old[k])} -> {show(v)}" for k, v in new.items() if k in old and old[k] != v]


# ---------------------------------------------------------------------------------------------
# the pieces of one outer step


def all_reduce_sums(updates: list[torch.Tensor], stats_sum: torch.Tensor, world: int) -> torch.Tensor:
    """Sum `updates` (in place) and `stats_sum` over the ranks, in one all-reduce of one flat
    tensor (the statistics in the updates' dtype); returns the summed statistics (float64).
    With one rank, nothing moves."""
    if world <= 1:
        return stats_sum
    flat = torch.cat([u.reshape(-1) for u in updates] + [stats_sum.to(updates[0].dtype if updates else torch.float64)])
    torch.distributed.all_reduce(flat)
    offset = 0
    for u in updates:
        u.copy_(flat[offset: offset + u.numel()].view_as(u))
        offset += u.numel()
    return flat[offset:].to(torch.float64)


def global_norm(tensors: list[torch.Tensor], dtype: torch.dtype | None = None) -> float:
    """The L2 norm of `tensors` taken as one vector, summed in `dtype` (None: their own); 0 for none."""
    if not tensors:
        return 0.0
    parts = tensors if dtype is None else [t.to(dtype) for t in tensors]
    return float(torch.sqrt(sum((t * t).sum() for t in parts)))


def clip_(tensors: list[torch.Tensor], norm: float, max_norm: float | None) -> None:
    """Scale `tensors` in place to norm `max_norm` when their `norm` exceeds it (None: never)."""
    if max_norm is not None and norm > max_norm:
        for t in tensors:
            t.mul_(max_norm / norm)


def optimizer_step(optimizer: torch.optim.Optimizer, params: list[torch.Tensor], grads: list[torch.Tensor]) -> None:
    """One step of `optimizer` with `grads` as the gradients of `params`; the gradients are then dropped."""
    for p, g in zip(params, grads):
        p.grad = g
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


# ---------------------------------------------------------------------------------------------
# the outer learner


class OuterLearner(ABC):
    """The outer loop shared by the meta-learners; see the module docstring.

    After `__init__` it holds `cfg`, `tasks`, `backbone`, `rank`, `world`, `pools`, `samplers`,
    `draw_gen` (the generator of the meta-batch draws), `step` and `history`; the subclass then
    sets `params` (what the outer step updates) and `optimizer` (Adam on them, or None).
    """

    #: what the episodes report (keys of `episode_update`'s statistics), averaged per outer step
    STAT_FIELDS: ClassVar[tuple[str, ...]] = ()
    #: the checkpoint key of `draw_gen`'s state
    DRAW_GEN_KEY: ClassVar[str] = "gen.draw"
    #: the dtype the update's norm is summed in (None: the update's own)
    NORM_DTYPE: ClassVar[torch.dtype | None] = None
    #: what `save_result` writes, in messages ("the aligner")
    RESULT_NAME: ClassVar[str] = "the result"

    params: list[torch.Tensor]
    optimizer: torch.optim.Optimizer | None

    def __init__(self, cfg: RunConfig, backbone: Backbone | None = None) -> None:
        from .model.loading import load_backbone

        self.cfg = cfg
        self.tasks: list[Task] = source_tasks(cfg.meta.sources)
        self.backbone = backbone if backbone is not None else load_backbone(cfg.model, cfg.data.max_length)
        self.rank, self.world = dist()
        self.pools, self.samplers = source_pools(self.tasks, self.backbone, cfg)
        self.draw_gen = torch.Generator().manual_seed(cfg.meta.seed)
        self.step = 0
        self.history: list[dict] = []

    @property
    def source_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    # ------------------------------------------------------------ what a subclass supplies
    @abstractmethod
    def draw_meta_batch(self) -> list[tuple]:
        """The whole meta-batch (every rank draws all of it); each item is `episode_update`'s arguments."""

    @abstractmethod
    def episode_update(self, *item) -> tuple[list[torch.Tensor], dict]:
        """One episode's update direction by parameter (`params` order) and its statistics."""

    @abstractmethod
    def make_stats(self, means: dict[str, float], norm: float, seconds: float, batch: list[tuple]) -> Any:
        """The record of one outer step (a dataclass; `history` keeps it as a dict)."""

    @abstractmethod
    def own_tensors(self) -> dict[str, torch.Tensor]:
        """The learned tensors a checkpoint holds beside the outer optimizer and generator states."""

    @abstractmethod
    def load_own_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Put back what `own_tensors` saved (CheckpointError when it does not fit)."""

    def checkpoint_meta(self) -> dict:
        """The JSON record of a checkpoint (it holds at least `step` and `history`)."""
        return {"step": self.step, "history": self.history, "sources": self.source_names,
                "config": self.cfg.model_dump(mode="json")}

    def check_resumable(self, out: Path, meta: dict) -> None:
        """Raise ConfigError when the checkpoints under `out` belong to another run."""

    def unused_config(self) -> tuple[str, ...]:
        """Config fields (dotted names or sections) this learner does not read, so a resumed run
        may change them; beyond them only `RESUME_MAY_CHANGE` may change."""
        return NOT_READ_BY_META_TRAINING

    def training_config(self, meta: dict) -> dict[str, Any]:
        """The fields a resumed run must keep, by dotted name, as recorded in a checkpoint's
        `meta` (this run's: `checkpoint_meta()`); empty when it records no config."""
        config = meta.get("config")
        flat = flat_fields(config) if isinstance(config, dict) else {}
        skip = RESUME_MAY_CHANGE + self.unused_config()
        return {k: v for k, v in flat.items() if not _under(k, skip)}

    def check_config_unchanged(self, out: Path, meta: dict) -> None:
        """ConfigError naming every training field (old -> new) in which this run differs from the
        one that wrote the checkpoint `meta` under `out`; only what the checkpoint records is compared."""
        changes = config_changes(self.training_config(meta), self.training_config(self.checkpoint_meta()))
        if changes:
            raise ConfigError(
                f"{out} holds a meta-training run with another training config ({'; '.join(changes)}); "
                "resume it with the settings it was started with, or use another output directory "
                f"(a resumed run may change {', '.join(RESUME_MAY_CHANGE)})")

    def save_result(self, out: Path) -> None:
        """Write what the run produces (beside its checkpoints) to `out`."""

    def verify_result(self, out: Path) -> str | None:
        """None when the result saved in `out` is intact and holds the current state (the last
        checkpoint's, once resumed), else what is wrong with it (one line)."""
        return None

    # ------------------------------------------------------------ hooks of the outer step
    def episode_context(self):
        """The context the meta-batch's episodes run in."""
        return contextlib.nullcontext()

    def begin_step(self, batch: list[tuple]) -> None:
        """Called at the start of each outer step with its meta-batch, before the episodes."""

    def apply_update(self, update: list[torch.Tensor], norm: float) -> None:
        """Apply the averaged, all-reduced `update` (of norm `norm`): by default clip it to
        `meta.max_grad_norm` and take one step of `optimizer` with it as the gradient."""
        if self.optimizer is not None:
            clip_(update, norm, self.cfg.meta.max_grad_norm)
            optimizer_step(self.optimizer, self.params, update)

    def history_row(self, stats) -> dict:
        return dict(stats.__dict__)

    def progress(self, stats) -> dict[str, str]:
        """The progress bar's postfix after an outer step."""
        return {"M": f"{stats.meta_loss:.3f}"}

    @property
    def progress_desc(self) -> str:
        return "meta-train"

    def after_step(self) -> None:
        """Called after each outer step of `train` (and its checkpoint, and `on_step`)."""

    def finish(self, out: Path | None):
        """What `train` returns, once the last outer step is done."""
        return None

    # ------------------------------------------------------------ one outer step
    def outer_step(self):
        t0 = time.perf_counter()
        batch = self.draw_meta_batch()
        B = len(batch)
        total = [torch.zeros_like(p) for p in self.params]
        stats_sum = torch.zeros(len(self.STAT_FIELDS) + 1, dtype=torch.float64)  # the fields, then episodes
        self.begin_step(batch)
        with self.episode_context():
            for i, item in enumerate(batch):
                if i % self.world != self.rank:
                    continue
                update, st = self.episode_update(*item)
                for acc, u in zip(total, update):
                    acc.add_(u.detach() / B)
                stats_sum += torch.tensor([*(st[k] for k in self.STAT_FIELDS), 1.0], dtype=torch.float64)
        stats_sum = all_reduce_sums(total, stats_sum, self.world)
        norm = global_norm(total, self.NORM_DTYPE)
        self.apply_update(total, norm)
        self.step += 1
        n = max(stats_sum[-1].item(), 1.0)
        means = {k: stats_sum[i].item() / n for i, k in enumerate(self.STAT_FIELDS)}
        stats = self.make_stats(means, norm, time.perf_counter() - t0, batch)
        self.history.append(self.history_row(stats))
        return stats

    # ------------------------------------------------------------ state
    def state_tensors(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Everything a checkpoint holds: tensors (learned state, generators, optimizer) and JSON."""
        tensors = self.own_tensors()
        tensors[self.DRAW_GEN_KEY] = self.draw_gen.get_state()
        tensors.update(trainer_state_tensors(self.optimizer, self.params, self.samplers))
        return tensors, self.checkpoint_meta()

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        self.load_own_tensors(tensors)
        self.draw_gen.set_state(tensors[self.DRAW_GEN_KEY])
        device = self.params[0].device if self.params else self.backbone.device
        load_trainer_state(tensors, self.optimizer, self.params, self.samplers, device)
        self.step = int(meta["step"])
        self.history = list(meta.get("history", []))

    def resume(self, out: str | Path) -> bool:
        """Continue from the latest checkpoint under `out`, if any; returns whether it did.
        ConfigError when the checkpoint belongs to another run or this run's training config
        differs from the one it records (before any state is loaded)."""
        found = read_latest_checkpoint(out)
        if found is None:
            return False
        _, tensors, meta = found
        self.check_resumable(Path(out), meta)
        self.check_config_unchanged(Path(out), meta)
        try:
            self.load_state(tensors, meta)
        except CheckpointError as exc:  # the checkpoint's tensors do not fit this run
            raise CheckpointError(f"{out}: {exc}") from None
        return True

    def ensure_result(self, out: Path) -> str:
        """For a run found finished: check the result saved in `out` against the current state and
        rewrite it from that state when it is missing, corrupt or stale (rank 0 only). Returns
        what was done, for the log line."""
        problem = self.verify_result(out)
        if problem is None:
            return f"{self.RESULT_NAME} is verified"
        try:
            self.save_result(out)
        except (OSError, CheckpointError) as exc:
            fix = f"make {out} writable" if isinstance(exc, OSError) else "fix that"
            raise CheckpointError(
                f"meta-training in {out} finished at step {self.step}, but {self.RESULT_NAME} saved there is not "
                f"intact ({problem}) and could not be rebuilt from the checkpoint of step {self.step} ({exc}); "
                f"{fix} and run the same command again") from None
        if self.verify_result(out) is not None:
            raise CheckpointError(
                f"meta-training in {out} finished at step {self.step}, but {self.RESULT_NAME} rebuilt from the "
                f"checkpoint of step {self.step} does not read back intact; check the disk of {out}, "
                "then run the same command again")
        return f"{self.RESULT_NAME} was not intact ({problem}) and is rebuilt from the checkpoint of step {self.step}"

    def save(self, out: str | Path) -> None:
        """A resumable checkpoint and the run's result under `out` (rank 0 only)."""
        if self.rank != 0:
            return
        tensors, meta = self.state_tensors()
        write_checkpoint(out, self.step, tensors, meta)
        self.save_result(Path(out))

    # ------------------------------------------------------------ the run
    def train(self, out: str | Path | None = None, *, on_step: Callable[[Any], None] | None = None):
        """Run (or, given `out` with checkpoints, continue) to `meta.outer_steps`; with `out`,
        checkpoint every `meta.checkpoint_every` steps and at the end. Returns `finish(out)`."""
        from tqdm.auto import tqdm

        meta = self.cfg.meta
        out = Path(out) if out is not None else None
        if out is not None and self.resume(out) and self.rank == 0:
            if self.step < meta.outer_steps:
                print(f"resuming meta-training from step {self.step} of {meta.outer_steps} in {out}", file=sys.stderr)
            else:
                done = self.ensure_result(out)
                print(f"meta-training in {out} already finished at step {self.step}; {done}", file=sys.stderr)
        bar = tqdm(total=meta.outer_steps, initial=self.step, desc=self.progress_desc, unit="step",
                   disable=not self.cfg.progress or self.rank != 0, file=sys.stderr)
        while self.step < meta.outer_steps:
            stats = self.outer_step()
            bar.update(1)
            bar.set_postfix(**self.progress(stats))
            if out is not None and (self.step % meta.checkpoint_every == 0 or self.step == meta.outer_steps):
                self.save(out)
            if on_step is not None:
                on_step(stats)
            self.after_step()
        bar.close()
        return self.finish(out)
