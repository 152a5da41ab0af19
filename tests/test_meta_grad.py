"""Meta-gradients through the inner loop, pinned in float64 on a tiny BERT:

- the aligner's parameters receive a non-zero gradient (unrolled and truncated);
- the unrolled meta-gradient matches central finite differences (every update mode);
- the truncated (k = 1) meta-gradient equals a hand-derived reference (surgery, SGD);
- with no aligner the unrolled gradient w.r.t. phi_0 matches finite differences (MAML).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from sggft_meta import optim
from sggft_meta.align import ALIGNERS

from sggft_meta.inner_loop import InnerLoop, InnerSpec
from sggft_meta.meta_grad import meta_gradient


@pytest.fixture(scope="module")
def world(tiny_bert_dir, tmp_path_factory):
    from conftest import float64_source_world

    return float64_source_world(tiny_bert_dir, tmp_path_factory.mktemp("meta64"))


def make(bb, mode, lambdas, kind="sgd", aligner_seed=3, clip=None):
    # init_gate=0.5: the smooth region these finite differences were written for (the closed start: test_closed_aligner.py)
    aligner = ALIGNERS.get("learned")(hidden=8, seed=aligner_seed, init_rho=0.6, init_gate=0.5).double()
    spec = InnerSpec(lambdas=lambdas, mode=mode, lr=0.1, head_lr=0.1, kappa=1.2, optimizer=optim.OptimSpec(kind=kind),
                     grad_clip=clip, refresh_every=100)
    return InnerLoop(bb, spec, aligner=aligner), aligner


def meta_loss(loop, phi0, support, query, source_fn, d_mask):
    """M(psi) by a plain forward run (what finite differences perturb)."""
    res = loop.run(phi0, support, source=source_fn, d_mask=d_mask)
    return loop.loss(res.phi, query).item()


def directional_fd(loop, params, direction, phi0, support, query, source_fn, d_mask, eps=1e-5):
    """Central difference of the meta-loss along `direction`, and its rounding noise: a few ulps of
    the loss (4) divided by 2 eps (about 4e-11 for a loss near 1 in float64), which no analytic
    gradient can beat, whatever the CPU's summation order."""
    with torch.no_grad():
        for p, v in zip(params, direction):
            p.add_(eps * v)
    plus = meta_loss(loop, phi0, support, query, source_fn, d_mask)
    with torch.no_grad():
        for p, v in zip(params, direction):
            p.sub_(2 * eps * v)
    minus = meta_loss(loop, phi0, support, query, source_fn, d_mask)
    with torch.no_grad():
        for p, v in zip(params, direction):
            p.add_(eps * v)
    noise = 4 * torch.finfo(torch.float64).eps * max(abs(plus), abs(minus)) / (2 * eps)
    return (plus - minus) / (2 * eps), noise


ALIGN_ALL = {"align": 1.0, "direction": 0.05, "magnitude": 0.2}


@pytest.mark.parametrize("mode,lambdas,reference_mode,rel", [
    # surgery: first-order steps, so the meta-gradient needs second derivatives only
    ("surgery", {"align": 1.0, "direction": 0.05}, "surgery", 1e-6),
    # hvp: its forward-difference H v makes M(psi) itself noisy at the 1e-8 level, too noisy to
    # difference again; its meta-gradient (step h held fixed) is checked against the smooth
    # exact-H v objective, which it matches to the O(h) error of the forward difference
    ("hvp", ALIGN_ALL, "exact", 1e-4),
    # exact: needs third derivatives, and PyTorch's layer-norm double backward is not itself
    # differentiable (torch.autograd.gradcheck of a layer-norm HVP fails), so the meta-gradient
    # of `exact` is approximate through LayerNorm: 7e-5 relative here
    ("exact", ALIGN_ALL, "exact", 1e-3),
])
def test_unrolled_matches_finite_differences(world, mode, lambdas, reference_mode, rel):
    bb, support, query, source = world
    loop, aligner = make(bb, mode, lambdas)
    phi0, source_fn, d_mask = loop.flat_params(), source.bind(loop), source.mask(loop.layout)
    mg = meta_gradient(loop, phi0, support, query, source=source_fn, d_mask=d_mask)
    params = list(aligner.parameters())
    gen = torch.Generator().manual_seed(7)
    direction = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]
    analytic = sum((g * v).sum() for g, v in zip(mg.psi_grads, direction)).item()
    reference = loop if reference_mode == mode else InnerLoop(bb, replace(loop.spec, mode=reference_mode), aligner=aligner)
    numeric, noise = directional_fd(reference, params, direction, phi0, support, query, source_fn, d_mask)
    assert abs(analytic) > 1e-8  # the aligner really moves the meta-loss
    assert noise < 1e-3 * abs(analytic)  # the rounding allowance stays far below the signal
    assert analytic == pytest.approx(numeric, rel=rel, abs=noise)


