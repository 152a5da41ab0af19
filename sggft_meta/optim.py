"""Functional SGD and AdamW on flat vectors, equal to `torch.optim.SGD` / `torch.optim.AdamW`.

`step(phi, u, state, ok)` returns the new parameters and state without touching its inputs, so
the inner loop can differentiate through it (meta-gradients) and skip a step without a host
sync: where `ok` (a 0-dim bool tensor) is false, everything stays as it was, the step counter
included. Learning rates may be a float or a per-element tensor (head and body rates differ).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .flat import TINY


@dataclass(frozen=True)
class OptimSpec:
    kind: str = "adamw"  # "adamw" | "sgd"
    weight_decay: float = 0.0
    momentum: float = 0.0  # SGD only
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW only
    eps: float = 1e-8


def init_state(spec: OptimSpec, phi: torch.Tensor) -> dict[str, torch.Tensor]:
    zeros = torch.zeros_like(phi)
    count = torch.zeros((), dtype=phi.dtype, device=phi.device)
    if spec.kind == "adamw":
        return {"m": zeros, "v": zeros.clone(), "count": count}
    if spec.kind == "sgd":
        return {"buf": zeros, "count": count} if spec.momentum else {"count": count}
    raise ValueError(f"unknown optimizer {spec.kind!r}; use 'adamw' or 'sgd'")


def step(spec: OptimSpec, phi: torch.Tensor, u: torch.Tensor, state: dict[str, torch.Tensor], lr,
         ok: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One optimizer step with gradient `u`; a non-`ok` step leaves phi and state unchanged.

    A skipped step's `u` may hold NaN or inf: it is replaced by zeros before any arithmetic, so
    nothing non-finite reaches the outputs or their gradients.
    """
    if ok is not None:
        u = torch.where(ok, u, torch.zeros_like(u))
    count = state["count"] + (1 if ok is None else ok.to(phi.dtype))
    new: dict[str, torch.Tensor] = {"count": count}
    if spec.kind == "sgd":
        grad = u + spec.weight_decay * phi if spec.weight_decay else u
        if spec.momentum:
            first = state["count"] == 0
            buf = torch.where(first, grad, spec.momentum * state["buf"] + grad)
            new["buf"] = buf
            grad = buf
        phi_new = phi - lr * grad
    else:
        b1, b2 = spec.betas
        m = b1 * state["m"] + (1 - b1) * u
        v = b2 * state["v"] + (1 - b2) * u * u
        new["m"], new["v"] = m, v
        decayed = phi * (1 - lr * spec.weight_decay) if spec.weight_decay else phi
        # clamp: a skipped first step must not divide by zero (its result is discarded, but a
        # meta-gradient flowing back through the discarded branch would turn into NaN)
        n = count.clamp_min(1)
        bc1 = 1 - b1**n
        bc2 = 1 - b2**n
        # TINY under the root: d sqrt(v)/dv stays finite where v = 0 (LoRA A before B moves)
        denom = ((v + TINY).sqrt() / bc2.sqrt()) + spec.eps
        phi_new = decayed - (lr / bc1) * m / denom
    if ok is None:
        return phi_new, new
    keep = {k: torch.where(ok, v, state[k]) for k, v in new.items()}
    return torch.where(ok, phi_new, phi), keep
