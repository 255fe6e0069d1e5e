"""The product retriever on a small real corpus: real catalog, real MiniLM, real Chroma (embedded) on a temp dir."""

from __future__ import annotations

import numpy as np
import pytest
from fakes.corpus import add_paper

from indexes import bm25_index, dense
from indexes.bm25_index import EmptyIndexError
from indexes.catalog import Catalog
from paperrag.library import Library
from paperrag.settings import Settings
from rag.retrieval.filters import SearchFilters
from rag.retrieval.retriever import KIND_WEIGHTS, Retriever

# (arxiv_id, title, categories, published, [(section, kind, body), ...])
PAPERS = [
    ("2401.00001", "Attention Is All You Need Revisited", ["cs.CL", "cs.LG"], "2024-01-10", [
        ("1 Introduction", "body", "We propose the Transformer, a sequence transduction model based entirely on "
         "self-attention, dispensing with recurrence and convolutions. Multi-head attention lets the model attend "
         "to information from different representation subspaces."),
        ("3 Model › 3.5 Positional Encoding", "body", "Since the model contains no recurrence, we add sinusoidal "
         "positional encodings of different frequencies to the input embeddings to inject token order."),
        ("A Hyperparameters", "appendix", "We trained with the Adam optimizer, warmup of 4000 steps, label smoothing "
         "0.1 and dropout 0.1 on eight GPUs for twelve hours."),
    ]),
    ("2402.00002", "Deep Residual Learning for Image Recognition", ["cs.CV"], "2024-02-15", [
        ("1 Introduction", "body", "Deeper convolutional networks are harder to train: accuracy saturates and then "
         "degrades. We reformulate layers as learning residual functions with identity shortcut connections."),
        ("4 Experiments", "body", "On ImageNet classification our 152-layer residual network reaches 3.57% top-5 "
         "error, winning the ILSVRC 2015 competition."),
    ]),
    ("2403.00003", "Retrieval-Augmented Generation for Knowledge-Intensive Tasks", ["cs.CL", "cs.IR"], "2024-03-20", [
        ("2 Methods", "body", "Our model combines a parametric seq2seq generator with a non-parametric memory: a "
         "dense vector index of Wikipedia accessed with a neural retriever. Passages retrieved by maximum inner "
         "product search condition the generator when answering open-domain questions."),
        ("References", "references", "Karpukhin et al. Dense passage retrieval for open-domain question answering. "
         "EMNLP 2020. Lewis et al. Dense passage retrieval for open-domain question answering benchmarks. "
         "Guu et al. REALM retrieval-augmented language model pre-training. ICML 2020."),
    ]),
    ("2404.00004", "Photosynthetic Efficiency of C4 Plants", ["q-bio.PE"], "2024-04-05", [
        ("1 Introduction", "body", "C4 plants such as maize concentrate carbon dioxide around Rubisco in bundle "
         "sheath cells, which suppresses photorespiration and raises photosynthetic efficiency in hot climates."),
    ]),
    ("2405.00005", "FlashAttention: Fast and Memory-Efficient Exact Attention", ["cs.LG"], "2024-05-01", [
        ("2 Method", "body", "FlashAttention is IO-aware: it tiles the attention computation so that blocks of "
         "queries, keys and values stay in on-chip SRAM, reducing reads and writes to GPU high bandwidth memory."),
    ]),
    ("2406.00006", "A Survey of Lexical Ranking Functions", ["cs.IR"], "2024-06-12", [
        (f"{i} Okapi BM25", "body", f"Part {i}: BM25 ranks documents by term frequency with saturation controlled "
         f"by k1 and document length normalisation controlled by b, weighted by inverse document frequency.")
        for i in range(1, 7)
    ]),
    ("2406.00007", "Tuning BM25 Parameters", ["cs.IR"], "2024-06-20", [
        ("1 Okapi BM25", "body", "We study how the BM25 term frequency saturation parameter k1 and the length "
         "normalisation parameter b affect ranking quality across collections."),
    ]),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, embedder):
    from indexes.vector_store import open_collection

    settings = Settings(home=tmp_path_factory.mktemp("retrieval-home"))
    catalog = Catalog(settings.catalog_path)
    collection = open_collection(settings, embedder.identity)
    for p in PAPERS:
        add_paper(settings, embedder, catalog, collection, *p)
    yield settings, catalog, collection
    catalog.close()


@pytest.fixture(scope="module")
def retriever(corpus, embedder):
    settings, _, _ = corpus
    r = Retriever(settings, embedder)
    yield r
    r.close()


def _keys(passages):
    return [p.paper_key for p in passages]


# ------------------------------------------------------------------------------------------- search


