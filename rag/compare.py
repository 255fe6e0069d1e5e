"""Compare papers side by side: paper-card fields, free-form aspects, aligned numbers and a cited synthesis.

    cmp = compare(parts, ["1706.03762", "2205.14135"])                      # card fields as rows
    cmp = compare(parts, ids, ["action representation", "training data"])   # free-form aspects
    print(cmp.to_markdown())   # or .to_csv() / .to_json()
    card = method_card(parts, "1706.03762")                                 # one paper's card (rag.cards)

One extraction, many views: the rows that name a card field ("data", "baselines", "headline results"; all of
them by default) are read from the papers' cards (`rag.cards`: field by field, each value standing on verbatim
quotes that code attached, cached per paper version). A cell shows the card field's value, the pages of its
quotes (`pages`) and the quotes themselves (`quotes`); a paper whose card field is "not stated" or "failed" says
so in its cell. Only the fields a comparison needs are extracted, and a later full card reuses them.

Free-form aspects (anything that is not a card field) are answered per paper on their own, as small models need:
- the 3 passages of THAT paper that best match the aspect (hybrid retrieval filtered to the paper), so a paper
  that matches an aspect poorly still gets its own evidence and its own cell: no global top-k drops it;
- a relevance gate first (as `ask` has): when no passage of a paper is close to the aspect, the cell is
  "not stated" without an LLM call;
- a tiny JSON answer ({"value": …}) decoded in JSON mode, repaired, validated, retried once with the problem
  spelled out; pages are never taken from the model: every number of the value must occur in an excerpt of its
  prompt and most of its words too, and the pages of those excerpts are cited; an unsupported value is
  downgraded to "not stated" (its text kept in the cell's note). Cached per paper (kind "aspect").
Headline results that two papers report for the same benchmark and metric are aligned in rows of their own, and
a short synthesis cites only the table's facts (cached by its facts). A second run makes no LLM call and loads
no model.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from paperrag.components import Components
from paperrag.errors import PaperragError
from paperrag.text import chunk_body
from rag.budget import prompt_budget, token_chars
from rag.cards import (
    CARD_ROWS,
    NOT_STATED,
    RESULTS,
    CardBuilder,
    CardSpec,
    PaperCard,
    QuoteRef,
    build_card,
    content_stems,
    field_for,
    find_paper,
    is_not_stated,
    json_problem,
    loop_at,
    pages_label,
    parse_value,
)
from rag.compare_json import JsonRepairError
from rag.gated import Check, OnError, Outcome, Rejection, generate_gated, retry_message
from rag.llm.base import (
    ChatResult,
    ContextOverflow,
    LLMError,
    LLMUnavailable,
    ModelMissing,
)
from rag.prompts import Prompt, load_prompt

DEFAULT_MAX_PAPERS = 8
MAX_PAPERS_REASON = ("every paper costs about 12 LLM calls (one per card field): measured about 2 min per paper with "
                     "the bundled 0.5B model on 2 CPU threads")
PASSAGES_PER_FIELD = 3  # free-form aspects
VALUE_MAX_TOKENS = 64
EXCERPT_OUT_RESERVE = 160  # output tokens an aspect's excerpt budget leaves room for
SYNTHESIS_MAX_TOKENS = 160
SYNTHESIS_MAX_SENTENCES = 4
SYNTHESIS_MAX_FACTS = 12  # more is a long list that small models neither read nor cite
WORD_SUPPORT = 0.6  # share of a value's content words that must occur in the excerpts it is attributed to
_JSON_MODE = True  # grammar / format=json where the backend has it; repair covers the rest

Status = Literal["found", "not stated", "unsupported", "failed"]


class CompareError(PaperragError, ValueError):
    """A comparison that cannot be made (unknown ids, too few or too many papers); one line, says what to do."""


# ------------------------------------------------------------------------------------------------ aspects
def _norm_aspect(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9@/]+", text.lower()))


def parse_aspects(text: str | Sequence[str] | None) -> list[str] | None:
    """'action representation, data' → ['action representation', 'data']; None/empty → None (card fields)."""
    if text is None:
        return None
    items = re.split(r"[,;\n]", text) if isinstance(text, str) else [x for t in text for x in re.split(r"[,;\n]", t)]
    out = list(dict.fromkeys(" ".join(i.split()) for i in items if i.strip()))
    return out or None


# ------------------------------------------------------------------------------------------------ schema
class HeadlineResult(BaseModel):
    metric: str
    value: str
    benchmark: str = ""
    setting: str = ""
    pages: list[int] = Field(default_factory=list)
    quotes: list[QuoteRef] = Field(default_factory=list)  # the card's quotes holding the value

    def display(self, abstract_only: bool = False, pages: str | None = None) -> str:
        """`metric value on benchmark (setting) (p.6)`; `pages`: the pages as linked markdown instead."""
        where = f" on {self.benchmark}" if self.benchmark else ""
        setting = f" ({self.setting})" if self.setting else ""
        pages = pages_label(self.pages, abstract_only) if pages is None else pages
        return f"{self.metric} {self.value}{where}{setting} {pages}".strip()


class Cell(BaseModel):
    """One paper's answer for one row. `pages` never come from the model: a card field's are the pages of its
    quotes (kept in `quotes`, verbatim sentences of those pages), a free-form aspect's those of the excerpts
    that contain the value; `evidence` holds the chunk ids that were in the prompt."""

    value: str = NOT_STATED
    status: Status = "not stated"
    pages: list[int] = Field(default_factory=list)
    results: list[HeadlineResult] = Field(default_factory=list)
    note: str = ""
    evidence: list[str] = Field(default_factory=list)
    abstract_only: bool = False
    quotes: list[QuoteRef] = Field(default_factory=list)

    def display(self, links: PageLinks | None = None) -> str:
        """The cell as text: value and pages `(p.6)`; with `links`, each page a markdown link to the local
        reader (the cell's quotes of that page highlighted) and to arXiv (↗)."""
        if self.status == "failed":
            return f"failed: {self.note}" if self.note else "failed"
        if self.status != "found":
            return NOT_STATED

        def pages(numbers: Sequence[int], quotes: Sequence[QuoteRef]) -> str | None:
            return None if links is None or self.abstract_only else links.markdown(numbers, quotes)

        if self.results:
            return "; ".join(r.display(self.abstract_only, pages(r.pages, r.quotes)) for r in self.results)
        shown = pages(self.pages, self.quotes)
        return f"{self.value} {pages_label(self.pages, self.abstract_only) if shown is None else shown}".strip()


class PaperColumn(BaseModel):
    key: str
    arxiv_id: str
    version: int
    title: str
    basis: Literal["full text", "abstract only"]
    failure: str = ""

    @property
    def label(self) -> str:
        extra = " (abstract only)" if self.basis == "abstract only" else ""
        failed = " — FAILED" if self.failure else ""
        return f"{self.arxiv_id}v{self.version}{extra}{failed}" if not self.arxiv_id.startswith("local:") else \
            f"{self.arxiv_id}{extra}{failed}"


class Row(BaseModel):
    aspect: str
    field: str  # card field key, "aspect" for a free-form one, "numbers" for an aligned benchmark/metric row
    cells: list[Cell]
    note: str = ""


class Comparison(BaseModel):
    papers: list[PaperColumn]
    rows: list[Row]
    synthesis: str = ""
    synthesis_status: Literal["ok", "failed", "skipped"] = "skipped"
    notes: list[str] = Field(default_factory=list)
    model: str = ""
    llm_calls: int = 0
    cached: int = 0
    seconds: float = 0.0

    def to_markdown(self, reader: str | None = None) -> str:
        """The table as markdown. `reader`: page citations link the local reader at that address ("" = relative
        to the web app's root, `ui.app_url` = absolute), the cell's quotes of the page highlighted, and the page
        on arXiv (↗); None = plain page labels."""
        head = ["Aspect", *(f"{p.label} {_shorten(p.title, 60)}" for p in self.papers)]
        lines = [f"## Comparison of {len(self.papers)} papers", "",
                 "| " + " | ".join(_md_cell(h) for h in head) + " |", "|" + "---|" * len(head)]
        links = [None if reader is None else PageLinks(p, reader) for p in self.papers]
        for row in self.rows:
            label = row.aspect + (f" ({row.note})" if row.note else "")
            cells = [c.display(link) for c, link in zip(row.cells, links, strict=True)]
            lines.append("| " + " | ".join(_md_cell(c) for c in [label, *cells]) + " |")
        if self.synthesis:
            synthesis = self.synthesis if reader is None else self._linked_synthesis(reader)
            lines += ["", "### Synthesis", "", synthesis]
        failures = [f"- {p.label}: {p.failure}" for p in self.papers if p.failure]
        if failures:
            lines += ["", "**Failed papers**", *failures]
        if self.notes:
            lines += ["", "**Notes**", *(f"- {n}" for n in self.notes)]
        return "\n".join(lines) + "\n"

    def _linked_synthesis(self, reader: str) -> str:
        """The synthesis with each `[id p.N]` linked to that page in the reader (every quote the table cites
        there highlighted) and on arXiv."""
        by_id = {p.arxiv_id: (i, p) for i, p in enumerate(self.papers)}

        def one(m: re.Match) -> str:
            found = by_id.get(m[1])
            if found is None or not m[2].startswith("p."):
                return m[0]
            i, paper = found
            page = int(m[2].removeprefix("p.").strip())
            quotes = [q for row in self.rows for q in row.cells[i].quotes] + \
                [q for row in self.rows for r in row.cells[i].results for q in r.quotes]
            return f"[{m[1]} {PageLinks(paper, reader).markdown([page], quotes, brackets=False)}]"

        return _LABEL.sub(one, self.synthesis)

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["aspect", *(p.label for p in self.papers)])
        w.writerow(["title", *(p.title for p in self.papers)])
        for row in self.rows:
            w.writerow([row.aspect + (f" ({row.note})" if row.note else ""), *(c.display() for c in row.cells)])
        if self.synthesis:
            w.writerow(["synthesis", self.synthesis, *([""] * (len(self.papers) - 1))])
        return buf.getvalue()

    def to_json(self) -> str:
        data = self.model_dump()
        for p, col in zip(data["papers"], self.papers, strict=True):
            p["label"] = col.label
        for row, obj in zip(data["rows"], self.rows, strict=True):
            for c, cell in zip(row["cells"], obj.cells, strict=True):
                c["display"] = cell.display()
        return json.dumps(data, ensure_ascii=False, indent=1)

    def row(self, aspect: str) -> Row | None:
        for r in self.rows:
            if r.aspect == aspect or r.field == aspect:
                return r
        return None


