"""argparse `type`s shared by the harness's entry points (`sggft-bench run`, the SetFit runner)."""

from __future__ import annotations

import argparse

from sggft_meta.cli import int_list_arg as int_list, seeds_arg  # noqa: F401  (the library's own --seeds)


def name_list(flag: str, example: str, what: str = "method names"):
    """An argparse `type` for `--flag a, b`: a non-empty list of names, spaces stripped, or a one-line
    error naming the flag (an empty list would silently mean something else than what was asked for)."""
    def parse(text: str) -> list[str]:
        names = [x.strip() for x in text.split(",") if x.strip()]
        if not names:
            raise argparse.ArgumentTypeError(f"{flag} takes comma-separated {what} like {example}, got {text!r}")
        return names
    return parse


shots_arg = int_list("--shots", "K values", "8,16")
