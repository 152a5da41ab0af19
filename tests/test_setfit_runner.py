"""SetFit baseline runner: runs the real `setfit` package on a tiny body and a tiny task folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sggft_bench.setfit_runner import run_setfit
from sggft_meta.errors import ConfigError, SggftError

from conftest import polarity_rows, write_jsonl


@pytest.fixture(scope="module")
def tiny_st_body(tiny_bert_dir, tmp_path_factory) -> Path:
    """The conftest's 2-layer, 16-wide BERT (MiniLM tokenizer) wrapped as a sentence-transformers model."""
    pytest.importorskip("setfit")
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Pooling, Transformer

    out = tmp_path_factory.mktemp("tiny_st")
    word = Transformer(str(tiny_bert_dir), max_seq_length=32)
    SentenceTransformer(modules=[word, Pooling(16, "mean")], device="cpu").save(str(out))
    return out


@pytest.fixture
def tiny_task(tmp_path) -> Path:
    """Train 12 per class, test 6 per class."""
    folder = tmp_path / "tiny_polarity"
    write_jsonl(folder / "train.jsonl", polarity_rows(12))
    write_jsonl(folder / "test.jsonl", polarity_rows(6, offset=100))
    (folder / "meta.json").write_text(json.dumps({"label_names": ["negative", "positive"], "domain": "sentiment"}))
    return folder


def test_runs_per_seed_and_is_reproducible(tiny_st_body, tiny_task):
    result = run_setfit(str(tiny_task), 4, [13, 21], None, body=str(tiny_st_body), show_progress_bar=False)
    assert [r["seed"] for r in result["seeds"]] == [13, 21]
    for r in result["seeds"]:
        assert 0.0 <= r["test_metric"] <= 1.0
        assert r["n_train"] == 8 and r["n_test"] == 12
        assert r["seconds"] > 0 and r["embedding_steps"] >= 1
    assert result["metric"] == "accuracy" and result["uses_dev_split"] is False
    assert result["settings"]["seed"] == 21 and result["settings"]["sampling_strategy"] == "oversampling"
    assert result["settings"]["num_iterations"] is None  # SetFit's default, not overridden
    assert {"setfit", "sentence_transformers", "transformers", "torch"} <= set(result["versions"])
    assert 0.0 <= result["summary"]["mean"] <= 1.0 and result["summary"]["n_seeds"] == 2
    json.dumps(result)  # JSON-safe

    again = run_setfit(str(tiny_task), 4, [13], None, body=str(tiny_st_body), show_progress_bar=False)
    first, second = result["seeds"][0], again["seeds"][0]
    assert second["test_metric"] == first["test_metric"]
    assert second["embedding_train_loss"] == pytest.approx(first["embedding_train_loss"], rel=1e-6, abs=1e-9)


def test_pair_task_joins_with_separator(tiny_st_body, tmp_path):
    folder = tmp_path / "tiny_pairs"
    rows = lambda n, off: [{"text": r["text"], "text_pair": "it was " + r["text"].split()[3], "label": r["label"]} for r in polarity_rows(n, off)]
    write_jsonl(folder / "train.jsonl", rows(6, 0))
    write_jsonl(folder / "test.jsonl", rows(3, 50))
    (folder / "meta.json").write_text(json.dumps({"label_names": ["no", "yes"], "pair": True, "domain": "nli"}))
    result = run_setfit(str(folder), 2, [42], None, body=str(tiny_st_body), num_iterations=1, show_progress_bar=False)
    assert result["pair_separator"] == "[SEP]"
    assert result["overrides"]["num_iterations"] == 1 and result["settings"]["num_iterations"] == 1
    assert 0.0 <= result["seeds"][0]["test_metric"] <= 1.0


def test_unknown_and_fixed_overrides_are_errors(tiny_task):
    pytest.importorskip("setfit")
    with pytest.raises(ConfigError, match="num_iterations"):
        run_setfit(str(tiny_task), 4, [13], None, num_iteration=5)
    with pytest.raises(ConfigError, match="data seed"):
        run_setfit(str(tiny_task), 4, [13], None, seed=1)


def test_missing_setfit_gives_install_hint(monkeypatch, tiny_task):
    monkeypatch.setitem(sys.modules, "setfit", None)  # `import setfit` now raises ImportError
    with pytest.raises(SggftError, match=r"pip install 'setfit"):
        run_setfit(str(tiny_task), 4, [13], None)


def test_command_line_writes_json(tiny_st_body, tiny_task, tmp_path, capsys):
    from sggft_bench.setfit_runner import main

    out = tmp_path / "setfit.json"
    assert main(["--task", str(tiny_task), "--shots", "2", "--seeds", "13", "--body", str(tiny_st_body),
                 "--out", str(out), "show_progress_bar=false", "num_iterations=1"]) == 0
    payload = json.loads(out.read_text())
    assert "setfit_runner" in payload["command"] and "machine" in payload and "commit" in payload
    assert payload["overrides"] == {"show_progress_bar": False, "num_iterations": 1}
    assert len(payload["seeds"]) == 1
    assert main(["--task", str(tiny_task), "--shots", "2", "bogus=1"]) == 2  # a bad override: one line, status 2
    with pytest.raises(SystemExit) as exit_info:  # a malformed seed list: the flag named, status 2, no traceback
        main(["--task", str(tiny_task), "--shots", "2", "--seeds", "13,x"])
    assert exit_info.value.code == 2 and "--seeds takes comma-separated integers like 13,21,42" in capsys.readouterr().err


def test_bench_command_runs_the_setfit_baseline(tiny_st_body, tiny_task, tmp_path, capsys):
    from sggft_bench.cli import main

    out = tmp_path / "setfit.json"
    assert main(["setfit", "--task", str(tiny_task), "--shots", "2", "--seeds", "13", "--body", str(tiny_st_body),
                 "--out", str(out), "show_progress_bar=false", "num_iterations=1"]) == 0
    payload = json.loads(out.read_text())
    assert f"sggft-bench setfit --task {tiny_task} --shots 2 --seeds 13" in payload["command"]
    assert payload["overrides"] == {"show_progress_bar": False, "num_iterations": 1} and len(payload["seeds"]) == 1
    capsys.readouterr()
    assert main(["setfit", "--task", str(tiny_task), "num_iterations"]) == 2  # not key=value: one line, status 2
    err = capsys.readouterr().err.strip()
    assert err == "sggft-bench: error: override 'num_iterations' is not key=value; write it like num_iterations=20"
