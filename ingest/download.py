"""A content-addressed PDF cache: arXiv downloads and local PDFs, each stored once by its SHA-256.

Layout under the cache dir:
    ab/ab12...ef.pdf     the files, named by sha256, fanned out by its first two hex digits
    index.json           {"keys": {key: {sha256, bytes, url|source, added}}, "urls": {url: sha256}}
    tmp/                 downloads in progress (removed on failure; never visible as a cache file)

`fetch(url, key=...)` never downloads a key (or a URL) twice, streams with a size limit (Content-Length
checked first), verifies the `%PDF-` magic and the `%%EOF` trailer, writes atomically (temp file + rename)
and retries 429/5xx/timeouts/cut connections with the shared policy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from ingest.arxiv_ids import format_id, parse_arxiv_id
from ingest.http import (
    ACCEPT_PDF,
    DEFAULT_USER_AGENT,
    MAX_BACKOFF_S,
    RETRY_STATUSES,
    Pacer,
    RetryableHTTPError,
    describe_error,
    is_retryable,
    make_client,
    parse_retry_after,
    retry_policy,
)
from paperrag.errors import PaperragError

if TYPE_CHECKING:
    from paperrag.settings import FetchSettings

log = logging.getLogger(__name__)

DEFAULT_PDF_URL = "https://arxiv.org/pdf/{id}"
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
HTML_INSTEAD_OF_PDF = "got an HTML page instead of a PDF (arXiv may be rate-limiting)"
_HEAD = 1024  # %PDF- must appear within the first KiB (the PDF spec tolerates leading junk)
_TAIL = 2048  # %%EOF must appear within the last 2 KiB
_CHUNK = 64 * 1024


class DownloadError(PaperragError):
    """A PDF that could not be fetched or is no PDF; the message is a sentence naming the URL."""

    def __init__(self, message: str, *, url: str = ""):
        super().__init__(message)
        self.url = url


class TooLargeError(DownloadError):
    pass


class NotAPdfError(DownloadError):
    pass


class _IncompletePdf(Exception):
    """Body ended without the %%EOF trailer: the connection was probably cut; worth a retry."""


@dataclass
class CachedPdf:
    path: Path
    sha256: str
    bytes: int
    from_cache: bool
    key: str = ""
    url: str = ""


def pdf_url(arxiv_id: str, version: int | None = None, template: str = DEFAULT_PDF_URL) -> str:
    """PDF URL from the settings template: ('2506.19850', 2) -> 'https://arxiv.org/pdf/2506.19850v2'.

    `arxiv_id` may be any spelling arxiv_ids accepts; a version in it is used unless `version` is given.
    """
    base, own_version = parse_arxiv_id(arxiv_id)
    return template.format(id=format_id(base, version or own_version))


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def _looks_like_html(head: bytes, content_type: str) -> bool:
    start = head.lstrip()[:200].lower()
    return "html" in content_type.lower() or start.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class PdfCache:
    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        client: httpx.Client | None = None,
        pacer: Pacer | None = None,
        delay_s: float = 0.0,
        backoff_s: float = 3.0,
        max_backoff_s: float = MAX_BACKOFF_S,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.index_path = self.dir / "index.json"
        self._tmp = self.dir / "tmp"
        self._own_client = client is None
        self.client = client or make_client(user_agent, 30.0, accept=ACCEPT_PDF)
        self.pacer = pacer or Pacer(delay_s, sleep=sleep)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.sleep = sleep
        self._lock = threading.RLock()
        self._key_locks: dict[str, threading.Lock] = {}
        self.requests_made = 0

    @classmethod
    def from_settings(cls, directory: str | os.PathLike, fetch: FetchSettings, **kwargs) -> PdfCache:
        kwargs.setdefault("user_agent", fetch.user_agent)
        kwargs.setdefault("backoff_s", fetch.backoff_s)
        kwargs.setdefault("delay_s", fetch.delay_s)
        return cls(directory, **kwargs)

    # ------------------------------------------------------------------------------------ index
    def path_for(self, sha256: str) -> Path:
        return self.dir / sha256[:2] / f"{sha256}.pdf"

    def _load(self) -> dict:
        try:
            data = json.loads(self.index_path.read_text("utf-8"))
        except FileNotFoundError:
            return {"keys": {}, "urls": {}}
        except (OSError, ValueError) as err:
            log.warning("PDF cache index %s unreadable (%s); starting a new one", self.index_path, err)
            return {"keys": {}, "urls": {}}
        data.setdefault("keys", {})
        data.setdefault("urls", {})
        return data

    def _save(self, data: dict) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".index-", suffix=".json", dir=self.dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.index_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _record(self, key: str, sha256: str, size: int, **extra: str) -> None:
        with self._lock:
            data = self._load()  # re-read: another process may have added entries
            data["keys"][key] = {"sha256": sha256, "bytes": size, "added": _now(), **extra}
            if extra.get("url"):
                data["urls"][extra["url"]] = sha256
            self._save(data)

    def _cached(self, sha256: str, key: str, url: str) -> CachedPdf | None:
        path = self.path_for(sha256)
        if not path.is_file():
            return None
        return CachedPdf(path, sha256, path.stat().st_size, True, key=key, url=url)

    def get(self, key: str) -> CachedPdf | None:
        """The cached PDF of `key`, or None (also when its file has gone missing)."""
        with self._lock:
            entry = self._load()["keys"].get(key)
        if not entry:
            return None
        return self._cached(entry["sha256"], key, entry.get("url", ""))

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._load()["keys"])

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    # ------------------------------------------------------------------------------------ fetch
    def fetch(
        self,
        url: str,
        *,
        key: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout_s: float = 30.0,
        retries: int = 5,
    ) -> CachedPdf:
        """The PDF at `url`, from the cache when `key` (default: the URL) or the URL is known.

        Raises DownloadError (TooLargeError, NotAPdfError) with a sentence naming the URL.
        """
        key = key or url
        with self._key_lock(key):
            hit = self.get(key)
            if hit is not None:
                return hit
            with self._lock:
                sha = self._load()["urls"].get(url)
            if sha and (hit := self._cached(sha, key, url)) is not None:
                self._record(key, sha, hit.bytes, url=url)
                return hit

            attempts = 0

            def attempt() -> tuple[str, int, Path]:
                nonlocal attempts
                attempts += 1
                return self._download_once(url, max_bytes=max_bytes, timeout_s=timeout_s)

            retry_on = lambda e: is_retryable(e) or isinstance(e, _IncompletePdf)  # noqa: E731
            policy = retry_policy(
                retries, self.backoff_s, max_backoff_s=self.max_backoff_s, sleep=self.sleep, retry_on=retry_on
            )
            try:
                sha, size, tmp = policy(attempt)
            except DownloadError:
                raise
            except Exception as err:  # noqa: BLE001 - one error type for callers
                if isinstance(err, _IncompletePdf):
                    msg = f"incomplete PDF from {url}: {err}"
                    msg += f" after {attempts} attempts" if attempts > 1 else ""
                else:
                    msg = f"download of {url} failed: {describe_error(err, attempts)}"
                raise DownloadError(msg, url=url) from err

            final = self.path_for(sha)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():
                tmp.unlink(missing_ok=True)  # same bytes already cached under another key
            else:
                os.replace(tmp, final)
            self._record(key, sha, size, url=url)
            return CachedPdf(final, sha, size, False, key=key, url=url)

    def _download_once(self, url: str, *, max_bytes: int, timeout_s: float) -> tuple[str, int, Path]:
        """One GET streamed into tmp/; returns (sha256, size, temp path). Cleans up on any failure."""
        self.pacer.wait()
        self.requests_made += 1
        self._tmp.mkdir(parents=True, exist_ok=True)
        with self.client.stream("GET", url, timeout=timeout_s, headers={"Accept": ACCEPT_PDF}) as response:
            status = response.status_code
            if status in RETRY_STATUSES:
                raise RetryableHTTPError(
                    url, status, response.reason_phrase, parse_retry_after(response.headers.get("Retry-After"))
                )
            if status != 200:
                raise DownloadError(f"HTTP {status} {response.reason_phrase} for {url}".rstrip(), url=url)
            content_type = response.headers.get("Content-Type", "")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise TooLargeError(
                    f"PDF too large: {url} declares {_mb(int(declared))} (Content-Length), over the "
                    f"{_mb(max_bytes)} limit",
                    url=url,
                )
            digest = hashlib.sha256()
            size = 0
            head = b""
            tail = b""
            fd, tmp_name = tempfile.mkstemp(prefix="dl-", suffix=".part", dir=self._tmp)
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as fh:
                    for chunk in response.iter_bytes(_CHUNK):
                        if not chunk:
                            continue
                        size += len(chunk)
                        if size > max_bytes:
                            raise TooLargeError(
                                f"PDF too large: {url} sent more than the {_mb(max_bytes)} limit; download aborted",
                                url=url,
                            )
                        if len(head) < _HEAD:
                            head += chunk[: _HEAD - len(head)]
                            if len(head) >= _HEAD:
                                self._check_magic(head, content_type, url)
                        tail = (tail + chunk)[-_TAIL:]
                        digest.update(chunk)
                        fh.write(chunk)
                    fh.flush()
                    os.fsync(fh.fileno())
                self._check_magic(head, content_type, url)
                if b"%%EOF" not in tail:
                    raise _IncompletePdf(f"no %%EOF trailer after {size} bytes (connection cut?)")
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        return digest.hexdigest(), size, tmp

    @staticmethod
    def _check_magic(head: bytes, content_type: str, url: str) -> None:
        if b"%PDF-" in head[:_HEAD]:
            return
        if _looks_like_html(head, content_type):
            raise NotAPdfError(f"{HTML_INSTEAD_OF_PDF}: {url}", url=url)
        if not head:
            raise NotAPdfError(f"empty response instead of a PDF: {url}", url=url)
        raise NotAPdfError(f"not a PDF (no %PDF- header; starts with {head[:16]!r}): {url}", url=url)

    # ------------------------------------------------------------------------------------ local
    def add_local(self, path: str | os.PathLike, *, key: str | None = None) -> CachedPdf:
        """Copy a local PDF into the cache (hash-addressed); key defaults to 'local:<sha12>'."""
        src = Path(path).expanduser()
        if not src.is_file():
            raise DownloadError(f"no such PDF file: {src}")
        digest = hashlib.sha256()
        size = 0
        head = b""
        with src.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                if len(head) < _HEAD:
                    head += chunk[: _HEAD - len(head)]
                digest.update(chunk)
                size += len(chunk)
        if b"%PDF-" not in head:
            raise NotAPdfError(f"not a PDF (no %PDF- header): {src}")
        sha = digest.hexdigest()
        key = key or f"local:{sha[:12]}"
        final = self.path_for(sha)
        from_cache = final.is_file()
        if not from_cache:
            final.parent.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix="local-", suffix=".part", dir=self._tmp)
            os.close(fd)
            try:
                shutil.copyfile(src, tmp_name)
                os.replace(tmp_name, final)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
        self._record(key, sha, size, source=str(src.resolve()))
        return CachedPdf(final, sha, size, from_cache, key=key)

    # ------------------------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def __enter__(self) -> PdfCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
