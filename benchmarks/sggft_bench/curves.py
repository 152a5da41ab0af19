"""Per-step curves of a grid run: the gradient norm and its running CV against the inner step.

Every `run`-like record carries `per_step.grad_norm` (one value per inner step, read once per
episode from the device). For each method and K this module takes, at every step t, the median
over the episodes that reached t of

- the gradient norm ||g_t||, with its 25th and 75th percentiles, and
- the running CV, std / mean of ||g_1..g_t|| (the trace's `grad_norm_cv` is its last value),

and draws them as `grad_norm_over_steps.png` (one column per K). Early-stopped episodes are
shorter, so each point says how many episodes it is over (`n`); points over fewer than
`MIN_EPISODES` episodes are not drawn.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

PLOT = "grad_norm_over_steps.png"
MIN_EPISODES = 3


def _norms(record: dict) -> np.ndarray | None:
    values = (record.get("per_step") or {}).get("grad_norm")
    if not values:
        return None
    return np.array([v if isinstance(v, (int, float)) else math.nan for v in values], dtype=np.float64)


def _running_cv(norms: np.ndarray) -> np.ndarray:
    out = np.full(norms.shape, math.nan)
    for t in range(1, len(norms)):
        seen = norms[: t + 1]
        seen = seen[np.isfinite(seen)]
        if seen.size >= 2 and seen.mean() > 0:
            out[t] = seen.std() / seen.mean()
    return out


def step_curves(records, k: int) -> dict:
    """method -> {"median", "q25", "q75", "running_cv", "n"} lists over steps (None where no episode reached it)."""
    curves = {}
    for m in records.methods:
        series = [n for (mm, _, kk, _), r in sorted(records.ok.items()) if mm == m and kk == k
                  for n in [_norms(r)] if n is not None]
        if not series:
            continue
        length = max(len(s) for s in series)
        norms = np.full((len(series), length), math.nan)
        cvs = np.full((len(series), length), math.nan)
        for i, s in enumerate(series):
            norms[i, : len(s)] = s
            cvs[i, : len(s)] = _running_cv(s)
        count = np.isfinite(norms).sum(axis=0)

        def column_stat(arr, q):
            out = []
            for t in range(length):
                col = arr[:, t][np.isfinite(arr[:, t])]
                out.append(float(np.percentile(col, q)) if col.size else None)
            return out

        curves[m] = {"median": column_stat(norms, 50), "q25": column_stat(norms, 25), "q75": column_stat(norms, 75),
                     "running_cv": column_stat(cvs, 50), "n": [int(c) for c in count]}
    return curves


def render_step_plot(summary: dict, out: Path) -> Path | None:
    """Draw `grad_norm_over_steps.png` from `summary["per_k"][k]["steps"]`; None when no method has per-step data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = [k for k, b in summary["per_k"].items() if b.get("steps")]
    if not ks:
        return None
    from .aggregate import method_styles

    styles = method_styles(summary["methods"])
    fig, axes = plt.subplots(2, len(ks), figsize=(max(7, 5.5 * len(ks)), 7.5), squeeze=False, sharex="col")
    for j, k in enumerate(ks):
        for m, c in summary["per_k"][k]["steps"].items():
            keep = [t for t, n in enumerate(c["n"]) if n >= MIN_EPISODES and c["median"][t] is not None]
            if not keep:
                continue
            x = np.array(keep) + 1
            line = axes[0][j].plot(x, [c["median"][t] for t in keep], label=m, color=styles[m]["color"])[0]
            axes[0][j].fill_between(x, [c["q25"][t] for t in keep], [c["q75"][t] for t in keep],
                                    color=line.get_color(), alpha=0.15)
            cv = [(t + 1, c["running_cv"][t]) for t in keep if c["running_cv"][t] is not None]
            if cv:
                axes[1][j].plot(*zip(*cv), color=line.get_color(), label=m)
        axes[0][j].set_yscale("log")
        axes[0][j].set_title(f"K={k}: gradient norm (median, 25-75%)")
        axes[1][j].set_title(f"K={k}: running gradient-norm CV (median)")
        axes[1][j].set_xlabel("inner step")
        if axes[0][j].get_legend_handles_labels()[0]:
            axes[0][j].legend(fontsize="small")
    axes[0][0].set_ylabel("||g_t||")
    axes[1][0].set_ylabel("std / mean of ||g_1..g_t||")
    fig.suptitle(f"{summary['name']}: gradient norm over inner steps\n(points over at least {MIN_EPISODES} episodes)",
                 fontsize="medium")
    fig.tight_layout()
    path = out / PLOT
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
