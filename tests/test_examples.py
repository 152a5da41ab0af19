"""Every example runs (on the tiny model built in the tests, with few steps)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_is_covered():
    assert {p.stem for p in EXAMPLES.glob("*.py")} == {"finetune_demo", "custom_task", "episodes", "sggft_transfer", "fit_predict"}


def test_episodes(capsys):
    load("episodes").main([])
    out = capsys.readouterr().out
    assert out.count("dev disjoint: True") == 5 and "episode 2:" in out


@pytest.mark.parametrize("name,expected", [("finetune_demo", ["finetune seed  42: test accuracy", "sggft    demo_news_topics K=8: "]),
                                           ("fit_predict", ["fit: early stopping on a dev split", "largest probability difference 0.0e+00"]),
                                           ("custom_task", ["folder task 'weather'", "weather_example: accuracy", "weather: accuracy"])])
def test_training_examples(capsys, tiny_bert_dir, name, expected):
    load(name).main(["--model", str(tiny_bert_dir), "--steps", "4"])
    out = capsys.readouterr().out
    for fragment in expected:
        assert fragment in out, out


def test_sggft_transfer(capsys, tiny_bert_dir, tmp_path):
    load("sggft_transfer").main(["--model", str(tiny_bert_dir), "--outer-steps", "2", "--steps", "4", "--out", str(tmp_path / "al")])
    out = capsys.readouterr().out
    assert "bitwise equal True" in out and (tmp_path / "al" / "model.safetensors").is_file()
    for name in ("fine-tuning", "SGGFT, no aligner", "SGGFT + learned aligner"):
        assert f"{name}" in out and "demo_product_reviews K=8: accuracy" in out
    assert "target domain unseen in meta-training" in out
