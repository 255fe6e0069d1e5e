"""Sentence-level rerank (rag/retrieval/sentences.py) on a real catalog, real MiniLM, real Chroma."""

from __future__ import annotations

import numpy as np
import pytest
from fakes.corpus import add_paper

from indexes.catalog import Catalog
from indexes.sentences import SentenceVectors
from paperrag.library import Library
from paperrag.settings import Settings
from rag.retrieval.filters import SearchFilters
from rag.retrieval.retriever import Retriever

TITLE = "Causal Explanation Analysis on Social Media"
# Every chunk is about the paper's topic; only one sentence, buried in a chunk about annotation, says where the
# messages came from.
SECTIONS = [
    ("1 Introduction", "body", "Social media posts reveal how people explain what happens to them. We study causal "
     "explanations in social media text and discuss why they matter for psychology and for language technology. "
     "Explanations in posts on social media platforms differ from those in news or essays."),
    ("2 Related Work", "body", "Earlier work on discourse parsing of social media used hand-crafted rules. Social "
     "media language is noisy, which makes parsers trained on newswire fail. We avoid hand-crafted rules."),
    ("3 Setup", "body", "All models were trained on a single GPU with a batch size of 32 for ten epochs. We used "
     "the Adam optimizer with a learning rate of 0.001 and early stopping on the validation loss. The corpus "
     "consists of 3,268 status updates that volunteers posted on Facebook. Hyperparameters were tuned with a grid "
     "search over dropout and hidden size. Training took about two hours per model on that machine."),
    ("4 Results", "body", "The linear SVM reaches an F1 of 0.79 on causality prediction and the LSTM an F1 of 0.85 "
     "on causal explanation identification, both well above the discourse parsers used as baselines."),
    ("5 Conclusion", "body", "Causal explanations on social media can be detected reliably. We hope our models help "
     "research on social media language and on how people explain the events of their lives."),
]
QUESTION = "Which website were the posts collected from?"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, embedder):
    from indexes.vector_store import open_collection

    settings = Settings(home=tmp_path_factory.mktemp("rerank-home"))
    catalog = Catalog(settings.catalog_path)
    collection = open_collection(settings, embedder.identity)
    add_paper(settings, embedder, catalog, collection, "2501.00001", TITLE, ["cs.CL"], "2025-01-02", SECTIONS)
    yield settings
    catalog.close()


def _sections(passages):
    return [p.section for p in passages]


def test_rerank_lifts_the_chunk_whose_sentence_answers(corpus, embedder):
    r = Retriever(corpus, embedder)
    try:
        scope = SearchFilters(arxiv_ids=("2501.00001",))
        plain = r.search(QUESTION, k=5, filters=scope)
        reranked = r.search(QUESTION, k=5, filters=scope, rerank=5)
        assert _sections(plain)[0] != "3 Setup"  # the chunk as a whole is about annotation
        assert _sections(reranked)[0] == "3 Setup"
        assert sorted(_sections(plain)) == sorted(_sections(reranked))  # re-ordered, nothing lost or added
        # re-scored candidates keep the score range they had, so thresholds on scores mean the same
        assert max(p.score for p in reranked) == pytest.approx(max(p.score for p in plain))
        assert min(p.score for p in reranked) >= min(p.score for p in plain) - 1e-9
        assert "rerank_ms" in r.last_timings
        # rerank=0 is the plain first stage
        assert [p.chunk_id for p in r.search(QUESTION, k=5, filters=scope, rerank=0)] == [p.chunk_id for p in plain]
    finally:
        r.close()


def test_sentence_vectors_are_embedded_once_and_cached_on_disk(corpus, embedder, tmp_path):
    texts = [f"{TITLE} › {sec}\n{body}" for sec, _, body in SECTIONS] + [f"{TITLE} › Table\nModel F1 0.79"]
    q = np.asarray(embedder.embed_query(QUESTION), dtype=np.float32)
    sv = SentenceVectors(tmp_path / "sentences.sqlite", embedder)
    best = sv.best(texts, q)
    first = sv.embedded
    assert first >= len(SECTIONS) * 2  # sentences, not chunks
    assert np.isnan(best[-1])  # "Model F1 0.79": no sentence of 4+ words
    assert int(np.nanargmax(best)) == 2  # the Facebook sentence
    # the best sentence of a chunk is exactly the max over its sentences
    m = sv.vectors([texts[2]])[0]
    assert m.shape[0] == 5 and best[2] == pytest.approx(float(np.max(m @ q)), abs=1e-6)
    sv.close()

    again = SentenceVectors(tmp_path / "sentences.sqlite", embedder)  # a new process: read from disk
    assert np.array_equal(again.best(texts, q), best, equal_nan=True)  # the same numbers as the first time
    assert again.embedded == 0
    again.close()


def test_ask_uses_the_rerank_setting(corpus, embedder, monkeypatch):

    seen = []
    orig = Retriever._rerank

    def spy(self, st, cand, scores, bm, dn, qvec, depth):
        seen.append(depth)
        return orig(self, st, cand, scores, bm, dn, qvec, depth)

    monkeypatch.setattr(Retriever, "_rerank", spy)
    settings = corpus.model_copy(update={"ask": corpus.ask.model_copy(update={"rerank_depth": 7,
                                                                             "min_relevance": 0.99})})
    Library(settings, embedder=embedder).asker.ask(QUESTION, papers=["2501.00001"])  # gated before any LLM
    assert seen == [8]  # max(rerank_depth, k=passages)
    off = settings.model_copy(update={"ask": settings.ask.model_copy(update={"rerank_depth": 0})})
    Library(off, embedder=embedder).asker.ask(QUESTION, papers=["2501.00001"])
    assert seen == [8]
