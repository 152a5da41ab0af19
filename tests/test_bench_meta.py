"""Bench kinds `meta_init` (MAML / FOMAML / Reptile init, then fine-tuning) and `sggft_meta`
(MetaLearner's aligner, then SGGFT), on a tiny BERT and the embedded demo tasks:

- sources are leave-one-domain-out: the target's domain is never meta-trained on;
- meta-training runs once per (method, held-out domain) and is reused by every task, K, seed;
- a meta-training killed mid-way resumes, and the grid ends with the same records;
- the cell is plain fine-tuning (or SGGFT with the aligner) from the meta-learned state;
- bad options fail when the grid is loaded, with one line.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from sggft_bench import BENCH_METHODS, parse_grid, run_grid
from sggft_bench.meta_methods import lodo_sources
from sggft_meta.errors import ConfigError
from sggft_meta.task import get_task

SENTIMENT = ["demo_product_reviews", "demo_restaurant_reviews"]
META = {"outer_steps": 2, "meta_batch": 2, "inner_steps": 2, "k_shot": 2, "q_query": 2, "checkpoint_every": 1}


def grid_tree(model_dir, methods, tasks=(*SENTIMENT, "demo_news_topics"), seeds=(13, 21)):
    return {"name": "meta", "tasks": list(tasks), "shots": [2], "seeds": list(seeds),
            "base": [f"model.name={model_dir}", "model.lora.targets=[query,value]", "data.max_length=32",
                     "train.max_steps=4", "train.eval_every=2", "eval.batch_size=128"],
            "methods": methods}


def maml_method(**options):
    return {"maml": {"kind": "meta_init", "options": {"algorithm": "maml", "lodo": True, **META, **options}}}


def records(out):
    return {str(p.relative_to(out / "cells")): json.loads(p.read_text()) for p in sorted((out / "cells").rglob("*.json"))}


def count_calls(monkeypatch, cls, name="train"):
    calls = []
    real = getattr(cls, name)

    def wrapped(self, *a, **kw):
        calls.append([t.name for t in self.tasks])
        return real(self, *a, **kw)

    monkeypatch.setattr(cls, name, wrapped)
    return calls


@pytest.fixture(scope="module")
def maml_grid(tiny_bert_dir, tmp_path_factory):
    """The straight run: 3 tasks (two sentiment, one topic) x K=2 x 2 seeds, MAML init."""
    from sggft_meta.baselines.meta_init import MetaInitLearner

    out = tmp_path_factory.mktemp("bench_meta") / "straight"
    mp = pytest.MonkeyPatch()
    try:
        calls = count_calls(mp, MetaInitLearner)
        run = run_grid(parse_grid(grid_tree(tiny_bert_dir, maml_method())), out, log=lambda line: None)
    finally:
        mp.undo()
    return out, run, calls


def test_lodo_meta_init_trains_once_per_domain(maml_grid):
    out, run, calls = maml_grid
    assert run.ok and run.ran == 6
    # once per held-out domain, never on the target's domain
    assert calls == [["demo_entailment", "demo_news_topics", "demo_question_types"],
                     ["demo_entailment", "demo_product_reviews", "demo_question_types", "demo_restaurant_reviews"]]
    recs = records(out)
    for path, rec in recs.items():
        assert rec["status"] == "ok" and 0 <= rec["test_metric"] <= 1 and rec["run_method"] == "finetune", path
        target = get_task(rec["task"])
        meta = rec["meta"]
        assert meta["held_out_domain"] == target.domain and meta["target_domain_seen"] is False
        assert target.domain not in meta["source_domains"]
        assert all(get_task(s).domain != target.domain for s in meta["sources"])
        assert meta["algorithm"] == "maml" and meta["summary"]["outer_steps"] == 2 and meta["train_seconds"] > 0
    trained = sorted(p for p, r in recs.items() if r["meta"]["trained_in_this_cell"])
    assert trained == ["maml/demo_news_topics/k2/seed13.json", "maml/demo_product_reviews/k2/seed13.json"]
    for domain in ("sentiment", "topic"):
        saved = json.loads((out / "meta" / "maml" / domain / "init.json").read_text())
        assert saved["algorithm"] == "maml" and saved["steps"] == 2
        assert (out / "meta" / "maml" / domain / "checkpoints" / "latest").is_file()


def test_cell_is_plain_finetuning_from_the_learned_init(maml_grid, tiny_bert_dir):
    """The record equals run_method(method=finetune) from load_init on a fresh backbone."""
    from sggft_meta.baselines.meta_init import load_init
    from sggft_meta.config import load_config
    from sggft_meta.model.loading import load_backbone
    from sggft_meta.run import run_method

    out, _, _ = maml_grid
    rec = records(out)["maml/demo_restaurant_reviews/k2/seed21.json"]
    cfg = load_config(None, grid_tree(tiny_bert_dir, {})["base"] + ["method=finetune", "progress=false"],
                      base={"task": "demo_restaurant_reviews", "shots": 2, "seeds": [21]})
    bb = load_backbone(cfg.model, cfg.data.max_length)
    pristine = bb.snapshot(include_head=False)
    load_init(out / "meta" / "maml" / "sentiment", bb)
    assert any(not torch.equal(pristine[n], v) for n, v in bb.snapshot(include_head=False).items())
    report = run_method(cfg, bb)
    assert report.seeds[0].test_metric == rec["test_metric"]
    assert report.seeds[0].trace["grad_norm_mean"] == rec["trace"]["grad_norm_mean"]


class Killed(Exception):
    pass


def test_killed_meta_training_resumes_to_the_same_records(maml_grid, tiny_bert_dir, tmp_path, monkeypatch):
    """Meta-training of the first domain dies in its second outer step (step 1 is checkpointed): that cell
    fails, the next cell of the domain resumes it; a second run retries the failed cell; every
    record ends equal to the straight run's."""
    from sggft_meta.baselines.meta_init import MetaInitLearner

    straight, _, _ = maml_grid
    out = tmp_path / "killed"
    real = MetaInitLearner.outer_step
    state = {"killed": False}

    def dying(self):
        if not state["killed"] and self.step == 1:  # during the second outer step, after step 1's checkpoint
            state["killed"] = True
            raise Killed("power cut")
        return real(self)

    monkeypatch.setattr(MetaInitLearner, "outer_step", dying)
    grid = parse_grid(grid_tree(tiny_bert_dir, maml_method(), tasks=SENTIMENT))
    first = run_grid(grid, out, log=lambda line: None)
    assert first.failed == ["maml/demo_product_reviews/k2/seed13"] and first.ran == 3
    second = run_grid(grid, out, log=lambda line: None)
    assert second.ok and second.ran == 1 and second.skipped == 3
    got, want = records(out), records(straight)
    for path, rec in got.items():
        assert rec["test_metric"] == want[path]["test_metric"], path
        assert rec["trace"]["grad_norm_mean"] == want[path]["trace"]["grad_norm_mean"], path
    assert (out / "meta" / "maml" / "sentiment" / "init.safetensors").read_bytes() == \
        (straight / "meta" / "maml" / "sentiment" / "init.safetensors").read_bytes()


