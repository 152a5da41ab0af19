"""What every adaptation run records (METHOD.md, "What every run records").

Per-step figures accumulate in one device tensor during the episode (`STEP_FIELDS`, one row per
step) and are read back once at its end; `Trace.summary()` turns them into the published
figures: gradient stability, directional alignment, update path, cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: columns of the per-step record, in order
STEP_FIELDS = ("loss", "grad_norm", "cos_prev", "cos_source", "cos_ref", "step_norm", "skipped", "update_norm",
               "gate", "rho")  # gate, rho: the aligner's mean over groups with a source direction (NaN without)


@dataclass
class Trace:
    """Per-step records of one episode (host copies) and its cost."""

    steps: dict[str, np.ndarray]
    total_path: float  # ||phi_T - phi_0||
    seconds_per_step: float
    peak_memory_bytes: int | None = None
    evals: list[dict] = field(default_factory=list)  # dev evaluations (step, metric, loss)

    @classmethod
    def from_rows(cls, rows: np.ndarray, **kw) -> "Trace":
        return cls({name: rows[:, i].copy() for i, name in enumerate(STEP_FIELDS)}, **kw)

    def __len__(self) -> int:
        return len(self.steps["loss"])

    def summary(self) -> dict:
        """Gradient stability, alignment, update path and cost of the episode."""
        s = self.steps
        taken = s["skipped"] < 0.5
        norms = s["grad_norm"][taken]
        cv = float(norms.std() / norms.mean()) if len(norms) > 1 and norms.mean() > 0 else float("nan")
        cos_prev = s["cos_prev"][1:][taken[1:]] if len(s["cos_prev"]) > 1 else np.array([])
        cos_prev = cos_prev[~np.isnan(cos_prev)]
        cos_src = s["cos_source"][taken]
        cos_src = cos_src[~np.isnan(cos_src)]
        cos_ref = s["cos_ref"][taken]
        return {
            "steps": len(self),
            "skipped_steps": int((~taken).sum()),
            "grad_norm_cv": cv,
            "grad_norm_mean": float(norms.mean()) if len(norms) else float("nan"),
            "cos_consecutive": _mean(cos_prev),
            "cos_source": _mean(cos_src),
            "cos_update_ref": _mean(cos_ref),
            "gate": _nanmean(s["gate"][taken]),
            "rho": _nanmean(s["rho"][taken]),
            "path_length": float(s["step_norm"][taken].sum()),
            "displacement": self.total_path,
            "seconds_per_step": self.seconds_per_step,
            "peak_memory_bytes": self.peak_memory_bytes,
        }

    def to_json(self, per_step: bool = True) -> dict:
        out = {"summary": self.summary(), "evals": self.evals}
        if per_step:
            out["per_step"] = {k: [None if math.isnan(x) else round(float(x), 7) for x in v] for k, v in self.steps.items()}
        return out


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if len(x) else float("nan")


def _nanmean(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return _mean(x)