@pytest.mark.parametrize("k", [None, 1])
def test_aligner_receives_gradient(world, k):
    bb, support, query, source = world
    loop, aligner = make(bb, "surgery", {"align": 1.0}, kind="adamw")
    mg = meta_gradient(loop, loop.flat_params(), support, query, k=k, source=source.bind(loop), d_mask=source.mask(loop.layout))
    assert all(g.shape == p.shape for g, p in zip(mg.psi_grads, aligner.parameters()))
    assert sum(g.abs().sum() for g in mg.psi_grads) > 0
    assert all(torch.isfinite(g).all() for g in mg.psi_grads)


def test_truncated_k1_equals_hand_derived(world):
    """phi_T = phi_{T-1} - lr u, u = g + sum_k a_k coef_k d_hat^k (GradVac lift, s = 1). So
    dM/dpsi = grad_psi sum_k (alpha_k a_k + beta_k rho_k) with constants
    alpha_k = -lr <m^k, d_hat^k> coef_k and beta_k = -lr <m^k, d_hat^k> a_k ||g^k|| sin_c,k (1 - rho_k^2)^(-3/2),
    m = dM/dphi_T, over groups where the lift is active."""
    bb, support, query, source = world
    loop, aligner = make(bb, "surgery", {"align": 1.0})
    lay = loop.layout
    phi0, source_fn, d_mask = loop.flat_params(), source.bind(loop), source.mask(lay)
    mg = meta_gradient(loop, phi0, support, query, k=1, source=source_fn, d_mask=d_mask)
    # reference: replay to phi_{T-1}, then differentiate the last step by hand
    T = len(support)
    run = loop.run(phi0, support[:-1], source=source_fn, d_mask=d_mask)
    phi_prev = run.phi
    _, g = loop.gradient(phi_prev, support[-1])
    d = source_fn(phi0)  # refresh_every = 100: the direction of step 0 is used throughout
    gate, rho = aligner.gate_and_target(lay, g, d, T - 1, T)
    c = lay.group_cos(g, d).clamp(-1 + 1e-6, 1 - 1e-6)
    sin_c, sin_rho = (1 - c * c).sqrt(), (1 - rho * rho).sqrt()
    raw = rho * sin_c - c * sin_rho
    active = (raw > 0).to(g.dtype) * d_mask
    norm_g = lay.group_norm(g)
    coef = raw.clamp_min(0) / sin_rho * norm_g
    u = g + lay.expand(gate * coef * d_mask) * lay.group_unit(d)
    phi_T = (phi_prev - loop.lr * u).detach().requires_grad_(True)
    (m,) = torch.autograd.grad(loop.loss(phi_T, query), phi_T)
    lr = loop.spec.lr
    proj = lay.group_dot(m, lay.group_unit(d))
    alpha = (-lr * proj * coef * active).detach()
    beta = (-lr * proj * gate * norm_g * sin_c * (1 - rho * rho) ** -1.5 * active).detach()
    ref = torch.autograd.grad((alpha * gate + beta * rho).sum(), list(aligner.parameters()), allow_unused=True)
    assert active.sum() >= 1  # the lift is on somewhere, so the reference is not trivially zero
    for got, want in zip(mg.psi_grads, ref):
        want = torch.zeros_like(got) if want is None else want
        torch.testing.assert_close(got, want, rtol=1e-7, atol=1e-12)


