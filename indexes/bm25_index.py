"""BM25 keyword index over the catalog's chunks, persisted under `settings.bm25_dir`.

Tokenisation: lower-case `\\w\\w+` words, English stopwords removed, Snowball (Porter2) stemming via PyStemmer
when installed (`pip install PyStemmer`; without it the index still works, unstemmed, and says so in its
manifest). Scoring: bm25s's Lucene variant with k1/b below (tuned on SciFact's train queries).

`load_or_build(settings)` returns the index for the catalog's current `corpus_version`; it rebuilds only when that
version (or the tokeniser/params) changed, never per query. The chunk ids are stored next to the index, row i of
the index = chunk id i, so row numbers are shared with the dense cache and the filters.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sqlite3
import threading
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

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

KIND_CODES = {"body": 0, "caption": 1, "references": 2, "appendix": 3}
KIND_NAMES = {v: k for k, v in KIND_CODES.items()}
_BUILD_COUNT = 0  # builds done by this process (tests assert on it)
_LOADED: dict[str, "ChunkIndex"] = {}  # bm25_dir -> the index last loaded from it
_LOCK = threading.RLock()


class EmptyIndexError(PaperragError, RuntimeError):
    """Raised when there is nothing to search."""

    def __init__(self, message: str = EMPTY_LIBRARY):
        super().__init__(message)


def build_count() -> int:
    return _BUILD_COUNT


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


def _index_text(text: str, title: str, section: str) -> str:
    """Chunk text as BM25 sees it: with its `title › section` prefix. Ingest's chunks already start with it
    (possibly shortened); the prefix is added only for chunks that do not start with the title's first words."""
    words = title.split()[:3]
    if words and not text.lstrip().lower().startswith(" ".join(words).lower()):
        prefix = f"{title} › {section}" if section else title
        return f"{prefix}\n{text}"
    return text


@dataclass
class ChunkIndex:
    """BM25 over all chunks plus the row tables shared with the dense cache and the filters.

    Row i is chunk `chunk_ids[i]`, of paper `paper_keys[paper_idx[i]]`, kind `KIND_NAMES[kind[i]]`.
    """

    corpus_version: str
    chunk_ids: list[str]
    paper_keys: list[str]
    paper_idx: np.ndarray  # int32 per row
    kind: np.ndarray  # int8 per row
    text_hash: np.ndarray  # uint32 crc32 of the indexed text per row (lets the dense cache reuse rows)
    keyword: KeywordIndex | None  # None when there are no chunks
    paper_keyword: KeywordIndex | None  # BM25 over "title abstract" per paper (row = paper_idx)
    directory: Path | None = None
    built: bool = False  # True when this object was built in this call rather than loaded
    params_digest: str = ""

    @property
    def n_rows(self) -> int:
        return len(self.chunk_ids)

    def __post_init__(self):
        self._row_of: dict[str, int] | None = None
        self._paper_row_of: dict[str, int] | None = None

    @property
    def row_of(self) -> dict[str, int]:
        if self._row_of is None:
            self._row_of = {cid: i for i, cid in enumerate(self.chunk_ids)}
        return self._row_of

    @property
    def paper_row_of(self) -> dict[str, int]:
        if self._paper_row_of is None:
            self._paper_row_of = {k: i for i, k in enumerate(self.paper_keys)}
        return self._paper_row_of


def _params_tag(params: BM25Params) -> dict:
    return {**asdict(params), "stemmer": "snowball-english" if (params.stem and stemming_available()) else "none"}


def _read_rows(conn: sqlite3.Connection):
    rows = conn.execute(
        "SELECT c.id, c.paper_key, c.kind, c.section, c.text, COALESCE(p.title, '') "
        "FROM chunks c LEFT JOIN papers p ON p.key = c.paper_key ORDER BY c.paper_key, c.ordinal, c.id"
    ).fetchall()
    papers = conn.execute(
        "SELECT key, COALESCE(title, ''), COALESCE(abstract, '') FROM papers "
        "WHERE key IN (SELECT DISTINCT paper_key FROM chunks) ORDER BY key"
    ).fetchall()
    return rows, papers


