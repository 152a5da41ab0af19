"""The transfer format of trained aligners, and the resumable checkpoints of the meta-learner.

A trained aligner is a directory (METHOD.md, "Transfer")::

    my_aligner/
      config.json        {"format": "sggft-aligner", "format_version": 1, "library_version",
                          "type", "aligner_config", "feature_spec", "sources", "summary",
                          "weights": {"file": "model.safetensors", "sha256", "bytes"}, "tensors"}
      model.safetensors  the aligner's state_dict

A training run keeps resumable checkpoints::

    run_dir/checkpoints/
      step-0000100/      tensors.safetensors + meta.json (sha256 and size of the tensors file)
      step-0000200/
      latest             text: "step-0000200"

Nothing is ever pickled or unpickled: tensors go through `safetensors`, everything else is JSON.

Crash safety. Every file is written to a temp file in its own directory, flushed, and
`os.replace`d into place. An aligner's `model.safetensors` is replaced first and `config.json`
(which records the sha256 and size of the weights) last, so an interrupted save leaves either
the old complete pair or a pair whose hash does not match, which `load_aligner` reports. A
checkpoint directory is built under a temp name and renamed into place (complete or absent);
`latest` is then replaced, then older checkpoints are pruned.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

import torch

from ..errors import CheckpointError, RegistryError
from ..report import json_safe
from .base import ALIGNERS, Aligner
from .features import FEATURE_SPEC

FORMAT = "sggft-aligner"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

CHECKPOINT_FORMAT = "sggft-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINTS_DIR = "checkpoints"
LATEST_NAME = "latest"
CKPT_TENSORS = "tensors.safetensors"
CKPT_META = "meta.json"
_STEP_RE = re.compile(r"^step-(\d{7,})$")

_REQUIRED = {
    "format_version": int, "library_version": str, "type": str, "aligner_config": dict,
    "feature_spec": dict, "sources": list, "summary": dict, "weights": dict,
}
_CORRUPT_FIX = ("incomplete or corrupt: the write was interrupted or the file was modified; "
                "re-save it, or resume from the run's checkpoints")


def _library_version() -> str:
    from .. import __version__

    return __version__


# ---------------------------------------------------------------------------------------------
# low-level: atomic writes, safetensors bytes


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not supported on this platform (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    """`data` to a temp file beside `path`, flushed to disk, then `os.replace`d onto `path`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _strict_json(value: Any, at: str = "") -> Any:
    """`value` as strict JSON: non-finite floats become None, numpy scalars Python numbers;
    tensors, arrays and other objects are refused (they would not round-trip)."""
    if isinstance(value, dict):
        bad = next((k for k in value if not isinstance(k, str)), None)
        if bad is not None:
            raise TypeError(f"key {bad!r} at {at or 'top level'} is not a string")
        return {k: _strict_json(v, f"{at}.{k}" if at else k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict_json(v, f"{at}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, torch.Tensor):
        raise TypeError(f"{at or 'value'} is a tensor")
    if value is None or isinstance(value, (str, bool, int, float)):
        return json_safe(value)
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return json_safe(value.item())
    raise TypeError(f"{at or 'value'} is a {type(value).__name__}")


def _json_bytes(payload: Any, what: str, where: Path, hint: str = "tensors go in the weights") -> bytes:
    try:
        text = json.dumps(_strict_json(payload), indent=2, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(
            f"cannot save to {where}: {what} is not JSON-serialisable ({exc}); "
            f"pass only dicts (string keys), lists, strings, numbers, booleans and None ({hint})"
        ) from None
    return (text + "\n").encode("utf-8")


def _tensor_bytes(tensors: Mapping[str, torch.Tensor], where: Path) -> bytes:
    """safetensors bytes of `tensors`: detached, on the CPU, contiguous, no shared storage."""
    from safetensors.torch import save

    flat = {}
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise CheckpointError(f"cannot save to {where}: tensor names must be strings, got {name!r}")
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"cannot save to {where}: {name!r} is a {type(value).__name__}, not a torch.Tensor; "
                "put non-tensor state in the JSON metadata"
            )
        # clone: safetensors refuses views sharing storage, and needs contiguous memory
        flat[name] = value.detach().to("cpu").clone(memory_format=torch.contiguous_format)
    return save(flat, metadata={"format": "pt"})


def _digest(data: bytes) -> dict:
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _read_verified(path: Path, expected: Mapping, owner: Path, what: str) -> bytes:
    """The bytes of `path`, checked against the size and sha256 recorded in `expected`."""
    if not path.is_file():
        raise CheckpointError(
            f"{owner}: {path.name} is missing, so {what} is incomplete (the write was interrupted "
            "or the file was removed); re-save it, or resume from the run's checkpoints"
        )
    data = path.read_bytes()
    if len(data) != expected["bytes"]:
        kind = "truncated" if len(data) < expected["bytes"] else "larger than recorded"
        raise CheckpointError(
            f"{owner}: {path.name} is {kind} ({len(data)} bytes, config records {expected['bytes']}): "
            f"{what} is {_CORRUPT_FIX}"
        )
    if hashlib.sha256(data).hexdigest() != expected["sha256"]:
        raise CheckpointError(
            f"{owner}: {path.name} does not match its recorded sha256: {what} is {_CORRUPT_FIX}"
        )
    return data


def _load_tensors(data: bytes, path: Path, owner: Path, what: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load

    try:
        return load(data)
    except Exception as exc:  # SafetensorError and friends; the hash matched, so it was saved broken
        raise CheckpointError(f"{owner}: {path.name} is not a readable safetensors file ({exc}): "
                              f"{what} is {_CORRUPT_FIX}") from None


def _read_json(path: Path, owner: Path, fix: str) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CheckpointError(f"{owner}: {path.name} is not valid JSON (not UTF-8 text); {fix}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointError(
            f"{owner}: {path.name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); {fix}"
        ) from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{owner}: {path.name} holds a JSON {type(value).__name__}, not an object; {fix}")
    return value


# ---------------------------------------------------------------------------------------------
# aligners: save_aligner / load_aligner


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
                f"{_CORRUPT_FIX}"
            )
        raise CheckpointError(
            f"{directory}: {CONFIG_NAME} is missing, so this is not a saved aligner; point at the "
            "directory written by save_aligner / Aligner.save_pretrained"
        )
    config = _read_json(cfg_path, directory, "re-save the aligner (save_aligner writes it)")
    if config.get("format") != FORMAT:
        raise CheckpointError(f"{directory} holds {_foreign(directory, config)}")

    version = config.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise CheckpointError(
            f"{directory}: the aligner was written by sggft-meta {config.get('library_version', '?')} "
            f"in format version {version}; this sggft-meta {_library_version()} reads format versions "
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
            f"{_library_version()}'s features (differs in {detail}); retrain the aligner with this version, "
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


def save_aligner(aligner: Aligner, directory: str | os.PathLike, *, sources: list[str] = (),
                 summary: dict | None = None) -> Path:
    """Write `aligner` to `directory` (config.json + model.safetensors); return the directory.

    `sources`: the source task names it was trained on; `summary`: any JSON dict (training
    steps, meta-loss, ...). Overwrites an aligner saved there before, crash-safely.
    """
    directory = Path(directory)
    if not isinstance(aligner, Aligner):
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
    weights = _tensor_bytes(state, directory)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": _library_version(),
        "type": type_name,
        "aligner_config": aligner.config(),
        "feature_spec": FEATURE_SPEC,
        "sources": sources,
        "summary": summary or {},
        "weights": {"file": WEIGHTS_NAME, **_digest(weights)},
        "tensors": {k: {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape)}
                    for k, v in state.items()},
    }
    config_bytes = _json_bytes(config, "the aligner config (aligner.config(), sources or summary)", directory)
    directory.mkdir(parents=True, exist_ok=True)
    _write_bytes_atomic(directory / WEIGHTS_NAME, weights)  # first the weights ...
    _write_bytes_atomic(cfg_path, config_bytes)             # ... then the config that vouches for them
    return directory


def load_aligner(directory: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> Aligner:
    """The aligner saved in `directory`, rebuilt from its registered type, weights bitwise equal."""
    directory = Path(directory)
    config = read_aligner_config(directory)
    cls = ALIGNERS.get(config["type"])
    try:
        aligner = cls(**config["aligner_config"])
    except TypeError as exc:
        raise CheckpointError(
            f"{directory}: aligner_config {config['aligner_config']} does not fit the constructor of "
            f"aligner {config['type']!r} ({exc}); the aligner was saved by another version of its class: "
            f"load it with sggft-meta {config['library_version']}, or re-save it"
        ) from None
    weights_path = directory / WEIGHTS_NAME
    data = _read_verified(weights_path, config["weights"], directory, "the aligner")
    state = _load_tensors(data, weights_path, directory, "the aligner")

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
    state = {k: v.to(map_location) for k, v in state.items()}
    # assign=True keeps the saved tensors themselves (dtype included): the load is bitwise
    aligner.load_state_dict(state, strict=True, assign=True)
    return aligner.to(map_location)


# ---------------------------------------------------------------------------------------------
# training checkpoints: write_checkpoint / read_latest_checkpoint


def _step_dirs(ckdir: Path) -> list[tuple[int, Path]]:
    """Complete-looking `step-*` directories, oldest first."""
    out = []
    for p in ckdir.iterdir() if ckdir.is_dir() else ():
        m = _STEP_RE.match(p.name)
        if m and p.is_dir():
            out.append((int(m.group(1)), p))
    return sorted(out)


def write_checkpoint(run_dir: str | os.PathLike, step: int, tensors: dict[str, torch.Tensor], meta: dict,
                     keep: int = 2) -> Path:
    """Write `run_dir/checkpoints/step-{step:07d}/` (tensors + JSON meta), point `latest` at it,
    prune older checkpoints beyond `keep`; return the checkpoint directory.

    The directory is built under a temp name and renamed into place, so it exists complete or
    not at all. `tensors` may hold any dtype (generator states are uint8) and 0-dim tensors.
    """
    run_dir = Path(run_dir)
    ckdir = run_dir / CHECKPOINTS_DIR
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise CheckpointError(f"cannot checkpoint into {ckdir}: step must be an int >= 0, got {step!r}")
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise CheckpointError(f"cannot checkpoint into {ckdir}: keep must be an int >= 1, got {keep!r}")
    if not isinstance(tensors, Mapping):
        raise CheckpointError(f"cannot checkpoint into {ckdir}: tensors must be a dict of name -> tensor")
    if not isinstance(meta, Mapping):
        raise CheckpointError(f"cannot checkpoint into {ckdir}: meta must be a dict of JSON values")

    name = f"step-{step:07d}"
    data = _tensor_bytes(tensors, ckdir / name)
    meta_bytes = _json_bytes(
        {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION, "library_version": _library_version(),
         "step": step, "tensors": {"file": CKPT_TENSORS, **_digest(data)}, "meta": dict(meta)},
        "the checkpoint meta", ckdir / name, "tensors go in the `tensors` argument",
    )
    ckdir.mkdir(parents=True, exist_ok=True)
    for stale in ckdir.glob(".step-*.tmp"):  # left by a crashed write
        shutil.rmtree(stale, ignore_errors=True)

    tmp = Path(tempfile.mkdtemp(dir=ckdir, prefix=f".{name}.", suffix=".tmp"))
    final = ckdir / name
    try:
        for fname, payload in ((CKPT_TENSORS, data), (CKPT_META, meta_bytes)):
            with open(tmp / fname, "wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
        _fsync_dir(tmp)
        if final.exists():  # the same step written again (a resumed run): move the old one aside
            old = Path(tempfile.mkdtemp(dir=ckdir, prefix=f".{name}.old.", suffix=".tmp"))
            os.replace(final, old / name)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(ckdir)
    _write_bytes_atomic(ckdir / LATEST_NAME, (name + "\n").encode("utf-8"))

    older = [p for s, p in _step_dirs(ckdir) if s < step]
    for p in older[: max(0, len(older) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)
    return final


def _read_checkpoint_dir(path: Path) -> tuple[int, dict[str, torch.Tensor], dict]:
    fix = "delete this checkpoint directory to resume from the previous one, or restart the run"
    meta_path = path / CKPT_META
    if not meta_path.is_file():
        raise CheckpointError(f"checkpoint {path}: {CKPT_META} is missing, so it is incomplete; {fix}")
    doc = _read_json(meta_path, path, fix)
    if doc.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f'checkpoint {path}: {CKPT_META} has no "format": "{CHECKPOINT_FORMAT}" tag, '
                              f"so it was not written by write_checkpoint; {fix}")
    version = doc.get("format_version")
    if isinstance(version, int) and version > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} was written by sggft-meta {doc.get('library_version', '?')} in checkpoint "
            f"format version {version}; this sggft-meta {_library_version()} reads up to "
            f"{CHECKPOINT_VERSION}: upgrade sggft-meta to resume this run"
        )
    rec = doc.get("tensors")
    missing = [k for k in ("format_version", "step", "tensors", "meta") if k not in doc]
    if missing or not isinstance(rec, dict) or not isinstance(rec.get("sha256"), str) \
            or not isinstance(rec.get("bytes"), int) or not isinstance(doc.get("meta"), dict) \
            or not isinstance(doc.get("step"), int):
        detail = f"missing fields: {', '.join(missing)}" if missing else "fields of the wrong type"
        raise CheckpointError(f"checkpoint {path}: {CKPT_META} is not a valid checkpoint record ({detail}); {fix}")
    m = _STEP_RE.match(path.name)
    if m and int(m.group(1)) != doc["step"]:
        raise CheckpointError(f"checkpoint {path}: {CKPT_META} records step {doc['step']}, not the step in "
                              f"its directory name; it was moved or edited; {fix}")
    tpath = path / CKPT_TENSORS
    data = _read_verified(tpath, rec, path, "the checkpoint")
    tensors = _load_tensors(data, tpath, path, "the checkpoint")
    return doc["step"], tensors, doc["meta"]


def read_latest_checkpoint(run_dir: str | os.PathLike) -> tuple[int, dict[str, torch.Tensor], dict] | None:
    """(step, tensors, meta) of the newest checkpoint of `run_dir`, or None if it has none.

    `checkpoints/latest` names it; if `latest` is missing, unreadable, or names a directory that
    is gone, the newest `step-*` directory is used. A corrupt checkpoint raises CheckpointError.
    """
    ckdir = Path(run_dir) / CHECKPOINTS_DIR
    if not ckdir.is_dir():
        return None
    latest = ckdir / LATEST_NAME
    target: Path | None = None
    if latest.is_file():
        try:
            name = latest.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            name = ""
        if _STEP_RE.match(name) and (ckdir / name).is_dir():
            target = ckdir / name
    if target is None:
        dirs = _step_dirs(ckdir)
        if not dirs:
            return None
        target = dirs[-1][1]
    return _read_checkpoint_dir(target)


# --------------------------------------------------------------------- trainer state as tensors
def trainer_state_tensors(optimizer: torch.optim.Optimizer | None, params: list[torch.Tensor],
                          samplers: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Adam moments and step of each parameter, and each episode sampler's generator state, as
    flat tensors for `write_checkpoint` (`load_trainer_state` puts them back)."""
    tensors = {f"gen.task.{name}": sampler.generator.get_state() for name, sampler in samplers.items()}
    if optimizer is not None:
        for i, p in enumerate(params):
            st = optimizer.state.get(p, {})
            for key in ("exp_avg", "exp_avg_sq", "step"):
                if key in st:
                    tensors[f"adam.{i}.{key}"] = torch.as_tensor(st[key]).detach().cpu()
    return tensors


def load_trainer_state(tensors: Mapping[str, torch.Tensor], optimizer: torch.optim.Optimizer | None,
                       params: list[torch.Tensor], samplers: Mapping[str, Any], device) -> None:
    for name, sampler in samplers.items():
        sampler.generator.set_state(tensors[f"gen.task.{name}"])
    if optimizer is not None:
        for i, p in enumerate(params):
            if f"adam.{i}.exp_avg" in tensors:
                optimizer.state[p] = {"step": tensors[f"adam.{i}.step"].clone(),
                                      "exp_avg": tensors[f"adam.{i}.exp_avg"].to(device).clone(),
                                      "exp_avg_sq": tensors[f"adam.{i}.exp_avg_sq"].to(device).clone()}
