"""`fit`: adapt a backbone on all of a user's labelled data and return a `FewShotClassifier`.

Unlike `run_method` (the research path: LM-BFF K-shot splits, test scores, weights restored),
`fit` trains on every labelled example it is given and hands the adapted model over. It runs
the same episode (`episode.adapt_split`: fresh head, support minibatches, the functional inner
loop), so plain fine-tuning, SGGFT, an aligner and a source task work as in the research path.

Dev split rule (early stopping), `FitConfig.dev`: when every class has at least
`dev.min_per_class` examples (default 4), `dev.fraction` of each class (default 25%, rounded,
at least 1 and leaving at least 1 to train on) is held out, at most `dev.max_size` rows in all
(default 256, shared out by class size); training early-stops on it (`train.eval_every`,
`train.patience`) and keeps the best state. Otherwise every example trains for
`train.max_steps` steps with no early stopping. `fit` says which (stderr, and `fit_info`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .classifier import FewShotClassifier, quiet_loading
from .config import FitConfig, ModelConfig, RunConfig, SggftConfig, TrainConfig, typed_config
from .data.inputs import training_data
from .data.samplers import FewShotSplit


def fit_config(config: RunConfig | FitConfig | dict | None = None, **settings: Any) -> FitConfig:
    """The `FitConfig` of `config` with `typed_config`'s keyword settings applied (fields the user
    left unset stay unset, so an aligner's training settings can fill them)."""
    return typed_config(FitConfig, config, **settings)


def carve_dev(labels: np.ndarray, names: Sequence[str], cfg: FitConfig) -> tuple[np.ndarray, np.ndarray, str]:
    """(train rows, dev rows, a sentence saying what was done): the dev split rule of the module
    docstring, stratified by class, drawn with `cfg.seed`."""
    labels = np.asarray(labels)
    counts = {c: int((labels == c).sum()) for c in range(len(names))}
    order = np.random.default_rng(cfg.seed).permutation(len(labels))
    dev_rule, steps = cfg.dev, cfg.train.max_steps
    smallest = min(counts, key=lambda c: counts[c])
    if not dev_rule.enabled or counts[smallest] < dev_rule.min_per_class:
        why = ("dev.enabled is false" if not dev_rule.enabled else
               f"class {names[smallest]!r} has {counts[smallest]} examples, fewer than dev.min_per_class={dev_rule.min_per_class}")
        note = f"no early stopping ({why}): all {len(labels)} examples train for train.max_steps={steps} steps"
        return np.arange(len(labels)), np.zeros(0, dtype=np.int64), note
    fraction = min(dev_rule.fraction, dev_rule.max_size / len(labels))
    train, dev = [], []
    for c in range(len(names)):
        rows = order[labels[order] == c]
        n_dev = min(max(1, int(np.floor(fraction * len(rows) + 0.5))), len(rows) - 1)
        dev.append(rows[:n_dev])
        train.append(rows[n_dev:])
    train_rows, dev_rows = np.sort(np.concatenate(train)), np.sort(np.concatenate(dev))
    note = (f"early stopping on a dev split of {len(dev_rows)} held out (about {fraction:.0%} of each class, at least 1); "
            f"training on {len(train_rows)} for at most train.max_steps={steps} steps")
    return train_rows, dev_rows, note


