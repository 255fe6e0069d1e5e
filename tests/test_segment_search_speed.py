"""The faster search paths keep their guarantees: BM25 scores stay bit for bit what every posting scored one by one
gives (also when only a filter's rows are scored), and the PQ candidates of a large segment (`indexes.ann`) come
back with exact cosines, never a tombstoned row, and find the exact scan's top 10.

Real faiss, real numpy arithmetic; random data (the hardest case for the PQ candidates).
"""

from __future__ import annotations

import numpy as np
import pytest

from indexes import ann, segments
from indexes.bm25_index import DEFAULT_BM25
from indexes.dense import DenseCache


def _bm25(rng, n_terms=300):
    """Two segments of random documents (Zipf-ish term ids) with some tombstoned rows."""
    parts, off = [], 0
    for n in (400, 150):
        docs = [np.minimum(rng.zipf(1.4, size=int(rng.integers(5, 60))), n_terms) - 1 for _ in range(n)]
        parts.append((off, segments.Postings.from_token_ids(docs, n_terms)))
        off += n
    dead = np.sort(rng.choice(off, 30, replace=False)).astype(np.int64)
    df = sum(np.bincount(np.concatenate([np.asarray(p.doc_terms)]), minlength=n_terms) for _, p in parts)
    vocab = {f"t{i}": i for i in range(n_terms)}
    sum_dl = int(sum(int(np.sum(p.dl)) for _, p in parts))
    return segments.SegmentedBM25(vocab, parts, off, df.astype(np.int64), off, sum_dl, dead, DEFAULT_BM25,
                                  lambda q: q.split())


def _reference(kw, query: str) -> np.ndarray:
    """Every posting scored one by one, in query-term order, with the float32 operations the module documents."""
    out = np.zeros(kw.n_docs, np.float32)
    for tid in kw.token_ids(query).tolist():
        if kw.df[tid] <= 0:
            continue
        idf = np.float32(kw.idf(tid))
        for off, p in kw.parts:
            s, e = int(p.term_ptr[tid]), int(p.term_ptr[tid + 1])
            for r, tf in zip(np.asarray(p.term_docs[s:e]).tolist(), np.asarray(p.term_tf[s:e]).tolist(), strict=True):
                tf32 = np.float32(tf)
                out[r + off] = out[r + off] + (tf32 / (kw.norm[r + off] + tf32)) * idf
    out[kw.dead_rows] = 0.0
    return out


def test_bm25_scores_are_bit_identical_to_scoring_posting_by_posting_also_filtered():
    rng = np.random.default_rng(3)
    kw = _bm25(rng)
    allowed = np.sort(rng.choice(kw.n_docs, 120, replace=False))
    for q in ("t0 t5 t17", "t1 t1 t40 t250", "t2 t3 t4 t5 t6 t7 t8", "t299"):
        ref = _reference(kw, q)
        assert ref.any(), q
        assert np.array_equal(kw.scores(q), ref), q
        filtered = kw.scores(q, allowed)
        assert np.array_equal(filtered[allowed], ref[allowed]), q
        outside = np.setdiff1d(np.arange(kw.n_docs), allowed)
        assert not filtered[outside].any(), q


def _unit(rng, n, dim=384):
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture()
def cache(tmp_path):
    if not ann.available():
        pytest.skip("faiss-cpu is not installed (pip install faiss-cpu)")
    rng = np.random.default_rng(11)
    big, small = _unit(rng, 3000), _unit(rng, 400)
    assert ann.build(big, tmp_path / "ann.faiss")
    offsets = np.asarray([0, 3000, 3400], np.int64)
    dead = np.sort(np.concatenate([rng.choice(3000, 200, replace=False), 3000 + rng.choice(400, 20, replace=False)]))
    present = np.ones(3400, bool)
    present[dead] = False
    c = DenseCache([big, small], offsets, present, dead.astype(np.int64), "1", tmp_path,
                   anns=[ann.load(tmp_path / "ann.faiss"), None])
    return c, rng


def test_pq_candidates_find_the_exact_top_10_with_exact_cosines_and_no_dead_row(cache):
    c, rng = cache
    assert c.has_ann
    found = []
    for q in _unit(rng, 30):
        rows, scores = c.top_approximate(q, 10)
        exact_rows, _ = c.top(q, 10)
        assert rows.size == 10 and not np.isin(rows, c.dead_rows).any()
        assert np.allclose(scores, c.scores(q, rows), rtol=0, atol=1e-6)  # exact cosines, not PQ estimates
        assert (np.diff(scores) <= 0).all()
        found.append(len(set(rows.tolist()) & set(exact_rows.tolist())) / 10)
    assert np.mean(found) >= 0.95


def test_selected_rows_in_runs_score_like_gathered_rows(cache):
    c, rng = cache
    q = _unit(rng, 1)[0]
    runs = np.concatenate([np.arange(s, s + 40) for s in (0, 120, 2980)] + [np.arange(3100, 3140)])  # crosses parts
    scattered = np.sort(rng.choice(3400, 50, replace=False))
    for rows in (runs, scattered):
        full = np.concatenate([c.parts[0], c.parts[1]])
        assert np.allclose(c.scores(q, rows), full[rows] @ q, rtol=0, atol=1e-6)
