"""One target episode under PROTOCOL.md: a fresh head, the support minibatch schedule, the inner
loop (plain fine-tuning or SGGFT) early-stopped on the K-shot dev split, the best state kept.

Plain fine-tuning is the same functional inner loop with no regularizer, so both methods share
every other choice (optimizer, schedule, clipping, early stopping).
"""

from __future__ import annotations

import numpy as np
import torch

from . import optim
from .config import RunConfig
from .data.pools import TokenizedPool
from .data.samplers import FewShotSplit
from .scoring import score
from .inner_loop import AdaptResult, InnerLoop, InnerSpec
from .model.backbone import Backbone


def inner_spec(cfg: RunConfig) -> InnerSpec:
    """The inner-loop settings of a run config (`method=finetune`: no regularizer)."""
    t, s = cfg.train, cfg.sggft
    lambdas = {} if cfg.method == "finetune" else {"direction": s.lambda_dir, "magnitude": s.lambda_mag, "align": s.lambda_align}
    return InnerSpec(
        lambdas=lambdas, mode=s.mode, beta_dir=s.beta_dir, beta_mag=s.beta_mag, kappa=s.kappa,
        refresh_every=s.refresh_every, hvp_rule=s.hvp_rule, fd_scale=s.fd_scale,
        optimizer=optim.OptimSpec(kind=t.optimizer, weight_decay=t.weight_decay, momentum=t.momentum),
        lr=t.lr, head_lr=t.head_lr, grad_clip=t.grad_clip, multitask=t.multitask, multitask_beta=t.multitask_beta,
    )


def support_schedule(rows: np.ndarray, batch_size: int, steps: int, generator: torch.Generator) -> list[np.ndarray]:
    """`steps` minibatches of `rows`: epochs of a fresh permutation each, cut into batches (the
    last batch of an epoch may be smaller). Drawn up front, so no step waits on the host."""
    rows = np.asarray(rows)
    out: list[np.ndarray] = []
    while len(out) < steps:
        order = rows[torch.randperm(len(rows), generator=generator).numpy()]
        out += [order[b : b + batch_size] for b in range(0, len(order), batch_size)]
    return out[:steps]


def adapt_split(backbone: Backbone, task, pool: TokenizedPool, split: FewShotSplit, cfg: RunConfig,
                generator: torch.Generator, *, aligner=None, source=None, progress=None, head_rows=None) -> AdaptResult:
    """Adapt to `split.train` from the backbone's current adapter, keep the best state on
    `split.dev` (the initialised head at step 0 is a candidate) and write it into the backbone.

    An empty `split.dev` means no early stopping: all `cfg.train.max_steps` steps are taken and
    the last state is kept. `head_rows` (default `split.train`) are the rows the head is
    initialised from (prototypes), for training sets too large for one forward pass."""
    support = pool.batch(split.train if head_rows is None else head_rows)
    backbone.set_head(task, init=cfg.model.head_init, support=support, generator=generator)
    loop = InnerLoop(backbone, inner_spec(cfg), aligner=aligner)
    schedule = support_schedule(split.train, cfg.train.batch_size, cfg.train.max_steps, generator)
    batches = [pool.batch(rows) for rows in schedule]
    shown = [0]  # progress shown so far, in steps

    def evaluate(phi: torch.Tensor) -> tuple[float, float]:
        backbone.restore(loop.layout.to_dict(phi.detach()))
        if progress is not None and len(loop_evals) > 0:
            step = min(len(loop_evals) * cfg.train.eval_every, cfg.train.max_steps)
            progress.update(step - shown[0])
            shown[0] = step
        loop_evals.append(None)
        return score(backbone, task.metric, pool, split.dev, cfg.eval.batch_size)

    loop_evals: list = []
    source_fn, d_mask = (None, None) if source is None else (source.bind(loop), source.mask(loop.layout))
    has_dev = len(split.dev) > 0
    result = loop.run(loop.flat_params(), batches, source=source_fn, d_mask=d_mask, eval_fn=evaluate if has_dev else None,
                      eval_every=cfg.train.eval_every, patience=cfg.train.patience)
    backbone.restore(loop.layout.to_dict(result.phi))
    if progress is not None:
        progress.update(cfg.train.max_steps - shown[0])
    return result


