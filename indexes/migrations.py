"""The migration ledger of catalog.sqlite: every table of the catalog is made by a migration here.

Like simonw/llm's `migrations.py`: migration functions registered in order with `@migration`; the `_migrations`
table (name, applied_at) lists those applied; `migrate(conn)` applies the others, each in its own transaction,
once. `PRAGMA user_version` holds the number of migrations applied (the schema version).

The first migrations use `CREATE TABLE IF NOT EXISTS`, so a catalog made by a paperrag from before the ledger
(tables present, no `_migrations`) is adopted as it is; later ones change what is there (`papers.parser`).

A catalog whose ledger names a migration this code does not know, or whose schema version is higher than the
number it knows, was written by a newer paperrag: `refuse_newer` raises StoreError before anything is written.
Add a migration by appending a function (never edit or reorder one that shipped).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from paperrag.errors import StoreError

LEDGER = "_migrations"
NEWER_HINT = "upgrade paperrag, or point PAPERRAG_HOME at another folder"

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    """Register `fn` as the next migration; its `__name__` is its name in the ledger."""
    if any(m.__name__ == fn.__name__ for m in MIGRATIONS):
        raise ValueError(f"migration {fn.__name__} registered twice")
    MIGRATIONS.append(fn)
    return fn


def known() -> list[str]:
    return [m.__name__ for m in MIGRATIONS]


def schema_version() -> int:
    """The schema version this code writes: the number of migrations it knows."""
    return len(MIGRATIONS)


def _script(conn: sqlite3.Connection, sql: str) -> None:
    """Run the statements of `sql` one by one (executescript would COMMIT the migration's transaction)."""
    stmt = ""
    for line in sql.splitlines(keepends=True):
        stmt += line
        if sqlite3.complete_statement(stmt):
            conn.execute(stmt)
            stmt = ""
    if stmt.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {stmt.strip()[:80]}")


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


# --------------------------------------------------------------------------- migrations (append only)
@migration
def m001_catalog(conn: sqlite3.Connection) -> None:
    """papers, chunks, runs, decisions, meta (ingest's tables)."""
    _script(conn, """
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
    parser INTEGER NOT NULL DEFAULT 0  -- records.PARSER_VERSION the chunks came from (0 = older)
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
""")


@migration
def m002_llm_calls(conn: sqlite3.Connection) -> None:
    """llm_calls: one row per LLM call (indexes.call_log)."""
    _script(conn, """
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,               -- UTC ISO-8601, when the call started
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    purpose TEXT NOT NULL DEFAULT '',
    prompt_id TEXT NOT NULL DEFAULT '',
    prompt_version TEXT NOT NULL DEFAULT '',
    messages TEXT NOT NULL,         -- JSON list of {role, content}
    params TEXT NOT NULL DEFAULT '{}',  -- JSON: max_tokens, temperature, stop, json_mode, stream
    response TEXT,
    tokens_in INTEGER,
    tokens_out INTEGER,
    latency_s REAL,
    first_token_s REAL,
    finish_reason TEXT,             -- stop | length | error
    outcome TEXT NOT NULL,          -- ok | error | cancelled
    error TEXT
);
CREATE INDEX IF NOT EXISTS idx_llm_calls_purpose ON llm_calls(purpose, prompt_id);
""")


@migration
def m003_artifacts(conn: sqlite3.Connection) -> None:
    """artifacts: the cache of LLM-made analyses, translations, summaries (indexes.artifacts)."""
    _script(conn, """
CREATE TABLE IF NOT EXISTS artifacts (
    kind TEXT NOT NULL, subject TEXT NOT NULL, prompt TEXT NOT NULL, model TEXT NOT NULL, language TEXT NOT NULL,
    content TEXT NOT NULL, content_sha256 TEXT NOT NULL,
    outcome TEXT, reason TEXT, extra TEXT, created_at TEXT,
    PRIMARY KEY (kind, subject, prompt, model, language)
);
""")


@migration
def m004_papers_parser(conn: sqlite3.Connection) -> None:
    """papers.parser (the parser version a paper's chunks came from), absent from catalogs made before it."""
    if "parser" not in _columns(conn, "papers"):
        conn.execute("ALTER TABLE papers ADD COLUMN parser INTEGER NOT NULL DEFAULT 0")


@migration
def m005_intake(conn: sqlite3.Connection) -> None:
    """intake: per category and announcement day, what each source announced and the run's receipt
    (`intake_days`), and per category the last announcement day completed (`intake_watermarks`)."""
    _script(conn, """
CREATE TABLE IF NOT EXISTS intake_days (
    category TEXT NOT NULL, day TEXT NOT NULL, run_id INTEGER,
    feed_ids TEXT NOT NULL DEFAULT '[]', listing_ids TEXT NOT NULL DEFAULT '[]', ids TEXT NOT NULL DEFAULT '[]',
    verdict TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '', receipt TEXT NOT NULL DEFAULT '{}',
    updated_at TEXT,
    PRIMARY KEY (category, day)
);
CREATE INDEX IF NOT EXISTS intake_days_run ON intake_days(run_id);
CREATE TABLE IF NOT EXISTS intake_watermarks (
    category TEXT PRIMARY KEY, last_day TEXT NOT NULL, updated_at TEXT
);
""")


@migration
def m006_feedback(conn: sqlite3.Connection) -> None:
    """What drives the ranking: seeds (a reading list), ratings (👍/👎, latest wins) and paper-level vectors
    (title + abstract, embedded once per paper key and embedder identity)."""
    _script(conn, """
CREATE TABLE IF NOT EXISTS seeds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ident TEXT NOT NULL UNIQUE,       -- arxiv:<id> | doi:<doi> | title:<normalised title>
    arxiv_id TEXT NOT NULL DEFAULT '',
    doi TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '',
    abstract TEXT NOT NULL DEFAULT '',
    paper_key TEXT NOT NULL DEFAULT '',  -- the catalog paper it matched ('' = kept with its own text)
    source TEXT NOT NULL DEFAULT '',     -- the file or input it came from
    added_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ratings (
    arxiv_id TEXT PRIMARY KEY,        -- one rating per paper (any version): the latest wins
    value INTEGER NOT NULL,           -- +1 liked, -1 disliked / not interested
    label TEXT NOT NULL DEFAULT '',   -- 'up' | 'down' | 'not interested'
    title TEXT NOT NULL DEFAULT '',
    rated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS paper_vectors (
    paper_key TEXT NOT NULL,
    embedder TEXT NOT NULL,
    text_sha TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (paper_key, embedder)
);
""")


@migration
def m007_chunk_changes(conn: sqlite3.Connection) -> None:
    """chunk_changes: the papers whose chunks each corpus_version changed, so the search indexes apply only that
    (indexes/segments.py) instead of rebuilding from every chunk."""
    _script(conn, """
CREATE TABLE IF NOT EXISTS chunk_changes (
    version INTEGER NOT NULL,          -- the corpus_version the change produced
    paper_key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunk_changes_version ON chunk_changes(version);
""")


@migration
def m008_llm_calls_cached(conn: sqlite3.Connection) -> None:
    """llm_calls.tokens_cached: prompt tokens the backend reused from its KV cache (NULL when it cannot say)."""
    cols = {r[1] for r in conn.execute("PRAGMA table_info(llm_calls)")}
    if "tokens_cached" not in cols:
        conn.execute("ALTER TABLE llm_calls ADD COLUMN tokens_cached INTEGER")


# --------------------------------------------------------------------------- the ledger
def applied(conn: sqlite3.Connection) -> list[str]:
    """Names in the ledger, in the order they were applied ([] when there is no ledger); reads only."""
    has = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (LEDGER,)).fetchone()
    if has is None:
        return []
    return [r[0] for r in conn.execute(f"SELECT name FROM {LEDGER} ORDER BY rowid")]