class PageLinks:
    """Page citations of one paper's cells as markdown links: the local reader at `reader` (rag.reader) with the
    quotes of that page highlighted, then the PDF page on arXiv (↗; none for a local PDF)."""

    def __init__(self, paper: PaperColumn, reader: str):
        self.paper = paper
        self.reader = reader

    def markdown(self, pages: Sequence[int], quotes: Sequence[QuoteRef] = (), *, brackets: bool = True) -> str:
        from rag.reader import reader_url

        out = []
        for page in sorted(set(pages)):
            texts = [q.text for q in quotes if q.page == page and not q.abstract_only]
            link = f"[p.{page}]({reader_url(self.paper.key, page, texts, base=self.reader)})"
            if not self.paper.arxiv_id.startswith("local:"):
                pdf = f"https://arxiv.org/pdf/{self.paper.arxiv_id}v{self.paper.version}#page={page}"
                link += f' [↗]({pdf} "p.{page} on arXiv")'
            out.append(link)
        if not out:
            return ""
        return f"({', '.join(out)})" if brackets else ", ".join(out)


# ------------------------------------------------------------------------------------------------ evidence
@dataclass
class Excerpt:
    n: int
    chunk_id: str
    page_start: int
    page_end: int
    section: str
    text: str

    @property
    def page(self) -> str:
        return str(self.page_start) if self.page_end <= self.page_start else f"{self.page_start}-{self.page_end}"

    @property
    def pages(self) -> list[int]:
        return list(range(self.page_start, max(self.page_start, self.page_end) + 1))


