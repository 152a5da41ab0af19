"""`sggft-meta meta-train` then `evaluate --aligner` on a task no source run saw; bad input."""

from __future__ import annotations

import json

from test_cli import assert_clean_error, run_cli

TINY = ["model.lora.targets=[query,value]", "data.max_length=32"]
META = ["meta.meta_batch=2", "meta.inner_steps=2", "meta.episode.k_shot=2", "meta.episode.q_query=2", "meta.checkpoint_every=1"]


def test_meta_train_then_evaluate_on_an_unseen_task(capsys, tmp_path, tiny_bert_dir, polarity_folder):
    run = tmp_path / "aligner"
    code, out, err = run_cli(capsys, "meta-train", "--sources", "demo_news_topics,demo_entailment,demo_question_types",
                             "--out", run, "--model", tiny_bert_dir, "--outer-steps", 2, "--no-progress", *TINY, *META)
    assert code == 0, err
    assert "meta-trained 2 outer steps" in out and (run / "config.json").is_file() and (run / "model.safetensors").is_file()
    assert "Loading weights" not in err  # --no-progress: no weight-loading bar either
    saved = json.loads((run / "config.json").read_text())
    assert saved["type"] == "learned" and saved["sources"] == ["demo_news_topics", "demo_entailment", "demo_question_types"]
    assert saved["summary"]["lambda_align"] == 1.0 and saved["summary"]["mode"] == "surgery"
    # resuming a finished run does nothing more
    code, out, err = run_cli(capsys, "meta-train", "--sources", "demo_news_topics,demo_entailment,demo_question_types",
                             "--out", run, "--model", tiny_bert_dir, "--outer-steps", 2, "--no-progress", *TINY, *META)
    assert code == 0 and "meta-trained 2 outer steps" in out
    result = tmp_path / "eval.json"
    code, out, err = run_cli(capsys, "evaluate", "--task", polarity_folder, "--aligner", run, "--model", tiny_bert_dir,
                             "--shots", 4, "--seeds", "13", "--out", result, "--no-progress", "train.max_steps=3",
                             "train.eval_every=1", *TINY)
    assert code == 0, err
    assert "target domain not seen in meta-training" in out
    payload = json.loads(result.read_text())["results"][0]
    assert payload["aligner"]["source_task"] == "demo_news_topics" and payload["aligner"]["target_domain_seen"] is False
    seed = payload["seeds"][0]
    assert seed["trace"]["gate"] is not None and 0 < seed["trace"]["gate"] < 1
    assert seed["trace"]["cos_source"] is not None


def test_bad_meta_and_aligner_input(capsys, tmp_path, tiny_bert_dir, polarity_folder):
    code, _, err = run_cli(capsys, "meta-train", "--sources", "demo_news_topics", "--out", tmp_path / "x", "--model", tiny_bert_dir)
    assert_clean_error(code, err, "two or more source tasks")
    code, _, err = run_cli(capsys, "evaluate", "--task", polarity_folder, "--aligner", tmp_path / "nothing", "--no-progress")
    assert_clean_error(code, err, "nothing")
    bogus = tmp_path / "bogus"
    bogus.mkdir()
    (bogus / "config.json").write_text("{not json")
    code, _, err = run_cli(capsys, "evaluate", "--task", polarity_folder, "--aligner", bogus, "--no-progress",
                           "--model", tiny_bert_dir, *TINY)
    assert_clean_error(code, err, "config.json")


def test_rule_aligner_by_name_needs_a_source(capsys, tmp_path, tiny_bert_dir, polarity_folder):
    common = ["--task", polarity_folder, "--model", tiny_bert_dir, "--shots", 4, "--seeds", "13", "--no-progress",
              "train.max_steps=3", "sggft.lambda_align=1", *TINY]
    code, _, err = run_cli(capsys, "adapt", "--aligner", "gradvac", *common)
    assert_clean_error(code, err, "records no source task", "source_task")
    out = tmp_path / "gv.json"
    code, _, err = run_cli(capsys, "adapt", "--aligner", "gradvac", "--source-task", "demo_entailment", "--out", out, *common)
    assert code == 0, err
    seed = json.loads(out.read_text())["results"][0]["seeds"][0]
    assert seed["trace"]["gate"] == 1.0  # GradVac: every gate open


# ------------------------------------------------------------------ kill -9 mid-run, then the same command again
KILL_SOURCES = "demo_news_topics,demo_entailment,demo_question_types"
KILL_STEPS = 10


def _meta_train_command(run, model_dir):
    import sys

    return [sys.executable, "-m", "sggft_meta.cli", "meta-train", "--sources", KILL_SOURCES, "--out", str(run),
            "--model", str(model_dir), "--outer-steps", str(KILL_STEPS), "--no-progress", *TINY, "meta.meta_batch=2",
            "meta.inner_steps=2", "meta.episode.k_shot=2", "meta.episode.q_query=2", "meta.checkpoint_every=2"]


def _run_to_the_end(command, cwd):
    import os
    import subprocess

    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _final_checkpoint(run):
    name = (run / "checkpoints" / "latest").read_text().strip()
    meta = json.loads((run / "checkpoints" / name / "meta.json").read_text())
    history = [{k: v for k, v in row.items() if k != "seconds"} for row in meta["meta"]["history"]]
    return name, (run / "checkpoints" / name / "tensors.safetensors").read_bytes(), history


def test_kill_9_mid_run_then_the_same_command_ends_bit_identical(capsys, tmp_path, tiny_bert_dir):
    import os
    import signal
    import subprocess
    import time

    straight, killed = tmp_path / "straight", tmp_path / "killed"
    _run_to_the_end(_meta_train_command(straight, tiny_bert_dir), tmp_path)

    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.Popen(_meta_train_command(killed, tiny_bert_dir), cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while not (killed / "checkpoints" / "latest").is_file():  # the first checkpoint is written
            assert proc.poll() is None, "the meta-training ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 600 s"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    at_kill = int((killed / "checkpoints" / "latest").read_text().strip().removeprefix("step-"))
    assert at_kill < KILL_STEPS, "killed too late to test a resume: the run had already finished"

    again = _run_to_the_end(_meta_train_command(killed, tiny_bert_dir), tmp_path)
    assert f"resuming meta-training from step {at_kill} of {KILL_STEPS} in {killed}" in again.stderr
    assert (killed / "model.safetensors").read_bytes() == (straight / "model.safetensors").read_bytes()
    assert _final_checkpoint(killed) == _final_checkpoint(straight)  # aligner, Adam, generators, history

    # the saved aligner corrupted afterwards: the same command rebuilds it from the last checkpoint
    weights = (killed / "model.safetensors").read_bytes()
    (killed / "model.safetensors").write_bytes(weights[:-1] + bytes([weights[-1] ^ 1]))
    code, out, err = run_cli(capsys, *_meta_train_command(killed, tiny_bert_dir)[3:])
    assert code == 0, err
    assert f"meta-training in {killed} already finished at step {KILL_STEPS}; the aligner was not intact (" in err
    assert (killed / "model.safetensors").read_bytes() == weights
    code, out, err = run_cli(capsys, *_meta_train_command(killed, tiny_bert_dir)[3:])
    assert code == 0 and f"already finished at step {KILL_STEPS}; the aligner is verified" in err
