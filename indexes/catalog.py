"""The SQLite catalog: papers, chunks, runs, decisions (DESIGN.md › Under PAPERRAG_HOME).

The catalog is the source of truth for what is indexed. Chroma holds the vectors of exactly the chunks whose
paper is `indexed` here; a paper is only marked `indexed` after its vectors are written, so a crash between the
two leaves the paper `indexing` and the next run redoes just that paper.

The tables are made and changed by the migration ledger (`indexes.migrations`), opened with the one connection
recipe (`indexes.db.connect`). Every public read returns typed records (`paperrag.records`), never sqlite rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

from indexes import db as sqlite_db
from paperrag.records import (
    Chunk,
    ChunkRecord,
    Decision,
    DecisionRecord,
    PaperMeta,
    PaperRecord,
    RunRecord,
)

_JSON_FIELDS = ("authors", "categories", "code_links")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Catalog:
    """catalog.sqlite: papers, chunks, runs, decisions, meta. `db` is the connection (indexes/ only)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.db = sqlite_db.connect(self.path, migrate=True)  # StoreError: not writable, newer, damaged

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with sqlite_db.transaction(self.db) as db:
            yield db

    # --- meta ---
    def corpus_version(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key='corpus_version'").fetchone()
        return int(row[0]) if row else 0

    def _bump_corpus_version(self) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES('corpus_version', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def _log_changes(self, paper_keys: Iterable[str]) -> None:
        """Record that these papers' chunks changed in the corpus_version just bumped (the search indexes read it
        to update only those papers; call after `_bump_corpus_version`, in the same transaction)."""
        self.db.executemany(
            "INSERT INTO chunk_changes(version, paper_key) "
            "SELECT CAST(value AS INTEGER), ? FROM meta WHERE key='corpus_version'", ((k,) for k in paper_keys))

    def bump_corpus_version(self) -> None:
        """Tell derived indexes that the vectors changed with no chunk change (`paperrag reindex`): the dense
        matrix is fetched again because the collection it came from changed; BM25 stays."""
        with self.transaction():
            self._bump_corpus_version()

    def get_meta(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    # --- papers ---
    def _papers(self, sql: str, args: Iterable = ()) -> list[PaperRecord]:
        return [paper_record(r) for r in self.db.execute(sql, tuple(args))]

    def get_paper(self, key: str) -> PaperRecord | None:
        row = self.db.execute("SELECT * FROM papers WHERE key=?", (key,)).fetchone()
        return paper_record(row) if row is not None else None

    def versions_of(self, arxiv_id: str) -> list[PaperRecord]:
        return self._papers("SELECT * FROM papers WHERE arxiv_id=? ORDER BY version", (arxiv_id,))

    def latest_indexed(self, arxiv_id: str) -> PaperRecord | None:
        rows = self._papers(
            "SELECT * FROM papers WHERE arxiv_id=? AND status='indexed' ORDER BY version DESC LIMIT 1", (arxiv_id,))
        return rows[0] if rows else None

    def mark_indexing(self, meta: PaperMeta) -> None:
        """Record the paper before any vector is written, so an interruption can be detected and cleaned."""
        values = {k: v for k, v in meta.to_dict().items() if k != "version" and k != "arxiv_id"}
        for f in _JSON_FIELDS:
            values[f] = json.dumps(values[f], ensure_ascii=False)
        cols = ["key", "arxiv_id", "version", *values, "status", "created_at", "updated_at"]
        row = [meta.key, meta.arxiv_id, meta.version, *values.values(), "indexing", now_iso(), now_iso()]
        updates = ", ".join(f"{c}=excluded.{c}" for c in cols if c not in ("key", "created_at"))
        self.db.execute(
            f"INSERT INTO papers({', '.join(cols)}) VALUES({', '.join('?' * len(cols))}) "
            f"ON CONFLICT(key) DO UPDATE SET {updates}",
            row,
        )

    def outdated_papers(self) -> list[PaperRecord]:
        """Indexed full-text papers whose chunks came from an older parser (`records.PARSER_VERSION`)."""
        from paperrag.records import PARSER_VERSION

        return self._papers(
            "SELECT * FROM papers WHERE status='indexed' AND fulltext=1 AND COALESCE(parser, 0) < ? ORDER BY key",
            (PARSER_VERSION,))

    def commit_paper(
        self,
        key: str,
        chunks: list[Chunk],
        *,
        content_sha256: str,
        fulltext: bool,
        n_pages: int,
        embedder: str,
        error: str = "",
        parser: int = 0,
    ) -> None:
        """Atomically replace the paper's chunk rows and mark it indexed (`parser`: the parser version that made
        the chunks from the PDF, 0 for abstract-only papers)."""
        with self.transaction() as db:
            db.execute("DELETE FROM chunks WHERE paper_key=?", (key,))
            db.executemany(
                "INSERT INTO chunks(id, paper_key, ordinal, section, page_start, page_end, kind, n_tokens, text) "
                "VALUES(?,?,?,?,?,?,?,?,?)",
                [
                    (chunk_id(key, c.ordinal), key, c.ordinal, c.section, c.page_start, c.page_end, c.kind,
                     c.n_tokens, c.text)
                    for c in chunks
                ],
            )
            db.execute(
                "UPDATE papers SET status='indexed', content_sha256=?, fulltext=?, n_pages=?, n_chunks=?, "
                "embedder=?, error=?, updated_at=?, parser=? WHERE key=?",
                (content_sha256, int(fulltext), n_pages, len(chunks), embedder, error, now_iso(), int(parser), key),
            )
            self._bump_corpus_version()
            self._log_changes([key])

    def mark_failed(self, meta: PaperMeta, reason: str) -> None:
        existing = self.get_paper(meta.key)
        if existing is not None and existing.status == "indexed":
            return  # never damage what is stored: a failed retry leaves the indexed copy alone
        if existing is None:
            self.mark_indexing(meta)
        self.db.execute(
            "UPDATE papers SET status='failed', error=?, updated_at=? WHERE key=?", (reason, now_iso(), meta.key)
        )

    def set_embedder(self, key: str, embedder: str) -> None:
        """Record the embedder identity a paper's vectors were made with (`paperrag reindex`)."""
        self.db.execute("UPDATE papers SET embedder=? WHERE key=?", (embedder, key))

    def supersede(self, key: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM chunks WHERE paper_key=?", (key,))
            db.execute(
                "UPDATE papers SET status='superseded', n_chunks=0, updated_at=? WHERE key=?", (now_iso(), key)
            )
            self._bump_corpus_version()
            self._log_changes([key])

    def delete_paper(self, key: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM chunks WHERE paper_key=?", (key,))
            db.execute("DELETE FROM papers WHERE key=?", (key,))
            self._bump_corpus_version()
            self._log_changes([key])

    def bulk_insert(self, papers: Iterable[PaperRecord], chunks: Iterable[ChunkRecord] = ()) -> None:
        """Write paper and chunk rows as given, in one transaction, and bump the corpus version (benchmarks and
        evaluations that load a ready-made corpus; ingest uses mark_indexing/commit_paper)."""
        cols = [f.name for f in fields(PaperRecord)]
        chunk_cols = [f.name for f in fields(ChunkRecord)]

        def paper_row(p: PaperRecord) -> tuple:
            out = []
            for c in cols:
                v = getattr(p, c)
                out.append(json.dumps(v, ensure_ascii=False) if c in _JSON_FIELDS else int(v) if c == "fulltext"
                           else v)
            return tuple(out)

        touched: set[str] = set()

        def chunk_row(c: ChunkRecord) -> tuple:
            touched.add(c.paper_key)
            return tuple(getattr(c, n) for n in chunk_cols)

        with self.transaction() as db:
            db.executemany(f"INSERT INTO papers({', '.join(cols)}) VALUES({', '.join('?' * len(cols))})",
                           (paper_row(p) for p in papers))
            db.executemany(f"INSERT INTO chunks({', '.join(chunk_cols)}) VALUES({', '.join('?' * len(chunk_cols))})",
                           (chunk_row(c) for c in chunks))
            self._bump_corpus_version()
            self._log_changes(sorted(touched))

    def papers(self, status: str | None = None) -> list[PaperRecord]:
        if status:
            return self._papers("SELECT * FROM papers WHERE status=? ORDER BY key", (status,))
        return self._papers("SELECT * FROM papers ORDER BY key")

    def interrupted_papers(self) -> list[PaperRecord]:
        return self.papers("indexing")

    def papers_announced(self, day: str) -> list[PaperRecord]:
        """Indexed papers announced on `day` (YYYY-MM-DD), or published that day when no announcement is known."""
        return self._papers(
            "SELECT * FROM papers WHERE status='indexed' AND (announced=? OR (announced='' AND published=?)) "
            "ORDER BY key", (day, day))

    def papers_with_local_path(self, local_path: Path | str) -> list[PaperRecord]:
        """Papers ingested from this local PDF (any status)."""
        return self._papers("SELECT * FROM papers WHERE local_path=? ORDER BY key", (str(local_path),))

    def status_counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT status, COUNT(*) FROM papers GROUP BY status").fetchall()
        return {r[0]: r[1] for r in rows}

    def fulltext_counts(self) -> tuple[int, int]:
        """(indexed papers with full text, indexed papers with the abstract only)."""
        full, total = self.db.execute(
            "SELECT SUM(fulltext), COUNT(*) FROM papers WHERE status='indexed'").fetchone()
        return int(full or 0), int(total or 0) - int(full or 0)

    # --- chunks ---
    def chunk_count(self, paper_key: str | None = None) -> int:
        if paper_key:
            return self.db.execute("SELECT COUNT(*) FROM chunks WHERE paper_key=?", (paper_key,)).fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    def chunk_ids(self, paper_key: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM chunks WHERE paper_key=? ORDER BY ordinal", (paper_key,))]

    def chunks_of(self, paper_key: str) -> list[ChunkRecord]:
        """The paper's chunks in reading order."""
        return [chunk_record(r) for r in
                self.db.execute("SELECT * FROM chunks WHERE paper_key=? ORDER BY ordinal", (paper_key,))]

    def iter_chunks(self, keys: Iterable[str] | None = None) -> Iterator[ChunkRecord]:
        """Every chunk (by paper key, then ordinal), or those of `keys` in that order."""
        if keys is None:
            for r in self.db.execute("SELECT * FROM chunks ORDER BY paper_key, ordinal"):
                yield chunk_record(r)
            return
        for key in keys:
            yield from self.chunks_of(key)

    def chunks_on_page(self, paper_key: str, page: int) -> list[ChunkRecord]:
        """The paper's chunks whose page range covers `page`, in reading order."""
        return [chunk_record(r) for r in self.db.execute(
            "SELECT * FROM chunks WHERE paper_key=? AND page_start<=? AND page_end>=? ORDER BY ordinal",
            (paper_key, page, page))]

    def max_chunk_tokens(self) -> int:
        """The most word pieces of any stored chunk (0 when there is none)."""
        return int(self.db.execute("SELECT MAX(n_tokens) FROM chunks").fetchone()[0] or 0)

    # --- runs and decisions ---
    def start_run(self, command: str) -> int:
        # A run still 'running' belongs to a process that died (one writer at a time: see ingest.lock).
        self.db.execute("UPDATE runs SET status='interrupted' WHERE status='running'")
        cur = self.db.execute(
            "INSERT INTO runs(command, started_at, status) VALUES(?, ?, 'running')", (command, now_iso())
        )
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str, summary: dict) -> None:
        self.db.execute(
            "UPDATE runs SET status=?, finished_at=?, summary=? WHERE id=?",
            (status, now_iso(), json.dumps(summary, ensure_ascii=False), run_id),
        )

    def record(self, decision: Decision) -> None:
        self.db.execute(
            "INSERT INTO decisions(run_id, paper, action, reason, title, ts) VALUES(?,?,?,?,?,?)",
            (decision.run_id, decision.paper, decision.action.value, decision.reason, decision.title, now_iso()),
        )

    def decisions(self, run_id: int) -> list[DecisionRecord]:
        return [decision_record(r) for r in
                self.db.execute("SELECT * FROM decisions WHERE run_id=? ORDER BY id", (run_id,))]

    def get_run(self, run_id: int) -> RunRecord | None:
        row = self.db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        return run_record(row) if row is not None else None

    def last_runs(self, n: int = 5) -> list[RunRecord]:
        """The n newest runs, newest first."""
        return [run_record(r) for r in self.db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (n,))]

    def decision_counts(self, run_id: int) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT action, COUNT(*) FROM decisions WHERE run_id=? GROUP BY action", (run_id,)
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    # --- intake: what each source announced per category and day, the receipts, the watermarks ---
    def record_intake_day(self, category: str, day: str, *, run_id: int | None, feed_ids: list[str],
                          listing_ids: list[str], ids: list[str], verdict: str, reason: str, receipt: dict) -> None:
        self.db.execute(
            "INSERT INTO intake_days(category, day, run_id, feed_ids, listing_ids, ids, verdict, reason, receipt,"
            " updated_at) VALUES(?,?,?,?,?,?,?,?,?,?) ON CONFLICT(category, day) DO UPDATE SET run_id=excluded.run_id,"
            " feed_ids=excluded.feed_ids, listing_ids=excluded.listing_ids, ids=excluded.ids,"
            " verdict=excluded.verdict, reason=excluded.reason, receipt=excluded.receipt,"
            " updated_at=excluded.updated_at",
            (category, day, run_id, json.dumps(feed_ids), json.dumps(listing_ids), json.dumps(ids), verdict, reason,
             json.dumps(receipt, ensure_ascii=False), now_iso()))

    def previous_intake_ids(self, category: str, before_day: str) -> set[str]:
        """The ids announced in `category` on the latest recorded day before `before_day` (empty if none)."""
        row = self.db.execute(
            "SELECT ids FROM intake_days WHERE category=? AND day<? ORDER BY day DESC LIMIT 1",
            (category, before_day or "9999")).fetchone()
        return set(_json_list(row[0])) if row is not None else set()

    def intake_receipts(self, run_id: int) -> list[dict]:
        """The receipts (one per category and day) recorded by a run, in category, day order."""
        rows = self.db.execute("SELECT receipt FROM intake_days WHERE run_id=? ORDER BY day, category", (run_id,))
        return [json.loads(r[0]) for r in rows]

    def last_intake_run(self) -> int | None:
        row = self.db.execute("SELECT MAX(run_id) FROM intake_days").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def watermark(self, category: str) -> str:
        row = self.db.execute("SELECT last_day FROM intake_watermarks WHERE category=?", (category,)).fetchone()
        return row[0] if row is not None else ""

    def set_watermark(self, category: str, day: str) -> None:
        self.db.execute(
            "INSERT INTO intake_watermarks(category, last_day, updated_at) VALUES(?,?,?) ON CONFLICT(category)"
            " DO UPDATE SET last_day=max(last_day, excluded.last_day), updated_at=excluded.updated_at",
            (category, day, now_iso()))


def chunk_id(paper_key: str, ordinal: int) -> str:
    return f"{paper_key}#{ordinal:04d}"


# --- rows -> records (NULL -> "" / 0, JSON lists decoded, fulltext -> bool) ---
def _json_list(value) -> list:
    if isinstance(value, list):
        return value
    try:
        out = json.loads(value or "[]")
    except ValueError:
        return []
    return out if isinstance(out, list) else []


def _typed(cls, row) -> dict:
    data = dict(row)
    out = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        v = data[f.name]
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        if kind.startswith("list"):
            v = _json_list(v)
        elif kind == "bool":
            v = bool(v)
        elif kind == "int":
            v = int(v or 0)
        elif kind == "dict":
            try:
                v = json.loads(v) if isinstance(v, str) and v else (v or {})
            except ValueError:
                v = {}
            v = v if isinstance(v, dict) else {}
        elif v is None:
            v = ""
        out[f.name] = v
    return out


def paper_record(row) -> PaperRecord:
    return PaperRecord(**_typed(PaperRecord, row))


def chunk_record(row) -> ChunkRecord:
    return ChunkRecord(**_typed(ChunkRecord, row))


def run_record(row) -> RunRecord:
    return RunRecord(**_typed(RunRecord, row))


def decision_record(row) -> DecisionRecord:
    return DecisionRecord(**_typed(DecisionRecord, row))


def row_to_meta(row: PaperRecord | sqlite3.Row | dict) -> PaperMeta:
    """The PaperMeta of a catalog paper (a PaperRecord: `record.meta`)."""
    if isinstance(row, PaperRecord):
        return row.meta
    data = dict(row)
    kwargs = {k: data[k] for k in PaperMeta.__dataclass_fields__ if k in data and data[k] is not None}
    for f in _JSON_FIELDS:
        if isinstance(kwargs.get(f), str):
            kwargs[f] = json.loads(kwargs[f] or "[]")
    return PaperMeta(**kwargs)
