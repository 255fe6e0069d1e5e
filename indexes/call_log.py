"""The `llm_calls` table: one row per LLM call, whatever the backend (written by `rag.llm.logged.LoggedLLM`).

`count_calls(db_path, purpose="answer")` counts rows (tests assert "0 LLM calls"); `recent_calls` reads them.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from indexes.db import connect

TABLE = "llm_calls"
COLUMNS = (
    "id", "ts", "backend", "model", "purpose", "prompt_id", "prompt_version", "messages", "params",
    "response", "tokens_in", "tokens_out", "latency_s", "first_token_s", "finish_reason", "outcome", "error",
    "tokens_cached",
)  # fmt: skip
# The table is made by the catalog's migration ledger (indexes.migrations.m002_llm_calls).


def _connect(db_path: Path) -> sqlite3.Connection:
    """A connection with the catalog recipe; the ledger is applied (the table made) when the file needs it."""
    return connect(Path(db_path), migrate=True)


def ensure_table(db_path: Path | str) -> None:
    _connect(Path(db_path)).close()


def log_call(db_path: Path | str, **row: Any) -> int:
    """Insert one row (unknown keys rejected) and return its id."""
    bad = set(row) - set(COLUMNS)
    if bad:
        raise ValueError(f"unknown llm_calls columns: {sorted(bad)}")
    row.setdefault("ts", datetime.now(UTC).isoformat(timespec="milliseconds"))
    for k in ("messages", "params"):
        if k in row and not isinstance(row[k], str):
            row[k] = json.dumps(row[k], ensure_ascii=False)
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    con = _connect(Path(db_path))
    try:
        cur = con.execute(f"INSERT INTO {TABLE} ({cols}) VALUES ({marks})", tuple(row.values()))  # autocommit
        return int(cur.lastrowid or 0)
    finally:
        con.close()


def _where(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    bad = set(filters) - set(COLUMNS)
    if bad:
        raise ValueError(f"unknown llm_calls columns: {sorted(bad)}")
    if not filters:
        return "", []
    return " WHERE " + " AND ".join(f"{k} = ?" for k in filters), list(filters.values())


def _table_exists(con: sqlite3.Connection) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (TABLE,)).fetchone() is not None


def count_calls(db_path: Path | str, **filters: Any) -> int:
    """Number of logged calls matching column=value filters (0 when the db or table does not exist)."""
    db_path = Path(db_path)
    if not db_path.exists():
        return 0
    where, args = _where(filters)
    con = connect(db_path, readonly=True)
    try:
        if not _table_exists(con):
            return 0
        return int(con.execute(f"SELECT COUNT(*) FROM {TABLE}{where}", args).fetchone()[0])
    finally:
        con.close()


def recent_calls(db_path: Path | str, limit: int = 20, **filters: Any) -> list[dict[str, Any]]:
    """Newest first, as dicts (messages/params decoded)."""
    db_path = Path(db_path)
    if not db_path.exists():
        return []
    where, args = _where(filters)
    con = connect(db_path, readonly=True)
    try:
        if not _table_exists(con):
            return []
        rows = con.execute(f"SELECT * FROM {TABLE}{where} ORDER BY id DESC LIMIT ?", [*args, limit]).fetchall()
    finally:
        con.close()
    out = []
    for r in rows:
        d = dict(r)
        for k in ("messages", "params"):
            try:
                d[k] = json.loads(d[k]) if d.get(k) else d.get(k)
            except ValueError:
                pass
        out.append(d)
    return out


def last_call_id(db_path: Path | str) -> int:
    """Id of the newest logged call (0 when none): `call_stats(db_path, after_id=…)` then covers what came since."""
    db_path = Path(db_path)
    if not db_path.exists():
        return 0
    con = connect(db_path, readonly=True)
    try:
        if not _table_exists(con):
            return 0
        return int(con.execute(f"SELECT COALESCE(MAX(id), 0) FROM {TABLE}").fetchone()[0])
    finally:
        con.close()


def call_stats(db_path: Path | str, after_id: int = 0) -> dict[str, float]:
    """Means over the calls with id > after_id: {"calls", "latency_s", "tokens_in", "tokens_out", "tokens_cached"}
    (0 when none; tokens_cached over the calls whose backend reports it)."""
    db_path = Path(db_path)
    empty = {"calls": 0, "latency_s": 0.0, "tokens_in": 0.0, "tokens_out": 0.0, "tokens_cached": 0.0}
    if not db_path.exists():
        return empty
    con = connect(db_path, readonly=True)
    try:
        if not _table_exists(con):
            return empty
        n, lat, tin, tout, cached = con.execute(
            f"SELECT COUNT(*), AVG(latency_s), AVG(tokens_in), AVG(tokens_out), AVG(COALESCE(tokens_cached, 0)) "
            f"FROM {TABLE} WHERE id > ?", (after_id,)).fetchone()
    finally:
        con.close()
    return {"calls": int(n or 0), "latency_s": float(lat or 0), "tokens_in": float(tin or 0),
            "tokens_out": float(tout or 0), "tokens_cached": float(cached or 0)}


def call_speeds(db_path: Path | str, after_id: int = 0) -> dict[str, float | None]:
    """The machine's speed over the calls with id > after_id, so that a bench's times can be told apart from the
    machine's drift (the same code ran 80–108 prompt tokens a second on this 2-core box on different runs):
    {"prompt_tok_s": uncached prompt tokens / seconds to the first token, "decode_tok_s": tokens after the first /
    seconds after it}; None when no call reports the times (a backend without token counts)."""
    db_path = Path(db_path)
    if not db_path.exists():
        return {"prompt_tok_s": None, "decode_tok_s": None}
    con = connect(db_path, readonly=True)
    try:
        if not _table_exists(con):
            return {"prompt_tok_s": None, "decode_tok_s": None}
        prompt, first, decoded, after = con.execute(
            f"SELECT SUM(tokens_in - COALESCE(tokens_cached, 0)), SUM(first_token_s), "
            f"SUM(MAX(tokens_out - 1, 0)), SUM(MAX(latency_s - first_token_s, 0)) FROM {TABLE} "
            f"WHERE id > ? AND first_token_s > 0 AND tokens_in > 0 AND tokens_out > 0 AND latency_s > 0",
            (after_id,)).fetchone()
    finally:
        con.close()
    return {"prompt_tok_s": round(prompt / first, 1) if prompt and first else None,
            "decode_tok_s": round(decoded / after, 1) if decoded and after else None}
