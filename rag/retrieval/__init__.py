"""Hybrid retrieval over the indexed papers: BM25 + dense (MiniLM) fused per query, filters via the catalog.

    r = Library(settings).retriever                # built once, by the Library
    r.search("how is token order encoded", k=10, filters=SearchFilters(categories=["cs.CL"]), per_paper_cap=2)
    r.search_papers("retrieval-augmented generation", k=5)
    r.search_two_stage("which datasets were used", k=10, papers=5, per_paper_cap=3)
"""

from indexes.bm25_index import EmptyIndexError
from rag.retrieval.filters import SearchFilters
from rag.retrieval.fusion import DEFAULT_FUSION, FusionParams
from rag.retrieval.retriever import KIND_WEIGHTS, PaperHit, Passage, Retriever

__all__ = ["DEFAULT_FUSION", "EmptyIndexError", "FusionParams", "KIND_WEIGHTS", "PaperHit", "Passage", "Retriever",
           "SearchFilters"]
