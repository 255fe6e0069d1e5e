"""decide → fetch → parse → chunk → embed → write, one paper at a time, every step keyed.

Idempotence: a paper is identified by arXiv id + version (+ the PDF's sha256). A paper already `indexed` with
the same key and content is never downloaded, parsed or embedded again. Crash safety: the catalog marks a
paper `indexing` before its vectors are written and `indexed` (with its chunk rows, in one transaction) after;
a run that finds `indexing` papers deletes their partial vectors and redoes them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import signal
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from indexes.catalog import chunk_id
from indexes.embedder import Embedder
from indexes.feedback import paper_text, text_sha
from paperrag.components import Components
from paperrag.errors import PaperragError, is_disk_full
from paperrag.progress import NullProgress, ProgressSink
from paperrag.records import PARSER_VERSION, Action, Chunk, Decision, PaperMeta

log = logging.getLogger(__name__)


class IngestError(PaperragError, RuntimeError):
    """A run-level failure (the run could not start); per-paper problems are decisions, not exceptions."""


@dataclass
class RunReport:
    run_id: int
    command: str
    decisions: list[Decision] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # feed-level messages: "cs.CL: no announcements (weekend)"
    seconds: float = 0.0
    chunks_written: int = 0

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(d.action.value for d in self.decisions))

    def summary(self) -> dict:
        return {"counts": self.counts, "notes": self.notes, "seconds": round(self.seconds, 2),
                "chunks_written": self.chunks_written}


class WriterLock:
    """One writer per home (ingest, daily's ingest, delete, reindex, doctor --repair): a second one would race on
    the same papers, and Chroma's embedded store takes one writing process at a time. A second writer is refused
    at once with the reason; it never waits on a lock that a hung process may hold forever."""

    def __init__(self, path: Path):
        self.path = path
        self.fh = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "w")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self.fh.close()
            raise IngestError(
                f"another paperrag ingest is running on {self.path.parent} (lock {self.path.name}, held by a "
                "running ingest, daily, delete, reindex or doctor --repair); wait for it to finish, then run this again"
            ) from exc
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


@dataclass
class Candidate:
    meta: PaperMeta
    local_path: Path | None = None  # set for local PDFs; otherwise the PDF is downloaded from meta.pdf_url


class Ingestor:
    """Runs candidates through the pipeline with the Library's components (`paperrag.components.Components`:
    embedder, catalog, collection and PDF cache, each opened on first use)."""

    def __init__(self, parts: Components, *, progress: ProgressSink | None = None, lock: bool = True):
        self.parts = parts
        self._lock = lock  # False: the caller already holds the writer lock (`doctor --repair`)
        self._collection = None  # opened afresh once the lock is held: another process may have written
        self._locked = False
        self.settings = parts.settings
        self.catalog = parts.catalog
        self.progress = progress or NullProgress()
        self._passes: dict[str, int] = {}

    @property
    def embedder(self) -> Embedder:
        return self.parts.embedder

    @property
    def collection(self):
        if self._collection is None:
            if not self._locked:
                return self.parts.collection
            from indexes.vector_store import open_collection

            # under the writer lock, on first use (a run with nothing to index loads no model): the store as it
            # is on disk now, whatever another process wrote since this one last opened it
            self._collection = open_collection(self.settings, self.embedder.identity)
        return self._collection

    @property
    def pdf_cache(self):
        return self.parts.pdf_cache

    @property
    def max_tokens(self) -> int:
        return min(self.settings.chunk.max_tokens, self.embedder.max_tokens)

    # --- the run ---
    def run(self, command: str, candidates: Iterable[Candidate], pre_decisions: Iterable[tuple] = (),
            notes: Iterable[str] = ()) -> RunReport:
        """Index the candidates. pre_decisions: (paper, Action, reason, title) taken before this point."""
        candidates = list(candidates)
        with WriterLock(self.settings.home / ".ingest.lock") if self._lock else contextlib.nullcontext():
            self._locked, self._collection = True, None
            run_id = self.catalog.start_run(command)
            report = RunReport(run_id=run_id, command=command, notes=list(notes))
            started = time.perf_counter()
            status = "failed"
            try:
                for paper, action, reason, title in pre_decisions:
                    self._decide(report, paper, action, reason, title)
                candidates = self._with_interrupted(candidates)
                self.progress.start("papers", total=len(candidates), description="Indexing papers")
                for cand in candidates:
                    self.progress.update("papers", description=f"{cand.meta.key} {cand.meta.title[:50]}")
                    self._ingest_one(report, cand)
                    self.progress.advance("papers")
                status = "done"
            finally:
                self.progress.stop("papers")
                report.seconds = time.perf_counter() - started
                self.catalog.finish_run(run_id, status, report.summary())
        return report

    def _decide(self, report: RunReport, paper: str, action: Action, reason: str, title: str = "") -> None:
        decision = Decision(report.run_id, paper, action, reason, title)
        self.catalog.record(decision)
        report.decisions.append(decision)

    def _with_interrupted(self, candidates: list[Candidate]) -> list[Candidate]:
        """Papers left `indexing` by a killed run: drop their partial vectors and redo them first."""
        wanted = {c.meta.key for c in candidates}
        redo = []
        for row in self.catalog.interrupted_papers():
            from indexes.vector_store import delete_paper_chunks

            delete_paper_chunks(self.collection, row.key)
            if row.key not in wanted:
                local = Path(row.local_path) if row.local_path else None
                redo.append(Candidate(row.meta, local))
        return redo + candidates

    def _ingest_one(self, report: RunReport, cand: Candidate) -> None:
        meta = cand.meta
        try:
            skip = self._already_done(meta, cand.local_path)
            if skip is not None:
                self._decide(report, meta.key, skip[0], skip[1], meta.title)
                return
            self._index(report, cand)
        except KeyboardInterrupt:
            raise
        except _PaperFailed as exc:
            self.catalog.mark_failed(meta, str(exc))
            self._decide(report, meta.key, Action.FAILED, str(exc), meta.title)
        except Exception as exc:  # one bad paper never stops a run
            if is_disk_full(exc):
                raise  # a full disk is not the paper's fault: stop, it stays as it was, the next run redoes it
            log.exception("ingest of %s failed", meta.key)
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            self.catalog.mark_failed(meta, reason)
            self._decide(report, meta.key, Action.FAILED, reason, meta.title)

    def _already_done(self, meta: PaperMeta, local_path: Path | None) -> tuple[Action, str] | None:
        newest = self.catalog.latest_indexed(meta.arxiv_id)
        if newest is not None and newest.version > meta.version:
            return Action.SKIPPED, f"a newer version v{newest.version} is already indexed"
        row = self.catalog.get_paper(meta.key)
        if row is None or row.status != "indexed":
            return None
        if local_path is not None and row.content_sha256 and row.content_sha256 != _sha256_file(local_path):
            return None  # same id+version, different file: re-index
        if not row.fulltext and row.error.startswith("download:"):
            return None  # the PDF could not be fetched last time: try again
        if row.fulltext and row.parser < PARSER_VERSION:
            return None  # chunked by an older parser: parse again (the PDF is in the cache)
        self._supersede_older(meta, report=None)
        return Action.ALREADY, "already indexed (same id, version and content): nothing to do"

    def _index(self, report: RunReport, cand: Candidate) -> None:
        from ingest.download import DownloadError
        from ingest.pdf_parse import PdfError, parse_pdf

        meta = cand.meta
        fetch_error = ""
        parsed = None
        sha = ""
        parse_kw = dict(max_pages=self.settings.parse.max_pages,
                        min_text_chars_per_page=self.settings.parse.min_text_chars_per_page,
                        max_stream_mb=self.settings.parse.max_stream_mb)
        try:
            if cand.local_path is not None:
                # parse the user's file first: its own reason (HTML saved as .pdf, encrypted …) is the useful one
                parsed = parse_pdf(cand.local_path, **parse_kw)
                sha = self.pdf_cache.add_local(cand.local_path).sha256
            else:
                pdf = self.pdf_cache.fetch(
                    meta.pdf_url,
                    key=meta.key,
                    max_bytes=int(self.settings.fetch.max_pdf_mb * 1024 * 1024),
                    timeout_s=self.settings.fetch.timeout_s,
                    retries=self.settings.fetch.retries,
                )
                sha = pdf.sha256
                parsed = parse_pdf(pdf.path, **parse_kw)
        except DownloadError as exc:
            fetch_error = f"download: {exc}"
        except PdfError as exc:
            fetch_error = f"parse: {exc}"

        if parsed is not None:
            if not meta.title and parsed.title:
                meta.title = parsed.title
            chunks = self._chunk(meta, parsed.blocks)
            fulltext = bool(chunks)
            if not chunks:
                fetch_error = "parse: the PDF has no extractable body text"
        if parsed is None or not chunks:
            if cand.local_path is not None or not meta.abstract:
                raise _PaperFailed(fetch_error or "no text") from None
            chunks = self._abstract_chunks(meta)
            fulltext = False

        ids = [chunk_id(meta.key, c.ordinal) for c in chunks]
        self.progress.start("embed", total=len(chunks), description=f"Embedding {meta.key}")
        # the paper-level vector (title + abstract) rides in the same batch: the ranking reads it, never embeds it
        ptext = paper_text(meta.title, meta.abstract)
        vectors = self.embedder.embed([c.text for c in chunks] + ([ptext] if ptext else []))
        vectors, paper_vector = (vectors[:-1], vectors[-1]) if ptext else (vectors, None)
        self.progress.stop("embed")
        from indexes.vector_store import delete_paper_chunks, write_chunks

        # Only now is anything stored touched: a paper that failed above keeps what it had (an indexed
        # older copy stays indexed); from here a crash leaves it `indexing` and the next run redoes it.
        self.catalog.mark_indexing(meta)
        self._passes["before_vectors"] = self._passes.get("before_vectors", 0) + 1
        fault_point("before_vectors", self._passes["before_vectors"])
        delete_paper_chunks(self.collection, meta.key)
        write_chunks(self.collection, ids, meta, chunks, vectors)
        self._passes["after_vectors"] = self._passes.get("after_vectors", 0) + 1
        fault_point("after_vectors", self._passes["after_vectors"])
        self.catalog.commit_paper(
            meta.key, chunks, content_sha256=sha, fulltext=fulltext,
            n_pages=parsed.page_count if parsed else 0, embedder=self.embedder.identity, error=fetch_error,
            parser=PARSER_VERSION if fulltext else 0,
        )
        if paper_vector is not None:
            self.parts.feedback.put_vectors([(meta.key, text_sha(ptext), paper_vector)], self.embedder.identity)
        report.chunks_written += len(chunks)
        replaced = self._supersede_older(meta, report)
        what = f"{len(chunks)} chunks from {parsed.page_count} pages" if fulltext else (
            f"abstract only ({fetch_error})")
        reason = f"indexed {what}" + (f"; replaced {', '.join(replaced)}" if replaced else "")
        self._decide(report, meta.key, Action.REPLACED if replaced else Action.KEPT, reason, meta.title)

    def _supersede_older(self, meta: PaperMeta, report: RunReport | None) -> list[str]:
        from indexes.vector_store import delete_paper_chunks

        replaced = []
        for row in self.catalog.versions_of(meta.arxiv_id):
            if row.version < meta.version and row.status == "indexed":
                delete_paper_chunks(self.collection, row.key)
                self.catalog.supersede(row.key)
                replaced.append(row.key)
        return replaced

    def _chunk(self, meta: PaperMeta, blocks) -> list[Chunk]:
        from ingest.chunking import chunk_blocks

        return chunk_blocks(
            blocks,
            title=meta.title or "Untitled",
            count_tokens=self.embedder.count_tokens,
            max_tokens=self.max_tokens,
            overlap_tokens=self.settings.chunk.overlap_tokens,
        )

    def _abstract_chunks(self, meta: PaperMeta) -> list[Chunk]:
        from ingest.chunking import chunk_blocks
        from paperrag.records import Block

        return chunk_blocks(
            [Block(text=meta.abstract, page=1, section="Abstract", kind="body")],
            title=meta.title or meta.key,
            count_tokens=self.embedder.count_tokens,
            max_tokens=self.max_tokens,
            overlap_tokens=self.settings.chunk.overlap_tokens,
        )


def fault_point(name: str, count: int) -> None:
    """Crash-test hook: PAPERRAG_FAULT_POINT="after_vectors:2" stops this process (SIGSTOP) at the 2nd pass,
    so a test can SIGKILL it at exactly that step instead of guessing with sleeps."""
    if os.environ.get("PAPERRAG_FAULT_POINT") == f"{name}:{count}":
        if marker := os.environ.get("PAPERRAG_FAULT_MARKER"):  # tells a stop here from one sent by someone else
            Path(marker).write_text(f"{name}:{count}")
        os.kill(os.getpid(), signal.SIGSTOP)


class _PaperFailed(RuntimeError):
    pass


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
