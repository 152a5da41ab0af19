"""The library's one atomic writer (`sggft_meta.io`): content, crash safety, permissions under the umask."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import torch

from sggft_meta import io
from sggft_meta.errors import CheckpointError

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


@pytest.fixture
def umask():
    """Set the process umask for one test, and put the old one back."""
    old = os.umask(0o022)
    os.umask(old)

    def set_(mask: int) -> None:
        os.umask(mask)

    yield set_
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_bytes_atomic_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "f.bin"
    io.write_bytes_atomic(target, b"one")
    io.write_bytes_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    io.write_json_atomic(target, {"a": 1})

    def crash(src, dst):
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        io.write_json_atomic(target, {"a": 2})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_write_json_atomic_is_strict_json_and_makes_parents(tmp_path):
    import numpy as np

    target = tmp_path / "deep" / "er" / "r.json"
    io.write_json_atomic(target, {"nan": float("nan"), "inf": float("-inf"), "np": np.float32(0.5), "t": (1, 2)})
    text = target.read_text()
    assert text.endswith("\n") and "NaN" not in text
    assert json.loads(text) == {"nan": None, "inf": None, "np": 0.5, "t": [1, 2]}
    from sggft_meta.report import write_json_atomic

    assert write_json_atomic is io.write_json_atomic  # the results writer is the same one


@posix_only
@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_files_and_directories_respect_the_umask(tmp_path, umask, mask):
    from sggft_meta.align import ALIGNERS, save_aligner
    from sggft_meta.checkpoint import write_checkpoint

    umask(mask)
    io.write_bytes_atomic(tmp_path / "b.bin", b"x")
    io.write_json_atomic(tmp_path / "j" / "r.json", {"a": 1})
    assert mode(tmp_path / "b.bin") == 0o666 & ~mask
    assert mode(tmp_path / "j" / "r.json") == 0o666 & ~mask

    step = write_checkpoint(tmp_path / "run", 3, {"x": torch.ones(2)}, {"s": 3})
    assert mode(step) == 0o777 & ~mask  # not mkdtemp's 0700
    for name in ("tensors.safetensors", "meta.json"):
        assert mode(step / name) == 0o666 & ~mask
    assert mode(step.parent / "latest") == 0o666 & ~mask

    d = save_aligner(ALIGNERS.get("learned")(hidden=4), tmp_path / "al")
    for name in ("config.json", "model.safetensors"):
        assert mode(d / name) == 0o666 & ~mask


def test_verified_reads(tmp_path):
    data = io.tensor_bytes({"w": torch.arange(4.0)}, tmp_path)
    rec = io.digest(data)
    assert rec["bytes"] == len(data) and len(rec["sha256"]) == 64
    path = tmp_path / "w.safetensors"
    io.write_bytes_atomic(path, data)
    assert torch.equal(io.load_tensors(io.read_verified(path, rec, tmp_path, "the test"), path, tmp_path, "the test")["w"],
                       torch.arange(4.0))
    path.write_bytes(data[:-1])
    with pytest.raises(CheckpointError, match="truncated"):
        io.read_verified(path, rec, tmp_path, "the test")
    path.write_bytes(data[:-1] + b"\0")
    with pytest.raises(CheckpointError, match="sha256"):
        io.read_verified(path, rec, tmp_path, "the test")
    path.unlink()
    with pytest.raises(CheckpointError, match="is missing"):
        io.read_verified(path, rec, tmp_path, "the test")


def test_json_bytes_refuses_what_does_not_round_trip(tmp_path):
    assert json.loads(io.json_bytes({"a": [1, float("nan")]}, "x", tmp_path)) == {"a": [1, None]}
    for bad in ({"t": torch.zeros(1)}, {1: "int key"}, {"o": object()}):
        with pytest.raises(CheckpointError, match="not JSON-serialisable"):
            io.json_bytes(bad, "the record", tmp_path)
    (tmp_path / "l.json").write_text("[1]")
    with pytest.raises(CheckpointError, match="not an object"):
        io.read_json(tmp_path / "l.json", tmp_path, "fix it")
