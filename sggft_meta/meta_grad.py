"""Meta-gradients through the inner loop: `unrolled` (all T steps) or `truncated` (the last k).

The forward sweep runs the T inner steps without any graph and keeps the (small, flat) state
before each of the steps to differentiate through. The backward sweep walks those steps in
reverse: it recomputes one step from its saved state with the graph on (`InnerLoop.step(...,
meta=True)`), pulls the adjoint of the next state back through it with one vector-Jacobian
product, and frees the graph. Memory is one step's graph plus T flat states, whatever T is
(an unrolled MAML keeps all T graphs); time is one extra plain step per differentiated step.

It returns d M / d psi for the aligner's parameters and, for MAML-style meta-learning of the
initialisation, d M / d phi_0 (exact when k = T; with k < T the adjoint stops at step T-k).
M = L(phi_T; query). The source directions d are constants (as in the inner loop).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .data.pools import Batch
from .inner_loop import InnerLoop
from .model.backbone import eval_mode


@dataclass
class MetaGradient:
    meta_loss: torch.Tensor  # M on the query set (0-dim, detached)
    psi_grads: list[torch.Tensor]  # one per aligner parameter (zeros when none reach M)
    phi0_grad: torch.Tensor | None  # d M / d phi_0 (unrolled) or d M / d phi_{T-k} (truncated)
    phi_T: torch.Tensor  # adapted parameters (detached)
    records: torch.Tensor  # [T, STEP_FIELDS] per-step trace of the forward sweep


def meta_gradient(loop: InnerLoop, phi0: torch.Tensor, batches: list[Batch], query: Batch, *, k: int | None = None,
                  source: Callable[[torch.Tensor], torch.Tensor] | None = None, d_mask: torch.Tensor | None = None,
                  psi: list[torch.Tensor] | None = None, query_head: dict[str, torch.Tensor] | None = None,
                  want_init_grad: bool = True, first_order: bool = False, adjoint: str = "autograd") -> MetaGradient:
    """Meta-gradient of M = L(phi_T; query) through the last `k` of T = len(batches) steps
    (`k=None`: all of them, i.e. unrolled). `psi` defaults to the aligner's parameters.

    `want_init_grad=False` (aligner-only meta-learning) skips the adjoint of the first
    differentiated step's input state: with k = 1 in `surgery` mode the step is then
    differentiated to first order only. The last step keeps its graph from the forward sweep,
    so it is never recomputed.

    `first_order=True` (first-order MAML): no backward sweep; `phi0_grad` is dM/dphi_T and the
    aligner gets no gradient.

    `adjoint="fd"` (plain and surgery steps only, whose update after the gradient never touches
    the model): the forward sweep keeps each step's gradient g_t (a flat vector), the backward
    sweep differentiates only the model-free update (state, g_t, psi -> next state) with autograd
    and forms the model's part, H_t a, by one forward difference of gradients. No graph through
    the model is ever built: one gradient per differentiated step instead of a second-order
    recompute, and flat vectors only in memory; the price is the O(h) error of the difference."""
    with eval_mode(loop.backbone):  # recomputed steps must see the forward sweep's model: no dropout
        return _meta_gradient(loop, phi0, batches, query, k, source, d_mask, psi, query_head, want_init_grad, first_order, adjoint)


def _meta_gradient(loop, phi0, batches, query, k, source, d_mask, psi, query_head, want_init_grad, first_order, adjoint):
    if adjoint not in ("autograd", "fd"):
        raise ValueError(f"adjoint must be 'autograd' or 'fd', got {adjoint!r}")
    fd = adjoint == "fd"
    if fd and not loop.model_free_update:
        raise ValueError(f"adjoint='fd' needs plain or surgery steps; mode {loop.spec.mode!r} forms H v inside the step")
    T = len(batches)
    k = T if k is None else k
    if not 1 <= k <= T:
        raise ValueError(f"truncation k must be in 1..T={T}, got {k}")
    if psi is None:
        psi = [p for p in loop.aligner.parameters()] if loop.aligner is not None else []
    if loop.aligner is not None:
        loop.aligner.reset()
    # forward sweep: no graph; keep the states the backward sweep starts from
    state = loop.init_state(phi0)
    saved: dict[int, dict[str, torch.Tensor]] = {}
    directions: list[torch.Tensor | None] = []
    records = []
    d = g_prev = None
    last = None
    grads_at: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # fd: g_t and the loss at each saved step
    for t in range(T):
        if source is not None and t % loop.spec.refresh_every == 0:
            d = source(state["phi"]).detach()
        directions.append(d)
        if t == T - 1 and not first_order and not fd:  # keep the last step's graph: the backward sweep starts from it
            inputs = _inputs(state, with_grad=k > 1 or want_init_grad)
            new, record, g_prev = loop.step(inputs, batches[t], t, T, d=d, d_mask=d_mask, g_prev=g_prev, meta=True)
            last = (inputs, new)
        else:
            if t >= T - k and not first_order:
                saved[t] = state
            new, record, g_prev = loop.step(state, batches[t], t, T, d=d, d_mask=d_mask, g_prev=g_prev)
            if fd and t in saved:
                grads_at[t] = (g_prev, record[0])
        state = {key: v.detach() for key, v in new.items()}
        records.append(record)
    phi_T = state["phi"].detach().requires_grad_(True)
    meta_loss = loop.loss(phi_T, query, query_head)
    (adj_phi,) = torch.autograd.grad(meta_loss, phi_T)
    adjoint = {"phi": adj_phi}
    psi_grads = [torch.zeros_like(p) for p in psi]
    if first_order:
        return MetaGradient(meta_loss.detach(), psi_grads, adj_phi, state["phi"], torch.stack(records))
    # backward sweep: one recomputed step at a time
    for t in range(T - 1, T - k - 1, -1):
        with_grad = t > T - k or want_init_grad
        g_leaf = None
        if last is not None and t == T - 1:
            inputs, new = last
            last = None
        elif fd:
            inputs = _inputs(saved.pop(t), with_grad=with_grad)
            g_t, loss_t = grads_at.pop(t)
            g_leaf = g_t.detach().requires_grad_(True)
            new, _, _ = loop.update(inputs, inputs["phi"], loss_t, g_leaf, None, t, T, d=directions[t], d_mask=d_mask, meta=True)
        else:
            inputs = _inputs(saved.pop(t), with_grad=with_grad)
            new, _, _ = loop.step(inputs, batches[t], t, T, d=directions[t], d_mask=d_mask, meta=True)
        keys = [key for key in adjoint if new[key].requires_grad]
        wrt_keys = [key for key, v in inputs.items() if v.requires_grad]
        extra = [g_leaf] if g_leaf is not None and with_grad else []
        grads = torch.autograd.grad([new[key] for key in keys], [inputs[key] for key in wrt_keys] + extra + list(psi),
                                    grad_outputs=[adjoint[key] for key in keys], allow_unused=True)
        adjoint = {key: g for key, g in zip(wrt_keys, grads[: len(wrt_keys)]) if g is not None}
        n_state = len(wrt_keys) + len(extra)
        if extra and grads[len(wrt_keys)] is not None:
            # the model's part of the step's Jacobian: d g_t / d phi_t = H_t (symmetric), by a forward difference
            a_g = grads[len(wrt_keys)]
            phi_t = inputs["phi"].detach()
            h = loop._fd_step(phi_t, a_g, central=False)
            _, g_shift = loop.gradient(phi_t + h * a_g, batches[t])
            adjoint["phi"] = adjoint.get("phi", torch.zeros_like(phi_t)) + (g_shift - g_t) / h
        for i, g in enumerate(grads[n_state:]):
            if g is not None:
                psi_grads[i] = psi_grads[i] + g
        del new, inputs, grads
    return MetaGradient(meta_loss.detach(), psi_grads, adjoint.get("phi"), state["phi"], torch.stack(records))


def _inputs(state: dict[str, torch.Tensor], with_grad: bool) -> dict[str, torch.Tensor]:
    """Fresh leaves of a saved state (floating ones requiring grad when its adjoint is wanted)."""
    return {key: v.detach().requires_grad_(with_grad and v.is_floating_point()) for key, v in state.items()}
