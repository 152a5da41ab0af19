"""The harness is its own package: `sggft_bench` (benchmarks/) imports the library's public names,
the library imports nothing of the harness, and a grid runs end to end through `sggft-bench`."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "sggft_meta"
HARNESS = ROOT / "benchmarks"


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, imported names) of every import statement in `path`."""
    found = []
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against the file's package
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*base, module] if module else base)
            found.append((node.lineno, module, [alias.name for alias in node.names]))
    return found


def _python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts and ".egg-info" not in str(p))


def test_the_library_imports_nothing_of_the_harness():
    files = _python_files(LIBRARY) + _python_files(ROOT / "tasks")
    assert len(files) > 20
    bad = [f"{p.relative_to(ROOT)}:{line}: {module}" for p in files for line, module, names in _imports(p)
           if module.split(".")[0] == "sggft_bench" or module in ("sggft_meta.bench", "sggft_meta.heap")
           or module.startswith("sggft_meta.bench.") or module == "sggft_meta.baselines.setfit_runner"]
    assert not bad, "the library must not import the harness (benchmarks/sggft_bench):\n" + "\n".join(bad)
    assert not (LIBRARY / "bench").exists() and not (LIBRARY / "heap.py").exists()
    assert not (LIBRARY / "baselines" / "setfit_runner.py").exists()


def test_the_harness_uses_only_public_names_of_the_library():
    files = _python_files(HARNESS)
    assert any(p.name == "runner.py" for p in files) and any(p.name == "results_digest.py" for p in files)
    bad = []
    for p in files:
        for line, module, names in _imports(p):
            if module.split(".")[0] != "sggft_meta":
                continue
            private = [part for part in module.split(".") if part.startswith("_")]
            private += [n for n in names if n.startswith("_")]
            if private:
                bad.append(f"{p.relative_to(ROOT)}:{line}: from {module} import {', '.join(names)}")
    assert not bad, "the harness imports private names of the library:\n" + "\n".join(bad)


def test_the_library_command_line_has_no_bench_command(capsys):
    from sggft_meta.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "run", "g.yaml", "--out", "o"])
    assert exit_info.value.code == 2 and "invalid choice: 'bench'" in capsys.readouterr().err