_NUM = re.compile(r"(?<![\w.])[-+−]?\d+(?:,\d{3})*(?:\.\d+)?")


def numbers(text: str) -> list[str]:
    """Numbers in `text`, normalised ("4,500" → "4500", "−1" → "-1", "28.40" kept as printed)."""
    out = []
    for m in _NUM.finditer(text or ""):
        out.append(m.group(0).replace(",", "").replace("−", "-").lstrip("+"))
    return out


def _number_set(text: str) -> set[str]:
    s = set()
    for n in numbers(text):
        s.add(n)
        s.add(n.lstrip("-"))
    return s


def support(value: str, excerpts: Sequence[Excerpt]) -> list[Excerpt] | None:
    """The excerpts that support `value`: each number in it occurs in one of them, and together they contain at
    least WORD_SUPPORT of its content words. None when no such set exists (the value is unsupported)."""
    if not excerpts:
        return None
    nums = [n.lstrip("-") for n in numbers(value)]
    stems = content_stems(value)
    ex_nums = [_number_set(e.text) for e in excerpts]
    ex_stems = [content_stems(e.text) for e in excerpts]

    def coverage(idx: Sequence[int]) -> float:
        if not stems:
            return 1.0
        have = set().union(*(ex_stems[i] for i in idx)) if idx else set()
        return len(stems & have) / len(stems)

    order = sorted(range(len(excerpts)), key=lambda i: -coverage([i]))
    if not nums:
        if not stems:
            return None
        best = order[0]
        return [excerpts[best]] if coverage([best]) >= WORD_SUPPORT else None
    chosen: list[int] = []
    for n in nums:
        holders = [i for i in order if n in ex_nums[i]]
        if not holders:
            return None
        if not any(i in chosen for i in holders):
            chosen.append(holders[0])
    if coverage(chosen) < WORD_SUPPORT * (0.5 if len(stems) <= 3 else 1.0):
        # numbers found but the words are elsewhere: add the best word match if it contains the numbers too
        extra = [i for i in order if i not in chosen][:1]
        if not extra or coverage(chosen + extra) < WORD_SUPPORT:
            return None
        chosen += extra
    return [excerpts[i] for i in sorted(chosen)]


def _pages_of(excerpts: Sequence[Excerpt]) -> list[int]:
    return sorted({p for e in excerpts for p in e.pages})


# ------------------------------------------------------------------------------------------------ engine
@dataclass
class _Paper:
    key: str
    arxiv_id: str
    version: int
    title: str
    abstract: str
    fulltext: bool
    sha: str
    record: Any = None  # the catalog's PaperRecord

    @property
    def column(self) -> PaperColumn:
        return PaperColumn(key=self.key, arxiv_id=self.arxiv_id, version=self.version, title=self.title,
                           basis="full text" if self.fulltext else "abstract only")


