"""Meta-learned adapter initialisations: MAML, first-order MAML and Reptile (PROTOCOL.md baselines).

What is meta-learned is phi_0's body part (the LoRA factors, or every adaptable body weight with
`model.adapt=full`); the head is rebuilt for every episode from the class prototypes of its
support set, as `MetaLearner` does, so phi_0 is shared by tasks with different classes.

One outer step draws a meta-batch of N-way K-shot episodes of the source tasks (a task uniformly
at random, then an episode of it) and, for each, runs T plain inner steps on the support set
(`InnerSpec(lambdas={})`: SGD, or the target recipe's optimizer, at `inner_lr` / `inner_head_lr`)
and takes the query loss M = L(phi_T; Q):

- `maml`: dM/dphi_0 through all T steps (second order; `meta_gradient(..., k=None)`), Adam;
- `fomaml`: dM/dphi_T in place of dM/dphi_0 (`meta_gradient(..., first_order=True)`), Adam;
- `reptile`: phi_0 += eps * mean over the meta-batch of (phi_T - phi_0), eps = `meta.reptile_lr`.

The head's share of the gradient is dropped (the next episode rebuilds the head anyway); the
prototypes are treated as constants of phi_0. The meta-gradient is the project's functional one
(`sggft_meta.meta_grad`), tested equal to learn2learn's MAML on a tiny model
(tests/test_meta_init.py), so it runs on any backbone the inner loop runs on.

Outer settings come from `cfg.meta` (sources, outer_steps, meta_batch, meta_lr, inner_steps,
episode, reptile_lr, checkpoint_every, seed, max_grad_norm: the clip of the averaged
meta-gradient norm); the SGGFT-only fields (aligner, meta_grad, truncate_k, adjoint, reptile,
across_domains) are not used. Episodes run in eval mode (no dropout). The outer step itself
(meta-batch, all-reduce across torchrun ranks, clipping, Adam, checkpoints, resume) is
`sggft_meta.outer_step.OuterLearner`'s, the same as the aligner's meta-learner: every rank draws
the same meta-batch and computes the episodes `i % world == rank`; the sums are all-reduced
(one step on N ranks equals one rank). This module adds the episodes, the Reptile move, and the
saved initialisation.

A learned initialisation is a directory::

    run_dir/
      init.safetensors   the body tensors of phi_0 by parameter name (the backbone's dtype)
      init.json          {"format": "sggft-meta-init", "format_version", "library_version",
                          "algorithm", "sources", "steps", "backbone", "adapt", "settings",
                          "summary", "weights": {"file", "sha256", "bytes"}, "tensors"}
      checkpoints/       resumable training state (sggft_meta/checkpoint.py): a killed run, started
                         again on the same directory, ends with the same phi_0 bitwise

`load_init(directory, backbone)` writes it into a backbone (CheckpointError on any mismatch, and
on NaN or infinite weights).

A resumed run must keep the training config the run was started with: besides the aligner's
meta-learner's rules (`OuterLearner.check_config_unchanged`) it compares the `MetaInitSettings`,
and it leaves out the fields it does not read (the SGGFT inner loop and aligner settings, and
`train` with the `sgd` inner loop).

An inner loop that raises the query loss (mean over the last `DIVERGE_WINDOW` outer steps more
than `DIVERGE_RATIO` times the mean before adaptation) gets one `RuntimeWarning` naming the
setting to lower: phi_0 learned from diverged episodes is a broken baseline, not a weak one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .. import optim
from ..config import RunConfig
from ..errors import CheckpointError, ConfigError
from ..inner_loop import InnerLoop, InnerSpec
from ..io import digest, json_bytes, library_version, load_tensors, read_json, read_verified, tensor_bytes, write_bytes_atomic
from ..meta_grad import meta_gradient
from ..model.backbone import Backbone, eval_mode
from ..outer_step import NOT_READ_BY_META_TRAINING, OuterLearner, episode_task
from ..task import Task

ALGORITHMS = ("maml", "fomaml", "reptile")
FORMAT = "sggft-meta-init"
#: the inner loop "raises the query loss" when, over the last DIVERGE_WINDOW outer steps, the mean
#: query loss after T inner steps exceeds DIVERGE_RATIO times the mean before them (SmolLM2-135M,
#: 3-step windows: SGD at 0.05 gave 2.6-11.6 times; the target recipe's AdamW at 1e-3 1.7-3.1 times at its
#: worst window, 1.3-1.7 on average; MiniLM with SGD at 0.05 at most 1.0)
DIVERGE_WINDOW = 3
DIVERGE_RATIO = 2.0
#: the SGD inner loop's default learning rate (body and head)
SGD_INNER_LR = 0.05
FORMAT_VERSION = 1
INIT_WEIGHTS = "init.safetensors"
INIT_CONFIG = "init.json"


class MetaInitSettings(BaseModel):
    """The settings of a meta-learned initialisation that `cfg.meta` does not hold."""

    model_config = ConfigDict(extra="forbid")

    algorithm: Literal["maml", "fomaml", "reptile"] = Field("maml", description="maml (second order), fomaml (first order) or reptile.")
    inner_optimizer: Literal["sgd", "train"] = Field(
        "sgd", description="Inner loop of meta-training: plain SGD at inner_lr / inner_head_lr (no clipping), or "
                           "the target recipe's optimizer (train.optimizer, weight_decay, momentum, grad_clip) at "
                           "inner_lr / inner_head_lr, by default the recipe's train.lr / train.head_lr.")
    inner_lr: float | None = Field(
        None, gt=0, description="Inner learning rate of the body (LoRA) parameters during meta-training; default 0.05 "
                                "with sgd, train.lr with train (the target runs keep train.lr either way).")
    inner_head_lr: float | None = Field(
        None, gt=0, description="Inner learning rate of the head during meta-training; default 0.05 with sgd, "
                                "train.head_lr with train.")

    @model_validator(mode="after")
    def _sgd_defaults(self) -> "MetaInitSettings":
        if self.inner_optimizer == "sgd":  # plain SGD has no recipe rate to fall back on
            self.inner_lr = SGD_INNER_LR if self.inner_lr is None else self.inner_lr
            self.inner_head_lr = SGD_INNER_LR if self.inner_head_lr is None else self.inner_head_lr
        return self

    def rates(self, cfg: RunConfig) -> tuple[float, float]:
        """The inner loop's (body, head) learning rates under `cfg`."""
        lr = cfg.train.lr if self.inner_lr is None else self.inner_lr
        return lr, cfg.train.head_lr if self.inner_head_lr is None else self.inner_head_lr


