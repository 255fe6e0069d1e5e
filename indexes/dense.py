"""Dense retrieval: exact dot products over memory-mapped per-segment matrices; for unfiltered queries on large
corpora, PQ candidates per large segment rescored exactly (`indexes.ann`; Chroma's ANN only without faiss).

Chroma is always queried with `query_embeddings` (never its own embedding function). Filtered queries do not use
Chroma's `where` (slow at scale and limited to what the metadata holds): the allowed rows come from the catalog
(`filters.py`) and are scored exactly against `DenseCache`, the chunk embeddings row-aligned with the BM25 index
(`ChunkIndex.chunk_ids`). The same matrix gives exact cosines for every fusion candidate, so BM25 candidates that
the ANN missed still get their true dense score.

The vectors live beside the BM25 postings, one file per index segment and vector source
(`segments/seg-*/dense-<source>.npy`, see `indexes.segments`): a new segment's vectors are fetched from Chroma
once (only that segment's chunks: a day's update fetches the day's vectors), merged segments copy their members'
rows, tombstoned rows are skipped. The source is the collection's id and embedder, so `paperrag reindex` (a new
collection) fetches everything again instead of reusing stale vectors.

Stored as float32 (`DTYPE`). float16 halves the memory and keeps the top 10 (overlap 0.9997 on random vectors,
see bench/dense_precision.py) but numpy converts float16 ~10× slower than it multiplies float32 on this class of
CPU, so an exact scan costs ~10× more; it stays an option (`DTYPE`) rather than the default.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from itertools import pairwise
from pathlib import Path

import numpy as np

from indexes import ann
from indexes.bm25_index import ChunkIndex
from indexes.segments import Segment
from indexes.topk import top_k

log = logging.getLogger(__name__)

FETCH_BATCH = 2000
GATHER_BLOCK = 2048  # rows gathered per dot product when scoring selected rows (~3 MB: stays in cache)
RUN_MIN = 16  # selected rows forming runs at least this long on average are scored run by run, without a copy
DTYPE = np.float32
_BUILD_COUNT = 0  # segment matrices fetched from Chroma by this process
_FETCHED_ROWS = 0
_ANN_BUILT = 0
_LOADED: dict[str, "DenseCache"] = {}
_LOCK = threading.RLock()


def build_count() -> int:
    return _BUILD_COUNT


def fetched_rows() -> int:
    return _FETCHED_ROWS


def open_collection(settings, embedder=None):
    """The chunk collection, or None when there is none yet. Opened through the ingest side's
    `vector_store.open_collection` (which refuses an embedder mismatch) when an embedder is given; it never gets an
    embedding function, every query passes embeddings."""
    from indexes import vector_store

    if not settings.index.chroma_host and not Path(settings.chroma_dir).exists():
        return None
    if embedder is not None:
        return vector_store.open_collection(settings, embedder.identity, create=False)
    client = vector_store.open_client(settings)
    try:
        return client.get_collection(settings.index.collection, embedding_function=None)
    except Exception:  # noqa: BLE001 - chromadb raises different types across versions for "not found"
        return None


class DenseCache:
    """Row-aligned chunk embeddings (normalised), one memory-mapped matrix per index segment."""

    def __init__(self, parts: list[np.ndarray], offsets: np.ndarray, present: np.ndarray, dead_rows: np.ndarray,
                 corpus_version: str, directory: Path | None, fetched: int = 0, anns: list | None = None):
        self.parts = [np.asarray(p) for p in parts]  # plain ndarray views of the memmaps: fancy indexing is faster
        self.anns = anns if anns is not None else [None] * len(self.parts)  # PQ index per segment (or None)
        self._dead_local = [dead_rows[(dead_rows >= offsets[i]) & (dead_rows < offsets[i + 1])] - offsets[i]
                            for i in range(len(self.parts))]
        self.offsets = offsets
        self.present = present  # bool per row: False where Chroma had no embedding (scores 0)
        self.dead_rows = dead_rows
        self.corpus_version = corpus_version
        self.directory = directory
        self.fetched = fetched  # rows fetched from Chroma to make this cache
        self.built = False

    @property
    def dim(self) -> int:
        return int(self.parts[0].shape[1]) if self.parts else 0

    @property
    def matrix(self) -> np.ndarray:
        """All rows as one array (a copy: tests and small corpora only)."""
        return np.concatenate(self.parts) if self.parts else np.zeros((0, 0), DTYPE)

    @staticmethod
    def _dot(m: np.ndarray, q: np.ndarray) -> np.ndarray:
        # einsum, not BLAS gemv: a matrix-vector product is memory-bound, and waking BLAS threads for each query
        # costs more (4-8 ms stalls measured on a busy 2-core box) than it saves
        return np.einsum("ij,j->i", m.astype(np.float32, copy=False), q)

    def scores(self, q: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Exact cosine of the query with each row (all rows, or `rows`)."""
        q = np.asarray(q, dtype=np.float32)
        if rows is None:
            if not self.parts:
                return np.zeros(0, np.float32)
            return np.concatenate([self._dot(m, q) for m in self.parts])
        rows = np.asarray(rows, np.int64)
        out = np.empty(rows.shape[0], np.float32)
        seg = np.searchsorted(self.offsets, rows, side="right") - 1
        for i in np.unique(seg).tolist():
            sel = np.flatnonzero(seg == i)
            local = rows[sel] - self.offsets[i]
            part = self.parts[i]
            step = np.diff(local)
            breaks = np.flatnonzero(step != 1) + 1
            if local.size >= RUN_MIN * (breaks.size + 1) and (step > 0).all():
                # sorted rows in long runs (a filter selects whole papers, whose chunks are contiguous): score each
                # run in place instead of copying every selected row out of the matrix first
                bounds = np.concatenate(([0], breaks, [local.size])).tolist()
                for a, b in pairwise(bounds):
                    out[sel[a:b]] = self._dot(part[local[a]: local[a] + (b - a)], q)
                continue
            for s in range(0, sel.size, GATHER_BLOCK):  # gather in cache-sized blocks, not one big copy
                out[sel[s : s + GATHER_BLOCK]] = self._dot(part[local[s : s + GATHER_BLOCK]], q)
        return out

    @property
    def has_ann(self) -> bool:
        return any(a is not None for a in self.anns)

    def top_approximate(self, q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Like `top(q, n)` over all rows, with each segment that has a PQ index (`indexes.ann`) contributing the
        exact cosines of its best `max(n, ann.REFINE)` rows by PQ score instead of scanning all of its rows."""
        q = np.asarray(q, dtype=np.float32)
        rows_l, sc_l = [], []
        for i, part in enumerate(self.parts):
            dead = self._dead_local[i]
            if self.anns[i] is None:
                local = np.arange(part.shape[0])
                s = self._dot(part, q)
            else:
                local = np.sort(ann.candidates(self.anns[i], q, max(n, ann.REFINE) + int(dead.size)))
                s = self._dot(part[local], q)
            if dead.size:
                keep = ~np.isin(local, dead, assume_unique=True)
                local, s = local[keep], s[keep]
            if s.size > n:
                pick = np.argpartition(-s, n - 1)[:n]
                local, s = local[pick], s[pick]
            rows_l.append(local + int(self.offsets[i]))
            sc_l.append(s)
        if not rows_l:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        rows, s = np.concatenate(rows_l), np.concatenate(sc_l)
        order = np.lexsort((rows, -s))[:n]
        return rows[order], s[order]

    def top(self, q: np.ndarray, n: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(row indices, cosines) of the n best live rows among `rows` (all when None), best first."""
        s = self.scores(q, rows)
        if rows is None and self.dead_rows.size:
            s[self.dead_rows] = -np.inf
            n = min(n, s.shape[0] - int(self.dead_rows.size))
        n = min(n, s.shape[0])
        if n <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        part = top_k(s, n)
        return (part if rows is None else np.asarray(rows)[part]), s[part]


def ann_top(collection, q: np.ndarray, n: int, index: ChunkIndex) -> np.ndarray:
    """Rows of Chroma's approximate top-n for the query embedding (ids unknown to the index are ignored)."""
    if collection is None or n <= 0:
        return np.zeros(0, dtype=np.int64)
    res = collection.query(query_embeddings=[np.asarray(q, dtype=np.float32).tolist()], n_results=n,
                           include=["distances"])
    row_of = index.row_of
    rows = [row_of[c] for c in res["ids"][0] if c in row_of]
    return np.asarray(rows, dtype=np.int64)


def _fetch(collection, ids: list[str], dim: int | None) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if collection is None:
        return out
    for s in range(0, len(ids), FETCH_BATCH):
        batch = ids[s : s + FETCH_BATCH]
        got = collection.get(ids=batch, include=["embeddings"])
        embs = got.get("embeddings")
        if embs is None:
            continue
        for cid, e in zip(got["ids"], embs, strict=True):
            if e is not None:
                out[cid] = np.asarray(e, dtype=np.float32)
    return out


def _source(collection) -> str:
    """Identity of the vectors: the collection's id and embedder. A cache is reused only from the same source, so
    `paperrag reindex` (new collection, maybe a new model) never leaves stale rows behind."""
    if collection is None:
        return ""
    from indexes.vector_store import EMBEDDER_KEY

    return f"{collection.id}|{(collection.metadata or {}).get(EMBEDDER_KEY, '')}"


def _digest(source: str) -> str:
    return hashlib.sha1(source.encode()).hexdigest()[:12]


def segment_files(seg: Segment) -> list[str]:
    """The dense files a segment holds (what a merge carries over)."""
    return sorted(p.name for p in seg.directory.glob("dense-*.npy"))


def _ensure_segment(seg: Segment, collection, source: str) -> tuple[Path, Path, int]:
    """(vectors, present) files of the segment for this source, fetching its chunks' vectors when absent."""
    global _BUILD_COUNT, _FETCHED_ROWS
    d = _digest(source)
    emb, present = seg.directory / f"dense-{d}.npy", seg.directory / f"dense-{d}.present.npy"
    if emb.exists() and present.exists():
        return emb, present, 0
    fetched = _fetch(collection, seg.chunk_ids, None)
    dim = next((len(v) for v in fetched.values()), 0)
    if dim == 0:
        return emb, present, -1
    mat = np.zeros((seg.n, dim), DTYPE)
    ok = np.zeros(seg.n, bool)
    for i, cid in enumerate(seg.chunk_ids):
        v = fetched.get(cid)
        if v is not None and v.shape[0] == dim:
            mat[i] = v
            ok[i] = True
    tag = f"{os.getpid()}-{threading.get_ident()}"
    np.save(seg.directory / f"present.tmp-{tag}.npy", ok)
    np.save(seg.directory / f"emb.tmp-{tag}.npy", mat)
    os.replace(seg.directory / f"present.tmp-{tag}.npy", present)  # present first: emb marks a complete pair
    os.replace(seg.directory / f"emb.tmp-{tag}.npy", emb)
    _BUILD_COUNT += 1
    _FETCHED_ROWS += seg.n
    return emb, present, seg.n


def _ensure_ann(seg: Segment, vectors: np.ndarray, source: str):
    """The segment's PQ index (`indexes.ann`), built now when the segment is large enough and has none; None for
    small segments or without faiss."""
    global _ANN_BUILT
    if seg.n < ann.MIN_ROWS or not ann.available():
        return None
    path = ann.path_for(seg.directory, _digest(source))
    if not path.exists():
        if not ann.build(vectors, path):
            return None
        _ANN_BUILT += 1
    return ann.load(path)


def ann_built() -> int:
    """Segment PQ indexes built by this process."""
    return _ANN_BUILT


def load_or_build(settings, index: ChunkIndex, collection) -> DenseCache | None:
    """The dense matrix for `index` (its generation's segments): from memory, from disk, or with the missing
    segments' vectors fetched from Chroma. None without chunks or without any vector."""
    if index.n_live == 0:
        return None
    source = _source(collection)
    key = f"{index.directory}|{index.generation}|{source}"
    with _LOCK:
        cached = _LOADED.get(key)
        if cached is not None:
            cached.built = False
            return cached
        parts, presents, anns, fetched = [], [], [], 0
        dim = None
        for seg in index.segments:
            emb, present, n = _ensure_segment(seg, collection, source) if source else (None, None, -1)
            if n < 0:  # no vector for any chunk of this segment
                parts.append(None)
                presents.append(np.zeros(seg.n, bool))
                anns.append(None)
                continue
            fetched += n
            m = np.load(emb, mmap_mode="r")
            dim = dim or int(m.shape[1])
            parts.append(m)
            presents.append(np.load(present))
            anns.append(_ensure_ann(seg, m, source))
        if dim is None:
            log.warning("no chunk embeddings found in Chroma: dense retrieval is off until the collection is filled")
            return None
        parts = [p if p is not None else np.zeros((s.n, dim), DTYPE) for p, s in zip(parts, index.segments,
                                                                                      strict=True)]
        present = np.concatenate(presents)
        present[index.dead_rows] = False
        missing = int(index.n_live - present.sum())
        if missing:
            log.warning("%d of %d chunks have no embedding in Chroma; they get dense score 0", missing, index.n_live)
        cache = DenseCache(parts, index.offsets, present, index.dead_rows, index.corpus_version, index.directory,
                           fetched, anns)
        cache.built = fetched > 0
        for k in [k for k in _LOADED if k.startswith(f"{index.directory}|")]:
            del _LOADED[k]
        _LOADED[key] = cache
        return cache