class Comparer:
    """The engine behind `compare` / `method_card`, over the Library's components (`Components`): the embedder,
    retriever and LLM are built only when needed, so a fully cached comparison loads no model."""

    def __init__(self, parts: Components, *, progress=None):
        from paperrag.progress import NullProgress

        self.parts = parts
        self.settings = parts.settings
        self.progress = progress or NullProgress()
        self.catalog = parts.catalog
        self.cache = parts.artifacts
        self.llm_calls = 0
        self.cached = 0
        self.notes: list[str] = []

    @property
    def embedder(self):
        return self.parts.embedder

    @property
    def retriever(self):
        return self.parts.retriever

    @property
    def llm(self):
        return self.parts.llm

    @property
    def model_id(self) -> str:
        return self.parts.model_id

    # -------------------------------------------------------------- papers
    def resolve(self, ids: Sequence[str]) -> list[_Paper]:
        """Indexed papers for ids ("1706.03762", "1706.03762v5", a paper key); CompareError naming unknown ones."""
        papers: list[_Paper] = []
        unknown: list[str] = []
        for raw in ids:
            if not str(raw).strip():
                continue
            row = find_paper(self.catalog, str(raw))
            if row is None:
                unknown.append(str(raw))
                continue
            if any(p.key == row.key for p in papers):
                continue
            papers.append(_Paper(row.key, row.arxiv_id, row.version, row.title or row.key, row.abstract,
                                 row.fulltext, row.content_sha256, row))
        if unknown:
            raise CompareError(f"unknown paper{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)} — not "
                               f"indexed in this library (see `paperrag status`; add with `paperrag ingest ID`)")
        return papers

    # -------------------------------------------------------------- evidence
    def excerpts(self, paper: _Paper, query: str, k: int = PASSAGES_PER_FIELD) -> list[Excerpt]:
        """The k best passages of THIS paper for `query` (never empty for a paper with chunks)."""
        from rag.retrieval.filters import SearchFilters

        rows: list[tuple[str, int, int, str, str]] = []
        if paper.fulltext:
            # no sentence rerank: field queries are keyword lists written for BM25, not questions
            hits = self.retriever.search(query, k=k + 3, filters=SearchFilters(arxiv_ids=(paper.key,)))
            rows = [(h.chunk_id, h.page_start, h.page_end, h.section, h.text) for h in hits
                    if h.kind != "references"][:k]
        if not rows:  # abstract-only papers, or nothing matched: the paper's first chunks
            got = [c for c in self.catalog.chunks_of(paper.key) if c.kind != "references"][:k]
            rows = [(c.id, c.page_start, c.page_end, c.section, c.text) for c in got]
        if not rows and paper.abstract:
            rows = [(f"{paper.key}#abstract", 1, 1, "Abstract", paper.abstract)]
        budget = self._excerpt_chars()
        out = []
        for i, (cid, ps, pe, section, text) in enumerate(rows, 1):
            body = chunk_body(text)
            body = " ".join(body.split())[:budget]
            out.append(Excerpt(i, cid, int(ps), int(pe or ps), section.split(" › ")[-1][:60], body))
        return out

    def _excerpt_chars(self) -> int:
        ctx = getattr(self.parts.loaded_llm, "context_tokens", None) or self.settings.llm.context_tokens
        budget = token_chars(prompt_budget(ctx, EXCERPT_OUT_RESERVE, reserve=450)) // PASSAGES_PER_FIELD
        return max(300, min(1400, budget))

    def _relevant(self, query: str, excerpts: Sequence[Excerpt]) -> float:
        import numpy as np

        vectors = np.asarray(self.embedder.embed([query] + [e.text for e in excerpts]))
        return float(np.max(vectors[1:] @ vectors[0])) if len(excerpts) else 0.0

    # -------------------------------------------------------------- one cell
    def aspect_cell(self, paper: _Paper, aspect: str) -> Cell:
        prompt = load_prompt("compare_aspect")

        def make() -> Cell:
            ex = self.excerpts(paper, aspect)
            best = self._relevant(aspect, ex) if paper.fulltext and ex else 1.0
            if best < self.settings.ask.min_relevance:
                return Cell(note=f"no passage of this paper is about {aspect!r} (best similarity {best:.2f}); "
                                 f"no LLM call", evidence=[e.chunk_id for e in ex],
                            abstract_only=not paper.fulltext)
            return self._extract(paper, prompt, dict(aspect=aspect), f"aspect:{aspect}", ex)

        return self._cached_cell("aspect", paper, f"{prompt.key}:{_norm_aspect(aspect)}", make)

    def _cached_cell(self, kind: str, paper: _Paper, prompt_key: str, make) -> Cell:
        hit = self.cache.get(kind, paper.key, prompt_key, self.model_id, "en")
        if hit is not None and hit.extra.get("sha", "") == paper.sha:
            self.cached += 1
            return Cell.model_validate_json(hit.content)
        cell = make()
        if not cell.note.startswith("LLM error"):  # transient backend failures are not cached
            self.cache.put(kind, paper.key, prompt_key, self.model_id, "en", cell.model_dump_json(),
                           outcome=cell.status, reason=cell.note, extra={"sha": paper.sha})
        return cell

    def _extract(self, paper: _Paper, prompt: Prompt, variables: dict, purpose: str, ex: list[Excerpt]) -> Cell:
        base = Cell(evidence=[e.chunk_id for e in ex], abstract_only=not paper.fulltext)
        if not ex:
            return base.model_copy(update={"note": "the paper has no text in the catalog"})
        messages = prompt.messages(title=paper.title, passages=ex, **variables)
        max_tokens = VALUE_MAX_TOKENS
        reply = 'the JSON object {"value": "..."}'

        def attempt(prev: Rejection | None) -> ChatResult:
            nonlocal ex, base, messages
            if prev is not None and isinstance(prev.error, ContextOverflow):
                ex = ex[:1]  # a small context (llm.context_tokens): the best excerpt alone
                messages = prompt.messages(title=paper.title, passages=ex, **variables)
                base = base.model_copy(update={"evidence": [e.chunk_id for e in ex]})
            elif prev is not None:
                messages = [*messages, {"role": "assistant", "content": prev.raw.text[:600]},
                            {"role": "user", "content": prev.feedback}]
            self.llm_calls += 1
            return self.llm.chat(messages, max_tokens=max_tokens, temperature=0.0, json_mode=_JSON_MODE,
                                 purpose=f"compare:{purpose}:{paper.key}"[:200], prompt_id=prompt.id,
                                 prompt_version=str(prompt.version))

        def on_error(exc: LLMError) -> OnError:
            if isinstance(exc, (LLMUnavailable, ModelMissing)):
                return OnError.RAISE
            return OnError.RETRY if isinstance(exc, ContextOverflow) and len(ex) > 1 else OnError.STOP

        g = generate_gated(attempt, _checked_answer, on_error=on_error,
                           feedback=lambda problems: retry_message(
                               problems, lead="That reply was rejected: ", then=f"Reply again with only {reply}, "
                               "nothing else."))
        if g.ok:
            note = "" if g.outcome is Outcome.FIRST_TRY else f"after a retry ({_retry_problem(g.rejected[-1])})"
            return _verified(g.value, ex, base, note)
        last = g.rejected[-1]
        if last.error is not None and not last.retryable:
            return base.model_copy(update={"status": "failed", "note": f"LLM error: {last.error}"})
        return base.model_copy(update={"status": "failed",
                                       "note": f"model output unusable after a retry: {_retry_problem(last)}"})

    # -------------------------------------------------------------- synthesis
    def synthesis(self, papers: list[_Paper], rows: list[Row]) -> tuple[str, str, list[str]]:
        """(text, status, notes): a short comparison citing [id p.N] of facts that were in its prompt."""
        facts = _facts(papers, rows)
        if len({f["key"] for f in facts}) < 2:
            return "", "skipped", ["no synthesis: fewer than two papers have stated facts to compare"]
        prompt = load_prompt("compare_synthesis")
        digest = hashlib.sha256(json.dumps([[f["key"], f["aspect"], f["value"], f["cite"]] for f in facts])
                                .encode()).hexdigest()[:20]
        hit = self.cache.get("compare_synthesis", digest, prompt.key, self.model_id, "en")
        if hit is not None:
            self.cached += 1
            return hit.content, hit.outcome, json.loads(hit.reason or "[]")
        messages = prompt.messages(papers=[{"id": p.arxiv_id, "title": p.title} for p in papers], facts=facts,
                                   max_sentences=SYNTHESIS_MAX_SENTENCES)

        def attempt(prev: Rejection | None) -> ChatResult:
            nonlocal messages
            if prev is not None:
                messages = [*messages, {"role": "assistant", "content": prev.raw.text[:800]},
                            {"role": "user", "content": prev.feedback}]
            self.llm_calls += 1
            return self.llm.chat(messages, max_tokens=SYNTHESIS_MAX_TOKENS, temperature=0.0,
                                 purpose="compare:synthesis", prompt_id=prompt.id, prompt_version=str(prompt.version))

        g = generate_gated(
            attempt, lambda out: _checked_synthesis(out, facts),
            feedback=lambda _: f"Write the 2 to {SYNTHESIS_MAX_SENTENCES} sentences again, using only the facts, "
            "and end every sentence with the numbers of the facts it uses, like [1][2].",
            on_error=lambda exc: OnError.RAISE if isinstance(exc, (LLMUnavailable, ModelMissing)) else OnError.STOP)
        if g.error is not None:  # not cached: backend failures are transient
            return "", "failed", [f"synthesis failed: {g.problems[-1]}"]
        tries = [f"synthesis try {n} rejected: {r.problems[0]}" for n, r in enumerate(g.rejected, 1)]
        if g.ok:
            text, details = g.value
            status, notes = "ok", tries + details
        else:  # the last try's problem only
            text, status, notes = "", "failed", tries[-1:]
        self.cache.put("compare_synthesis", digest, prompt.key, self.model_id, "en", text, outcome=status,
                       reason=json.dumps(notes))
        return text, status, notes


