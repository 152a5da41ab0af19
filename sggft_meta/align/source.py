"""Source directions: d = sum_s w_s grad_phi L_s(phi; B_s), the weighted loss gradients of the
source tasks, each on a minibatch of its whole training pool with its own head.

A source task's head differs from the target's (other classes), so it is built once, at the
starting adapter phi_0, from many examples of the source's pool (class prototypes of up to
`source.head_rows` rows per class) and held fixed; the target's head group has no source
direction (`mask`). Every call of the bound direction (every `sggft.refresh_every` steps)
draws a fresh minibatch of `source.batch_size` rows from each source's pool with a seeded
generator, so a run is reproducible and successive refreshes see different source examples.

The pool is the source's training split (tokenised once per backbone, never a test split),
less every example whose text also occurs in the target's test split (texts compared
lower-cased with whitespace and punctuation removed; PROTOCOL.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..data.pools import Batch, TokenizedPool
from ..data.samplers import stratify_labels
from ..errors import ConfigError
from ..flat import FlatLayout

#: Tasks built from the same sentences (SST was built from MR's reviews): none is a source for another.
SHARED_SENTENCES = frozenset({"sst2", "sst5", "mr"})

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalize_text(text: str) -> str:
    """`text` lower-cased with whitespace and punctuation removed (the overlap comparison)."""
    return _NOT_WORD.sub("", str(text).lower())


def split_texts(split) -> set[str]:
    """Every normalised text of a split (both sides of a pair task), empty strings left out."""
    texts = {normalize_text(t) for t in split.texts}
    if split.pairs is not None:
        texts |= {normalize_text(t) for t in split.pairs}
    texts.discard("")
    return texts


def overlap_rows(split, test_texts: set[str]) -> np.ndarray:
    """Bool mask of the rows of `split` with a text (either side of a pair) in `test_texts`."""
    if not test_texts:
        return np.zeros(len(split), dtype=bool)
    pairs = split.pairs if split.pairs is not None else (None,) * len(split)
    return np.array([normalize_text(a) in test_texts or (b is not None and normalize_text(b) in test_texts)
                     for a, b in zip(split.texts, pairs)], dtype=bool)


def head_rows_of(labels, rows: np.ndarray, head_rows: int, seed: int) -> np.ndarray:
    """The rows a source head is fit on: of `rows` (the pool), up to `head_rows` per class (per
    label bin for regression), drawn with numpy's generator seeded `seed`; sorted."""
    rng = np.random.default_rng(seed)
    strata = stratify_labels(np.asarray(labels))[rows]
    picked = [rows[strata == c] for c in np.unique(strata)]
    picked = [r if len(r) <= head_rows else rng.choice(r, head_rows, replace=False) for r in picked]
    return np.sort(np.concatenate(picked))


def check_sources(target: str, sources: Sequence[str]) -> None:
    """Refuse an empty source list, a source listed twice, the target as its own source, and
    SST-2 / SST-5 / MR as sources of one another (ConfigError, one line each)."""
    if not sources:
        raise ConfigError("source_task is an empty list; name one or more source tasks (e.g. source_task=[mnli,snli]) or leave it unset")
    twice = sorted({s for s in sources if list(sources).count(s) > 1})
    if twice:
        raise ConfigError(f"source_task lists {', '.join(map(repr, twice))} more than once; give each source task once")
    for s in sources:
        if s == target:
            raise ConfigError(f"source_task {s!r} is the target task itself; choose another source_task")
        if s in SHARED_SENTENCES and target in SHARED_SENTENCES:
            raise ConfigError(f"source_task {s!r} cannot be a source for {target!r}: SST-2, SST-5 and MR share their sentences, "
                              "so none of the three is ever a source for another")