def test_reptile_and_fomaml_kinds_with_explicit_sources(tiny_bert_dir, tmp_path):
    methods = {
        "reptile": {"kind": "meta_init", "options": {"algorithm": "reptile", "reptile_lr": 0.5, "inner_lr": 0.5,
                                                       "sources": ["demo_news_topics", "demo_product_reviews"], **META}},
        "fomaml": {"kind": "meta_init", "options": {"algorithm": "fomaml", "inner_optimizer": "train",
                                                      "sources": ["demo_question_types"], **META}},
    }
    out = tmp_path / "explicit"
    run = run_grid(parse_grid(grid_tree(tiny_bert_dir, methods, tasks=["demo_restaurant_reviews"], seeds=[13])), out,
                   log=lambda line: None)
    assert run.ok
    recs = records(out)
    reptile = recs["reptile/demo_restaurant_reviews/k2/seed13.json"]["meta"]
    # the sentiment source is dropped for a sentiment target, and recorded
    assert reptile["sources"] == ["demo_news_topics"] and reptile["dropped_sources"] == ["demo_product_reviews"]
    assert json.loads((out / "meta" / "reptile" / "sentiment" / "init.json").read_text())["algorithm"] == "reptile"
    fomaml = recs["fomaml/demo_restaurant_reviews/k2/seed13.json"]["meta"]
    assert fomaml["sources"] == ["demo_question_types"] and fomaml["algorithm"] == "fomaml"
    # only sources of the target's own domain: the cell fails and says why
    only_same = {"bad": {"kind": "meta_init", "options": {"sources": ["demo_product_reviews"], **META}}}
    run = run_grid(parse_grid(grid_tree(tiny_bert_dir, only_same, tasks=["demo_restaurant_reviews"], seeds=[13])),
                   tmp_path / "same", log=lambda line: None)
    rec = records(tmp_path / "same")["bad/demo_restaurant_reviews/k2/seed13.json"]
    assert rec["status"] == "error" and "0 source task(s) outside domain 'sentiment'" in rec["error"]


