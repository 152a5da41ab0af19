"""Atomic file I/O: the one writer every file of the library goes through, and verified reads.

Writing. `write_bytes_atomic` puts the bytes in a temp file in the target's own directory,
flushes and fsyncs it, `os.replace`s it onto the target and fsyncs the directory: a crash
leaves the old file or the new one, never half of one. `write_json_atomic` builds on it;
`make_temp_dir` + `write_new_file` build a directory that is then renamed into place whole (the
training checkpoint's step directories). Files and directories are created with modes 0o666
and 0o777, so the umask decides their permissions as for any other file the process creates
(not the 0600 / 0700 of `tempfile.mkstemp` / `mkdtemp`).

Reading. `digest` records the sha256 and size of bytes written; `read_verified` reads them
back and checks both; `read_json` reads a JSON object and `load_tensors` safetensors bytes,
each raising `CheckpointError` with the owner directory and a fix.

Nothing is ever pickled: tensors go through `safetensors`, everything else is strict JSON.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import time
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import CheckpointError, DataError

CORRUPT_FIX = ("incomplete or corrupt: the write was interrupted or the file was modified; "
               "re-save it, or resume from the run's checkpoints")


def library_version() -> str:
    """The version of sggft-meta that writes a file (recorded in every saved format)."""
    from .version import __version__

    return __version__


# ---------------------------------------------------------------------------------------------
# writing


def fsync_dir(directory: Path) -> None:
    """Flush a directory's entries (a rename into it) to disk; a no-op where unsupported."""
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


def _temp_name(parent: Path, prefix: str) -> Path:
    return parent / f"{prefix}{os.urandom(6).hex()}.tmp"


def _create_temp_file(parent: Path, prefix: str) -> tuple[int, Path]:
    """A new file `{prefix}<random>.tmp` in `parent`, open for writing; created with mode 0o666,
    so the umask decides its permissions as for any other file (`mkstemp` gives 0600)."""
    for _ in range(100):
        path = _temp_name(parent, prefix)
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name in {parent}")


def make_temp_dir(parent: Path, prefix: str) -> Path:
    """A new empty directory `{prefix}<random>.tmp` in `parent`, created with mode 0o777, so the
    umask decides its permissions as for any other directory (`mkdtemp` gives 0700)."""
    for _ in range(100):
        path = _temp_name(parent, prefix)
        try:
            os.mkdir(path, 0o777)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary directory name in {parent}")


def publish_folder(tmp: Path, target: Path, still_current: Callable[[], bool] = lambda: False) -> Path:
    """Move the finished folder `tmp` into place as `target` (a saved model, a cache built once).
    An existing `target` is swapped out first and removed after; if anything fails it is put
    back. If the rename fails because another process published first, its folder is kept when
    `still_current()` says it is good. `tmp` never outlives the call."""
    old = None
    try:
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}-{time.time_ns()}")
            os.replace(target, old)
        try:
            os.replace(tmp, target)
        except OSError:
            if not still_current():
                raise
        fsync_dir(target.parent)
    except BaseException:
        if old is not None and not target.exists():
            os.replace(old, target)
            old = None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return target


