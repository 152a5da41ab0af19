"""tools/results_digest.py: the digest of a finished grid, and its error on a folder that is not one."""

import json
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "results_digest.py"
RUN = Path(__file__).resolve().parents[1] / "docs" / "results" / "lodo_sentiment"


def _digest(*args):
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True)


def test_digest_of_a_committed_grid_matches_its_summary():
    out = _digest(str(RUN), "--figures", "grad_norm_cv")
    assert out.returncode == 0, out.stderr
    summary = json.loads((RUN / "summary.json").read_text())
    avg = summary["per_k"]["16"]["average"]["finetune_lora"]
    assert f"{100 * avg['mean']:.1f} ({100 * avg['std']:.1f})" in out.stdout
    assert "**K = 4**" in out.stdout and "**K = 16**" in out.stdout


def test_digest_of_a_folder_without_summary_names_the_fix(tmp_path):
    out = _digest(str(tmp_path))
    assert out.returncode != 0
    assert "summary.json does not exist" in out.stderr and "sggft-meta bench aggregate" in out.stderr
    assert "Traceback" not in out.stderr
