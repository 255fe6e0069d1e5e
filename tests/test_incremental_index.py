"""Incremental search indexes (indexes/segments.py): a day's update ranks exactly like a full rebuild, removed
papers never come back, compaction changes nothing a search sees, and a reader keeps a whole generation.

Real catalog, real MiniLM vectors in a real (embedded) Chroma collection, real BM25 tokenisation.
"""

from __future__ import annotations

import numpy as np
import pytest
from fakes.corpus import add_paper

from indexes import bm25_index, dense, segments
from indexes.catalog import Catalog
from indexes.vector_store import delete_paper_chunks, open_collection
from paperrag.library import Library
from paperrag.settings import Settings
from rag.retrieval.filters import SearchFilters
from rag.retrieval.retriever import Retriever

TOPICS = [
    ("graph neural networks", "message passing over molecular graphs predicts binding affinity of ligands"),
    ("speech recognition", "acoustic models transcribe noisy telephone speech with connectionist temporal loss"),
    ("protein folding", "structure prediction of amino acid chains from multiple sequence alignments"),
    ("reinforcement learning", "policy gradients train agents that navigate mazes with sparse rewards"),
    ("machine translation", "encoder decoder transformers translate German news articles into English"),
    ("image segmentation", "pixel level masks of tumours delineated in magnetic resonance scans"),
    ("recommender systems", "collaborative filtering ranks movies for users from implicit clicks"),
    ("climate modelling", "ocean heat uptake simulated with coupled atmosphere circulation models"),
    ("robot grasping", "suction grippers pick cluttered warehouse items using depth cameras"),
    ("question answering", "retrievers fetch wikipedia passages that readers use to answer trivia"),
    ("time series forecasting", "electricity demand forecast with seasonal decomposition and gradient boosting"),
    ("code generation", "language models synthesise python functions from docstrings and unit tests"),
]


def _sections(i: int, version: int = 1) -> list[tuple[str, str, str]]:
    topic, sentence = TOPICS[i % len(TOPICS)]
    extra = " Revised results." if version > 1 else ""
    return [
        ("1 Introduction", "body", f"We study {topic}. In this work {sentence}.{extra}"),
        ("2 Method", "body", f"Our method for {topic} scales: {sentence}, evaluated on benchmark {i}."),
        ("References", "references", f"Prior work on {topic} surveyed in reference list number {i}."),
    ]


def _add(settings, embedder, catalog, collection, i: int, version: int = 1) -> str:
    topic = TOPICS[i % len(TOPICS)][0]
    cats = ["cs.LG"] if i % 2 else ["cs.CL"]
    return add_paper(settings, embedder, catalog, collection, f"2501.{i:05d}", f"Advances in {topic.title()} {i}",
                     cats, f"2025-01-{1 + i % 28:02d}", _sections(i, version), version=version)


def _revise(settings, embedder, catalog, collection, i: int) -> str:
    """A new version of paper i, superseding v1 (what ingest does for a replaced arXiv version)."""
    old = f"2501.{i:05d}v1"
    delete_paper_chunks(collection, old)
    catalog.supersede(old)
    return _add(settings, embedder, catalog, collection, i, version=2)


QUERIES = ["message passing molecular graphs", "telephone speech transcription", "warehouse suction gripper",
           "wikipedia passages trivia", "revised results benchmark", "ocean heat circulation", "python docstrings"]


def _results(settings, embedder) -> dict:
    """What a fresh reader returns: top 8 (chunk id, score) per query, unfiltered, filtered and per paper."""
    bm25_index._LOADED.clear()
    dense._LOADED.clear()
    r = Retriever(settings, embedder)
    try:
        out = {}
        for q in QUERIES:
            out[q] = [(p.chunk_id, p.score) for p in r.search(q, k=8)]
            out[q + " |cs.LG"] = [(p.chunk_id, p.score) for p in
                                  r.search(q, k=8, filters=SearchFilters(categories=["cs.LG"]))]
            out[q + " |papers"] = [(h.paper_key, h.score) for h in r.search_papers(q, k=5)]
        return out
    finally:
        r.close()


def _bm25_by_chunk(index, query: str) -> dict[str, float]:
    s = index.keyword.scores(query)
    return {index.chunk_ids[i]: float(s[i]) for i in index.row_of.values()}


def _vectors(settings, collection) -> dict[str, np.ndarray]:
    """The dense matrix's row of every live chunk, by chunk id."""
    index = bm25_index.load_or_build(settings)
    matrix = dense.load_or_build(settings, index, collection).matrix
    return {c: matrix[r] for c, r in index.row_of.items()}


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for q in a:
        assert [c for c, _ in a[q]] == [c for c, _ in b[q]], q
        assert np.allclose([s for _, s in a[q]], [s for _, s in b[q]], rtol=0, atol=1e-6), q


