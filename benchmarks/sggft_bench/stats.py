"""Paired sign-flip permutation test (two-sided) for per-(task, seed) differences.

Under the null hypothesis the two methods are exchangeable within each pair, so every
difference is as likely to have either sign. The statistic is |sum of differences| (the same
test as |mean difference|); the p-value is the share of sign assignments whose |sum| is at
least the observed one. With at most `EXACT_MAX_PAIRS` pairs all 2**n assignments are
enumerated (exact p, the identity assignment included, so p >= 2 / 2**n); with more pairs,
`MC_FLIPS` random assignments from a seeded generator give p = (1 + hits) / (1 + flips).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

EXACT_MAX_PAIRS = 20
MC_FLIPS = 100_000
MC_SEED = 0
_CHUNK = 10_000


@dataclass
class PairedTest:
    n: int  # pairs
    mean_diff: float  # mean of (a - b)
    wins: int  # pairs with a > b
    ties: int
    losses: int  # pairs with a < b
    p_value: float  # two-sided
    method: str  # "exact" or "monte-carlo"
    flips: int  # sign assignments counted (2**n when exact)

    def to_json(self) -> dict:
        return asdict(self)


def paired_sign_flip(a, b, *, exact_max: int = EXACT_MAX_PAIRS, flips: int = MC_FLIPS, seed: int = MC_SEED) -> PairedTest:
    """Two-sided paired sign-flip permutation test of `a` against `b` (equal-length sequences,
    pair i = a[i], b[i]). Wins/ties/losses count a[i] >, ==, < b[i]."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired test needs equal numbers of values, got {a.size} and {b.size}")
    d = a - b
    n = int(d.size)
    wins, ties, losses = int((d > 0).sum()), int((d == 0).sum()), int((d < 0).sum())
    if n == 0:
        return PairedTest(0, math.nan, 0, 0, 0, math.nan, "exact", 0)
    observed = abs(float(d.sum()))
    # Sums that equal the observed one up to rounding count as "at least as extreme".
    tol = 1e-9 * max(float(np.abs(d).sum()), 1e-300)
    if n <= exact_max:
        sums = np.zeros(1)
        for x in d:  # all 2**n signed sums, built by doubling
            sums = np.concatenate([sums + x, sums - x])
        hits = int((np.abs(sums) >= observed - tol).sum())
        return PairedTest(n, float(d.mean()), wins, ties, losses, hits / sums.size, "exact", int(sums.size))
    rng = np.random.default_rng(seed)
    hits, done = 0, 0
    while done < flips:
        m = min(_CHUNK, flips - done)
        signs = rng.integers(0, 2, size=(m, n), dtype=np.int8) * 2 - 1
        hits += int((np.abs(signs @ d) >= observed - tol).sum())
        done += m
    return PairedTest(n, float(d.mean()), wins, ties, losses, (1 + hits) / (1 + flips), "monte-carlo", flips)
