"""Episode samplers: LM-BFF target splits and N-way K-shot source episodes.

Only the *train* split is ever sampled: target splits (K per class for training, a disjoint K
per class for development) and source episodes are index sets into the train split. The test
split is read only for evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import DataError

LM_BFF_SEEDS = (13, 21, 42, 87, 100)


def stratify_labels(labels: np.ndarray) -> np.ndarray:
    """Class ids for stratified sampling; regression targets split at the median (LM-BFF)."""
    if labels.dtype.kind == "f":
        return (labels > np.median(labels)).astype(np.int64)
    return labels.astype(np.int64, copy=False)


@dataclass(frozen=True)
class ClassPool:
    """Row indices of one split, per class."""

    by_class: dict[int, np.ndarray]
    class_names: tuple[str, ...]

    @classmethod
    def from_labels(cls, labels: np.ndarray, class_names: tuple[str, ...] | None = None) -> "ClassPool":
        strata = stratify_labels(np.asarray(labels))
        n = int(strata.max()) + 1 if len(strata) else 0
        names = tuple(class_names) if class_names else tuple(f"class {c}" for c in range(n))
        if len(names) < n:
            raise DataError(f"labels go up to {n - 1} but only {len(names)} class names were given")
        by_class = {c: np.flatnonzero(strata == c) for c in range(len(names))}
        return cls(by_class, names)

    @property
    def classes(self) -> list[int]:
        return sorted(self.by_class)

    def counts(self) -> dict[str, int]:
        return {self.class_names[c]: len(v) for c, v in self.by_class.items()}

    def check_k(self, k: int, need: int, largest_k, what: str, task_name: str, fix: str) -> None:
        """Every class must hold `need` rows for this K; else name the smallest class and the
        largest valid K (`largest_k(rows of the smallest class)`)."""
        c = min(self.by_class, key=lambda c: len(self.by_class[c]))
        have = len(self.by_class[c])
        if have >= need:
            return
        largest = largest_k(have)
        advice = (f"use {fix} {largest} or less" if largest >= 1 else
                  f"class {self.class_names[c]!r} has too few examples to sample; add training rows for it")
        raise DataError(
            f"K={k} is too large for task {task_name!r}: class {self.class_names[c]!r} has {have} training examples "
            f"and {what} needs {need} per class; {advice}"
        )


@dataclass(frozen=True)
class FewShotSplit:
    """LM-BFF few-shot split of a train set: K per class to train on, a disjoint K per class for dev."""

    task: str
    k: int
    seed: int
    train: np.ndarray
    dev: np.ndarray


def few_shot_split(task_name: str, labels: np.ndarray, k: int, seed: int, class_names=None) -> FewShotSplit:
    """Draw the split for one data seed: shuffle the train set with `seed`, then take the first
    K rows of each class for training and the next K for development (as LM-BFF's script does)."""
    if k < 1:
        raise DataError(f"K must be at least 1, got {k}")
    pool = ClassPool.from_labels(labels, class_names)
    pool.check_k(k, 2 * k, lambda have: have // 2, "a K-shot split (K to train on, K for development)", task_name, "--shots")
    order = np.random.default_rng(seed).permutation(len(labels))
    strata = stratify_labels(np.asarray(labels))[order]
    train, dev = [], []
    for c in pool.classes:
        rows = order[strata == c]
        train.append(rows[:k])
        dev.append(rows[k : 2 * k])
    return FewShotSplit(task_name, k, seed, np.sort(np.concatenate(train)), np.sort(np.concatenate(dev)))


@dataclass(frozen=True)
class Episode:
    """One N-way K-shot episode: indices into the train split and labels remapped to 0..N-1."""

    task: str
    classes: tuple[int, ...]  # original class ids; episode label i means classes[i]
    support: np.ndarray
    support_labels: torch.Tensor
    query: np.ndarray
    query_labels: torch.Tensor


class EpisodeSampler:
    """N-way K-shot support + Q-per-class query episodes from a task's train split.

    Balanced (every sampled class contributes exactly K support and Q query rows, disjoint),
    driven by an explicit `torch.Generator`, so the same seed gives the same episodes. With
    `n_way` below the number of classes, N classes are sampled per episode and relabelled
    0..N-1 in sampled order.
    """

    def __init__(self, task_name: str, labels: np.ndarray, *, k_shot: int, q_query: int, n_way: int | None = None,
                 generator: torch.Generator | None = None, seed: int | None = None, class_names=None) -> None:
        self.task = task_name
        self.pool = ClassPool.from_labels(labels, class_names)
        n_classes = len(self.pool.classes)
        self.n_way = n_classes if n_way is None else n_way
        if not 2 <= self.n_way <= n_classes:
            raise DataError(f"n_way={self.n_way} for task {task_name!r}, which has {n_classes} classes; use 2..{n_classes}")
        if k_shot < 1 or q_query < 1:
            raise DataError(f"an episode needs k_shot >= 1 and q_query >= 1, got {k_shot} and {q_query}")
        self.k_shot, self.q_query = k_shot, q_query
        self.pool.check_k(k_shot, k_shot + q_query, lambda have: have - q_query,
                          f"an episode with {q_query} query rows per class", task_name, "k_shot")
        if generator is None:
            generator = torch.Generator()
            generator.manual_seed(0 if seed is None else seed)
        self.generator = generator

    def sample(self) -> Episode:
        g = self.generator
        classes = self.pool.classes
        pick = torch.randperm(len(classes), generator=g)[: self.n_way].tolist()
        chosen = tuple(classes[i] for i in pick) if self.n_way < len(classes) else tuple(classes)
        support, query, s_lab, q_lab = [], [], [], []
        for new_label, c in enumerate(chosen):
            rows = self.pool.by_class[c]
            perm = torch.randperm(len(rows), generator=g)[: self.k_shot + self.q_query].numpy()
            support.append(rows[perm[: self.k_shot]])
            query.append(rows[perm[self.k_shot :]])
            s_lab += [new_label] * self.k_shot
            q_lab += [new_label] * self.q_query
        return Episode(self.task, chosen, np.concatenate(support), torch.tensor(s_lab), np.concatenate(query), torch.tensor(q_lab))

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
