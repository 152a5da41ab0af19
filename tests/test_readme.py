"""Every Python block of README.md runs as pasted: one after another in one fresh interpreter, as a
reader pasting them into Python would, offline, from an empty working folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M)]


def test_the_readme_has_python_blocks():
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 3, "README.md should show the three uses in Python (register a task; fit / evaluate; meta-train)"


def test_block_extraction_sees_every_block():
    text = "a\n```python\nx = 1\n```\nb\n```bash\nls\n```\n```python\ny = 2\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = 2\n"]


@pytest.mark.slow
def test_readme_python_blocks_run_as_pasted(tmp_path):
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    script = tmp_path / "readme_blocks.py"
    script.write_text("\n".join(f"# --- README block {i + 1}\n{b}" for i, b in enumerate(blocks)), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("SGGFT_DATA_DIR", None)  # the blocks use the demo tasks that ship with the package
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"README blocks failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