def _recipe_origin(lr_from_recipe: bool, head_from_recipe: bool) -> str:
    """Which of the inner rates quoted in the divergence warning come from the target recipe."""
    if lr_from_recipe and head_from_recipe:
        origin = "from train.lr / train.head_lr"
    elif lr_from_recipe:
        origin = "the first from train.lr"
    elif head_from_recipe:
        origin = "the second from train.head_lr"
    else:
        return ""
    return f", {origin}, which the target runs keep"


def meta_init_spec(cfg: RunConfig, settings: MetaInitSettings) -> InnerSpec:
    """The plain inner loop (no regularizer) that meta-training differentiates through."""
    lr, head_lr = settings.rates(cfg)
    if settings.inner_optimizer == "sgd":
        return InnerSpec(lambdas={}, optimizer=optim.OptimSpec(kind="sgd"), lr=lr, head_lr=head_lr, grad_clip=None)
    t = cfg.train
    return InnerSpec(lambdas={}, optimizer=optim.OptimSpec(kind=t.optimizer, weight_decay=t.weight_decay, momentum=t.momentum),
                     lr=lr, head_lr=head_lr, grad_clip=t.grad_clip)


def body_names(backbone: Backbone) -> list[str]:
    """The adaptable parameters that make up phi_0 (all but the head), in the backbone's order."""
    return [n for n in backbone.adaptable_parameters() if not n.startswith("head.")]


