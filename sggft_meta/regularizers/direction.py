"""Direction consistency: keep each group's gradient on the direction of recent updates."""

from __future__ import annotations

import torch

from .base import REGULARIZERS, RegContext, Regularizer


@REGULARIZERS.register("direction")
class DirectionConsistency(Regularizer):
    """R_dir = sum_k w_k (1 - cos(g^k, r^k)); zero when every group points along its reference."""

    name = "direction"

    def penalty(self, g: torch.Tensor, ctx: RegContext) -> torch.Tensor:
        lay = ctx.layout
        return (lay.weights * (1 - lay.group_cos(g, ctx.r))).sum()

    def surgery(self, u: torch.Tensor, ctx: RegContext, strength: float) -> torch.Tensor:
        """Pull each group's update toward its reference direction, keeping its norm:
        u' = (1 - s) u + s ||u|| r_hat, with s = min(1, strength)."""
        s = min(1.0, strength)
        lay = ctx.layout
        toward = lay.expand(lay.group_norm(u)) * lay.group_unit(ctx.r)
        return (1 - s) * u + s * toward

    def active(self, ctx: RegContext) -> bool:
        return ctx.r is not None

