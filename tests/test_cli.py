"""The command line: listing, an end-to-end finetune on a tiny local model, and bad input.

Every bad input must give one clear line on stderr, exit status 2, and no traceback.
"""

from __future__ import annotations

import json

import pytest

from conftest import polarity_rows, shared_data_dir, write_jsonl
from sggft_meta.cli import main


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_error(code, err, *fragments):
    assert code == 2, err
    assert "Traceback" not in err
    line = [l for l in err.splitlines() if l.startswith("sggft-meta: error:")]
    assert len(line) == 1, err
    for fragment in fragments:
        assert fragment in line[0], line[0]


def test_tasks_list_shows_registry_and_sources(capsys, tmp_path):
    root = tmp_path / "data"
    write_jsonl(root / "sst2" / "train.jsonl", polarity_rows(3))
    write_jsonl(root / "sst2" / "test.jsonl", polarity_rows(1, offset=9))
    code, out, _ = run_cli(capsys, "tasks", "list", "--data-dir", root)
    assert code == 0
    sst2 = next(l for l in out.splitlines() if l.startswith("| sst2 "))
    assert "sentiment" in sst2 and "train 6/test 2" in sst2 and str(root / "sst2") in sst2
    assert f"missing: {root / 'rte'}" in out
    assert "demo_product_reviews" in out and "sggft_meta/demo_corpus" in out


@pytest.mark.skipif(shared_data_dir() is None, reason="../shared/data not present")
def test_tasks_list_covers_the_manifest(capsys):
    data = shared_data_dir()
    code, out, _ = run_cli(capsys, "tasks", "list", "--data-dir", data)
    assert code == 0
    for folder in data.iterdir():
        if (folder / "meta.json").is_file():
            line = next(l for l in out.splitlines() if l.startswith(f"| {folder.name} "))
            meta = json.loads((folder / "meta.json").read_text())
            assert f"train {meta['rows']['train']}" in line and str(folder) in line


def test_finetune_end_to_end_on_tiny_model(capsys, tmp_path, tiny_bert_dir, polarity_folder):
    out_file = tmp_path / "res" / "run.json"
    code, out, err = run_cli(capsys, "finetune", "--task", polarity_folder, "--model", tiny_bert_dir, "--shots", 4,
                             "--seeds", "13,42", "--out", out_file, "--no-progress",
                             "train.max_steps=6", "train.eval_every=2", "model.lora.targets=[query,value]", "data.max_length=32")
    assert code == 0, err
    assert "| polarity | 4 |" in out
    payload = json.loads(out_file.read_text())
    result = payload["results"][0]
    assert [s["seed"] for s in result["seeds"]] == [13, 42]
    assert all(0.0 <= s["test_metric"] <= 1.0 and s["steps"] <= 6 for s in result["seeds"])
    assert result["summary"]["n_seeds"] == 2 and payload["config"]["shots"] == 4
    assert payload["machine"]["cores"] >= 1


def test_unknown_task_suggests_closest(capsys):
    code, _, err = run_cli(capsys, "finetune", "--task", "sst-2", "--no-progress")
    assert_clean_error(code, err, "unknown task 'sst-2'", "Did you mean 'sst2'")


def test_k_larger_than_smallest_class(capsys, polarity_folder):
    code, _, err = run_cli(capsys, "finetune", "--task", polarity_folder, "--shots", 30, "--no-progress")
    assert_clean_error(code, err, "K=30 is too large", "has 40 training examples", "use --shots 20 or less")


def test_unknown_config_field_and_wrong_type(capsys, polarity_folder, tmp_path):
    code, _, err = run_cli(capsys, "finetune", "--task", polarity_folder, "train.learning_rate=1")
    assert_clean_error(code, err, "train.learning_rate", "unknown field")
    code, _, err = run_cli(capsys, "finetune", "--task", polarity_folder, "train.lr=fast")
    assert_clean_error(code, err, "train.lr", "valid number")
    cfg = tmp_path / "run.yaml"
    cfg.write_text("model:\n  adapt: everything\n")
    code, _, err = run_cli(capsys, "finetune", "--task", polarity_folder, "--config", cfg)
    assert_clean_error(code, err, "model.adapt", "'head', 'lora' or 'full'")


def test_missing_data_folder_names_option_and_variable(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("SGGFT_DATA_DIR", raising=False)
    code, _, err = run_cli(capsys, "finetune", "--task", "sst2", "--data-dir", tmp_path / "nope", "--no-progress")
    assert_clean_error(code, err, "does not exist", "--data-dir", "SGGFT_DATA_DIR")
    code, _, err = run_cli(capsys, "finetune", "--task", "sst2", "--no-progress")  # offline, nothing set
    assert_clean_error(code, err, "HF_HUB_OFFLINE", "SGGFT_DATA_DIR")


def test_malformed_folder_and_foreign_label(capsys, polarity_folder):
    write_jsonl(polarity_folder / "test.jsonl", polarity_rows(3) + [{"text": "meh", "label": "neutral"}])
    code, _, err = run_cli(capsys, "finetune", "--task", polarity_folder, "--shots", 2, "--no-progress")
    assert_clean_error(code, err, "test.jsonl:7", "'neutral' is not one of the task's labels")
    (polarity_folder / "train.jsonl").write_text("not json\n")
    code, _, err = run_cli(capsys, "finetune", "--task", polarity_folder, "--no-progress")
    assert_clean_error(code, err, "train.jsonl:1", "not valid JSON")


def test_finetune_needs_a_task(capsys):
    code, _, err = run_cli(capsys, "finetune", "--no-progress")
    assert_clean_error(code, err, "--task")


@pytest.mark.parametrize("seeds", ["13,x", ",", ""])
def test_bad_seeds_flag_is_an_argparse_error(capsys, seeds):
    # a seed that is not an integer, or no seed at all (which would run nothing), is refused by name
    with pytest.raises(SystemExit) as exc:
        main(["finetune", "--task", "sst2", "--seeds", seeds])
    assert exc.value.code == 2
    assert f"--seeds takes comma-separated integers like 13,21,42, got {seeds!r}" in capsys.readouterr().err
