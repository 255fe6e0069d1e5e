"""The SQLite catalog: papers, chunks, runs, decisions (DESIGN.md › Under PAPERRAG_HOME).

The catalog is the source of truth for what is indexed. Chroma holds the vectors of exactly the chunks whose
paper is `indexed` here; a paper is only marked `indexed` after its vectors are written, so a crash between the
two leaves the paper `indexing` and the next run redoes just that paper.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from ingest.records import Chunk, Decision, PaperMeta

SCHEMA = """
CREATE TABLE IF NOT EXISTS papers (
    key TEXT PRIMARY KEY,              -- arxiv_id + 'v' + version
    arxiv_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    title TEXT, authors TEXT, abstract TEXT, categories TEXT, primary_category TEXT,
    published TEXT, updated TEXT, announced TEXT, announce_type TEXT,
    pdf_url TEXT, abs_url TEXT, code_links TEXT, license TEXT, doi TEXT, comment TEXT,
    source TEXT, local_path TEXT,
    content_sha256 TEXT,               -- of the PDF the chunks came from ('' = abstract only)
    status TEXT NOT NULL,              -- indexing | indexed | failed | superseded
    fulltext INTEGER NOT NULL DEFAULT 0,
    n_pages INTEGER NOT NULL DEFAULT 0,
    n_chunks INTEGER NOT NULL DEFAULT 0,
    embedder TEXT,
    error TEXT,
    created_at TEXT, updated_at TEXT,
    parser INTEGER NOT NULL DEFAULT 0  -- ingest.pdf_parse.PARSER_VERSION the chunks came from (0 = older)
);
CREATE INDEX IF NOT EXISTS papers_arxiv_id ON papers(arxiv_id);
CREATE INDEX IF NOT EXISTS papers_status ON papers(status);
CREATE INDEX IF NOT EXISTS papers_published ON papers(published);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY,               -- paper key + '#' + ordinal
    paper_key TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    section TEXT, page_start INTEGER, page_end INTEGER, kind TEXT, n_tokens INTEGER,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_paper ON chunks(paper_key);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT, started_at TEXT, finished_at TEXT,
    status TEXT NOT NULL,              -- running | done | failed | interrupted
    summary TEXT
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL, paper TEXT NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL,
    title TEXT, ts TEXT
);
CREATE INDEX IF NOT EXISTS decisions_run ON decisions(run_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""

_JSON_FIELDS = ("authors", "categories", "code_links")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Catalog:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Columns added since a catalog was created (SQLite's CREATE TABLE IF NOT EXISTS leaves old tables be)."""
        have = {r[1] for r in self.db.execute("PRAGMA table_info(papers)")}
        if "parser" not in have:
            self.db.execute("ALTER TABLE papers ADD COLUMN parser INTEGER NOT NULL DEFAULT 0")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- meta ---
    def corpus_version(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key='corpus_version'").fetchone()
        return int(row[0]) if row else 0

    def _bump_corpus_version(self) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES('corpus_version', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def get_meta(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    # --- papers ---
    def get_paper(self, key: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM papers WHERE key=?", (key,)).fetchone()

    def versions_of(self, arxiv_id: str) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT * FROM papers WHERE arxiv_id=? ORDER BY version", (arxiv_id,)
        ).fetchall()

    def latest_indexed(self, arxiv_id: str) -> sqlite3.Row | None:
        return self.db.execute(
            "SELECT * FROM papers WHERE arxiv_id=? AND status='indexed' ORDER BY version DESC LIMIT 1",
            (arxiv_id,),
        ).fetchone()

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

    def outdated_papers(self) -> list[sqlite3.Row]:
        """Indexed full-text papers whose chunks came from an older parser (`records.PARSER_VERSION`)."""
        from ingest.records import PARSER_VERSION

        return self.db.execute(
            "SELECT * FROM papers WHERE status='indexed' AND fulltext=1 AND COALESCE(parser, 0) < ? ORDER BY key",
            (PARSER_VERSION,)).fetchall()

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

    def mark_failed(self, meta: PaperMeta, reason: str) -> None:
        existing = self.get_paper(meta.key)
        if existing is not None and existing["status"] == "indexed":
            return  # never damage what is stored: a failed retry leaves the indexed copy alone
        if existing is None:
            self.mark_indexing(meta)
        self.db.execute(
            "UPDATE papers SET status='failed', error=?, updated_at=? WHERE key=?", (reason, now_iso(), meta.key)
        )

    def supersede(self, key: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM chunks WHERE paper_key=?", (key,))
            db.execute(
                "UPDATE papers SET status='superseded', n_chunks=0, updated_at=? WHERE key=?", (now_iso(), key)
            )
            self._bump_corpus_version()

    def delete_paper(self, key: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM chunks WHERE paper_key=?", (key,))
            db.execute("DELETE FROM papers WHERE key=?", (key,))
            self._bump_corpus_version()

    def papers(self, status: str | None = None) -> list[sqlite3.Row]:
        if status:
            return self.db.execute("SELECT * FROM papers WHERE status=? ORDER BY key", (status,)).fetchall()
        return self.db.execute("SELECT * FROM papers ORDER BY key").fetchall()

    def interrupted_papers(self) -> list[sqlite3.Row]:
        return self.papers("indexing")

    def status_counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT status, COUNT(*) FROM papers GROUP BY status").fetchall()
        return {r[0]: r[1] for r in rows}

    def chunk_count(self, paper_key: str | None = None) -> int:
        if paper_key:
            return self.db.execute("SELECT COUNT(*) FROM chunks WHERE paper_key=?", (paper_key,)).fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    def chunk_ids(self, paper_key: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM chunks WHERE paper_key=? ORDER BY ordinal", (paper_key,))]

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

    def decisions(self, run_id: int) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM decisions WHERE run_id=? ORDER BY id", (run_id,)).fetchall()

    def last_runs(self, n: int = 5) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (n,)).fetchall()

    def decision_counts(self, run_id: int) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT action, COUNT(*) FROM decisions WHERE run_id=? GROUP BY action", (run_id,)
        ).fetchall()
        return {r[0]: r[1] for r in rows}


def chunk_id(paper_key: str, ordinal: int) -> str:
    return f"{paper_key}#{ordinal:04d}"


def row_to_meta(row: sqlite3.Row) -> PaperMeta:
    data = dict(row)
    kwargs = {k: data[k] for k in PaperMeta.__dataclass_fields__ if k in data and data[k] is not None}
    for f in _JSON_FIELDS:
        if isinstance(kwargs.get(f), str):
            kwargs[f] = json.loads(kwargs[f] or "[]")
    return PaperMeta(**kwargs)


def iter_chunk_rows(catalog: Catalog, keys: Iterable[str] | None = None) -> Iterator[sqlite3.Row]:
    if keys is None:
        yield from catalog.db.execute("SELECT * FROM chunks ORDER BY paper_key, ordinal")
        return
    for key in keys:
        yield from catalog.db.execute("SELECT * FROM chunks WHERE paper_key=? ORDER BY ordinal", (key,))
