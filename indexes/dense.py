"""Dense retrieval: Chroma ANN for unfiltered queries, exact dot products over a memory-mapped matrix otherwise.

Chroma is always queried with `query_embeddings` (never its own embedding function). Filtered queries do not use
Chroma's `where` (slow at scale and limited to what the metadata holds): the allowed rows come from the catalog
(`filters.py`) and are scored exactly against `DenseCache`, a float32 matrix of every chunk embedding, row-aligned
with the BM25 index (`ChunkIndex.chunk_ids`). The same matrix gives exact cosines for every fusion candidate, so
BM25 candidates that the ANN missed still get their true dense score.

The cache lives under `settings.bm25_dir/dense_cache/v<corpus_version>/` and follows the BM25 index's rule: it is
rebuilt only when corpus_version changes. A rebuild copies the rows of the previous cache whose chunk id and text
hash are unchanged and fetches only the new or changed rows from Chroma.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from pathlib import Path

import numpy as np

from indexes.bm25_index import ChunkIndex

log = logging.getLogger(__name__)

FETCH_BATCH = 2000
_BUILD_COUNT = 0
_LOADED: dict[str, "DenseCache"] = {}
_LOCK = threading.RLock()


def build_count() -> int:
    return _BUILD_COUNT


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
    """Row-aligned chunk embeddings (normalised float32), memory-mapped."""

    def __init__(self, matrix: np.ndarray, present: np.ndarray, corpus_version: str, directory: Path | None):
        self.matrix = np.asarray(matrix)  # a plain ndarray view of the memmap: fancy indexing is ~8x faster
        self.present = present  # bool per row: False where Chroma had no embedding (scores 0)
        self.corpus_version = corpus_version
        self.directory = directory
        self.built = False

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def scores(self, q: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Exact cosine of the query with each row (all rows, or `rows`)."""
        q = np.asarray(q, dtype=np.float32)
        m = self.matrix if rows is None else self.matrix[rows]
        # einsum, not BLAS gemv: a matrix-vector product is memory-bound, and waking BLAS threads for each query
        # costs more (4-8 ms stalls measured on a busy 2-core box) than it saves
        return np.einsum("ij,j->i", m, q)

    def top(self, q: np.ndarray, n: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(row indices, cosines) of the n best rows among `rows` (all when None), best first."""
        s = self.scores(q, rows)
        n = min(n, s.shape[0])
        if n <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        part = np.argpartition(-s, n - 1)[:n] if n < s.shape[0] else np.arange(s.shape[0])
        part = part[np.argsort(-s[part], kind="stable")]
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


def _previous(root: Path, exclude: Path, source: str):
    """(ids, text hashes, matrix) of the newest other complete cache, for reuse; None when there is none."""
    best = None
    for d in root.glob("v*"):
        if d == exclude or ".tmp-" in d.name or not (d / "manifest.json").exists():
            continue
        mtime = (d / "manifest.json").stat().st_mtime
        if best is None or mtime > best[0]:
            best = (mtime, d)
    if best is None:
        return None
    d = best[1]
    try:
        if json.loads((d / "manifest.json").read_text()).get("source") != source or not source:
            return None
        meta = json.loads((d / "ids.json").read_text())
        return meta["chunk_ids"], np.load(d / "text_hash.npy"), np.load(d / "emb.npy", mmap_mode="r")
    except (OSError, ValueError, KeyError):
        return None


def load_or_build(settings, index: ChunkIndex, collection) -> DenseCache | None:
    """The dense cache for `index.corpus_version`: from memory, from disk, or (re)built. None without chunks."""
    global _BUILD_COUNT
    if index.n_rows == 0:
        return None
    root = Path(settings.bm25_dir) / "dense_cache"
    directory = root / f"v{index.corpus_version}"
    key = str(directory.resolve())
    with _LOCK:
        cached = _LOADED.get(key)
        if cached is not None:
            cached.built = False
            return cached
        cache = _load(directory, index)
        if cache is None:
            cache = _build(root, directory, index, collection)
            _BUILD_COUNT += 1
            for d in root.glob("v*"):
                if d.is_dir() and d != directory and ".tmp-" not in d.name:
                    shutil.rmtree(d, ignore_errors=True)
        for k in [k for k in _LOADED if Path(k).parent == directory.parent.resolve()]:
            del _LOADED[k]
        _LOADED[key] = cache
        return cache


def _load(directory: Path, index: ChunkIndex) -> DenseCache | None:
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
        if str(manifest["corpus_version"]) != index.corpus_version or manifest["n"] != index.n_rows:
            return None
        matrix = np.load(directory / "emb.npy", mmap_mode="r")
        present = np.load(directory / "present.npy")
    except (OSError, ValueError, KeyError):
        return None
    return DenseCache(matrix, present, index.corpus_version, directory)


def _build(root: Path, directory: Path, index: ChunkIndex, collection) -> DenseCache:
    n = index.n_rows
    source = _source(collection)
    prev = _previous(root, directory, source)
    reuse: dict[int, int] = {}
    dim = None
    if prev is not None:
        prev_ids, prev_hash, prev_mat = prev
        dim = int(prev_mat.shape[1])
        prev_row = {c: i for i, c in enumerate(prev_ids)}
        for i, cid in enumerate(index.chunk_ids):
            j = prev_row.get(cid)
            if j is not None and prev_hash[j] == index.text_hash[i]:
                reuse[i] = j
    todo = [i for i in range(n) if i not in reuse]
    fetched = _fetch(collection, [index.chunk_ids[i] for i in todo], dim)
    if dim is None:
        dim = next((len(v) for v in fetched.values()), 0)
    if dim == 0:
        log.warning("no chunk embeddings found in Chroma: dense retrieval is off until the collection is filled")
        dim = 1
    tmp = directory.with_name(f"{directory.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    mat = np.lib.format.open_memmap(tmp / "emb.npy", mode="w+", dtype=np.float32, shape=(n, dim))
    present = np.zeros(n, dtype=bool)
    if reuse:
        rows = np.fromiter(reuse.keys(), dtype=np.int64)
        src = np.fromiter(reuse.values(), dtype=np.int64)
        order = np.argsort(src)
        mat[rows[order]] = prev[2][src[order]]
        present[rows] = True
    for i in todo:
        v = fetched.get(index.chunk_ids[i])
        if v is not None and v.shape[0] == dim:
            mat[i] = v
            present[i] = True
    mat.flush()
    del mat
    np.save(tmp / "present.npy", present)
    np.save(tmp / "text_hash.npy", index.text_hash)
    (tmp / "ids.json").write_text(json.dumps({"chunk_ids": index.chunk_ids}))
    missing = int(n - present.sum())
    if missing:
        log.warning("%d of %d chunks have no embedding in Chroma; they get dense score 0", missing, n)
    (tmp / "manifest.json").write_text(json.dumps({"corpus_version": index.corpus_version, "n": n, "dim": dim,
                                                    "source": source,
                                                    "reused": len(reuse), "fetched": len(todo), "missing": missing}))
    shutil.rmtree(directory, ignore_errors=True)
    try:
        tmp.rename(directory)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    cache = _load(directory, index)
    assert cache is not None
    cache.built = True
    return cache
