"""The aligner interface and its registry.

An aligner maps the per-group statistics of step t to a gate `a_k` in [0, 1] and a target
similarity `rho_k` in (-1, 1) for the alignment term (regularizer `align`, or its surgery).
Every aligner is an `nn.Module` with a JSON-serialisable `config()`; learnable ones keep
their parameters in the module (saved as safetensors, see `transfer.py`).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..errors import CheckpointError
from ..flat import FlatLayout
from .registry import ALIGNERS
from .transfer import load_aligner, save_aligner

__all__ = ["ALIGNERS", "Aligner"]


class Aligner(nn.Module):
    """Subclass, set `type_name`, implement `gate_and_target`, register in `ALIGNERS`."""

    type_name: ClassVar[str]
    learnable: ClassVar[bool] = False

    def gate_and_target(self, layout: FlatLayout, g: torch.Tensor, d: torch.Tensor, t: int, T: int
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def config(self) -> dict:
        """Constructor keyword arguments (JSON values): `type(**config())` rebuilds the module."""
        return {}

    @classmethod
    def saved_config(cls, aligner_config: dict, format_version: int) -> dict:
        """The constructor keyword arguments of a config saved in `format_version` (older formats
        are read through this; raise ValueError for one that format could not hold)."""
        return aligner_config

    def reset(self) -> None:
        """Forget per-episode state (called at the start of every inner loop)."""

    def save_pretrained(self, directory, **kw):
        """Save to `directory` (config.json + model.safetensors); see `transfer.save_aligner`."""
        return save_aligner(self, directory, **kw)

    @classmethod
    def from_pretrained(cls, directory, **kw) -> "Aligner":
        """Load the aligner saved in `directory`; on a subclass, it must be of that type."""
        aligner = load_aligner(directory, **kw)
        if cls is not Aligner and not isinstance(aligner, cls):
            raise CheckpointError(
                f"{directory} holds a {aligner.type_name!r} aligner, not {cls.__name__} "
                f"({getattr(cls, 'type_name', '?')!r}); load it with Aligner.from_pretrained or load_aligner"
            )
        return aligner

