"""The per-group statistics an aligner sees (METHOD.md, "Learnable alignment").

z_k = [cos(g^k, d^k), log ||g^k||, log ||d^k||, depth_k, t / T, one-hot(module kind)]

Only statistics, never shapes: a module trained on one backbone applies to another. The spec
(`FEATURE_SPEC`) is saved with every trained aligner and checked when it is loaded.
"""

from __future__ import annotations

import torch

from ..flat import MODULE_KINDS, TINY, FlatLayout

FEATURE_VERSION = 1
NUMERIC = ("cos_g_d", "log_norm_g", "log_norm_d", "depth", "progress")
FEATURE_SPEC = {"version": FEATURE_VERSION, "numeric": list(NUMERIC), "kinds": list(MODULE_KINDS)}
NUM_FEATURES = len(NUMERIC) + len(MODULE_KINDS)


def group_features(layout: FlatLayout, g: torch.Tensor, d: torch.Tensor, t: int, T: int) -> torch.Tensor:
    """[G, NUM_FEATURES] features of every group at step t of T (differentiable in g)."""
    G = layout.num_groups
    dev, dt = g.device, g.dtype
    cos = layout.group_cos(g, d)
    log_g = torch.log(layout.group_sum(g * g) + TINY) / 2
    log_d = torch.log(layout.group_sum(d * d) + TINY) / 2
    depth = torch.tensor([grp.depth for grp in layout.groups], dtype=dt, device=dev)
    progress = torch.full((G,), t / max(T, 1), dtype=dt, device=dev)
    onehot = torch.zeros(G, len(MODULE_KINDS), dtype=dt, device=dev)
    onehot[torch.arange(G), torch.tensor([MODULE_KINDS.index(k) for k in layout.kinds])] = 1
    # log-norms are centred on typical LoRA gradient scales so the network starts in range
    return torch.cat([torch.stack([cos, log_g / 10, log_d / 10, depth, progress], dim=1), onehot], dim=1)
