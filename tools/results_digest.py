"""Print Markdown digests of finished grid runs (from their summary.json): per K, one row per
task and the average, test metric and trace figures side by side. Used to write docs/results.md
and the README's results from the same numbers as the grids' own results.md.

    python tools/results_digest.py docs/results/sggft_vs_finetune [--figures grad_norm_cv,cos_consecutive,path_length]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def fmt(entry, scale=100.0, n=5):
    if not entry or entry.get("mean") is None or entry["mean"] != entry["mean"]:
        return "-"
    text = f"{entry['mean'] * scale:.1f} ({entry['std'] * scale:.1f})"
    return text if entry.get("n", n) == n or "n" not in entry else f"{text} [{entry['n']}/{n}]"


def num(x):
    return "-" if x is None else f"{x:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--figures", default="grad_norm_cv,cos_consecutive,path_length")
    args = ap.parse_args()
    summary = json.loads(Path(args.run, "summary.json").read_text())
    methods, n = summary["methods"], len(summary["seeds"])
    figures = [f for f in args.figures.split(",") if f]
    for k, block in summary["per_k"].items():
        print(f"\n**K = {k}** (test metric x100, mean (std) over {n} seeds; then {', '.join(figures)})\n")
        head = ["task", *methods, *[f"{f}: {m}" for f in figures for m in methods]]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for t, info in block["tasks"].items():
            row = [t, *[fmt(info["methods"][m], info["scale"], n) for m in methods],
                   *[num(info["methods"][m].get(f)) for f in figures for m in methods]]
            print("| " + " | ".join(row) + " |")
        avg = block["average"]
        row = [f"**average** ({len(block['complete_tasks'])} tasks)", *[fmt(avg[m], 100.0, n) if avg[m] else "-" for m in methods],
               *[num((avg[m] or {}).get(f)) for f in figures for m in methods]]
        print("| " + " | ".join(row) + " |")
        comp = block.get("comparison")
        if comp and comp.get("against"):
            print(f"\nPaired ({comp['n']} task-seed pairs): {comp['focus']} - {comp['against']} = {comp['mean_diff'] * 100:+.2f} points, "
                  f"wins / ties / losses {comp['wins']} / {comp['ties']} / {comp['losses']}, sign-flip p = {comp['p_value']:.3g}")
        cost = block["cost"]
        print("\nSeconds per episode, mean: " + ", ".join(
            f"{m} {cost[m]['seconds_mean']:.0f}" for m in methods if cost[m]["seconds_mean"] is not None))


if __name__ == "__main__":
    main()