def test_known_queries_find_the_right_chunk(retriever):
    cases = {
        "how is token order injected without recurrence": "2401.00001v1#0001",
        "identity shortcut connections for very deep networks": "2402.00002v1#0000",
        "why do maize plants photosynthesise efficiently in heat": "2404.00004v1#0000",
        "keeping attention blocks in on-chip SRAM": "2405.00005v1#0000",
        "Wikipedia dense index as non-parametric memory for a generator": "2403.00003v1#0000",
    }
    for query, want in cases.items():
        hits = retriever.search(query, k=3)
        assert hits[0].chunk_id == want, (query, [h.chunk_id for h in hits])
    top = retriever.search("sinusoidal positional encodings", k=1)[0]
    assert (top.arxiv_id, top.version, top.paper_key) == ("2401.00001", 1, "2401.00001v1")
    assert top.title == "Attention Is All You Need Revisited" and top.section.endswith("Positional Encoding")
    assert top.page_start == 2 and top.kind == "body" and "sinusoidal" in top.text and 0 < top.score <= 1
    assert retriever.last_timings["candidates"] >= 1


def test_filters_by_date_category_and_ids(retriever):
    q = "attention"
    by_cat = retriever.search(q, k=10, filters=SearchFilters(categories=["cs.IR"]))
    assert by_cat and set(_keys(by_cat)) <= {"2403.00003v1", "2406.00006v1", "2406.00007v1"}
    by_archive = retriever.search(q, k=20, filters={"categories": "q-bio"})
    assert set(_keys(by_archive)) == {"2404.00004v1"}
    by_date = retriever.search(q, k=20, filters=SearchFilters(date_from="2024-02-01", date_to="2024-04-30"))
    assert set(_keys(by_date)) == {"2402.00002v1", "2403.00003v1", "2404.00004v1"}
    by_ids = retriever.search(q, k=20, filters=SearchFilters(arxiv_ids=["2405.00005", "2402.00002v1"]))
    assert set(_keys(by_ids)) == {"2405.00005v1", "2402.00002v1"}
    by_digest = retriever.search(q, k=20, filters=SearchFilters(digest_date="2024-06-20"))
    assert set(_keys(by_digest)) == {"2406.00007v1"}
    combined = retriever.search(q, k=20, filters=SearchFilters(categories=["cs.LG"], date_from="2024-05-01"))
    assert set(_keys(combined)) == {"2405.00005v1"}
    assert retriever.search(q, filters=SearchFilters(date_from="2030-01-01")) == []
    with pytest.raises(ValueError):
        SearchFilters(date_from="yesterday")


def test_filtered_dense_search_is_exact(retriever):
    """A filtered query scores the allowed rows exactly: it finds a semantic match with no shared words."""
    hits = retriever.search("crop yield under hot weather", k=1, filters=SearchFilters(categories=["q-bio.PE"]))
    assert hits[0].chunk_id == "2404.00004v1#0000"


def test_references_are_down_weighted(retriever):
    q = "dense passage retrieval for open-domain question answering"
    st = retriever.refresh()
    ref_row = st.index.row_of["2403.00003v1#0001"]
    weights = st.kind_weight.copy()
    try:
        st.kind_weight[:] = 1.0  # without the weights the bibliography entry wins (it repeats the query)
        plain = retriever.search(q, k=3)
        assert plain[0].chunk_id == "2403.00003v1#0001"
    finally:
        st.kind_weight[:] = weights
    assert st.kind_weight[ref_row] == KIND_WEIGHTS["references"] == 0.5
    hits = retriever.search(q, k=5)
    ids = [h.chunk_id for h in hits]
    assert ids[0] == "2403.00003v1#0000"
    assert "2403.00003v1#0001" in ids and hits[ids.index("2403.00003v1#0001")].score <= 0.5
    appendix = retriever.search("Adam optimizer warmup label smoothing dropout", k=1)[0]
    assert appendix.kind == "appendix" and appendix.score == pytest.approx(KIND_WEIGHTS["appendix"])


def test_per_paper_cap(retriever):
    q = "inverse document frequency weighting in lexical ranking functions"
    uncapped = retriever.search(q, k=5)
    assert _keys(uncapped).count("2406.00006v1") == 5  # the six-chunk survey crowds out everything
    capped = retriever.search(q, k=5, per_paper_cap=2)
    keys = _keys(capped)
    assert keys.count("2406.00006v1") == 2 and "2406.00007v1" in keys and len(capped) == 5
    assert [p.score for p in capped] == sorted((p.score for p in capped), reverse=True)


def test_search_papers_and_two_stage(retriever):
    papers = retriever.search_papers("ranking functions with BM25", k=3)
    assert {p.paper_key for p in papers[:2]} == {"2406.00006v1", "2406.00007v1"}
    assert papers[0].paper_key == "2406.00006v1" and papers[0].n_hits >= 2 and papers[0].best_chunk_id
    assert papers[0].title == "A Survey of Lexical Ranking Functions" and papers[0].arxiv_id == "2406.00006"
    # title/abstract match alone brings a paper in
    assert retriever.search_papers("Photosynthetic Efficiency", k=1)[0].paper_key == "2404.00004v1"

    two = retriever.search_two_stage("BM25 length normalisation", k=6, papers=2, per_paper_cap=3)
    keys = _keys(two)
    assert set(keys) == {"2406.00006v1", "2406.00007v1"} and keys.count("2406.00006v1") == 3
    chosen = retriever.search_two_stage("attention", k=4, papers=["2405.00005", "2402.00002v1"])
    assert set(_keys(chosen)) == {"2405.00005v1", "2402.00002v1"}