def source_weights(weights: Sequence[float] | None, n: int) -> list[float]:
    """The weights of `n` sources: given (one per source, >= 0, not all 0) or equal (1/n each)."""
    if weights is None:
        return [1.0 / n] * n
    weights = [float(w) for w in weights]
    if len(weights) != n:
        raise ConfigError(f"source.weights has {len(weights)} weight(s) for {n} source task(s); give one weight per source")
    if any(not np.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError(f"source.weights={weights}: weights must be finite, >= 0 and not all 0")
    return weights


@dataclass
class SourceMember:
    """One source task: its head, its weight, and the rows its minibatches are drawn from (or a
    fixed batch, for a source given as one support set)."""

    task_name: str
    head: dict[str, torch.Tensor]
    weight: float = 1.0
    pool: TokenizedPool | None = None
    rows: np.ndarray | None = None  # pool rows that may be drawn (the train split less test overlap)
    batch: Batch | None = None  # a fixed batch instead of a pool
    dropped_test_overlap: int = 0

    def draw(self, batch_size: int, generator: torch.Generator) -> tuple[np.ndarray | None, Batch]:
        """(pool rows drawn, their batch): `batch_size` rows drawn without replacement (all of
        them when the pool is smaller); a fixed batch gives (None, batch)."""
        if self.batch is not None:
            return None, self.batch
        n = len(self.rows)
        pick = self.rows if batch_size >= n else self.rows[torch.randperm(n, generator=generator)[:batch_size].numpy()]
        pick = np.sort(pick)
        return pick, self.pool.batch(pick)


class SourceDirection:
    """The weighted gradient of the source tasks' losses at any phi, on minibatches redrawn at
    every call (`bind`). Each source's direction is its own loss gradient with its own head;
    the combination is d^k = sum_s w_s d_s^k in every parameter group k (the gradient of the
    weighted source loss sum_s w_s L_s)."""

    def __init__(self, backbone, batch: Batch | None = None, head: dict[str, torch.Tensor] | None = None,
                 task_name: str = "", *, members: list[SourceMember] | None = None, batch_size: int = 32,
                 seed: int = 0) -> None:
        if members is None:
            members = [SourceMember(task_name, head, 1.0, batch=batch)]
        self.backbone, self.members, self.batch_size, self.seed = backbone, members, batch_size, seed
        self.draws: list[list[np.ndarray]] = []  # rows drawn at each call of the last binding (pool sources)

    # the single-source view kept by callers that built a source from one support set
    @property
    def task_name(self) -> str:
        return ", ".join(m.task_name for m in self.members)

    @property
    def batch(self) -> Batch | None:
        return self.members[0].batch if len(self.members) == 1 else None

    @property
    def head(self) -> dict[str, torch.Tensor]:
        return self.members[0].head

    @property
    def pool_size(self) -> int:
        """Rows the minibatches are drawn from, over all sources."""
        return int(sum(len(m.rows) if m.rows is not None else len(m.batch) for m in self.members))

    @property
    def dropped_test_overlap(self) -> int:
        return int(sum(m.dropped_test_overlap for m in self.members))

    def record(self) -> dict:
        """What a run's report records about its sources."""
        return {"tasks": [m.task_name for m in self.members], "weights": [m.weight for m in self.members],
                "batch_size": self.batch_size, "pool_size": self.pool_size,
                "pool_sizes": [len(m.rows) if m.rows is not None else len(m.batch) for m in self.members],
                "dropped_test_overlap": self.dropped_test_overlap,
                "dropped_per_task": [m.dropped_test_overlap for m in self.members]}

    # ------------------------------------------------------------ building
    @classmethod
    def from_support(cls, backbone, task, batch: Batch, *, init: str = "prototype",
                     generator: torch.Generator | None = None) -> "SourceDirection":
        """A source fixed to one batch, its head built on `batch` at the backbone's current adapter (phi_0)."""
        weight, bias = backbone.head_tensors(task, init=init, support=batch, generator=generator)
        return cls(backbone, batch, {"head.weight": weight, "head.bias": bias}, task.name)

    @staticmethod
    def pool_member(backbone, task, train, *, weight: float = 1.0, test_texts: set[str] | None = None,
                    head_rows: int = 64, init: str = "prototype", seed: int = 0) -> SourceMember:
        """One source on its training split `train`: the pool (tokenised once per backbone), the
        rows left after dropping test overlap, and the head (prototypes of up to `head_rows`
        rows per class, embedded at the backbone's current adapter)."""
        pool = backbone.pool(task, "train", train)
        drop = overlap_rows(train, test_texts or set())
        rows = np.flatnonzero(~drop)
        if len(rows) == 0:
            raise ConfigError(f"source_task {task.name!r}: every training example also occurs in the target's test split; "
                              "choose another source task")
        support = pool.batch(head_rows_of(train.labels, rows, head_rows, seed))
        w, b = backbone.head_tensors(task, init=init, support=support, generator=torch.Generator().manual_seed(seed))
        return SourceMember(task.name, {"head.weight": w, "head.bias": b}, float(weight), pool=pool, rows=rows,
                            dropped_test_overlap=int(drop.sum()))

    @classmethod
    def for_tasks(cls, backbone, tasks, cfg, *, weights: Sequence[float] | None = None, test=None,
                  seed: int = 0) -> "SourceDirection":
        """Sources `tasks` (Task objects) on their whole training pools, weighted by `weights`
        (default equal), their examples that occur in the target's `test` split dropped."""
        settings = cfg.source
        test_texts = split_texts(test) if test is not None else set()
        weights = source_weights(weights if weights is not None else settings.weights, len(tasks))
        members = [cls.pool_member(backbone, task, task.load_split("train", cfg.data.dir), weight=w, test_texts=test_texts,
                                   head_rows=settings.head_rows, init=cfg.model.head_init, seed=seed)
                   for task, w in zip(tasks, weights)]
        return cls(backbone, members=members, batch_size=settings.batch_size, seed=seed)

    @classmethod
    def for_task(cls, backbone, task, cfg, seed: int = 0, *, test=None) -> "SourceDirection":
        """One source task on its whole training pool (see `for_tasks`)."""
        return cls.for_tasks(backbone, [task], cfg, weights=[1.0], test=test, seed=seed)

    # ------------------------------------------------------------ using
    def mask(self, layout: FlatLayout) -> torch.Tensor:
        """[G]: 1 for groups with a source direction (every group but the head)."""
        return layout.mask([k for k, g in enumerate(layout.groups) if g.kind != "head"])

    def generators(self) -> list[torch.Generator]:
        """One generator per source, seeded from `seed` (each binding starts from them afresh)."""
        return [torch.Generator().manual_seed(self.seed * 1000 + i) for i in range(len(self.members))]

    def bind(self, loop) -> Callable[[torch.Tensor], torch.Tensor]:
        """phi -> d (flat, detached; zero on the head) for the inner loop `loop`. Every call draws
        new source minibatches; the draws restart from `seed` at every binding."""
        gens = self.generators()
        self.draws = []

        def direction(phi: torch.Tensor) -> torch.Tensor:
            d, drawn = None, []
            with torch.enable_grad():
                for member, gen in zip(self.members, gens):
                    rows, batch = member.draw(self.batch_size, gen)
                    drawn.append(rows)
                    _, g = loop.gradient(phi.detach(), batch, head=member.head)
                    g = g.detach() if len(self.members) == 1 and member.weight == 1.0 else member.weight * g.detach()
                    d = g if d is None else d + g
            self.draws.append(drawn)
            return d

        return direction