def _checked_answer(out: ChatResult) -> Check:
    """An aspect's reply parsed (JSON repaired, pydantic-validated), or the problem to send back."""
    try:
        answer = parse_value(out.text)
    except (JsonRepairError, ValidationError) as exc:
        problem = json_problem(exc)
        if out.finish_reason == "length":
            problem += " (the reply hit the output limit)"
        return Check.reject(problem)
    if out.finish_reason == "length":
        answer.value = _cut_to_sentence(answer.value, ellipsis=True)
    return Check.accept(answer)


def _retry_problem(rejection: Rejection) -> str:
    """What a cell's note says about its rejected first try."""
    if isinstance(rejection.error, ContextOverflow):
        return "the prompt did not fit the context; retried with the best excerpt only"
    return rejection.problems[0]


def _checked_synthesis(out: ChatResult, facts: list[dict]) -> Check[tuple[str, list[str]]]:
    """(text, notes) of the synthesis sentences that cite facts backing their numbers, or why there are none."""
    raw = _cut_to_sentence(out.text) if out.finish_reason == "length" else out.text
    kept: list[str] = []
    invalid: list[str] = []
    uncited = unbacked = matched = unrelated = 0
    sentences = _sentences(raw)
    if out.finish_reason == "length" and sentences and not re.search(r"[.!?\]]$", sentences[-1]):
        sentences = sentences[:-1]  # cut off mid-sentence by the token limit
    for sentence in sentences:
        resolved, cited, bad = resolve_fact_citations(sentence, facts)
        invalid += bad
        words = re.sub(r"\[[^\]]*\]", " ", resolved).split()
        if len(words) < 3 or any(_same_text(resolved, k) for k in kept) or loop_at(resolved) >= 0:
            continue  # a bare "[1]" line, the same sentence again, or a phrase looping (small models)
        by_words = False
        relevant = [n for n in cited if _shares_words(resolved, facts[n - 1])]
        if relevant != cited:  # the model cited a fact the sentence has nothing in common with
            unrelated += len(cited) - len(relevant)
            cited = relevant
            resolved = _append_cites(_bare(resolved), [facts[n - 1]["cite"] for n in cited])
        if not cited:  # the model cited nothing here: cite the facts the sentence visibly draws on
            cited = attribute(resolved, facts)
            by_words = bool(cited)
            if cited:
                resolved = _append_cites(_bare(resolved), [facts[n - 1]["cite"] for n in cited])
        if not cited:
            uncited += 1
        elif not _numbers_backed(resolved, [facts[n - 1] for n in cited]):
            unbacked += 1
        else:
            kept.append(_citations_last(resolved))
            matched += by_words
    if not kept:
        return Check.reject("empty reply" if not raw.strip() else "it cites none of the numbered facts"
                            if not unbacked else "its sentences state numbers that are not in the facts they cite")
    notes = []
    if invalid:
        notes.append(f"synthesis: dropped {len(invalid)} citation(s) of facts that were not in its "
                     f"prompt: {', '.join(invalid[:5])}")
    if unrelated:
        notes.append(f"synthesis: dropped {unrelated} citation(s) of facts that share no word with their sentence")
    if matched:
        notes.append(f"synthesis: the model cited no fact in {matched} sentence(s); their citations "
                     f"are the facts whose words they repeat")
    if uncited:
        notes.append(f"synthesis: left out {uncited} sentence(s) that match no fact")
    if unbacked:
        notes.append(f"synthesis: left out {unbacked} sentence(s) with numbers not in the facts they cite")
    return Check.accept((" ".join(kept), notes))


