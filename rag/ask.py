"""Ask: a question in any language → retrieval → a cited answer from the local LLM, or an honest abstention.

    asker = Asker(settings)
    stream = asker.stream("How does PaSa train its crawler?", filters=SearchFilters(categories=("cs.IR",)))
    for piece in stream:            # answer text with citations already resolved to [id §sec p.N]
        print(piece, end="")
    result = stream.result          # AskResult: evidence, cited sources, abstained / unsupported flags

Flow: (follow-up → standalone question) → (non-English → English search query) → two-stage hybrid retrieval
→ relevance gate (abstain without the LLM when nothing is close) → numbered passages within the context
budget → streamed answer → citations resolved against the passages that were in the prompt.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from paperrag.components import Components
from paperrag.errors import PaperragError
from paperrag.text import chunk_body
from rag.budget import estimate_tokens, fit, prompt_budget
from rag.citations import StreamingResolver, abs_url, citation_label, pdf_url, resolve
from rag.gated import OnError, Rejection, accept, generate_gated
from rag.llm.base import ChatResult, ChatStream, ContextOverflow, LLMError
from rag.prompts import load_prompt
from rag.retrieval.filters import SearchFilters
from rag.retrieval.retriever import Passage

NOT_IN_PAPERS = "NOT_IN_PAPERS"
LANGUAGE_NAMES = {"en": "English", "zh": "Simplified Chinese (简体中文)", "ja": "Japanese", "ko": "Korean"}
ABSTAIN = {
    "en": "The indexed papers do not say {what}.",
    "zh": "已收录的论文没有提到{what}。",
}
UNSUPPORTED_NOTE = {
    "en": "Note: this answer cites none of the retrieved passages, so it may come from the model's general "
    "knowledge rather than the indexed papers.",
    "zh": "注意：此回答没有引用任何检索到的段落，可能来自模型自身的知识，而非已收录的论文。",
}
RELATIVE_SCORE_FLOOR = 0.5  # passages scoring under half the best one are dropped before the prompt


class AskError(PaperragError, ValueError):
    """A question that cannot be asked (empty, …); the message says what to do."""


@dataclass
class Turn:
    question: str
    answer: str


@dataclass
class AskResult:
    question: str
    language: str
    search_query: str
    answer: str = ""
    raw: str = ""
    evidence: list[Passage] = field(default_factory=list)
    cited: list[int] = field(default_factory=list)
    invalid_citations: list[str] = field(default_factory=list)
    abstained: bool = False
    unsupported: bool = False
    notes: list[str] = field(default_factory=list)
    llm: ChatResult | None = None

    @property
    def unsupported_note(self) -> str:
        """The warning shown under an answer that cites nothing ("" when it cites something)."""
        return UNSUPPORTED_NOTE.get(self.language, UNSUPPORTED_NOTE["en"]) if self.unsupported else ""

    def to_dict(self) -> dict:
        """What `paperrag ask --json` prints."""
        return {"answer": self.answer, "language": self.language, "abstained": self.abstained,
                "unsupported": self.unsupported, "search_query": self.search_query, "sources": self.sources(),
                "notes": self.notes}

    def sources(self) -> list[dict]:
        """Only the sources the answer cites, in citation order."""
        out = []
        for n in self.cited:
            p = self.evidence[n - 1]
            out.append({
                "n": n, "label": citation_label(p), "arxiv_id": p.arxiv_id, "version": p.version,
                "title": p.title, "section": p.section, "pages": [p.page_start, p.page_end],
                "abs_url": abs_url(p), "pdf_url": pdf_url(p), "evidence": chunk_body(p.text),
            })
        return out

    def sources_text(self) -> str:
        """The cited sources for a terminal: plain lines with the full URLs."""
        lines = []
        for s in self.sources():
            lines.append(f"{s['label']} {s['title']} — {s['section'] or 'n/a'}")
            urls = " · ".join(u for u in (s["abs_url"], s["pdf_url"]) if u)
            if urls:
                lines.append(f"    {urls}")
            lines.append(f"    > {_shorten(s['evidence'], 300)}")
        return "\n".join(lines)

    def to_markdown(self) -> str:
        lines = [self.answer.strip()]
        if self.unsupported:
            lines += ["", "> " + UNSUPPORTED_NOTE.get(self.language, UNSUPPORTED_NOTE["en"])]
        sources = self.sources()
        if sources:
            lines += ["", "**Sources**", ""]
            for s in sources:
                links = " · ".join(x for x in (
                    f"[arXiv]({s['abs_url']})" if s["abs_url"] else "",
                    f"[PDF p.{s['pages'][0]}]({s['pdf_url']})" if s["pdf_url"] else "") if x)
                quote = _shorten(s["evidence"], 400)
                lines.append(f"- {s['label']} *{s['title']}* — {s['section'] or 'n/a'} {links}")
                lines.append(f"  > {quote}")
        return "\n".join(lines)


class AnswerStream(Iterator[str]):
    """Iterates the answer's text (citations resolved); `.result` is complete once iteration ends."""

    def __init__(self, gen: Iterator[str], result: AskResult):
        self._gen = gen
        self.result = result

    def __iter__(self):
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def consume(self) -> AskResult:
        for _ in self:
            pass
        return self.result