def test_maml_gradient_wrt_init_matches_finite_differences(world):
    bb, support, query, _ = world
    spec = InnerSpec(lambdas={}, lr=0.1, head_lr=0.1, optimizer=optim.OptimSpec(kind="sgd"))
    loop = InnerLoop(bb, spec)
    phi0 = loop.flat_params()
    mg = meta_gradient(loop, phi0, support, query)
    v = torch.randn(phi0.shape, generator=torch.Generator().manual_seed(5), dtype=phi0.dtype)
    eps = 1e-5
    plus = loop.loss(loop.run(phi0 + eps * v, support).phi, query).item()
    minus = loop.loss(loop.run(phi0 - eps * v, support).phi, query).item()
    assert (mg.phi0_grad * v).sum().item() == pytest.approx((plus - minus) / (2 * eps), rel=1e-6)
    # first order differs: the second-order terms matter on this model
    (fo,) = torch.autograd.grad(loop.loss(mg.phi_T.requires_grad_(True), query), mg.phi_T)
    assert ((fo - mg.phi0_grad).norm() / mg.phi0_grad.norm()).item() > 1e-3



@pytest.mark.parametrize("mode,k", [("surgery", 1), ("hvp", 1), ("surgery", None)])
def test_skipping_the_init_adjoint_keeps_the_aligner_gradient(world, mode, k):
    bb, support, query, source = world
    loop, aligner = make(bb, mode, ALIGN_ALL)
    args = dict(k=k, source=source.bind(loop), d_mask=source.mask(loop.layout))
    full = meta_gradient(loop, loop.flat_params(), support, query, **args)
    lean = meta_gradient(loop, loop.flat_params(), support, query, want_init_grad=False, **args)
    assert lean.phi0_grad is None and full.phi0_grad is not None
    for a, b in zip(full.psi_grads, lean.psi_grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-15)


def test_first_order_is_the_query_gradient_at_phi_T(world):
    bb, support, query, _ = world
    loop = InnerLoop(bb, InnerSpec(lambdas={}, lr=0.1, head_lr=0.1, optimizer=optim.OptimSpec(kind="sgd")))
    fo = meta_gradient(loop, loop.flat_params(), support, query, first_order=True)
    phi_T = loop.run(loop.flat_params(), support).phi.requires_grad_(True)
    (want,) = torch.autograd.grad(loop.loss(phi_T, query), phi_T)
    torch.testing.assert_close(fo.phi0_grad, want)


@pytest.mark.parametrize("k", [None, 2])
def test_fd_adjoint_matches_autograd_adjoint(world, k):
    """The finite-difference adjoint (no graph through the model) against the recomputed one."""
    bb, support, query, source = world
    loop, _ = make(bb, "surgery", {"align": 1.0, "direction": 0.05, "magnitude": 0.2})
    args = dict(k=k, source=source.bind(loop), d_mask=source.mask(loop.layout))
    ref = meta_gradient(loop, loop.flat_params(), support, query, **args)
    fd = meta_gradient(loop, loop.flat_params(), support, query, adjoint="fd", **args)
    scale = sum(g.norm() ** 2 for g in ref.psi_grads) ** 0.5
    diff = sum((a - b).norm() ** 2 for a, b in zip(fd.psi_grads, ref.psi_grads)) ** 0.5
    assert scale > 0 and (diff / scale).item() < 1e-5
    assert ((fd.phi0_grad - ref.phi0_grad).norm() / ref.phi0_grad.norm()).item() < 1e-5


def test_fd_adjoint_needs_a_model_free_update(world):
    bb, support, query, source = world
    loop, _ = make(bb, "hvp", ALIGN_ALL)
    with pytest.raises(ValueError, match="plain or surgery"):
        meta_gradient(loop, loop.flat_params(), support, query, adjoint="fd")
