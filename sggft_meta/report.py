"""Results: machine description, commit, mean and spread, Markdown tables (and, re-exported from
`sggft_meta.io`, the atomic JSON writer every results file goes through)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import numpy as np
import torch

from .io import json_safe, write_json_atomic

__all__ = ["fmt_mean_std", "git_commit", "json_safe", "machine", "markdown_table", "mean_std", "write_json_atomic"]


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version(), "torch": torch.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def git_commit(cwd: str | Path | None = None) -> str | None:
    """The short commit of the library's checkout; outside a git checkout (a copy of the tree
    without .git, as on a rented GPU machine) the value of $SGGFT_COMMIT, else None."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd or Path(__file__).parent, capture_output=True, text=True, timeout=5)
        found = out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        found = ""
    return found or os.environ.get("SGGFT_COMMIT") or None


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and population standard deviation (ddof=0, as LM-BFF and SetFit report)."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std())


def fmt_mean_std(mean: float, std: float, scale: float = 100.0) -> str:
    return f"{mean * scale:.1f} ({std * scale:.1f})"


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
