"""The SGGFT inner loop, pinned to references in float64 on a tiny BERT built in code.

- every mode with all weights at zero is plain SGD / AdamW (checked against torch.optim);
- `exact` (double backprop) and `hvp` (finite differences) agree;
- a non-finite step is skipped, counted, and touches nothing;
- the backbone's weights are bitwise unchanged by an episode.
"""

from __future__ import annotations

import pytest
import torch

from sggft_meta import folder_task, optim
from sggft_meta.config import LoraSettings, ModelConfig
from sggft_meta.inner_loop import InnerLoop, InnerSpec
from sggft_meta.model.loading import load_backbone

ALL_ZERO = {"direction": 0.0, "magnitude": 0.0, "align": 0.0}


@pytest.fixture(scope="module")
def setup(tiny_bert_dir, tmp_path_factory):
    from conftest import polarity_rows, write_jsonl

    folder = tmp_path_factory.mktemp("polarity64")
    write_jsonl(folder / "train.jsonl", polarity_rows(20))
    write_jsonl(folder / "test.jsonl", polarity_rows(5, offset=100))
    task = folder_task(folder)
    cfg = ModelConfig(name=str(tiny_bert_dir), dtype="float64", lora=LoraSettings(targets=["query", "value"]))
    bb = load_backbone(cfg, max_length=32)
    bb.set_head(task, init="random", generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # LoRA B starts at zero; move it so every factor has a gradient
        for n, p in bb.adaptable_parameters().items():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1), dtype=p.dtype) * 0.1)
    pool = bb.pool(task, "train", task.load_split("train"))
    batches = [pool.batch(list(range(4 * i, 4 * i + 8))) for i in range(4)]
    return bb, batches


def reference_torch_optim(bb, batches, kind, lr, head_lr, weight_decay, momentum=0.0):
    """The adapted flat parameters from torch.optim on the module, restored afterwards."""
    init = bb.snapshot()
    params = bb.adaptable_parameters()
    groups = [{"params": [p for n, p in params.items() if n.startswith("head.")], "lr": head_lr},
              {"params": [p for n, p in params.items() if not n.startswith("head.")], "lr": lr}]
    opt = (torch.optim.SGD(groups, lr=lr, weight_decay=weight_decay, momentum=momentum) if kind == "sgd"
           else torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay))
    was = bb.training
    bb.eval()
    for b in batches:
        opt.zero_grad()
        bb.loss(bb(**b.inputs), b.labels).backward()
        opt.step()
    bb.train(was)
    out = InnerLoop(bb, InnerSpec()).flat_params()
    bb.restore(init)
    return out


class Counting(InnerLoop):
    """An inner loop that counts its gradient evaluations (hvp mode takes a second one per step)."""

    def gradient(self, phi, batch, create_graph=False, head=None):
        self.calls = getattr(self, "calls", 0) + 1
        return super().gradient(phi, batch, create_graph, head)


@pytest.mark.parametrize("mode", ["exact", "hvp", "surgery"])
@pytest.mark.parametrize("kind,momentum", [("sgd", 0.0), ("sgd", 0.9), ("adamw", 0.0)])
@pytest.mark.parametrize("in_place", [True, False])
def test_zero_weights_equal_plain_optimizer(setup, mode, kind, momentum, in_place):
    bb, batches = setup
    spec = InnerSpec(lambdas=ALL_ZERO, mode=mode, lr=0.05, head_lr=0.1,
                     optimizer=optim.OptimSpec(kind=kind, weight_decay=0.01, momentum=momentum))
    assert spec.plain  # a zero weight switches its term off
    loop = Counting(bb, spec)
    loop.in_place = in_place
    phi0 = loop.flat_params()
    got = loop.run(phi0, batches).phi
    want = reference_torch_optim(bb, batches, kind, 0.05, 0.1, 0.01, momentum)
    assert (want - phi0).abs().max() > 1e-3  # the steps really moved the parameters
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    assert loop.calls == len(batches)  # one gradient a step: no H v is formed for a zero weight


@pytest.mark.parametrize("lambdas,per_step", [({"align": 1.0}, 1), ({"direction": 0.05, "magnitude": 0.0}, 2)])
def test_hvp_mode_forms_h_v_only_for_a_term_that_acts(setup, lambdas, per_step):
    """Alignment without a source direction has no reference: the step is plain, with one
    gradient; a weighted direction term costs the second gradient of the finite difference."""
    bb, batches = setup
    spec = InnerSpec(lambdas=lambdas, mode="hvp", lr=0.05, head_lr=0.1, optimizer=optim.OptimSpec(kind="sgd"))
    loop = Counting(bb, spec)
    phi0 = loop.flat_params()
    got = loop.run(phi0, batches).phi
    assert loop.calls == per_step * len(batches)
    plain = InnerLoop(bb, InnerSpec(lr=0.05, head_lr=0.1, optimizer=optim.OptimSpec(kind="sgd"))).run(phi0, batches).phi
    assert torch.equal(got, plain) == (per_step == 1)


