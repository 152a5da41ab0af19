"""Aggregate the cell records of a grid run into Markdown tables, a JSON summary and PNG plots.

Reads `OUT/cells/**/seed*.json` (and `OUT/manifest.json`, written by the runner, for the expected
cells; without it the expected grid is every method x task x K x seed seen in the records) and
writes, in OUT:

- `results.md`: per K, a tasks x methods table of the test metric, mean (std) over seeds
  (population std, x100), with an "average" row over the tasks where every method has every seed;
  trace tables (mean over seeds of the gradient-norm CV, the mean consecutive-gradient cosine,
  the update-path length and, where a source direction was used, the source cosine); seconds per episode and peak memory per method;
  the paired comparison of the focus method against the best other method by average (or the best
  of the grid's `against` baselines); then the
  missing and failed cells, one per line.
- `summary.json`: the same figures, machine-readable.
- `metric_vs_k.png`, `metric_per_method.png`, `grad_norm_cv.png`, `seconds_per_episode.png`, and `grad_norm_over_steps.png`
  (gradient norm and running CV against the inner step, `sggft_bench.curves`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from sggft_meta.errors import ConfigError
from sggft_meta.registry import closest
from sggft_meta.report import fmt_mean_std, markdown_table, mean_std, write_json_atomic
from .curves import PLOT as STEP_PLOT, render_step_plot, step_curves
from .stats import paired_sign_flip

MANIFEST = "manifest.json"
RESULTS_MD = "results.md"
SUMMARY_JSON = "summary.json"
PLOTS = ("metric_vs_k.png", "grad_norm_cv.png", "seconds_per_episode.png", "metric_per_method.png")
#: trace figures tabulated per task and method (mean over seeds): key -> table title
TRACE_FIGURES = {
    "grad_norm_cv": "Gradient-norm CV (std / mean of the per-step gradient norm)",
    "cos_consecutive": "Mean cosine of consecutive gradients",
    "path_length": "Update-path length (sum of the per-step update norms)",
    "cos_source": "Mean cosine of the gradient with the source direction",
}
#: metrics reported x100 (all bounded by 1 in absolute value)
SCALED_METRICS = {"accuracy", "f1", "mcc", "pearson", "spearman", "matthews_correlation", "auc"}


@dataclass
class Records:
    methods: list[str]
    tasks: list[str]
    shots: list[int]
    seeds: list[int]
    name: str = "bench"
    focus: str | None = None
    against: list[str] | None = None  # the focus's comparison pool (None: every other method)
    ok: dict[tuple, dict] = field(default_factory=dict)  # (method, task, K, seed) -> record
    errors: dict[tuple, dict] = field(default_factory=dict)
    ignored: int = 0  # records outside the expected grid
    definitions: dict = field(default_factory=dict)  # method -> kind, overrides, options, description

    def values(self, m: str, t: str, k: int) -> dict[int, float]:
        return {s: self.ok[(m, t, k, s)]["test_metric"] for s in self.seeds if (m, t, k, s) in self.ok}

    def complete_tasks(self, k: int) -> list[str]:
        return [t for t in self.tasks if all(len(self.values(m, t, k)) == len(self.seeds) for m in self.methods)]

    def missing(self) -> list[tuple]:
        return [c for c in self.expected() if c not in self.ok and c not in self.errors]

    def expected(self) -> list[tuple]:
        return [(m, t, k, s) for m in self.methods for t in self.tasks for k in self.shots for s in self.seeds]


def label(cell: tuple) -> str:
    m, t, k, s = cell
    return f"{m}/{t}/k{k}/seed{s}"


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def load_records(out: str | Path) -> Records:
    out = Path(out)
    root = out / "cells"
    if not root.is_dir():
        raise ConfigError(f"{out} has no cells/ folder: give the --out folder of `sggft-bench run`")
    found = []
    for path in sorted(root.glob("*/*/k*/seed*.json")):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and {"method", "task", "shots", "seed"} <= set(rec):
            found.append(rec)
    manifest = out / MANIFEST
    if manifest.is_file():
        m = json.loads(manifest.read_text(encoding="utf-8"))
        recs = Records(list(m["methods"]), list(m["tasks"]), [int(k) for k in m["shots"]], [int(s) for s in m["seeds"]],
                       m.get("name", "bench"), m.get("focus"), m.get("against"), definitions=m.get("definitions", {}))
    else:
        def uniq(key):
            return sorted({r[key] for r in found})

        recs = Records(uniq("method"), uniq("task"), uniq("shots"), uniq("seed"))
    expected = set(recs.expected())
    for rec in found:
        cell = (rec["method"], rec["task"], int(rec["shots"]), int(rec["seed"]))
        if cell not in expected:
            recs.ignored += 1
        elif rec.get("status") == "ok" and _finite(rec.get("test_metric")):
            recs.ok[cell] = rec
        else:
            recs.errors[cell] = rec
    return recs


def _scale(records: Records, task: str) -> float:
    metrics = {r.get("metric") for c, r in records.ok.items() if c[1] == task}
    return 100.0 if metrics and metrics <= SCALED_METRICS else 1.0


def _task_metric(records: Records, task: str) -> str:
    metrics = sorted({str(r.get("metric")) for c, r in records.ok.items() if c[1] == task})
    return "/".join(metrics) or "-"


def _mean_std(values) -> tuple[float, float]:
    values = list(values)
    return mean_std(values) if values else (math.nan, math.nan)


def summarize(records: Records, focus: str | None = None, against: list[str] | None = None) -> dict:
    """Every figure of the report, as a JSON-safe dict. `focus` is compared (paired) against the best
    of `against` by average (default: the run's own choice, else every other method)."""
    if against is None and focus in (None, records.focus):
        against = records.against  # the run's pool belongs to the run's focus, not to one named on the command line
    focus = focus if focus is not None else records.focus
    if focus is not None and focus not in records.methods:
        raise ConfigError(f"{not_a_method('--focus', focus, records.methods, 'this run')} (methods: {', '.join(records.methods)})")
    problem = against_problem(against, records.methods, focus, label="--against", where="this run")
    if problem:
        raise ConfigError(f"{problem} (methods: {', '.join(records.methods)})")
    per_k = {}
    for k in records.shots:
        complete = records.complete_tasks(k)
        tasks = {}
        for t in records.tasks:
            scale = _scale(records, t)
            row = {}
            for m in records.methods:
                vals = records.values(m, t, k)
                mean, std = _mean_std(vals.values())
                row[m] = {"mean": mean, "std": std, "n": len(vals), "by_seed": {str(s): v for s, v in vals.items()}}
                secs = [records.ok[(m, t, k, s)].get("seconds") for s in vals]
                secs = [x for x in secs if _finite(x)]
                row[m]["seconds"] = float(np.mean(secs)) if secs else None
                for key in TRACE_FIGURES:
                    figs = [(records.ok[(m, t, k, s)].get("trace") or {}).get(key) for s in vals]
                    figs = [f for f in figs if _finite(f)]
                    row[m][key] = float(np.mean(figs)) if figs else None
            tasks[t] = {"metric": _task_metric(records, t), "scale": scale, "methods": row}
        average = {}
        for m in records.methods:
            if not complete:
                average[m] = None
                continue
            per_seed = [float(np.mean([records.ok[(m, t, k, s)]["test_metric"] for t in complete])) for s in records.seeds]
            mean, std = _mean_std(per_seed)
            average[m] = {"mean": mean, "std": std, "by_seed": dict(zip(map(str, records.seeds), per_seed))}
            for key in TRACE_FIGURES:
                figs = [tasks[t]["methods"][m][key] for t in complete]
                average[m][key] = float(np.mean(figs)) if all(_finite(f) for f in figs) else None
        cost = {}
        for m in records.methods:
            recs = [r for (mm, _, kk, _), r in records.ok.items() if mm == m and kk == k]
            secs = [r["seconds"] for r in recs if _finite(r.get("seconds"))]
            mem = [r["peak_memory_bytes"] for r in recs if _finite(r.get("peak_memory_bytes"))]
            source = "peak_memory_bytes"
            if not mem:
                mem, source = [r["peak_rss_bytes"] for r in recs if _finite(r.get("peak_rss_bytes"))], "peak_rss_bytes"
            cvs = [(r.get("trace") or {}).get("grad_norm_cv") for r in recs]
            cvs = [c for c in cvs if _finite(c)]
            mean, std = _mean_std(secs)
            cost[m] = {"episodes": len(secs), "seconds_mean": mean if secs else None, "seconds_std": std if secs else None,
                       "peak_memory_bytes": max(mem) if mem else None, "memory_source": source if mem else None,
                       "grad_norm_cv_mean": float(np.mean(cvs)) if cvs else None, "grad_norm_cv_n": len(cvs)}
        per_k[str(k)] = {"complete_tasks": complete, "left_out": [t for t in records.tasks if t not in complete],
                         "tasks": tasks, "average": average, "cost": cost, "steps": step_curves(records, k),
                         "comparison": _compare(records, k, complete, average, focus, against)}
    return {
        "name": records.name,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "methods": records.methods, "tasks": records.tasks, "shots": records.shots, "seeds": records.seeds,
        "focus": focus,
        "against": list(against) if against else None,
        "definitions": records.definitions,
        "provenance": _provenance(records),
        "cells": {"expected": len(records.expected()), "ok": len(records.ok), "errors": len(records.errors),
                  "missing": len(records.missing()), "ignored": records.ignored},
        "per_k": per_k,
        "missing": [label(c) for c in records.missing()],
        "errors": [{"cell": label(c), "error": r.get("error", f"status {r.get('status')!r}")} for c, r in sorted(records.errors.items())],
    }


def against_problem(against, methods, focus: str | None, *, label: str, where: str) -> str | None:
    """Why `against` cannot be the focus's comparison pool (a name that is the focus itself, or not
    one of `methods`, with the closest method), or None. Shared by the grid and `aggregate --against`."""
    for name in against or ():
        if name == focus:
            return f"{label} {name!r} is the focus itself"
        if name not in methods:
            return not_a_method(label, name, [m for m in methods if m != focus], where)
    return None


def not_a_method(label: str, name: str, methods: list[str], where: str) -> str:
    """The one wording of an unknown method name (with the closest of `methods`), for the grid's
    `focus:` and `against:` and for `aggregate --focus/--against`."""
    hint = closest(name, list(methods))
    return f"{label} {name!r} is not a method of {where}" + (f"; did you mean {hint[0]!r}?" if hint else "")


def _compare(records: Records, k: int, complete: list[str], average: dict, focus: str | None,
             against: list[str] | None = None) -> dict | None:
    if focus is None:
        return None
    pool = [m for m in (against or records.methods) if m != focus]
    others = [m for m in pool if average.get(m)]
    if not complete or not others or not average.get(focus):
        return {"focus": focus, "against": None, "pool": pool,
                "reason": "no task has every seed of every method" if not complete else "no other method"}
    best = max(others, key=lambda m: average[m]["mean"])
    pairs = [(t, s) for t in complete for s in records.seeds]
    a = [records.ok[(focus, t, k, s)]["test_metric"] for t, s in pairs]
    b = [records.ok[(best, t, k, s)]["test_metric"] for t, s in pairs]
    test = paired_sign_flip(a, b)
    return {"focus": focus, "against": best, "pool": pool, "pairs": [[t, s] for t, s in pairs], **test.to_json()}


def _provenance(records: Records) -> dict:
    def distinct(fn):
        return sorted({fn(r) for r in records.ok.values() if fn(r) is not None}, key=str)

    def where(r):
        m = r.get("machine") or {}
        if not (m.get("gpu") or m.get("cpu")):
            return None
        cores = f", {m['cores']} cores" if m.get("cores") else ""
        return f"{m.get('gpu') or m.get('cpu')}{cores}" + (f", torch {m['torch']}" if m.get("torch") else "")

    return {"backbones": distinct(lambda r: r.get("backbone")), "machines": distinct(where),
            "commits": distinct(lambda r: None if r.get("commit") is None else r["commit"] + (" (uncommitted changes)" if r.get("commit_dirty") else "")), "commands": distinct(lambda r: r.get("command"))}


# ----------------------------------------------------------------------------- Markdown
def average_scale(block: dict, tasks=None) -> float:
    """The scale of figures averaged over `tasks` of a per-K block (default: its complete tasks, as in
    the average row and the paired difference): x100 only when every one of them is reported x100."""
    tasks = block["complete_tasks"] if tasks is None else tasks
    return 100.0 if all(block["tasks"][t]["scale"] == 100.0 for t in tasks) else 1.0


def format_entry(entry: dict | None, scale: float, n_expected: int) -> str:
    """`mean (std)` of a summary entry, scaled, with `[n/N]` when seeds are missing; `-` when empty."""
    if not entry or not _finite(entry.get("mean")):
        return "-"
    text = fmt_mean_std(entry["mean"], entry["std"], scale)
    n = entry.get("n", n_expected)
    return text if n == n_expected else f"{text} [{n}/{n_expected}]"


def render_markdown(summary: dict) -> str:
    methods, seeds = summary["methods"], summary["seeds"]
    prov, counts = summary["provenance"], summary["cells"]
    lines = [f"# Benchmark: {summary['name']}", ""]
    lines += [f"- backbone: {', '.join(map(str, prov['backbones'])) or '-'}",
              f"- machine: {'; '.join(map(str, prov['machines'])) or '-'}",
              f"- commit: {', '.join(map(str, prov['commits'])) or '-'}",
              f"- command: {' | '.join(f'`{c}`' for c in prov['commands']) or '-'}",
              f"- cells: {counts['ok']} ok, {counts['errors']} failed, {counts['missing']} missing, of {counts['expected']}"
              f" ({len(methods)} methods x {len(summary['tasks'])} tasks x {len(summary['shots'])} K x {len(seeds)} seeds)",
              f"- generated: {summary['generated_at']} by `sggft-bench aggregate`", ""]
    if summary.get("definitions"):
        rows = []
        for m in methods:
            d = summary["definitions"].get(m, {})
            opts = ", ".join(f"{k}={v}" for k, v in (d.get("options") or {}).items())
            rows.append([m, d.get("kind", "-"), " ".join(f"`{o}`" for o in d.get("overrides", [])) or "-", opts or "-",
                         d.get("description") or ""])
        lines += [markdown_table(["method", "kind", "overrides (base + own)", "options", "description"], rows), ""]
    lines += ["Metric: mean (population std) over seeds, x100 for accuracy, F1, MCC, Pearson; `[n/N]` marks a cell "
              "with n of N seeds. The average row is over the tasks where every method has every seed; its std is over "
              "seeds of the task-averaged metric.", ""]
    for k, block in summary["per_k"].items():
        lines += [f"## K = {k}", "", "### Test metric", ""]
        rows = []
        for t, info in block["tasks"].items():
            row = info["methods"]
            means = {m: row[m]["mean"] for m in methods if _finite(row[m]["mean"])}
            best = max(means.values()) if means else None
            cells = []
            for m in methods:
                text = format_entry(row[m], info["scale"], len(seeds))
                cells.append(f"**{text}**" if best is not None and means.get(m) == best and len(means) > 1 else text)
            rows.append([t, info["metric"], *cells])
        complete = block["complete_tasks"]
        avg_cells = [format_entry(block["average"][m], average_scale(block), len(seeds)) if block["average"][m] else "-" for m in methods]
        rows.append([f"**average** ({_tasks(len(complete))})", "", *avg_cells])
        lines += [markdown_table(["task", "metric", *methods], rows), ""]
        if block["left_out"]:
            lines += [f"Left out of the average (a method lacks a seed): {', '.join(block['left_out'])}.", ""]

        for key, title in TRACE_FIGURES.items():
            if key != "grad_norm_cv" and not any(_finite(info["methods"][m].get(key))
                                                 for info in block["tasks"].values() for m in methods):
                continue  # e.g. no method used a source direction
            lines += [f"### {title}; mean over seeds", ""]
            rows = [[t, *[_num(info["methods"][m].get(key)) for m in methods]] for t, info in block["tasks"].items()]
            rows.append([f"**average** ({_tasks(len(complete))})", *[_num((block["average"][m] or {}).get(key)) for m in methods]])
            lines += [markdown_table(["task", *methods], rows), ""]

        lines += ["### Cost per episode (one seed's adaptation + test evaluation)", ""]
        rows = []
        for m in methods:
            c = block["cost"][m]
            secs = f"{c['seconds_mean']:.2f} ({c['seconds_std']:.2f})" if c["seconds_mean"] is not None else "-"
            mem = "-"
            if c["peak_memory_bytes"] is not None:
                mem = f"{c['peak_memory_bytes'] / 2**20:.0f}" + (" (RSS)" if c["memory_source"] == "peak_rss_bytes" else "")
            rows.append([m, c["episodes"], secs, mem])
        lines += [markdown_table(["method", "episodes", "seconds per episode, mean (std)", "peak memory MiB, max"], rows), ""]

        comp = block["comparison"]
        lines += ["### Paired comparison", ""]
        if comp is None:
            lines += ["No focus method (`sggft-bench aggregate OUT --focus METHOD`, or `focus:` in the grid).", ""]
        elif comp.get("against") is None:
            lines += [f"{comp['focus']}: no comparison ({comp['reason']}).", ""]
        else:
            scale = average_scale(block)
            if summary.get("against"):
                lines += [f"Against the best by average of: {', '.join(summary['against'])}.", ""]
            lines += [markdown_table(
                ["focus", "best baseline (by average)" if summary.get("against") else "best other (by average)", "pairs (task, seed)", "mean difference", "wins / ties / losses", "p (two-sided)", "test"],
                [[comp["focus"], comp["against"], comp["n"], f"{comp['mean_diff'] * scale:+.2f}",
                  f"{comp['wins']} / {comp['ties']} / {comp['losses']}", _p(comp["p_value"]),
                  f"sign-flip, {comp['method']} ({comp['flips']} assignments)"]]), ""]
    if len(summary["shots"]) > 1:
        lines += ["## Average over tasks, per K", ""]
        rows = [[m, *[format_entry(b["average"][m], average_scale(b), len(seeds)) if b["average"][m] else "-"
                      for b in summary["per_k"].values()]] for m in methods]
        lines += [markdown_table(["method", *[f"K={k}" for k in summary["per_k"]]], rows), ""]
    lines += ["## Missing and failed cells", ""]
    if not summary["missing"] and not summary["errors"]:
        lines += ["None: every cell of the grid has a result."]
    lines += [f"- missing: {c}" for c in summary["missing"]]
    lines += [f"- failed: {e['cell']}: {e['error']}" for e in summary["errors"]]
    lines += ["", "Plots: " + ", ".join(f"[{p}]({p})" for p in (*PLOTS, STEP_PLOT)), ""]
    return "\n".join(lines)


def _tasks(n: int) -> str:
    return f"{n} task" if n == 1 else f"{n} tasks"


def _num(x) -> str:
    return f"{x:.3f}" if _finite(x) else "-"


def _p(p) -> str:
    if not _finite(p):
        return "-"
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


# ----------------------------------------------------------------------------- plots
MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def method_styles(methods: list[str]) -> dict[str, dict]:
    """One distinct look per method, in grid order, for every line plot: 20 colours (tab20) and a
    marker that changes with them, so 14 methods never share a colour and marker the way
    matplotlib's 10-colour default cycle makes them."""
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    return {m: {"color": cmap(i % 20), "marker": MARKERS[i % len(MARKERS)],
                "linestyle": "-" if i < 20 else "--"} for i, m in enumerate(methods)}


def render_plots(summary: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods, ks = summary["methods"], summary["per_k"]
    paths = []

    fig, ax = plt.subplots(figsize=(6 + (1.6 if len(methods) > 6 else 0), 4))
    styles = method_styles(methods)
    for m in methods:
        pts = [(int(k), b["average"][m]["mean"] * 100, b["average"][m]["std"] * 100) for k, b in ks.items() if b["average"].get(m)]
        if pts:
            x, y, e = zip(*pts)
            ax.errorbar(x, y, yerr=e, capsize=3, label=m, alpha=0.9, **styles[m])
    ax.set_xscale("log", base=2)
    ax.set_xticks([int(k) for k in ks], [str(k) for k in ks])
    ax.set_xlabel("K (examples per class)")
    ax.set_ylabel("test metric x100, average over tasks")
    ax.set_title(f"{summary['name']}: metric against K")
    if ax.get_legend_handles_labels()[0]:  # beside the axes when many methods would hide the lines
        ax.legend(fontsize="small", **({"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)} if len(methods) > 6 else {}))
    paths.append(_save(fig, out / PLOTS[0]))

    for key, ylabel, title, path in (("grad_norm_cv_mean", "gradient-norm CV (mean over episodes)", "gradient-norm CV per method", PLOTS[1]),
                                     ("seconds_mean", "seconds per episode", "seconds per episode per method", PLOTS[2])):
        fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(methods) + 2), 4))
        width = 0.8 / max(len(ks), 1)
        for i, (k, b) in enumerate(ks.items()):
            x = np.arange(len(methods)) + (i - (len(ks) - 1) / 2) * width
            heights = [b["cost"][m][key] if b["cost"][m][key] is not None else math.nan for m in methods]
            ax.bar(x, heights, width, label=f"K={k}")
            for xi, h in zip(x, heights):
                if not math.isfinite(h):  # a method without that figure (no trace): say so, draw no bar
                    ax.text(xi, 0, "n/a", ha="center", va="bottom", fontsize="small")
        ax.set_xticks(np.arange(len(methods)), methods, rotation=20, ha="right")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{summary['name']}: {title}")
        ax.legend(fontsize="small")
        paths.append(_save(fig, out / path))
    paths.append(_metric_bars(summary, out / PLOTS[3], plt))
    return paths


def _metric_bars(summary: dict, path: Path, plt) -> Path:
    """Each method's average over the complete tasks, one bar per K, the std over seeds as error bar
    (readable where the grid has one or two K, which `metric_vs_k.png` draws as stacked points)."""
    methods, ks = summary["methods"], summary["per_k"]
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * len(methods) + 2), 4))
    width = 0.8 / max(len(ks), 1)
    lows = []
    for i, (k, b) in enumerate(ks.items()):
        scale = average_scale(b) if b["complete_tasks"] else 100.0
        means = [b["average"][m]["mean"] * scale if b["average"].get(m) else math.nan for m in methods]
        stds = [b["average"][m]["std"] * scale if b["average"].get(m) else math.nan for m in methods]
        x = np.arange(len(methods)) + (i - (len(ks) - 1) / 2) * width
        ax.bar(x, means, width, yerr=stds, capsize=2, label=f"K={k} ({len(b['complete_tasks'])} tasks)")
        lows += [mu - sd for mu, sd in zip(means, stds) if math.isfinite(mu)]
    if lows:  # start the axis near the data: the differences are a few points
        ax.set_ylim(bottom=max(0.0, math.floor(min(lows) / 5) * 5 - 5))
    ax.set_xticks(np.arange(len(methods)), methods, rotation=20, ha="right")
    ax.set_ylabel("test metric x100, average over complete tasks")
    ax.set_title(f"{summary['name']}: average per method (error bar: std over seeds)")
    ax.legend(fontsize="small")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def aggregate(out: str | Path, focus: str | None = None, *, against: list[str] | None = None, plots: bool = True) -> dict:
    """Write results.md, summary.json and the plots into `out`; return the summary."""
    out = Path(out)
    records = load_records(out)
    summary = summarize(records, focus, against)
    write_json_atomic(out / SUMMARY_JSON, summary)
    (out / RESULTS_MD).write_text(render_markdown(summary), encoding="utf-8")
    if plots:
        try:
            render_plots(summary, out)
            render_step_plot(summary, out)
        except ImportError:
            raise ConfigError("the benchmark plots need matplotlib: pip install matplotlib  (tables and summary.json were written)") from None
    return summary