def test_empty_query_is_refused(retriever):
    with pytest.raises(ValueError):
        retriever.search("   ")


# ------------------------------------------------------------------------------------------- persistence


def test_empty_index_error(home, embedder):
    settings = Settings()
    with pytest.raises(EmptyIndexError, match="no papers indexed yet: add some with `paperrag ingest"):
        Retriever(settings, embedder).search("anything")
    assert Library(settings, embedder=embedder).warm()["chunks"] == 0
    Catalog(settings.catalog_path).close()  # a catalog with no chunks is just as empty
    with pytest.raises(EmptyIndexError, match="no papers indexed yet"):
        Retriever(settings, embedder).search("anything")


def test_bm25_built_once_reused_and_updated_on_corpus_change(home, embedder):
    from indexes import segments
    from indexes.vector_store import open_collection

    settings = Settings()
    catalog = Catalog(settings.catalog_path)
    collection = open_collection(settings, embedder.identity)
    for p in PAPERS[:2]:
        add_paper(settings, embedder, catalog, collection, *p)

    before = bm25_index.build_count()
    idx = bm25_index.load_or_build(settings)
    assert idx.built and bm25_index.build_count() == before + 1
    current = idx.directory / "CURRENT"
    mtime = current.stat().st_mtime_ns
    assert segments.read_manifest(idx.directory)["corpus_version"] == str(catalog.corpus_version())
    assert idx.chunk_ids == [r[0] for r in catalog.db.execute("SELECT id FROM chunks ORDER BY paper_key, ordinal")]

    # same version: served from memory, then from disk in a "new process", never rebuilt
    assert bm25_index.load_or_build(settings) is idx
    bm25_index._LOADED.clear()
    again = bm25_index.load_or_build(settings)
    assert not again.built and bm25_index.build_count() == before + 1
    assert current.stat().st_mtime_ns == mtime and again.chunk_ids == idx.chunk_ids

    r = Retriever(settings, embedder)
    for _ in range(3):
        r.search("residual shortcut connections", k=2)
    assert bm25_index.build_count() == before + 1  # searching never rebuilds
    fetched = dense.fetched_rows()

    # a write that changes chunks bumps corpus_version: the writer (warm, what ingest calls at its end) appends the
    # new paper as a segment; nothing is rebuilt and only the new chunk's vector is fetched
    updates = bm25_index.update_count()
    add_paper(settings, embedder, catalog, collection, *PAPERS[3])
    warmed = Library(settings, embedder=embedder).warm()
    assert warmed["bm25_built"] and warmed["dense_built"] and warmed["chunks"] == len(idx.chunk_ids) + 1
    assert bm25_index.build_count() == before + 1 and bm25_index.update_count() == updates + 1
    assert dense.fetched_rows() == fetched + 1
    hits = r.search("maize Rubisco bundle sheath", k=1)  # the reader loads what the writer made
    assert hits[0].paper_key == "2404.00004v1"
    assert bm25_index.build_count() == before + 1 and bm25_index.update_count() == updates + 1
    st = r.refresh()
    assert st.index.n_live == len(idx.chunk_ids) + 1 and len(st.index.segments) == 2
    # the dense rows match Chroma's vectors
    got = collection.get(ids=st.index.chunk_ids, include=["embeddings"])
    by_id = dict(zip(got["ids"], got["embeddings"], strict=True))
    want = np.stack([np.asarray(by_id[c], dtype=np.float32) for c in st.index.chunk_ids])
    assert np.allclose(st.dense.matrix, want, atol=1e-6)
    assert not list(settings.bm25_dir.rglob("*.tmp-*"))  # no leftovers

    # filters resolve once per (corpus_version, filters)
    misses = r._filters.misses
    for _ in range(3):
        r.search("residual", filters=SearchFilters(categories=["cs.CV"]))
    assert r._filters.misses == misses + 1

    # `paperrag reindex` recreates the collection: the dense matrix must not reuse the old vectors; BM25 stays
    fetched = dense.fetched_rows()
    Library(settings, embedder=embedder).reindex()
    assert r.search("maize Rubisco bundle sheath", k=1)[0].paper_key == "2404.00004v1"
    assert dense.fetched_rows() == fetched + st.index.n_rows
    assert r.refresh().dense.present.all()
    assert bm25_index.build_count() == before + 1
    r.close()
    catalog.close()
