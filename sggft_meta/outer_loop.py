"""The outer loop: meta-learning the alignment network over source-task pairs (METHOD.md).

Each outer step draws a meta-batch of pairs (s, t) of distinct source tasks (across domains
where the sources allow), an N-way K-shot episode of each (S_s; S_t and Q_t), runs T inner
steps on S_t guided by the direction of S_s, and takes M = L_t(phi_T; Q_t). The aligner's
meta-gradient (`unrolled` or `truncated`, `meta_grad.py`) is averaged over the meta-batch and
one Adam step is taken; optionally phi_0 moves toward the adapted adapters (Reptile).

Under torchrun every rank draws the same meta-batch (the samplers advance identically) and
computes the pairs `i % world == rank`; the summed gradients are all-reduced, so one outer
step on N ranks equals the same meta-batch on one rank. Checkpoints hold everything needed to
continue the same run: aligner, Adam state, samplers' generators, phi_0, step.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from .align import ALIGNERS, Aligner
from .align.checkpoint import (load_trainer_state, read_latest_checkpoint, save_aligner, trainer_state_tensors,
                               write_checkpoint)
from .align.source import SourceDirection
from .config import RunConfig
from .data.samplers import EpisodeSampler
from .episode import inner_spec
from .errors import ConfigError
from .inner_loop import InnerLoop
from .meta_grad import meta_gradient
from .model.backbone import Backbone
from .task import Task, get_task
from .trace import STEP_FIELDS


def episode_task(task: Task, classes: tuple[int, ...]) -> Task:
    """`task` restricted to `classes` (episode label i = class classes[i]), for building heads."""
    attrs = {"label_names": tuple(task.label_names[c] for c in classes)}
    if task.verbalizers:
        attrs["verbalizers"] = tuple(task.verbalizers[c] for c in classes)
    return type(f"{type(task).__name__}Episode", (type(task),), attrs)()


def build_aligner(settings) -> Aligner:
    cls = ALIGNERS.get(settings.type)
    if settings.type == "learned":
        return cls(hidden=settings.hidden, init_gate=settings.init_gate, init_rho=settings.init_rho, seed=settings.seed)
    if settings.type == "gradvac":
        return cls(beta=settings.beta)
    return cls()


def _dist():
    """(rank, world size) of an initialised torch.distributed group, else (0, 1)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


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


