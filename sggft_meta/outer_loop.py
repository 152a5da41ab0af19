"""The outer loop: meta-learning the alignment network over source-task pairs (METHOD.md).

Each outer step draws a meta-batch of pairs (s, t) of distinct source tasks (across domains
where the sources allow), an N-way K-shot episode of each (S_s; S_t and Q_t), runs T inner
steps on S_t guided by the direction of S_s, and takes M = L_t(phi_T; Q_t). The aligner's
meta-gradient (`unrolled` or `truncated`, `meta_grad.py`) is averaged over the meta-batch and
one Adam step is taken; optionally phi_0 moves toward the adapted adapters (Reptile).

The outer step itself (meta-batch, all-reduce across torchrun ranks, clipping, Adam, checkpoints,
resume) is `outer_step.OuterLearner`'s, shared with the meta-learned initialisations; this
module adds what a pair computes, the Reptile move of phi_0, and the aligner as the result.
Checkpoints hold everything needed to continue the same run: aligner, Adam state, samplers'
generators, phi_0, step, and the config the run was started with (a resumed run must keep it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .align import ALIGNERS, Aligner, save_aligner
from .align.source import SourceDirection
from .align.transfer import WEIGHTS_NAME, read_aligner_config
from .config import RunConfig
from .episode import inner_spec
from .errors import CheckpointError, ConfigError
from .io import read_verified, tensor_bytes
from .inner_loop import InnerLoop
from .meta_grad import meta_gradient
from .model.backbone import Backbone
from .checkpoint import read_latest_checkpoint
from .outer_step import OuterLearner, episode_task, source_tasks
from .task import Task
from .trace import STEP_FIELDS


def build_aligner(settings) -> Aligner:
    cls = ALIGNERS.get(settings.type)
    if settings.type == "learned":
        return cls(hidden=settings.hidden, init_gate=settings.init_gate, init_rho=settings.init_rho, seed=settings.seed)
    if settings.type == "gradvac":
        return cls(beta=settings.beta)
    return cls()


@dataclass
class StepStats:
    step: int
    meta_loss: float
    cos_source: float
    gate: float
    rho: float
    grad_norm: float
    seconds: float
    pairs: list[tuple[str, str]] = field(default_factory=list)


class MetaLearner(OuterLearner):
    """Meta-trains an aligner (and optionally phi_0) on `cfg.meta.sources`; see module docstring."""

    STAT_FIELDS = ("meta_loss", "cos_source", "gate", "rho")
    DRAW_GEN_KEY = "gen.pairs"
    RESULT_NAME = "the aligner"

    def __init__(self, cfg: RunConfig, backbone: Backbone | None = None) -> None:
        meta = cfg.meta
        if len(meta.sources) < 2:
            raise ConfigError("meta.sources: meta-training needs two or more source tasks (pairs of distinct tasks), e.g. --sources sst2,rte,trec")
        if cfg.sggft.lambda_align <= 0:
            raise ConfigError("sggft.lambda_align: meta-training learns the alignment term, so its weight must be > 0 (e.g. sggft.lambda_align=1)")
        if meta.aligner.type != "learned" and not meta.reptile:
            raise ConfigError(f"meta.aligner.type={meta.aligner.type!r} has nothing to learn; use 'learned' (or meta.reptile=true)")
        if meta.meta_grad == "truncated" and meta.truncate_k > meta.inner_steps:
            raise ConfigError(f"meta.truncate_k={meta.truncate_k} exceeds meta.inner_steps={meta.inner_steps}")
        super().__init__(cfg, backbone)
        flat_dtype = torch.float64 if cfg.model.dtype == "float64" else torch.float32
        self.aligner = build_aligner(meta.aligner).to(device=self.backbone.device, dtype=flat_dtype)
        self.params = list(self.aligner.parameters())
        self.optimizer = torch.optim.Adam(self.params, lr=meta.meta_lr) if self.params else None
        self.init = self.backbone.snapshot(include_head=False)  # phi_0 without the head (per task)
        self._reptile_sum: torch.Tensor | None = None
        self._layout = None
        self._batch_size = 1

    # ------------------------------------------------------------ sampling
    def draw_pair(self) -> tuple[Task, Task]:
        g = self.draw_gen
        t = self.tasks[int(torch.randint(len(self.tasks), (1,), generator=g))]
        others = [s for s in self.tasks if s.name != t.name]
        if self.cfg.meta.across_domains:
            foreign = [s for s in others if s.domain != t.domain]
            others = foreign or others
        s = others[int(torch.randint(len(others), (1,), generator=g))]
        return s, t

    def draw_meta_batch(self):
        """Every rank draws the whole meta-batch, so the samplers stay in step across ranks."""
        out = []
        for _ in range(self.cfg.meta.meta_batch):
            s, t = self.draw_pair()
            out.append((s, t, self.samplers[s.name].sample(), self.samplers[t.name].sample()))
        return out

    # ------------------------------------------------------------ one pair
    def pair_gradient(self, s: Task, t: Task, ep_s, ep_t):
        bb, meta = self.backbone, self.cfg.meta
        pool_s, pool_t = self.pools[s.name], self.pools[t.name]
        support = pool_t.batch(ep_t.support, labels=ep_t.support_labels)
        query = pool_t.batch(ep_t.query, labels=ep_t.query_labels)
        bb.set_head(episode_task(t, ep_t.classes), init=self.cfg.model.head_init, support=support)
        src = SourceDirection.from_support(bb, episode_task(s, ep_s.classes), pool_s.batch(ep_s.support, labels=ep_s.support_labels),
                                           init=self.cfg.model.head_init)
        loop = InnerLoop(bb, inner_spec(self.cfg.model_copy(update={"method": "sggft"})), aligner=self.aligner)
        k = None if meta.meta_grad == "unrolled" else meta.truncate_k
        phi0 = loop.flat_params()
        adjoint = meta.adjoint if meta.adjoint != "auto" else ("fd" if loop.model_free_update else "autograd")
        mg = meta_gradient(loop, phi0, [support] * meta.inner_steps, query, k=k, source=src.bind(loop),
                           d_mask=src.mask(loop.layout), psi=self.params, want_init_grad=False, adjoint=adjoint)
        body = torch.tensor([not n.startswith("head.") for n in loop.layout.names]).repeat_interleave(
            torch.tensor(loop.layout.sizes)).to(phi0.device)
        delta = (mg.phi_T - phi0)[body]
        rec = mg.records.cpu().numpy()
        col = {name: rec[:, i] for i, name in enumerate(STEP_FIELDS)}
        stats = {"meta_loss": mg.meta_loss.item(), "cos_source": float(np.nanmean(col["cos_source"])),
                 "gate": float(np.nanmean(col["gate"])), "rho": float(np.nanmean(col["rho"]))}
        return mg.psi_grads, delta, loop, stats

    def begin_step(self, batch) -> None:
        self._reptile_sum, self._layout, self._batch_size = None, None, len(batch)

    def episode_update(self, s: Task, t: Task, ep_s, ep_t) -> tuple[list[torch.Tensor], dict]:
        """The aligner's meta-gradient of one pair and its statistics; the body's move phi_T - phi_0
        is summed (over the meta-batch, divided by its size) for the Reptile step of phi_0."""
        psi_grads, delta, loop, stats = self.pair_gradient(s, t, ep_s, ep_t)
        B = self._batch_size
        self._reptile_sum = delta / B if self._reptile_sum is None else self._reptile_sum + delta / B
        self._layout = loop.layout
        return psi_grads, stats

    # ------------------------------------------------------------ the update
    def apply_update(self, update: list[torch.Tensor], norm: float) -> None:
        """Clip and Adam on the aligner; then, with `meta.reptile`, move phi_0 toward the adapted adapters."""
        super().apply_update(update, norm)
        if self.cfg.meta.reptile:
            if self.world > 1:
                torch.distributed.all_reduce(self._reptile_sum)
            if self._reptile_sum is not None:
                self._reptile_update(self._layout, self._reptile_sum)

    def _reptile_update(self, layout, delta: torch.Tensor) -> None:
        names = [n for n in layout.names if not n.startswith("head.")]
        sizes = [s for n, s in zip(layout.names, layout.sizes) if not n.startswith("head.")]
        step = self.cfg.meta.reptile_lr
        for name, part in zip(names, delta.split(sizes)):
            self.init[name] = self.init[name] + step * part.view_as(self.init[name]).to(self.init[name].dtype)
        self.backbone.restore(self.init)

    def make_stats(self, means: dict[str, float], norm: float, seconds: float, batch) -> StepStats:
        return StepStats(self.step, means["meta_loss"], means["cos_source"], means["gate"], means["rho"], norm, seconds,
                         [(s.name, t.name) for s, t, _, _ in batch])

    def history_row(self, stats: StepStats) -> dict:
        return stats.__dict__ | {"pairs": [list(p) for p in stats.pairs]}

    # ------------------------------------------------------------ state
    def own_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {f"aligner.{k}": v.detach().cpu() for k, v in self.aligner.state_dict().items()}
        if self.cfg.meta.reptile:
            tensors.update({f"init.{k}": v.detach().cpu() for k, v in self.init.items()})
        return tensors

    def load_own_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Put back the checkpoint's aligner (and phi_0 with `meta.reptile`); CheckpointError, before
        anything is changed, when its tensors do not fit this run's aligner or backbone."""
        device = self.backbone.device
        fix = "it was written with other meta.aligner or model settings: resume with those, or use another --out"
        saved = {k[8:]: v for k, v in tensors.items() if k.startswith("aligner.")}
        expected = self.aligner.state_dict()
        for name in [*expected, *(n for n in saved if n not in expected)]:
            if name not in saved:
                raise CheckpointError(f"the checkpoint lacks the aligner tensor {name!r} of this run's aligner; {fix}")
            if name not in expected:
                raise CheckpointError(f"the checkpoint holds aligner tensor {name!r}, which this run's aligner does not have; {fix}")
            if saved[name].shape != expected[name].shape:
                raise CheckpointError(f"the checkpoint's aligner tensor {name!r} has shape {list(saved[name].shape)}, this "
                                      f"run's aligner (meta.aligner.hidden={self.cfg.meta.aligner.hidden}) "
                                      f"{list(expected[name].shape)}; {fix}")
        init = {k[5:]: v for k, v in tensors.items() if k.startswith("init.")}
        if self.cfg.meta.reptile:
            for name, value in self.init.items():
                if name not in init or init[name].shape != value.shape:
                    raise CheckpointError(f"the checkpoint's phi_0 lacks {name!r} or has another shape for it; {fix}")
        self.aligner.load_state_dict({k: v.to(device) for k, v in saved.items()})
        if self.cfg.meta.reptile:
            self.init = {k: v.to(device) for k, v in init.items()}
            self.backbone.restore(self.init)

    @classmethod
    def check_resume(cls, cfg: RunConfig, out: Path) -> None:
        """The checks `resume` makes (the run's sources; no change of training config), made
        before any backbone or pool loads; nothing when `out` holds no checkpoint. They read only
        the config and the sources, which is all this bare learner has."""
        found = read_latest_checkpoint(out) if Path(out).is_dir() else None
        if found is None:
            return
        probe = cls.__new__(cls)
        probe.cfg, probe.tasks, probe.step, probe.history = cfg, source_tasks(cfg.meta.sources), 0, []
        probe.check_resumable(Path(out), found[2])
        probe.check_config_unchanged(Path(out), found[2])

    def check_resumable(self, out: Path, meta: dict) -> None:
        if meta.get("kind") is not None:
            raise ConfigError(f"{out} holds checkpoints of another kind of run ({meta.get('kind')}), not of an aligner's "
                              "meta-training; use another --out")
        if meta.get("sources") != self.source_names:
            raise ConfigError(f"{out} holds a run on sources {meta.get('sources')}, not {self.source_names}; "
                              "use another --out, or the same sources to resume")

    def save_result(self, out: Path) -> None:
        """The current aligner in the transfer format, with a summary of the run."""
        summary = {"outer_steps": self.step, "meta_batch": self.cfg.meta.meta_batch, "meta_grad": self.cfg.meta.meta_grad,
                   "inner_steps": self.cfg.meta.inner_steps, "mode": self.cfg.sggft.mode, "backbone": self.backbone.backbone_name,
                   "lambda_align": self.cfg.sggft.lambda_align, "lambda_dir": self.cfg.sggft.lambda_dir,
                   "lambda_mag": self.cfg.sggft.lambda_mag,
                   "recent_meta_loss": float(np.mean([h["meta_loss"] for h in self.history[-10:]])) if self.history else None,
                   "world_size": self.world}
        save_aligner(self.aligner, out, sources=self.source_names, summary=summary)

    def verify_result(self, out: Path) -> str | None:
        """None when `out` holds an intact saved aligner whose weights are this learner's aligner,
        byte for byte, saved at this step on these sources; else what is wrong."""
        try:
            config = read_aligner_config(out)
            data = read_verified(out / WEIGHTS_NAME, config["weights"], out, "the aligner")
        except CheckpointError as exc:
            return str(exc)
        if data != tensor_bytes(self.aligner.state_dict(), out):
            return f"{WEIGHTS_NAME} does not hold the aligner of the checkpoint of step {self.step}"
        if config["summary"].get("outer_steps") != self.step or config["sources"] != self.source_names:
            return f"its config.json records another run (outer_steps {config['summary'].get('outer_steps')})"
        return None

    # ------------------------------------------------------------ the run
    def progress(self, stats: StepStats) -> dict[str, str]:
        return {"M": f"{stats.meta_loss:.3f}", "cos": f"{stats.cos_source:+.2f}", "gate": f"{stats.gate:.2f}",
                "rho": f"{stats.rho:+.2f}"}

    def finish(self, out: Path | None) -> Aligner:
        return self.aligner
