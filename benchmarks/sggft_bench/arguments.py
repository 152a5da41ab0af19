"""argparse `type`s shared by the harness's entry points (`sggft-bench run`, the SetFit runner)."""

from __future__ import annotations

import argparse


def int_list(flag: str, what: str, example: str):
    """An argparse `type` for `--flag 1,2,3`: a list of ints, or a one-line error naming the flag."""
    def parse(text: str) -> list[int]:
        try:
            values = [int(s) for s in text.split(",") if s.strip()]
        except ValueError:
            values = []
        if not values:
            raise argparse.ArgumentTypeError(f"{flag} takes comma-separated {what} like {example}, got {text!r}")
        return values
    return parse


def name_list(flag: str, example: str, what: str = "method names"):
    """An argparse `type` for `--flag a, b`: a non-empty list of names, spaces stripped, or a one-line
    error naming the flag (an empty list would silently mean something else than what was asked for)."""
    def parse(text: str) -> list[str]:
        names = [x.strip() for x in text.split(",") if x.strip()]
        if not names:
            raise argparse.ArgumentTypeError(f"{flag} takes comma-separated {what} like {example}, got {text!r}")
        return names
    return parse


seeds_arg = int_list("--seeds", "integers", "13,21,42")
shots_arg = int_list("--shots", "K values", "8,16")
