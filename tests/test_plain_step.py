"""The in-place plain step (`PlainStep`, `optim.step_`) against the functional one.

- `optim.step_` leaves exactly (bitwise) what `optim.step` returns, for AdamW and SGD, with and
  without weight decay and momentum, per-element or scalar learning rates, and skipped steps;
- `InnerLoop.run` on a plain spec gives the same parameters bitwise with `in_place` on and off,
  and the same per-step figures to rounding; a planted non-finite gradient is skipped alike;
- the caller's initial parameters are not touched.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sggft_meta import optim
from sggft_meta.inner_loop import InnerLoop, InnerSpec
from sggft_meta.trace import STEP_FIELDS
from test_inner_loop import Counting, setup  # noqa: F401  (setup: module fixture, tiny BERT, float64, four batches)

OPTIMIZERS = [("adamw", 0.0, 0.0), ("adamw", 0.0, 0.01), ("sgd", 0.0, 0.0), ("sgd", 0.9, 0.01)]


@pytest.mark.parametrize("kind,momentum,wd", OPTIMIZERS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_optim_step_in_place_is_bitwise_the_functional_step(kind, momentum, wd, dtype):
    gen = torch.Generator().manual_seed(0)
    spec = optim.OptimSpec(kind=kind, weight_decay=wd, momentum=momentum)
    for lr in (1e-3, torch.rand(257, generator=gen, dtype=dtype) * 1e-2):
        phi = torch.randn(257, generator=gen, dtype=dtype)
        ref_phi, ref_state = phi.clone(), optim.init_state(spec, phi)
        state = {k: v.clone() for k, v in ref_state.items()}
        scratch = [torch.empty_like(phi), torch.empty_like(phi)]
        for t in range(5):
            u = torch.randn(257, generator=gen, dtype=dtype)
            ok = torch.tensor(t != 2)  # step 2 is skipped
            if t == 2:
                u[7] = float("inf")
            new_phi, ref_state = optim.step(spec, ref_phi, u, ref_state, lr, ok)
            moved = optim.step_(spec, phi, torch.where(ok, u, torch.zeros_like(u)), state, lr, ok, scratch)
            assert torch.equal(phi, new_phi), (t, (phi - new_phi).abs().max())
            for k in ref_state:
                assert torch.equal(state[k], ref_state[k]), (t, k)
            torch.testing.assert_close(moved, (new_phi - ref_phi).norm(), rtol=1e-5, atol=0)
            assert (moved == 0) == (t == 2)
            ref_phi = new_phi


def _run_both(bb, batches, spec, loop_cls=InnerLoop):
    out = []
    for in_place in (True, False):
        loop = loop_cls(bb, spec)
        loop.in_place = in_place
        phi0 = loop.flat_params()
        before = phi0.clone()
        res = loop.run(phi0, batches)
        assert torch.equal(phi0, before)  # the caller's vector is never written
        out.append((res, phi0))
    return out


@pytest.mark.parametrize("kind,momentum,wd", OPTIMIZERS)
@pytest.mark.parametrize("clip", [1.0, None])
def test_run_in_place_equals_functional(setup, kind, momentum, wd, clip):  # noqa: F811
    bb, batches = setup
    spec = InnerSpec(lr=0.05, head_lr=0.1, grad_clip=clip, optimizer=optim.OptimSpec(kind=kind, weight_decay=wd, momentum=momentum))
    (fast, phi0), (ref, _) = _run_both(bb, batches * 2, spec)
    assert (ref.phi - phi0).abs().max() > 1e-3  # the steps moved the parameters
    assert torch.equal(fast.phi, ref.phi)
    for name in STEP_FIELDS:
        np.testing.assert_allclose(fast.trace.steps[name], ref.trace.steps[name], rtol=1e-7, atol=1e-9, err_msg=name)
    assert fast.trace.summary()["path_length"] == pytest.approx(ref.trace.summary()["path_length"], rel=1e-9)


class BadAt(Counting):
    """An inner loop whose task gradient has a non-finite element on its second call."""

    bad = float("nan")

    def gradient(self, phi, batch, create_graph=False, head=None):
        loss, g = super().gradient(phi, batch, create_graph, head)  # counts the call
        if self.calls == 2:
            g = g.clone()
            g[3] = self.bad
        return loss, g


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("clip", [1.0, None])
def test_in_place_skips_a_non_finite_step_like_the_functional_one(setup, bad, clip):  # noqa: F811
    bb, batches = setup
    spec = InnerSpec(lr=0.05, head_lr=0.1, grad_clip=clip, optimizer=optim.OptimSpec(kind="adamw", weight_decay=0.01))
    (fast, _), (ref, _) = _run_both(bb, batches, spec, type("Bad", (BadAt,), {"bad": bad}))
    assert fast.trace.summary()["skipped_steps"] == ref.trace.summary()["skipped_steps"] == 1
    assert torch.isfinite(fast.phi).all() and torch.equal(fast.phi, ref.phi)
    assert fast.trace.steps["step_norm"][1] == 0 and fast.trace.steps["update_norm"][1] == 0


def test_only_plain_specs_without_source_take_the_in_place_step():
    """Plain: no regularizer with a positive weight (a zero weight switches its term off)."""
    from sggft_meta.plain_step import PlainStep

    assert PlainStep.applies(InnerSpec(), None, None)
    assert PlainStep.applies(InnerSpec(lambdas={"direction": 0.0, "magnitude": 0.0, "align": 0.0}), None, None)
    assert not PlainStep.applies(InnerSpec(lambdas={"direction": 0.1, "magnitude": 0.0}), None, None)
    assert not PlainStep.applies(InnerSpec(), lambda phi: phi, None)
    assert not PlainStep.applies(InnerSpec(), None, object())

