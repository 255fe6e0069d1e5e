"""What a digest is made of: plain data, filled by `daily.py` / `writer.py`, rendered by `render.py`.

Everything a reader sees about a paper's content is a `Cited`: a short span with the quotes it stands on. The
renderer prints the span and, at its end, the pages of its quotes linked to the PDF (`[p.3, p.6]`); the model
never types a page. What the text is made of is `kind`:

* "model": written by the model from one card field and its quotes, passed every check (language, repetition,
  template echo, length, and `rag.quotes.unbacked`: its numbers and names are in its quotes);
* "code": written by code from the card (English field values, headline results, counts);
* "quotes": the model's text was rejected: the field's quotes are shown verbatim, under a label saying so;
* "not stated" / "not extracted": the paper gives nothing usable for the field / the extraction failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from paperrag.records import PaperMeta
from rag.gated import Outcome
from rag.quotes import Quote

Language = Literal["zh", "en"]
Format = Literal["table", "report", "monitor"]
CitedKind = Literal["model", "code", "quotes", "not stated", "not extracted"]


@dataclass
class Cited:
    """A span the reader sees, with the verified quotes it stands on (cited by page at its end)."""

    text: str  # the span ("" for kind "quotes": the quotes themselves are shown)
    quotes: list[Quote] = field(default_factory=list)
    kind: CitedKind = "model"

    @property
    def claim(self) -> bool:
        """A statement of the paper's content (it must carry a page citation); absence notes are not."""
        return self.kind in ("model", "code", "quotes")


@dataclass
class Item:
    """One bullet of a part: a label ("核心思想", "BLEU", "论文 2：Title") and its spans."""

    label: str
    spans: list[Cited] = field(default_factory=list)
    anchor: str = ""  # the label links to this paper anchor (executive summary)


@dataclass
class Part:
    heading: str
    items: list[Item] = field(default_factory=list)


@dataclass
class Analysis:
    """One paper's analysis in one format, composed from its card (7 parts for `report`, 5 for `monitor`)."""

    parts: list[Part]
    basis: Literal["full text", "abstract only"]
    outcome: Outcome  # every span passed (first try / after retry) / some fell back to quotes / failed
    reason: str = ""  # what was rejected and why, the card's notes: for the run report only, never the digest
    rejected: int = 0  # spans whose model text was rejected (shown as quotes)
    missing: int = 0  # fields the card extraction failed on (not "not stated": failed)


@dataclass
class KeyFigure:
    """The paper's key figure as the digest shows it: a PNG next to the digest (`figures/<paper>.png`, relative
    to the day's folder), the figure's number and its caption as printed in the PDF (ingest/figures.py)."""

    path: str
    number: int
    caption: str
    page: int = 0  # 1-based page of the PDF it was cut from


@dataclass
class PaperEntry:
    n: int  # 1-based position in the digest; anchors and the executive summary refer to it
    meta: PaperMeta
    matched_keywords: list[str] = field(default_factory=list)
    fulltext: bool = False
    title_translated: str = ""  # table format (zh)
    summary: list[Item] = field(default_factory=list)  # table format: the abstract cell, from the card
    analysis: Analysis | None = None
    key_findings: list[str | Cited] = field(default_factory=list)  # from the card; abstract sentences without one
    score: float | None = None  # relevance to the reader's seeds and ratings (rag/rank.py); None: not ranked
    reason: str = ""  # why it ranks where it does, in words
    must_read: bool = False  # one of the top-ranked papers of the day
    figure: KeyFigure | None = None  # Figure 1 or the method figure, cut from the cached PDF; None: none found

    @property
    def anchor(self) -> str:
        """HTML id of the paper's section: the arXiv id with version, as the reference reports use."""
        return self.meta.key.replace(":", "-").replace("/", "-")


@dataclass
class Digest:
    date: str  # ISO YYYY-MM-DD of the announcement day
    language: Language
    categories: list[str]
    keywords: list[str]
    papers: list[PaperEntry] = field(default_factory=list)
    executive_summary: list[Part] = field(default_factory=list)  # report format: SUMMARY_HEADINGS, from the cards
    empty_reason: str = ""  # set when there are no papers: weekend / no keyword match / fetch failed
    decisions: list[tuple[str, str, str]] = field(default_factory=list)  # (paper, action, reason) of the run
    receipts: list[dict] = field(default_factory=list)  # per category and day (ingest.sources.receipt)
    updates: list[dict] = field(default_factory=list)  # "updated (v1 → v2)" records (daily.update_records)
    title: str = ""  # e.g. "Arxiv Computer Vision Papers"; defaults per format in render.py