def _verified(answer, ex: list[Excerpt], base: Cell, note: str) -> Cell:
    """The cell for a parsed aspect answer, its value checked against the excerpts of its prompt."""
    value = answer.value
    if is_not_stated(value):
        return base.model_copy(update={"note": note})
    sup = support(value, ex)
    if sup is None:
        why = f"the model's answer {_shorten(value, 120)!r} is not supported by the excerpts it was given"
        return base.model_copy(update={"status": "unsupported", "note": "; ".join(n for n in (note, why) if n)})
    return base.model_copy(update={"status": "found", "value": value, "pages": _pages_of(sup), "note": note})


# ------------------------------------------------------------------------------------------------ numbers
_BENCH_DROP = frozenset({"the", "test", "dataset", "set", "on", "score", "benchmark", "task", "of", "split"})


def _tokens(text: str) -> frozenset[str]:
    return frozenset(w for w in re.findall(r"[a-z0-9@]+", text.lower()) if w not in _BENCH_DROP)


def _same_measure(a: HeadlineResult, b: HeadlineResult) -> bool:
    """Same metric (its words equal) on the same benchmark (one name's words contain the other's: "SciFact" and
    "SciFact test set", "WMT 2014 English-German" and "WMT 2014 English-German newstest")."""
    ma, mb, ba, bb = _tokens(a.metric), _tokens(b.metric), _tokens(a.benchmark), _tokens(b.benchmark)
    return bool(ma and ba and bb) and ma == mb and (ba <= bb or bb <= ba)


def aligned_rows(papers: list[_Paper], results_row: Row | None) -> list[Row]:
    """One row per (benchmark, metric) that at least two papers report, cells in paper order."""
    if results_row is None:
        return []
    groups: list[dict[int, HeadlineResult]] = []
    for i, cell in enumerate(results_row.cells):
        for r in cell.results:
            for g in groups:
                if i not in g and all(_same_measure(r, other) for other in g.values()):
                    g[i] = r
                    break
            else:
                groups.append({i: r})
    rows = []
    for by_paper in groups:
        if len(by_paper) < 2:
            continue
        first = by_paper[min(by_paper)]
        cells = []
        for i in range(len(papers)):
            r = by_paper.get(i)
            if r is None:
                cells.append(Cell(note="not reported among this paper's headline results"))
                continue
            value = r.value + (f" ({r.setting})" if r.setting else "")
            cells.append(Cell(value=value, status="found", pages=r.pages, results=[], quotes=r.quotes,
                              abstract_only=results_row.cells[i].abstract_only))
        settings = {(r.setting or "").strip().lower() for r in by_paper.values()}
        note = "settings differ: " + " vs ".join(r.setting or "unspecified" for r in by_paper.values()) \
            if len(settings) > 1 else ""
        rows.append(Row(aspect=f"{first.benchmark} {first.metric}", field="numbers", cells=cells, note=note))
    return rows


# ------------------------------------------------------------------------------------------------ citations
_FACT = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
_LABEL = re.compile(r"\[([^\[\]]{1,40}?)\s+(p\.\s*\d+|abstract)\]")


def _facts(papers: list[_Paper], rows: list[Row]) -> list[dict]:
    facts: list[dict] = []
    order = ["problem", "core_idea", "numbers", RESULTS, "method_steps", "data", "setup", "baselines", "compute",
             "code_data", "limitations", "motivation", "ablations", "aspect"]
    ranked = sorted(rows, key=lambda r: order.index(r.field) if r.field in order else len(order))
    for row in ranked:
        for paper, cell in zip(papers, row.cells, strict=True):
            if cell.status != "found" or len(facts) >= SYNTHESIS_MAX_FACTS:
                continue
            if cell.results:
                value = "; ".join(f"{r.metric} {r.value}" + (f" on {r.benchmark}" if r.benchmark else "")
                                  + (f" ({r.setting})" if r.setting else "") for r in cell.results)
            else:
                value = cell.value
            cite = f"[{paper.arxiv_id} abstract]" if cell.abstract_only or not cell.pages else \
                f"[{paper.arxiv_id} p.{cell.pages[0]}]"
            facts.append({"n": len(facts) + 1, "key": paper.key, "paper": paper.arxiv_id, "aspect": row.aspect,
                          "value": _shorten(value, 200), "cite": cite})
    return facts


def resolve_fact_citations(text: str, facts: list[dict]) -> tuple[str, list[int], list[str]]:
    """Fact numbers → [id p.N]; a label the model wrote itself is kept only when it is one of the facts'; any
    other bracketed citation is dropped and reported. Returns (text, cited fact numbers, invalid citations)."""
    cited: list[int] = []
    invalid: list[str] = []
    by_cite = {f["cite"].lower(): f for f in facts}

    def numbered(m: re.Match) -> str:
        out = []
        for x in re.split(r"\s*[,;]\s*", m.group(1)):
            n = int(x)
            if 1 <= n <= len(facts):
                if n not in cited:
                    cited.append(n)
                if facts[n - 1]["cite"] not in out:
                    out.append(facts[n - 1]["cite"])
            else:
                invalid.append(f"[{n}]")
        return "".join(out)

    def labelled(m: re.Match) -> str:
        label = "[" + " ".join(m.group(0)[1:-1].split()).replace("p. ", "p.") + "]"
        f = by_cite.get(label.lower())
        if f is None:
            invalid.append(m.group(0))
            return ""
        if f["n"] not in cited:
            cited.append(f["n"])
        return f["cite"]

    text = _LABEL.sub(labelled, text or "")
    text = _FACT.sub(numbered, text)
    valid = {f["cite"] for f in facts}

    def other(m: re.Match) -> str:  # any other bracket that looks like a citation ([Paper 1], [2005.11401])
        if m.group(0) in valid or not re.search(r"\d", m.group(0)):
            return m.group(0)
        invalid.append(m.group(0))
        return ""

    text = re.sub(r"\[[^\[\]]{1,60}\]", other, text)
    text = re.sub(r"[ \t]+([.,;:])", r"\1", text)
    return " ".join(text.split()), cited, invalid


