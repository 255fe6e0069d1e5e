"""BM25 keyword index over the catalog's chunks, persisted under `settings.bm25_dir`.

Tokenisation: lower-case `\\w\\w+` words, English stopwords removed, Snowball (Porter2) stemming via PyStemmer
when installed (`pip install PyStemmer`; without it the index still works, unstemmed, and says so in its
manifest). Scoring: bm25s's Lucene variant with k1/b below (tuned on SciFact's train queries).

`KeywordIndex` is one bm25s index over a list of texts (the evaluation uses it). The product's index over the
catalog's chunks is `ChunkIndex`, made of append-only segments with tombstones (`indexes.segments`, which explains
how BM25 statistics stay corpus-wide across segments): `load_or_build(settings)` returns it for the catalog's
current `corpus_version`, applying only the papers changed since the stored generation (the writer's job: ingest,
daily, reindex and delete call it through `Library.warm`), never per query. Row i = chunk `chunk_ids[i]`; rows
are shared with the dense matrix and the filters.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from indexes import segments
from indexes.db import connect
from paperrag.errors import EMPTY_LIBRARY, PaperragError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_TOKEN_RE = re.compile(r"(?u)\b\w\w+\b")


@dataclass(frozen=True)
class BM25Params:
    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"
    stem: bool = True
    stopwords: bool = True


DEFAULT_BM25 = BM25Params()


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@lru_cache(maxsize=1)
def _stemmer():
    try:
        import Stemmer  # PyStemmer
    except ImportError:
        log.warning("PyStemmer is not installed: BM25 runs without stemming (pip install PyStemmer)")
        return None
    return Stemmer.Stemmer("english")


def stemming_available() -> bool:
    return _stemmer() is not None


_STEMS: dict[str, str] = {}  # word -> stem; PyStemmer's own cache (10k words) thrashes on a real vocabulary
_STEMS_MAX = 2_000_000


def _stem(toks: list[str], stemmer) -> list[str]:
    missing = [t for t in set(toks) if t not in _STEMS]
    if missing:
        if len(_STEMS) > _STEMS_MAX:
            _STEMS.clear()
        _STEMS.update(zip(missing, stemmer.stemWords(missing), strict=True))
    get = _STEMS.get
    return [get(t) or stemmer.stemWord(t) for t in toks]


def tokenize(text: str, params: BM25Params = DEFAULT_BM25) -> list[str]:
    toks = _TOKEN_RE.findall(text.lower())
    if params.stopwords:
        sw = _stopwords()
        toks = [t for t in toks if t not in sw]
    if params.stem:
        stemmer = _stemmer()
        if stemmer is not None:
            toks = _stem(toks, stemmer)
    return toks


class Analyzer:
    """`tokenize` in two steps for the index writer: `words` splits, `terms` maps distinct words to their terms
    (None for a stopword), so each distinct word is stemmed once per update, not once per occurrence."""

    def __init__(self, params: BM25Params = DEFAULT_BM25):
        self.params = params

    def words(self, text: str) -> list[str]:
        return _TOKEN_RE.findall(text.lower())

    def terms(self, words: list[str]) -> list[str | None]:
        sw = _stopwords() if self.params.stopwords else frozenset()
        stemmer = _stemmer() if self.params.stem else None
        keep = [w for w in words if w not in sw]
        stems = dict(zip(keep, stemmer.stemWords(keep) if stemmer is not None and keep else keep, strict=True))
        return [stems.get(w) for w in words]


class KeywordIndex:
    """A BM25 index over a list of texts; `scores(query)` gives the exact score of every row."""

    def __init__(self, model, params: BM25Params):
        self.model = model  # bm25s.BM25
        self.params = params
        sc = model.scores
        self._data, self._indices, self._indptr = sc["data"], sc["indices"], sc["indptr"]
        self.n_docs = int(sc["num_docs"])

    @classmethod
    def build(cls, texts: list[str], params: BM25Params | None = None) -> "KeywordIndex":
        import bm25s

        params = params or DEFAULT_BM25
        corpus_tokens = [tokenize(t, params) for t in texts]
        if not any(corpus_tokens):
            corpus_tokens = [toks or ["\u2400empty"] for toks in corpus_tokens]  # bm25s needs one token
        model = bm25s.BM25(k1=params.k1, b=params.b, method=params.method)
        model.index(corpus_tokens, show_progress=False)
        return cls(model, params)

    def token_ids(self, query: str) -> np.ndarray:
        vocab = self.model.vocab_dict
        return np.asarray([vocab[t] for t in tokenize(query, self.params) if t in vocab], dtype=np.int64)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row (float32, 0 for rows sharing no term with the query)."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        for tid in self.token_ids(query):
            s, e = self._indptr[tid], self._indptr[tid + 1]
            # one posting per (term, doc): fancy-index += is exact and much faster than np.add.at
            out[self._indices[s:e]] += self._data[s:e]
        return out

    def save(self, directory: Path) -> None:
        self.model.save(str(directory))

    @classmethod
    def load(cls, directory: Path, params: BM25Params, *, mmap: bool = True) -> "KeywordIndex":
        import bm25s

        model = bm25s.BM25.load(str(directory), mmap=mmap)
        return cls(model, params)


# ------------------------------------------------------------------------------------ catalog-backed index

KIND_CODES = segments.KIND_CODES
KIND_NAMES = {v: k for k, v in KIND_CODES.items()}
_BUILD_COUNT = 0  # full builds done by this process (tests assert on it)
_UPDATE_COUNT = 0  # incremental updates done by this process
_LOADED: dict[str, "ChunkIndex"] = {}  # bm25_dir -> the index last loaded from it
_LOCK = threading.RLock()


class EmptyIndexError(PaperragError, RuntimeError):
    """Raised when there is nothing to search."""

    def __init__(self, message: str = EMPTY_LIBRARY):
        super().__init__(message)


def build_count() -> int:
    return _BUILD_COUNT


def update_count() -> int:
    return _UPDATE_COUNT


def connect_catalog(settings) -> sqlite3.Connection:
    """A read-only connection to the catalog (autocommit mode; use BEGIN for a consistent snapshot)."""
    path = Path(settings.catalog_path)
    if not path.exists():
        raise EmptyIndexError()
    return connect(path, readonly=True)


def read_corpus_version(conn: sqlite3.Connection) -> str:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'corpus_version'").fetchone()
    except sqlite3.OperationalError:  # no meta table yet
        return "0"
    return str(row[0]) if row and row[0] is not None else "0"


def segments_dir(settings) -> Path:
    return Path(settings.bm25_dir) / "segments"


@dataclass
class ChunkIndex:
    """BM25 over all chunks plus the row tables shared with the dense matrix and the filters, for one generation.

    Row i is chunk `chunk_ids[i]`, of paper `paper_keys[paper_idx[i]]`, kind `KIND_NAMES[kind[i]]`. Rows in
    `dead_rows` (and paper rows in `dead_papers`) are tombstoned: they keep their place until a merge drops them,
    score 0 and are never returned; `row_of` / `paper_row_of` name live rows only.
    """

    corpus_version: str
    chunk_ids: list[str]
    paper_keys: list[str]
    paper_idx: np.ndarray  # int32 per row
    kind: np.ndarray  # int8 per row
    keyword: segments.SegmentedBM25 | None  # None when there are no chunks
    paper_keyword: segments.SegmentedBM25 | None  # BM25 over "title abstract" per paper row
    dead_rows: np.ndarray  # int64, sorted
    dead_papers: np.ndarray  # int64, sorted
    segments: list[segments.Segment]
    offsets: np.ndarray  # int64 first row of each segment, plus the total
    generation: int = 0
    directory: Path | None = None
    built: bool = False  # True when this call built or updated the stored index rather than only loading it
    params_digest: str = ""

    @property
    def n_rows(self) -> int:
        return len(self.chunk_ids)

    @property
    def n_live(self) -> int:
        return self.n_rows - int(self.dead_rows.size)

    @property
    def n_papers(self) -> int:
        return len(self.paper_keys) - int(self.dead_papers.size)

    def __post_init__(self):
        self._row_of: dict[str, int] | None = None
        self._paper_row_of: dict[str, int] | None = None

    @property
    def live_chunk_ids(self) -> list[str]:
        dead = set(self.dead_rows.tolist())
        return [c for i, c in enumerate(self.chunk_ids) if i not in dead]

    @property
    def row_of(self) -> dict[str, int]:
        if self._row_of is None:
            dead = set(self.dead_rows.tolist())
            self._row_of = {cid: i for i, cid in enumerate(self.chunk_ids) if i not in dead}
        return self._row_of

    @property
    def paper_row_of(self) -> dict[str, int]:
        if self._paper_row_of is None:
            dead = set(self.dead_papers.tolist())
            self._paper_row_of = {k: i for i, k in enumerate(self.paper_keys) if i not in dead}
        return self._paper_row_of


def _assemble(gen: segments.Generation, params: BM25Params) -> ChunkIndex:
    """The reader's view of a generation: segments concatenated into one row space (postings stay mapped)."""
    segs = [segments.load_segment(gen.root / n) for n in gen.segments]
    segments.forget_segments(gen.root, gen.segments)
    offsets = np.zeros(len(segs) + 1, np.int64)
    np.cumsum([s.n for s in segs], out=offsets[1:])
    poffsets = np.zeros(len(segs) + 1, np.int64)
    np.cumsum([s.n_papers for s in segs], out=poffsets[1:])
    chunk_ids: list[str] = []
    paper_keys: list[str] = []
    for s in segs:
        chunk_ids += s.chunk_ids
        paper_keys += s.paper_keys
    empty_i = np.zeros(0, np.int64)
    paper_idx = (np.concatenate([np.asarray(s.paper_idx, np.int64) + po for s, po in zip(segs, poffsets, strict=False)])
                 .astype(np.int32) if segs else np.zeros(0, np.int32))
    kind = np.concatenate([np.asarray(s.kind) for s in segs]) if segs else np.zeros(0, np.int8)
    dead_rows = np.concatenate([gen.dead_chunks.get(s.name, empty_i) + o for s, o in zip(segs, offsets, strict=False)]
                               ) if segs else empty_i
    dead_papers = np.concatenate([gen.dead_papers.get(s.name, empty_i) + o
                                  for s, o in zip(segs, poffsets, strict=False)]) if segs else empty_i
    vocab = segments.load_vocab(gen.root, gen)
    tok = lambda text: tokenize(text, params)  # noqa: E731
    keyword = paper_keyword = None
    if offsets[-1]:
        keyword = segments.SegmentedBM25(vocab, [(int(o), s.chunks) for s, o in zip(segs, offsets, strict=False)],
                                         int(offsets[-1]), gen.df, gen.n_live, gen.sum_dl,
                                         dead_rows.astype(np.int64), params, tok)
        paper_keyword = segments.SegmentedBM25(vocab, [(int(o), s.papers) for s, o in zip(segs, poffsets, strict=False)],
                                               int(poffsets[-1]), gen.paper_df, gen.n_papers_live, gen.paper_sum_dl,
                                               dead_papers.astype(np.int64), params, tok)
    return ChunkIndex(gen.corpus_version, chunk_ids, paper_keys, paper_idx, kind, keyword, paper_keyword,
                      np.sort(dead_rows).astype(np.int64), np.sort(dead_papers).astype(np.int64), segs, offsets,
                      generation=gen.number, directory=gen.root)