def test_sggft_meta_kind_trains_the_aligner_once_per_domain(tiny_bert_dir, tmp_path, monkeypatch):
    from sggft_meta.outer_loop import MetaLearner

    calls = count_calls(monkeypatch, MetaLearner)
    methods = {"sggft_meta": {"kind": "sggft_meta", "overrides": ["sggft.lambda_align=1", "sggft.mode=surgery"],
                              "options": {"lodo": True, **META, "aligner": {"hidden": 4}}}}
    tree = grid_tree(tiny_bert_dir, methods, tasks=["demo_product_reviews", "demo_news_topics"], seeds=[13])
    out = tmp_path / "sggft"
    run = run_grid(parse_grid(tree), out, log=lambda line: None)
    assert run.ok and len(calls) == 2
    assert calls[0] == ["demo_entailment", "demo_news_topics", "demo_question_types"]
    for path, rec in records(out).items():
        assert rec["run_method"] == "sggft" and rec["aligner"]["target_domain_seen"] is False, path
        assert rec["meta"]["target_domain_seen"] is False and rec["aligner"]["source_task"] in rec["meta"]["sources"]
    aligner_cfg = json.loads((out / "meta" / "sggft_meta" / "sentiment" / "config.json").read_text())
    assert aligner_cfg["summary"]["outer_steps"] == 2 and aligner_cfg["aligner_config"]["hidden"] == 4
    # a new seed and a new task of a trained domain reuse the aligner: no meta-training
    tree = dict(tree, tasks=["demo_product_reviews", "demo_restaurant_reviews", "demo_news_topics"], seeds=[13, 21])
    run = run_grid(parse_grid(tree), out, log=lambda line: None)
    assert run.ok and run.ran == 4 and len(calls) == 2


def test_sggft_meta_with_reptile_adapts_from_the_reptile_init(tiny_bert_dir, tmp_path, monkeypatch):
    import sggft_meta.run as run_module
    from sggft_meta.align import read_latest_checkpoint

    seen = []
    real = run_module.run_method

    def spying(cfg, backbone, **kw):
        seen.append(backbone.snapshot(include_head=False))
        return real(cfg, backbone, **kw)

    monkeypatch.setattr(run_module, "run_method", spying)
    methods = {"sr": {"kind": "sggft_meta", "overrides": ["sggft.lambda_align=1", "sggft.mode=surgery"],
                      "options": {"sources": ["demo_news_topics", "demo_entailment"], "reptile": True, **META}}}
    out = tmp_path / "sr"
    run = run_grid(parse_grid(grid_tree(tiny_bert_dir, methods, tasks=["demo_product_reviews"], seeds=[13, 21])), out,
                   log=lambda line: None)
    assert run.ok and len(seen) == 2
    _, tensors, _ = read_latest_checkpoint(out / "meta" / "sr" / "sentiment")
    init = {k[5:]: v for k, v in tensors.items() if k.startswith("init.")}
    for snapshot in seen:  # trained in the first cell, reused in the second: the same phi_0
        assert snapshot.keys() == init.keys() and all(torch.equal(snapshot[n], init[n]) for n in init)
    from sggft_meta.config import ModelConfig, LoraSettings
    from sggft_meta.model.loading import load_backbone

    pristine = load_backbone(ModelConfig(name=str(tiny_bert_dir), lora=LoraSettings(targets=["query", "value"])), 32)
    assert any(not torch.equal(v, init[n]) for n, v in pristine.snapshot(include_head=False).items())  # Reptile moved it


