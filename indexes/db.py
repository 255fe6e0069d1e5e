"""The one way paperrag opens a SQLite file (catalog.sqlite, sentences.sqlite, …): `connect` and `transaction`.

Recipe: WAL journal, `synchronous=NORMAL`, a 30 s busy timeout, autocommit mode (`isolation_level=None`: write
transactions are explicit, `transaction(conn)`), usable from any thread (callers serialise with their own locks),
rows as `sqlite3.Row` (inside `indexes/` only: the catalog hands out typed records, `paperrag.records`).

`connect(path, readonly=True)` opens through a `file:…?mode=ro` URI and never creates or changes the file.
`connect(path, migrate=True)` is for catalog.sqlite: it refuses a catalog written by a newer paperrag before
touching it, then applies the migration ledger (`indexes.migrations`). A data home that cannot be written, or a
file that is not a database, is one `StoreError` line naming the path and the fix.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from paperrag.errors import StoreError

BUSY_TIMEOUT_MS = 30_000
WRITABLE_HINT = "set PAPERRAG_HOME to a writable folder"
DAMAGED_HINT = "move the file away (paperrag makes a new one), or point PAPERRAG_HOME at another folder"


def connect(path: Path | str, *, readonly: bool = False, migrate: bool = False) -> sqlite3.Connection:
    """A connection to the SQLite file `path` with paperrag's recipe (see the module docstring).

    readonly: `mode=ro` URI; the file must exist (sqlite3.OperationalError otherwise), nothing is written.
    migrate: catalog.sqlite: refuse a newer catalog (StoreError, file untouched), then apply the ledger.
    """
    path = Path(path)
    if not readonly:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _not_writable(path.parent, exc) from exc
    try:
        if readonly:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                                   isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
    except sqlite3.OperationalError as exc:
        if readonly or _transient(exc):
            raise
        raise _open_error(path, exc) from exc
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if readonly:
            return conn
        if migrate:
            from indexes import migrations

            migrations.refuse_newer(conn, path)  # before anything below can change the file
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if migrate:
            migrations.ensure(conn)
    except StoreError:
        conn.close()
        raise
    except sqlite3.DatabaseError as exc:
        conn.close()
        if _transient(exc):
            raise
        raise _open_error(path, exc) from exc
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` … `COMMIT`, or `ROLLBACK` when the block raises (for autocommit-mode connections)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _not_writable(folder: Path, exc: OSError) -> StoreError:
    reason = (exc.strerror or type(exc).__name__).lower()
    return StoreError(f"cannot write to {folder}: {reason}", hint=WRITABLE_HINT)


def _transient(exc: sqlite3.DatabaseError) -> bool:
    """A lock held past the busy timeout: raised as it is (the next try may work), not as a StoreError."""
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


def _open_error(path: Path, exc: sqlite3.DatabaseError) -> StoreError:
    """The StoreError for a file SQLite could not open, read or write."""
    msg = str(exc).lower()
    if "not a database" in msg or "malformed" in msg:
        return StoreError(f"{path} is damaged or not a paperrag catalog ({exc})", hint=DAMAGED_HINT)
    if path.exists() and not os.access(path, os.W_OK):
        return StoreError(f"cannot write to {path}: permission denied", hint=WRITABLE_HINT)
    if not os.access(path.parent, os.W_OK):
        return StoreError(f"cannot write to {path.parent}: permission denied", hint=WRITABLE_HINT)
    return StoreError(f"cannot write to {path}: {exc}", hint=WRITABLE_HINT)
