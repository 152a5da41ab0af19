"""The learned aligner starts closed (METHOD.md, "Learnable alignment"), in float64 on a tiny BERT:

- an untrained learned aligner is SGGFT without alignment, exactly, in every update mode;
- a zero gate makes the alignment penalty and its surgery exact no-ops, and still passes the
  derivative with respect to the gate;
- its meta-gradient at the closed start is non-zero (it is the one-sided derivative of the
  meta-loss in the opening), and one outer step of `MetaLearner` opens it;
- aligners saved in format version 1 (open, sigmoid gate) load and compute exactly as before.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from torch import nn

from sggft_meta import optim
from sggft_meta.align import ALIGNERS, load_aligner, save_aligner
from sggft_meta.align import transfer
from sggft_meta.align.features import FEATURE_SPEC, NUM_FEATURES, group_features
from sggft_meta.config import AlignerSettings
from sggft_meta.errors import CheckpointError
from sggft_meta.inner_loop import InnerLoop, InnerSpec
from sggft_meta.meta_grad import meta_gradient
from sggft_meta.regularizers import REGULARIZERS, RegContext

ALIGN_ALL = {"align": 1.0, "direction": 0.05, "magnitude": 0.2}


@pytest.fixture(scope="module")
def world(tiny_bert_dir, tmp_path_factory):
    from conftest import float64_source_world

    return float64_source_world(tiny_bert_dir, tmp_path_factory.mktemp("closed64"))


def spec(mode, lambdas, kind="adamw"):
    return InnerSpec(lambdas=lambdas, mode=mode, lr=0.1, head_lr=0.1, kappa=1.2, optimizer=optim.OptimSpec(kind=kind),
                     refresh_every=2)


def closed(seed=3):
    return ALIGNERS.get("learned")(hidden=8, seed=seed, init_rho=0.6).double()


def test_the_default_is_closed():
    assert AlignerSettings().init_gate == 0
    a = ALIGNERS.get("learned")()
    assert a.closed and a.config()["init_gate"] == 0 and a.opening.item() == 0.0
    assert not ALIGNERS.get("learned")(init_gate=0.5).closed
    with pytest.raises(ValueError, match="init_gate must be in"):
        ALIGNERS.get("learned")(init_gate=1.0)


@pytest.mark.parametrize("mode", ["exact", "hvp", "surgery"])
@pytest.mark.parametrize("lambdas", [ALIGN_ALL, {"align": 1.0}], ids=["all_terms", "align_only"])
def test_untrained_aligner_equals_no_aligner(world, mode, lambdas):
    bb, support, _, source = world
    plain = InnerLoop(bb, spec(mode, lambdas))  # SGGFT with the same source, no aligner
    aligner = closed()
    with_aligner = InnerLoop(bb, spec(mode, lambdas), aligner=aligner)
    phi0, d_mask = plain.flat_params(), source.mask(plain.layout)
    a = plain.run(phi0, support, source=source.bind(plain), d_mask=d_mask).phi
    b = with_aligner.run(phi0, support, source=source.bind(with_aligner), d_mask=d_mask).phi
    assert not torch.equal(a, phi0)
    assert (a - b).abs().max().item() <= 1e-12
    # and the aligner did run: its gates were exactly 0, its targets not
    g, d = torch.randn_like(phi0), source.bind(plain)(phi0)
    gate, rho = aligner.gate_and_target(plain.layout, g, d, 0, 3)
    assert torch.equal(gate, torch.zeros_like(gate)) and bool((rho != 0).all())


def test_zero_gate_is_an_exact_no_op_that_passes_the_gate_derivative(world):
    bb, support, _, source = world
    loop = InnerLoop(bb, spec("surgery", {"align": 1.0}))
    lay = loop.layout
    phi0 = loop.flat_params()
    d = source.bind(loop)(phi0)
    u = torch.randn(phi0.shape, generator=torch.Generator().manual_seed(5), dtype=phi0.dtype)
    rho = torch.full((lay.num_groups,), 0.9, dtype=u.dtype)  # above every cosine: the hinge is active
    gate = torch.zeros(lay.num_groups, dtype=u.dtype, requires_grad=True)
    ctx = RegContext(lay, r=lay.group_unit(u), tau=lay.group_norm(u), d=d, d_mask=source.mask(lay), gate=gate, rho=rho)
    align = REGULARIZERS.get("align")()
    penalty = align.penalty(u, ctx)
    lifted = align.surgery(u, ctx, 1.0)
    assert penalty.item() == 0.0 and torch.equal(lifted, u)
    (dp,) = torch.autograd.grad(penalty, gate)
    (ds,) = torch.autograd.grad(lifted.sum(), gate)
    mask = source.mask(lay) > 0
    assert bool((dp[mask] > 0).all()) and bool((ds[mask] != 0).all())


def test_meta_gradient_at_the_closed_start_is_the_one_sided_derivative(world):
    bb, support, query, source = world
    aligner = closed()
    loop = InnerLoop(bb, spec("surgery", {"align": 1.0, "direction": 0.05}, kind="sgd"), aligner=aligner)
    phi0, source_fn, d_mask = loop.flat_params(), source.bind(loop), source.mask(loop.layout)
    mg = meta_gradient(loop, phi0, support, query, source=source_fn, d_mask=d_mask)
    grads = dict(zip([n for n, _ in aligner.named_parameters()], mg.psi_grads))
    # only the opening moves the meta-loss at first: every gate is 0, so the network's own
    # parameters (gate logits and targets) act through s = 0
    assert abs(grads["opening"].item()) > 1e-8
    assert all(torch.equal(g, torch.zeros_like(g)) for n, g in grads.items() if n != "opening")

    def meta_loss():
        return loop.loss(loop.run(phi0, support, source=source_fn, d_mask=d_mask).phi, query).item()

    m0, h = meta_loss(), 1e-7
    with torch.no_grad():
        aligner.opening.fill_(h)
    m1 = meta_loss()
    with torch.no_grad():
        aligner.opening.zero_()
    assert grads["opening"].item() == pytest.approx((m1 - m0) / h, rel=1e-4)


def test_one_outer_step_opens_the_aligner(world, tiny_bert_dir):
    from sggft_meta.config import load_config
    from sggft_meta.outer_loop import MetaLearner

    cfg = load_config(None, [f"model.name={tiny_bert_dir}", "model.lora.targets=[query,value]", "data.max_length=32",
                             "meta.sources=[demo_product_reviews,demo_news_topics,demo_entailment]",
                             "meta.meta_batch=2", "meta.inner_steps=2", "meta.episode.k_shot=2",
                             "meta.episode.q_query=2", "sggft.lambda_align=1", "sggft.mode=surgery",
                             "model.dtype=float64", "meta.outer_steps=1", "progress=false"])
    learner = MetaLearner(cfg)
    assert learner.aligner.closed and learner.aligner.opening.item() == 0.0
    learner.train()
    assert learner.aligner.opening.item() != 0.0
    # the gate left the closed state: on any step's statistics every group now has a gate in (0, 1)
    # (the aligner sees only per-group statistics, so the layout of another task serves)
    bb, _, _, source = world
    loop = InnerLoop(bb, InnerSpec())
    phi0 = loop.flat_params()
    g = torch.randn(phi0.shape, generator=torch.Generator().manual_seed(0), dtype=phi0.dtype)
    gate, _ = learner.aligner.gate_and_target(loop.layout, g, source.bind(loop)(phi0), 0, 2)
    assert bool((gate > 0).all()) and bool((gate < 1).all())


# --- format version 1: open aligners saved before the closed start ----------------------------------


def old_aligner(hidden=8, init_gate=0.5, init_rho=0.5, seed=3) -> nn.Sequential:
    """The network of a format-1 learned aligner, initialised as it was, then moved ("trained")."""
    gen = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(NUM_FEATURES, hidden), nn.Tanh(), nn.Linear(hidden, 2))
    with torch.no_grad():
        for layer in (net[0], net[2]):
            bound = 1 / layer.in_features**0.5
            layer.weight.uniform_(-bound, bound, generator=gen)
            layer.bias.zero_()
        net[2].weight.mul_(0.1)
        net[2].bias.copy_(torch.tensor([torch.logit(torch.tensor(init_gate)).item(), torch.atanh(torch.tensor(init_rho)).item()]))
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(11)) * 0.3)
    return net


def write_format_1(directory, net, aligner_config):
    """A format-1 folder, written byte by byte as that format was (not through save_aligner)."""
    from safetensors.torch import save

    state = {"net." + k: v.detach().contiguous() for k, v in net.state_dict().items()}
    weights = save(state)
    config = {
        "format": "sggft-aligner", "format_version": 1, "library_version": "0.1.0", "type": "learned",
        "aligner_config": aligner_config, "feature_spec": FEATURE_SPEC, "sources": ["subj", "trec"],
        "summary": {"outer_steps": 30},
        "weights": {"file": "model.safetensors", "sha256": hashlib.sha256(weights).hexdigest(), "bytes": len(weights)},
        "tensors": {k: {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape)} for k, v in state.items()},
    }
    directory.mkdir(parents=True)
    (directory / "model.safetensors").write_bytes(weights)
    (directory / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return directory


def test_format_1_aligner_loads_and_computes_as_before(world, tmp_path):
    bb, _, _, source = world
    net = old_aligner()
    folder = write_format_1(tmp_path / "old", net, {"hidden": 8, "init_gate": 0.5, "init_rho": 0.5, "seed": 3})
    loaded = load_aligner(folder)
    assert not loaded.closed and sorted(loaded.state_dict()) == ["net.0.bias", "net.0.weight", "net.2.bias", "net.2.weight"]
    lay = InnerLoop(bb, InnerSpec()).layout
    phi0 = InnerLoop(bb, InnerSpec()).flat_params()
    d = source.bind(InnerLoop(bb, InnerSpec()))(phi0).float()
    g = torch.randn(phi0.shape, generator=torch.Generator().manual_seed(2)).float()
    for t in (0, 2):
        out = net(group_features(lay, g, d, t, 5))  # format 1's gate and target: (sigmoid, tanh)
        gate, rho = loaded.gate_and_target(lay, g, d, t, 5)
        assert torch.equal(gate, torch.sigmoid(out[:, 0])) and torch.equal(rho, torch.tanh(out[:, 1]))
        assert 0 < gate.min() and gate.max() < 1
    # re-saved, it is written in the current format and still loads the same
    again = load_aligner(save_aligner(loaded, tmp_path / "resaved"))
    assert json.loads((tmp_path / "resaved" / "config.json").read_text())["format_version"] == transfer.FORMAT_VERSION == 2
    assert torch.equal(again.gate_and_target(lay, g, d, 1, 5)[0], loaded.gate_and_target(lay, g, d, 1, 5)[0])


def test_format_1_never_held_a_closed_aligner(tmp_path):
    folder = write_format_1(tmp_path / "odd", old_aligner(), {"hidden": 8, "init_gate": 0.0, "init_rho": 0.5, "seed": 3})
    with pytest.raises(CheckpointError, match="format version 1 holds only open learned aligners"):
        load_aligner(folder)


def test_closed_aligner_round_trip(tmp_path):
    from sggft_meta.align.aligners import opening

    a = closed()
    with torch.no_grad():
        a.opening.fill_(-0.03)  # either sign opens it: s = tanh(10 |o|)
    b = load_aligner(save_aligner(a, tmp_path / "al"))
    assert b.closed and torch.equal(b.opening, a.opening) and "opening" in b.state_dict()
    assert opening(b.opening).item() == pytest.approx(torch.tanh(torch.tensor(0.3, dtype=torch.float64)).item())
    # the opening's derivative at 0 is +OPEN_GAIN (not torch.abs's 0)
    o = torch.zeros((), dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(opening(o), o)
    assert grad.item() == 10.0
