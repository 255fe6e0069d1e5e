"""Sentence-level scores for reranking: the best cosine between the query and any sentence of a chunk.

A chunk embedding averages ~10 sentences. Across a corpus that is what finds the right papers; inside one paper,
where every chunk is about the same topic, it blurs the one sentence that answers the question ("3,268 Facebook
status updates" for "which social media"). The reranker (`Retriever`, `rerank=N`) therefore re-scores the top N
fused candidates with the best sentence cosine in place of the chunk cosine: score by the sentence, return the
chunk ("small-to-big"). Meant for questions; `compare`'s field queries are keyword lists written for BM25 and do
not use it.

Measured (all-MiniLM-L6-v2, 2-core CPU): QASPER gold evidence in the top 10 of the question's paper 9/12 → 10/12;
SciFact (corpus-wide, abstracts) nDCG@10 73.72 → 73.63, Recall@10 85.56 → 86.19, i.e. neutral where chunks are
single abstracts. First rerank of 30 uncached passages ≈ 1 s (p50), then ≈ 0.5 ms on top of the first stage.

Sentence vectors are computed on first use and kept in `<home>/bm25/sentences.sqlite`, keyed by the chunk text
and the embedder, so a chunk is embedded sentence by sentence once, whatever the corpus version.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import numpy as np

from indexes.db import connect
from paperrag.text import chunk_body, split_sentences

MIN_WORDS = 4  # shorter fragments ("Model F1", "Results.") say nothing on their own
FORMAT = "v1"


class SentenceVectors:
    """Per-chunk sentence embeddings, cached on disk; `best(texts, qvec)` gives each chunk's best sentence cosine."""

    def __init__(self, path: Path | str, embedder):
        self.path = Path(path)
        self.embedder = embedder
        self._identity = f"{FORMAT}|{getattr(embedder, 'identity', type(embedder).__name__)}"
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.embedded = 0  # sentences embedded by this object (tests and timings)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = connect(self.path)  # the one recipe (indexes.db): WAL, busy timeout, autocommit
            conn.execute("CREATE TABLE IF NOT EXISTS sentence_vectors (key TEXT PRIMARY KEY, n INTEGER NOT NULL, "
                         "dim INTEGER NOT NULL, vectors BLOB NOT NULL)")
            self._conn = conn
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _key(self, body: str) -> str:
        return hashlib.sha1(f"{self._identity}\n{body}".encode()).hexdigest()

    def vectors(self, texts: list[str]) -> list[np.ndarray]:
        """Sentence vectors (n × dim, normalised) of each chunk text; n = 0 when it has no sentence of MIN_WORDS."""
        bodies = [chunk_body(t) for t in texts]
        keys = [self._key(b) for b in bodies]
        uniq = list(dict.fromkeys(keys))
        found: dict[str, np.ndarray] = {}
        with self._lock:
            db = self._db()
            for i in range(0, len(uniq), 500):
                part = uniq[i : i + 500]
                for key, n, dim, blob in db.execute(
                        f"SELECT key, n, dim, vectors FROM sentence_vectors WHERE key IN ({','.join('?' * len(part))})",
                        part):
                    found[key] = np.frombuffer(blob, dtype=np.float16).reshape(n, dim).astype(np.float32)
        missing = {k: b for k, b in zip(keys, bodies, strict=True) if k not in found}
        if missing:
            sents = {k: split_sentences(b, min_words=MIN_WORDS) for k, b in missing.items()}
            flat = [s for k in missing for s in sents[k]]
            vecs = np.asarray(self.embedder.embed(flat), dtype=np.float32) if flat else np.zeros((0, 0), np.float32)
            self.embedded += len(flat)
            dim = int(vecs.shape[1]) if vecs.size else int(getattr(self.embedder, "dimension", 0) or 0)
            rows, at = [], 0
            for k in missing:
                n = len(sents[k])
                half = (vecs[at : at + n] if n else np.zeros((0, dim), np.float32)).astype(np.float16)
                found[k] = half.astype(np.float32)  # as stored: the first answer equals every later one
                at += n
                rows.append((k, n, dim, half.tobytes()))
            with self._lock:
                db = self._db()
                db.execute("BEGIN")
                db.executemany("INSERT OR REPLACE INTO sentence_vectors (key, n, dim, vectors) VALUES (?, ?, ?, ?)",
                               rows)
                db.execute("COMMIT")
        return [found[k] for k in keys]

    def best(self, texts: list[str], qvec: np.ndarray) -> np.ndarray:
        """Best sentence cosine per chunk text (NaN for a chunk without a sentence of MIN_WORDS words)."""
        q = np.asarray(qvec, dtype=np.float32)
        out = np.full(len(texts), np.nan, dtype=np.float64)
        for i, m in enumerate(self.vectors(texts)):
            if m.shape[0]:
                out[i] = float(np.max(m @ q))
        return out