def attribute(sentence: str, facts: list[dict], limit: int = 3) -> list[int]:
    """Numbers of the facts a sentence visibly draws on: it repeats at least half of a fact's content words (two
    or more, or all of a one-word fact), or one of its numbers with a quarter of its words. Best first."""
    s_stems = content_stems(re.sub(r"\[[^\]]*\]", " ", sentence))
    s_nums = {n.lstrip("-") for n in numbers(re.sub(r"\[[^\]]*\]", " ", sentence))}
    scored = []
    for f in facts:
        f_stems = content_stems(f["value"])
        common = len(f_stems & s_stems)
        share = common / len(f_stems) if f_stems else 0.0
        num_hit = bool(s_nums & _number_set(f["value"]))
        if (common >= 2 and share >= 0.5) or (f_stems and share == 1.0) or (num_hit and share >= 0.25):
            scored.append((share + num_hit, -f["n"], f["n"]))
    return [n for *_, n in sorted(scored, reverse=True)[:limit]]


def _append_cites(sentence: str, cites: list[str]) -> str:
    labels = "".join(dict.fromkeys(cites))
    if not labels:
        return sentence
    m = re.match(r"^(.*?)([.!?]*)$", sentence.strip(), re.S)
    return f"{m.group(1).rstrip()} {labels}{m.group(2)}"


def _bare(sentence: str) -> str:
    return " ".join(re.sub(r"\[[^\]]*\]", " ", sentence).split()).replace(" .", ".")


def _shares_words(sentence: str, fact: dict) -> bool:
    """A cited fact is plausible when the sentence repeats one of its words (aspect or value) or numbers."""
    text = _bare(sentence)
    return bool(content_stems(text) & content_stems(f"{fact['aspect']} {fact['value']}") or
                {n.lstrip("-") for n in numbers(text)} & _number_set(fact["value"]))


def _numbers_backed(sentence: str, facts: list[dict]) -> bool:
    """Every number of a synthesis sentence (citation labels removed) occurs in one of the facts it cites."""
    have = set().union(*(_number_set(f["value"]) for f in facts))
    bare = re.sub(r"\[[^\]]*\]", " ", sentence)
    return all(n.lstrip("-") in have for n in numbers(bare))


def _same_text(a: str, b: str) -> bool:
    strip = lambda t: " ".join(re.sub(r"\[[^\]]*\]", " ", t).lower().split()).strip(" .")  # noqa: E731
    return strip(a) == strip(b)


def _citations_last(sentence: str) -> str:
    """"[a p.1] Both use X." and "Both use X. [a p.1]" → "Both use X [a p.1]."."""
    m = re.match(r"^((?:\[[^\]]+\]\s*)+)(\S.*)$", sentence)
    if m:
        sentence = m.group(2).rstrip() + " " + _labels(m.group(1))
    m = re.match(r"^(.*?)\s*([.!?])\s*((?:\[[^\]]+\]\s*)+)$", sentence, re.S)
    return f"{m.group(1)} {_labels(m.group(3))}{m.group(2)}" if m else sentence


def _labels(text: str) -> str:
    return "".join(re.findall(r"\[[^\]]+\]", text))


def _sentences(text: str) -> list[str]:
    return [x.strip() for x in re.split(r"(?<=[.!?\]])\s+(?=[A-Z])", " ".join((text or "").split())) if x.strip()]


def _cut_to_sentence(text: str, *, ellipsis: bool = False) -> str:
    """A reply cut off by the token limit, up to its last complete sentence (or with "…" when it has none)."""
    text = text.strip()
    if text.endswith((".", "]")):
        return text
    cut = max(text.rfind(". "), text.rfind("]. "), text.rfind(".\n"))
    if cut > 0:
        return text[: cut + 1].strip() if text[cut] == "." else text[: cut + 2].strip()
    return text.rstrip(",;: ") + " …" if ellipsis else text


