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
    assert payload["complete"] is True and not (tmp_path / "res" / "run.json.partial").exists()
    assert payload["data_source"] == {"dir": str(polarity_folder.resolve()), "from": "folder"}


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


# ------------------------------------------------------------------ --out, checked before any work
def _read_only_under(monkeypatch, folder):
    """Files can no longer be created under `folder`, as on a read-only file system (permission
    bits do not stop a privileged user, so the refusal is simulated where files are created)."""
    import errno
    import os

    real_open = os.open

    def refusing_open(path, flags, *args, **kwargs):
        if str(path).startswith(str(folder)) and flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)


@pytest.mark.parametrize("command", ["finetune", "adapt", "evaluate"])
@pytest.mark.parametrize("where", ["folder", "under a file", "read-only"])
def test_run_out_is_checked_before_any_work(capsys, tmp_path, monkeypatch, polarity_folder, command, where):
    # the model does not exist: the --out error must come first, not after the run
    if where == "folder":
        out, fragments = tmp_path, (f"--out {tmp_path} is a folder", "give a file name")
    elif where == "under a file":
        (tmp_path / "notes.txt").write_text("x")
        out, fragments = tmp_path / "notes.txt" / "run.json", (f"{tmp_path / 'notes.txt'} is a file, not a folder",)
    else:
        (tmp_path / "ro").mkdir()
        _read_only_under(monkeypatch, tmp_path / "ro")
        out, fragments = tmp_path / "ro" / "run.json", (f"cannot write to {tmp_path / 'ro'}", "read-only file system",
                                                         "choose a writable location")
    extra = ["--aligner", "gradvac"] if command == "evaluate" else []
    code, _, err = run_cli(capsys, command, "--task", polarity_folder, "--model", "no/such-model", "--out", out,
                           "--no-progress", *extra)
    assert_clean_error(code, err, *fragments)
    assert "cannot load model" not in err


def test_meta_train_out_is_checked_before_the_backbone_loads(capsys, tmp_path, monkeypatch):
    common = ["--sources", "demo_news_topics,demo_entailment", "--model", "no/such-model", "--no-progress"]
    (tmp_path / "run.txt").write_text("x")
    code, _, err = run_cli(capsys, "meta-train", "--out", tmp_path / "run.txt", *common)
    assert_clean_error(code, err, f"meta-train --out {tmp_path / 'run.txt'} is a file", "choose a folder name")
    (tmp_path / "ro").mkdir()
    _read_only_under(monkeypatch, tmp_path / "ro")
    code, _, err = run_cli(capsys, "meta-train", "--out", tmp_path / "ro" / "run", *common)
    assert_clean_error(code, err, f"cannot write to {tmp_path / 'ro'}", "read-only file system")


def test_meta_train_resume_with_another_config_is_refused_before_the_backbone_loads(capsys, tmp_path):
    import torch

    from sggft_meta.checkpoint import write_checkpoint
    from sggft_meta.config import META_TRAIN_DEFAULTS, load_config

    run = tmp_path / "run"
    sources = ["demo_news_topics", "demo_entailment"]
    started = load_config(None, ["meta.sources=[demo_news_topics,demo_entailment]", "model.name=no/such-model",
                                 "meta.meta_lr=0.5"], base=META_TRAIN_DEFAULTS)
    write_checkpoint(run, 1, {"x": torch.zeros(1)}, {"step": 1, "history": [], "sources": sources,
                                                     "config": started.model_dump(mode="json")})
    code, _, err = run_cli(capsys, "meta-train", "--sources", ",".join(sources), "--out", run, "--model", "no/such-model",
                           "--no-progress", "meta.meta_lr=0.1")
    assert_clean_error(code, err, "another training config", "meta.meta_lr 0.5 -> 0.1")
    assert "cannot load model" not in err