def test_bench_command_line_lists_its_commands_and_refuses_bad_input(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    shown = subprocess.run([sys.executable, "-m", "sggft_bench", "--help"], capture_output=True, text=True, env=env)
    assert shown.returncode == 0 and "{run,aggregate,setfit}" in shown.stdout
    missing = subprocess.run([sys.executable, "-m", "sggft_bench", "aggregate", str(tmp_path / "nowhere")],
                             capture_output=True, text=True, env=env)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    line = missing.stderr.strip()
    assert line.startswith("sggft-bench: error: ") and "has no cells/ folder" in line and "\n" not in line


@pytest.mark.slow
def test_example_grid_runs_end_to_end_through_the_command_line(tiny_bert_dir, tmp_path):
    """benchmarks/grids/example.yaml, shrunk to one task, K, seed and two steps on a tiny BERT, run
    by `python -m sggft_bench run` (a fresh process: only what the installed packages provide)."""
    tree = yaml.safe_load((HARNESS / "grids" / "example.yaml").read_text(encoding="utf-8"))
    tree.update(tasks=[tree["tasks"][0]], shots=[4], seeds=[13])
    tree["base"] = [f"model.name={tiny_bert_dir}", "model.device=cpu", "data.max_length=32", "train.max_steps=2",
                    "train.eval_every=2", "model.lora.targets=[query,value]"]
    grid = tmp_path / "example_tiny.yaml"
    grid.write_text(yaml.safe_dump(tree), encoding="utf-8")
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "sggft_bench", "run", str(grid), "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    n = len(tree["methods"])
    assert f"{n} cells run, 0 skipped (done earlier), 0 failed, of {n}" in done.stdout
    records = sorted((out / "cells").glob("*/*/k4/seed13.json"))
    assert [r.parts[-4] for r in records] == sorted(tree["methods"])
    for r in records:
        rec = json.loads(r.read_text())
        assert rec["status"] == "ok" and 0.0 <= rec["test_metric"] <= 1.0 and rec["steps"] >= 1
        assert f"python -m sggft_bench run {grid} --out {out}" in rec["command"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cells"] == {"expected": n, "ok": n, "errors": 0, "missing": 0, "ignored": 0}
    assert summary["per_k"]["4"]["comparison"]["focus"] == tree["focus"]
    assert (out / "results.md").is_file() and (out / "metric_vs_k.png").read_bytes()[:4] == b"\x89PNG"
    # the same command again finds every cell done and computes nothing
    again = subprocess.run([sys.executable, "-m", "sggft_bench", "run", str(grid), "--out", str(out)],
                           capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0 and f"0 cells run, {n} skipped (done earlier)" in again.stdout


# --------------------------------------------------------------------------- results in the tree
DOCS = ROOT / "docs"
RESULTS = DOCS / "results"
ARCHIVE_TOOL = HARNESS / "tools" / "archive_results.py"


def _doc_files() -> list[Path]:
    return [DOCS / "results.md", DOCS / "benchmarks.md", *sorted(RESULTS.rglob("*.md"))]


def test_links_in_the_results_docs_resolve():
    import re

    bad = []
    for f in _doc_files():
        for m in re.finditer(r"\]\(([^)\s]+)\)", f.read_text(encoding="utf-8")):
            target = m.group(1).split("#")[0]
            if target and not target.startswith(("http://", "https://")) and not (f.parent / target).exists():
                bad.append(f"{f.relative_to(ROOT)}: {m.group(1)}")
    assert not bad, "broken links:\n" + "\n".join(bad)


def test_every_archive_is_documented_with_its_sha256():
    import hashlib
    import re

    text = "\n".join(f.read_text(encoding="utf-8") for f in _doc_files())
    archives = sorted((RESULTS / "archives").glob("*.tar.xz"))
    assert len(archives) >= 10
    for path in archives:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        named = re.findall(rf"archives/{re.escape(path.name)}\]\([^)]*\),?\s+sha256\s+`([0-9a-f]{{64}})`", text)
        assert named, f"{path.name} is not named with its sha256 in docs/results.md or docs/results/*.md"
        assert set(named) == {digest}, f"{path.name}: sha256 {digest}, the docs say {named}"


def test_raw_records_and_weights_stay_out_of_the_tree():
    assert not [p for p in RESULTS.rglob("*.safetensors")], "weight files belong to no checkout: the grid's command makes them"
    assert not [p for p in RESULTS.rglob("cells") if p.is_dir()], "cell records go into docs/results/archives"
    size = sum(p.stat().st_size for p in RESULTS.rglob("*") if p.is_file() and p.name != ".lock")
    assert size < 12 * 2**20, f"docs/results holds {size / 2**20:.1f} MiB; archive raw records (benchmarks/tools/archive_results.py)"


def _archive(*args, cwd=None):
    return subprocess.run([sys.executable, str(ARCHIVE_TOOL), *args], capture_output=True, text=True, cwd=cwd)


def test_archive_tool_keeps_tables_packs_records_drops_weights_and_restores(tmp_path):
    import tarfile

    run = tmp_path / "results" / "grid"
    files = {"results.md": "# table\n![plot](metric_vs_k.png)\n", "summary.json": "{}", "manifest.json": "{}", "grid.yaml": "name: g\n",
             "metric_vs_k.png": "\x89PNG", "cells/a/t/k4/seed13.json": '{"status": "ok"}', "meta/a/d/bench_meta.json": "{}",
             "meta/a/d/config.json": '{"keep": true}', "meta/a/d/checkpoints/step-1/meta.json": "{}", "run.log": "line\n"}
    for rel, text in files.items():
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_text(text)
    (run / "meta/a/d/init.safetensors").write_bytes(b"\0" * 64)
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(run, copy / "grid")
    done = _archive(str(run), "--keep", "meta/a/d/config.json")
    assert done.returncode == 0, done.stderr
    kept = sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file())
    assert kept == ["grid.yaml", "manifest.json", "meta/a/d/config.json", "metric_vs_k.png", "results.md", "summary.json"]
    archive = tmp_path / "results" / "archives" / "grid.tar.xz"
    with tarfile.open(archive) as tar:
        names = sorted(tar.getnames())
        assert all(m.mtime == 0 and m.uid == 0 for m in tar.getmembers())
    assert names == ["grid/cells/a/t/k4/seed13.json", "grid/meta/a/d/bench_meta.json",
                     "grid/meta/a/d/checkpoints/step-1/meta.json", "grid/run.log"]
    assert done.stdout.split("sha256 ")[1].split(";")[0] == __import__("hashlib").sha256(archive.read_bytes()).hexdigest()
    with tarfile.open(archive) as tar:  # unpacking puts back every archived file byte for byte
        tar.extractall(tmp_path / "results", filter="data")
    for rel, text in files.items():
        assert (run / rel).read_text() == text
    assert not (run / "meta/a/d/init.safetensors").exists()
    again = _archive(str(copy / "grid"), "--keep", "meta/a/d/config.json")  # the same files: the same bytes
    assert again.returncode == 0 and (copy / "archives" / "grid.tar.xz").read_bytes() == archive.read_bytes()
    missing = _archive(str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
