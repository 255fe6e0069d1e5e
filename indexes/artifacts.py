"""Cache of LLM-made artifacts, keyed by (kind, subject, prompt id@version, model, language).

subject is the paper key (arXiv id + version) for per-paper artifacts, or the digest date plus a hash of its
paper keys for the executive summary. Re-running a finished day finds every artifact here and makes zero LLM
calls; changing a prompt file's version or the model regenerates exactly what depended on it.
The table lives in catalog.sqlite (made by `indexes.migrations`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from indexes.catalog import now_iso
from indexes.db import connect


@dataclass
class Artifact:
    content: str
    outcome: str
    reason: str
    extra: dict


class ArtifactCache:
    def __init__(self, db_path: Path):
        self.db = connect(db_path, migrate=True)  # the `artifacts` table is made by indexes.migrations

    def get(self, kind: str, subject: str, prompt: str, model: str, language: str) -> Artifact | None:
        row = self.db.execute(
            "SELECT content, outcome, reason, extra FROM artifacts WHERE kind=? AND subject=? AND prompt=? "
            "AND model=? AND language=?", (kind, subject, prompt, model, language)).fetchone()
        if row is None:
            return None
        return Artifact(row[0], row[1] or "", row[2] or "", json.loads(row[3] or "{}"))

    def put(self, kind: str, subject: str, prompt: str, model: str, language: str, content: str, *,
            outcome: str = "", reason: str = "", extra: dict | None = None) -> None:
        self.db.execute(
            "INSERT INTO artifacts(kind, subject, prompt, model, language, content, content_sha256, outcome, "
            "reason, extra, created_at) VALUES(?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(kind, subject, prompt, model, language) DO UPDATE SET content=excluded.content, "
            "content_sha256=excluded.content_sha256, outcome=excluded.outcome, reason=excluded.reason, "
            "extra=excluded.extra, created_at=excluded.created_at",
            (kind, subject, prompt, model, language, content, hashlib.sha256(content.encode()).hexdigest(),
             outcome, reason, json.dumps(extra or {}, ensure_ascii=False), now_iso()))

    def count(self, kind: str | None = None) -> int:
        if kind:
            return self.db.execute("SELECT COUNT(*) FROM artifacts WHERE kind=?", (kind,)).fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0]