# ------------------------------------------------------------------ Ctrl-C keeps a finished result
def test_ctrl_c_leaves_a_finished_out_as_it_was(capsys, tmp_path, monkeypatch, tiny_bert_dir, polarity_folder):
    import sggft_meta.run as run_module

    out = tmp_path / "run.json"
    out.write_text(json.dumps({"complete": True, "results": [{"task": "polarity", "seeds": []}]}) + "\n")
    before = out.read_bytes()
    argv = ["finetune", "--task", polarity_folder, "--model", tiny_bert_dir, "--shots", 4, "--seeds", "13,42",
            "--out", out, "--no-progress", "train.max_steps=2", "model.lora.targets=[query,value]", "data.max_length=32"]
    code, _, err = run_cli(capsys, *argv)  # refused up front without --overwrite
    assert_clean_error(code, err, f"--out {out} already holds a finished result", "pass --overwrite to replace it")

    real, calls = run_module.adapt_split, []

    def interrupted_on_the_second_seed(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "adapt_split", interrupted_on_the_second_seed)
    code, _, err = run_cli(capsys, *argv, "--overwrite")
    partial = tmp_path / "run.json.partial"
    assert code == 130, err
    assert out.read_bytes() == before
    assert f"interrupted after 1 finished seed; the results so far are in {partial}; {out} is unchanged" in err
    saved = json.loads(partial.read_text())
    assert saved["complete"] is False and [s["seed"] for s in saved["results"][0]["seeds"]] == [13]

    monkeypatch.setattr(run_module, "adapt_split", real)  # the same command, to the end, replaces it
    code, _, err = run_cli(capsys, *argv, "--overwrite")
    assert code == 0, err
    saved = json.loads(out.read_text())
    assert saved["complete"] is True and [s["seed"] for s in saved["results"][0]["seeds"]] == [13, 42]
    assert not partial.exists()


# ------------------------------------------------------------------ progress off: no loading bar, a line per seed
def test_no_progress_hides_weight_loading_and_prints_a_line_per_seed(capsys, tiny_bert_dir, polarity_folder):
    code, _, err = run_cli(capsys, "finetune", "--task", polarity_folder, "--model", tiny_bert_dir, "--shots", 4,
                           "--seeds", "13,42", "--no-progress", "train.max_steps=2", "model.lora.targets=[query,value]",
                           "data.max_length=32")
    assert code == 0, err
    assert "Loading weights" not in err and "it/s" not in err, err
    lines = [l for l in err.splitlines() if l.startswith("seed ")]
    assert [l.split(":")[0] for l in lines] == ["seed 13", "seed 42"], err
    assert all(" test accuracy " in l and l.endswith(" s)") for l in lines), err


# ------------------------------------------------------------------ torchrun on a one-process command
@pytest.mark.parametrize("argv", [
    ["finetune", "--task", "demo_news_topics", "--model", "no/such-model"],
    ["adapt", "--task", "demo_news_topics", "--model", "no/such-model"],
    ["evaluate", "--task", "demo_news_topics", "--aligner", "gradvac", "--model", "no/such-model"],
    ["quickstart", "--model", "no/such-model"],
    ["fit", "--task", "demo_news_topics", "--save", "{tmp}/model", "--model", "no/such-model"],
    ["predict", "{tmp}/model", "--input", "{tmp}/in.jsonl", "--out", "{tmp}/out.jsonl"],
], ids=lambda argv: argv[0])
def test_one_process_commands_refuse_torchrun(capsys, tmp_path, monkeypatch, argv):
    monkeypatch.setenv("WORLD_SIZE", "2")
    command = argv[0]
    code, _, err = run_cli(capsys, *[a.format(tmp=tmp_path) for a in argv], "--no-progress")
    assert_clean_error(code, err, f"sggft-meta {command} is not distributed", "run it without torchrun",
                       "only meta-train uses several processes")
    assert not (tmp_path / "model").exists() and not (tmp_path / "out.jsonl").exists()


