"""Sources bring their data (METHOD.md "Sources", PROTOCOL.md "Transfer from related tasks"):
minibatches of the whole training pool redrawn at every refresh, a head fit on the pool, test
overlap dropped and counted, the SST-2 / SST-5 / MR rule, several weighted sources."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sggft_meta import folder_task, optim
from sggft_meta.align.source import SourceDirection, normalize_text
from sggft_meta.config import load_config
from sggft_meta.errors import ConfigError, RegistryError
from sggft_meta.inner_loop import InnerLoop, InnerSpec
from sggft_meta.run import check_guidance, run_method
from sggft_meta.task import get_task

from conftest import polarity_rows, write_jsonl

TOPICS = ["sport", "music", "food", "travel"]


def topic_rows(n: int, tag: str) -> list[dict]:
    return [{"text": f"{tag} story {i} about {TOPICS[i % 2]} and {TOPICS[2 + i % 2]}", "label": i % 2} for i in range(n)]


@pytest.fixture
def world(tmp_path, tiny_bert_dir):
    """A target (polarity) and two sources; source A's train split holds 3 rows whose text
    occurs in the target's test split (other case, spacing, punctuation)."""
    target = tmp_path / "target"
    test = polarity_rows(6, offset=100)
    write_jsonl(target / "train.jsonl", polarity_rows(20))
    write_jsonl(target / "test.jsonl", test)
    (target / "meta.json").write_text(json.dumps({"label_names": ["negative", "positive"]}))
    src_a = tmp_path / "src_a"
    overlap = [{"text": "  " + test[i]["text"].upper().replace(" ", "  ") + "!!", "label": i % 2} for i in range(3)]
    write_jsonl(src_a / "train.jsonl", topic_rows(60, "train") + overlap)
    write_jsonl(src_a / "test.jsonl", topic_rows(20, "heldout"))  # never drawn
    src_b = tmp_path / "src_b"
    write_jsonl(src_b / "train.jsonl", [{**r, "label": 1 - r["label"]} for r in topic_rows(40, "other")])
    write_jsonl(src_b / "test.jsonl", topic_rows(10, "heldoutb"))
    return {"target": target, "a": src_a, "b": src_b, "model": tiny_bert_dir}


def cfg_for(world, *extra):
    return load_config(overrides=[f"task={world['target']}", f"model.name={world['model']}", "model.dtype=float64",
                                  "model.lora.targets=[query,value]", "data.max_length=32", "source.batch_size=8",
                                  "method=sggft", "shots=4", "seeds=[13]", "progress=false", *extra])


def build(world, sources, weights=None, seed=0, **kw):
    from sggft_meta.model.loading import load_backbone

    cfg = cfg_for(world, *kw.get("extra", ()))
    target = folder_task(world["target"])
    bb = load_backbone(cfg.model, cfg.data.max_length)
    src = SourceDirection.for_tasks(bb, [folder_task(world[s]) for s in sources], cfg, weights=weights,
                                    test=target.load_split("test"), seed=seed)
    bb.set_head(target, init="random", generator=torch.Generator().manual_seed(0))
    loop = InnerLoop(bb, InnerSpec(lambdas={"align": 1.0}, optimizer=optim.OptimSpec(kind="sgd")))
    return bb, src, loop


def test_refreshes_draw_new_train_rows_and_drop_test_overlap(world):
    bb, src, loop = build(world, ["a"])
    member = src.members[0]
    assert member.dropped_test_overlap == 3 and src.record()["dropped_test_overlap"] == 3
    assert src.pool_size == 60 and set(member.rows) == set(range(60))  # the 3 overlapping rows (60..62) are gone
    direction = src.bind(loop)
    phi = loop.flat_params()
    for _ in range(4):
        direction(phi)
    drawn = [d[0] for d in src.draws]
    assert all(len(rows) == 8 for rows in drawn)
    assert len({tuple(rows) for rows in drawn}) == 4  # every refresh a new minibatch
    train = folder_task(world["a"]).load_split("train")
    heldout = {normalize_text(t) for t in folder_task(world["a"]).load_split("test").texts}
    target_test = {normalize_text(t) for t in folder_task(world["target"]).load_split("test").texts}
    for rows in drawn:
        texts = {normalize_text(train.texts[i]) for i in rows}
        assert not texts & heldout and not texts & target_test and max(rows) < 60
    # the pool is tokenised once per backbone: binding again re-tokenises nothing
    calls = bb.tokenize_calls
    SourceDirection.for_tasks(bb, [folder_task(world["a"])], cfg_for(world)).bind(loop)(phi)
    assert bb.tokenize_calls == calls


