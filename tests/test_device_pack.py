"""benchmarks/tools/device_pack.py and benchmarks/tools/device_grid.sh: the package tar splits into parts that reassemble
byte for byte under the recorded sha256, no part exceeds what one call carries, and bad input is
refused by name."""

import hashlib
import importlib.util
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "benchmarks" / "tools" / "device_pack.py"


@pytest.fixture()
def device_pack(monkeypatch):
    spec = importlib.util.spec_from_file_location("device_pack", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def fake_package(tmp_path, monkeypatch):
    """An importable package `fake_model_pkg` with 300 KiB of incompressible bytes and a __pycache__."""
    site = tmp_path / "site"
    pkg = site / "fake_model_pkg"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "__pycache__" / "x.pyc").write_bytes(b"stale")
    blob = hashlib.sha256(b"seed").digest() * (300 * 1024 // 32)
    (pkg / "weights.bin").write_bytes(blob)
    monkeypatch.syspath_prepend(str(site))
    return blob


def test_parts_reassemble_to_the_recorded_tar(device_pack, fake_package, tmp_path, monkeypatch):
    monkeypatch.setattr(device_pack, "FIRST_PART_BYTES", 100 * 1024)
    monkeypatch.setattr(device_pack, "PART_BYTES", 128 * 1024)
    out = tmp_path / "dev"
    manifest = device_pack.split_packages(out, ["fake_model_pkg"])
    parts = [out / f"part{k}" / f"packages.tar.{k}" for k in range(manifest["parts"])]
    assert manifest["parts"] == 3 and manifest["bytes"] > 228 * 1024  # 100 KiB + 128 + the rest (~310 KiB of tar)
    assert parts[0].stat().st_size == 100 * 1024
    assert all(p.stat().st_size <= 128 * 1024 for p in parts[1:])
    data = b"".join(p.read_bytes() for p in parts)
    assert len(data) == manifest["bytes"] and hashlib.sha256(data).hexdigest() == manifest["sha256"]
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        assert tar.extractfile("fake_model_pkg/weights.bin").read() == fake_package
    assert not any("__pycache__" in n for n in names)


def test_an_uninstalled_package_is_named(device_pack, tmp_path):
    with pytest.raises(SystemExit, match="package 'no_such_pkg_xyz' is not installed here"):
        device_pack.split_packages(tmp_path / "dev", ["no_such_pkg_xyz"])


def test_an_out_folder_git_does_not_ignore_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, str(TOOL), "--data", str(tmp_path), "--out", "benchmarks/tools/not_ignored_dir"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode != 0
    assert "is not ignored by git" in proc.stderr and not (ROOT / "benchmarks" / "tools" / "not_ignored_dir").exists()


def test_bad_input_is_refused_before_the_old_pack_is_removed(device_pack, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    (tmp_path / ".gitignore").write_text("/.device/\n")
    old = tmp_path / ".device" / "part1" / "packages.tar.1"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"an earlier pack")
    with pytest.raises(SystemExit, match="is not the data pack"):
        device_pack.main(["--data", str(tmp_path / "nowhere")])
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "MANIFEST.md").write_text("# tasks\n")
    with pytest.raises(SystemExit, match="package 'no_such_pkg_xyz' is not installed"):
        device_pack.main(["--data", str(tmp_path / "pack"), "--packages", "no_such_pkg_xyz"])
    assert old.read_bytes() == b"an earlier pack"


def test_device_grid_script_parses_and_wants_its_arguments():
    script = ROOT / "benchmarks" / "tools" / "device_grid.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert proc.returncode == 2 and "usage: bash benchmarks/tools/device_grid.sh GRID OUT_DIR SHARDS SECONDS" in proc.stderr
