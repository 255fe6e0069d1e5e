"""The LLM-written parts of a digest: method analyses (map → reduce over the full text), translations and the
executive summary. Each is validated before use, retried once with the problems spelled out, then falls
back (abstract-only analysis / untranslated text / a plain list) with the reason recorded — never published
half-done. Each result is cached by (paper key, prompt id@version, model, language).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field

from ingest.catalog import Catalog
from ingest.chunking import chunk_body
from ingest.records import PaperMeta
from rag.digest import validate
from rag.digest.artifacts import ArtifactCache
from rag.digest.formats import ANALYSIS_HEADINGS, SUMMARY_HEADINGS
from rag.digest.model import Analysis, Digest
from rag.llm.base import LLMError
from rag.prompts import Prompt, load_prompt

LANGUAGE_NAMES = {"zh": "Simplified Chinese (简体中文)", "en": "English"}
_CHARS_PER_TOKEN = 3.0  # conservative for Qwen-family tokenizers (measured ≤ 5.1 on arXiv text)
_SKIP_KINDS = ("references",)


@dataclass
class WriterStats:
    llm_calls: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # first try / after retry / fallback / failed

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


class DigestWriter:
    def __init__(self, settings, *, llm=None, cache: ArtifactCache | None = None):
        self.settings = settings
        self._llm = llm
        self.cache = cache or ArtifactCache(settings.catalog_path)
        self.catalog = Catalog(settings.catalog_path)
        self.stats = WriterStats()
        self._model_id: str | None = getattr(llm, "model", None) and f"{llm.backend}:{llm.model}"

    # The LLM is built only on a cache miss: re-running a finished day loads no model at all.
    @property
    def llm(self):
        if self._llm is None:
            from rag.llm.select import get_llm

            self._llm = get_llm(self.settings)
        return self._llm

    @property
    def model_id(self) -> str:
        if self._model_id is None:
            from rag.llm.select import model_identity

            self._model_id = model_identity(self.settings)
        return self._model_id

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
        headings = ANALYSIS_HEADINGS[fmt][language]
        reasons: list[str] = []
        plans: list[tuple[str, str]] = []
        if fulltext:
            try:
                material = self._notes(meta)
                if material.strip():
                    plans.append(("full text", material))
                else:
                    reasons.append("the full text gave no usable notes")
            except LLMError as exc:
                reasons.append(f"reading the full text failed: {exc}")
        plans.append(("abstract only", ""))
        for basis, material in plans:
            problems: list[str] = []
            for attempt in range(2):
                text, verdict = self._generate_checked(prompt, meta, fmt, language, headings, basis, material,
                                                       problems=problems)
                if verdict is not None and verdict.ok:
                    if fulltext and basis == "abstract only":
                        outcome = "fallback"
                    else:
                        outcome = "first try" if attempt == 0 else "after retry"
                    return Analysis(verdict.text, basis, outcome, "; ".join(reasons))
                problems = verdict.problems if verdict is not None else [text]
                reasons.append(f"{basis}, try {attempt + 1}: " + "; ".join(problems))
        return Analysis("", "abstract only", "failed", "; ".join(reasons))

    def _generate_checked(self, prompt: Prompt, meta: PaperMeta, fmt: str, language: str, headings: list[str],
                          basis: str, material: str, *, problems: list[str]):
        messages = prompt.messages(
            title=meta.title, authors=", ".join(meta.authors[:12]), abstract=meta.abstract,
            code_links=", ".join(meta.code_links), material=material, basis=basis, headings=headings,
            language_name=LANGUAGE_NAMES[language])
        if problems:
            messages.append({"role": "user", "content": "Your previous answer was rejected: " + "; ".join(
                problems[-3:])[:600] + ". Write the complete analysis again with every heading, and finish it."})
        try:
            out = self._chat(messages, prompt, purpose=f"analysis:{fmt}:{meta.key}",
                             max_tokens=self.settings.digest.analysis_max_tokens)
        except LLMError as exc:
            return f"LLM error: {exc}", None
        verdict = validate.check_analysis(out.text, fmt=fmt, language=language, finish_reason=out.finish_reason)
        # a line that is nothing but a bracketed phrase (not a citation like [3]) is the template's
        # instruction echoed back, in whatever language, instead of content
        copied = [m for m in re.findall(r"^\s*\[([^\]]{4,200})\]\s*$", verdict.text, re.M)
                  if not re.fullmatch(r"[\d,\s–-]+", m)]
        if verdict.ok and copied:
            verdict = dataclasses.replace(
                verdict, ok=False, retryable=True, kind="format",
                problems=[*verdict.problems, f"copied the template's instruction [{copied[0].strip()[:60]}]"])
        return out.text, verdict

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
        budget_chars = int(self.settings.digest.map_input_tokens * _CHARS_PER_TOKEN)
        rows = self.catalog.db.execute(
            "SELECT section, kind, text FROM chunks WHERE paper_key=? ORDER BY ordinal", (meta.key,)).fetchall()
        parts: list[tuple[str, str]] = []
        sections: list[str] = []
        buf = ""
        for row in rows:
            if row["kind"] in _SKIP_KINDS:
                continue
            body = chunk_body(row["text"])
            section = (row["section"] or "Front matter").split(" › ")[0]
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
        result = (meta.title, meta.abstract, "fallback")
        reasons = []
        for attempt in range(2):
            try:
                out = self._chat(prompt.messages(title=meta.title, abstract=meta.abstract,
                                                 language_name=LANGUAGE_NAMES[language]), prompt,
                                 purpose=f"translation:{meta.key}",
                                 max_tokens=max(256, int(len(meta.abstract) / 1.5)))
            except LLMError as exc:
                reasons.append(str(exc))
                break
            title, abstract = _split_translation(out.text)
            t_ok = validate.check_translation(title, language=language)
            a_ok = validate.check_translation(abstract, language=language)
            if t_ok.ok and a_ok.ok and out.finish_reason != "length":
                result = (t_ok.text, a_ok.text, "first try" if attempt == 0 else "after retry")
                break
            reasons.append("; ".join(t_ok.problems + a_ok.problems) or f"finish reason {out.finish_reason}")
        self.cache.put("translation", meta.key, prompt.key, self.model_id, language,
                       f"{result[0]}\n{result[1]}", outcome=result[2], reason="; ".join(reasons))
        self.stats.count(result[2])
        return result

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
        text, outcome, reasons = "", "fallback", []
        for attempt in range(2):
            try:
                out = self._chat(messages, prompt, purpose=f"summary:{digest.date}",
                                 max_tokens=self.settings.digest.summary_max_tokens)
            except LLMError as exc:
                reasons.append(str(exc))
                break
            verdict = validate.check_summary(out.text, date=digest.date, language=digest.language,
                                             paper_titles=titles, finish_reason=out.finish_reason)
            if verdict.ok:
                text, outcome = verdict.text, "first try" if attempt == 0 else "after retry"
                break
            reasons.append("; ".join(verdict.problems))
            messages = messages + [{"role": "assistant", "content": out.text},
                                   {"role": "user", "content": "Rejected: " + "; ".join(verdict.problems)[:500]
                                    + ". Write the whole summary again, fixing this."}]
        if not text:
            text = _plain_summary(digest)
        self.cache.put("summary", subject, prompt.key, self.model_id, digest.language, text, outcome=outcome,
                       reason="; ".join(reasons))
        self.stats.count(outcome)
        return text, outcome

    # ------------------------------------------------------------------ plumbing
    def _chat(self, messages, prompt: Prompt, *, purpose: str, max_tokens: int):
        self.stats.llm_calls += 1
        messages = _fit_messages(messages, self.settings.llm.context_tokens, max_tokens)
        return self.llm.chat(messages, max_tokens=max_tokens, purpose=purpose, prompt_id=prompt.id,
                             prompt_version=str(prompt.version))


def _fit_messages(messages: list[dict], context_tokens: int, max_tokens: int) -> list[dict]:
    """Cut the longest user message so prompt + answer fit the context (never crash on overflow)."""
    budget_chars = int((context_tokens - max_tokens - 64) * _CHARS_PER_TOKEN)
    total = sum(len(m["content"]) for m in messages)
    if total <= budget_chars:
        return messages
    longest = max(range(len(messages)), key=lambda i: len(messages[i]["content"]))
    cut = len(messages[longest]["content"]) - (total - budget_chars)
    out = [dict(m) for m in messages]
    out[longest]["content"] = out[longest]["content"][: max(200, cut)] + "\n[… cut to fit the context]"
    return out


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
