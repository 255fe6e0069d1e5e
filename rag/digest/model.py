"""What a digest is made of: plain data, filled by `daily.py`, rendered by `render.py`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from paperrag.records import PaperMeta
from rag.gated import Outcome

Language = Literal["zh", "en"]
Format = Literal["table", "report", "monitor"]


@dataclass
class Analysis:
    """One LLM-written, validated analysis of one paper (7 parts for `report`, 5 for `monitor`)."""

    text: str  # markdown body: the required headings (see formats.py) and their content
    basis: Literal["full text", "abstract only"]
    outcome: Outcome  # plain strings from the cache compare equal
    reason: str = ""  # why it was retried / fell back / failed, for the run report


@dataclass
class PaperEntry:
    n: int  # 1-based position in the digest; anchors and the executive summary refer to it
    meta: PaperMeta
    matched_keywords: list[str] = field(default_factory=list)
    fulltext: bool = False
    title_translated: str = ""  # table format (and zh headings)
    abstract_translated: str = ""
    analysis: Analysis | None = None
    key_findings: list[str] = field(default_factory=list)
    score: float | None = None  # relevance to the reader's seeds and ratings (rag/rank.py); None: not ranked
    reason: str = ""  # why it ranks where it does, in words
    must_read: bool = False  # one of the top-ranked papers of the day

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
    executive_summary: str = ""  # report format; validated (dated, mentions only papers of the digest)
    empty_reason: str = ""  # set when there are no papers: weekend / no keyword match / fetch failed
    decisions: list[tuple[str, str, str]] = field(default_factory=list)  # (paper, action, reason) of the run
    receipts: list[dict] = field(default_factory=list)  # per category and day (ingest.sources.receipt)
    updates: list[dict] = field(default_factory=list)  # "updated (v1 → v2)" records (daily.update_records)
    title: str = ""  # e.g. "Arxiv Computer Vision Papers"; defaults per format in render.py
