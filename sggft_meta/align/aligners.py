"""The registered aligners: the learned network of METHOD.md and its two ablations."""

from __future__ import annotations

import torch
from torch import nn

from ..flat import FlatLayout
from .base import ALIGNERS, Aligner
from .features import NUM_FEATURES, group_features


@ALIGNERS.register("learned")
class LearnedAligner(Aligner):
    """A small MLP A_psi shared across groups: z_k -> (a_k = sigmoid, rho_k = tanh)."""

    type_name = "learned"
    learnable = True

    def __init__(self, hidden: int = 32, init_gate: float = 0.5, init_rho: float = 0.5, seed: int = 0) -> None:
        super().__init__()
        self.hidden, self.init_gate, self.init_rho, self.seed = hidden, init_gate, init_rho, seed
        gen = torch.Generator().manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(NUM_FEATURES, hidden), nn.Tanh(), nn.Linear(hidden, 2))
        with torch.no_grad():
            for layer in (self.net[0], self.net[2]):
                bound = 1 / layer.in_features**0.5
                layer.weight.uniform_(-bound, bound, generator=gen)
                layer.bias.zero_()
            self.net[2].weight.mul_(0.1)  # start near the requested gate and target
            self.net[2].bias.copy_(torch.tensor([torch.logit(torch.tensor(init_gate)).item(), torch.atanh(torch.tensor(init_rho)).item()]))

    def gate_and_target(self, layout: FlatLayout, g, d, t, T):
        z = group_features(layout, g, d, t, T).to(self.net[0].weight.dtype)
        out = self.net(z)
        return torch.sigmoid(out[:, 0]).to(g.dtype), torch.tanh(out[:, 1]).to(g.dtype)

    def config(self) -> dict:
        return {"hidden": self.hidden, "init_gate": self.init_gate, "init_rho": self.init_rho, "seed": self.seed}


@ALIGNERS.register("gradvac")
class GradVacAligner(Aligner):
    """Not learned (GradVac, Wang et al. 2021): gate 1, target rho_k = an EMA of the observed
    cos(g^k, d^k) in this episode, so each group is lifted back toward its usual alignment."""

    type_name = "gradvac"

    def __init__(self, beta: float = 0.01, gate: float = 1.0) -> None:
        super().__init__()
        self.beta, self.gate = beta, gate
        self._rho: torch.Tensor | None = None

    def reset(self) -> None:
        self._rho = None

    def gate_and_target(self, layout: FlatLayout, g, d, t, T):
        with torch.no_grad():
            cos = layout.group_cos(g.detach(), d)
            if self._rho is None or self._rho.shape != cos.shape:
                self._rho = torch.zeros_like(cos)  # GradVac starts its targets at 0
            rho = self._rho.clone()
            self._rho = (1 - self.beta) * self._rho + self.beta * cos
        return torch.full_like(rho, self.gate), rho

    def config(self) -> dict:
        return {"beta": self.beta, "gate": self.gate}


@ALIGNERS.register("none")
class NoAligner(Aligner):
    """No alignment: every gate closed."""

    type_name = "none"

    def gate_and_target(self, layout: FlatLayout, g, d, t, T):
        zeros = torch.zeros(layout.num_groups, dtype=g.dtype, device=g.device)
        return zeros, zeros