class MetaLearner:
    """Meta-trains an aligner (and optionally phi_0) on `cfg.meta.sources`; see module docstring."""

    def __init__(self, cfg: RunConfig, backbone: Backbone | None = None) -> None:
        from .model.loading import load_backbone

        meta = cfg.meta
        if len(meta.sources) < 2:
            raise ConfigError("meta.sources: meta-training needs two or more source tasks (pairs of distinct tasks), e.g. --sources sst2,rte,trec")
        if cfg.sggft.lambda_align <= 0:
            raise ConfigError("sggft.lambda_align: meta-training learns the alignment term, so its weight must be > 0 (e.g. sggft.lambda_align=1)")
        if meta.aligner.type != "learned" and not meta.reptile:
            raise ConfigError(f"meta.aligner.type={meta.aligner.type!r} has nothing to learn; use 'learned' (or meta.reptile=true)")
        if meta.meta_grad == "truncated" and meta.truncate_k > meta.inner_steps:
            raise ConfigError(f"meta.truncate_k={meta.truncate_k} exceeds meta.inner_steps={meta.inner_steps}")
        self.cfg = cfg
        self.tasks = source_tasks(meta.sources)
        self.backbone = backbone if backbone is not None else load_backbone(cfg.model, cfg.data.max_length)
        self.rank, self.world = _dist()
        self.pools, self.samplers = source_pools(self.tasks, self.backbone, cfg)
        self.pair_gen = torch.Generator().manual_seed(meta.seed)
        flat_dtype = torch.float64 if cfg.model.dtype == "float64" else torch.float32
        self.aligner = build_aligner(meta.aligner).to(device=self.backbone.device, dtype=flat_dtype)
        self.params = list(self.aligner.parameters())
        self.optimizer = torch.optim.Adam(self.params, lr=meta.meta_lr) if self.params else None
        self.init = self.backbone.snapshot(include_head=False)  # phi_0 without the head (per task)
        self.step = 0
        self.history: list[dict] = []

    # ------------------------------------------------------------ sampling
    def draw_pair(self) -> tuple[Task, Task]:
        g = self.pair_gen
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

    # ------------------------------------------------------------ one outer step
    def outer_step(self) -> StepStats:
        t0 = time.perf_counter()
        batch = self.draw_meta_batch()
        B = len(batch)
        grads = [torch.zeros_like(p) for p in self.params]
        reptile_sum = None
        stats_sum = torch.zeros(5, dtype=torch.float64)  # meta_loss, cos_source, gate, rho, pairs
        layout = None
        for i, (s, t, ep_s, ep_t) in enumerate(batch):
            if i % self.world != self.rank:
                continue
            psi_grads, delta, loop, st = self.pair_gradient(s, t, ep_s, ep_t)
            for acc, g in zip(grads, psi_grads):
                acc.add_(g.detach() / B)
            reptile_sum = delta / B if reptile_sum is None else reptile_sum + delta / B
            layout = loop.layout
            stats_sum += torch.tensor([st["meta_loss"], st["cos_source"], st["gate"], st["rho"], 1.0], dtype=torch.float64)
        if self.world > 1:
            flat = torch.cat([g.reshape(-1) for g in grads] + [stats_sum.to(grads[0].dtype if grads else torch.float64)])
            torch.distributed.all_reduce(flat)
            offset = 0
            for g in grads:
                g.copy_(flat[offset: offset + g.numel()].view_as(g))
                offset += g.numel()
            stats_sum = flat[offset:].to(torch.float64)
            if self.cfg.meta.reptile:
                torch.distributed.all_reduce(reptile_sum)
        gnorm = float(torch.sqrt(sum((g * g).sum() for g in grads))) if grads else 0.0
        if self.optimizer is not None:
            if self.cfg.meta.max_grad_norm is not None and gnorm > self.cfg.meta.max_grad_norm:
                for g in grads:
                    g.mul_(self.cfg.meta.max_grad_norm / gnorm)
            for p, g in zip(self.params, grads):
                p.grad = g
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        if self.cfg.meta.reptile and reptile_sum is not None:
            self._reptile_update(layout, reptile_sum)
        self.step += 1
        n = max(stats_sum[4].item(), 1.0)
        stats = StepStats(self.step, stats_sum[0].item() / n, stats_sum[1].item() / n, stats_sum[2].item() / n,
                          stats_sum[3].item() / n, gnorm, time.perf_counter() - t0, [(s.name, t.name) for s, t, _, _ in batch])
        self.history.append(stats.__dict__ | {"pairs": [list(p) for p in stats.pairs]})
        return stats

    def _reptile_update(self, layout, delta: torch.Tensor) -> None:
        names = [n for n in layout.names if not n.startswith("head.")]
        sizes = [s for n, s in zip(layout.names, layout.sizes) if not n.startswith("head.")]
        step = self.cfg.meta.reptile_lr
        for name, part in zip(names, delta.split(sizes)):
            self.init[name] = self.init[name] + step * part.view_as(self.init[name]).to(self.init[name].dtype)
        self.backbone.restore(self.init)

    # ------------------------------------------------------------ state
    def state_tensors(self) -> tuple[dict[str, torch.Tensor], dict]:
        tensors = {f"aligner.{k}": v.detach().cpu() for k, v in self.aligner.state_dict().items()}
        tensors["gen.pairs"] = self.pair_gen.get_state()
        tensors.update(trainer_state_tensors(self.optimizer, self.params, self.samplers))
        if self.cfg.meta.reptile:
            tensors.update({f"init.{k}": v.detach().cpu() for k, v in self.init.items()})
        meta = {"step": self.step, "history": self.history, "sources": [t.name for t in self.tasks],
                "config": self.cfg.model_dump(mode="json")}
        return tensors, meta

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        device = self.backbone.device
        self.aligner.load_state_dict({k[8:]: v.to(device) for k, v in tensors.items() if k.startswith("aligner.")})
        self.pair_gen.set_state(tensors["gen.pairs"])
        load_trainer_state(tensors, self.optimizer, self.params, self.samplers, device)
        if self.cfg.meta.reptile:
            self.init = {k[5:]: v.to(device) for k, v in tensors.items() if k.startswith("init.")}
            self.backbone.restore(self.init)
        self.step = int(meta["step"])
        self.history = list(meta.get("history", []))

    def resume(self, out: Path) -> bool:
        """Continue from the latest checkpoint under `out`, if any; returns whether it did."""
        found = read_latest_checkpoint(out)
        if found is None:
            return False
        _, tensors, meta = found
        if meta.get("sources") != [t.name for t in self.tasks]:
            raise ConfigError(f"{out} holds a run on sources {meta.get('sources')}, not {[t.name for t in self.tasks]}; "
                              "use another --out, or the same sources to resume")
        self.load_state(tensors, meta)
        return True

    def save(self, out: Path) -> None:
        """A resumable checkpoint and the current aligner (the transfer format) under `out`."""
        if self.rank != 0:
            return
        tensors, meta = self.state_tensors()
        write_checkpoint(out, self.step, tensors, meta)
        summary = {"outer_steps": self.step, "meta_batch": self.cfg.meta.meta_batch, "meta_grad": self.cfg.meta.meta_grad,
                   "inner_steps": self.cfg.meta.inner_steps, "mode": self.cfg.sggft.mode, "backbone": self.backbone.backbone_name,
                   "lambda_align": self.cfg.sggft.lambda_align, "lambda_dir": self.cfg.sggft.lambda_dir,
                   "lambda_mag": self.cfg.sggft.lambda_mag,
                   "recent_meta_loss": float(np.mean([h["meta_loss"] for h in self.history[-10:]])) if self.history else None,
                   "world_size": self.world}
        save_aligner(self.aligner, out, sources=[t.name for t in self.tasks], summary=summary)

    # ------------------------------------------------------------ the run
    def train(self, out: str | Path | None = None, *, on_step: Callable[[StepStats], None] | None = None) -> Aligner:
        meta = self.cfg.meta
        out = Path(out) if out is not None else None
        if out is not None:
            self.resume(out)
        bar = tqdm(total=meta.outer_steps, initial=self.step, desc="meta-train", unit="step",
                   disable=not self.cfg.progress or self.rank != 0, file=sys.stderr)
        while self.step < meta.outer_steps:
            stats = self.outer_step()
            bar.update(1)
            bar.set_postfix(M=f"{stats.meta_loss:.3f}", cos=f"{stats.cos_source:+.2f}", gate=f"{stats.gate:.2f}", rho=f"{stats.rho:+.2f}")
            if out is not None and (self.step % meta.checkpoint_every == 0 or self.step == meta.outer_steps):
                self.save(out)
            if on_step is not None:
                on_step(stats)
        bar.close()
        return self.aligner