def _build(conn: sqlite3.Connection, version: str, params: BM25Params) -> ChunkIndex:
    import zlib

    global _BUILD_COUNT
    rows, papers = _read_rows(conn)
    paper_keys = [p[0] for p in papers]
    pos = {k: i for i, k in enumerate(paper_keys)}
    for r in rows:  # chunks whose paper row is missing still get a paper slot
        if r[1] not in pos:
            pos[r[1]] = len(paper_keys)
            paper_keys.append(r[1])
            papers.append((r[1], r[5], ""))
    texts = [_index_text(r[4] or "", r[5], r[3] or "") for r in rows]
    kind = np.asarray([KIND_CODES.get(r[2] or "body", 0) for r in rows], dtype=np.int8)
    paper_idx = np.asarray([pos[r[1]] for r in rows], dtype=np.int32)
    text_hash = np.asarray([zlib.crc32(t.encode("utf-8")) for t in texts], dtype=np.uint32)
    keyword = KeywordIndex.build(texts, params) if rows else None
    paper_keyword = KeywordIndex.build([f"{p[1]}\n{p[2]}" for p in papers], params) if papers else None
    _BUILD_COUNT += 1
    return ChunkIndex(version, [r[0] for r in rows], paper_keys, paper_idx, kind, text_hash, keyword,
                      paper_keyword, built=True)


def _save(index: ChunkIndex, directory: Path, params: BM25Params) -> None:
    tmp = directory.with_name(f"{directory.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if index.keyword is not None:
        index.keyword.save(tmp / "chunks")
    if index.paper_keyword is not None:
        index.paper_keyword.save(tmp / "papers")
    np.savez(tmp / "rows.npz", paper_idx=index.paper_idx, kind=index.kind, text_hash=index.text_hash)
    (tmp / "ids.json").write_text(json.dumps({"chunk_ids": index.chunk_ids, "paper_keys": index.paper_keys}))
    manifest = {"format": FORMAT_VERSION, "corpus_version": index.corpus_version, "params": _params_tag(params),
                "n_chunks": index.n_rows, "n_papers": len(index.paper_keys)}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))  # written last: marks a complete index
    try:
        tmp.rename(directory)
    except OSError:  # another process won the race; its index is equivalent
        shutil.rmtree(tmp, ignore_errors=True)
    index.directory = directory


def _load(directory: Path, params: BM25Params, version: str) -> ChunkIndex | None:
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if (manifest.get("format") != FORMAT_VERSION or str(manifest.get("corpus_version")) != version
            or manifest.get("params") != _params_tag(params)):
        return None
    try:
        ids = json.loads((directory / "ids.json").read_text())
        rows = np.load(directory / "rows.npz")
        keyword = KeywordIndex.load(directory / "chunks", params) if (directory / "chunks").exists() else None
        paper_kw = KeywordIndex.load(directory / "papers", params) if (directory / "papers").exists() else None
    except Exception as exc:  # noqa: BLE001 - a damaged file (json, numpy, bm25s each raise their own): rebuild
        log.warning("keyword index %s cannot be read (%s): rebuilding it from the catalog", directory, exc)
        return None
    return ChunkIndex(version, ids["chunk_ids"], ids["paper_keys"], rows["paper_idx"], rows["kind"],
                      rows["text_hash"], keyword, paper_kw, directory=directory)


def _prune(root: Path, keep: Path) -> None:
    for d in root.glob("v*"):
        if d.is_dir() and d != keep and ".tmp-" not in d.name:
            shutil.rmtree(d, ignore_errors=True)


def load_or_build(settings, params: BM25Params | None = None, *, conn: sqlite3.Connection | None = None) -> ChunkIndex:
    """The BM25 index for the catalog's current corpus_version: from memory, else from disk, else built."""
    params = params or DEFAULT_BM25
    own = conn is None
    conn = conn or connect_catalog(settings)
    try:
        root = Path(settings.bm25_dir)
        slot = str(root.resolve())
        digest = _params_digest(params)
        with _LOCK:
            version = read_corpus_version(conn)
            cached = _LOADED.get(slot)
            if cached is not None and cached.corpus_version == version and cached.params_digest == digest:
                cached.built = False
                return cached
            directory = root / f"v{version}-{digest}"
            index = _load(directory, params, version)
            if index is None:
                conn.execute("BEGIN")  # one snapshot: the version and the chunks it describes
                try:
                    version = read_corpus_version(conn)
                    directory = root / f"v{version}-{digest}"
                    index = _build(conn, version, params)
                finally:
                    conn.execute("COMMIT")
                _save(index, directory, params)
                index = _load(directory, params, version) or index  # memory-mapped, as later loads will be
                index.built = True
                _prune(root, directory)
            index.params_digest = digest
            _LOADED[slot] = index
            return index
    finally:
        if own:
            conn.close()


@lru_cache(maxsize=16)
def _params_digest(params: BM25Params) -> str:
    import hashlib

    return hashlib.sha1(json.dumps(_params_tag(params), sort_keys=True).encode()).hexdigest()[:8]
