"""Paper cards: what a paper says, field by field, each filled field standing on verbatim quotes.

A card is read once per paper version (cached by paper key, prompt version and model) and is the one extraction
behind every view of a paper: `compare` reads its columns from cards, the digest composes its method analyses
from them, `ask` may use them for paper-level questions.

This module holds the typed card (the contract every view codes against); the extraction is `build_card`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from rag.quotes import Quote

CARD_FORMAT = 1  # bump when the card's shape changes (cached cards of an older shape are re-extracted)

FieldKey = Literal["problem", "motivation", "core_idea", "method_steps", "data", "setup", "baselines", "ablations",
                   "limitations", "compute", "code_data"]
FIELD_KEYS: tuple[str, ...] = ("problem", "motivation", "core_idea", "method_steps", "data", "setup", "baselines",
                               "ablations", "limitations", "compute", "code_data")
FIELD_LABELS = {
    "problem": "Problem / task", "motivation": "Motivation", "core_idea": "Core idea",
    "method_steps": "Method steps", "data": "Data", "setup": "Experimental setup", "baselines": "Baselines",
    "ablations": "Ablations", "limitations": "Limitations (authors)", "compute": "Compute / hardware",
    "code_data": "Code / data availability",
}


class QuoteRef(BaseModel):
    """A quote as stored in a card (JSON-friendly twin of `rag.quotes.Quote`)."""

    paper_key: str
    arxiv_id: str
    version: int
    page: int
    text: str
    title: str = ""
    abstract_only: bool = False

    @classmethod
    def of(cls, q: Quote) -> QuoteRef:
        return cls(paper_key=q.paper_key, arxiv_id=q.arxiv_id, version=q.version, page=q.page, text=q.text,
                   title=q.title, abstract_only=q.abstract_only)

    def quote(self) -> Quote:
        return Quote(self.paper_key, self.arxiv_id, self.version, self.page, self.text, self.title,
                     self.abstract_only)


class CardField(BaseModel):
    key: str
    value: str = ""  # short phrase/sentence in English; "" = not stated
    status: Literal["found", "not stated", "failed"] = "not stated"
    quotes: list[QuoteRef] = Field(default_factory=list)  # every filled field has ≥ 1 verified quote
    note: str = ""  # why not stated / failed (for the run report, never shown to a digest reader)

    @property
    def found(self) -> bool:
        return self.status == "found" and bool(self.value) and bool(self.quotes)

    @property
    def pages(self) -> list[int]:
        return sorted({q.page for q in self.quotes if not q.abstract_only})


class ResultItem(BaseModel):
    metric: str
    value: str
    benchmark: str = ""
    setting: str = ""
    quotes: list[QuoteRef] = Field(default_factory=list)  # the value's numbers occur in these quotes

    @property
    def pages(self) -> list[int]:
        return sorted({q.page for q in self.quotes if not q.abstract_only})


class PaperCard(BaseModel):
    paper_key: str
    arxiv_id: str
    version: int
    title: str
    basis: Literal["full text", "abstract only"]
    model: str
    prompt: str  # prompt id@version the fields were extracted with
    format: int = CARD_FORMAT
    fields: dict[str, CardField] = Field(default_factory=dict)
    results: list[ResultItem] = Field(default_factory=list)
    failure: str = ""  # the whole card failed (model unavailable …); fields may be partial
    llm_calls: int = 0
    seconds: float = 0.0

    def field(self, key: str) -> CardField:
        return self.fields.get(key) or CardField(key=key)

    def all_quotes(self) -> list[QuoteRef]:
        out = [q for f in self.fields.values() for q in f.quotes] + [q for r in self.results for q in r.quotes]
        seen, uniq = set(), []
        for q in out:
            k = (q.page, q.text)
            if k not in seen:
                seen.add(k)
                uniq.append(q)
        return uniq
