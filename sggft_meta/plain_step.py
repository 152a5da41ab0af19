"""The plain inner step (no regularizer, no source, no aligner) done in place.

Plain fine-tuning takes the same step as `InnerLoop.update` with an empty regularizer set, but
with full fine-tuning (every weight of the encoder: 22.7M for MiniLM-L6) the functional update
costs several times the gradient on a CPU: some ninety passes over the parameter vector, most
writing a fresh tensor, plus an `index_add` over every element for each per-group figure.
`PlainStep` computes the same new parameters, optimizer moments and step count, bit for bit
(`optim.step_`; tests/test_plain_step.py), with a handful of passes and no allocation of that
size. The figures it records are the same quantities formed from per-group sums over the
contiguous groups of the flat vector; they may differ from the functional ones in the last bits.
The update direction reference `r` and gradient-norm EMA are kept as the functional step keeps
them (a plain step reads neither; `cos_ref` reports the first). No host synchronisation.
"""

from __future__ import annotations

import torch

from . import optim
from .data.pools import Batch
from .flat import TINY


class PlainStep:
    """`InnerLoop.step` for a plain spec, updating the state's tensors in place."""

    def __init__(self, loop) -> None:
        lay = loop.layout
        self.loop = loop
        # FlatLayout orders parameters group by group, so each group is one contiguous slice
        self.sizes = [int(s) for s in lay.group_sizes.tolist()]
        self.scratch: dict[str, torch.Tensor] = {}

    @staticmethod
    def applies(spec, source, aligner) -> bool:
        return spec.plain and source is None and aligner is None

    def _buffer(self, name: str, like: torch.Tensor) -> torch.Tensor:
        buf = self.scratch.get(name)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype or buf.device != like.device:
            buf = self.scratch[name] = torch.empty_like(like)
        return buf

    def _group_sq(self, x: torch.Tensor) -> torch.Tensor:
        """[G] squared norms of `x` within each group."""
        return torch.stack([torch.dot(part, part) for part in x.split(self.sizes)])

    def __call__(self, state: dict[str, torch.Tensor], batch: Batch, t: int, T: int, *,
                 g_prev: torch.Tensor | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        loop = self.loop
        spec = loop.spec
        loss, g = loop.gradient(state["phi"], batch)
        with torch.no_grad():
            return self._update(state, loss.detach(), g.detach(), g_prev, spec)

    def _update(self, state, loss, g, g_prev, spec):
        u = self._buffer("u", g)
        clip = torch.ones((), dtype=g.dtype, device=g.device)
        if spec.grad_clip is not None:  # as InnerLoop.update: u * min(1, c / (||u|| + 1e-6))
            norm = (torch.mul(g, g, out=u).sum() + TINY).sqrt()
            clip = torch.clamp(spec.grad_clip / (norm + 1e-6), max=1.0)
            torch.mul(g, clip, out=u)
        else:
            u.copy_(g)
        uu = self._group_sq(u)  # [G]
        if spec.grad_clip is not None and spec.grad_clip < 1e18:
            # a clipped u has norm <= grad_clip, so its squared norm is finite exactly when every
            # element is: one pass less than isfinite(u).all()
            ok = torch.isfinite(uu.sum()) & torch.isfinite(loss)
        else:
            ok = torch.isfinite(u).all() & torch.isfinite(loss)
        u.masked_fill_(~ok, 0.0)
        uu = torch.where(ok, uu, torch.zeros_like(uu))
        u_sq = uu.sum()
        u_norm = (uu + TINY).sqrt()  # [G] group norms of u, as FlatLayout.group_norm
        fresh = ~state["inited"]
        # the reference r of this step: unit(g) per group on the first taken step (u is parallel
        # to g), else the running one; cos_ref = cos(u, r)
        r = state["r"]
        unit_dot = (uu / u_norm).sum()  # u . unit(u)
        unit_sq = (uu / (uu + TINY)).sum()  # ||unit(u)||^2
        u_dot_r = torch.where(fresh, unit_dot, torch.dot(u, r))
        r_sq = torch.where(fresh, unit_sq, torch.dot(r, r))
        cos_ref = u_dot_r / (u_sq + TINY).sqrt() / (r_sq + TINY).sqrt()
        # r <- beta r + (1 - beta) unit(u); on the first step r = unit(g) = unit(u); skipped: unchanged
        beta = spec.beta_dir
        keep_r = torch.where(ok, torch.where(fresh, 0.0, beta), 1.0).to(r.dtype)
        add_u = torch.where(ok, torch.where(fresh, 1.0, 1 - beta), 0.0).to(r.dtype) / u_norm
        for k, (r_part, u_part) in enumerate(zip(r.split(self.sizes), u.split(self.sizes))):
            r_part.mul_(keep_r).addcmul_(u_part, add_u[k])
        # gradient-norm EMA per group (||g_k|| = ||u_k|| / clip where the step is taken)
        g_norm = u_norm / clip
        gema = torch.where(fresh, g_norm, state["gema"])
        gema = torch.where(ok, spec.beta_mag * gema + (1 - spec.beta_mag) * g_norm, state["gema"])
        opt_state = {k[4:]: v for k, v in state.items() if k.startswith("opt.")}
        moved = optim.step_(spec.optimizer, state["phi"], u, opt_state, self.loop.lr, ok,
                            [self._buffer("a", g), self._buffer("b", g)])
        g_sq = torch.dot(g, g)
        if g_prev is not None:
            cos_prev = torch.dot(g, g_prev) / (g_sq + TINY).sqrt() / (torch.dot(g_prev, g_prev) + TINY).sqrt()
        else:
            cos_prev = torch.zeros_like(loss)
        nan = torch.full_like(loss, float("nan"))
        values = (loss, g_sq.sqrt(), cos_prev, nan, cos_ref, moved, ~ok, u_sq.sqrt(), nan, nan)
        record = torch.stack([v.to(self.loop.layout.dtype) for v in values])
        new = dict(state, gema=gema, inited=state["inited"] | ok)
        return new, record, g
