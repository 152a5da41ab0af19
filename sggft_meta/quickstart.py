"""`sggft-meta quickstart`: the main job on the embedded demo tasks, offline, in a few minutes.

1. fit a classifier on all of a demo task's labelled data (SGGFT), save it, load it into a fresh
   object, check the two give the same probabilities, and predict a few new sentences;
2. compare SGGFT with plain fine-tuning under the LM-BFF protocol (K-shot splits of a few seeds,
   early stopping on a K-shot dev split, the whole test split) and print the table.

The demo corpus is small and written for this demo: it shows the pipeline, not a benchmark.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from .config import RunConfig

FIT_TASK = "demo_product_reviews"
SENTENCES = ["The battery lasts all week and the screen is gorgeous.",
             "It stopped charging after two days and support never answered.",
             "Great value for the money, I would buy it again."]
TABLE_TASKS = ("demo_product_reviews", "demo_news_topics")
#: the comparison's protocol settings, small enough for a 2-core CPU (the published grids use K = 16, five seeds)
DEFAULTS = {"shots": 8, "seeds": [13, 21, 42], "train": {"max_steps": 40}}


def run_quickstart(cfg: RunConfig, *, save: Path | None = None, out: Path | None = None) -> list:
    """Run both parts; `cfg` carries the backbone and the protocol settings of the comparison.
    Returns the comparison's reports."""
    from .classifier import FewShotClassifier, quiet_loading
    from .fitting import fit
    from .io import write_json_atomic
    from .model.loading import load_backbone
    from .run import partial_path, run_method, run_metadata

    say = (lambda text: print(text, file=sys.stderr)) if cfg.progress else (lambda text: None)
    say(f"quickstart 1/2: fit SGGFT on every labelled example of {FIT_TASK} ({cfg.model.name}, {cfg.model.adapt})")
    model = fit(FIT_TASK, method="sggft", model=cfg.model, train=cfg.train, sggft=cfg.sggft, progress=cfg.progress)
    with tempfile.TemporaryDirectory() as tmp:
        folder = save or Path(tmp) / "model"
        model.save_pretrained(folder, overwrite=save is not None)
        with quiet_loading(not cfg.progress):
            loaded = FewShotClassifier.from_pretrained(folder)
        same = float(np.abs(loaded.predict_proba(SENTENCES) - model.predict_proba(SENTENCES)).max())
    print(f"fit on {model.fit_info['n_examples']} examples ({model.fit_info['note']}); saved to "
          f"{folder if save else 'a temporary folder (--save DIR keeps it)'}; loaded back: largest probability difference {same:.1e}")
    for text, label in zip(SENTENCES, loaded.predict(SENTENCES)):
        print(f"  {label:>8}  {text}")

    say(f"quickstart 2/2: SGGFT against plain fine-tuning, K={cfg.shots}, seeds {cfg.seeds}, tasks {', '.join(TABLE_TASKS)}")
    with quiet_loading(not cfg.progress):
        backbone = load_backbone(cfg.model, cfg.data.max_length)
    reports, meta = [], run_metadata(cfg)
    for name in TABLE_TASKS:
        for method in ("finetune", "sggft"):
            reports.append(run_method(cfg.model_copy(update={"task": name, "method": method, "out": None}), backbone))
            if out is not None:  # finished tables so far; `out` itself only once all are done
                write_json_atomic(partial_path(out), {**meta, "complete": False, "results": [r.to_json() for r in reports]})
    if out is not None:
        write_json_atomic(out, {**meta, "complete": True, "results": [r.to_json() for r in reports]})
        partial_path(out).unlink(missing_ok=True)
    return reports
