"""The registered aligners: the learned network of METHOD.md and its two ablations."""

from __future__ import annotations

import torch
from torch import nn

from ..flat import FlatLayout
from .base import ALIGNERS, Aligner
from .features import NUM_FEATURES, group_features


#: gain of the learned opening: s = tanh(OPEN_GAIN |o|), so Adam's steps of meta.meta_lr on o
#: (1e-3 by default) can take the opening from 0 to about 0.76 in 100 outer steps
OPEN_GAIN = 10.0


def opening(o: torch.Tensor) -> torch.Tensor:
    """s = tanh(OPEN_GAIN |o|) in [0, 1): exactly 0 at o = 0, with derivative OPEN_GAIN there.

    No differentiable non-negative function of o that is 0 at o = 0 has a non-zero derivative
    there, so the kink is needed; |o| is written so that its derivative at 0 is +1 (torch's abs
    gives 0, which would keep a closed aligner closed for ever), and on both sides it keeps a
    non-zero gradient: unlike a clamp at 0, a step that overshoots below 0 does not freeze it.
    """
    return torch.tanh(OPEN_GAIN * torch.where(o >= 0, o, -o))


@ALIGNERS.register("learned")
class LearnedAligner(Aligner):
    """A small MLP A_psi shared across groups, z_k -> (gate logit, target), and a learned opening.

    `init_gate` = 0 (the default): closed. a_k = s * sigmoid(net_k), rho_k = tanh(net_k), with the
    opening s = tanh(OPEN_GAIN |o|) of one scalar parameter `opening` o that starts at 0: every
    gate is exactly 0, so an untrained module changes nothing (the alignment penalty and its
    surgery are exact no-ops), while the meta-gradient with respect to o is non-zero wherever the
    hinge max(0, rho - cos) is active, so meta-training can open it, and the network decides
    where (which groups, steps and module kinds).

    `init_gate` in (0, 1): open from the start, a_k = sigmoid(net_k) with its bias at
    logit(init_gate) and no opening parameter: the parametrisation of the aligners saved in
    format version 1 (`init_gate` 0.5 was the default then); such an aligner loads and computes
    exactly as it did.
    """

    type_name = "learned"
    learnable = True

    def __init__(self, hidden: int = 32, init_gate: float = 0.0, init_rho: float = 0.5, seed: int = 0) -> None:
        super().__init__()
        if not 0 <= init_gate < 1:
            raise ValueError(f"init_gate must be in [0, 1) (0: closed), got {init_gate}")
        self.hidden, self.init_gate, self.init_rho, self.seed = hidden, init_gate, init_rho, seed
        self.closed = init_gate == 0
        gen = torch.Generator().manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(NUM_FEATURES, hidden), nn.Tanh(), nn.Linear(hidden, 2))
        with torch.no_grad():
            for layer in (self.net[0], self.net[2]):
                bound = 1 / layer.in_features**0.5
                layer.weight.uniform_(-bound, bound, generator=gen)
                layer.bias.zero_()
            self.net[2].weight.mul_(0.1)  # start near the requested gate and target
            gate_logit = 0.0 if self.closed else torch.logit(torch.tensor(init_gate)).item()
            self.net[2].bias.copy_(torch.tensor([gate_logit, torch.atanh(torch.tensor(init_rho)).item()]))
        if self.closed:
            self.opening = nn.Parameter(torch.zeros(()))

    def gate_and_target(self, layout: FlatLayout, g, d, t, T):
        z = group_features(layout, g, d, t, T).to(self.net[0].weight.dtype)
        out = self.net(z)
        gate = torch.sigmoid(out[:, 0])
        if self.closed:
            gate = opening(self.opening) * gate
        return gate.to(g.dtype), torch.tanh(out[:, 1]).to(g.dtype)

    def config(self) -> dict:
        return {"hidden": self.hidden, "init_gate": self.init_gate, "init_rho": self.init_rho, "seed": self.seed}

    @classmethod
    def saved_config(cls, aligner_config: dict, format_version: int) -> dict:
        # format version 1 knew only the open parametrisation (0 < init_gate < 1), which a
        # positive init_gate still selects: its configs load unchanged
        if format_version == 1:
            gate = aligner_config.get("init_gate", 0.5)
            if isinstance(gate, bool) or not isinstance(gate, (int, float)) or not 0 < gate < 1:
                raise ValueError(f"format version 1 holds only open learned aligners (0 < init_gate < 1), "
                                 f"this config has init_gate {gate!r}")
            return {**aligner_config, "init_gate": gate}
        return aligner_config


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
