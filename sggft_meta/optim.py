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


def step_(spec: OptimSpec, phi: torch.Tensor, u: torch.Tensor, state: dict[str, torch.Tensor], lr,
          ok: torch.Tensor, scratch: list[torch.Tensor]) -> torch.Tensor:
    """`step` in place: `phi` and the state tensors are overwritten with what `step` returns, bit
    for bit (the same operations in the same order), and nothing of the parameters' size is
    allocated: `scratch` holds two tensors like `phi`, reused between calls. `u` must already be
    zero where `ok` is false (`step` zeroes it itself). Returns ||phi_new - phi|| (0-dim).

    For large parameter vectors (full fine-tuning) the functional `step` is bound by allocating
    and writing its temporaries; this is the same arithmetic without them. Not differentiable.
    """
    a, b = scratch
    okf = ok.to(phi.dtype)
    one = torch.ones((), dtype=phi.dtype, device=phi.device)

    def unless_ok(x: float) -> torch.Tensor:  # x where the step is taken, 1 (no change) where skipped
        return torch.where(ok, torch.full_like(one, x), one)

    count = state["count"] + okf
    if spec.kind == "sgd":
        grad = u
        if spec.weight_decay:
            torch.mul(phi, spec.weight_decay, out=a).add_(u)  # u + wd * phi
            grad = a
        if spec.momentum:
            buf = state["buf"]
            torch.mul(buf, spec.momentum, out=b).add_(grad)  # momentum * buf + grad
            torch.where(state["count"] == 0, grad, b, out=b)
            torch.where(ok, b, buf, out=buf)
            grad = buf
        torch.sub(phi, torch.mul(grad, lr, out=b), out=a)  # phi - lr * grad
    else:
        b1, b2 = spec.betas
        m, v = state["m"], state["v"]
        m.mul_(unless_ok(b1)).add_(torch.mul(u, 1 - b1, out=a))  # b1 * m + (1 - b1) * u
        v.mul_(unless_ok(b2)).add_(torch.mul(u, 1 - b2, out=a).mul_(u))  # b2 * v + (1 - b2) * u * u
        n = count.clamp_min(1)
        bc1, bc2 = 1 - b1**n, 1 - b2**n
        denom = torch.add(v, TINY, out=a).sqrt_().div_(bc2.sqrt()).add_(spec.eps)
        if isinstance(lr, torch.Tensor):
            torch.div(lr, bc1, out=b).mul_(m)  # (lr / bc1) * m
        else:
            torch.mul(m, lr / bc1, out=b)
        b.div_(denom)
        if spec.weight_decay and isinstance(lr, torch.Tensor):  # phi * (1 - lr * wd) - step
            torch.mul(lr, spec.weight_decay, out=a).neg_().add_(1).mul_(phi).sub_(b)
        elif spec.weight_decay:
            torch.mul(phi, 1 - lr * spec.weight_decay, out=a).sub_(b)
        else:
            torch.sub(phi, b, out=a)
    moved = torch.dist(a, phi) * okf
    torch.where(ok, a, phi, out=phi)
    state["count"].copy_(count)
    return moved
