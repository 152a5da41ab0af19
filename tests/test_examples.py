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
    assert {p.stem for p in EXAMPLES.glob("*.py")} == {"finetune_demo", "custom_task", "episodes"}


def test_episodes(capsys):
    load("episodes").main([])
    out = capsys.readouterr().out
    assert out.count("dev disjoint: True") == 5 and "episode 2:" in out


@pytest.mark.parametrize("name,expected", [("finetune_demo", ["seed  42: test accuracy", "demo_news_topics K=8: "]),
                                           ("custom_task", ["folder task 'weather'", "weather_example: accuracy", "weather: accuracy"])])
def test_training_examples(capsys, tiny_bert_dir, name, expected):
    load(name).main(["--model", str(tiny_bert_dir), "--steps", "4"])
    out = capsys.readouterr().out
    for fragment in expected:
        assert fragment in out, out