@contextmanager
def building_folder(target: Path, record_name: str, still_current: Callable[[], bool], prefix: str | None = None):
    """Build a folder once and publish it whole (a converted or assembled model in the cache):
    yields `(tmp, record)`, a new temp folder beside `target` to fill and a dict to describe what
    was built. When the block ends normally, `record` (plus the seconds taken) is written to
    `tmp / record_name` and `tmp` is published as `target` (`publish_folder`); when it raises,
    `tmp` is removed and nothing at `target` changes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(target.parent, prefix or f".{target.name}.tmp-")
    record: dict = {}
    start = time.perf_counter()
    try:
        yield tmp, record
        record["seconds"] = round(time.perf_counter() - start, 1)
        write_new_file(tmp / record_name, (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish_folder(tmp, target, still_current)


def check_writable(path: Path, flag: str = "--out", *, folder: bool = False) -> Path:
    """The nearest existing folder that holds `path` (a file; with `folder`, `path` itself, or
    where it will be created), checked by creating and removing a file in it: permission bits
    alone miss read-only file systems, and a privileged user passes them anyway. DataError when
    it cannot be written to."""
    existing = path.absolute() if folder else path.absolute().parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise DataError(f"{flag} {path}: cannot create it, {existing} is a file, not a folder; choose another location")
    probe = existing / f".sggft-meta-write-check-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        reason = "read-only file system" if exc.errno == errno.EROFS else (exc.strerror or str(exc)).lower()
        raise DataError(f"{flag} {path}: cannot write to {existing} ({reason}); choose a writable location") from None
    os.close(fd)
    os.unlink(probe)
    return existing


def write_new_file(path: Path, data: bytes) -> None:
    """`data` into a file that does not exist yet (umask permissions), flushed and fsynced; for
    files inside a temp directory that is renamed into place as a whole."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """`data` to a temp file beside `path`, flushed and fsynced, `os.replace`d onto `path`, and
    the directory fsynced: a crash leaves the old file or the new one, never part of one."""
    path = Path(path)
    fd, tmp = _create_temp_file(path.parent, f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def json_safe(value):
    """`value` with NaN and infinities replaced by None (strict JSON), numpy scalars as Python."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError):
            return value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json_atomic(path: str | os.PathLike, payload) -> None:
    """`payload` as indented JSON (NaN and infinities as null, `json_safe`), written atomically
    by `write_bytes_atomic`; the parent directories are created."""
    path = Path(path)
    text = json.dumps(json_safe(payload), indent=2, allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, text.encode("utf-8"))


def strict_json(value: Any, at: str = "") -> Any:
    """`value` as strict JSON: non-finite floats become None, numpy scalars Python numbers;
    tensors, arrays and other objects are refused (they would not round-trip)."""
    if isinstance(value, dict):
        bad = next((k for k in value if not isinstance(k, str)), None)
        if bad is not None:
            raise TypeError(f"key {bad!r} at {at or 'top level'} is not a string")
        return {k: strict_json(v, f"{at}.{k}" if at else k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v, f"{at}[{i}]") for i, v in enumerate(value)]
    torch = sys.modules.get("torch")  # a tensor exists only once torch is imported
    if torch is not None and isinstance(value, torch.Tensor):
        raise TypeError(f"{at or 'value'} is a tensor")
    if value is None or isinstance(value, (str, bool, int, float)):
        return json_safe(value)
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return json_safe(value.item())
    raise TypeError(f"{at or 'value'} is a {type(value).__name__}")


def json_bytes(payload: Any, what: str, where: Path, hint: str = "tensors go in the weights") -> bytes:
    """`payload` as strict, indented JSON bytes; CheckpointError naming `what` and `where` if
    it holds anything JSON cannot round-trip."""
    try:
        text = json.dumps(strict_json(payload), indent=2, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(
            f"cannot save to {where}: {what} is not JSON-serialisable ({exc}); "
            f"pass only dicts (string keys), lists, strings, numbers, booleans and None ({hint})"
        ) from None
    return (text + "\n").encode("utf-8")


def tensor_bytes(tensors: Mapping[str, Any], where: Path) -> bytes:
    """safetensors bytes of `tensors`: detached, on the CPU, contiguous, no shared storage."""
    import torch
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


def sha256_file(path: Path) -> str:
    """The sha256 (hex) of a file, read in 1 MiB blocks (model weights do not fit in memory twice)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def digest(data: bytes) -> dict:
    """{"sha256", "bytes"} of `data`, as the formats record them for `read_verified`."""
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


# ---------------------------------------------------------------------------------------------
# reading


def read_verified(path: Path, expected: Mapping, owner: Path, what: str) -> bytes:
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
            f"{what} is {CORRUPT_FIX}"
        )
    if hashlib.sha256(data).hexdigest() != expected["sha256"]:
        raise CheckpointError(
            f"{owner}: {path.name} does not match its recorded sha256: {what} is {CORRUPT_FIX}"
        )
    return data


def load_tensors(data: bytes, path: Path, owner: Path, what: str) -> dict:
    """The tensors of safetensors `data` (read from `path`); CheckpointError if unreadable."""
    from safetensors.torch import load

    try:
        return load(data)
    except Exception as exc:  # SafetensorError and friends; the hash matched, so it was saved broken
        raise CheckpointError(f"{owner}: {path.name} is not a readable safetensors file ({exc}): "
                              f"{what} is {CORRUPT_FIX}") from None


def read_json(path: Path, owner: Path, fix: str) -> dict:
    """The JSON object in `path`; CheckpointError (with `fix`) if it is not UTF-8 JSON or not an object."""
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
