"""PCGrad and GradVac against their published update rules on hand-made gradients, and in the
inner loop (source + target training during adaptation)."""

from __future__ import annotations

import math

import pytest
import torch

from sggft_meta.flat import FlatLayout
from sggft_meta.model.backbone import ParamGroup
from sggft_meta.multitask import gradvac, pcgrad

t = lambda *x: torch.tensor(x, dtype=torch.float64)  # noqa: E731


def test_pcgrad_projects_conflicting_gradients_onto_the_normal_plane():
    g1, g2 = t(1.0, 0.0), t(-1.0, 1.0)  # g1.g2 = -1 < 0
    # g1' = g1 - (g1.g2 / |g2|^2) g2 = (0.5, 0.5); g2' = g2 - (g2.g1 / |g1|^2) g1 = (0, 1)
    torch.testing.assert_close(pcgrad([g1, g2]), t(0.5, 1.5))
    # each projected gradient is orthogonal to the other original
    assert (t(0.5, 0.5) @ g2).item() == pytest.approx(0.0) and (t(0.0, 1.0) @ g1).item() == pytest.approx(0.0)


def test_pcgrad_leaves_agreeing_gradients_alone():
    g1, g2 = t(1.0, 0.0), t(1.0, 1.0)
    torch.testing.assert_close(pcgrad([g1, g2]), g1 + g2)


def test_pcgrad_three_tasks_follows_the_sequential_rule():
    g = [t(1.0, 0.0, 0.0), t(-1.0, 1.0, 0.0), t(0.0, -1.0, 1.0)]
    expected = torch.zeros(3, dtype=torch.float64)
    for i in range(3):  # Algorithm 1, in the given order, against the other tasks' original gradients
        p = g[i].clone()
        for j in range(3):
            if j != i and p @ g[j] < 0:
                p = p - (p @ g[j]) / (g[j] @ g[j]) * g[j]
        expected += p
    torch.testing.assert_close(pcgrad(g), expected)


@pytest.fixture
def two_groups():
    groups = [ParamGroup("a", ("a",), 0.5, "lora_query"), ParamGroup("head", ("head.weight",), 1.0, "head")]
    return FlatLayout.from_groups({"a": (2,), "head.weight": (2,)}, groups, torch.float64)


def test_gradvac_raises_the_cosine_to_its_target(two_groups):
    lay = two_groups
    g_t = t(1.0, 0.0, 0.3, -0.2)  # group a: (1, 0); head: (0.3, -0.2)
    g_s = t(0.0, 1.0, 0.0, 0.0)  # the source has no head gradient
    targets = torch.zeros(2, 2, 2, dtype=torch.float64)
    targets[0, 1, 0] = 0.5  # target -> source, group a: phi = 0.5 > cos = 0
    out, new = gradvac(lay, [g_t, g_s], targets, beta=0.1)
    adjusted = t(1.0, 0.5 / math.sqrt(0.75))  # g + |g| (phi sqrt(1-c^2) - c sqrt(1-phi^2)) / (|g_s| sqrt(1-phi^2)) g_s
    cos = adjusted @ t(0.0, 1.0) / adjusted.norm()
    assert cos.item() == pytest.approx(0.5)
    # source -> target: phi = 0 = cos, nothing to do; the head (source gradient zero) is left alone
    torch.testing.assert_close(out, torch.cat([adjusted + t(0.0, 1.0), t(0.3, -0.2)]))
    # targets follow the observed cosines: (1 - beta) phi + beta cos, only where both gradients live
    assert new[0, 1, 0].item() == pytest.approx(0.9 * 0.5 + 0.1 * 0.0)
    assert new[0, 1, 1].item() == 0.0 and new[1, 0, 1].item() == 0.0


def test_gradvac_no_change_above_target(two_groups):
    g_t, g_s = t(1.0, 1.0, 0.0, 0.0), t(1.0, 0.9, 0.0, 0.0)  # cos ~ 0.999 > phi = 0
    out, _ = gradvac(two_groups, [g_t, g_s], torch.zeros(2, 2, 2, dtype=torch.float64), beta=0.5)
    torch.testing.assert_close(out, g_t + g_s)


@pytest.mark.parametrize("rule", ["sum", "pcgrad", "gradvac"])
def test_multitask_adaptation_runs_and_differs_from_plain(capsys, tmp_path, tiny_bert_dir, polarity_folder, rule):
    import json

    from test_cli import run_cli

    common = ["--model", tiny_bert_dir, "--shots", 4, "--seeds", "13", "--no-progress", "train.max_steps=4",
              "train.eval_every=100", "model.lora.targets=[query,value]", "data.max_length=32", "sggft.refresh_every=1"]
    outs = {}
    for name, extra in (("plain", []), ("mt", [f"train.multitask={rule}", "source_task=demo_entailment"])):
        out = tmp_path / f"{name}.json"
        code, _, err = run_cli(capsys, "finetune", "--task", polarity_folder, "--out", out, *common, *extra)
        assert code == 0, err
        outs[name] = json.loads(out.read_text())["results"][0]["seeds"][0]
    assert outs["mt"]["per_step"]["update_norm"] != outs["plain"]["per_step"]["update_norm"]
    assert outs["mt"]["trace"]["cos_source"] is not None


def test_multitask_needs_a_source(capsys, polarity_folder):
    from test_cli import assert_clean_error, run_cli

    code, _, err = run_cli(capsys, "finetune", "--task", polarity_folder, "train.multitask=pcgrad", "--no-progress")
    assert_clean_error(code, err, "train.multitask='pcgrad'", "source_task")
