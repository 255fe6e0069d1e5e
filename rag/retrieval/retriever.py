"""The product retriever: hybrid BM25 + dense search over the catalog's chunks.

Pipeline of `search(query, k, filters, per_paper_cap)`:
1. BM25 score of every chunk (`bm25_index`, exact); filtered, only the allowed rows' postings are scored.
2. Dense candidates: unfiltered → an exact scan of the memory-mapped matrix for corpora up to `exact_max_rows`
   (50k chunks: ≤ 5 ms and nothing approximate); above it, each large index segment's PQ index
   (`indexes.ann`, built by the writer) picks candidates that are rescored with exact cosines, small segments
   are scanned exactly (`DenseCache.top_approximate`); Chroma's ANN (`query_embeddings`) only without faiss;
   filtered → an exact dot product over the allowed rows only (`dense.DenseCache`), never Chroma `where`.
3. Candidates = BM25 top-`depth` ∪ dense top-`depth`; both scores are exact for every candidate (cosines come
   from the matrix), fused with `fusion.hybrid_fuse` (z-score per query, dense weight alpha; see fusion.py).
4. The fused scores are rescaled to [0, 1] over the candidates and multiplied by the chunk kind's weight
   (`KIND_WEIGHTS`: references ×0.5, appendix ×0.85, body and captions ×1.0), so a bibliography entry that merely
   repeats the query's words ranks below the body text that discusses it.
5. With `rerank=N` (ask): the top N are re-scored by their best *sentence* instead of the whole chunk
   (`sentences.py`), which separates chunks of one paper that all share its topic.
6. Top k (optionally at most `per_paper_cap` chunks per paper), hydrated from the catalog.

`search_papers` ranks papers (best chunk + a small bonus for further hits + title/abstract BM25 match) and
`search_two_stage` finds the papers first and then their passages, capped per paper.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexes import bm25_index, dense
from indexes.bm25_index import KIND_CODES, BM25Params, ChunkIndex, EmptyIndexError
from indexes.topk import top_k
from rag.retrieval.filters import FilterCache, SearchFilters
from rag.retrieval.fusion import DEFAULT_FUSION, FusionParams, hybrid_fuse

log = logging.getLogger(__name__)

KIND_WEIGHTS = {"body": 1.0, "caption": 1.0, "references": 0.5, "appendix": 0.85}
EXACT_MAX_ROWS = 50_000  # unfiltered dense search scans the matrix exactly up to this many chunks, then ANN
PAPER_BONUS = (1.0, 0.1, 0.05)  # weights of a paper's best, second and third chunk scores
TITLE_ABSTRACT_WEIGHT = 0.25  # weight of the title/abstract BM25 match (min-max over candidate papers)


@dataclass
class Passage:
    chunk_id: str
    arxiv_id: str
    version: int
    paper_key: str
    title: str
    section: str
    page_start: int
    page_end: int
    kind: str
    text: str
    score: float

    @property
    def label(self) -> str:
        """The citation label, `[2501.10120 §4.2 p.5]`."""
        from rag.citations import citation_label

        return citation_label(self)

    @property
    def body(self) -> str:
        """The text without its `title › section` line."""
        from paperrag.text import chunk_body

        return chunk_body(self.text)

    def to_dict(self) -> dict:
        """What `paperrag search --json` prints for a passage."""
        return {"arxiv_id": self.arxiv_id, "version": self.version, "title": self.title, "section": self.section,
                "pages": [self.page_start, self.page_end], "score": round(float(self.score), 4), "kind": self.kind,
                "chunk_id": self.chunk_id, "text": self.text}


@dataclass
class PaperHit:
    paper_key: str
    arxiv_id: str
    version: int
    title: str
    score: float
    n_hits: int  # candidate chunks of this paper among the fused candidates
    best_chunk_id: str | None = None


@dataclass
class _State:
    index: ChunkIndex
    dense: dense.DenseCache | None
    kind_weight: np.ndarray = field(repr=False)


class Retriever:
    def __init__(
        self,
        settings,
        embedder=None,
        *,
        fusion: FusionParams = DEFAULT_FUSION,
        bm25_params: BM25Params | None = None,
        collection=None,
        exact_max_rows: int = EXACT_MAX_ROWS,
    ):
        self.settings = settings
        self.embedder = embedder
        self.fusion = fusion
        self.bm25_params = bm25_params or bm25_index.DEFAULT_BM25
        self.exact_max_rows = exact_max_rows
        self._collection = collection
        self._own_collection = collection is None
        self._conn: sqlite3.Connection | None = None
        self._state_obj: _State | None = None
        self._lock = threading.RLock()
        self._filters = FilterCache()
        self._sentences = None
        self.last_timings: dict[str, float] = {}

    # ------------------------------------------------------------------ state

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = bm25_index.connect_catalog(self.settings)
        return self._conn

    @property
    def collection(self):
        if self._collection is None:
            self._collection = dense.open_collection(self.settings, self.embedder)
        return self._collection

    def refresh(self) -> _State:
        """Index state for the catalog's current corpus_version (loads or rebuilds only when it changed)."""
        with self._lock:
            conn = self._connection()
            st = self._state_obj
            if st is not None and st.index.corpus_version == bm25_index.read_corpus_version(conn):
                return st  # the hot path: one indexed SQLite read per query
            index = bm25_index.load_or_build(self.settings, self.bm25_params, conn=conn)
            if st is not None and st.index is index:
                return st
            if self._own_collection:
                self._collection = None  # reopen: `paperrag reindex` may have replaced the collection
            if index.n_live == 0:
                raise EmptyIndexError()
            dc = dense.load_or_build(self.settings, index, self.collection)
            if dc is None or not dc.present.any():
                log.warning("no chunk embeddings available: searching with BM25 only")
                dc = None
            kw = np.ones(len(KIND_CODES), dtype=np.float64)
            for name, code in KIND_CODES.items():
                kw[code] = KIND_WEIGHTS.get(name, 1.0)
            self._state_obj = _State(index, dc, kw[index.kind])
            return self._state_obj

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._sentences is not None:
            self._sentences.close()

    # ------------------------------------------------------------------ scoring

    def _embed(self, query: str) -> np.ndarray | None:
        if self.embedder is None:
            return None
        return np.asarray(self.embedder.embed_query(query), dtype=np.float32)

    def _rank(self, st: _State, query: str, qvec: np.ndarray | None, allowed: np.ndarray | None, depth: int):
        """(candidate rows, scores in [0, 1] after kind weights), unsorted."""
        t0 = time.perf_counter()
        index = st.index
        bm = index.keyword.scores(query, allowed)  # filtered: only the allowed rows' postings are scored
        if allowed is None:
            bm_top = _topk(bm, depth, positive_only=True)
        else:
            bm_top = allowed[_topk(bm[allowed], depth, positive_only=True)]
        t1 = time.perf_counter()
        use_dense = st.dense is not None and qvec is not None
        if use_dense:
            if allowed is None and index.n_rows > self.exact_max_rows and st.dense.has_ann:
                dn_top, _ = st.dense.top_approximate(qvec, depth)
            elif allowed is None and index.n_rows > self.exact_max_rows and self.collection is not None:
                dn_top = dense.ann_top(self.collection, qvec, depth, index)
            else:
                dn_top, _ = st.dense.top(qvec, depth, allowed)
            cand = np.union1d(bm_top, dn_top)
            dn = st.dense.scores(qvec, cand)
        else:
            cand = np.sort(bm_top)
            dn = np.zeros(cand.shape[0], dtype=np.float32)
        t2 = time.perf_counter()
        scores = self._fused(st, cand, bm[cand], dn)
        self.last_timings.update(bm25_ms=1e3 * (t1 - t0), dense_ms=1e3 * (t2 - t1),
                                 fuse_ms=1e3 * (time.perf_counter() - t2), candidates=float(cand.size))
        return cand, scores, bm[cand], dn

    def _fused(self, st: _State, rows: np.ndarray, bm: np.ndarray, dn: np.ndarray) -> np.ndarray:
        """Fused scores rescaled to [0, 1] over `rows`, times the chunk kind's weight."""
        if rows.size == 0:
            return np.zeros(0)
        fused = hybrid_fuse(bm, dn, self.fusion)
        lo, hi = fused.min(), fused.max()
        scores = (fused - lo) / (hi - lo) if hi > lo else np.ones_like(fused)
        return scores * st.kind_weight[rows]

    def _rerank(self, st: _State, cand: np.ndarray, scores: np.ndarray, bm: np.ndarray, dn: np.ndarray,
                qvec: np.ndarray, depth: int) -> np.ndarray:
        """Scores with the top `depth` candidates re-scored by their best sentence (see sentences.py): BM25 of the
        chunk + best sentence cosine (the chunk cosine where a chunk has no sentence), fused over those candidates
        and mapped back into the score range they held, so they stay above the rest and comparable to it."""
        top = _topk(scores, depth)
        if top.size < 2:
            return scores
        t0 = time.perf_counter()
        rows = cand[top]
        ids = [st.index.chunk_ids[r] for r in rows.tolist()]
        with self._lock:
            text_of = dict(self._connection().execute(
                f"SELECT id, text FROM chunks WHERE id IN ({','.join('?' * len(ids))})", ids).fetchall())
        best = self.sentence_vectors.best([text_of.get(i, "") for i in ids], qvec)
        sent = np.where(np.isnan(best), dn[top], best)
        new = self._fused(st, rows, bm[top], sent)
        lo, hi = float(scores[top].min()), float(scores[top].max())
        out = scores.copy()
        out[top] = lo + (hi - lo) * new
        self.last_timings.update(rerank_ms=1e3 * (time.perf_counter() - t0))
        return out

    @property
    def sentence_vectors(self):
        with self._lock:  # the web app shares one Retriever between threads
            if self._sentences is None:
                from indexes.sentences import SentenceVectors

                self._sentences = SentenceVectors(Path(self.settings.bm25_dir) / "sentences.sqlite", self.embedder)
            return self._sentences

    def _allowed(self, st: _State, filters, paper_keys: Sequence[str] | None = None) -> np.ndarray | None:
        f = SearchFilters.of(filters)
        rows = None
        if f is not None:
            with self._lock:
                rows = self._filters.allowed_rows(self._connection(), st.index, f)
        if paper_keys is not None:
            prow = st.index.paper_row_of
            mask = np.zeros(len(st.index.paper_keys), dtype=bool)
            for k in paper_keys:
                j = prow.get(k)
                if j is not None:
                    mask[j] = True
            prow_rows = np.flatnonzero(mask[st.index.paper_idx])
            rows = prow_rows if rows is None else np.intersect1d(rows, prow_rows, assume_unique=True)
        return rows

    # ------------------------------------------------------------------ public API

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        filters: SearchFilters | dict | None = None,
        per_paper_cap: int | None = None,
        query_embedding: np.ndarray | None = None,
        rerank: int = 0,
    ) -> list[Passage]:
        """The k best passages for `query`; `query_embedding` skips embedding the query (benchmarks); `rerank=N`
        re-scores the top N candidates by their best sentence (`_rerank`; what `ask` uses)."""
        return self._search(query, k=k, filters=filters, per_paper_cap=per_paper_cap,
                            query_embedding=query_embedding, rerank=rerank)

    def _search(self, query, *, k, filters=None, per_paper_cap=None, query_embedding=None,
                paper_keys=None, cover_papers: Sequence[str] = (), rerank: int = 0) -> list[Passage]:
        if not query or not query.strip():
            raise ValueError("empty query")
        self.last_timings = {}
        st = self.refresh()
        t0 = time.perf_counter()
        qvec = query_embedding if query_embedding is not None else self._embed(query)
        self.last_timings["embed_ms"] = 1e3 * (time.perf_counter() - t0) if query_embedding is None else 0.0
        t1 = time.perf_counter()
        allowed = self._allowed(st, filters, paper_keys)
        self.last_timings["filter_ms"] = 1e3 * (time.perf_counter() - t1)
        if allowed is not None and allowed.size == 0:
            return []
        depth = max(self.fusion.depth, k * (3 if per_paper_cap else 1))
        cand, scores, bm, dn = self._rank(st, query, qvec, allowed, depth)
        if rerank and qvec is not None and st.dense is not None and self.embedder is not None:
            scores = self._rerank(st, cand, scores, bm, dn, qvec, max(rerank, k))
        t2 = time.perf_counter()
        picked = _select(cand, scores, st.index.paper_idx, k, per_paper_cap,
                         [st.index.paper_row_of[p] for p in cover_papers if p in st.index.paper_row_of])
        passages = self._hydrate(st, [(int(cand[i]), float(scores[i])) for i in picked])
        self.last_timings["hydrate_ms"] = 1e3 * (time.perf_counter() - t2)
        return passages

    def search_papers(self, query: str, k: int = 10, *, filters: SearchFilters | dict | None = None,
                      query_embedding: np.ndarray | None = None) -> list[PaperHit]:
        """Papers ranked by their chunks (best + 0.1·second + 0.05·third) plus 0.25 × title/abstract BM25."""
        if not query or not query.strip():
            raise ValueError("empty query")
        st = self.refresh()
        index = st.index
        qvec = query_embedding if query_embedding is not None else self._embed(query)
        allowed = self._allowed(st, filters)
        if allowed is not None and allowed.size == 0:
            return []
        cand, scores, _, _ = self._rank(st, query, qvec, allowed, max(self.fusion.depth, 4 * k))
        per_paper: dict[int, list[tuple[float, int]]] = {}
        for r, s in zip(cand.tolist(), scores.tolist(), strict=True):
            per_paper.setdefault(int(index.paper_idx[r]), []).append((s, r))
        # title/abstract match: BM25 over the paper-level index, candidates widened by its own top papers
        ta = index.paper_keyword.scores(query) if index.paper_keyword is not None else np.zeros(len(index.paper_keys))
        if allowed is not None:
            ok = np.zeros(len(index.paper_keys), dtype=bool)
            ok[np.unique(index.paper_idx[allowed])] = True
            ta = np.where(ok, ta, 0.0)
        for p in _topk(ta, max(k, 20), positive_only=True).tolist():
            per_paper.setdefault(int(p), [])
        papers = np.fromiter(per_paper.keys(), dtype=np.int64)
        ta_c = ta[papers].astype(np.float64)
        spread = float(ta_c.max() - ta_c.min()) if ta_c.size else 0.0
        ta_n = (ta_c - ta_c.min()) / spread if spread > 0 else np.zeros_like(ta_c)
        hits = []
        for p, tan in zip(papers.tolist(), ta_n.tolist(), strict=True):
            chunk_scores = sorted(per_paper[p], reverse=True)
            agg = sum(w * s for w, (s, _) in zip(PAPER_BONUS, chunk_scores, strict=False))
            best = index.chunk_ids[chunk_scores[0][1]] if chunk_scores else None
            hits.append((agg + TITLE_ABSTRACT_WEIGHT * tan, p, len(chunk_scores), best))
        hits.sort(key=lambda h: (-h[0], h[1]))
        return self._hydrate_papers(st, hits[:k])

    def search_two_stage(self, query: str, k: int = 10, *, papers: int | Sequence[str] | None = None,
                         per_paper_cap: int | None = 3, filters: SearchFilters | dict | None = None,
                         query_embedding: np.ndarray | None = None, rerank: int = 0) -> list[Passage]:
        """Papers first (the `papers` keys/ids given, or the best `papers` = 5 by `search_papers`), then the k best
        passages within them, at most `per_paper_cap` per paper and the best passage of each paper included."""
        st = self.refresh()
        qvec = query_embedding if query_embedding is not None else self._embed(query)
        if papers is None or isinstance(papers, int):
            hits = self.search_papers(query, k=papers or 5, filters=filters, query_embedding=qvec)
            keys = [h.paper_key for h in hits]
        else:
            keys = self._resolve_papers(st, papers)
        if not keys:
            return []
        return self._search(query, k=k, filters=filters, per_paper_cap=per_paper_cap, query_embedding=qvec,
                            paper_keys=keys, cover_papers=keys[:k], rerank=rerank)

    # ------------------------------------------------------------------ helpers

    def _resolve_papers(self, st: _State, papers: Sequence[str]) -> list[str]:
        """Paper keys for keys or version-less arXiv ids (every indexed version of the latter)."""
        out = []
        known = st.index.paper_row_of
        for p in papers:
            p = str(p).removeprefix("arXiv:").removeprefix("arxiv:")
            if p in known:
                out.append(p)
            else:
                out.extend(k for k in st.index.paper_keys if k.rsplit("v", 1)[0] == p)
        return list(dict.fromkeys(out))

    def _hydrate(self, st: _State, picked: list[tuple[int, float]]) -> list[Passage]:
        if not picked:
            return []
        ids = [st.index.chunk_ids[r] for r, _ in picked]
        with self._lock:
            rows = self._connection().execute(
                "SELECT c.id, COALESCE(p.arxiv_id, ''), COALESCE(p.version, 0), c.paper_key, COALESCE(p.title, ''), "
                "COALESCE(c.section, ''), COALESCE(c.page_start, 0), COALESCE(c.page_end, 0), "
                "COALESCE(c.kind, 'body'), c.text FROM chunks c LEFT JOIN papers p ON p.key = c.paper_key "
                f"WHERE c.id IN ({','.join('?' * len(ids))})", ids).fetchall()
        by_id = {r[0]: r for r in rows}
        out = []
        for cid, (_, score) in zip(ids, picked, strict=True):
            r = by_id.get(cid)
            if r is None:  # deleted since the index was built; the next corpus_version rebuild drops it
                continue
            out.append(Passage(r[0], r[1], int(r[2]), r[3], r[4], r[5], int(r[6]), int(r[7]), r[8], r[9],
                               round(score, 6)))
        return out

    def _hydrate_papers(self, st: _State, hits) -> list[PaperHit]:
        keys = [st.index.paper_keys[p] for _, p, _, _ in hits]
        if not keys:
            return []
        with self._lock:
            rows = self._connection().execute(
                f"SELECT key, COALESCE(arxiv_id, ''), COALESCE(version, 0), COALESCE(title, '') FROM papers "
                f"WHERE key IN ({','.join('?' * len(keys))})", keys).fetchall()
        by_key = {r[0]: r for r in rows}
        out = []
        for key, (score, _, n, best) in zip(keys, hits, strict=True):
            r = by_key.get(key, (key, key.rsplit("v", 1)[0], 0, ""))
            out.append(PaperHit(key, r[1], int(r[2]), r[3], round(float(score), 6), n, best))
        return out


def _topk(scores: np.ndarray, k: int, *, positive_only: bool = False) -> np.ndarray:
    """Indices of the k best scores, best first (ties by index); with positive_only, only scores > 0."""
    return top_k(scores, k, positive_only=positive_only)


def _select(cand: np.ndarray, scores: np.ndarray, paper_idx: np.ndarray, k: int, cap: int | None,
            cover: Sequence[int] = ()) -> list[int]:
    """Positions into cand of the k best, at most `cap` per paper; the best chunk of each paper in `cover` first."""
    order = np.lexsort((cand, -scores))
    papers = paper_idx[cand]
    count: dict[int, int] = {}
    picked: list[int] = []
    chosen = set()
    if cover:
        want = set(cover)
        for i in order.tolist():
            p = int(papers[i])
            if p in want and p not in count and len(picked) < k:
                picked.append(i)
                chosen.add(i)
                count[p] = 1
    for i in order.tolist():
        if len(picked) >= k:
            break
        if i in chosen:
            continue
        p = int(papers[i])
        if cap is not None and count.get(p, 0) >= cap:
            continue
        count[p] = count.get(p, 0) + 1
        picked.append(i)
    picked.sort(key=lambda i: (-scores[i], cand[i]))
    return picked
