"""The written parts of a digest, composed from paper cards (rag/cards.py): analyses, the table's cells, key
findings and the executive summary. Code renders the structure (rag/digest/compose.py, render.py); the model
writes only short spans, one per card field:

* **English** digests: the card's English field values are the spans (code; no model call), checked that their
  numbers and names are in their quotes.
* **Chinese** digests: one small call per field (`digest_span`: the field's value and its quotes → 1 or 2
  sentences in Chinese), checked by `validate.check_span` (Chinese, no repetition, no echo of the prompt, not
  cut off, every number and name in the field's quotes); retried once with the problems spelled out
  (`rag.gated.generate_gated`), then the field's quoted English sentences under a label, never a
  whole-paper fallback. The prompt puts what is shared first (instructions, then the paper's title) so llama.cpp
  reuses the KV cache of consecutive calls.

Spans are cached by (paper key + field, prompt id@version, model, language), with the field's input hashed
into the entry: re-running a day makes no LLM call for anything already written. The card comes through one
seam, `card_source(parts, paper_key, progress)`, by default `rag.cards.build_card` (itself cached per paper
version); an extraction that raises an `LLMError` leaves the paper without analysis, said in the run report.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from indexes.artifacts import ArtifactCache
from paperrag.components import Components
from paperrag.latex import MathTable, math_problems, math_spans
from paperrag.records import PaperMeta
from rag.budget import fit_messages
from rag.cards import PaperCard
from rag.digest import compose, validate
from rag.digest.formats import FIELD_NAMES
from rag.digest.model import Analysis, Cited, Digest, Item, KeyFigure, Part
from rag.gated import (
    Check,
    Gated,
    OnError,
    Outcome,
    Rejection,
    generate_gated,
    retry_message,
)
from rag.llm.base import ChatResult, LLMError
from rag.prompts import Prompt, load_prompt
from rag.quotes import Quote, in_chinese_units, unbacked

log = logging.getLogger(__name__)

LANGUAGE_NAMES = {"zh": "Simplified Chinese (简体中文)", "en": "English"}
# the request that ends the prompt, in the language of the answer (a small model answers in the language it
# was last spoken to)
ASK = {"zh": "请用简体中文写 1 到 2 句话说明论文的这一点（{label}）。数字照原文写，方法、模型和数据集的名称保留英文：",
       "en": "Write the 1 or 2 sentences in English now:"}
SPAN_PROMPT = "digest_span"
TITLE_PROMPT = "translate_title"
SPAN_MAX_TOKENS = 200  # 1–2 Chinese sentences are 60–120 tokens; a longer answer is cut and rejected
TITLE_MAX_TOKENS = 96
PROMPT_QUOTES = 3  # quotes of a field shown to the model
FALLBACK_QUOTES = 2  # quotes shown to the reader when the model's span is rejected

CardSource = Callable[[Components, str, object], PaperCard]
EXAMPLE_ECHO_CHARS = 12  # this long a run of a worked example's answer in a span: the model copied the example


def _for_the_model(problem: str) -> str:
    """A problem as the retry tells it: without the validator's measurements ("(30% CJK)"), which a small model
    copied into its next answer (bench/digest.py, 0.5B: "not in the paper's sentences: 30, cjk")."""
    return re.sub(r"\s*\(\d+% CJK\)", "", problem)


def _passing_sentences(rejected: list[Rejection], check: Callable[[ChatResult], Check]) -> str | None:
    """The sentences of a rejected span that pass every check on their own (the last attempt first), when at least
    one of them does not, or when together they are only too long: a two-sentence span whose second sentence adds a
    date the quotes lack keeps its first instead of falling back to the quotes, and so does one whose two faithful
    sentences run past the length limit (bench/digest.py: REALM's setup, 241 characters of 240, twice)."""
    for r in reversed(rejected):
        if r.raw is None:
            continue
        sentences = validate.span_sentences(r.raw.text)
        if len(sentences) < 2:
            continue
        kept = [c.value for c in (check(replace(r.raw, text=s)) for s in sentences) if c.ok and c.value]
        chinese = bool(kept) and any("\u3400" <= ch <= "\u9fff" for ch in kept[0])
        # all of them together is what was rejected; the most leading kept ones that together pass every check too
        most = len(kept) if len(kept) < len(sentences) else len(kept) - 1
        for n in range(most, 0, -1):
            whole = check(replace(r.raw, text=("" if chinese else " ").join(kept[:n])))
            if whole.ok:
                return whole.value
    return None


def copied_example(text: str, prompt: Prompt) -> list[str]:
    """A span that copies a worked example's answer (the prompt's examples are made-up papers, not this one)."""
    flat = re.sub(r"\s+", "", text)
    for ex in prompt.examples:
        model = re.sub(r"\s+", "", ex["assistant"])
        if any(model[i:i + EXAMPLE_ECHO_CHARS] in flat for i in range(0, max(1, len(model) - EXAMPLE_ECHO_CHARS + 1))):
            return ["it copies the worked example's answer instead of stating this paper's fact"]
    return []


def default_card_source(parts: Components, paper_key: str, progress=None) -> PaperCard:
    """The one seam to the card extraction (cached per paper version by rag.cards)."""
    from rag.cards import build_card

    return build_card(parts, paper_key, progress=progress)


@dataclass
class WriterStats:
    llm_calls: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # per analysis / title: first try / after retry / …
    spans: dict[str, int] = field(default_factory=dict)  # per span: model / code / quotes / not stated / …

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


@dataclass
class SpanRecord:
    """What happened to one field's span (for the run report and the bench)."""

    cited: Cited
    outcome: str  # first try / after retry / fallback / code / not stated / not extracted
    reason: str = ""  # every rejected attempt's problems; the card's note for a field not extracted


class DigestWriter:
    """Writes the composed parts of a digest with the Library's components (`paperrag.components.Components`).
    `card_source(parts, paper_key, progress)` gives a paper's card (default: `rag.cards.build_card`)."""

    def __init__(self, parts: Components, *, card_source: CardSource | None = None, progress=None):
        self.parts = parts
        self.settings = parts.settings
        self.cache: ArtifactCache = parts.artifacts
        self.catalog = parts.catalog
        self.card_source = card_source or default_card_source
        self.progress = progress
        self.stats = WriterStats()
        self._cards: dict[str, PaperCard | None] = {}
        self.card_errors: dict[str, str] = {}  # paper key -> why it has no card (run report)
        self._spans: dict[tuple[str, str, str], SpanRecord] = {}

    # The LLM is built only on a cache miss: re-running a finished day loads no model at all.
    @property
    def llm(self):
        return self.parts.llm

    @property
    def model_id(self) -> str:
        return self.parts.model_id

    # ------------------------------------------------------------------ cards
    def card(self, meta: PaperMeta) -> PaperCard | None:
        """The paper's card (once per run); None when the extraction failed (the reason in `card_errors`)."""
        if meta.key not in self._cards:
            try:
                self._cards[meta.key] = self.card_source(self.parts, meta.key, self.progress)
            except LLMError as exc:
                log.warning("%s: no card: %s", meta.key, exc)
                self._cards[meta.key] = None
                self.card_errors[meta.key] = f"card extraction failed: {exc}"
        return self._cards[meta.key]

    # ------------------------------------------------------------------ spans
    def span(self, card: PaperCard, key: str, language: str) -> SpanRecord:
        """The span of card field `key` in `language` (memoised per run, cached across runs)."""
        memo = (card.paper_key, key, language)
        if memo not in self._spans:
            rec = self._span(card, key, language)
            self._spans[memo] = rec
            self.stats.spans[rec.cited.kind] = self.stats.spans.get(rec.cited.kind, 0) + 1
        return self._spans[memo]

    def _span(self, card: PaperCard, key: str, language: str) -> SpanRecord:
        f = card.field(key)
        quotes = [q.quote() for q in f.quotes]
        if f.status == "failed":
            return SpanRecord(Cited("", [], "not extracted"), "not extracted", f.note or "the extraction failed")
        if not f.found:  # the reader is told where we looked: the paper, or only its abstract
            text = compose.TEXT[language]["not_in_abstract"] if card.basis == "abstract only" else ""
            return SpanRecord(Cited(text, [], "not stated"), "not stated", f.note)
        if language == "en":  # the card's own English value, when its numbers and names are in its quotes
            missing = unbacked(f.value, quotes, also=card.title)
            if missing:
                return SpanRecord(_quoted(quotes), Outcome.FALLBACK,
                                  f"{key}: value not backed by its quotes: {', '.join(missing[:6])}")
            return SpanRecord(Cited(_sentence(f.value), quotes, "code"), "code")
        return self._model_span(card, key, language, f.value, quotes)

    def _model_span(self, card: PaperCard, key: str, language: str, value: str, quotes: list[Quote]) -> SpanRecord:
        prompt = load_prompt(SPAN_PROMPT)
        shown = quotes[:PROMPT_QUOTES]
        label = FIELD_NAMES["en"][key]
        digest = hashlib.sha256(json.dumps([value, [q.text for q in quotes], card.title],
                                           ensure_ascii=False).encode()).hexdigest()[:16]
        subject = f"{card.paper_key}#{key}"
        cached = self.cache.get("span", subject, prompt.key, self.model_id, language)
        if cached is not None and cached.extra.get("input") == digest:
            kind = cached.extra.get("kind", "model")
            cited = Cited(cached.content, quotes, "model") if kind == "model" else _quoted(quotes)
            return SpanRecord(cited, cached.outcome, cached.reason)
        # "19.6 billion" → "196亿" in what a Chinese span's model reads: code converts magnitudes (the model wrote
        # "19.6 亿"); the span is still checked against the verbatim quotes
        units = in_chinese_units if language == "zh" else (lambda t: t)
        # LaTeX never reaches the model: each formula is a placeholder ([M1]) put back after, and the output is
        # rejected when a formula of the field's value is lost or any formula changed (paperrag.latex)
        math = MathTable.for_texts([value, card.title, *(q.text for q in shown)])
        messages = prompt.messages(language=language, language_name=LANGUAGE_NAMES[language],
                                   title=math.protect(card.title),
                                   quotes=[units(math.protect(q.text)) for q in shown], label=label,
                                   value=units(math.protect(value)), math=math.active,
                                   ask=ASK[language].format(label=FIELD_NAMES[language][key]))
        instructions = messages[0]["content"]
        need = math_spans(value)

        def attempt(prev: Rejection | None) -> ChatResult:
            extra = [] if prev is None or prev.raw is None else [
                {"role": "assistant", "content": prev.raw.text}, {"role": "user", "content": prev.feedback}]
            return self._chat(messages + extra, prompt, purpose=f"span:{key}:{card.paper_key}",
                              max_tokens=SPAN_MAX_TOKENS)

        def check(out: ChatResult) -> Check:
            text = math.restore(out.text)
            v = validate.check_span(text, language=language, quotes=quotes, also=card.title,
                                    instructions=instructions, finish_reason=out.finish_reason)
            problems = [*v.problems, *math_problems(v.text, required=need, table=math),
                        *copied_example(v.text, prompt)]
            return Check.accept(v.text) if not problems else Check.reject(*problems)

        g: Gated[str] = generate_gated(
            attempt, check, fallback=lambda _problems: "", on_error=OnError.STOP,
            feedback=lambda problems: retry_message(
                [_for_the_model(p) for p in problems],
                then=f"Write the 1 or 2 sentences again in {LANGUAGE_NAMES[language]}, fixing this."))
        reason = "; ".join(f"{key}, try {n}: " + "; ".join(r.problems) for n, r in enumerate(g.rejected, 1))
        if not g.ok and g.error is None:
            kept = _passing_sentences(g.rejected, check)
            if kept:
                g = Gated(kept, Outcome.AFTER_RETRY, g.rejected, g.attempts)
                reason += f"; {key}: kept the sentences that pass every check"
        cited = Cited(g.value, quotes, "model") if g.ok else _quoted(quotes)
        if g.error is None:  # a model that was unavailable is no verdict on the span: ask again next run
            self.cache.put("span", subject, prompt.key, self.model_id, language, cited.text if g.ok else "",
                           outcome=g.outcome, reason=reason,
                           extra={"input": digest, "kind": "model" if g.ok else "quotes"})
        return SpanRecord(cited, g.outcome, reason)

    # ------------------------------------------------------------------ analysis
    def analysis(self, meta: PaperMeta, fmt: str, language: str) -> Analysis:
        """The paper's analysis in `fmt` ("report": 7 parts, "monitor": 5), composed from its card."""
        card = self.card(meta)
        if card is None:
            a = Analysis([], "full text" if self._fulltext(meta) else "abstract only", Outcome.FAILED,
                         self.card_errors.get(meta.key, "no card"))
            self.stats.count(a.outcome)
            return a
        used: list[str] = []

        def span(key: str) -> Cited:
            used.append(key)
            return self.span(card, key, language).cited

        parts = compose.analysis_parts(card, fmt, language, span)
        a = self._summed(card, parts, [self.span(card, k, language) for k in dict.fromkeys(used)], language)
        self.stats.count(a.outcome)
        return a

    def _summed(self, card: PaperCard, parts: list[Part], records: list[SpanRecord], language: str) -> Analysis:
        rejected = sum(1 for r in records if r.cited.kind == "quotes")
        missing = sum(1 for r in records if r.cited.kind == "not extracted")
        outcomes = {str(r.outcome) for r in records}
        if rejected:
            outcome = Outcome.FALLBACK
        elif Outcome.AFTER_RETRY in outcomes:
            outcome = Outcome.AFTER_RETRY
        else:
            outcome = Outcome.FIRST_TRY
        notes = [r.reason for r in records if r.reason and r.outcome != "not stated"]
        dropped = compose.dropped_results(card, language)
        if dropped:
            notes.append("results not shown (not backed by their quotes): " + ", ".join(dropped))
        if card.failure:
            notes.insert(0, f"card: {card.failure}")
        return Analysis(parts, card.basis, outcome, "; ".join(notes), rejected=rejected, missing=missing)

    def _fulltext(self, meta: PaperMeta) -> bool:
        row = self.catalog.get_paper(meta.key)
        return bool(row and row.fulltext)

    # ------------------------------------------------------------------ table, key findings, summary
    def table_summary(self, meta: PaperMeta, language: str) -> list[Item]:
        """The table's abstract cell from the card ([] without a card: the original abstract is shown)."""
        card = self.card(meta)
        if card is None:
            return []
        return compose.table_summary(card, language, lambda k: self.span(card, k, language).cited)

    def key_findings(self, meta: PaperMeta, language: str) -> list[Cited]:
        """The core idea and the top results from the card ([] without: the abstract's sentences are used)."""
        card = self.card(meta)
        if card is None:
            return []
        return compose.key_findings(card, language, lambda k: self.span(card, k, language).cited)

    def executive_summary(self, digest: Digest) -> list[Part]:
        """The report's executive summary, from the cards (no call beyond the fields' spans)."""
        cards = {p.meta.key: self.card(p.meta) for p in digest.papers}

        def span(key: str, name: str) -> Cited:
            return self.span(cards[key], name, digest.language).cited

        return compose.executive_summary(digest, cards, span)

    def title(self, meta: PaperMeta, language: str) -> tuple[str, str]:
        """(translated title or "" when it failed its check, outcome); the title itself in English."""
        if language == "en":
            return meta.title, "not needed"
        prompt = load_prompt(TITLE_PROMPT)
        cached = self.cache.get("title", meta.key, prompt.key, self.model_id, language)
        if cached is not None and cached.extra.get("source") == meta.title:
            return cached.content, cached.outcome
        math = MathTable.for_texts([meta.title])
        messages = prompt.messages(title=math.protect(meta.title), language_name=LANGUAGE_NAMES[language],
                                   math=math.active)

        def check(out: ChatResult) -> Check:
            v = validate.check_title(math.restore(out.text), language=language, source=meta.title,
                                     finish_reason=out.finish_reason)
            problems = [*v.problems, *math_problems(v.text, required=math_spans(meta.title), table=math)]
            return Check.accept(v.text) if not problems else Check.reject(*problems)

        g = generate_gated(  # the retry asks the same again: a second sample, not a correction
            lambda _prev: self._chat(messages, prompt, purpose=f"title:{meta.key}", max_tokens=TITLE_MAX_TOKENS),
            check, fallback=lambda _problems: "", on_error=OnError.STOP)
        if g.error is None:
            self.cache.put("title", meta.key, prompt.key, self.model_id, language, g.value or "", outcome=g.outcome,
                           reason=g.reason, extra={"source": meta.title})
        self.stats.count(g.outcome)
        return g.value or "", g.outcome

    # ------------------------------------------------------------------ key figure
    def key_figure(self, meta: PaperMeta, day_dir) -> KeyFigure | None:
        """The paper's key figure (ingest.figures: Figure 1 or its method figure, cached by the PDF's sha256),
        copied next to the digest as `figures/<paper>.png`; None when the PDF is not cached or has none."""
        import shutil
        from pathlib import Path

        from ingest.figures import key_figure

        row = self.catalog.get_paper(meta.key)
        sha = (row.content_sha256 or "").lower() if row is not None else ""
        if row is None or not row.fulltext or not re.fullmatch(r"[0-9a-f]{64}", sha):
            return None
        pdf = self.parts.pdf_cache.path_for(sha)
        if not pdf.is_file():
            return None
        fig = key_figure(pdf, self.settings.figures_dir, sha256=sha)
        if not fig.found:
            log.info("%s: no key figure: %s", meta.key, fig.reason)
            return None
        name = re.sub(r"[^A-Za-z0-9._-]", "-", meta.key).strip("-.") or sha[:16]
        rel = f"figures/{name}.png"
        dest = Path(day_dir) / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(fig.png, tmp)
        tmp.replace(dest)
        return KeyFigure(rel, fig.number, fig.caption, fig.page)

    # ------------------------------------------------------------------ plumbing
    def _chat(self, messages, prompt: Prompt, *, purpose: str, max_tokens: int) -> ChatResult:
        self.stats.llm_calls += 1
        messages = fit_messages(messages, self.settings.llm.context_tokens, max_tokens)
        return self.llm.chat(messages, max_tokens=max_tokens, purpose=purpose, prompt_id=prompt.id,
                             prompt_version=str(prompt.version))


def _quoted(quotes: list[Quote]) -> Cited:
    """The fallback of a rejected span: the field's own sentences, shown verbatim under a label."""
    return Cited("", quotes[:FALLBACK_QUOTES], "quotes")


def _sentence(value: str) -> str:
    """A card value as a sentence: capitalised, ending with a full stop."""
    v = " ".join(value.split()).strip()
    if not v:
        return v
    v = v[0].upper() + v[1:]
    return v if v[-1] in ".!?" else v + "."
