"""Rank the methods of a benchmark run by mean K-shot DEV metric (never test), per task and overall.

    python benchmarks/tools/select_on_dev.py docs/results/sggft_weights_dev [--out FILE.md]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from sggft_meta.report import markdown_table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", help="the --out folder of `sggft-bench run`")
    ap.add_argument("--out", help="also write the ranking as Markdown here")
    args = ap.parse_args()
    dev: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(Path(args.run, "cells").rglob("seed*.json")):
        rec = json.loads(path.read_text())
        if rec.get("status") == "ok" and rec.get("dev_metric") is not None:
            dev[rec["method"]][f"{rec['task']} K={rec['shots']}"].append(rec["dev_metric"])
    columns = sorted({c for m in dev.values() for c in m})
    rows = []
    for method, per in dev.items():
        means = [sum(per[c]) / len(per[c]) if per.get(c) else float("nan") for c in columns]
        rows.append((sum(means) / len(means), method, means, [len(per.get(c, [])) for c in columns]))
    rows.sort(reverse=True)
    text = markdown_table(["method", "mean dev", *columns],
                          [[method, f"{100 * overall:.1f}", *[f"{100 * m:.1f} (n={n})" for m, n in zip(means, counts)]]
                           for overall, method, means, counts in rows])
    print(text)
    if args.out:
        Path(args.out).write_text(f"Ranking by mean K-shot dev metric (the selection criterion; test not used).\n\n{text}\n")


if __name__ == "__main__":
    main()
