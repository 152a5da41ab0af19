"""Magnitude control: keep each group's gradient norm under a threshold tracked from its history."""

from __future__ import annotations

import torch

from .base import REGULARIZERS, RegContext, Regularizer


@REGULARIZERS.register("magnitude")
class MagnitudeControl(Regularizer):
    """R_mag = sum_k w_k max(0, ||g^k|| / tau_k - 1)^2, tau_k = kappa * EMA(||g^k||);
    zero while every group's norm is under its threshold."""

    name = "magnitude"

    def penalty(self, g: torch.Tensor, ctx: RegContext) -> torch.Tensor:
        lay = ctx.layout
        excess = torch.relu(lay.group_norm(g) / ctx.tau - 1)
        return (lay.weights * excess * excess).sum()

    def surgery(self, u: torch.Tensor, ctx: RegContext, strength: float) -> torch.Tensor:
        """Shrink each group whose norm exceeds tau_k back toward tau_k (all the way at s >= 1)."""
        s = min(1.0, strength)
        lay = ctx.layout
        norm = lay.group_norm(u)
        target = norm - s * torch.relu(norm - ctx.tau)
        return u * lay.expand(target / norm)

    def active(self, ctx: RegContext) -> bool:
        return ctx.tau is not None
