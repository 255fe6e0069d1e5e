"""Seeds, ratings and paper-level vectors in catalog.sqlite (tables made by migration `m006_feedback`).

Typed records out (`SeedRecord`, `RatingRecord`), never rows. Paper vectors are the title + abstract embedding
of a paper, stored once per (paper key, embedder identity) with the sha of the text they came from.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from indexes import db as sqlite_db
from indexes.catalog import _typed, now_iso
from paperrag.records import RatingRecord, SeedRecord


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def paper_text(title: str, abstract: str) -> str:
    """The text a paper-level vector is made of: "title. abstract" (whitespace folded)."""
    title, abstract = (title or "").strip(), " ".join((abstract or "").split())
    return f"{title}. {abstract}" if abstract else title


class FeedbackStore:
    """seeds · ratings · paper_vectors. One connection per thread (the Library holds one per thread)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.db = sqlite_db.connect(self.path, migrate=True)

    def close(self) -> None:
        self.db.close()

    # --- seeds ---
    def add_seed(self, *, ident: str, arxiv_id: str = "", doi: str = "", title: str = "", abstract: str = "",
                 paper_key: str = "", source: str = "") -> bool:
        """Insert or refresh a seed; True when it is new."""
        with sqlite_db.transaction(self.db) as db:
            old = db.execute("SELECT id FROM seeds WHERE ident=?", (ident,)).fetchone()
            db.execute(
                "INSERT INTO seeds(ident, arxiv_id, doi, title, abstract, paper_key, source, added_at) "
                "VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(ident) DO UPDATE SET arxiv_id=excluded.arxiv_id, "
                "doi=excluded.doi, title=excluded.title, abstract=excluded.abstract, paper_key=excluded.paper_key, "
                "source=excluded.source",
                (ident, arxiv_id, doi, title, abstract, paper_key, source, now_iso()))
        return old is None

    def seeds(self) -> list[SeedRecord]:
        return [SeedRecord(**_typed(SeedRecord, r)) for r in self.db.execute("SELECT * FROM seeds ORDER BY id")]

    def remove_seeds(self, ids: Iterable[int]) -> int:
        ids = [int(i) for i in ids]
        with sqlite_db.transaction(self.db) as db:
            return sum(db.execute("DELETE FROM seeds WHERE id=?", (i,)).rowcount for i in ids)

    def clear_seeds(self) -> int:
        with sqlite_db.transaction(self.db) as db:
            return db.execute("DELETE FROM seeds").rowcount

    # --- ratings ---
    def rate(self, arxiv_id: str, value: int, label: str, title: str = "", *, at: str | None = None) -> None:
        with sqlite_db.transaction(self.db) as db:
            db.execute(
                "INSERT INTO ratings(arxiv_id, value, label, title, rated_at) VALUES(?,?,?,?,?) "
                "ON CONFLICT(arxiv_id) DO UPDATE SET value=excluded.value, label=excluded.label, "
                "title=excluded.title, rated_at=excluded.rated_at",
                (arxiv_id, int(value), label, title, at or now_iso()))

    def clear_rating(self, arxiv_id: str) -> bool:
        with sqlite_db.transaction(self.db) as db:
            return db.execute("DELETE FROM ratings WHERE arxiv_id=?", (arxiv_id,)).rowcount > 0

    def ratings(self, value: int | None = None) -> list[RatingRecord]:
        sql, args = "SELECT * FROM ratings", ()
        if value is not None:
            sql, args = sql + " WHERE value=?", (int(value),)
        return [RatingRecord(**_typed(RatingRecord, r)) for r in self.db.execute(sql + " ORDER BY rated_at", args)]

    def clear_ratings(self) -> int:
        with sqlite_db.transaction(self.db) as db:
            return db.execute("DELETE FROM ratings").rowcount

    # --- paper vectors ---
    def vectors(self, keys: Iterable[str], embedder: str, *, by_name: bool = False) -> dict[str, tuple[str, np.ndarray]]:
        """{paper key: (text sha, float32 vector)} of the keys stored for this embedder identity; `by_name`: for
        any identity of the model named `embedder` (lets a ranking skip loading the model to learn its identity)."""
        keys = list(keys)
        out: dict[str, tuple[str, np.ndarray]] = {}
        where = "(embedder=? OR embedder LIKE ? || '|%')" if by_name else "embedder=?"
        ident_args = (embedder, embedder) if by_name else (embedder,)
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            rows = self.db.execute(
                f"SELECT paper_key, text_sha, vector FROM paper_vectors WHERE {where} AND paper_key IN "
                f"({','.join('?' * len(part))})", (*ident_args, *part))
            for key, sha, blob in rows:
                out[key] = (sha, np.frombuffer(blob, dtype=np.float32))
        return out

    def put_vectors(self, items: Iterable[tuple[str, str, np.ndarray]], embedder: str) -> None:
        """Store (paper key, text sha, vector) rows for `embedder`."""
        rows = [(k, embedder, sha, sqlite3.Binary(np.asarray(v, dtype=np.float32).tobytes())) for k, sha, v in items]
        with sqlite_db.transaction(self.db) as db:
            db.executemany(
                "INSERT INTO paper_vectors(paper_key, embedder, text_sha, vector) VALUES(?,?,?,?) "
                "ON CONFLICT(paper_key, embedder) DO UPDATE SET text_sha=excluded.text_sha, vector=excluded.vector",
                rows)
