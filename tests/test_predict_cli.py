"""`sggft-meta fit` and `sggft-meta predict`: outputs, and every input error as one line, exit 2,
no output file left behind."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sggft_meta.classifier import CONFIG_NAME, FewShotClassifier
from sggft_meta.cli import main
from sggft_meta.config import TrainConfig
from sggft_meta.fitting import fit

TEXTS = ["the film was good number 1", "the film was awful number 2", "lovely acting"]


def small_fit(model_dir, pair: bool = False):
    texts, labels = [], []
    for i in range(6):
        texts += [f"the film was good number {i}", f"the film was awful number {i}"]
        labels += ["positive", "negative"]
    if pair:
        texts = [(t, "was it good?") for t in texts]
    return fit(texts, labels=labels, model=str(model_dir), train=TrainConfig(max_steps=6, eval_every=3), progress=False)


@pytest.fixture(scope="module")
def model_dir(tiny_bert_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("predict") / "model"
    small_fit(tiny_bert_dir).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def pair_model_dir(tiny_bert_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("predict_pair") / "model"
    small_fit(tiny_bert_dir, pair=True).save_pretrained(out)
    return out


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def fails(argv, capsys, match: str, out: Path | None = None) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("sggft-meta: error: "), err
    assert match in err, err
    if out is not None:
        assert not out.exists()
        assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]  # no temp file either
    return err


# --------------------------------------------------------------------- predictions
def test_predict_jsonl_matches_the_library(model_dir, tmp_path, capsys):
    rows = [{"id": f"r{i}", "text": t} for i, t in enumerate(TEXTS)]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "pred.jsonl"
    assert main(["predict", str(model_dir), "--input", str(src), "--out", str(out), "--no-progress"]) == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    model = FewShotClassifier.from_pretrained(model_dir, device="cpu")
    proba = model.predict_proba(TEXTS)
    assert [g["id"] for g in got] == ["r0", "r1", "r2"]
    assert [g["label"] for g in got] == model.predict(TEXTS)
    np.testing.assert_allclose([[g["probabilities"][n] for n in model.labels] for g in got], proba, atol=1e-9)


def test_predict_csv_in_and_out_and_stdin(model_dir, tmp_path, capsys, monkeypatch):
    src = tmp_path / "in.csv"
    src.write_text('text,label\n"the film was good, number 1",x\nlovely acting,y\n', encoding="utf-8")
    out = tmp_path / "pred.csv"
    assert main(["predict", str(model_dir), "--input", str(src), "--out", str(out), "--no-progress"]) == 0
    table = list(csv.DictReader(out.read_text().splitlines()))
    assert list(table[0]) == ["label", "p_negative", "p_positive"] and len(table) == 2
    assert abs(float(table[0]["p_negative"]) + float(table[0]["p_positive"]) - 1) < 1e-9
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO('"lovely acting"\n{"text": "the film was awful"}\n'))
    assert main(["predict", str(model_dir), "--input", "-", "--out", "-", "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and set(json.loads(lines[0])["probabilities"]) == {"negative", "positive"}


def test_predict_pair_model(pair_model_dir, tmp_path, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "the film was good", "text_pair": "was it good?"}])
    out = tmp_path / "pred.jsonl"
    assert main(["predict", str(pair_model_dir), "--input", str(src), "--out", str(out), "--no-progress"]) == 0
    assert json.loads(out.read_text())["label"] in ("negative", "positive")


# --------------------------------------------------------------------- errors
def test_predict_errors(model_dir, pair_model_dir, tmp_path, capsys, tiny_bert_dir):
    good = write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in TEXTS])
    out = tmp_path / "pred.jsonl"
    base = ["--input", str(good), "--out", str(out), "--no-progress"]
    (tmp_path / "not_a_model").mkdir()
    fails(["predict", str(tmp_path / "not_a_model"), *base], capsys, "is not a saved classifier (no config.json)", out)
    fails(["predict", str(tmp_path / "nowhere"), *base], capsys, "is not a folder", out)
    # a model saved for other backbone weights
    other = tmp_path / "other_model"
    shutil.copytree(model_dir, other)
    config = json.loads((other / CONFIG_NAME).read_text())
    config["backbone"]["sha256"] = "0" * 64
    (other / CONFIG_NAME).write_text(json.dumps(config))
    fails(["predict", str(other), *base], capsys, "was saved for backbone", out)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    fails(["predict", str(model_dir), "--input", str(empty), "--out", str(out)], capsys, "no texts to classify", out)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": "broken\n', encoding="utf-8")
    fails(["predict", str(model_dir), "--input", str(bad), "--out", str(out)], capsys, f"{bad}:2: not valid JSON", out)
    no_text = write_jsonl(tmp_path / "no_text.jsonl", [{"text": "ok"}, {"sentence": "x"}])
    fails(["predict", str(model_dir), "--input", str(no_text), "--out", str(out)], capsys, f"{no_text}:2: the row has no non-empty 'text'", out)
    fails(["predict", str(pair_model_dir), *base], capsys, f"{good}:1: this model classifies text pairs, but the row has no non-empty 'text_pair'", out)
    fails(["predict", str(model_dir), "--input", str(tmp_path / "absent.jsonl"), "--out", str(out)], capsys, "does not exist", out)
    fails(["predict", str(model_dir), "--input", str(tmp_path / "in.txt"), "--out", str(out)], capsys, "give a .jsonl, .csv or .tsv file", out)
    fails(["predict", str(model_dir), "--input", str(good), "--out", str(tmp_path / "pred.parquet")], capsys, "--out", tmp_path / "pred.parquet")
    fails(["predict", str(model_dir), "--input", str(good), "--out", str(tmp_path)], capsys, "is a folder")
    out.write_text("earlier results\n")
    fails(["predict", str(model_dir), *base], capsys, "already exists; pass --overwrite")
    assert out.read_text() == "earlier results\n"
    assert main(["predict", str(model_dir), *base, "--overwrite"]) == 0
    assert len(out.read_text().splitlines()) == len(TEXTS)


# --------------------------------------------------------------------- fit
def test_fit_cli_saves_a_model_and_guards_the_folder(polarity_folder, tiny_bert_dir, tmp_path, capsys):
    save = tmp_path / "models" / "polarity"
    argv = ["fit", "--task", str(polarity_folder), "--save", str(save), "--model", str(tiny_bert_dir), "--no-progress",
            "train.max_steps=4", "train.eval_every=2", "dev.fraction=0.5"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "early stopping on a dev split of 40 held out" in out and f"saved: {save}" in out
    loaded = FewShotClassifier.from_pretrained(save, device="cpu")
    assert loaded.labels == ("negative", "positive") and loaded.settings["dev"]["fraction"] == 0.5
    capsys.readouterr()
    fails(argv, capsys, "already exists; pass overwrite=True (--overwrite)")
    assert main([*argv, "--overwrite", "--method", "sggft", "--mode", "surgery"]) == 0
    assert FewShotClassifier.from_pretrained(save, device="cpu").settings["method"] == "sggft"
    capsys.readouterr()
    (tmp_path / "file").write_text("x")
    fails(["fit", "--task", str(polarity_folder), "--save", str(tmp_path / "file" / "m")], capsys, "is a file, not a folder")
    fails(["fit", "--save", str(tmp_path / "m2"), "--model", str(tiny_bert_dir)], capsys, "fit needs --task")
    fails(["fit", "--task", str(polarity_folder), "--save", str(tmp_path / "m3"), "dev.fraction=2"], capsys, "dev.fraction")
    assert not (tmp_path / "m3").exists()
