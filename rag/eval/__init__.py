"""Offline evaluation. `rag.eval.beir`: BEIR-style retrieval metrics (nDCG@k, Recall@k) for BM25 / dense / RRF /
hybrid; `paperrag eval retrieval --beir PATH` calls `rag.eval.beir.run_eval` (or `evaluate_beir`)."""

__all__ = ["evaluate_beir", "format_table", "run_eval"]


def __getattr__(name):  # lazy, so `python -m rag.eval.beir` does not import the module twice
    if name in __all__:
        from rag.eval import beir

        return getattr(beir, name)
    raise AttributeError(name)
