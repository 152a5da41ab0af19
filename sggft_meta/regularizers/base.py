"""The regularizer interface and its registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..registry import Registry
from ..flat import FlatLayout


@dataclass(frozen=True)
class RegContext:
    """What a regularizer may read at step t besides the gradient: all flat ([P]) or per group ([G]).

    `r`: direction reference (EMA of past update directions); `tau`: per-group norm thresholds;
    `d`: source direction, `d_mask`: groups that have one (the head never does); `gate`, `rho`:
    the aligner's per-group gate in [0, 1] and target similarity in (-1, 1).
    """

    layout: FlatLayout
    r: torch.Tensor | None = None
    tau: torch.Tensor | None = None
    d: torch.Tensor | None = None
    d_mask: torch.Tensor | None = None
    gate: torch.Tensor | None = None
    rho: torch.Tensor | None = None


class Regularizer:
    """One penalty R(g; references) >= 0, zero where its condition already holds.

    Subclasses set `name` (registry key; the config weight is `lambda_<name>`) and implement
    `penalty`; `surgery` is the first-order action on an update with the same intent.
    """

    name: ClassVar[str]

    def penalty(self, g: torch.Tensor, ctx: RegContext) -> torch.Tensor:
        raise NotImplementedError

    def surgery(self, u: torch.Tensor, ctx: RegContext, strength: float) -> torch.Tensor:
        raise NotImplementedError

    def active(self, ctx: RegContext) -> bool:
        """Whether the references this term needs are present."""
        return True


REGULARIZERS: Registry[type[Regularizer]] = Registry("regularizer")
