"""benchmarks/tools/pick_on_dev.py: the per-episode choice on dev, its tie rule, the incomplete-task rule, errors."""

import json
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "benchmarks" / "tools" / "pick_on_dev.py"


def _cell(root, method, task, seed, dev, test, shots=16):
    path = root / "cells" / method / task / f"k{shots}" / f"seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"status": "ok", "method": method, "task": task, "seed": seed, "shots": shots,
                                "dev_metric": dev, "test_metric": test}))


def _run(*args):
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True)


def test_choice_per_episode_follows_dev_with_ties_to_the_first_name(tmp_path):
    # t1, seed 1: b has the better dev -> b's test; seed 2: dev tie -> a (named first), not b's higher test
    _cell(tmp_path, "a", "t1", 1, 0.5, 0.60)
    _cell(tmp_path, "b", "t1", 1, 0.7, 0.80)
    _cell(tmp_path, "a", "t1", 2, 0.6, 0.40)
    _cell(tmp_path, "b", "t1", 2, 0.6, 0.90)
    _cell(tmp_path, "r", "t1", 1, 0.0, 0.70)
    _cell(tmp_path, "r", "t1", 2, 0.0, 0.50)
    _cell(tmp_path, "a", "t2", 1, 0.9, 0.10)  # t2 lacks seeds and methods: left out
    out_base = tmp_path / "picked"
    out = _run(str(tmp_path), "--shots", "16", "--among", "a,b", "--against", "r", "--out", str(out_base))
    assert out.returncode == 0, out.stderr
    res = json.loads(Path(f"{out_base}.json").read_text())
    assert res["tasks"] == ["t1"] and res["choice"] == {"t1": {"1": "b", "2": "a"}}
    assert abs(res["methods"]["picked"]["average"] - 0.6) < 1e-12  # (0.80 + 0.40) / 2
    assert res["paired"]["r"]["wins"] == 1 and res["paired"]["r"]["losses"] == 1
    assert "| picked | 60.0 | 60.00 (20.0) |" in out.stdout
    assert res["command"].startswith("python ") and Path(f"{out_base}.md").read_text().startswith("Command: `python ")
    # the other tie order picks b on seed 2
    swapped = _run(str(tmp_path), "--shots", "16", "--among", "b,a", "--against", "r")
    assert "| picked | 85.0 |" in swapped.stdout


def test_bad_input_names_the_problem(tmp_path):
    _cell(tmp_path, "a", "t1", 1, 0.5, 0.6)
    _cell(tmp_path, "b", "t1", 1, None, 0.6)
    unknown = _run(str(tmp_path), "--shots", "16", "--among", "a,zz")
    assert unknown.returncode != 0 and "no finished cell of zz at K = 16" in unknown.stderr and "methods there: a, b" in unknown.stderr
    no_dev = _run(str(tmp_path), "--shots", "16", "--among", "a,b")
    assert no_dev.returncode != 0 and "no dev_metric in b/t1/seed1" in no_dev.stderr
    wrong_k = _run(str(tmp_path), "--shots", "8", "--among", "a")
    assert wrong_k.returncode != 0 and "no finished cell of a at K = 8" in wrong_k.stderr
    no_run = _run(str(tmp_path / "cells"), "--shots", "16", "--among", "a")
    assert no_run.returncode != 0 and "has no cells/ folder" in no_run.stderr
    assert "Traceback" not in unknown.stderr + no_dev.stderr + wrong_k.stderr + no_run.stderr