# ------------------------------------------------------------------ one meaning per flag; overrides anywhere
@pytest.mark.parametrize("command", ["finetune", "adapt", "evaluate", "quickstart", "fit"])
def test_steps_is_train_max_steps_everywhere(command):
    from sggft_meta.cli import parse_args

    required = {"fit": ["--save", "m"], "evaluate": ["--aligner", "gradvac"]}.get(command, [])
    args = parse_args([command, "--steps", "7", *required])
    assert args.steps == "7"
    if command != "fit":
        from sggft_meta.cli import config_from_args

        assert config_from_args(args).train.max_steps == 7


def test_meta_train_outer_steps_flag(capsys, tmp_path):
    from sggft_meta.cli import parse_args

    assert parse_args(["meta-train", "--out", "x", "--outer-steps", "3"]).outer_steps == "3"
    code, _, err = run_cli(capsys, "meta-train", "--sources", "demo_news_topics,demo_entailment", "--out", tmp_path / "r",
                           "--steps", 2, "--model", "no/such-model")
    assert_clean_error(code, err, "meta-train has no --steps", "--outer-steps N", "meta.outer_steps")


def test_overrides_anywhere_on_the_line_in_order():
    from sggft_meta.cli import config_from_args, parse_args

    args = parse_args(["adapt", "--task", "rte", "train.max_steps=2", "--mode", "surgery", "sggft.lambda_dir=0.5",
                       "--shots", "8", "train.max_steps=3"])
    assert args.overrides == ["train.max_steps=2", "sggft.lambda_dir=0.5", "train.max_steps=3"]
    cfg = config_from_args(args)
    assert cfg.sggft.lambda_dir == 0.5 and cfg.sggft.mode == "surgery" and cfg.train.max_steps == 3 and cfg.shots == 8


@pytest.mark.parametrize("argv", [
    ["finetune", "--task", "{task}", "--no-progress", "train.lr=1", "--shots", "4", "train.lr=fast"],
    ["adapt", "--task", "{task}", "train.max_steps=2", "--mode", "surgery", "train.lr=fast"],
    ["evaluate", "--task", "{task}", "train.lr=1", "--aligner", "gradvac", "--no-progress", "train.lr=fast"],
    ["fit", "--task", "{task}", "train.lr=1", "--save", "{tmp}/m", "--no-progress", "train.lr=fast"],
    ["meta-train", "--sources", "demo_news_topics,demo_entailment", "train.lr=1", "--out", "{tmp}/r", "train.lr=fast"],
], ids=lambda argv: argv[0])
def test_an_override_after_a_flag_is_read(capsys, tmp_path, polarity_folder, argv):
    code, _, err = run_cli(capsys, *[a.format(task=polarity_folder, tmp=tmp_path) for a in argv], "--model", "no/such-model")
    assert_clean_error(code, err, "train.lr", "valid number")


def test_what_is_neither_flag_nor_override_is_named(capsys, polarity_folder):
    code, _, err = run_cli(capsys, "adapt", "--task", polarity_folder, "train.lr=1", "--no-such-flag", "3", "--mode", "hvp")
    assert_clean_error(code, err, "unrecognized arguments '--no-such-flag 3' for adapt", "key=value", "sggft-meta adapt --help")
    code, _, err = run_cli(capsys, "predict", "model", "--input", "a.jsonl", "--out", "b.jsonl", "batch=2")
    assert_clean_error(code, err, "predict takes no key=value overrides", "'batch=2'")


# ------------------------------------------------------------------ where the data came from
def test_result_file_records_where_the_data_came_from(tmp_path, monkeypatch):
    from sggft_meta.config import load_config
    from sggft_meta.run import run_metadata
    from sggft_meta.task import get_task

    root = tmp_path / "data"
    write_jsonl(root / "sst2" / "train.jsonl", polarity_rows(3))
    monkeypatch.setenv("SGGFT_DATA_DIR", str(root))
    cfg = load_config(None, ["task=sst2"])
    meta = run_metadata(cfg)
    assert meta["config"]["data"]["dir"] is None  # the config as given
    assert meta["data_source"] == {"dir": str(root.resolve()), "from": "env SGGFT_DATA_DIR"}
    assert run_metadata(cfg, task=get_task("demo_news_topics"))["data_source"]["from"] == "demo"