# ------------------------------------------------------------------------------------------------ public API
def compare(parts: Components, ids: list[str], aspects: list[str] | None = None, *,
            progress=None, max_papers: int = DEFAULT_MAX_PAPERS, synthesis: bool = True) -> Comparison:
    """A side-by-side comparison of `ids` (arXiv ids with or without version, or paper keys).

    aspects: None → every paper-card field; otherwise each aspect is a card field when it names one
    ("training data", "baselines", "results"), read from the paper's card, or is answered per paper from that
    paper's own passages. Raises CompareError for unknown ids, fewer than 2 papers or more than `max_papers`."""
    t0 = time.perf_counter()
    ids = [i for i in (ids or []) if str(i).strip()]
    if len(ids) > max_papers:
        raise CompareError(f"{len(ids)} papers asked for; compare takes at most {max_papers} at a time because "
                           f"{MAX_PAPERS_REASON}. Raise the limit (--max {len(ids)}) to run it anyway")
    engine = Comparer(parts, progress=progress)
    papers = engine.resolve(ids)
    if len(papers) < 2:
        got = f"got {len(papers)}" + (f" ({papers[0].key})" if papers else "")
        raise CompareError(f"compare needs at least 2 different papers; {got}")
    plan: list[tuple[str, CardSpec | None, str]] = []  # (row label, card field or None, aspect text)
    for a in (aspects if aspects else list(CARD_ROWS)):
        spec = field_for(a)
        plan.append((spec.label if spec else a, spec, a))
    plan = list({label: (label, spec, a) for label, spec, a in plan}.values())
    card_keys = [spec.key for _, spec, _ in plan if spec]
    full_card = set(card_keys) == set(CARD_ROWS)
    prog = engine.progress
    prog.start("compare", total=len(papers) * len(plan) + int(synthesis),
               description=f"Comparing {len(papers)} papers")
    builder = CardBuilder(parts, progress=prog, raise_unavailable=True)
    rows: list[Row] = []
    columns = [p.column for p in papers]
    cells: dict[str, list[Cell]] = {label: [] for label, _, _ in plan}
    for p_i, paper in enumerate(papers):
        card = builder.build(paper.record, fields=None if full_card else card_keys,
                             task="compare") if card_keys else None
        for label, spec, aspect in plan:
            if spec is not None:
                cells[label].append(card_cell(card, spec.key))
                continue
            prog.update("compare", description=f"{paper.key}: {label}")
            cells[label].append(engine.aspect_cell(paper, aspect))
            prog.advance("compare")
        mine = [cells[label][p_i] for label, _, _ in plan]
        if all(c.status == "failed" for c in mine):
            columns[p_i].failure = f"every aspect failed; first: {mine[0].note}"
    for label, spec, _ in plan:
        rows.append(Row(aspect=label, field=spec.key if spec else "aspect", cells=cells[label]))
    results_row = next((r for r in rows if r.field == RESULTS), None)
    numbers_rows = aligned_rows(papers, results_row)
    if numbers_rows:
        at = rows.index(results_row) + 1
        rows[at:at] = numbers_rows
    notes = list(engine.notes)
    for p in papers:
        if not p.fulltext:
            notes.append(f"{p.key}: no full text in the library; its column is from the abstract only")
    text, status = "", "skipped"
    if synthesis:
        prog.update("compare", description="synthesis")
        text, status, syn_notes = engine.synthesis(papers, rows)
        notes += syn_notes
        prog.advance("compare")
    prog.stop("compare")
    return Comparison(papers=columns, rows=rows, synthesis=text, synthesis_status=status, notes=notes,
                      model=engine.model_id, llm_calls=engine.llm_calls + builder.llm_calls,
                      cached=engine.cached + builder.cached, seconds=round(time.perf_counter() - t0, 2))


def card_cell(card: PaperCard, key: str) -> Cell:
    """The compare cell of a card field: its value, the pages of its quotes and the quotes themselves."""
    abstract_only = card.abstract_only
    if key == RESULTS:
        f = card.results_field
        if card.results:
            results = [HeadlineResult(metric=r.metric, value=r.value, benchmark=r.benchmark, setting=r.setting,
                                      pages=r.pages, quotes=r.quotes) for r in card.results]
            return Cell(value="; ".join(f"{r.metric} {r.value}" for r in results), status="found",
                        pages=sorted({p for r in results for p in r.pages}), results=results,
                        quotes=list({(q.page, q.text): q for r in results for q in r.quotes}.values()),
                        note=f.note if f else "", evidence=f.evidence if f else [], abstract_only=abstract_only)
    else:
        f = card.fields.get(key)
    if f is None:
        return Cell(status="failed", note=card.failure or "not extracted", abstract_only=abstract_only)
    if f.found:
        return Cell(value=f.value, status="found", pages=f.pages, quotes=f.quotes, note=f.note,
                    evidence=f.evidence, abstract_only=abstract_only)
    return Cell(status="failed" if f.status == "failed" else "not stated", note=f.note, evidence=f.evidence,
                abstract_only=abstract_only)


def compare_topic(parts: Components, topic: str, *, n: int = 3, since: str | None = None, until: str | None = None,
                  categories: Sequence[str] = (), aspects: list[str] | None = None,
                  progress=None, max_papers: int = DEFAULT_MAX_PAPERS) -> Comparison:
    """Pick the `n` papers that best match `topic` (paper-level retrieval, optional date/category filters) and
    compare them. The picks and their scores are listed in the notes."""
    from rag.retrieval.filters import SearchFilters

    if not topic or not topic.strip():
        raise CompareError("empty topic: give words that describe the papers to compare")
    if n < 2:
        raise CompareError(f"compare needs at least 2 papers; --papers is {n}")
    if n > max_papers:
        raise CompareError(f"{n} papers asked for; compare takes at most {max_papers} at a time because "
                           f"{MAX_PAPERS_REASON}. Raise the limit (--max {n}) to run it anyway")
    filters = SearchFilters(date_from=since, date_to=until, categories=tuple(categories))
    hits = parts.retriever.search_papers(topic, k=n, filters=filters)
    if len(hits) < 2:
        raise CompareError(f"only {len(hits)} indexed paper(s) match {topic!r} with these filters; compare needs 2")
    result = compare(parts, [h.paper_key for h in hits], aspects, progress=progress, max_papers=max_papers)
    picked = ", ".join(f"{h.paper_key} ({h.score:.2f})" for h in hits)
    result.notes.insert(0, f"papers picked for the topic {topic!r}: {picked}")
    return result


def method_card(parts: Components, paper: str, *, refresh: bool = False) -> PaperCard:
    """One paper's card (`rag.cards.build_card`): every field with its quotes, or "not stated"."""
    return build_card(parts, paper, refresh=refresh)


# ------------------------------------------------------------------------------------------------ helpers
def _md_cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _shorten(text: str, n: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"
