"""The backbone registry and what every loader shares: short name -> loader, dtypes, the device,
the cache folder of converted models, and the generic encoder loader. The backends (`causal_lm`,
`mpnet`) register themselves here; `loading` imports them, so they never import `loading`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch

from ..registry import Registry
from ..config import ModelConfig
from ..errors import ModelError
from .backbone import Backbone, EncoderBackbone

Loader = Callable[[ModelConfig, int, torch.dtype], Backbone]
BACKBONES: Registry[Loader] = Registry("backbone")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float64": torch.float64}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ModelError(f"model.device {name!r} is not a device name; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"model.device is {name!r} but no CUDA device is available; use model.device=auto or cpu")
    return device


def cache_root(cfg: ModelConfig) -> Path:
    root = cfg.cache_dir or Path(os.environ.get("SGGFT_CACHE", Path.home() / ".cache" / "sggft_meta"))
    return Path(root).expanduser()


def load_encoder(path: str, cfg: ModelConfig, max_length: int, dtype: torch.dtype, *, name: str) -> EncoderBackbone:
    """A BERT-like encoder from a local path or hub id (eager attention: second-order autograd on CPU)."""
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        body = AutoModel.from_pretrained(path, attn_implementation="eager", dtype=dtype)
    except OSError as e:
        raise ModelError(f"cannot load model {path!r}: {e}. Give a local path, a reachable hub id, or one of {BACKBONES.names()}") from None
    return EncoderBackbone(body, tokenizer, max_length=max_length, name=name, adapt=cfg.adapt, lora_cfg=cfg.lora, normalize=cfg.normalize, head_scale=cfg.head_scale)