def detect_language(text: str) -> str:
    """'en' for Latin-script questions, 'zh' / 'ja' / 'ko' for CJK, else 'other' (answer in kind)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return "en"
    kana = sum(1 for ch in letters if "\u3040" <= ch <= "\u30ff")
    hangul = sum(1 for ch in letters if "\uac00" <= ch <= "\ud7af")
    han = sum(1 for ch in letters if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf")
    latin = sum(1 for ch in letters if "LATIN" in unicodedata.name(ch, ""))
    if kana > 0 and kana + han >= 0.2 * len(letters):
        return "ja"
    if hangul >= 0.2 * len(letters):
        return "ko"
    if han >= 0.2 * len(letters):
        return "zh"
    return "en" if latin >= 0.6 * len(letters) else "other"


class Asker:
    """Answers with the Library's components (`paperrag.components.Components`); the LLM is only built when a
    question gets past the relevance gate."""

    def __init__(self, parts: Components):
        self.parts = parts
        self.settings = parts.settings

    @property
    def embedder(self):
        return self.parts.embedder

    @property
    def retriever(self):
        return self.parts.retriever

    @property
    def llm(self):
        return self.parts.llm

    # ------------------------------------------------------------------ public
    def ask(self, question: str, **kw) -> AskResult:
        return self.stream(question, **kw).consume()

    def stream(self, question: str, *, filters: SearchFilters | None = None, lang: str | None = None,
               history: Sequence[Turn] = (), papers: Sequence[str] | None = None) -> AnswerStream:
        question = (question or "").strip()
        if not question:
            raise AskError("empty question: ask something, e.g. paperrag ask \"what is FlashAttention?\"")
        cfg = self.settings.ask
        result = AskResult(question=question, language=lang or detect_language(question), search_query="")
        if len(question) > cfg.max_question_chars:
            result.notes.append(f"the question has {len(question)} characters; only the first "
                                f"{cfg.max_question_chars} were used (ask.max_question_chars)")
            question = question[: cfg.max_question_chars]
        if history:
            question = self._condense(question, history, result)
        result.search_query = question if result.language == "en" else self._translate(question, result)

        # Asked about given papers, the cap only keeps one paper from crowding out the others: a question
        # about a single paper gets all its best passages, not three.
        cap = max(cfg.per_paper_cap, -(-cfg.passages // len(papers))) if papers else cfg.per_paper_cap
        evidence = self.retriever.search_two_stage(
            result.search_query, k=cfg.passages, papers=list(papers) if papers else cfg.papers,
            per_paper_cap=cap, filters=filters, rerank=cfg.rerank_depth)
        if evidence:  # papers picked only to fill the quota, far below the best match, just cost context
            evidence = [p for p in evidence if p.score >= RELATIVE_SCORE_FLOOR * evidence[0].score]
        relevance = self._relevance(result.search_query, evidence)
        if not evidence or relevance < cfg.min_relevance:
            result.abstained = True
            what = f"“{_shorten(question, 120)}”" if result.language != "zh" else f"“{_shorten(question, 60)}”"
            result.answer = ABSTAIN.get(result.language, ABSTAIN["en"]).format(what=what)
            result.notes.append(
                "no indexed passage is relevant enough" if evidence else "no passage matched the filters")
            return AnswerStream(iter([result.answer]), result)
        result.evidence = self._fit(evidence, question, result)
        return AnswerStream(self._generate(question, result), result)

    # ------------------------------------------------------------------ steps
    def _condense(self, question: str, history: Sequence[Turn], result: AskResult) -> str:
        prompt = load_prompt("condense_question")
        turns = [Turn(_shorten(t.question, 500), _shorten(t.answer, 800)) for t in history[-4:]]
        try:
            out = self.llm.chat(prompt.messages(history=turns, question=question), max_tokens=128,
                                temperature=0.0, purpose="condense", prompt_id=prompt.id,
                                prompt_version=str(prompt.version))
        except LLMError as exc:
            result.notes.append(f"could not rewrite the follow-up ({exc}); searched with it as asked")
            return question
        rewritten = _first_line(out.text)
        return rewritten if 3 <= len(rewritten) <= 1000 else question

    def _translate(self, question: str, result: AskResult) -> str:
        prompt = load_prompt("translate_query")
        try:
            out = self.llm.chat(prompt.messages(question=question), max_tokens=96, temperature=0.0,
                                purpose="translate_query", prompt_id=prompt.id, prompt_version=str(prompt.version))
        except LLMError as exc:
            result.notes.append(f"could not translate the question for search ({exc})")
            return question
        query = _first_line(out.text).strip("\"'“”")
        ascii_share = sum(ch.isascii() for ch in query) / max(1, len(query))
        if len(query) < 3 or ascii_share < 0.8:
            result.notes.append("the search translation was unusable; searched with the question as asked")
            return question
        return query

    def _relevance(self, query: str, evidence: list[Passage]) -> float:
        if not evidence:
            return 0.0
        vectors = self.embedder.embed([query] + [p.text for p in evidence])
        return float(np.max(vectors[1:] @ vectors[0]))

    def _fit(self, evidence: list[Passage], question: str, result: AskResult) -> list[Passage]:
        """As many passages, in rank order, as fit the context next to the prompt and the answer."""
        llm_cfg = self.settings.llm
        context = getattr(self.parts.loaded_llm, "context_tokens", None) or llm_cfg.context_tokens
        # reserve: the question and the prompt's fixed text (~1200 characters); each passage's tags ~40 tokens
        budget = prompt_budget(context, llm_cfg.max_output_tokens, estimate_tokens(question) + 400)
        kept = fit(evidence, budget, cost=lambda p: estimate_tokens(p.text) + 40)
        if len(kept) < len(evidence):
            result.notes.append(f"{len(evidence) - len(kept)} passages left out to fit the "
                                f"{context}-token context (llm.context_tokens)")
        return kept

    def _messages(self, question: str, result: AskResult) -> list[dict]:
        prompt = load_prompt("answer")
        language_name = LANGUAGE_NAMES.get(result.language, "the same language as the question")
        passages = [_Quoted(p) for p in result.evidence]
        return prompt.messages(passages=passages, question=question, language_name=language_name)

    def _generate(self, question: str, result: AskResult) -> Iterator[str]:
        prompt = load_prompt("answer")

        def attempt(prev: Rejection | None) -> ChatStream:
            if prev is not None:  # the prompt overflowed the context: half the passages
                result.evidence = result.evidence[: max(1, len(result.evidence) // 2)]
                result.notes.append("evidence trimmed to fit the model's context")
            return self.llm.stream(self._messages(question, result), purpose="ask", prompt_id=prompt.id,
                                   prompt_version=str(prompt.version))

        def on_error(exc: LLMError) -> OnError:
            return OnError.RETRY if isinstance(exc, ContextOverflow) and len(result.evidence) > 1 else OnError.RAISE

        opened = generate_gated(attempt, accept, on_error=on_error)
        if opened.value is None:  # overflowed again after trimming
            raise opened.error
        stream = opened.value
        resolver = StreamingResolver(result.evidence)  # the passages that are in the prompt
        pending, released = "", False
        for piece in stream:
            if not released and len(pending) < 20 and NOT_IN_PAPERS.startswith((pending + piece).strip()):
                pending += piece  # hold back what may become the abstain marker
                continue
            released = True
            piece, pending = pending + piece, ""
            yield resolver.feed(piece)
        result.llm = stream.result
        raw = resolver.raw + pending
        result.raw = raw
        if NOT_IN_PAPERS in raw or not raw.strip():
            result.abstained = True
            result.answer = ABSTAIN.get(result.language, ABSTAIN["en"]).format(
                what=f"“{_shorten(question, 120)}”")
            yield result.answer
            return
        tail = resolver.flush() + (resolve(pending, result.evidence).text if pending else "")
        if tail:
            yield tail
        resolved = resolve(raw, result.evidence)
        result.answer, result.cited, result.invalid_citations = resolved.text, resolved.cited, resolved.invalid
        result.unsupported = not result.cited
        if result.invalid_citations:
            result.notes.append(f"dropped {len(result.invalid_citations)} citation(s) that point at no passage "
                                f"in the prompt: {', '.join(result.invalid_citations[:5])}")
        if result.llm is not None and result.llm.finish_reason == "length":
            result.notes.append("the answer hit llm.max_output_tokens and may be cut short")


@dataclass
class _Quoted:
    """A passage as the prompt shows it: markup that could close our <passage> tags is neutralised."""

    p: Passage

    def __getattr__(self, name):
        value = getattr(self.p, name)
        if isinstance(value, str):
            return value.replace("<", "‹").replace(">", "›").replace('"', "'")
        return value

    @property
    def text(self) -> str:
        body = chunk_body(self.p.text)  # the prompt shows title and section as attributes
        return re.sub(r"</?\s*passage", "‹passage", body, flags=re.IGNORECASE)


def _first_line(text: str) -> str:
    for line in (text or "").strip().splitlines():
        line = line.strip()
        if line:
            return re.sub(r"^(standalone question|english search query|query)\s*:\s*", "", line, flags=re.I)
    return ""


def _shorten(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"
