"""The transfer format of trained aligners (METHOD.md, "Transfer").

A trained aligner is a directory::

    my_aligner/
      config.json        {"format": "sggft-aligner", "format_version": 2, "library_version",
                          "type", "aligner_config", "feature_spec", "sources", "summary",
                          "weights": {"file": "model.safetensors", "sha256", "bytes"}, "tensors"}
      model.safetensors  the aligner's state_dict

Nothing is ever pickled or unpickled: tensors go through `safetensors`, everything else is JSON.

Format versions. 2: a `learned` aligner with `init_gate` 0 (closed, the default) also holds the
scalar tensor `opening`. 1: learned aligners were only open (`init_gate` in (0, 1), 0.5 by
default), a parametrisation version 2 keeps for a positive `init_gate`; folders of version 1
load through `Aligner.saved_config` and compute exactly as they did.

Crash safety. Both files go through the library's one atomic writer (`sggft_meta.io`):
`model.safetensors` is replaced first and `config.json` (which records the sha256 and size of
the weights) last, so an interrupted save leaves either the old complete pair or a pair whose
hash does not match, which `load_aligner` reports. `load_aligner` also refuses weights that
hold NaN or infinite values (a diverged meta-training), naming the tensor.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..errors import CheckpointError, RegistryError
from ..io import (CORRUPT_FIX, digest, json_bytes, library_version, load_tensors, read_json, read_verified, tensor_bytes,
                  write_bytes_atomic)
from .features import FEATURE_SPEC
from .registry import ALIGNERS

if TYPE_CHECKING:
    from .base import Aligner

FORMAT = "sggft-aligner"
FORMAT_VERSION = 2
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

_REQUIRED = {
    "format_version": int, "library_version": str, "type": str, "aligner_config": dict,
    "feature_spec": dict, "sources": list, "summary": dict, "weights": dict,
}


def _foreign(directory: Path, config: dict | None) -> str:
    """What a directory that is not a saved aligner seems to hold, for the error message."""
    if (directory / "adapter_config.json").is_file() or (config is not None and "peft_type" in config):
        return ("a PEFT adapter (adapter_config.json / peft_type), not a saved sggft aligner; "
                "load it as a backbone adapter, or point at the directory written by save_aligner")
    if config is not None and ("model_type" in config or "architectures" in config):
        mt = config.get("model_type") or ", ".join(map(str, config.get("architectures") or []))
        return (f"a Hugging Face model (config.json has model_type/architectures {mt!r}), not a saved "
                "sggft aligner; use it as a backbone (model.name=<path>), or point at the directory "
                "written by save_aligner")
    return (f'something else: its config.json has no "format": "{FORMAT}" tag, so it was not written '
            "by save_aligner; point at the directory written by save_aligner / Aligner.save_pretrained")


def read_aligner_config(directory: str | os.PathLike) -> dict:
    """The validated `config.json` of a saved aligner (type, sources, summary, ...), no weights read."""
    directory = Path(directory)
    if not directory.exists():
        raise CheckpointError(
            f"no saved aligner at {directory}: the directory does not exist; check the path, "
            "or save one with save_aligner / Aligner.save_pretrained"
        )
    if not directory.is_dir():
        raise CheckpointError(
            f"{directory} is a file, not a saved aligner directory; pass the directory that holds "
            f"{CONFIG_NAME} and {WEIGHTS_NAME}"
        )
    cfg_path = directory / CONFIG_NAME
    if not cfg_path.is_file():
        if (directory / "adapter_config.json").is_file():
            raise CheckpointError(f"{directory} holds {_foreign(directory, None)}")
        if (directory / WEIGHTS_NAME).is_file():
            raise CheckpointError(
                f"{directory}: {CONFIG_NAME} is missing beside {WEIGHTS_NAME}, so the aligner is "
                f"{CORRUPT_FIX}"
            )
        raise CheckpointError(
            f"{directory}: {CONFIG_NAME} is missing, so this is not a saved aligner; point at the "
            "directory written by save_aligner / Aligner.save_pretrained"
        )
    config = read_json(cfg_path, directory, "re-save the aligner (save_aligner writes it)")
    if config.get("format") != FORMAT:
        raise CheckpointError(f"{directory} holds {_foreign(directory, config)}")

    version = config.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise CheckpointError(
            f"{directory}: the aligner was written by sggft-meta {config.get('library_version', '?')} "
            f"in format version {version}; this sggft-meta {library_version()} reads format versions "
            f"up to {FORMAT_VERSION}: upgrade sggft-meta (pip install -U sggft-meta)"
        )
    missing = [k for k in _REQUIRED if k not in config]
    wrong = [f"{k} (expected {t.__name__}, got {type(config[k]).__name__})"
             for k, t in _REQUIRED.items()
             if k in config and (not isinstance(config[k], t) or isinstance(config[k], bool))]
    if missing or wrong:
        problems = (["missing fields: " + ", ".join(missing)] if missing else []) + \
                   (["fields of the wrong type: " + ", ".join(wrong)] if wrong else [])
        raise CheckpointError(
            f"{directory}: {CONFIG_NAME} is not a valid aligner config ({'; '.join(problems)}); "
            "it was edited or written by something else: re-save the aligner with save_aligner"
        )
    if version < 1:
        raise CheckpointError(f"{directory}: {CONFIG_NAME} has format_version {version}, which no "
                              "sggft-meta writes; re-save the aligner with save_aligner")
    weights = config["weights"]
    if not isinstance(weights.get("sha256"), str) or not isinstance(weights.get("bytes"), int):
        raise CheckpointError(
            f"{directory}: {CONFIG_NAME} field 'weights' lacks sha256/bytes of {WEIGHTS_NAME}; "
            "re-save the aligner with save_aligner"
        )
    if config["feature_spec"] != FEATURE_SPEC:
        diff = sorted(k for k in set(FEATURE_SPEC) | set(config["feature_spec"])
                      if FEATURE_SPEC.get(k) != config["feature_spec"].get(k))
        detail = "; ".join(f"{k}: saved {config['feature_spec'].get(k)!r}, this library {FEATURE_SPEC.get(k)!r}"
                           for k in diff)
        raise CheckpointError(
            f"{directory}: the aligner's feature spec is incompatible with this sggft-meta "
            f"{library_version()}'s features (differs in {detail}); retrain the aligner with this version, "
            f"or load it with sggft-meta {config['library_version']} that wrote it"
        )
    try:
        ALIGNERS.get(config["type"])
    except RegistryError as exc:
        raise CheckpointError(
            f"{directory}: {exc} Import the module that registers it before loading, "
            "or re-save the aligner under a registered type"
        ) from None
    return config


def save_aligner(aligner: "Aligner", directory: str | os.PathLike, *, sources: list[str] = (),
                 summary: dict | None = None) -> Path:
    """Write `aligner` to `directory` (config.json + model.safetensors); return the directory.

    `sources`: the source task names it was trained on; `summary`: any JSON dict (training
    steps, meta-loss, ...). Overwrites an aligner saved there before, crash-safely.
    """
    directory = Path(directory)
    if not isinstance(aligner, torch.nn.Module) or not hasattr(aligner, "gate_and_target"):
        raise CheckpointError(f"cannot save to {directory}: expected an Aligner, got {type(aligner).__name__}")
    type_name = getattr(type(aligner), "type_name", None)
    if type_name not in ALIGNERS or ALIGNERS.get(type_name) is not type(aligner):
        raise CheckpointError(
            f"cannot save to {directory}: {type(aligner).__name__} is not registered in ALIGNERS under its "
            f"type_name {type_name!r}, so it could not be loaded back; register it with "
            "@ALIGNERS.register(type_name)"
        )
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"cannot save to {directory}: it is a file; choose a directory path")
    cfg_path = directory / CONFIG_NAME
    if (directory / "adapter_config.json").is_file():
        raise CheckpointError(
            f"cannot save to {directory}: it already holds {_foreign(directory, None)}; "
            "save the aligner to an empty directory instead"
        )
    if cfg_path.is_file():
        try:
            old = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            old = None  # a broken aligner config: overwriting it is the fix
        if isinstance(old, dict) and old.get("format") != FORMAT:
            raise CheckpointError(
                f"cannot save to {directory}: it already holds {_foreign(directory, old)}; "
                "save the aligner to an empty directory instead"
            )
    sources = [sources] if isinstance(sources, str) else list(sources)
    bad = [s for s in sources if not isinstance(s, str)]
    if bad:
        raise CheckpointError(f"cannot save to {directory}: sources must be task names (strings), got {bad[0]!r}")
    if summary is not None and not isinstance(summary, dict):
        raise CheckpointError(f"cannot save to {directory}: summary must be a dict, got {type(summary).__name__}")

    state = aligner.state_dict()
    weights = tensor_bytes(state, directory)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": library_version(),
        "type": type_name,
        "aligner_config": aligner.config(),
        "feature_spec": FEATURE_SPEC,
        "sources": sources,
        "summary": summary or {},
        "weights": {"file": WEIGHTS_NAME, **digest(weights)},
        "tensors": {k: {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape)}
                    for k, v in state.items()},
    }
    config_bytes = json_bytes(config, "the aligner config (aligner.config(), sources or summary)", directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(directory / WEIGHTS_NAME, weights)  # first the weights ...
    write_bytes_atomic(cfg_path, config_bytes)             # ... then the config that vouches for them
    return directory


def load_aligner(directory: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> "Aligner":
    """The aligner saved in `directory`, rebuilt from its registered type, weights bitwise equal."""
    directory = Path(directory)
    config = read_aligner_config(directory)
    cls = ALIGNERS.get(config["type"])
    try:
        aligner = cls(**cls.saved_config(config["aligner_config"], config["format_version"]))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{directory}: aligner_config {config['aligner_config']} does not fit the constructor of "
            f"aligner {config['type']!r} ({exc}); the aligner was saved by another version of its class: "
            f"load it with sggft-meta {config['library_version']}, or re-save it"
        ) from None
    weights_path = directory / WEIGHTS_NAME
    data = read_verified(weights_path, config["weights"], directory, "the aligner")
    state = load_tensors(data, weights_path, directory, "the aligner")

    expected = aligner.state_dict()
    for name in sorted(set(expected) | set(state)):
        if name not in state:
            problem = f"tensor {name!r} that aligner {config['type']!r} needs is not in {WEIGHTS_NAME}"
        elif name not in expected:
            problem = f"{WEIGHTS_NAME} holds tensor {name!r}, which aligner {config['type']!r} does not have"
        elif tuple(state[name].shape) != tuple(expected[name].shape):
            problem = (f"tensor {name!r} has shape {list(state[name].shape)} in {WEIGHTS_NAME}, "
                       f"aligner {config['type']!r} with {config['aligner_config']} expects "
                       f"{list(expected[name].shape)}")
        else:
            continue
        raise CheckpointError(
            f"{directory}: the weights do not match the aligner: {problem}; the weights were written "
            "for another configuration or version of the aligner: re-save it"
        )
    for name in sorted(state):
        if state[name].is_floating_point() and not bool(torch.isfinite(state[name]).all()):
            raise CheckpointError(
                f"{directory}: tensor {name!r} in {WEIGHTS_NAME} holds NaN or infinite values, so the aligner was "
                "saved from a diverged meta-training; meta-train it again (lower meta.meta_lr or set "
                "meta.max_grad_norm), or use another aligner"
            )
    state = {k: v.to(map_location) for k, v in state.items()}
    # assign=True keeps the saved tensors themselves (dtype included): the load is bitwise
    aligner.load_state_dict(state, strict=True, assign=True)
    return aligner.to(map_location)