def regularized(mode, hvp_rule="forward"):
    return InnerSpec(lambdas={"direction": 0.05, "magnitude": 0.5}, mode=mode, hvp_rule=hvp_rule, kappa=1.05,
                     beta_mag=0.5, lr=0.05, head_lr=0.1, optimizer=optim.OptimSpec(kind="sgd"))


@pytest.mark.parametrize("rule", ["forward", "central"])
def test_exact_and_hvp_agree(setup, rule):
    bb, batches = setup
    loop_e, loop_h = InnerLoop(bb, regularized("exact")), InnerLoop(bb, regularized("hvp", rule))
    phi0 = loop_e.flat_params()
    plain = InnerLoop(bb, InnerSpec(lr=0.05, head_lr=0.1, optimizer=optim.OptimSpec(kind="sgd"))).run(phi0, batches).phi
    exact = loop_e.run(phi0, batches)
    hvp = loop_h.run(phi0, batches)
    moved = exact.phi - phi0
    # the regularizers changed the path (else agreement would say nothing) ...
    assert (exact.phi - plain).norm() > 1e-4 * moved.norm()
    # ... and both modes computed the same change
    assert ((hvp.phi - exact.phi).norm() / moved.norm()).item() < 1e-6


def test_surgery_changes_the_update_and_caps_norms(setup):
    bb, batches = setup
    spec = InnerSpec(lambdas={"magnitude": 1.0}, mode="surgery", kappa=0.5, lr=0.05, head_lr=0.1,
                     optimizer=optim.OptimSpec(kind="sgd"))
    res = InnerLoop(bb, spec).run(InnerLoop(bb, spec).flat_params(), batches)
    steps = res.trace.steps
    # kappa = 0.5: every update norm is held at or under half of the gradient-norm EMA
    assert (steps["update_norm"] < steps["grad_norm"] + 1e-12).all()
    assert steps["update_norm"][0] == pytest.approx(0.5 * steps["grad_norm"][0], rel=1e-9)


class PlantedNaN(InnerLoop):
    """An inner loop whose task gradient is NaN at the step numbers in `bad`."""

    def __init__(self, *a, bad=(1,), **kw):
        super().__init__(*a, **kw)
        self.bad, self.calls = set(bad), 0

    def step(self, state, batch, t, T, **kw):
        self._t = t
        return super().step(state, batch, t, T, **kw)

    def gradient(self, phi, batch, create_graph=False, head=None):
        loss, g = super().gradient(phi, batch, create_graph, head)
        if self._t in self.bad:
            g = g * float("nan")
        return loss, g


@pytest.mark.parametrize("mode", ["exact", "hvp", "surgery"])
def test_planted_nan_is_skipped_and_counted(setup, mode):
    bb, batches = setup
    spec = InnerSpec(lambdas={"direction": 0.1, "magnitude": 0.1}, mode=mode, lr=0.05, head_lr=0.1,
                     optimizer=optim.OptimSpec(kind="adamw"))
    loop = PlantedNaN(bb, spec, bad=(1,))
    state = loop.init_state(loop.flat_params())
    after0, _, _ = loop.step(state, batches[0], 0, 3)
    after0 = {k: v.detach() for k, v in after0.items()}
    after1, record, _ = loop.step(after0, batches[1], 1, 3)
    for k in after0:  # parameters, moments, step count, references: all as before the bad step
        assert torch.equal(after1[k].detach(), after0[k]), k
    assert record[6].item() == 1.0
    res = loop.run(loop.flat_params(), batches[:3])
    assert res.trace.summary()["skipped_steps"] == 1
    assert torch.isfinite(res.phi).all()


def test_episode_leaves_backbone_bitwise_unchanged(setup):
    bb, batches = setup
    before = {n: p.detach().clone() for n, p in bb.state_dict().items()}
    loop = InnerLoop(bb, regularized("exact"))
    res = loop.run(loop.flat_params(), batches)
    assert (res.phi - loop.flat_params()).abs().max() > 1e-4
    after = bb.state_dict()
    assert all(torch.equal(before[n], after[n]) for n in before)


def test_trace_records_every_step(setup):
    bb, batches = setup
    loop = InnerLoop(bb, regularized("hvp"))
    res = loop.run(loop.flat_params(), batches)
    s = res.trace.summary()
    assert s["steps"] == len(batches) and s["skipped_steps"] == 0
    assert s["grad_norm_cv"] > 0 and -1 <= s["cos_consecutive"] <= 1
    assert s["path_length"] >= s["displacement"] > 0
    assert s["seconds_per_step"] > 0


def test_spec_rejects_bad_values():
    with pytest.raises(ValueError, match="mode"):
        InnerSpec(mode="second-order")
    with pytest.raises(ValueError, match=">= 0"):
        InnerSpec(lambdas={"direction": -1.0})
    with pytest.raises(Exception, match="unknown regularizer 'directoin'.*direction"):
        InnerSpec(lambdas={"directoin": 1.0})
