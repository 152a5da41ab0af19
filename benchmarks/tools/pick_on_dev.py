"""Choose, per episode (task, seed), one of several methods of a benchmark run by its K-shot DEV
metric, and score the chosen one on test: what a user gets who tries those settings on each new
task and keeps the one the dev split likes. Compared, paired per (task, seed), with other methods.

    python benchmarks/tools/pick_on_dev.py docs/results/baselines --shots 16 \
        --among sggft_all,sggft_align,sggft_dir_mag,sggft_dir,sggft_mag,sggft_none \
        --against reptile,finetune_lora [--out docs/results/baselines_pick_on_dev]

Ties on dev (frequent: a dev split has 16 x classes examples) go to the method named first in
`--among`. Only tasks where every named method has every seed are used. `--out` writes OUT.json
(every choice, with the command) and OUT.md (the table).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from sggft_bench.aggregate import load_records
from sggft_bench.stats import paired_sign_flip
from sggft_meta.errors import ConfigError
from sggft_meta.report import markdown_table


def load(run: Path, shots: int) -> tuple[dict[tuple[str, str, int], dict], list[int]]:
    """Every finished cell at `shots` by (method, task, seed), read as `sggft-bench aggregate`
    reads them (the run's manifest decides the grid; records outside it are ignored), and the seeds."""
    try:
        records = load_records(run)
    except ConfigError as err:
        raise SystemExit(f"pick_on_dev: {err}") from None
    return {(m, t, s): rec for (m, t, k, s), rec in records.ok.items() if k == shots}, records.seeds


def pick(cells: dict, seeds: list[int], among: list[str], against: list[str]) -> dict:
    """The per-episode choice among `among` by dev metric (ties to the earlier name) and the figures."""
    methods = among + against
    tasks = sorted({t for (_, t, _) in cells})
    complete = [t for t in tasks if all((m, t, s) in cells for m in methods for s in seeds)]
    if not complete:
        raise SystemExit(f"pick_on_dev: no task has every seed for all of {', '.join(methods)}")
    missing_dev = [f"{m}/{t}/seed{s}" for m in among for t in complete for s in seeds if cells[(m, t, s)].get("dev_metric") is None]
    if missing_dev:
        raise SystemExit(f"pick_on_dev: no dev_metric in {', '.join(missing_dev[:3])}: these records cannot be chosen on dev")
    choice = {t: {str(s): max(among, key=lambda m: (cells[(m, t, s)]["dev_metric"], -among.index(m))) for s in seeds}
              for t in complete}
    test = {m: {t: [cells[(m, t, s)]["test_metric"] for s in seeds] for t in complete} for m in against}
    test["picked"] = {t: [cells[(choice[t][str(s)], t, s)]["test_metric"] for s in seeds] for t in complete}
    out = {"tasks": complete, "seeds": seeds, "among": among, "choice": choice,
           "picks": dict(Counter(m for per in choice.values() for m in per.values())), "methods": {}, "paired": {}}
    for m, per in test.items():
        per_seed = np.mean([per[t] for t in complete], axis=0)
        out["methods"][m] = {"per_task": {t: float(np.mean(v)) for t, v in per.items()},
                             "average": float(per_seed.mean()), "std": float(per_seed.std())}
    flat = lambda m: [v for t in complete for v in test[m][t]]  # noqa: E731
    for m in against:
        r = paired_sign_flip(flat("picked"), flat(m))
        out["paired"][m] = {"n": r.n, "mean_diff": r.mean_diff, "wins": r.wins, "ties": r.ties, "losses": r.losses,
                            "p_value": r.p_value}
    return out


def table(res: dict) -> str:
    rows = [[m, *[f"{100 * v:.1f}" for v in info["per_task"].values()], f"{100 * info['average']:.2f} ({100 * info['std']:.1f})"]
            for m, info in res["methods"].items()]
    text = markdown_table(["method", *res["tasks"], f"average ({len(res['tasks'])} tasks), mean (std over seeds)"], rows)
    picks = ", ".join(f"{m} {n}" for m, n in sorted(res["picks"].items(), key=lambda x: -x[1]))
    lines = [text, "", f"`picked` = per (task, seed) the method of {', '.join(res['among'])} with the best dev metric "
             f"(ties to the earlier name). Chosen: {picks}."]
    for m, p in res["paired"].items():
        lines.append(f"Paired picked - {m} over {p['n']} task-seed pairs: {100 * p['mean_diff']:+.2f} points, "
                     f"wins / ties / losses {p['wins']} / {p['ties']} / {p['losses']}, sign-flip p = {p['p_value']:.3g}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", help="the --out folder of `sggft-bench run`")
    ap.add_argument("--shots", type=int, required=True)
    ap.add_argument("--among", required=True, help="methods to choose from, comma-separated; ties go to the earlier")
    ap.add_argument("--against", default="", help="methods to compare the choice with, comma-separated")
    ap.add_argument("--out", help="write OUT.json and OUT.md")
    args = ap.parse_args()
    among = [m for m in args.among.split(",") if m]
    against = [m for m in args.against.split(",") if m]
    cells, seeds = load(Path(args.run), args.shots)
    known = sorted({m for (m, _, _) in cells})
    unknown = [m for m in among + against if m not in known]
    if unknown:
        raise SystemExit(f"pick_on_dev: no finished cell of {', '.join(unknown)} at K = {args.shots} in {args.run} "
                         f"(methods there: {', '.join(known) or 'none'})")
    res = pick(cells, seeds, among, against)
    text = table(res)
    print(text)
    if args.out:
        res["command"] = "python " + " ".join(shlex.quote(a) for a in sys.argv)
        Path(f"{args.out}.json").write_text(json.dumps(res, indent=1) + "\n")
        Path(f"{args.out}.md").write_text(f"Command: `{res['command']}`\n\n{text}\n")


if __name__ == "__main__":
    main()