@pytest.fixture()
def store(home, embedder):
    settings = Settings()
    catalog = Catalog(settings.catalog_path)
    collection = open_collection(settings, embedder.identity)
    for i in range(8):
        _add(settings, embedder, catalog, collection, i)
    Library(settings, embedder=embedder).warm()  # the first build: one segment
    yield settings, catalog, collection
    catalog.close()


def _day(settings, embedder, catalog, collection) -> None:
    """A day's changes: two new papers, one revised, one deleted; then the writer's update."""
    for i in (8, 9):
        _add(settings, embedder, catalog, collection, i)
    _revise(settings, embedder, catalog, collection, 1)
    delete_paper_chunks(collection, "2501.00003v1")
    catalog.delete_paper("2501.00003v1")
    Library(settings, embedder=embedder).warm()


def test_an_incremental_update_ranks_exactly_like_a_full_rebuild(store, embedder):
    settings, catalog, collection = store
    builds, fetched = bm25_index.build_count(), dense.fetched_rows()
    _day(settings, embedder, catalog, collection)
    report = segments.LAST_REPORT[str(bm25_index.segments_dir(settings))]
    # the update touched only what changed: 3 new papers' chunks in, the revised and deleted papers' rows out
    assert (report.mode, report.added_chunks, report.removed_chunks) == ("delta", 9, 6)
    assert bm25_index.build_count() == builds and dense.fetched_rows() == fetched + 9
    index = bm25_index.load_or_build(settings)
    assert len(index.segments) == 2 and index.n_live == catalog.chunk_count() == 27
    incremental = _results(settings, embedder)
    bm25_inc = {q: _bm25_by_chunk(bm25_index.load_or_build(settings), q) for q in QUERIES}
    vec_inc = _vectors(settings, collection)

    bm25_index.update(settings, force_full=True)  # the same corpus from scratch
    full_index = bm25_index.load_or_build(settings)
    assert bm25_index.build_count() == builds + 1 and len(full_index.segments) == 1
    assert full_index.dead_rows.size == 0 and sorted(full_index.chunk_ids) == sorted(vec_inc)
    full = _results(settings, embedder)
    _assert_same(incremental, full)
    for q in QUERIES:  # BM25 with corpus-wide statistics: bit for bit the same score for every chunk
        assert _bm25_by_chunk(bm25_index.load_or_build(settings), q) == bm25_inc[q]
    vec_full = _vectors(settings, collection)
    assert vec_full.keys() == vec_inc.keys() and all(np.array_equal(vec_full[c], vec_inc[c]) for c in vec_full)


def test_removed_and_superseded_papers_never_come_back(store, embedder):
    settings, catalog, collection = store
    _day(settings, embedder, catalog, collection)
    gone = ("2501.00003v1", "2501.00001v1")  # deleted; superseded by v2
    r = Retriever(settings, embedder)
    index = r.refresh().index
    assert not any(c.startswith(gone) for c in index.row_of) and not set(gone) & set(index.paper_row_of)
    assert index.dead_rows.size == 6  # tombstoned rows still in the files, never scored
    assert (index.keyword.scores("mazes sparse rewards policy gradients")[index.dead_rows] == 0).all()
    for q in ("policy gradients agents navigate mazes with sparse rewards", "acoustic models telephone speech"):
        keys = {p.paper_key for p in r.search(q, k=30)}
        assert not keys & set(gone), q
        assert not {h.paper_key for h in r.search_papers(q, k=30)} & set(gone)
    # the deleted paper's own text finds nothing of it, even restricted to it
    assert r.search("policy gradients mazes", filters=SearchFilters(arxiv_ids=["2501.00003"])) == []
    revised = r.search("acoustic models telephone speech revised results", k=3)
    assert revised[0].paper_key == "2501.00001v2"
    # nor after a compaction, nor after a reader starts from disk
    bm25_index.update(settings, compact=True)
    r2 = Retriever(settings, embedder)
    for q in ("policy gradients agents navigate mazes with sparse rewards", "acoustic models telephone speech"):
        assert not {p.paper_key for p in r2.search(q, k=30)} & set(gone)
    r.close()
    r2.close()


