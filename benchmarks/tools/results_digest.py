"""Print Markdown digests of finished grid runs (from their summary.json): per K, one row per
task and the average, test metric and trace figures side by side. Used to write docs/results.md
and the README's results from the same numbers as the grids' own results.md.

    python benchmarks/tools/results_digest.py docs/results/sggft_vs_finetune [--figures grad_norm_cv,cos_consecutive,path_length]
        [--pair sggft_learned,finetune_lora] [--rows methods]

`--pair A,B` adds, per K, a paired sign-flip comparison of A against B over every (task, seed) that
both have, also on tasks where other methods of the grid are missing (the grid's own comparison
uses only tasks where every method has every seed).

`--rows methods` turns the tables for grids with many methods and few finished tasks: one row per
method, one column per task that has a finished cell at that K (tasks without any are left out,
K blocks without any are skipped), the average over the complete tasks (as the grid's own table),
each method's own average over the task columns where that is more tasks and the method has every
seed on each (population std over seeds of the task-averaged metric, as the grid's), then each
figure averaged over those tasks (a row with fewer names its tasks beside the figure) and the mean
seconds per episode.

`--complete-only` (with `--rows methods`) keeps only the tasks where every method has every seed:
the task columns, figures, seconds per episode and `--pair` are then over exactly the tasks of the
average, and a partly run task is named on its own line with its cell count. A grid can so carry
the cells of a task still being run without changing the tables written from it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sggft_bench.aggregate import average_scale, format_entry
from sggft_bench.stats import paired_sign_flip
from sggft_meta.report import markdown_table, mean_std


def num(x):
    return "-" if x is None else f"{x:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--figures", default="grad_norm_cv,cos_consecutive,path_length")
    ap.add_argument("--pair", default=None, help="A,B: paired comparison of method A against method B")
    ap.add_argument("--complete-only", action="store_true",
                    help="with --rows methods: columns, figures, seconds and --pair over the complete tasks only")
    ap.add_argument("--rows", choices=("tasks", "methods"), default="tasks",
                    help="one row per task (default) or per method (for many methods on few tasks)")
    args = ap.parse_args()
    path = Path(args.run, "summary.json")
    if not path.is_file():
        raise SystemExit(f"results_digest: {path} does not exist: give the --out folder of `sggft-bench run` "
                         f"(or run `sggft-bench aggregate {args.run}` first)")
    summary = json.loads(path.read_text())
    methods, n = summary["methods"], len(summary["seeds"])
    if args.complete_only and args.rows != "methods":
        raise SystemExit("results_digest: --complete-only goes with --rows methods (the task rows already "
                         "average over the complete tasks only)")
    figures = [f for f in args.figures.split(",") if f]
    pair = args.pair.split(",") if args.pair else None
    if pair and (len(pair) != 2 or any(m not in methods for m in pair)):
        raise SystemExit(f"results_digest: --pair {args.pair!r}: give two methods of the grid as A,B (methods: {', '.join(methods)})")
    for k, block in summary["per_k"].items():
        secs = {m: block["cost"][m]["seconds_mean"] for m in methods}
        if args.rows == "methods":
            done = [t for t, info in block["tasks"].items() if any(info["methods"][m].get("n") for m in methods)]
            partial = [t for t in done if t not in block["complete_tasks"]] if args.complete_only else []
            done = [t for t in done if t not in partial]
            if not done:
                if partial:
                    print(f"\n**K = {k}**: no complete task yet; partly run: {partial_counts(block, methods, partial, n)}")
                continue
            print(f"\n**K = {k}** (test metric x100, mean (std) over {n} seeds; {', '.join(figures)} averaged over "
                  f"{', '.join(done)}, or over the tasks named beside a figure where the method has fewer)\n")
            if args.complete_only:
                secs = {m: seconds_over(block, m, done) for m in methods}
            print(method_rows(block, methods, done, figures, n, secs))
            if partial:
                print(f"\nPartly run, not in this table: {partial_counts(block, methods, partial, n)}")
        else:
            print(f"\n**K = {k}** (test metric x100, mean (std) over {n} seeds; then {', '.join(figures)})\n")
            print(task_rows(block, methods, figures, n))
        comp = block.get("comparison")
        scale = average_scale(block)
        if comp and comp.get("against"):
            print(f"\nPaired ({comp['n']} task-seed pairs): {comp['focus']} - {comp['against']} = {comp['mean_diff'] * scale:+.2f} points, "
                  f"wins / ties / losses {comp['wins']} / {comp['ties']} / {comp['losses']}, sign-flip p = {comp['p_value']:.3g}")
        if pair:
            print("\n" + paired_line(block, *pair, only=block["complete_tasks"] if args.complete_only else None))
        print("\nSeconds per episode, mean: " + ", ".join(f"{m} {secs[m]:.0f}" for m in methods if secs[m] is not None))


def task_rows(block: dict, methods: list[str], figures: list[str], n: int) -> str:
    """One row per task and the average; methods side by side, then each figure per method."""
    head = ["task", *methods, *[f"{f}: {m}" for f in figures for m in methods]]
    rows = [[t, *[format_entry(info["methods"][m], info["scale"], n) for m in methods],
             *[num(info["methods"][m].get(f)) for f in figures for m in methods]] for t, info in block["tasks"].items()]
    avg, scale = block["average"], average_scale(block)
    rows.append([f"**average** ({len(block['complete_tasks'])} tasks)", *[format_entry(avg[m], scale, n) for m in methods],
                 *[num((avg[m] or {}).get(f)) for f in figures for m in methods]])
    return markdown_table(head, rows)


def partial_counts(block: dict, methods: list[str], tasks: list[str], n: int) -> str:
    """'sst5 (26 of 70 cells), ...': the finished cells of each of `tasks` at this K."""
    return ", ".join(f"{t} ({sum(block['tasks'][t]['methods'][m].get('n') or 0 for m in methods)} of {n * len(methods)} cells)"
                     for t in tasks)


def seconds_over(block: dict, method: str, tasks: list[str]) -> float | None:
    """Mean seconds per episode of `method` over `tasks` (the mean of its per-task means: equal to the
    mean over cells where every task has every seed). Needs a summary.json written by this version."""
    infos = [block["tasks"][t]["methods"][method] for t in tasks]
    if any("seconds" not in i for i in infos):
        raise SystemExit("results_digest: this summary.json has no per-task seconds (written by an older version): "
                         "run `sggft-bench aggregate` on the folder again")
    secs = [i["seconds"] for i in infos if i["seconds"] is not None]
    return sum(secs) / len(secs) if secs else None


def method_rows(block: dict, methods: list[str], tasks: list[str], figures: list[str], n: int,
                secs: dict[str, float | None]) -> str:
    """One row per method: its entry on each of `tasks`, its average over the grid's complete tasks
    (every method has every seed there; the column is left out when there are none), each figure
    averaged over the tasks where the method has it (named beside the figure when they are fewer than
    `tasks`, so rows over different tasks are not read as comparable), and its mean seconds per
    episode (`secs`)."""
    complete = block.get("complete_tasks") or []
    avg_head = [f"average ({len(complete)} complete tasks)"] if complete else []
    infos = [block["tasks"][t] for t in tasks]
    own = {m: row_average([i["methods"][m] for i in infos], n) for m in methods}
    # a row's own average over the columns, where the grid's average (over the tasks where every
    # method is complete) covers fewer tasks and some method has every seed on every column
    own_col = len(tasks) > 1 and set(tasks) != set(complete) and any(own.values())
    own_head = [f"average over {', '.join(tasks)} (methods complete there)"] if own_col else []
    head = ["method", *tasks, *avg_head, *own_head, *figures, "s / episode"]
    rows = []
    for m in methods:
        sec = secs[m]
        avg = [format_entry(block["average"][m], average_scale(block), n)] if complete else []
        mine = [format_entry(own[m], average_scale(block, tasks), n)] if own_col else []
        rows.append([m, *[format_entry(i["methods"][m], i["scale"], n) for i in infos], *avg, *mine,
                     *[figure_over(m, f, tasks, infos) for f in figures], "-" if sec is None else f"{sec:.0f}"])
    return markdown_table(head, rows)


def row_average(entries: list[dict], n: int) -> dict | None:
    """Mean over seeds of one method's metric averaged over the tasks of `entries`, with the std over
    seeds of that average (as the grid's average row), when it has the same `n` seeds on every task;
    None otherwise."""
    seeds = [set(e.get("by_seed") or {}) for e in entries]
    if not seeds or any(s != seeds[0] for s in seeds) or len(seeds[0]) != n:
        return None
    mean, std = mean_std([sum(e["by_seed"][s] for e in entries) / len(entries) for s in sorted(seeds[0])])
    return {"mean": mean, "std": std, "n": n}


def figure_over(method: str, figure: str, tasks: list[str], infos: list[dict]) -> str:
    """`figure` of `method` averaged over the tasks that have it: "2.36", or "2.69 (sst2)" when that
    is fewer than `tasks`."""
    have = [(t, i["methods"][method][figure]) for t, i in zip(tasks, infos) if i["methods"][method].get(figure) is not None]
    if not have:
        return "-"
    mean = num(sum(v for _, v in have) / len(have))
    return mean if len(have) == len(tasks) else f"{mean} ({', '.join(t for t, _ in have)})"


def paired_line(block: dict, a: str, b: str, only: list[str] | None = None) -> str:
    """`a - b` paired per (task, seed) over every pair both methods have (on the tasks `only`, when
    given), x100 when all its tasks are."""
    xs, ys, tasks = [], [], []
    for t, info in block["tasks"].items():
        if only is not None and t not in only:
            continue
        sa, sb = info["methods"][a].get("by_seed") or {}, info["methods"][b].get("by_seed") or {}
        common = [s for s in sa if s in sb]
        if common:
            tasks.append(t)
            xs += [sa[s] for s in common]
            ys += [sb[s] for s in common]
    if not xs:
        return f"Paired {a} - {b}: no (task, seed) has both."
    scale = average_scale(block, tasks)
    r = paired_sign_flip(xs, ys)
    return (f"Paired {a} - {b} over {r.n} task-seed pairs ({', '.join(tasks)}): {r.mean_diff * scale:+.2f}"
            f"{' points' if scale == 100.0 else ''}, wins / ties / losses {r.wins} / {r.ties} / {r.losses}, sign-flip p = {r.p_value:.3g}")


if __name__ == "__main__":
    main()
