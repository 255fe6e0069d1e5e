"""The k best of a large score array, exactly, without sorting or partitioning all of it.

At 1M chunks a query's BM25 scores are positive for about half the rows (the query's common terms), and
`argpartition` over those ~500k scores cost ~12 ms of a search. A threshold taken from a strided sample (the
`2k / stride`-th best of every `stride`-th score) keeps about 2k rows; when at least k rows reach it, the k best
are all among them (every other row scores below the threshold, which is at most the k-th best), so the result is
exact. When fewer reach it (scores ordered so that the sample misses the best rows) the full partition is used.
"""

from __future__ import annotations

import numpy as np

SAMPLE_MIN_ROWS = 65_536  # below this a plain partition is as fast
STRIDE = 16


def top_k(scores: np.ndarray, k: int, *, positive_only: bool = False) -> np.ndarray:
    """Indices of the k best scores, best first, ties by index; with positive_only, only scores > 0."""
    n = scores.shape[0]
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if n >= SAMPLE_MIN_ROWS and n >= 64 * k:
        sample = scores[::STRIDE]
        rank = min(sample.shape[0], max(1, (2 * k) // STRIDE + 1))
        thr = np.partition(sample, sample.shape[0] - rank)[sample.shape[0] - rank]
        if not positive_only or thr > 0:
            rows = np.flatnonzero(scores >= thr)
            if rows.shape[0] >= k:
                return _best(rows, scores[rows], k)
    rows = np.flatnonzero(scores > 0) if positive_only else np.arange(n)
    return _best(rows, scores[rows], k)


def _best(rows: np.ndarray, sub: np.ndarray, k: int) -> np.ndarray:
    """The first k of `rows` (ascending) ordered by score descending, ties by row."""
    if rows.shape[0] > 4 * k:
        part = np.argpartition(-sub, k - 1)[:k]
        # every row tied with the k-th score competes, so that ties break by index whatever the partition chose
        tied = np.flatnonzero(sub >= sub[part].min())
        rows, sub = rows[tied], sub[tied]
    order = np.lexsort((rows, -sub))[:k]
    return rows[order].astype(np.int64, copy=False)
