"""Approximate dense candidates per large index segment: faiss product quantisation with fast scan, rescored exactly.

An exact scan of 1M float32 vectors reads 1.5 GB per query (~120–220 ms, memory-bound). A segment of at least
`MIN_ROWS` chunks also gets a PQ index (`ann-<source>.faiss`, beside its `dense-<source>.npy`): 192 sub-quantisers
of 2 dimensions × 4 bits (96 bytes per vector, 1/16 of float32), scanned with faiss's SIMD fast-scan. It only picks
candidates: the best `refine` rows of each segment by PQ score are rescored with their exact float32 cosines, and
only exact cosines reach the fusion. Random unit vectors in 384-d (the hardest case: near-uniform scores) keep
recall@10 ≥ 0.99 against the exact scan (`bench/ann_eval.py --pq`).

Segments are immutable, so the index is written once, by whoever first makes the segment's vectors available (the
writer, right after an update or merge: `dense.load_or_build`); smaller segments (a day's update) stay an exact
scan. Tombstoned rows are dropped from the candidates (over-fetched by the segment's dead count). Without faiss
installed everything stays exact.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MIN_ROWS = 50_000  # segments below this are scanned exactly (≤ 5 ms)
SUBQUANTIZERS = 192  # 2 dimensions each for 384-d MiniLM: random vectors need that fine a split to keep recall
BITS = 4  # fast-scan codes
TRAIN_ROWS = 65_536  # PQ training sample per segment
REFINE = 1024  # candidates per segment rescored exactly (at least the depth asked for): recall@200 ≈ 0.94


def available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _faiss():
    import faiss

    faiss.omp_set_num_threads(1)  # one query at a time: waking threads costs more than it saves on a busy box
    return faiss


def path_for(directory: Path, digest: str) -> Path:
    return directory / f"ann-{digest}.faiss"


def build(vectors: np.ndarray, dst: Path) -> bool:
    """Write a PQ fast-scan index of `vectors` (row i = local row i) to `dst`; False when faiss is missing or the
    vectors do not split into the sub-quantisers."""
    if not available():
        return False
    faiss = _faiss()
    n, dim = vectors.shape
    m = SUBQUANTIZERS if dim % SUBQUANTIZERS == 0 else next((s for s in (96, 64, 48, 32) if dim % s == 0), 0)
    if not m:
        return False
    index = faiss.IndexPQFastScan(dim, m, BITS, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(n, min(n, TRAIN_ROWS), replace=False))
    index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    for s in range(0, n, 65_536):  # bounded memory whatever the segment size
        index.add(np.ascontiguousarray(vectors[s : s + 65_536], dtype=np.float32))
    tmp = dst.with_name(f"{dst.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    faiss.write_index(index, str(tmp))
    os.replace(tmp, dst)
    return True


def load(path: Path):
    """The stored index, or None when absent or unreadable (the segment is then scanned exactly)."""
    if not path.exists() or not available():
        return None
    try:
        return _faiss().read_index(str(path))
    except RuntimeError as exc:  # a damaged file: exact scan until the segment is rewritten
        log.warning("ANN index %s cannot be read (%s): that segment is scanned exactly", path, exc)
        return None


def candidates(index, q: np.ndarray, n: int) -> np.ndarray:
    """Local rows of the n best PQ scores (unordered; fewer when the index holds fewer)."""
    n = min(n, int(index.ntotal))
    if n <= 0:
        return np.zeros(0, np.int64)
    _, ids = index.search(np.asarray(q, np.float32).reshape(1, -1), n)
    ids = ids[0]
    return ids[ids >= 0].astype(np.int64)
