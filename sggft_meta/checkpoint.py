"""Resumable checkpoints of a meta-training run (the aligner's, or a meta-learned initialisation's).

A training run keeps resumable checkpoints::

    run_dir/checkpoints/
      step-0000100/      tensors.safetensors + meta.json (sha256 and size of the tensors file)
      step-0000200/
      latest             text: "step-0000200"

Nothing is ever pickled or unpickled: tensors go through `safetensors`, everything else is JSON.

Crash safety. A checkpoint directory is built under a temp name (`sggft_meta.io.make_temp_dir`,
each file flushed and fsynced) and renamed into place, so it exists complete or not at all;
`latest` is then replaced by the library's atomic writer, then older checkpoints are pruned.
Directories and files get the umask's permissions, as any other the process creates.

`trainer_state_tensors` / `load_trainer_state` turn an outer optimizer's moments and the episode
samplers' generator states into flat tensors and back, so a resumed run continues bitwise.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Mapping

import torch

from .errors import CheckpointError
from .io import (digest, fsync_dir, json_bytes, library_version, load_tensors, make_temp_dir, read_json, read_verified,
                 tensor_bytes, write_bytes_atomic, write_new_file)

CHECKPOINT_FORMAT = "sggft-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINTS_DIR = "checkpoints"
LATEST_NAME = "latest"
CKPT_TENSORS = "tensors.safetensors"
CKPT_META = "meta.json"
_STEP_RE = re.compile(r"^step-(\d{7,})$")


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
    data = tensor_bytes(tensors, ckdir / name)
    meta_bytes = json_bytes(
        {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION, "library_version": library_version(),
         "step": step, "tensors": {"file": CKPT_TENSORS, **digest(data)}, "meta": dict(meta)},
        "the checkpoint meta", ckdir / name, "tensors go in the `tensors` argument",
    )
    ckdir.mkdir(parents=True, exist_ok=True)
    for stale in ckdir.glob(".step-*.tmp"):  # left by a crashed write
        shutil.rmtree(stale, ignore_errors=True)

    tmp = make_temp_dir(ckdir, f".{name}.")
    final = ckdir / name
    try:
        for fname, payload in ((CKPT_TENSORS, data), (CKPT_META, meta_bytes)):
            write_new_file(tmp / fname, payload)
        fsync_dir(tmp)
        if final.exists():  # the same step written again (a resumed run): move the old one aside
            old = make_temp_dir(ckdir, f".{name}.old.")
            os.replace(final, old / name)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(ckdir)
    write_bytes_atomic(ckdir / LATEST_NAME, (name + "\n").encode("utf-8"))

    older = [p for s, p in _step_dirs(ckdir) if s < step]
    for p in older[: max(0, len(older) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)
    return final


def _read_checkpoint_dir(path: Path) -> tuple[int, dict[str, torch.Tensor], dict]:
    fix = "delete this checkpoint directory to resume from the previous one, or restart the run"
    meta_path = path / CKPT_META
    if not meta_path.is_file():
        raise CheckpointError(f"checkpoint {path}: {CKPT_META} is missing, so it is incomplete; {fix}")
    doc = read_json(meta_path, path, fix)
    if doc.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f'checkpoint {path}: {CKPT_META} has no "format": "{CHECKPOINT_FORMAT}" tag, '
                              f"so it was not written by write_checkpoint; {fix}")
    version = doc.get("format_version")
    if isinstance(version, int) and version > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} was written by sggft-meta {doc.get('library_version', '?')} in checkpoint "
            f"format version {version}; this sggft-meta {library_version()} reads up to "
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
    data = read_verified(tpath, rec, path, "the checkpoint")
    tensors = load_tensors(data, tpath, path, "the checkpoint")
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
    """Put back what `trainer_state_tensors` saved: the samplers' generators, and the optimizer's
    moments and step of each parameter (on `device`)."""
    for name, sampler in samplers.items():
        sampler.generator.set_state(tensors[f"gen.task.{name}"])
    if optimizer is not None:
        for i, p in enumerate(params):
            if f"adam.{i}.exp_avg" in tensors:
                optimizer.state[p] = {"step": tensors[f"adam.{i}.step"].clone(),
                                      "exp_avg": tensors[f"adam.{i}.exp_avg"].to(device).clone(),
                                      "exp_avg_sq": tensors[f"adam.{i}.exp_avg_sq"].to(device).clone()}
