"""learn2learn (optional extra, installed by tools/install_learn2learn.sh) against hand-written steps.

Skipped unless learn2learn is importable: the library itself never needs it. Checks that the
rebuilt 0.2.0 wheel works with torch alone: MAML's clone/adapt gives W - lr * grad, and the
meta-gradient through the adapted clone matches the hand-written first- and second-order one.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
import torch.nn.functional as F

l2l = pytest.importorskip("learn2learn")

from learn2learn.algorithms import MAML, MetaSGD  # noqa: E402
from learn2learn.utils import clone_module, update_module  # noqa: E402

LR = 0.1


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()


def functional_forward(params, x):
    w1, b1, w2, b2 = params
    return F.linear(torch.tanh(F.linear(x, w1, b1)), w2, b2)


def loss_fn(out, y):
    return F.mse_loss(out, y)


def data():
    g = torch.Generator().manual_seed(1)
    x_s, y_s = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 2, generator=g, dtype=torch.float64)
    x_q, y_q = torch.randn(6, 3, generator=g, dtype=torch.float64), torch.randn(6, 2, generator=g, dtype=torch.float64)
    return x_s, y_s, x_q, y_q


def hand_written(model, first_order, steps=1):
    """Adapted params (W - lr * grad, `steps` times) and the meta-gradient wrt the initial params."""
    x_s, y_s, x_q, y_q = data()
    init = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
    params = init
    for _ in range(steps):
        grads = torch.autograd.grad(loss_fn(functional_forward(params, x_s), y_s), params, create_graph=not first_order)
        params = [p - LR * g for p, g in zip(params, grads)]
    meta_grads = torch.autograd.grad(loss_fn(functional_forward(params, x_q), y_q), init)
    return [p.detach() for p in params], meta_grads


def with_learn2learn(model, first_order, steps=1):
    x_s, y_s, x_q, y_q = data()
    maml = MAML(model, lr=LR, first_order=first_order)
    learner = maml.clone()
    for _ in range(steps):
        learner.adapt(loss_fn(learner(x_s), y_s))
    loss_fn(learner(x_q), y_q).backward()
    return [p.detach() for p in learner.parameters()], [p.grad for p in model.parameters()]


@pytest.mark.parametrize("first_order", [True, False], ids=["first_order", "second_order"])
@pytest.mark.parametrize("steps", [1, 2])
def test_maml_adapt_matches_hand_written_sgd(first_order, steps):
    model = make_model()
    before = [p.detach().clone() for p in model.parameters()]
    want_params, want_meta = hand_written(model, first_order, steps)
    got_params, got_meta = with_learn2learn(model, first_order, steps)

    # The clone moved, the original did not.
    for b, p in zip(before, model.parameters()):
        assert torch.equal(b, p.detach())
    for got, want, b in zip(got_params, want_params, before):
        assert not torch.equal(got, b)
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    for got, want in zip(got_meta, want_meta):
        assert got is not None
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10)


def test_second_order_differs_from_first_order():
    # Guards the test above: with a non-linear model the two meta-gradients must differ.
    _, fo = hand_written(make_model(), first_order=True)
    _, so = hand_written(make_model(), first_order=False)
    assert any(not torch.allclose(a, b) for a, b in zip(fo, so))


def test_metasgd_uses_per_parameter_learning_rates():
    model = make_model()
    x_s, y_s, _, _ = data()
    meta = MetaSGD(model, lr=LR)
    learner = meta.clone()
    params = list(model.parameters())
    grads = torch.autograd.grad(loss_fn(model(x_s), y_s), params)
    learner.adapt(loss_fn(learner(x_s), y_s))
    for got, p, g, lr in zip(learner.parameters(), params, grads, meta.lrs):
        torch.testing.assert_close(got.detach(), (p - lr * g).detach())


def test_clone_and_update_module():
    model = make_model()
    clone = clone_module(model)
    grads = [torch.ones_like(p) for p in model.parameters()]
    for p, g in zip(clone.parameters(), grads):
        p.update = -LR * g
    update_module(clone)
    for got, p in zip(clone.parameters(), model.parameters()):
        torch.testing.assert_close(got.detach(), p.detach() - LR)


def test_core_import_needs_no_torchvision_or_gym():
    assert l2l.__version__ == "0.2.0"
    # The patched package skips `vision` / `gym` when torchvision / gym are missing, and the
    # import above still succeeded.
    for dep, sub in (("torchvision", "vision"), ("gym", "gym")):
        if importlib.util.find_spec(dep) is None:
            assert not hasattr(l2l, sub)