def test_changed_definition_does_not_reuse_the_meta_cache(maml_grid, tiny_bert_dir, tmp_path):
    straight, _, _ = maml_grid
    out = tmp_path / "copy"
    shutil.copytree(straight / "meta", out / "meta")  # the cells are gone, the meta cache is not
    grid = parse_grid(grid_tree(tiny_bert_dir, maml_method(meta_lr=0.5), tasks=["demo_news_topics"], seeds=[13]))
    run = run_grid(grid, out, log=lambda line: None)
    rec = records(out)["maml/demo_news_topics/k2/seed13.json"]
    assert not run.ok and "another definition of method 'maml'" in rec["error"] and "delete" in rec["error"]


# ----------------------------------------------------------------------------- sources and checks
def test_lodo_sources_of_the_demo_pack():
    assert lodo_sources(get_task("demo_product_reviews")) == ["demo_entailment", "demo_news_topics", "demo_question_types"]
    assert lodo_sources(get_task("demo_entailment")) == ["demo_news_topics", "demo_product_reviews",
                                                         "demo_question_types", "demo_restaurant_reviews"]


def test_lodo_sources_of_the_data_pack():
    from conftest import shared_data_dir

    data = shared_data_dir()
    if data is None:
        pytest.skip("no shared data pack here")
    sources = lodo_sources(get_task("sst2"), data)
    domains = {get_task(s).domain for s in sources}
    assert "sentiment" not in domains and not any(s.startswith("demo_") for s in sources)
    assert "stsb" not in sources  # regression
    assert {"trec", "rte", "ag_news"} <= set(sources)
    assert all(get_task(s).domain != "nli" for s in lodo_sources(get_task("rte"), data))


@pytest.mark.parametrize("method,fragment", [
    ({"kind": "meta_init", "options": {"lodo": True, "algoritm": "maml"}}, "unknown option(s) algoritm"),
    ({"kind": "meta_init", "options": {"algorithm": "mamal", "lodo": True}}, "options.algorithm"),
    ({"kind": "meta_init", "options": {"algorithm": "maml"}}, "give either sources"),
    ({"kind": "meta_init", "options": {"lodo": True, "sources": ["demo_news_topics"]}}, "give either sources"),
    ({"kind": "meta_init", "options": {"sources": ["demo_news_topcs"]}}, "Did you mean 'demo_news_topics'"),
    ({"kind": "meta_init", "options": {"lodo": True, "outer_steps": 0}}, "meta.outer_steps"),
    ({"kind": "meta_init", "options": {"lodo": True, "inner_optimizer": "train", "inner_lr": -1e-4}}, "options.inner_lr"),
    ({"kind": "meta_init", "overrides": ["model.adapt=head"], "options": {"lodo": True}}, "no initialisation to meta-learn"),
    ({"kind": "meta_init", "options": {"lodo": True, "truncate_k": 2}}, "unknown option(s) truncate_k"),
    ({"kind": "sggft_meta", "options": {"lodo": True}}, "sggft.lambda_align=1"),
    ({"kind": "sggft_meta", "overrides": ["sggft.lambda_align=1"], "options": {"sources": ["demo_news_topics"]}},
     "two or more source tasks"),
    ({"kind": "sggft_meta", "overrides": ["sggft.lambda_align=1"], "options": {"lodo": True, "algorithm": "maml"}},
     "unknown option(s) algorithm"),
])
def test_bad_options_fail_at_grid_load(tiny_bert_dir, method, fragment):
    tree = grid_tree(tiny_bert_dir, {"m": method})
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")) as err:
        parse_grid(tree)
    assert "methods.m" in str(err.value) and "\n" not in str(err.value)


def test_kinds_are_registered_by_importing_the_bench():
    assert {"meta_init", "sggft_meta"} <= set(BENCH_METHODS.names())


def test_meta_training_lock_serialises_shards(tmp_path):
    """Two shards reaching one domain at once: the second waits for the first's meta-training."""
    import threading
    import time

    from sggft_bench.meta_methods import _exclusive

    events = []

    def hold(name, pause):
        with _exclusive(tmp_path):
            events.append(f"{name} in")
            time.sleep(pause)
            events.append(f"{name} out")

    first = threading.Thread(target=hold, args=("a", 0.3))
    first.start()
    time.sleep(0.05)
    second = threading.Thread(target=hold, args=("b", 0.0))
    second.start()
    first.join()
    second.join()
    assert events == ["a in", "a out", "b in", "b out"]