@dataclass
class InitStepStats:
    step: int
    meta_loss: float  # query loss after T inner steps, mean over the meta-batch
    query_loss_before: float  # query loss at phi_0 with the prototype head (no adaptation)
    grad_norm: float  # norm of the averaged update direction (meta-gradient, or the Reptile mean delta)
    seconds: float
    tasks: list[str] = field(default_factory=list)


class MetaInitLearner(OuterLearner):
    """Meta-learns phi_0 with `settings.algorithm` on `cfg.meta.sources`; see the module docstring."""

    STAT_FIELDS = ("meta_loss", "query_loss_before")
    DRAW_GEN_KEY = "gen.tasks"
    NORM_DTYPE = torch.float64
    RESULT_NAME = "the initialisation"

    def __init__(self, cfg: RunConfig, settings: MetaInitSettings | None = None, backbone: Backbone | None = None) -> None:
        self.settings = settings = settings or MetaInitSettings()
        if not cfg.meta.sources:
            raise ConfigError("meta.sources: meta-learning an initialisation needs one or more source tasks, e.g. meta.sources=[sst2,trec]")
        self.spec = meta_init_spec(cfg, settings)
        super().__init__(cfg, backbone)  # the same source episodes as MetaLearner's
        self.names = body_names(self.backbone)
        if not self.names:
            raise ConfigError("model.adapt=head: the head is rebuilt for every task, so there is no initialisation to "
                              "meta-learn; use model.adapt=lora (or full)")
        params = self.backbone.adaptable_parameters()
        flat_dtype = torch.float64 if params[self.names[0]].dtype == torch.float64 else torch.float32
        # master copy of phi_0's body (float32 for a bfloat16 model), what Adam / Reptile update
        self.params = [params[n].detach().clone().to(flat_dtype).requires_grad_(True) for n in self.names]
        self.optimizer = torch.optim.Adam(self.params, lr=cfg.meta.meta_lr) if settings.algorithm != "reptile" else None

    # ------------------------------------------------------------ phi_0
    def init_state(self) -> dict[str, torch.Tensor]:
        """phi_0's body by parameter name (detached master tensors)."""
        return {n: p.detach() for n, p in zip(self.names, self.params)}

    def _install(self) -> None:
        self.backbone.restore(self.init_state())

    # ------------------------------------------------------------ sampling
    def draw_meta_batch(self) -> list[tuple[Task, object]]:
        """Every rank draws the whole meta-batch, so the generators stay in step across ranks."""
        out = []
        for _ in range(self.cfg.meta.meta_batch):
            task = self.tasks[int(torch.randint(len(self.tasks), (1,), generator=self.draw_gen))]
            out.append((task, self.samplers[task.name].sample()))
        return out

    # ------------------------------------------------------------ one episode
    def episode_update(self, task: Task, ep) -> tuple[list[torch.Tensor], dict]:
        """The body part of this episode's update direction, by parameter (in `self.names` order):
        dM/dphi_0 (maml), dM/dphi_T (fomaml) or phi_T - phi_0 (reptile); and its statistics."""
        bb, meta = self.backbone, self.cfg.meta
        pool = self.pools[task.name]
        support = pool.batch(ep.support, labels=ep.support_labels)
        query = pool.batch(ep.query, labels=ep.query_labels)
        bb.set_head(episode_task(task, ep.classes), init=self.cfg.model.head_init, support=support)
        loop = InnerLoop(bb, self.spec)
        phi0 = loop.flat_params()
        with torch.no_grad():
            before = loop.loss(phi0, query).item()
        second_order = self.settings.algorithm == "maml"
        mg = meta_gradient(loop, phi0, [support] * meta.inner_steps, query, k=None, psi=[],
                           first_order=not second_order)
        vec = (mg.phi_T - phi0) if self.settings.algorithm == "reptile" else mg.phi0_grad
        parts = dict(zip(loop.layout.names, vec.detach().split(loop.layout.sizes)))
        out = [parts[n].view_as(p).to(p.dtype) for n, p in zip(self.names, self.params)]
        return out, {"meta_loss": mg.meta_loss.item(), "query_loss_before": before}

    # ------------------------------------------------------------ one outer step (OuterLearner.outer_step)
    def begin_step(self, batch) -> None:
        self._install()

    def episode_context(self):
        """Episodes run in eval mode (no dropout)."""
        return eval_mode(self.backbone)

    def apply_update(self, update: list[torch.Tensor], norm: float) -> None:
        """Reptile: phi_0 += eps * update; MAML / FOMAML: clip, then Adam with the update as the
        gradient. The new phi_0 is installed in the backbone."""
        with torch.no_grad():
            if self.settings.algorithm == "reptile":
                for p, d in zip(self.params, update):
                    p.add_(self.cfg.meta.reptile_lr * d)
            else:
                super().apply_update(update, norm)
        self._install()

    def make_stats(self, means: dict[str, float], norm: float, seconds: float, batch) -> InitStepStats:
        return InitStepStats(self.step, means["meta_loss"], means["query_loss_before"], norm, seconds,
                             [t.name for t, _ in batch])

    # ------------------------------------------------------------ state
    def own_tensors(self) -> dict[str, torch.Tensor]:
        return {f"init.{n}": p.detach().cpu() for n, p in zip(self.names, self.params)}

    def checkpoint_meta(self) -> dict:
        return {"kind": FORMAT, "algorithm": self.settings.algorithm, "step": self.step, "history": self.history,
                "sources": self.source_names, "settings": self.settings.model_dump(mode="json"),
                "config": self.cfg.model_dump(mode="json")}

    def load_own_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        device = self.params[0].device
        missing = [n for n in self.names if f"init.{n}" not in tensors]
        if missing:
            raise CheckpointError(f"the checkpoint lacks phi_0 tensors {missing[:3]} of this backbone; it was written for "
                                  "another backbone or adaptation mode: use another output directory")
        with torch.no_grad():
            for n, p in zip(self.names, self.params):
                saved = tensors[f"init.{n}"]
                if saved.shape != p.shape:
                    raise CheckpointError(f"the checkpoint's {n} has shape {list(saved.shape)}, this backbone's "
                                          f"{list(p.shape)}: use another output directory")
                p.copy_(saved.to(device))

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        super().load_state(tensors, meta)
        self._install()

    def check_resumable(self, out: Path, meta: dict) -> None:
        sources = self.source_names
        if meta.get("kind") != FORMAT:
            raise ConfigError(f"{out} holds checkpoints of another kind of run (an aligner's meta-training?), not of a "
                              "meta-learned initialisation; use another output directory")
        if meta.get("sources") != sources or meta.get("algorithm") != self.settings.algorithm:
            raise ConfigError(f"{out} holds a {meta.get('algorithm')} run on sources {meta.get('sources')}, not "
                              f"{self.settings.algorithm} on {sources}; use another output directory, or the same "
                              "algorithm and sources to resume")

    def unused_config(self) -> tuple[str, ...]:
        """Beyond the target runs' settings: the SGGFT-only fields, and `train` with the sgd inner loop."""
        unused = ("sggft", "meta.aligner", "meta.meta_grad", "meta.truncate_k", "meta.adjoint", "meta.reptile",
                  "meta.across_domains")
        return NOT_READ_BY_META_TRAINING + unused + (("train",) if self.settings.inner_optimizer == "sgd" else ())

    def training_config(self, meta: dict) -> dict:
        """The config fields a resumed run must keep, and the recorded `MetaInitSettings` as `settings.*`."""
        fields = super().training_config(meta)
        settings = meta.get("settings")
        if isinstance(settings, dict):
            fields.update({f"settings.{k}": v for k, v in settings.items()})
        return fields

    def save_result(self, out: Path) -> None:
        self.save_init(out)

    def verify_result(self, out: Path) -> str | None:
        """None when `out` holds an intact saved initialisation of this step whose weights are this
        learner's phi_0, byte for byte; else what is wrong."""
        try:
            config = read_init_config(out)
            data = read_verified(out / INIT_WEIGHTS, config["weights"], out, "the initialisation")
        except CheckpointError as exc:
            return str(exc)
        self._install()
        if data != tensor_bytes(self.backbone.snapshot(include_head=False), out):
            return f"{INIT_WEIGHTS} does not hold the phi_0 of the checkpoint of step {self.step}"
        if config["steps"] != self.step:
            return f"{INIT_CONFIG} records step {config['steps']}"
        return None

    def save_init(self, out: str | Path) -> Path:
        """The current phi_0 as a transfer directory (init.safetensors + init.json) at `out`."""
        recent = [h["meta_loss"] for h in self.history[-10:]]
        summary = {"outer_steps": self.step, "meta_batch": self.cfg.meta.meta_batch, "inner_steps": self.cfg.meta.inner_steps,
                   "episode": self.cfg.meta.episode.model_dump(mode="json"), "meta_lr": self.cfg.meta.meta_lr,
                   "reptile_lr": self.cfg.meta.reptile_lr, "seed": self.cfg.meta.seed,
                   "recent_meta_loss": float(np.mean(recent)) if recent else None, "world_size": self.world}
        self._install()
        return save_init(out, self.backbone, algorithm=self.settings.algorithm, sources=self.source_names,
                         steps=self.step, settings=self.settings.model_dump(mode="json"), summary=summary,
                         adapt=self.cfg.model.adapt)

    # ------------------------------------------------------------ the run
    def inner_loop_raises_query_loss(self) -> tuple[float, float] | None:
        """(mean query loss after, before) over the last `DIVERGE_WINDOW` outer steps when the inner
        loop makes the query loss more than `DIVERGE_RATIO` times worse, else None."""
        recent = self.history[-DIVERGE_WINDOW:]
        if len(recent) < DIVERGE_WINDOW:
            return None
        after = float(np.mean([h["meta_loss"] for h in recent]))
        before = float(np.mean([h["query_loss_before"] for h in recent]))
        return (after, before) if not np.isfinite(after) or after > DIVERGE_RATIO * before else None

    def _warn_if_inner_loop_diverges(self) -> None:
        """Warn once per learner: an inner loop that raises the query loss teaches phi_0 from
        diverged episodes (SmolLM2 with SGD at 0.05: 10.5 after against 1.9 before)."""
        if getattr(self, "_warned_divergence", False) or self.rank != 0:
            return
        found = self.inner_loop_raises_query_loss()
        if found is None:
            return
        self._warned_divergence = True
        s, T = self.settings, self.cfg.meta.inner_steps
        lr, head_lr = self.spec.lr, self.spec.head_lr
        if s.inner_optimizer == "sgd":
            fix = (f"lower inner_lr / inner_head_lr (now {lr:g} / {head_lr:g}), or set "
                   "inner_optimizer=train (the target recipe's optimizer, learning rates and clipping)")
        else:
            t = self.cfg.train
            clip = "set train.grad_clip" if t.grad_clip is None else f"lower train.grad_clip (now {t.grad_clip:g})"
            now = f"now {lr:g} / {head_lr:g}" + _recipe_origin(s.inner_lr is None, s.inner_head_lr is None)
            fix = f"lower inner_lr / inner_head_lr ({now}) or {clip}"
        warnings.warn(
            f"meta-training {s.algorithm}: the inner loop raises the query loss (mean {found[0]:.3f} after {T} inner "
            f"steps against {found[1]:.3f} before, over outer steps {self.step - DIVERGE_WINDOW + 1}-{self.step}): its "
            f"steps are too large for this backbone, so phi_0 is learned from diverged episodes; {fix}",
            RuntimeWarning, stacklevel=4)

    def train(self, out: str | Path | None = None, *,
              on_step: Callable[[InitStepStats], None] | None = None) -> dict[str, torch.Tensor]:
        """Run (or, given `out` with checkpoints, continue) to `meta.outer_steps`; returns phi_0's
        body by name, also installed in the backbone. With `out`, checkpoints every
        `meta.checkpoint_every` steps and at the end, each with the learned init beside it."""
        return super().train(out, on_step=on_step)

    @property
    def progress_desc(self) -> str:
        return f"meta-train {self.settings.algorithm}"

    def progress(self, stats: InitStepStats) -> dict[str, str]:
        return {"M": f"{stats.meta_loss:.3f}", "before": f"{stats.query_loss_before:.3f}"}

    def after_step(self) -> None:
        self._warn_if_inner_loop_diverges()

    def finish(self, out: Path | None) -> dict[str, torch.Tensor]:
        self._install()
        if out is not None and self.rank == 0 and saved_steps(out) != self.step:
            self.save_init(out)  # a run killed between its last checkpoint and the init beside it
        return self.init_state()


