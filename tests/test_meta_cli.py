"""`sggft-meta meta-train` then `evaluate --aligner` on a task no source run saw; bad input."""

from __future__ import annotations

import json

from test_cli import assert_clean_error, run_cli

TINY = ["model.lora.targets=[query,value]", "data.max_length=32"]
META = ["meta.meta_batch=2", "meta.inner_steps=2", "meta.episode.k_shot=2", "meta.episode.q_query=2", "meta.checkpoint_every=1"]


def test_meta_train_then_evaluate_on_an_unseen_task(capsys, tmp_path, tiny_bert_dir, polarity_folder):
    run = tmp_path / "aligner"
    code, out, err = run_cli(capsys, "meta-train", "--sources", "demo_news_topics,demo_entailment,demo_question_types",
                             "--out", run, "--model", tiny_bert_dir, "--steps", 2, "--no-progress", *TINY, *META)
    assert code == 0, err
    assert "meta-trained 2 outer steps" in out and (run / "config.json").is_file() and (run / "model.safetensors").is_file()
    saved = json.loads((run / "config.json").read_text())
    assert saved["type"] == "learned" and saved["sources"] == ["demo_news_topics", "demo_entailment", "demo_question_types"]
    assert saved["summary"]["lambda_align"] == 1.0 and saved["summary"]["mode"] == "surgery"
    # resuming a finished run does nothing more
    code, out, err = run_cli(capsys, "meta-train", "--sources", "demo_news_topics,demo_entailment,demo_question_types",
                             "--out", run, "--model", tiny_bert_dir, "--steps", 2, "--no-progress", *TINY, *META)
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
