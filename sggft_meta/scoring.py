"""Evaluation: model outputs over a tokenised pool, scored with the task's metric."""

from __future__ import annotations

import numpy as np
import torch

from . import metrics
from .data.pools import TokenizedPool
from .model.backbone import Backbone, eval_mode


@torch.no_grad()
def predict(backbone: Backbone, pool: TokenizedPool, indices=None, batch_size: int = 64) -> np.ndarray:
    """Outputs (logits, or regression values) for `indices` of `pool`, in the order of `indices`.

    Rows are batched by length to keep padding small; the model is in eval mode throughout.
    """
    idx = np.arange(len(pool)) if indices is None else np.asarray(indices, dtype=np.int64)
    position = {int(r): i for i, r in enumerate(idx)}
    chunks, rows_seen = [], []
    with eval_mode(backbone):
        for rows, batch in pool.batches_by_length(batch_size, idx):
            chunks.append(backbone(**batch.inputs).float())
            rows_seen.append(rows)
    out = torch.cat(chunks).cpu().numpy()  # one device-to-host copy per evaluation
    order = np.array([position[int(r)] for r in np.concatenate(rows_seen)])
    result = np.empty_like(out)
    result[order] = out
    return result


def score(backbone: Backbone, metric: str, pool: TokenizedPool, indices=None, batch_size: int = 64) -> tuple[float, float]:
    """(metric value, mean loss) on `indices` of `pool`."""
    idx = np.arange(len(pool)) if indices is None else np.asarray(indices, dtype=np.int64)
    outputs = predict(backbone, pool, idx, batch_size)
    gold = pool.labels.cpu().numpy()[idx]
    with torch.no_grad():
        loss = backbone.loss(torch.from_numpy(outputs), torch.from_numpy(gold)).item()
    return metrics.compute(metric, outputs, gold), loss
