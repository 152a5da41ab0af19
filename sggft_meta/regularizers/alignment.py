"""Source -> target alignment: lift each group's gradient toward the source direction.

The gate `a_k` and target similarity `rho_k` come from an aligner (the learned network of
`sggft_meta.align`, a fixed rule, or none); this term only applies them. A gate of exactly 0
is an exact no-op in both forms (the penalty adds 0, the surgery adds 0 * d_hat to u), while
the derivative with respect to the gate stays that of the gated term: so a closed learned
aligner changes nothing and still receives a meta-gradient.
"""

from __future__ import annotations

import torch

from .base import REGULARIZERS, RegContext, Regularizer

_EDGE = 1e-6  # cosines are kept inside (-1, 1) where square roots of 1 - c^2 appear


@REGULARIZERS.register("align")
class Alignment(Regularizer):
    """R_align = sum_k w_k a_k max(0, rho_k - cos(g^k, d^k)) over groups with a source direction;
    zero when every gated group is at least as aligned as its target."""

    name = "align"

    def penalty(self, g: torch.Tensor, ctx: RegContext) -> torch.Tensor:
        lay = ctx.layout
        gap = torch.relu(ctx.rho - lay.group_cos(g, ctx.d))
        return (lay.weights * ctx.d_mask * ctx.gate * gap).sum()

    def surgery(self, u: torch.Tensor, ctx: RegContext, strength: float) -> torch.Tensor:
        """GradVac's update: add the multiple of d^k that sets cos(u^k, d^k) to rho_k where it is
        below, scaled by the gate a_k and s = min(1, strength):
        u' = u + s a ||u|| (rho sqrt(1-c^2) - c sqrt(1-rho^2)) / sqrt(1-rho^2) d_hat."""
        s = min(1.0, strength)
        lay = ctx.layout
        c = lay.group_cos(u, ctx.d).clamp(-1 + _EDGE, 1 - _EDGE)
        rho = ctx.rho.clamp(-1 + _EDGE, 1 - _EDGE)
        sin_c, sin_rho = (1 - c * c).sqrt(), (1 - rho * rho).sqrt()
        coef = torch.relu(rho * sin_c - c * sin_rho) / sin_rho * lay.group_norm(u)
        coef = s * ctx.gate * ctx.d_mask * coef
        return u + lay.expand(coef) * lay.group_unit(ctx.d)

    def active(self, ctx: RegContext) -> bool:
        return ctx.d is not None and ctx.gate is not None
