"""PDFs handed over as files (web uploads, `Library.ingest(uploads=…)`): checked, then stored by content.

An upload is a temporary file with a name its sender chose. It is checked (size, `%PDF-` magic) before anything
else, and copied to `<home>/uploads/<sha256[:20]>.pdf`: the sender's file name is never used as a path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

MAGIC = b"%PDF-"


def check_upload(path: str | Path, max_mb: float) -> tuple[str, str | None]:
    """(sha256, None) for an acceptable PDF upload, else ("", why not). The size is checked first, then the
    `%PDF-` magic bytes (within the first KiB, as the PDF spec and ingest/download.py allow)."""
    p = Path(path)
    shown = p.name
    try:
        size = p.stat().st_size
    except OSError:
        return "", f"{shown}: the upload could not be read"
    if size == 0:
        return "", f"{shown}: the file is empty"
    if size > max_mb * 1024 * 1024:
        return "", f"{shown}: {size / 1024 / 1024:.1f} MB is over the {max_mb:g} MB limit (fetch.max_pdf_mb)"
    with p.open("rb") as fh:
        head = fh.read(1024)
        if MAGIC not in head:
            kind = "an HTML page" if b"<html" in head.lower() or b"<!doctype" in head.lower() else "something else"
            return "", f"{shown}: not a PDF (no %PDF- header; it looks like {kind})"
        h = hashlib.sha256(head)
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest(), None


def store_uploads(uploads: Iterable[str | Path], upload_dir: Path, max_mb: float) -> tuple[list[Path], list[str]]:
    """Copy the acceptable uploads into `upload_dir` by content hash; (stored paths, one problem line per refusal)."""
    stored: list[Path] = []
    problems: list[str] = []
    for up in uploads:
        sha, problem = check_upload(up, max_mb)
        if problem:
            problems.append(problem)
            continue
        upload_dir.mkdir(parents=True, exist_ok=True)
        safe = upload_dir / f"{sha[:20]}.pdf"
        if not safe.exists():
            tmp = safe.with_suffix(".part")
            shutil.copyfile(up, tmp)
            os.replace(tmp, safe)
        stored.append(safe)
    return stored, problems
