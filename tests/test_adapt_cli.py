"""`sggft-meta adapt`: the SGGFT inner loop end to end on a tiny model, and its bad input."""

from __future__ import annotations

import json

import pytest
import torch

from test_cli import assert_clean_error, run_cli

TINY = ["train.eval_every=2", "model.lora.targets=[query,value]", "data.max_length=32", "--no-progress"]


@pytest.mark.parametrize("mode", ["exact", "hvp", "surgery"])
def test_adapt_end_to_end(capsys, tmp_path, tiny_bert_dir, polarity_folder, mode):
    out_file = tmp_path / f"{mode}.json"
    code, out, err = run_cli(capsys, "adapt", "--task", polarity_folder, "--model", tiny_bert_dir, "--shots", 4,
                             "--seeds", "13,42", "--mode", mode, "--steps", 4, "--out", out_file, *TINY)
    assert code == 0, err
    assert "| polarity | 4 | sggft |" in out
    result = json.loads(out_file.read_text())["results"][0]
    assert result["method"] == "sggft"
    for seed in result["seeds"]:
        assert seed["trace"]["steps"] == seed["steps"] <= 4
        assert len(seed["per_step"]["grad_norm"]) == seed["steps"]
        assert seed["trace"]["seconds_per_step"] > 0


def test_episodes_start_from_the_same_adapter(tiny_bert_dir, polarity_folder, monkeypatch):
    """Every seed's inner loop starts from exactly the initial adapter (the head is per task)."""
    from sggft_meta.config import load_config
    from sggft_meta.inner_loop import InnerLoop
    from sggft_meta.run import run_method

    starts = []
    original = InnerLoop.run

    def spy(self, phi0, batches, **kw):
        body = [n for n in self.layout.names if not n.startswith("head.")]
        named = self.layout.to_dict(phi0)
        starts.append({n: named[n].clone() for n in body})
        return original(self, phi0, batches, **kw)

    monkeypatch.setattr(InnerLoop, "run", spy)
    cfg = load_config(None, [f"task={polarity_folder}", f"model.name={tiny_bert_dir}", "method=sggft", "shots=4",
                             "seeds=[13,21,42]", "train.max_steps=3", "progress=false", "model.lora.targets=[query,value]",
                             "data.max_length=32"])
    run_method(cfg)
    assert len(starts) == 3
    for later in starts[1:]:
        assert all(torch.equal(later[n], starts[0][n]) for n in starts[0])


def test_bad_mode_negative_weight_and_zero_steps(capsys, polarity_folder):
    code, _, err = run_cli(capsys, "adapt", "--task", polarity_folder, "--mode", "second_order", "--no-progress")
    assert_clean_error(code, err, "sggft.mode", "'exact', 'hvp' or 'surgery'", "second_order")
    code, _, err = run_cli(capsys, "adapt", "--task", polarity_folder, "sggft.lambda_dir=-0.5", "--no-progress")
    assert_clean_error(code, err, "sggft.lambda_dir", "greater than or equal to 0", "-0.5")
    code, _, err = run_cli(capsys, "adapt", "--task", polarity_folder, "--steps", 0, "--no-progress")
    assert_clean_error(code, err, "train.max_steps", "greater than or equal to 1")
    code, _, err = run_cli(capsys, "adapt", "--task", polarity_folder, "--method", "maml", "--no-progress")
    assert_clean_error(code, err, "method", "'finetune' or 'sggft'")