def head_rows(labels: np.ndarray, train_rows: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """At most `per_class` training rows of each class (the prototype head's support)."""
    rng = np.random.default_rng(seed + 1)
    picked = []
    for c in np.unique(labels[train_rows]):
        rows = train_rows[labels[train_rows] == c]
        picked.append(rows if len(rows) <= per_class else np.sort(rng.choice(rows, per_class, replace=False)))
    return np.sort(np.concatenate(picked))


def fit(data: Any, *, labels: Sequence | None = None, label_names: Sequence[str] | None = None,
        config: RunConfig | FitConfig | dict | None = None, method: str | None = None, sggft: SggftConfig | None = None,
        train: TrainConfig | None = None, model: ModelConfig | str | None = None, aligner: str | Path | None = None,
        source_task: str | None = None, seed: int | None = None, data_dir: str | Path | None = None,
        progress: bool | None = None, name: str = "user_data", source_candidates: Sequence[str] | None = None) -> FewShotClassifier:
    """Adapt a backbone on all of `data` and return the classifier.

    `data`: a registered task name or a task folder (its train split), a `Task`, a list of texts
    (strings, or (text, text_pair) tuples) with `labels=` (names or class indices), a
    `datasets.Dataset`, a pandas `DataFrame` or a dict of columns (`text`, `label`, optional
    `text_pair`). `label_names` fixes the label order (indices point into it).
    `config`: a `FitConfig` (or `RunConfig`) with every setting; the keyword arguments override
    it: `method` ("finetune" or "sggft"), `sggft` (`SggftConfig`), `train` (`TrainConfig`),
    `model` (a backbone name or path, or a `ModelConfig`), `aligner` (a trained aligner folder,
    or "gradvac"; implies method="sggft" unless set), `source_task` (registered task(s), or "auto":
    ranked on the training rows among `source_candidates`, default every task allowed as a source),
    `seed`, `data_dir`, `progress` (progress bar and messages on stderr).
    """
    from tqdm.auto import tqdm

    from .episode import adapt_split
    from .model.loading import load_backbone
    from .run import check_guidance

    cfg = fit_config(config, method=method, sggft=sggft, train=train, model=model, aligner=aligner,
                     source_task=source_task, seed=seed, data_dir=data_dir, progress=progress)
    task, split = training_data(data, labels=labels, label_names=label_names, data_dir=cfg.data.dir, name=name)
    cfg = cfg.model_copy(update={"task": str(data) if isinstance(data, (str, Path)) else task.name})
    train_rows, dev_rows, note = carve_dev(split.labels, task.label_names, cfg)
    guidance = check_guidance(cfg, task, source_candidates=list(source_candidates) if source_candidates else None)  # before any model loads
    cfg = guidance.cfg
    if cfg.progress:
        print(f"sggft-meta fit: {note}", file=sys.stderr)
    with quiet_loading(not cfg.progress):
        backbone = load_backbone(cfg.model, cfg.data.max_length)
    t0 = time.perf_counter()
    pool = backbone.pool(task, "train", split)
    k = int(min(np.bincount(split.labels[train_rows], minlength=task.num_classes)))
    episode = FewShotSplit(task.name, k, cfg.seed, train_rows, dev_rows)
    # source_task="auto": the candidates are ranked on the training rows (never the dev split)
    aligner_module, source = guidance.bind(backbone, support=pool.batch(train_rows) if guidance.auto else None)
    bar = tqdm(total=cfg.train.max_steps, desc=f"fit {cfg.method} {task.name}", unit="step", disable=not cfg.progress,
               file=sys.stderr, leave=False)
    generator = torch.Generator().manual_seed(cfg.seed)
    result = adapt_split(backbone, task, pool, episode, cfg, generator, aligner=aligner_module, source=source, progress=bar,
                         head_rows=head_rows(split.labels, train_rows, cfg.head_rows, cfg.seed))
    bar.close()
    seconds = time.perf_counter() - t0
    backbone.release_pools()  # the training data's tokens are not part of the model
    info = {
        "data": split.origin if isinstance(data, (str, Path)) else f"{split.origin} ({type(data).__name__})",
        "n_examples": len(split), "n_train": int(len(train_rows)), "n_dev": int(len(dev_rows)),
        "per_class": {task.label_names[c]: int(n) for c, n in enumerate(np.bincount(split.labels, minlength=task.num_classes))},
        "early_stopping": bool(len(dev_rows)), "note": note, "method": cfg.method, "seed": cfg.seed,
        "steps": result.steps, "best_step": result.best_step, "stopped_early": result.stopped_early,
        "dev_metric": result.dev_metric, "dev_loss": result.dev_loss, "train_seconds": round(seconds, 3),
        "aligner": guidance.aligner_info, "source_task": guidance.source_task,
        "source": ({**(source.record() if source is not None else {"tasks": []}), "selection": guidance.selection}
                   if guidance.auto else (source.record() if source is not None else None)),
    }
    if cfg.progress:
        done = (f"best dev {task.metric} {result.dev_metric:.3f} at step {result.best_step} of {result.steps}"
                if len(dev_rows) else f"{result.steps} steps")
        print(f"sggft-meta fit: {done}, {seconds:.1f} s", file=sys.stderr)
    return FewShotClassifier(backbone, task, backbone_ref=cfg.model.name, model_config=cfg.model,
                             max_length=cfg.data.max_length, settings=cfg.model_dump(mode="json"), fit_info=info)