def _dense_files(seg: segments.Segment) -> list[str]:
    from indexes.dense import segment_files

    return segment_files(seg)


def update(settings, params: BM25Params | None = None, *, conn: sqlite3.Connection | None = None,
           force_full: bool = False, compact: bool = False, progress=None) -> segments.UpdateReport:
    """Bring the stored index to the catalog's corpus_version (the writer's side; `load_or_build` calls it)."""
    global _BUILD_COUNT, _UPDATE_COUNT
    params = params or DEFAULT_BM25
    own = conn is None
    conn = conn or connect_catalog(settings)
    try:
        report = segments.update(segments_dir(settings), conn, read_corpus_version, params, Analyzer(params),
                                 _dense_files, force_full=force_full,
                                 compact=compact, progress=progress)
    finally:
        if own:
            conn.close()
    if report.mode != "current" or compact:
        with _LOCK:  # a rebuild or compaction keeps corpus_version: the cached view must not be served again
            _LOADED.pop(str(segments_dir(settings).resolve()), None)
    if report.mode == "full":
        _BUILD_COUNT += 1
    elif report.mode == "delta":
        _UPDATE_COUNT += 1
    return report


def load_or_build(settings, params: BM25Params | None = None, *, conn: sqlite3.Connection | None = None) -> ChunkIndex:
    """The index for the catalog's current corpus_version: from memory, else from disk, else updated there first."""
    params = params or DEFAULT_BM25
    own = conn is None
    conn = conn or connect_catalog(settings)
    try:
        root = segments_dir(settings)
        slot = str(root.resolve())
        digest = _params_digest(params)
        tag = segments.params_tag(params)
        with _LOCK:
            version = read_corpus_version(conn)
            cached = _LOADED.get(slot)
            if cached is not None and cached.corpus_version == version and cached.params_digest == digest:
                cached.built = False
                return cached
            built = False
            repaired = False
            for _attempt in range(3):
                gen = segments.read_generation(root)
                if gen is None or gen.corpus_version != version or gen.params != tag:
                    built = update(settings, params, conn=conn).mode != "current" or built
                    gen = segments.read_generation(root)
                if gen is None:
                    raise EmptyIndexError()
                try:
                    index = _assemble(gen, params)
                    break
                except FileNotFoundError:  # a writer merged and pruned while this generation was opened: reread
                    continue
                except (ValueError, OSError, EOFError, KeyError) as exc:  # a damaged segment file: never fatal
                    if repaired:
                        raise
                    log.warning("search index %s cannot be read (%s): rebuilding it from the catalog", root, exc)
                    update(settings, params, conn=conn, force_full=True)
                    built = repaired = True
            else:
                raise EmptyIndexError("the search index keeps changing while it is opened; try again")
            index.built = built
            index.params_digest = digest
            _LOADED[slot] = index
            return index
    finally:
        if own:
            conn.close()


@lru_cache(maxsize=16)
def _params_digest(params: BM25Params) -> str:
    import hashlib

    return hashlib.sha1(json.dumps(segments.params_tag(params), sort_keys=True).encode()).hexdigest()[:8]
