"""The SGGFT inner loop (METHOD.md): T regularized steps on a support set, functional over phi.

`InnerLoop.step` is one pure step `state -> state` over flat tensors (parameters, optimizer
moments, direction reference, norm EMA): nothing is written into the model, nothing is read
back to the host, and a step whose update is not finite is skipped (parameters and state keep
their values, the skip is counted). The outer loop calls it with `meta=True` to differentiate
through it. `InnerLoop.run` (and `adapt`) drives an episode: restores nothing, owns no model
state, records the trace, and optionally early-stops on a dev evaluation.

Update modes (the same objective J = L + sum_i lambda_i R_i(g); the references r, tau and the
aligner's gate and target are constants of step t):
- `exact`: u = g + H v with v = dR/dg, H v by double backpropagation through the model;
- `hvp`: the same H v from a finite difference of two gradients (forward, or central), so no
  second-order graph is ever built;
- `surgery`: first order, each term acts on the update directly (GradVac lift, pull toward r,
  norm cap).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from . import optim
from .data.pools import Batch
from .flat import TINY, FlatLayout, cosine
from .model.backbone import eval_mode
from .multitask import COMBINERS, gradvac, pcgrad
from .plain_step import PlainStep
from .regularizers import REGULARIZERS, RegContext
from .trace import STEP_FIELDS, Trace

MODES = ("exact", "hvp", "surgery")
HVP_RULES = ("forward", "central")
#: surgery order: align first (it may rotate), then the direction pull, then the norm cap
SURGERY_ORDER = ("align", "direction", "magnitude")


@dataclass(frozen=True)
class InnerSpec:
    """Everything one inner loop needs, resolved from the config (see `spec_from_config`)."""

    lambdas: dict[str, float] = field(default_factory=dict)  # regularizer name -> weight; {} = plain
    mode: str = "hvp"
    beta_dir: float = 0.9
    beta_mag: float = 0.9
    kappa: float = 2.0
    refresh_every: int = 10
    hvp_rule: str = "forward"
    fd_scale: float | None = None  # finite-difference step scale; None = eps**0.4 (forward) / eps**(1/3) (central) of the dtype
    optimizer: optim.OptimSpec = field(default_factory=optim.OptimSpec)
    lr: float = 1e-3
    head_lr: float = 1e-2
    grad_clip: float | None = None
    multitask: str | None = None  # combine the source gradient into the update: "sum", "pcgrad", "gradvac"
    multitask_beta: float = 0.01  # GradVac's target EMA rate

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown update mode {self.mode!r}; use one of {MODES}")
        if self.multitask is not None and self.multitask not in COMBINERS:
            raise ValueError(f"unknown multitask rule {self.multitask!r}; use one of {COMBINERS}")
        if self.hvp_rule not in HVP_RULES:
            raise ValueError(f"unknown hvp rule {self.hvp_rule!r}; use one of {HVP_RULES}")
        for name, w in self.lambdas.items():
            REGULARIZERS.get(name)
            if not w >= 0:
                raise ValueError(f"regularizer weight lambda_{name} must be >= 0, got {w}")

    @property
    def weighted(self) -> dict[str, float]:
        """The regularizers that take part: those with a positive weight (0 switches a term off)."""
        return {name: w for name, w in self.lambdas.items() if w > 0}

    @property
    def plain(self) -> bool:
        """No regularizer with a positive weight: the step is plain SGD / AdamW on L."""
        return not self.weighted


@dataclass
class AdaptResult:
    phi: torch.Tensor  # adapted (best, when early stopping) flat parameters
    trace: Trace
    best_step: int
    steps: int
    stopped_early: bool
    dev_metric: float | None = None
    dev_loss: float | None = None


class InnerLoop:
    """Regularized functional adaptation of a backbone's adaptable parameters.

    `run` takes plain steps (no regularizer, source or aligner) in place (`PlainStep`: the same
    parameters bit for bit, far fewer passes over them); set `in_place = False` to run them
    through the functional `step` instead.
    """

    in_place: bool = True

    def __init__(self, backbone, spec: InnerSpec, aligner=None, layout: FlatLayout | None = None) -> None:
        self.backbone = backbone
        self.spec = spec
        self.aligner = aligner
        self.layout = layout or FlatLayout.from_backbone(backbone)
        self.terms = [(name, REGULARIZERS.get(name)(), w) for name, w in spec.weighted.items()]
        if spec.mode == "surgery":
            self.terms.sort(key=lambda t: SURGERY_ORDER.index(t[0]) if t[0] in SURGERY_ORDER else len(SURGERY_ORDER))
        lay = self.layout
        head = lay.expand(lay.mask(lay.head_groups()))
        self.lr = spec.head_lr * head + spec.lr * (1 - head)  # per-element learning rate

    # ------------------------------------------------------------ pieces
    def flat_params(self) -> torch.Tensor:
        """The backbone's current adaptable parameters as one flat (detached) vector."""
        return self.layout.flatten({n: p.detach() for n, p in self.backbone.adaptable_parameters().items()})

    def loss(self, phi: torch.Tensor, batch: Batch, head: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        params = self.layout.to_dict(phi)
        if head is not None:
            params.update(head)
        logits = self.backbone.functional_forward(params, batch)
        return self.backbone.loss(logits, batch.labels)

    def gradient(self, phi: torch.Tensor, batch: Batch, create_graph: bool = False, head=None):
        if not phi.requires_grad:
            phi = phi.detach().requires_grad_(True)
        loss = self.loss(phi, batch, head)
        (g,) = torch.autograd.grad(loss, phi, create_graph=create_graph)
        return loss, g

    def init_state(self, phi0: torch.Tensor) -> dict[str, torch.Tensor]:
        lay = self.layout
        phi0 = phi0.detach().to(lay.dtype)
        state = {"phi": phi0, "r": torch.zeros_like(phi0),
                 "gema": torch.zeros(lay.num_groups, dtype=lay.dtype, device=phi0.device),
                 "inited": torch.zeros((), dtype=torch.bool, device=phi0.device)}
        state.update({f"opt.{k}": v for k, v in optim.init_state(self.spec.optimizer, phi0).items()})
        if self.spec.multitask == "gradvac":
            state["gradvac"] = torch.zeros(2, 2, lay.num_groups, dtype=lay.dtype, device=phi0.device)
        return state

    def _fd_step(self, phi, v, central: bool):
        scale = self.spec.fd_scale
        if scale is None:
            eps = torch.finfo(phi.dtype).eps
            # measured on float64 BERT gradients: below these, rounding in the two gradients dominates
            scale = eps ** (1 / 3) if central else eps**0.4
        vnorm = (v.detach() * v.detach()).sum().sqrt()
        pnorm = (phi.detach() * phi.detach()).sum().sqrt()
        return scale * (1 + pnorm) / (vnorm + TINY)

    def _hessian_vector(self, phi, g, v, batch, meta: bool):
        """H v at phi (H: Hessian of L on `batch`), by the configured mode."""
        if self.spec.mode == "exact":
            return torch.autograd.grad(g, phi, grad_outputs=v, create_graph=meta, retain_graph=meta)[0]
        central = self.spec.hvp_rule == "central"
        h = self._fd_step(phi, v, central)
        _, g_plus = self.gradient(phi + h * v, batch, create_graph=meta)
        if central:
            _, g_minus = self.gradient(phi - h * v, batch, create_graph=meta)
            return (g_plus - g_minus) / (2 * h)
        return (g_plus - g) / h

    # ------------------------------------------------------------ one step
    def step(self, state: dict[str, torch.Tensor], batch: Batch, t: int, T: int, *, d: torch.Tensor | None = None,
             d_mask: torch.Tensor | None = None, meta: bool = False, g_prev: torch.Tensor | None = None,
             ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """One inner step. Returns the new state, this step's record (`STEP_FIELDS`, detached; the
        consecutive-gradient cosine against `g_prev` when given) and the task gradient (detached).

        With `meta=True` every operation keeps its graph (inputs may require grad: phi, the
        state, the aligner's parameters), so the new state can be differentiated.
        """
        spec = self.spec
        phi = state["phi"]
        # with meta=True, differentiate through g only when phi itself is an input of the
        # meta-gradient; else g is a constant and the step is first order in the model
        need_graph = (meta and phi.requires_grad) or (spec.mode == "exact" and not spec.plain)
        if not phi.requires_grad:
            phi = phi.detach().requires_grad_(True)
        loss, g = self.gradient(phi, batch, create_graph=need_graph)
        return self.update(state, phi, loss, g, batch, t, T, d=d, d_mask=d_mask, meta=meta, g_prev=g_prev, need_graph=need_graph)

    @property
    def model_free_update(self) -> bool:
        """Whether `update` never touches the model (plain and surgery): then a meta-gradient can
        pull adjoints through it with g as an input and form H a by finite differences."""
        return self.spec.plain or self.spec.mode == "surgery"

    def update(self, state: dict[str, torch.Tensor], phi: torch.Tensor, loss: torch.Tensor, g: torch.Tensor,
               batch: Batch | None, t: int, T: int, *, d: torch.Tensor | None = None, d_mask: torch.Tensor | None = None,
               meta: bool = False, g_prev: torch.Tensor | None = None, need_graph: bool = False,
               ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """The step after the task gradient: references, aligner, regularized update, clipping,
        optimizer, skip. `batch` is used only by the `exact` and `hvp` modes (H v)."""
        spec, lay = self.spec, self.layout
        g_det = g.detach()
        fresh = ~state["inited"]
        # references of this step: started from g_0 (or the source direction where there is one)
        start_dir = g_det if d is None else torch.where(lay.expand(d_mask) > 0, d, g_det)
        r = torch.where(fresh, lay.group_unit(start_dir), state["r"])
        gema = torch.where(fresh, lay.group_norm(g_det), state["gema"])
        ctx = RegContext(lay, r=r, tau=spec.kappa * gema, d=d, d_mask=d_mask)
        if self.aligner is not None and d is not None:
            gate, rho = self.aligner.gate_and_target(lay, g if meta else g_det, d, t, T)
            ctx = RegContext(lay, r=r, tau=ctx.tau, d=d, d_mask=d_mask, gate=gate, rho=rho)
        terms = [(reg, w) for _, reg, w in self.terms if reg.active(ctx)]
        base, extra = g, {}
        if spec.multitask is not None and d is not None:
            # the source loss joins the objective: its gradient d (zero on the target head) is
            # combined with the target's by the multi-task rule
            if spec.multitask == "gradvac":
                base, extra["gradvac"] = gradvac(lay, [g, d], state["gradvac"], spec.multitask_beta)
            else:
                base = pcgrad([g, d]) if spec.multitask == "pcgrad" else g + d
        if not terms:  # no term with a positive weight whose references are present: H v = 0
            u = base
        elif spec.mode == "surgery":
            u = base
            for reg, w in terms:
                u = reg.surgery(u, ctx, w)
        else:
            # v = dR/dg with the references fixed: differentiate through an alias of g only
            g_slot = g.view_as(g) if need_graph else g_det.clone().requires_grad_(True)
            total = sum((w * reg.penalty(g_slot, ctx) for reg, w in terms), g_slot.new_zeros(()))
            if total.requires_grad:
                (v,) = torch.autograd.grad(total, g_slot, create_graph=meta, retain_graph=True)
            else:
                v = torch.zeros_like(g_det)
            u = base + self._hessian_vector(phi, g, v, batch, meta)
        if spec.grad_clip is not None:
            norm = ((u * u).sum() + TINY).sqrt()
            u = u * torch.clamp(spec.grad_clip / (norm + 1e-6), max=1.0)
        ok = torch.isfinite(u).all() & torch.isfinite(loss)
        u_safe = torch.where(ok, u, torch.zeros_like(u))
        opt_state = {k[4:]: v for k, v in state.items() if k.startswith("opt.")}
        phi_new, opt_new = optim.step(spec.optimizer, phi, u_safe, opt_state, self.lr, ok)
        g_safe = torch.where(ok, g, torch.zeros_like(g))
        new = {
            "phi": phi_new,
            "r": torch.where(ok, spec.beta_dir * r + (1 - spec.beta_dir) * lay.group_unit(u_safe), state["r"]),
            "gema": torch.where(ok, spec.beta_mag * gema + (1 - spec.beta_mag) * lay.group_norm(g_safe), state["gema"]),
            "inited": state["inited"] | ok,
        }
        new.update({f"opt.{k}": v for k, v in opt_new.items()})
        for key, value in extra.items():
            new[key] = torch.where(ok, value, state[key])
        if "gradvac" in state and "gradvac" not in new:
            new["gradvac"] = state["gradvac"]
        with torch.no_grad():
            cos_src = cosine(g_det * lay.expand(d_mask), d) if d is not None else torch.full_like(loss, float("nan"))
            if ctx.gate is not None:
                w = d_mask / d_mask.sum().clamp_min(1)
                gate_mean, rho_mean = (ctx.gate.detach() * w).sum(), (ctx.rho.detach() * w).sum()
            else:
                gate_mean = rho_mean = torch.full_like(loss, float("nan"))
            values = (loss.detach(), g_det.norm(), cosine(g_det, g_prev) if g_prev is not None else torch.zeros_like(loss),
                      cos_src, cosine(u_safe.detach(), r.detach()), (phi_new.detach() - phi.detach()).norm(), ~ok,
                      u_safe.detach().norm(), gate_mean, rho_mean)
            record = torch.stack([v.to(lay.dtype) for v in values])
        return new, record, g_det

    # ------------------------------------------------------------ an episode
    def run(self, phi0: torch.Tensor, batches: list[Batch], *, source: Callable[[torch.Tensor], torch.Tensor] | None = None,
            d_mask: torch.Tensor | None = None, eval_fn: Callable[[torch.Tensor], tuple[float, float]] | None = None,
            eval_every: int = 10, patience: int | None = None) -> AdaptResult:
        """T = len(batches) steps from phi0. `source(phi)` gives the source direction (refreshed
        every `refresh_every` steps); `eval_fn(phi) -> (metric, loss)` on dev, every `eval_every`
        steps and at step 0, keeps the best phi (ties: lower loss) and stops after `patience`
        evaluations without improvement."""
        T = len(batches)
        if T < 1:
            raise ValueError("an inner loop needs at least one step (T >= 1)")
        with eval_mode(self.backbone):  # deterministic forward: finite differences and recomputation need it
            return self._run(phi0, batches, T, source, d_mask, eval_fn, eval_every, patience)

    def _run(self, phi0, batches, T, source, d_mask, eval_fn, eval_every, patience) -> AdaptResult:
        device = phi0.device
        on_cuda = device.type == "cuda"
        if on_cuda:
            torch.cuda.reset_peak_memory_stats(device)
        if self.aligner is not None:
            self.aligner.reset()
        state = self.init_state(phi0)
        plain = PlainStep(self) if self.in_place and PlainStep.applies(self.spec, source, self.aligner) else None
        if plain is not None:  # its tensors are overwritten step by step: never the caller's phi0
            state = {k: v.clone() for k, v in state.items()}
        rows = torch.zeros(T, len(STEP_FIELDS), dtype=self.layout.dtype, device=device)
        evals: list[dict] = []
        best = {"step": 0, "phi": state["phi"], "key": None}
        g_prev = d = None
        eval_seconds, steps_done, stopped, bad = 0.0, 0, False, 0

        def evaluate(step: int) -> None:
            nonlocal bad, stopped, eval_seconds
            t0 = time.perf_counter()
            metric, loss = eval_fn(state["phi"])
            eval_seconds += time.perf_counter() - t0
            evals.append({"step": step, "dev_metric": metric, "dev_loss": loss})
            key = (metric, -loss)
            if best["key"] is None or key > best["key"]:
                best.update(step=step, phi=state["phi"].detach().clone(), key=key)
                bad = 0
            else:
                bad += 1
                stopped = patience is not None and bad >= patience

        start = time.perf_counter()
        if eval_fn is not None:
            evaluate(0)
        for t in range(T):
            if source is not None and t % self.spec.refresh_every == 0:
                d = source(state["phi"]).detach()
            if plain is not None:
                state, rows[t], g_prev = plain(state, batches[t], t, T, g_prev=g_prev)
            else:
                state, rows[t], g_prev = self.step(state, batches[t], t, T, d=d, d_mask=d_mask, g_prev=g_prev)
            state = {k: v.detach() for k, v in state.items()}
            steps_done = t + 1
            if eval_fn is not None and (steps_done % eval_every == 0 or steps_done == T):
                evaluate(steps_done)
                if stopped:
                    break
        if on_cuda:
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start - eval_seconds
        rows_host = rows[:steps_done].cpu().numpy().astype(np.float64)  # the one read-back of the episode
        final = state["phi"] if eval_fn is None else best["phi"]
        trace = Trace.from_rows(rows_host, total_path=float((final - phi0.to(final.dtype)).norm()),
                                seconds_per_step=seconds / max(steps_done, 1),
                                peak_memory_bytes=torch.cuda.max_memory_allocated(device) if on_cuda else None, evals=evals)
        best_key = best["key"]
        return AdaptResult(final, trace, best["step"] if eval_fn is not None else steps_done, steps_done, stopped,
                           None if best_key is None else best_key[0], None if best_key is None else -best_key[1])