def test_same_seed_same_direction_other_seed_other_draws(world):
    _, src, loop = build(world, ["a"])
    phi = loop.flat_params()
    first = [src.bind(loop)(phi) for _ in range(1)][0]
    again = src.bind(loop)(phi)  # a new binding restarts the draws from the seed
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    rows_seed0 = src.draws[0][0]
    src.seed = 21
    other = src.bind(loop)(phi)
    assert not np.array_equal(src.draws[0][0], rows_seed0) and not torch.equal(other, first)


def test_head_is_fit_on_many_pool_rows(world):
    _, src, _ = build(world, ["a"], extra=("source.head_rows=5",))
    _, src_many, _ = build(world, ["a"])
    assert not torch.allclose(src.head["head.weight"], src_many.head["head.weight"])  # 5 vs 30 rows per class


def test_two_sources_give_the_weighted_sum(world):
    _, both, loop = build(world, ["a", "b"], weights=[0.25, 0.75])
    phi = loop.flat_params()
    d = both.bind(loop)(phi)
    rows_a, rows_b = both.draws[0]
    parts = []
    for member, rows in zip(both.members, (rows_a, rows_b)):
        _, g = loop.gradient(phi, member.pool.batch(rows), head=member.head)
        parts.append(g)
    torch.testing.assert_close(d, 0.25 * parts[0] + 0.75 * parts[1])
    assert both.record()["tasks"] == ["src_a", "src_b"] and both.record()["weights"] == [0.25, 0.75]
    _, equal, _ = build(world, ["a", "b"])
    assert [m.weight for m in equal.members] == [0.5, 0.5]


@pytest.mark.parametrize("target,source", [("sst2", "mr"), ("mr", "sst5"), ("sst5", ["cr", "sst2"])])
def test_sst_and_mr_are_never_sources_of_one_another(target, source):
    cfg = load_config(overrides=[f"task={target}", "method=sggft"])
    with pytest.raises(ConfigError, match="SST-2, SST-5 and MR share their sentences"):
        check_guidance(cfg, get_task(target), source_task=source)


def test_bad_source_lists_fail_before_any_model_loads(world):
    target = folder_task(world["target"])
    cfg = cfg_for(world)
    with pytest.raises(ConfigError, match="is the target task itself"):
        check_guidance(cfg, target, source_task=[str(world["a"]), target.name])
    with pytest.raises(ConfigError, match="empty list"):
        check_guidance(cfg_for(world, "source_task=[]"), target)
    with pytest.raises(RegistryError):
        check_guidance(cfg, target, source_task=["no_such_source_task"])
    with pytest.raises(ConfigError, match="one weight per source"):
        check_guidance(cfg_for(world, "source.weights=[1.0]"), target, source_task=[str(world["a"]), str(world["b"])])


def test_run_records_sources_and_overlap(world):
    cfg = cfg_for(world, f"source_task=[{world['a']},{world['b']}]", "source.weights=[0.5,0.5]", "train.max_steps=3",
                  "sggft.refresh_every=1", "train.eval_every=100", "model.dtype=float32")
    report = run_method(cfg)
    assert report.source["tasks"] == ["src_a", "src_b"] and report.source["dropped_test_overlap"] == 3
    assert report.source["pool_size"] == 60 + 40 and report.to_json()["source"]["weights"] == [0.5, 0.5]
    again = run_method(cfg)
    for key, values in report.seeds[0].per_step.items():  # reproducible (NaN where a figure does not apply)
        np.testing.assert_array_equal(again.seeds[0].per_step[key], values, err_msg=key)
    assert not np.isnan(report.seeds[0].per_step["cos_source"]).any()
