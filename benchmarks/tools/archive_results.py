"""Pack the raw files of finished benchmark runs into one reproducible `tar.xz` each, and take them
out of the checkout, keeping what the documentation reads.

A run folder (the --out of `sggft-bench run`) keeps its tables and figures in the tree: results.md,
summary.json, manifest.json, grid.yaml, every other *.md and every *.png (the tables link to them),
plus the files named with `--keep`. Everything else (cells/ records, meta-training records and
checkpoint metadata under meta/, logs, scripts of the run) goes into ARCHIVES/<name>.tar.xz, with
paths relative to the folder that holds the run folders, so that

    tar -xJf docs/results/archives/<name>.tar.xz -C docs/results

puts them back (then `sggft-bench aggregate docs/results/<name>` redraws the tables and plots, and
a grid that `reuse`s the run finds its cells). Weight files (*.safetensors: learned inits, aligners,
checkpoints) are deleted, not archived: the grid's command makes them again. The archive is
byte-for-byte reproducible (sorted members, fixed times and owners), and its sha256 is printed.
A single file (a raw record beside its Markdown table) is archived whole, as <stem>.tar.xz.

    python benchmarks/tools/archive_results.py docs/results/baselines [docs/results/lodo_nli ...]
        [--archives docs/results/archives] [--keep meta/sggft_learned/nli/config.json] [--dry-run]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import lzma
import sys
import tarfile
from pathlib import Path

KEEP_NAMES = {"results.md", "summary.json", "manifest.json", "grid.yaml", "README.md"}
KEEP_SUFFIXES = {".md", ".png"}
WEIGHTS = ".safetensors"


def kept(path: Path, run: Path, keep: set[str]) -> bool:
    """Whether `path` (a file under the run folder `run`) stays in the tree."""
    rel = path.relative_to(run).as_posix()
    if rel in keep:
        return True
    top_level = "/" not in rel or all(part not in ("cells", "meta") for part in path.relative_to(run).parts[:-1])
    return top_level and (path.name in KEEP_NAMES or path.suffix in KEEP_SUFFIXES)


def split(run: Path, keep: set[str]) -> tuple[list[Path], list[Path]]:
    """(files to archive, weight files to delete) of one run folder."""
    archive, weights = [], []
    for path in sorted(p for p in run.rglob("*") if p.is_file()):
        if path.suffix == WEIGHTS:
            weights.append(path)
        elif not kept(path, run, keep) and path.name != ".lock":
            archive.append(path)
    return archive, weights


def write_archive(files: list[Path], base: Path, out: Path) -> str:
    """A reproducible tar.xz of `files` (paths relative to `base`); returns its sha256."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in files:
            info = tar.gettarinfo(str(path), arcname=path.relative_to(base).as_posix())
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o755 if info.mode & 0o111 else 0o644
            with open(path, "rb") as handle:
                tar.addfile(info, handle)
    data = lzma.compress(buf.getvalue(), format=lzma.FORMAT_XZ, preset=9)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return hashlib.sha256(data).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (the --out of sggft-bench run), or single files")
    parser.add_argument("--archives", type=Path, help="where the archives go (default: archives/ beside the runs)")
    parser.add_argument("--keep", action="append", default=[],
                        help="a file to keep in the tree, relative to its run folder (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be archived and deleted, change nothing")
    args = parser.parse_args(argv)
    for run in args.runs:
        if not run.exists():
            print(f"archive_results: {run} does not exist; give the --out folder of `sggft-bench run` or a file", file=sys.stderr)
            return 2
        if run.resolve().parent == (args.archives or run.parent / "archives").resolve():
            print(f"archive_results: {run} is inside the archives folder; give a run folder", file=sys.stderr)
            return 2
    for run in args.runs:
        base = run.parent
        archive, weights = split(run, set(args.keep)) if run.is_dir() else ([run], [])
        if not archive and not weights:
            print(f"{run}: nothing to archive")
            continue
        out = (args.archives or base / "archives") / f"{run.name if run.is_dir() else run.stem}.tar.xz"
        size = sum(p.stat().st_size for p in archive)
        if args.dry_run:
            print(f"{run}: would archive {len(archive)} files ({size / 2**20:.1f} MiB) into {out}, "
                  f"delete {len(weights)} weight files")
            continue
        digest = write_archive(archive, base, out) if archive else None
        for path in archive + weights:
            path.unlink()
        for folder in sorted((p for p in run.rglob("*") if p.is_dir()) if run.is_dir() else (), key=lambda p: len(p.parts), reverse=True):
            if not any(folder.iterdir()):
                folder.rmdir()
        print(f"{run}: {len(archive)} files ({size / 2**20:.1f} MiB) -> {out} "
              f"({out.stat().st_size / 2**20:.2f} MiB), sha256 {digest}; {len(weights)} weight files deleted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