def refuse_newer(conn: sqlite3.Connection, path: Path | str) -> None:
    """StoreError when the file was written by a newer paperrag (unknown migrations, or a higher schema version).
    Reads only, so a refused file is left exactly as it was."""
    names = applied(conn)
    user_version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    mine = known()
    unknown = [n for n in names if n not in mine]
    if unknown or user_version > len(mine):
        theirs = max(user_version, len(names))
        raise StoreError(f"{path} was written by a newer paperrag (schema {theirs}, this one knows {len(mine)})",
                         hint=NEWER_HINT)


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply the migrations not yet in the ledger, in order, each in its own transaction; their names."""
    from indexes.db import transaction

    conn.execute(f"CREATE TABLE IF NOT EXISTS {LEDGER} (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = set(applied(conn))
    ran = []
    for i, fn in enumerate(MIGRATIONS, 1):
        if fn.__name__ in done:
            continue
        with transaction(conn):
            if conn.execute(f"SELECT 1 FROM {LEDGER} WHERE name=?", (fn.__name__,)).fetchone():
                continue  # another process applied it meanwhile
            fn(conn)
            conn.execute(f"INSERT INTO {LEDGER}(name, applied_at) VALUES(?, ?)", (fn.__name__, _now()))
            conn.execute(f"PRAGMA user_version = {i}")
        ran.append(fn.__name__)
    return ran


def ensure(conn: sqlite3.Connection) -> None:
    """`migrate(conn)` unless the schema version says every known migration is applied (one header read: cheap
    enough for every connection, and right even when the file was deleted and made again)."""
    if int(conn.execute("PRAGMA user_version").fetchone()[0]) != schema_version():
        migrate(conn)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