# ---------------------------------------------------------------------------------------------
# the saved initialisation


def saved_steps(directory: Path) -> int | None:
    """Outer steps of the initialisation saved in `directory`, None when there is none (or it is unreadable)."""
    try:
        return read_init_config(directory)["steps"]
    except CheckpointError:
        return None


def save_init(directory: str | Path, backbone: Backbone, *, algorithm: str, sources: list[str], steps: int,
              settings: dict | None = None, summary: dict | None = None, adapt: str | None = None) -> Path:
    """Write the backbone's current phi_0 body (all adaptable parameters but the head) to
    `directory` as init.safetensors + init.json; weights first, then the JSON that vouches for
    them (sha256, size), each replaced atomically. Returns the directory."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"cannot save the initialisation to {directory}: it is a file; choose a directory path")
    if algorithm not in ALGORITHMS:
        raise CheckpointError(f"cannot save to {directory}: algorithm {algorithm!r} is not one of {ALGORITHMS}")
    state = backbone.snapshot(include_head=False)
    weights = tensor_bytes(state, directory)
    config = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "library_version": library_version(),
        "algorithm": algorithm, "sources": list(sources), "steps": int(steps), "backbone": backbone.backbone_name,
        "adapt": adapt, "settings": settings or {}, "summary": summary or {},
        "weights": {"file": INIT_WEIGHTS, **digest(weights)},
        "tensors": {k: {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape)} for k, v in state.items()},
    }
    config_bytes = json_bytes(config, "the initialisation record (settings or summary)", directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(directory / INIT_WEIGHTS, weights)
    write_bytes_atomic(directory / INIT_CONFIG, config_bytes)
    return directory


def read_init_config(directory: str | Path) -> dict:
    """The validated init.json of a saved initialisation (no weights read)."""
    directory = Path(directory)
    fix = "point at the directory written by MetaInitLearner.train / save_init (it holds init.json and init.safetensors)"
    if not directory.exists():
        raise CheckpointError(f"no saved initialisation at {directory}: the directory does not exist; {fix}")
    if not directory.is_dir():
        raise CheckpointError(f"{directory} is a file, not a saved initialisation directory; {fix}")
    path = directory / INIT_CONFIG
    if not path.is_file():
        if (directory / "config.json").is_file() and (directory / "model.safetensors").is_file():
            raise CheckpointError(f"{directory} holds a saved aligner (config.json + model.safetensors), not an "
                                  f"initialisation: pass it as an aligner (aligner=DIR), or {fix}")
        if (directory / INIT_WEIGHTS).is_file():
            raise CheckpointError(f"{directory}: {INIT_CONFIG} is missing beside {INIT_WEIGHTS}, so the initialisation is "
                                  "incomplete (the write was interrupted?); re-save it, or resume its meta-training")
        raise CheckpointError(f"{directory}: {INIT_CONFIG} is missing, so this is not a saved initialisation; {fix}")
    config = read_json(path, directory, "re-save the initialisation (save_init writes it)")
    if config.get("format") != FORMAT:
        raise CheckpointError(f'{directory}: {INIT_CONFIG} has no "format": "{FORMAT}" tag, so it was not written by '
                              f"save_init; {fix}")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{directory}: {INIT_CONFIG} has no valid format_version; re-save the initialisation")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{directory}: written by sggft-meta {config.get('library_version', '?')} in format version "
                              f"{version}; this sggft-meta {library_version()} reads up to {FORMAT_VERSION}: upgrade sggft-meta")
    weights = config.get("weights")
    required = {"algorithm": str, "sources": list, "steps": int, "backbone": str, "weights": dict}
    bad = [k for k, t in required.items() if not isinstance(config.get(k), t)]
    if bad or not isinstance(weights.get("sha256"), str) or not isinstance(weights.get("bytes"), int):
        what = f"fields missing or of the wrong type: {', '.join(bad)}" if bad else "weights lacks sha256/bytes"
        raise CheckpointError(f"{directory}: {INIT_CONFIG} is not a valid initialisation record ({what}); it was edited "
                              "or written by something else: re-save the initialisation")
    return config


def load_init(directory: str | Path, backbone: Backbone) -> dict:
    """Write the initialisation saved in `directory` into `backbone`'s body parameters (bitwise
    when the dtypes agree) and return its init.json. CheckpointError (an SggftError) when the
    directory is not a complete initialisation, or was learned for another backbone, other
    parameter names or other shapes; the backbone is left untouched then."""
    directory = Path(directory)
    config = read_init_config(directory)
    if config["backbone"] != backbone.backbone_name:
        raise CheckpointError(f"{directory}: the initialisation was meta-learned on backbone {config['backbone']!r}, "
                              f"not on {backbone.backbone_name!r}; load it into that backbone (model.name="
                              f"{config['backbone']}) or meta-train one for this backbone")
    path = directory / INIT_WEIGHTS
    data = read_verified(path, config["weights"], directory, "the initialisation")
    state = load_tensors(data, path, directory, "the initialisation")
    expected = {n: p for n, p in backbone.adaptable_parameters().items() if not n.startswith("head.")}
    missing = [n for n in expected if n not in state]
    extra = [n for n in state if n not in expected]
    fix = ("it was learned with another adaptation (model.adapt, model.lora.r / targets); load it into a backbone "
           f"configured as when it was learned (adapt={config.get('adapt')!r}), or meta-train again")
    if missing:
        raise CheckpointError(f"{directory}: {INIT_WEIGHTS} lacks {len(missing)} parameter(s) this backbone adapts, "
                              f"e.g. {missing[0]!r}; {fix}")
    if extra:
        raise CheckpointError(f"{directory}: {INIT_WEIGHTS} holds {len(extra)} parameter(s) this backbone does not adapt, "
                              f"e.g. {extra[0]!r}; {fix}")
    for n, p in expected.items():
        if tuple(state[n].shape) != tuple(p.shape):
            raise CheckpointError(f"{directory}: {n!r} has shape {list(state[n].shape)} in {INIT_WEIGHTS}, this backbone's "
                                  f"is {list(p.shape)}; {fix}")
    for n in expected:
        if state[n].is_floating_point() and not bool(torch.isfinite(state[n]).all()):
            raise CheckpointError(f"{directory}: tensor {n!r} in {INIT_WEIGHTS} holds NaN or infinite values, so the "
                                  "initialisation was saved from a diverged meta-training; meta-train it again (lower "
                                  "meta.meta_lr, inner_lr or meta.reptile_lr), or use another initialisation")
    backbone.restore({n: state[n] for n in expected})  # copy_ in place: device and dtype of the backbone
    return config
