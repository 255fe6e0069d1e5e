"""Paper cards for digest tests, built by hand from the real parsed text of ingested papers (so every quote
verifies with `rag.quotes.PageTexts.verify`); no card extraction (that is `rag.cards.build_card`).

* `card_of(parts, key, fields={"core_idea": (value, sentence), ...}, results=[(metric, value, benchmark,
  sentence)], not_stated=[...], failed=[...])`: each sentence is located on its page of the paper.
* `stand_in_card(parts, key, progress=None)`: a deterministic card of any ingested paper (the writer's
  `card_source` seam for daily-run tests): field i gets the paper's i-th verified sentence, the first sentence
  with a number gives one headline result.
"""

from __future__ import annotations

import re

from rag.cards import FIELD_KEYS, CardField, PaperCard, QuoteRef, ResultItem
from rag.quotes import PageTexts, Quote, passage_sentences


def _texts(parts) -> PageTexts:
    return PageTexts(parts.catalog, parts.pdf_cache)


def quote_of(parts, key: str, sentence: str) -> Quote:
    """The verified quote of `sentence` in paper `key` (AssertionError when the sentence is not on a page)."""
    paper = parts.catalog.get_paper(key)
    texts = _texts(parts)
    page = texts.locate(key, sentence)
    assert page is not None, f"{sentence!r} is not in the parsed text of {key}"
    q = Quote(key, paper.arxiv_id, paper.version, page, sentence, paper.title, abstract_only=not paper.fulltext)
    assert texts.verify(q)
    return q


def card_of(parts, key: str, *, fields: dict[str, tuple[str, str]] | None = None,
            results: list[tuple[str, str, str, str]] = (), not_stated: list[str] = (), failed: list[str] = (),
            failure: str = "", model: str = "hand") -> PaperCard:
    paper = parts.catalog.get_paper(key)
    out: dict[str, CardField] = {}
    for name, (value, sentence) in (fields or {}).items():
        out[name] = CardField(key=name, value=value, status="found",
                              quotes=[QuoteRef.of(quote_of(parts, key, sentence))])
    for name in not_stated:
        out[name] = CardField(key=name, status="not stated", note="no passage states it")
    for name in failed:
        out[name] = CardField(key=name, status="failed", note="the model's answer did not parse")
    items = [ResultItem(metric=m, value=v, benchmark=b, quotes=[QuoteRef.of(quote_of(parts, key, s))])
             for m, v, b, s in results]
    return PaperCard(paper_key=key, arxiv_id=paper.arxiv_id, version=paper.version, title=paper.title,
                     basis="full text" if paper.fulltext else "abstract only", model=model, prompt="hand@v1",
                     fields=out, results=items, failure=failure)


def stand_in_card(parts, key: str, progress=None) -> PaperCard:
    """A card of any ingested paper without a model: the paper's verified sentences in reading order."""
    paper = parts.catalog.get_paper(key)
    texts = _texts(parts)
    quotes: list[Quote] = []
    for chunk in parts.catalog.chunks_of(key):
        if chunk.kind == "references":
            continue
        passage = _Passage(key, paper.arxiv_id, paper.version, paper.title, chunk.text, chunk.page_start,
                           chunk.page_end)
        quotes += [q for q in passage_sentences(passage, texts) if len(q.text.split()) >= 6]
    fields: dict[str, CardField] = {}
    plain = [q for q in quotes if not re.search(r"\d", q.text)] or quotes
    for i, name in enumerate(FIELD_KEYS):
        if i < len(plain):
            q = plain[i]
            value = " ".join(q.text.split()[:25]).rstrip(" .")
            fields[name] = CardField(key=name, value=value, status="found", quotes=[QuoteRef.of(q)])
        else:
            fields[name] = CardField(key=name, status="not stated")
    results = []
    for q in quotes:
        m = re.search(r"(?<![\w.])\d+(?:\.\d+)?", q.text)
        if m:
            results.append(ResultItem(metric="result", value=m.group(0), quotes=[QuoteRef.of(q)]))
            break
    return PaperCard(paper_key=key, arxiv_id=paper.arxiv_id, version=paper.version, title=paper.title,
                     basis="full text" if paper.fulltext else "abstract only", model="stand-in",
                     prompt="stand-in@v1", fields=fields, results=results)


class _Passage:
    def __init__(self, paper_key, arxiv_id, version, title, text, page_start, page_end):
        self.paper_key, self.arxiv_id, self.version, self.title = paper_key, arxiv_id, version, title
        self.text, self.page_start, self.page_end = text, page_start, page_end
