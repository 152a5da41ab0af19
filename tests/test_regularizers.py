"""Every registered regularizer: zero where its condition holds, positive where it does not, a
correct gradient (torch.autograd.gradcheck, float64), and a surgery that fixes what it penalises."""

from __future__ import annotations

import pytest
import torch

from sggft_meta.flat import FlatLayout
from sggft_meta.model.backbone import ParamGroup
from sggft_meta.regularizers import REGULARIZERS, RegContext

SHAPES = {"a.lora_A": (3, 4), "a.lora_B": (4, 3), "b.lora_A": (2, 5), "head.weight": (2, 6), "head.bias": (2,)}
GROUPS = [ParamGroup("a", ("a.lora_A", "a.lora_B"), 0.3, "lora_query"), ParamGroup("b", ("b.lora_A",), 0.6, "lora_value"),
          ParamGroup("head", ("head.weight", "head.bias"), 1.0, "head")]


@pytest.fixture
def lay():
    return FlatLayout.from_groups(SHAPES, GROUPS, torch.float64)


def rand(lay, seed):
    return torch.randn(lay.numel, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def ctx_for(lay, g, *, seed=0, **kw):
    """References in general position: r and d random, tau around the norms, gate/rho mid-range."""
    base = dict(r=rand(lay, seed + 1), tau=lay.group_norm(g).detach() * 0.8, d=rand(lay, seed + 2), d_mask=lay.mask([0, 1]),
                gate=torch.tensor([0.7, 0.4, 0.9], dtype=torch.float64), rho=torch.tensor([0.5, 0.6, 0.3], dtype=torch.float64))
    base.update(kw)
    return RegContext(lay, **base)


def test_registry_has_the_three_terms():
    assert REGULARIZERS.names() == ["align", "direction", "magnitude"]


@pytest.mark.parametrize("name", REGULARIZERS.names())
def test_gradient_is_correct(lay, name):
    reg = REGULARIZERS.get(name)()
    g = rand(lay, 10).requires_grad_(True)
    ctx = ctx_for(lay, g)
    assert reg.penalty(g, ctx).item() > 0  # in general position every term is active
    assert torch.autograd.gradcheck(lambda x: reg.penalty(x, ctx), (g,), eps=1e-6, atol=1e-8)


def scaled_per_group(lay, x, scales):
    return x * lay.expand(torch.tensor(scales, dtype=torch.float64))


def test_direction_zero_when_aligned_with_reference(lay):
    reg = REGULARIZERS.get("direction")()
    r = rand(lay, 1)
    g = scaled_per_group(lay, r, [0.5, 3.0, 1.0])  # same direction per group, any positive scale
    value = reg.penalty(g, ctx_for(lay, g, r=r))
    assert abs(value.item()) < 1e-12
    assert reg.penalty(-g, ctx_for(lay, g, r=r)).item() == pytest.approx(2.0)  # opposite: 1 - (-1) per group


def test_magnitude_zero_under_threshold(lay):
    reg = REGULARIZERS.get("magnitude")()
    g = rand(lay, 3)
    under = ctx_for(lay, g, tau=lay.group_norm(g) * 1.01)
    assert reg.penalty(g, under).item() == 0.0
    over = ctx_for(lay, g, tau=lay.group_norm(g) / 2)  # every group at twice its threshold: sum_k w_k (2 - 1)^2
    assert reg.penalty(g, over).item() == pytest.approx(1.0)


def test_align_zero_when_aligned_enough_and_ignores_ungated_groups(lay):
    reg = REGULARIZERS.get("align")()
    d = rand(lay, 4)
    g = scaled_per_group(lay, d, [2.0, 0.5, 1.0])  # cos = 1 >= any rho
    assert reg.penalty(g, ctx_for(lay, g, d=d)).item() == 0.0
    g_bad = -g
    assert reg.penalty(g_bad, ctx_for(lay, g_bad, d=d)).item() > 0
    closed = ctx_for(lay, g_bad, d=d, gate=torch.zeros(3, dtype=torch.float64))
    assert reg.penalty(g_bad, closed).item() == 0.0
    no_source = ctx_for(lay, g_bad, d=d, d_mask=torch.zeros(3, dtype=torch.float64))
    assert reg.penalty(g_bad, no_source).item() == 0.0


def test_surgeries_fix_what_the_penalty_measures(lay):
    g = rand(lay, 5)
    ctx = ctx_for(lay, g, gate=torch.ones(3, dtype=torch.float64))
    align = REGULARIZERS.get("align")()
    lifted = align.surgery(g, ctx, 1.0)
    cos = lay.group_cos(lifted, ctx.d)
    for k in (0, 1):  # groups with a source direction reach at least their target similarity
        assert cos[k].item() >= ctx.rho[k].item() - 1e-9
    assert torch.equal(lifted[lay.group_index == 2], g[lay.group_index == 2])  # the head has no source direction
    assert align.penalty(lifted, ctx).item() < 1e-9
    mag = REGULARIZERS.get("magnitude")()
    capped = mag.surgery(g, ctx, 1.0)
    assert (lay.group_norm(capped) <= ctx.tau * (1 + 1e-12)).all()
    assert mag.penalty(capped, ctx).item() < 1e-12
    direction = REGULARIZERS.get("direction")()
    pulled = direction.surgery(g, ctx, 1.0)
    assert direction.penalty(pulled, ctx).item() < 1e-12
    torch.testing.assert_close(lay.group_norm(pulled), lay.group_norm(g))
    for reg in (align, mag, direction):  # strength 0: the update is untouched
        torch.testing.assert_close(reg.surgery(g, ctx, 0.0), g)
