"""The docs that are generated from code are current."""

from pathlib import Path

from sggft_meta.config_docs import render

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_reference_is_current():
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == render(), "docs/configuration.md is stale: run `python -m sggft_meta.config_docs > docs/configuration.md`"
