"""Gradient-surgery baselines for source + target training: PCGrad and GradVac.

During target adaptation these combine the target gradient g_t with a source task's gradient
g_s (the source loss added to the objective) into one update, as the published rules do:

- PCGrad (Yu et al. 2020, "Gradient Surgery for Multi-Task Learning", Alg. 1): each task's
  gradient is projected onto the normal plane of every other task's gradient it conflicts with
  (negative dot product), using the other tasks' original gradients; the projected gradients are
  summed. Over the whole parameter vector.
- GradVac (Wang et al. 2021, "Gradient Vaccine", Alg. 1): per parameter group k and ordered task
  pair (i, j), where cos(g_i^k, g_j^k) is below the pair's target phi_ij^k, add the multiple of
  g_j^k that raises the cosine to exactly phi_ij^k; the target follows the observed cosine,
  phi <- (1 - beta) phi + beta cos, starting at 0. The adjusted gradients are summed.

Both are pure functions of flat vectors; the inner loop keeps GradVac's targets in its state.
"""

from __future__ import annotations

import torch

from .flat import TINY, FlatLayout

COMBINERS = ("sum", "pcgrad", "gradvac")


def pcgrad(grads: list[torch.Tensor]) -> torch.Tensor:
    """Sum of the PCGrad-projected gradients (task order as given; with two tasks it is
    irrelevant, and for more the paper's random order can be given by shuffling `grads`)."""
    out = torch.zeros_like(grads[0])
    for i, g in enumerate(grads):
        proj = g
        for j, other in enumerate(grads):
            if j == i:
                continue
            dot = (proj * other).sum()
            coef = torch.clamp(dot, max=0) / ((other * other).sum() + TINY)
            proj = proj - coef * other
        out = out + proj
    return out


def gradvac(layout: FlatLayout, grads: list[torch.Tensor], targets: torch.Tensor, beta: float
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of the GradVac-adjusted gradients, and the updated targets.

    `targets` is [n, n, G]: phi_ij^k for task i adjusted toward task j in group k. Groups where
    either gradient is zero (e.g. the target head, which the source does not train) are left
    alone. The cosines that update the targets are those of the original gradients."""
    n = len(grads)
    out = torch.zeros_like(grads[0])
    new_targets = targets.clone()
    for i in range(n):
        gi = grads[i]
        for j in range(n):
            if j == i:
                continue
            gj = grads[j]
            norm_i, norm_j = layout.group_norm(gi), layout.group_norm(gj)
            live = (norm_i > 1e-20) & (norm_j > 1e-20)
            cos = torch.where(live, layout.group_cos(gi, gj), torch.zeros_like(norm_i))
            phi = targets[i, j].clamp(-1 + 1e-6, 1 - 1e-6)
            c = cos.clamp(-1 + 1e-6, 1 - 1e-6)
            coef = norm_i * (phi * (1 - c * c).sqrt() - c * (1 - phi * phi).sqrt()) / (norm_j * (1 - phi * phi).sqrt())
            coef = torch.where(live & (cos < phi), coef, torch.zeros_like(coef))
            gi = gi + layout.expand(coef) * gj
            new_targets[i, j] = torch.where(live, (1 - beta) * targets[i, j] + beta * cos, targets[i, j])
        out = out + gi
    return out, new_targets
