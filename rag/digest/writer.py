"""The LLM-written parts of a digest: method analyses (map → reduce over the full text), translations and the
executive summary. Each is validated before use, retried once with the problems spelled out, then falls
back (abstract-only analysis / untranslated text / a plain list) with the reason recorded — never published
half-done. Each result is cached by (paper key, prompt id@version, model, language).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from indexes.artifacts import ArtifactCache
from paperrag.components import Components
from paperrag.records import PaperMeta
from paperrag.text import chunk_body
from rag.budget import fit_messages, token_chars
from rag.digest import validate
from rag.digest.formats import ANALYSIS_HEADINGS, SUMMARY_HEADINGS
from rag.digest.model import Analysis, Digest
from rag.gated import (
    Check,
    Gated,
    OnError,
    Rejection,
    fall_back,
    generate_gated,
    retry_message,
)
from rag.llm.base import ChatResult, LLMError
from rag.prompts import Prompt, load_prompt

LANGUAGE_NAMES = {"zh": "Simplified Chinese (简体中文)", "en": "English"}
_SKIP_KINDS = ("references",)


@dataclass
class WriterStats:
    llm_calls: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # first try / after retry / fallback / failed

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


class DigestWriter:
    """Writes the LLM parts of a digest with the Library's components (`paperrag.components.Components`)."""

    def __init__(self, parts: Components):
        self.parts = parts
        self.settings = parts.settings
        self.cache: ArtifactCache = parts.artifacts
        self.catalog = parts.catalog
        self.stats = WriterStats()

    # The LLM is built only on a cache miss: re-running a finished day loads no model at all.
    @property
    def llm(self):
        return self.parts.llm

    @property
    def model_id(self) -> str:
        return self.parts.model_id

    # ------------------------------------------------------------------ analysis
    def analysis(self, meta: PaperMeta, fmt: str, language: str, *, fulltext: bool) -> Analysis:
        prompt = load_prompt(f"analysis_{fmt}")
        map_prompt = load_prompt("analysis_map")
        key = f"{prompt.key}+{map_prompt.key}"
        cached = self.cache.get(f"analysis:{fmt}", meta.key, key, self.model_id, language)
        if cached is not None:
            return Analysis(cached.content, cached.extra.get("basis", "full text"), cached.outcome, cached.reason)
        result = self._write_analysis(meta, fmt, language, prompt, fulltext=fulltext)
        self.cache.put(f"analysis:{fmt}", meta.key, key, self.model_id, language, result.text,
                       outcome=result.outcome, reason=result.reason, extra={"basis": result.basis})
        self.stats.count(result.outcome)
        return result

    def _write_analysis(self, meta: PaperMeta, fmt: str, language: str, prompt: Prompt, *, fulltext: bool) -> Analysis:
        """From the full text's notes, falling back to the abstract alone (itself retried once); without the full
        text, from the abstract. `reason`: why the full text was not used, then every rejected try."""
        headings = ANALYSIS_HEADINGS[fmt][language]
        reasons: list[str] = []
        material = ""
        if fulltext:
            try:
                material = self._notes(meta)
                if not material.strip():
                    reasons.append("the full text gave no usable notes")
            except LLMError as exc:
                reasons.append(f"reading the full text failed: {exc}")

        def write(basis: str, body: str, fallback: Callable[[list[str]], str | None] | None = None) -> Gated[str]:
            return generate_gated(
                lambda prev: self._analysis_reply(prompt, meta, fmt, language, headings, basis, body, prev),
                lambda out: _checked_analysis(out, fmt=fmt, language=language),
                fallback=fallback, feedback=_analysis_feedback)

        abstract: list[Gated[str]] = []  # the abstract-only fallback's record, once it has run

        def abstract_only(_problems: list[str]) -> str | None:
            abstract.append(write("abstract only", ""))
            return abstract[0].value

        basis = "full text" if fulltext and material.strip() else "abstract only"
        if basis == "full text":
            g = write(basis, material, fallback=abstract_only)
        elif fulltext:  # no usable full text: straight to the fallback
            g = fall_back(abstract_only, [])
        else:
            g = write(basis, "")
        for b, run in ((basis, g), *(("abstract only", a) for a in abstract)):
            reasons += [f"{b}, try {n}: " + "; ".join(r.problems) for n, r in enumerate(run.rejected, 1)]
        return Analysis(g.value or "", basis if g.ok else "abstract only", g.outcome, "; ".join(reasons))

    def _analysis_reply(self, prompt: Prompt, meta: PaperMeta, fmt: str, language: str, headings: list[str],
                        basis: str, material: str, prev: Rejection | None) -> ChatResult:
        messages = prompt.messages(
            title=meta.title, authors=", ".join(meta.authors[:12]), abstract=meta.abstract,
            code_links=", ".join(meta.code_links), material=material, basis=basis, headings=headings,
            language_name=LANGUAGE_NAMES[language])
        if prev is not None:
            messages.append({"role": "user", "content": prev.feedback})
        return self._chat(messages, prompt, purpose=f"analysis:{fmt}:{meta.key}",
                          max_tokens=self.settings.digest.analysis_max_tokens)

    def _notes(self, meta: PaperMeta) -> str:
        """Map: the body text, grouped by section into parts that fit the map budget → terse notes per part.
        A paper that fits whole in one part still goes through one map call, so the reduce prompt is small."""
        prompt = load_prompt("analysis_map")
        cached = self.cache.get("notes", meta.key, prompt.key, self.model_id, "en")
        if cached is not None:
            return cached.content
        parts = self._parts(meta)
        notes = []
        for sections, text in parts:
            out = self._chat(prompt.messages(title=meta.title, sections=sections, text=text), prompt,
                             purpose=f"analysis_map:{meta.key}", max_tokens=self.settings.digest.map_max_tokens)
            body = validate.strip_chatter(out.text, "en").strip()
            if body and "nothing relevant" not in body.lower():
                notes.append(f"[{sections}]\n{body}")
        material = "\n\n".join(notes)
        self.cache.put("notes", meta.key, prompt.key, self.model_id, "en", material,
                       outcome="ok", extra={"parts": len(parts)})
        return material

    def _parts(self, meta: PaperMeta) -> list[tuple[str, str]]:
        budget_chars = token_chars(self.settings.digest.map_input_tokens)
        rows = self.catalog.chunks_of(meta.key)
        parts: list[tuple[str, str]] = []
        sections: list[str] = []
        buf = ""
        for row in rows:
            if row.kind in _SKIP_KINDS:
                continue
            body = chunk_body(row.text)
            section = (row.section or "Front matter").split(" › ")[0]
            if buf and len(buf) + len(body) > budget_chars:
                parts.append((", ".join(sections), buf))
                sections, buf = [], ""
            if section not in sections:
                sections.append(section)
            buf += ("\n" if buf else "") + body
        if buf:
            parts.append((", ".join(sections), buf))
        limit = self.settings.digest.max_map_parts
        if limit and len(parts) > limit:  # very long papers: keep the front, where the method is, and say so
            parts = parts[:limit]
        return parts

    # ------------------------------------------------------------------ translation
    def translation(self, meta: PaperMeta, language: str) -> tuple[str, str, str]:
        """(title, abstract, outcome) in `language`; the originals with outcome 'fallback' when it fails."""
        if language == "en":
            return meta.title, meta.abstract, "not needed"
        prompt = load_prompt("translate_paper")
        cached = self.cache.get("translation", meta.key, prompt.key, self.model_id, language)
        if cached is not None:
            title, _, abstract = cached.content.partition("\n")
            return title, abstract, cached.outcome
        messages = prompt.messages(title=meta.title, abstract=meta.abstract, language_name=LANGUAGE_NAMES[language])
        g = generate_gated(  # the retry asks the same again: a second sample, not a correction
            lambda _prev: self._chat(messages, prompt, purpose=f"translation:{meta.key}",
                                     max_tokens=max(256, int(len(meta.abstract) / 1.5))),
            lambda out: _checked_translation(out, language),
            fallback=lambda _problems: (meta.title, meta.abstract), on_error=OnError.STOP)
        (title, abstract), outcome = g.value, g.outcome
        self.cache.put("translation", meta.key, prompt.key, self.model_id, language,
                       f"{title}\n{abstract}", outcome=outcome, reason=g.reason)
        self.stats.count(outcome)
        return title, abstract, outcome

    # ------------------------------------------------------------------ executive summary
    def executive_summary(self, digest: Digest) -> tuple[str, str]:
        """(markdown, outcome); a plain, clearly labelled list of the papers when the LLM's fails validation."""
        prompt = load_prompt("executive_summary")
        keys = ",".join(p.meta.key for p in digest.papers)
        subject = f"{digest.date}:{hashlib.sha256(keys.encode()).hexdigest()[:16]}"
        cached = self.cache.get("summary", subject, prompt.key, self.model_id, digest.language)
        if cached is not None:
            return cached.content, cached.outcome
        headings = SUMMARY_HEADINGS[digest.language]
        papers = [{"n": p.n, "title": p.meta.title,
                   "summary": " ".join(p.key_findings[:2]) or p.meta.abstract[:400]} for p in digest.papers]
        titles = [p.meta.title for p in digest.papers]
        messages = prompt.messages(date=digest.date, papers=papers, headings=headings,
                                   language_name=LANGUAGE_NAMES[digest.language])

        def attempt(prev: Rejection | None) -> ChatResult:
            nonlocal messages
            if prev is not None:
                messages = messages + [{"role": "assistant", "content": prev.raw.text},
                                       {"role": "user", "content": prev.feedback}]
            return self._chat(messages, prompt, purpose=f"summary:{digest.date}",
                              max_tokens=self.settings.digest.summary_max_tokens)

        def check(out: ChatResult) -> Check[str]:
            verdict = validate.check_summary(out.text, date=digest.date, language=digest.language,
                                             paper_titles=titles, finish_reason=out.finish_reason)
            return Check.accept(verdict.text) if verdict.ok else Check.reject(*verdict.problems)

        g = generate_gated(attempt, check, fallback=lambda _problems: _plain_summary(digest), on_error=OnError.STOP,
                           feedback=lambda problems: retry_message(problems, lead="Rejected: ", limit=500,
                                                                   then="Write the whole summary again, fixing this."))
        self.cache.put("summary", subject, prompt.key, self.model_id, digest.language, g.value, outcome=g.outcome,
                       reason=g.reason)
        self.stats.count(g.outcome)
        return g.value, g.outcome

    # ------------------------------------------------------------------ plumbing
    def _chat(self, messages, prompt: Prompt, *, purpose: str, max_tokens: int):
        self.stats.llm_calls += 1
        messages = fit_messages(messages, self.settings.llm.context_tokens, max_tokens)
        return self.llm.chat(messages, max_tokens=max_tokens, purpose=purpose, prompt_id=prompt.id,
                             prompt_version=str(prompt.version))


