"""Every LLM call, logged the same way for every backend, in the catalog's `llm_calls` table.

`LoggedLLM(inner, db_path)` is itself an `LLM`: it forwards to `inner` and writes one row per call — on
success, on error (outcome "error", the error's message) and when a stream is abandoned before its end
(outcome "cancelled", with the partial text). Short transactions in WAL mode, so it shares the catalog file
with the other tables. `count_calls(db_path, purpose="answer")` counts rows (tests assert "0 LLM calls").
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Generator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.llm.base import LLM, ChatResult, ChatStream, Message

TABLE = "llm_calls"
COLUMNS = (
    "id", "ts", "backend", "model", "purpose", "prompt_id", "prompt_version", "messages", "params",
    "response", "tokens_in", "tokens_out", "latency_s", "first_token_s", "finish_reason", "outcome", "error",
)  # fmt: skip
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,               -- UTC ISO-8601, when the call started
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    purpose TEXT NOT NULL DEFAULT '',
    prompt_id TEXT NOT NULL DEFAULT '',
    prompt_version TEXT NOT NULL DEFAULT '',
    messages TEXT NOT NULL,         -- JSON list of {{role, content}}
    params TEXT NOT NULL DEFAULT '{{}}',  -- JSON: max_tokens, temperature, stop, json_mode, stream
    response TEXT,
    tokens_in INTEGER,
    tokens_out INTEGER,
    latency_s REAL,
    first_token_s REAL,
    finish_reason TEXT,             -- stop | length | error
    outcome TEXT NOT NULL,          -- ok | error | cancelled
    error TEXT
);
CREATE INDEX IF NOT EXISTS idx_{TABLE}_purpose ON {TABLE}(purpose, prompt_id);
"""

_ready: set[str] = set()
_ready_lock = threading.Lock()


def _connect(db_path: Path) -> sqlite3.Connection:
    db_path = Path(db_path)
    key = str(db_path.resolve())
    if key not in _ready or not db_path.exists():
        with _ready_lock:
            db_path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(db_path, timeout=30)
            try:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(SCHEMA)
                con.commit()
            finally:
                con.close()
            _ready.add(key)
    con = sqlite3.connect(db_path, timeout=30)
    con.execute("PRAGMA busy_timeout=30000")
    return con


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
        with con:
            cur = con.execute(f"INSERT INTO {TABLE} ({cols}) VALUES ({marks})", tuple(row.values()))
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
    con = sqlite3.connect(db_path, timeout=30)
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
    con = sqlite3.connect(db_path, timeout=30)
    con.row_factory = sqlite3.Row
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


class LoggedLLM:
    """An `LLM` that logs every call of `inner` to `db_path` (table llm_calls)."""

    def __init__(self, inner: LLM, db_path: Path | str):
        self.inner = inner
        self.db_path = Path(db_path)
        ensure_table(self.db_path)

    @property
    def backend(self) -> str:
        return self.inner.backend

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def context_tokens(self) -> int:
        return self.inner.context_tokens

    def __getattr__(self, name: str) -> Any:  # backend extras (e.g. host, gguf_path)
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"<LoggedLLM {self.inner!r} -> {self.db_path}>"

    def _base_row(self, messages: Sequence[Message], labels: dict[str, str], params: dict[str, Any]) -> dict:
        return {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "backend": self.inner.backend,
            "model": self.inner.model,
            "purpose": labels["purpose"],
            "prompt_id": labels["prompt_id"],
            "prompt_version": labels["prompt_version"],
            "messages": [dict(m) for m in messages],
            "params": params,
        }

    @staticmethod
    def _result_cols(r: ChatResult) -> dict[str, Any]:
        return {
            "response": r.text,
            "tokens_in": r.tokens_in,
            "tokens_out": r.tokens_out,
            "latency_s": r.latency_s,
            "first_token_s": r.first_token_s,
            "finish_reason": r.finish_reason,
            "backend": r.backend,
            "model": r.model,
        }

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        json_mode: bool = False,
        purpose: str = "",
        prompt_id: str = "",
        prompt_version: str = "",
    ) -> ChatResult:
        labels = {"purpose": purpose, "prompt_id": prompt_id, "prompt_version": str(prompt_version)}
        params = {"max_tokens": max_tokens, "temperature": temperature, "stop": stop, "json_mode": json_mode,
                  "stream": False}  # fmt: skip
        row = self._base_row(messages, labels, params)
        t0 = time.perf_counter()
        try:
            result = self.inner.chat(
                messages, max_tokens=max_tokens, temperature=temperature, stop=stop, json_mode=json_mode,
                purpose=purpose, prompt_id=prompt_id, prompt_version=prompt_version,
            )  # fmt: skip
        except BaseException as exc:
            log_call(self.db_path, **row, latency_s=time.perf_counter() - t0, finish_reason="error",
                     outcome="error", error=_err(exc))  # fmt: skip
            raise
        log_call(self.db_path, **{**row, **self._result_cols(result)}, outcome="ok")
        return result

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        json_mode: bool = False,
        purpose: str = "",
        prompt_id: str = "",
        prompt_version: str = "",
    ) -> ChatStream:
        labels = {"purpose": purpose, "prompt_id": prompt_id, "prompt_version": str(prompt_version)}
        params = {"max_tokens": max_tokens, "temperature": temperature, "stop": stop, "json_mode": json_mode,
                  "stream": True}  # fmt: skip
        row = self._base_row(messages, labels, params)
        t0 = time.perf_counter()
        try:
            inner = self.inner.stream(
                messages, max_tokens=max_tokens, temperature=temperature, stop=stop, json_mode=json_mode,
                purpose=purpose, prompt_id=prompt_id, prompt_version=prompt_version,
            )  # fmt: skip
        except BaseException as exc:
            log_call(self.db_path, **row, latency_s=time.perf_counter() - t0, finish_reason="error",
                     outcome="error", error=_err(exc))  # fmt: skip
            raise
        return ChatStream(self._logged(inner, row, t0))

    def _logged(self, inner: ChatStream, row: dict, t0: float) -> Generator[str, None, ChatResult]:
        pieces: list[str] = []
        first: float | None = None
        try:
            for piece in inner:
                if first is None and piece:
                    first = time.perf_counter() - t0
                pieces.append(piece)
                yield piece
        except GeneratorExit:
            inner.close()
            log_call(self.db_path, **row, response="".join(pieces), latency_s=time.perf_counter() - t0,
                     first_token_s=first, outcome="cancelled", error="stream closed by the caller")  # fmt: skip
            raise
        except BaseException as exc:
            log_call(self.db_path, **row, response="".join(pieces), latency_s=time.perf_counter() - t0,
                     first_token_s=first, finish_reason="error", outcome="error", error=_err(exc))  # fmt: skip
            raise
        result = inner.result
        assert result is not None
        log_call(self.db_path, **{**row, **self._result_cols(result)}, outcome="ok")
        return result


def _err(exc: BaseException) -> str:
    msg = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {msg}"
