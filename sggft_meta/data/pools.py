"""Tokenised pools: a split tokenised once, kept on the model's device, sliced into batches.

No training or evaluation step re-tokenises: a `TokenizedPool` holds right-padded token
tensors for every row of a split, and `batch(indices)` gathers rows and trims the padding to
the longest row of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Batch:
    """Model inputs (all on one device) and targets for one minibatch."""

    inputs: dict[str, torch.Tensor]
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


class TokenizedPool:
    """All rows of one split, tokenised once, on one device."""

    def __init__(self, encoded: dict[str, torch.Tensor], labels: np.ndarray, device: torch.device | str) -> None:
        device = torch.device(device)
        self.tensors = {k: v.to(device) for k, v in encoded.items()}
        self.lengths = self.tensors["attention_mask"].sum(dim=1)
        self.lengths_host = self.lengths.cpu().numpy()
        dtype = torch.float32 if labels.dtype.kind == "f" else torch.long
        self.labels = torch.as_tensor(labels, dtype=dtype, device=device)
        self.device = device

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batch(self, indices, labels: torch.Tensor | None = None) -> Batch:
        """Rows `indices` (any int sequence), padding trimmed; `labels` overrides (remapped episodes)."""
        idx_host = np.asarray(indices, dtype=np.int64)
        width = int(self.lengths_host[idx_host].max()) if len(idx_host) else 1
        idx = torch.as_tensor(idx_host, device=self.device)
        inputs = {k: v.index_select(0, idx)[:, :width] for k, v in self.tensors.items()}
        return Batch(inputs, self.labels.index_select(0, idx) if labels is None else labels.to(self.device))

    def batches_by_length(self, batch_size: int, indices=None):
        """Batches in order of length (little padding) for evaluation; yields (row indices, Batch)."""
        idx = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=np.int64)
        order = idx[np.argsort(self.lengths_host[idx], kind="stable")]
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            yield rows, self.batch(rows)