def _analysis_feedback(problems: list[str]) -> str:
    return retry_message(problems[-3:], then="Write the complete analysis again with every heading, and finish it.")


def _checked_analysis(out: ChatResult, *, fmt: str, language: str) -> Check[str]:
    verdict = validate.check_analysis(out.text, fmt=fmt, language=language, finish_reason=out.finish_reason)
    if not verdict.ok:
        return Check.reject(*verdict.problems)
    # a line that is nothing but a bracketed phrase (not a citation like [3]) is the template's
    # instruction echoed back, in whatever language, instead of content
    copied = [m for m in re.findall(r"^\s*\[([^\]]{4,200})\]\s*$", verdict.text, re.M)
              if not re.fullmatch(r"[\d,\s–-]+", m)]
    if copied:
        return Check.reject(*verdict.problems, f"copied the template's instruction [{copied[0].strip()[:60]}]")
    return Check.accept(verdict.text)


def _checked_translation(out: ChatResult, language: str) -> Check[tuple[str, str]]:
    title, abstract = _split_translation(out.text)
    t_ok = validate.check_translation(title, language=language)
    a_ok = validate.check_translation(abstract, language=language)
    if t_ok.ok and a_ok.ok and out.finish_reason != "length":
        return Check.accept((t_ok.text, a_ok.text))
    return Check.reject(*(t_ok.problems + a_ok.problems or [f"finish reason {out.finish_reason}"]))


def _split_translation(text: str) -> tuple[str, str]:
    text = validate.strip_chatter(text, "zh")
    title = abstract = ""
    for line in text.splitlines():
        m = re.match(r"\s*(?:\*\*)?(TITLE|ABSTRACT|标题|摘要)(?:\*\*)?\s*[:：]\s*(.*)", line, re.I)
        if m:
            if m.group(1).upper() in ("TITLE", "标题"):
                title = m.group(2).strip()
            else:
                abstract = m.group(2).strip()
        elif abstract and line.strip():
            abstract += line.strip()
    return title, abstract


def _plain_summary(digest: Digest) -> str:
    head = ("（自动列表：模型生成的执行摘要未通过校验）" if digest.language == "zh"
            else "(Automatic list: the model's executive summary failed validation.)")
    lines = [head, ""]
    for p in digest.papers:
        finding = p.key_findings[0] if p.key_findings else ""
        lines.append(f"- {p.n}. **{p.meta.title}** — {finding}")
    return "\n".join(lines)
