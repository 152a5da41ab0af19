"""Plain fine-tuning of the adaptable parameters on a K-shot split, early-stopped on its dev split."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .config import EvalConfig, TrainConfig
from .data.pools import TokenizedPool
from .data.samplers import FewShotSplit
from .evaluate import score
from .model.backbone import Backbone


@dataclass
class FitResult:
    best_step: int
    steps: int
    dev_metric: float
    dev_loss: float
    stopped_early: bool
    seconds: float
    history: list[dict] = field(default_factory=list)


def make_optimizer(backbone: Backbone, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = backbone.adaptable_parameters()
    head = [p for n, p in params.items() if n.startswith("head.")]
    body = [p for n, p in params.items() if not n.startswith("head.")]
    groups = [{"params": head, "lr": cfg.head_lr}] + ([{"params": body, "lr": cfg.lr}] if body else [])
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def finetune(backbone: Backbone, metric: str, pool: TokenizedPool, split: FewShotSplit, cfg: TrainConfig,
             eval_cfg: EvalConfig, generator: torch.Generator, progress=None) -> FitResult:
    """Train on `split.train`, evaluate on `split.dev` every `eval_every` steps, keep the best.

    The best state is chosen by dev metric, ties broken by lower dev loss; step 0 (the
    initialised head, before any update) is a candidate too. The best state is restored in
    place before returning.
    """
    start = time.perf_counter()
    optimizer = make_optimizer(backbone, cfg)
    params = list(backbone.adaptable_parameters().values())
    train_idx = torch.as_tensor(split.train)

    def evaluate(step: int) -> tuple[float, float]:
        value, loss = score(backbone, metric, pool, split.dev, eval_cfg.batch_size)
        history.append({"step": step, "dev_metric": value, "dev_loss": loss})
        return value, loss

    history: list[dict] = []
    best_key = evaluate(0)
    best = (0, backbone.snapshot())
    bad_evals, step, stopped = 0, 0, False
    backbone.train()
    while step < cfg.max_steps and not stopped:
        order = train_idx[torch.randperm(len(train_idx), generator=generator)].numpy()
        for b in range(0, len(order), cfg.batch_size):
            batch = pool.batch(order[b : b + cfg.batch_size])
            loss = backbone.loss(backbone(**batch.inputs), batch.labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optimizer.step()
            step += 1
            if progress is not None:
                progress.update(1)
            if step % cfg.eval_every == 0 or step == cfg.max_steps:
                value, dev_loss = evaluate(step)
                backbone.train()
                if (value, -dev_loss) > (best_key[0], -best_key[1]):
                    best_key, best, bad_evals = (value, dev_loss), (step, backbone.snapshot()), 0
                else:
                    bad_evals += 1
                    if bad_evals >= cfg.patience:
                        stopped = True
            if step >= cfg.max_steps or stopped:
                break
    backbone.restore(best[1])
    backbone.eval()
    return FitResult(best[0], step, best_key[0], best_key[1], stopped, time.perf_counter() - start, history)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and population standard deviation (ddof=0, as LM-BFF and SetFit report)."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std())
