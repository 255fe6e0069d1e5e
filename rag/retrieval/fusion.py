"""Fusing BM25 and dense scores.

The product fusion (`hybrid_fuse`) is a convex combination of per-query normalised scores over the union of the
top-`depth` candidates of each retriever, where *both* scores are exact for every candidate: BM25 scores come
from the full score vector and dense scores are exact cosines (dot products of normalised embeddings), not only
the ANN top-k. Normalisation is z-score per query over the candidate union (min-max is kept as an option).

Defaults (alpha 0.5, z-score, depth 200) were chosen on SciFact's *train* queries (809) over alpha 0.3–0.7,
depth 20–1000, z-score vs min-max, then checked once on the test queries (300), all-MiniLM-L6-v2, nDCG@10:
BM25 68.6 · dense 64.5 · RRF(k=60) 71.7 · this fusion 73.7 (train 73.7). The levers that counted: stemming
(+2.5 on BM25), score fusion instead of ranks (+1.5), exact scores for every candidate instead of filling gaps
(+0.6), depth 200 instead of 10 (+0.7). Alpha between 0.4 and 0.6 stays within 0.6 points. Dense pseudo-relevance
feedback and weighted RRF did not help. `python -m rag.eval.beir PATH` reruns the table.
Reciprocal-rank fusion (`rrf_fuse`) is kept as the baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Norm = Literal["zscore", "minmax"]


@dataclass(frozen=True)
class FusionParams:
    alpha: float = 0.5  # weight of the dense score; 1 - alpha goes to BM25
    norm: Norm = "zscore"
    depth: int = 200  # candidates taken from each retriever before fusing
    rrf_k: int = 60  # only for the RRF baseline


DEFAULT_FUSION = FusionParams()


def normalize(scores: np.ndarray, norm: Norm = "zscore") -> np.ndarray:
    """Per-query normalisation over the candidate set; a constant vector maps to zeros."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return s
    if norm == "minmax":
        lo, hi = s.min(), s.max()
        return (s - lo) / (hi - lo) if hi > lo else np.zeros_like(s)
    if norm == "zscore":
        sd = s.std()
        return (s - s.mean()) / sd if sd > 0 else np.zeros_like(s)
    raise ValueError(f"unknown normalisation {norm!r}")


def hybrid_fuse(bm25: np.ndarray, dense: np.ndarray, params: FusionParams = DEFAULT_FUSION) -> np.ndarray:
    """Fused score for candidates whose BM25 and dense scores are aligned arrays (higher is better)."""
    bm25 = np.asarray(bm25, dtype=np.float64)
    dense = np.asarray(dense, dtype=np.float64)
    if bm25.shape != dense.shape:
        raise ValueError(f"score arrays differ in shape: {bm25.shape} vs {dense.shape}")
    return params.alpha * normalize(dense, params.norm) + (1.0 - params.alpha) * normalize(bm25, params.norm)


def rrf_fuse(rankings: Sequence[Sequence[int]], *, k: int = 60, weights: Sequence[float] | None = None):
    """Reciprocal-rank fusion: (candidate ids, fused scores), score = sum_i w_i / (k + rank_i), ranks 1-based."""
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    acc: dict = {}
    for w, ranking in zip(weights, rankings, strict=True):
        for r, item in enumerate(ranking):
            key = item.item() if hasattr(item, "item") else item
            acc[key] = acc.get(key, 0.0) + w / (k + r + 1)
    ids = np.asarray(list(acc.keys()))
    return ids, np.asarray(list(acc.values()), dtype=np.float64)
