"""Compare end to end with the real embedded 0.5B model (llama.cpp, temperature 0, short outputs).

Two generated papers with known facts, ingested with the real embedder; the rows are card fields, read from the
papers' cards (rag.cards). Whatever the small model writes, every cell must either stand on quotes verified on
their pages whose text holds the value — every number and name of it — and cite those pages (whose chunks hold
the value too), or say "not stated" / "failed: …". A second run makes no LLM call.
"""

from __future__ import annotations

import re

import pytest
from fakes.corpus import Paper, build_corpus, page_text
from fakes.data import A_DATA, A_HW, A_RESULT, B_DATA, B_HW, B_RESULT
from fakes.models import small_gguf

from indexes.call_log import count_calls
from indexes.catalog import Catalog
from paperrag.library import Library
from paperrag.settings import Settings
from rag.compare import compare
from rag.quotes import PageTexts, unbacked

pytestmark = pytest.mark.slow

ASPECTS = ["training data", "compute", "headline results"]
_STOP = {"the", "and", "for", "with", "from", "this", "that", "model", "paper", "not", "stated", "uses", "used"}


@pytest.fixture(scope="module")
def papers(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("compare-e2e")
    settings = Settings(home=root / "home", llm={"backend": "llamacpp", "gguf_path": str(small_gguf()),
                                                  "context_tokens": 2048, "temperature": 0.0, "threads": 2})
    return build_corpus(root, embedder, [
        Paper("a", "Sparse Widget Attention", "2405.20001", seed=41,
              sections=[("4 Training data", A_DATA), ("5 Experiments", A_RESULT), ("6 Hardware", A_HW)]),
        Paper("b", "Graph Crawlers for Citation Search", "2405.20002", seed=42, category="cs.IR",
              sections=[("4 Training data", B_DATA), ("5 Experiments", B_RESULT), ("6 Hardware", B_HW)]),
    ], settings=settings).settings


def _supported(value: str, text: str) -> bool:
    flat = text.replace(",", "")
    nums = re.findall(r"(?<![\w.])\d+(?:\.\d+)?", value.replace(",", ""))
    if any(not re.search(rf"(?<![\d.]){re.escape(n)}(?![\d])", flat) for n in nums):
        return False
    words = {w.lower() for w in re.findall(r"[A-Za-z]{3,}", value)} - _STOP
    return not words or any(w in text.lower() for w in words)


def test_every_cell_cites_a_page_that_supports_it_or_says_not_stated(papers, embedder):
    library = Library(papers, embedder=embedder)
    first = compare(library, ["2405.20001", "2405.20002"], ASPECTS)
    texts = PageTexts(Catalog(papers.catalog_path), library.pdf_cache)
    found = 0
    for row in first.rows:
        for paper, cell in zip(first.papers, row.cells, strict=True):
            shown = cell.display()
            if cell.status != "found":
                assert shown == "not stated" or shown.startswith("failed: "), (row.aspect, cell)
                continue
            found += 1
            items = cell.results or [cell]
            for item in items:
                quotes = [q.quote() for q in item.quotes]
                assert quotes and all(texts.verify(q) for q in quotes), (row.aspect, item)
                assert unbacked(item.value, quotes) == [], (row.aspect, item.value, quotes)
                assert item.pages, (row.aspect, cell)
                assert re.search(r"\(pp?\.\d+", item.display() if cell.results else shown)
                text = "\n".join(page_text(papers, paper.key, p) for p in item.pages)
                assert _supported(item.value, text), (row.aspect, item.value, item.pages)
    assert found >= 1, first.to_markdown()  # the facts are stated plainly: the model finds some of them
    for cite in re.findall(r"\[[^\]]+\]", first.synthesis):  # synthesis cites only pages of the table
        pid, page = re.fullmatch(r"\[(\S+) p\.(\d+)\]", cite).groups()
        col = [p.arxiv_id for p in first.papers].index(pid)
        assert any(int(page) in r.cells[col].pages for r in first.rows), cite
    calls = count_calls(papers.catalog_path)
    assert calls == first.llm_calls >= 2 * len(ASPECTS)

    again = compare(Library(papers, embedder=embedder), ["2405.20001", "2405.20002"], ASPECTS)
    assert again.llm_calls == 0 and count_calls(papers.catalog_path) == calls
    assert again.to_markdown() == first.to_markdown()
