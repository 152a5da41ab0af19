"""`sggft-meta quickstart` end to end on the tiny test model: fit, save, load into a fresh object,
predict, then the SGGFT against fine-tuning table; quiet with --no-progress; --out complete."""

from __future__ import annotations

import json

from sggft_meta.classifier import FewShotClassifier
from sggft_meta.cli import main
from sggft_meta.quickstart import SENTENCES, TABLE_TASKS


def test_quickstart_fits_saves_loads_predicts_and_compares(capsys, tiny_bert_dir, tmp_path):
    save, out = tmp_path / "model", tmp_path / "quick.json"
    code = main(["quickstart", "--model", str(tiny_bert_dir), "--steps", "3", "--seeds", "13", "--no-progress",
                 "--save", str(save), "--out", str(out)])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "loaded back: largest probability difference 0.0e+00" in stdout
    assert all(text in stdout for text in SENTENCES)
    for task in TABLE_TASKS:
        assert f"| {task} | 8 | finetune |" in stdout and f"| {task} | 8 | sggft |" in stdout
    assert "Loading weights" not in stderr and "%|" not in stderr  # --no-progress: no bars at all
    model = FewShotClassifier.from_pretrained(save)  # --save keeps the fitted model
    assert len(model.predict(SENTENCES)) == len(SENTENCES)
    record = json.loads(out.read_text())
    assert record["complete"] is True and len(record["results"]) == 2 * len(TABLE_TASKS)
    assert not (tmp_path / "quick.json.partial").exists()


def test_quickstart_refuses_an_existing_save_folder_before_any_work(capsys, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    code = main(["quickstart", "--save", str(tmp_path / "taken"), "--model", "no/such-model"])
    _, err = capsys.readouterr()
    assert code == 2 and "already exists" in err and err.count("\n") == 1
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