def test_compaction_preserves_results_and_copies_vectors(store, embedder):
    settings, catalog, collection = store
    _day(settings, embedder, catalog, collection)
    for i in (10, 11):  # a second day: three segments, tombstones in the first
        _add(settings, embedder, catalog, collection, i)
    Library(settings, embedder=embedder).warm()
    before_index = bm25_index.load_or_build(settings)
    assert len(before_index.segments) == 3 and before_index.dead_rows.size == 6
    before = _results(settings, embedder)
    fetched = dense.fetched_rows()

    report = bm25_index.update(settings, compact=True)
    assert report.merged_segments == 3
    after_index = bm25_index.load_or_build(settings)
    assert len(after_index.segments) == 1 and after_index.dead_rows.size == 0
    assert after_index.n_live == before_index.n_live == catalog.chunk_count()
    _assert_same(before, _results(settings, embedder))
    assert dense.fetched_rows() == fetched  # merged vectors were copied from the segments, not fetched again
    # old segments are pruned once newer generations replace them
    for i in (12, 13, 14):
        _add(settings, embedder, catalog, collection, i)
        Library(settings, embedder=embedder).warm()
    names = {p.name for p in bm25_index.segments_dir(settings).glob("seg-*")}
    assert not names & {s.name for s in before_index.segments}


def test_a_reader_opened_before_an_update_keeps_its_whole_generation(store, embedder):
    settings, catalog, collection = store
    reader = Retriever(settings, embedder)
    old = reader.refresh()
    q = "acoustic models transcribe noisy telephone speech"
    qvec = embedder.embed_query(q)
    bm_before, dn_before = old.index.keyword.scores(q).copy(), old.dense.scores(qvec).copy()
    old_files = [s.directory for s in old.index.segments]

    # the writer changes the corpus, compacts and, generations later, removes the files the reader mapped
    _day(settings, embedder, catalog, collection)
    bm25_index.update(settings, compact=True)
    for i in (10, 11, 12):
        _add(settings, embedder, catalog, collection, i)
        Library(settings, embedder=embedder).warm()
    assert not any(d.exists() for d in old_files)

    # the reader's loaded generation still answers, unchanged (mapped files outlive their names)
    assert np.array_equal(old.index.keyword.scores(q), bm_before)
    assert np.array_equal(old.dense.scores(qvec), dn_before)
    assert "2501.00001v1#0000" in old.index.row_of  # the old version is still whole in the old view

    # its next search moves to the newest generation as a whole: new papers in, removed ones out
    st = reader.refresh()
    assert st is not old and st.index.corpus_version == str(catalog.corpus_version())
    assert st.index.n_live == catalog.chunk_count() and st.dense.present[list(st.index.row_of.values())].all()
    keys = {p.paper_key for p in reader.search(q, k=30)}
    assert "2501.00001v2" in keys and "2501.00001v1" not in keys
    assert reader.search("electricity demand seasonal decomposition", k=1)[0].paper_key == "2501.00010v1"
    reader.close()


def test_large_segments_get_a_pq_index_and_ann_search_ranks_like_the_exact_scan(store, embedder, monkeypatch):
    from indexes import ann

    if not ann.available():
        pytest.skip("faiss-cpu is not installed (pip install faiss-cpu)")
    settings, catalog, collection = store
    monkeypatch.setattr(ann, "MIN_ROWS", 20)  # the test corpus is tiny: its 24-row first segment counts as large
    built = dense.ann_built()
    _day(settings, embedder, catalog, collection)  # the writer: a 9-row day segment (small: exact scan)
    index = bm25_index.load_or_build(settings)
    has_pq = [any(s.directory.glob("ann-*.faiss")) for s in index.segments]
    assert has_pq == [True, False] and dense.ann_built() == built + 1
    exact = Retriever(settings, embedder, exact_max_rows=10**9)
    approx = Retriever(settings, embedder, exact_max_rows=0)  # above the limit: PQ candidates per segment
    assert approx.refresh().dense.has_ann
    for q in QUERIES:  # every row of a segment this small is rescored: the same passages, the same scores
        assert [(p.chunk_id, p.score) for p in approx.search(q, k=8)] == \
               [(p.chunk_id, p.score) for p in exact.search(q, k=8)], q
        keys = {p.paper_key for p in approx.search(q, k=30)}
        assert not keys & {"2501.00003v1", "2501.00001v1"}, q  # tombstoned rows never come back from the PQ side
    # a merge writes a new segment: its PQ index is built once, from the merged vectors
    bm25_index.update(settings, compact=True)
    merged = bm25_index.load_or_build(settings)
    dense.load_or_build(settings, merged, collection)
    assert len(merged.segments) == 1 and any(merged.segments[0].directory.glob("ann-*.faiss"))
    exact.close()
    approx.close()
