"""A deterministic, scripted LLM backend (`llm.backend = "fake"`): no model, no network, instant answers.

For tests and demos: the whole app (CLI, web UI, digests, compare) runs offline and gives the same output for
the same input. `FakeLLM` answers each prompt by its id (`prompt_id`; recognised from the system prompt when
a caller passes none) with small outputs that pass the product's own checks:

* `answer`: the numbered sentence that shares most words with the question, cited by its number (in Chinese
  when the prompt asks for Chinese); `NOT_IN_PAPERS` when no sentence shares a word with it.
* `card_field`: points at the numbered sentence that shares most (stemmed) words with the question,
  `{"value": "<that sentence, ≤ 20 words>", "sentences": [n]}` (`{"value": "not stated", "sentences": []}` when
  no sentence shares a word), or for the results field `{"results": [{"metric", "value": <a number printed in
  the best sentence with a number>, "benchmark", "setting", "sentences": [n]}]}` (`{"results": []}` without one).
* `compare_aspect`: JSON quoting excerpt [1] - `{"value": "<its best sentence, ≤ 25 words>"}`.
* `compare_synthesis`: one sentence per numbered fact (at most the number asked for), each citing its fact.
* `digest_span`: one sentence in the prompt's language stating the fact, with the fact's numbers copied (they
  are in its quotes when the card is right); `translate_title`: the title with a Chinese gloss.
* `find_paper`: `{"sentences": [n], "match": …}` for the sentence sharing most words with the question, a match
  when it shares at least two.
* `condense_question`: the follow-up with the previous question as context; `translate_query`: the
  question's ASCII terms (English keywords).
* anything else (e.g. `paperrag doctor`'s speed test): a fixed sentence.

Outputs are short and never cut at `max_tokens` (finish reason "stop"); a prompt that cannot fit
`llm.context_tokens` raises ContextOverflow like the real backends. Streams come in word pieces.

Scripted responses: `llm.fake_responses` names a JSON file mapping a prompt id to a list of responses,
consumed in order ("*": for every prompt without a list of its own); once a list is used up the built-in
answer above is given again. A response is a string, `{"text": "...", "finish_reason": "length"}`, or
`{"error": "timeout" | "unavailable" | "model_missing" | "overflow", "message": "..."}` to raise that
`LLMError`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.llm.base import (
    BaseLLM,
    ChatOptions,
    ChatResult,
    ChatStream,
    ContextOverflow,
    FinishReason,
    LLMError,
    LLMTimeout,
    LLMUnavailable,
    Message,
    ModelMissing,
    min_tokens,
)

if TYPE_CHECKING:
    from paperrag.settings import LLMSettings

MODEL = "scripted"
NOT_IN_PAPERS = "NOT_IN_PAPERS"
DEFAULT_REPLY = "This is a deterministic reply from paperrag's fake LLM backend; no model was run."
_ERRORS: dict[str, type[LLMError]] = {
    "timeout": LLMTimeout,
    "unavailable": LLMUnavailable,
    "model_missing": ModelMissing,
    "overflow": ContextOverflow,
    "error": LLMError,
}


class FakeLLM(BaseLLM):
    """The scripted backend. `responses` maps prompt id (or "*") → responses consumed in order."""

    backend = "fake"
    model = MODEL

    def __init__(
        self,
        *,
        responses: dict[str, Sequence[Any]] | None = None,
        model: str = MODEL,
        backend: str = "fake",
        context_tokens: int = 8192,
        max_tokens: int = 1024,
        temperature: float = 0.2,
        timeout_s: float = 600.0,
        source: str = "",
    ):
        self.backend, self.model = backend, model
        self.context_tokens = context_tokens
        self.default_max_tokens = max_tokens
        self.default_temperature = temperature
        self.timeout_s = timeout_s
        self.source = source  # where the scripted responses came from (for `paperrag doctor`)
        self._queues: dict[str, list[Any]] = {k: list(v) for k, v in (responses or {}).items()}
        self.scripted = sum(len(v) for v in self._queues.values())
        self._lock = threading.Lock()
        self.prompt_ids: list[str] = []  # the prompt id each call was answered as, in order

    @classmethod
    def from_settings(cls, llm: LLMSettings) -> FakeLLM:
        path = getattr(llm, "fake_responses", "") or ""
        return cls(responses=load_responses(path) if path else None, context_tokens=llm.context_tokens,
                   max_tokens=llm.max_output_tokens, temperature=llm.temperature, timeout_s=llm.timeout_s,
                   source=str(path))

    # ------------------------------------------------------------------ the seam
    def chat(self, messages: Sequence[Message], *, max_tokens: int | None = None, temperature: float | None = None,
             stop: list[str] | None = None, json_mode: bool | dict = False, purpose: str = "", prompt_id: str = "",
             prompt_version: str = "") -> ChatResult:
        self._options(max_tokens, temperature, stop, json_mode)  # the same argument checks as every backend
        msgs = self._check_messages(messages)
        t0 = time.perf_counter()
        text, reason = self.respond(msgs, prompt_id=prompt_id, json_mode=json_mode)
        return self._result(text, reason, _tokens_in(msgs), len(_pieces(text)), t0,
                            time.perf_counter() - t0)

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None, temperature: float | None = None,
               stop: list[str] | None = None, json_mode: bool | dict = False, purpose: str = "", prompt_id: str = "",
               prompt_version: str = "") -> ChatStream:
        self._options(max_tokens, temperature, stop, json_mode)
        msgs = self._check_messages(messages)
        t0 = time.perf_counter()
        text, reason = self.respond(msgs, prompt_id=prompt_id, json_mode=json_mode)  # errors raise at call time
        return ChatStream(self._pieces_of(text, reason, msgs, t0))

    def _pieces_of(self, text: str, reason: FinishReason, msgs: list[Message], t0: float
                   ) -> Generator[str, None, ChatResult]:
        pieces = _pieces(text)
        first = None
        for piece in pieces:
            if first is None:
                first = time.perf_counter() - t0
            yield piece
        return self._result(text, reason, _tokens_in(msgs), len(pieces), t0, first)

    # BaseLLM's abstract hooks (chat/stream above do not use them; kept for callers that do)
    def _chat(self, messages: list[Message], opts: ChatOptions | None) -> ChatResult:
        t0 = time.perf_counter()
        text, reason = self.respond(messages, json_mode=bool(opts and opts.json_mode))
        return self._result(text, reason, _tokens_in(messages), len(_pieces(text)), t0, time.perf_counter() - t0)

    def _stream(self, messages: list[Message], opts: ChatOptions | None) -> Generator[str, None, ChatResult]:
        t0 = time.perf_counter()
        text, reason = self.respond(messages, json_mode=bool(opts and opts.json_mode))
        return (yield from self._pieces_of(text, reason, messages, t0))

    # ------------------------------------------------------------------ answers
    def respond(self, messages: Sequence[Message], *, prompt_id: str = "", json_mode: bool | dict = False
                ) -> tuple[str, FinishReason]:
        """(text, finish reason) for `messages`: the next scripted response for the prompt, else the built-in
        one. Raises the scripted LLMError, or ContextOverflow for a prompt that cannot fit the context."""
        messages = list(messages)
        pid = prompt_id or prompt_id_of(messages)
        if min_tokens("\n".join(str(m.get("content", "")) for m in messages)) >= self.context_tokens:
            raise ContextOverflow(f"the prompt does not fit the {self.context_tokens}-token context "
                                  f"(llm.context_tokens)")
        with self._lock:
            self.prompt_ids.append(pid)
            queue = self._queues.get(pid) if pid in self._queues else self._queues.get("*")
            scripted = queue.pop(0) if queue else None
        if scripted is not None:
            return _scripted(scripted)
        return self.reply(messages, prompt_id=pid, json_mode=json_mode), "stop"

    def reply(self, messages: Sequence[Message], *, prompt_id: str = "", json_mode: bool | dict = False) -> str:
        """The built-in deterministic answer to `messages` (no scripted responses, no bookkeeping)."""
        messages = list(messages)
        pid = prompt_id or prompt_id_of(messages)
        system = next((m["content"] for m in messages if m.get("role") == "system"), "")
        user = request_of(messages, pid)
        make = _WRITERS.get(pid)
        if make is None:
            return DEFAULT_REPLY
        return make(system, user)


# ================================================================================================ helpers
def load_responses(path: str | Path) -> dict[str, list[Any]]:
    """The scripted responses file: {prompt_id: [response, ...]}; LLMUnavailable with the reason when unusable."""
    p = Path(path).expanduser()
    try:
        data = json.loads(p.read_text("utf-8"))
    except FileNotFoundError:
        raise LLMUnavailable(f"llm.fake_responses: {p} does not exist") from None
    except (OSError, ValueError) as exc:
        raise LLMUnavailable(f"llm.fake_responses: {p} is not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise LLMUnavailable(f"llm.fake_responses: {p} must hold a JSON object {{prompt_id: [responses]}}")
    out: dict[str, list[Any]] = {}
    for key, value in data.items():
        items = [value] if isinstance(value, (str, dict)) else value
        if not isinstance(items, list) or not all(isinstance(x, (str, dict)) for x in items):
            raise LLMUnavailable(f"llm.fake_responses: {p}: {key!r} must be a list of strings or objects")
        out[str(key)] = items
    return out


def _scripted(item: Any) -> tuple[str, FinishReason]:
    if isinstance(item, str):
        return item, "stop"
    if "error" in item:
        kind = str(item["error"]).lower()
        raise _ERRORS.get(kind, LLMError)(str(item.get("message") or f"scripted {kind} error"))
    reason = item.get("finish_reason", "stop")
    return str(item.get("text", "")), reason if reason in ("stop", "length", "error") else "stop"


def _pieces(text: str) -> list[str]:
    """Word pieces that join back to `text` (whitespace kept with the word before it)."""
    return re.findall(r"\S+\s*|\s+", text)


def _tokens_in(messages: Sequence[Message]) -> int:
    return max(1, sum(len(str(m.get("content", ""))) for m in messages) // 4)


# the prompt a message list was rendered from, when the caller did not say (system-prompt markers, see rag/prompts)
_MARKERS = [
    ("answer", "numbered sentences you are given"),
    ("condense_question", "standalone question"),
    ("translate_query", "English search query"),
    ("find_paper", "is the paper a question asks for"),
    ("card_field", "numbered sentences quoted from ONE research paper"),
    ("compare_aspect", "You answer one question about ONE research paper"),
    ("compare_synthesis", "numbered facts you are given"),
    ("digest_span", "You write one short passage of a research digest"),
    ("translate_title", "You translate the title of a research paper"),
    ("translate_answer", "You translate one sentence of an answer"),
]


def prompt_id_of(messages: Sequence[Message]) -> str:
    """The id of the prompt (rag/prompts/*.toml) `messages` were rendered from, recognised by its wording;
    "" when none matches."""
    system = next((str(m.get("content", "")) for m in messages if m.get("role") == "system"), "")
    for pid, marker in _MARKERS:
        if marker in system:
            return pid
    return ""


def request_of(messages: Sequence[Message], pid: str = "") -> str:
    """The request of a rendered prompt: its first user message that is not one of the prompt's worked examples
    (a retry's feedback comes after it)."""
    examples: set[str] = set()
    pid = pid or prompt_id_of(messages)
    if pid:
        from rag.prompts import load_prompt

        examples = {ex["user"].strip() for ex in load_prompt(pid).examples}
    return next((str(m["content"]) for m in messages if m.get("role") == "user"
                 and str(m.get("content", "")).strip() not in examples), "")


def _zh(system: str) -> bool:
    return "Chinese" in system or "中文" in system


def _sentences(text: str, min_words: int = 3) -> list[str]:
    from paperrag.text import split_sentences

    return [s.strip() for s in split_sentences(text, min_words=min_words) if s.strip()]


_STOP = frozenset("""a an the and or of to in on for with by from as at is are was were be been this that these
those it its we our they their which who what when where how why than then there does do did can may not no into
over under between per via using used use about paper papers say says said""".split())


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9][a-z0-9\-.]*[a-z0-9]|[a-z0-9]", text.lower()) if w not in _STOP}


def _best_sentence(text: str, query: str) -> str:
    """The sentence of `text` sharing most words with `query` (the first one on a tie)."""
    sentences = _sentences(text) or [" ".join(text.split())]
    q = _words(query)
    return max(enumerate(sentences), key=lambda kv: (len(_words(kv[1]) & q), -kv[0]))[1]


def _cut_words(text: str, n: int) -> str:
    words = text.split()
    return " ".join(words[:n]) if len(words) > n else text


def _end(sentence: str, mark: str) -> str:
    """`sentence` with `mark` (a citation) before its final punctuation."""
    s = sentence.rstrip()
    m = re.match(r"^(.*?)([.!?。！？]*)$", s, re.S)
    return f"{m.group(1).rstrip()} {mark}{m.group(2) or '.'}"


# ------------------------------------------------------------------------------------------------ ask
def _answer(system: str, user: str) -> str:
    """The numbered sentence sharing most words with the question, cited by its number (in Chinese when asked)."""
    cands = re.findall(r"^\[(\d+)\] (.+)$", user, re.M)
    question = user.rsplit("Question:", 1)[-1].split("\n", 1)[0]
    q = _words(question)
    scored = [(len(_words(text) & q), -int(n), n, text) for n, text in cands]
    if not scored or max(scored)[0] == 0:
        return NOT_IN_PAPERS
    _, _, n, sentence = max(scored)
    sentence = _cut_words(sentence, 60)
    if _zh(system):  # mostly Chinese, as the answer's language check requires: the sentence's first words only
        return f"根据检索到的句子，论文的原文写道：{_end(_cut_words(sentence, 8), f'[{n}]').rstrip('.')}。"
    return _end(sentence, f"[{n}]")


def _find_paper(system: str, user: str) -> str:
    """The sentence sharing most words with the question; a match when it shares at least two."""
    cands = re.findall(r"^\[(\d+)\] (.+)$", user, re.M)
    q = _words(user.rsplit("Question:", 1)[-1].split("\n", 1)[0])
    best = max(((len(_words(t) & q), -int(n), int(n)) for n, t in cands), default=(0, 0, 0))
    return json.dumps({"sentences": [best[2]] if best[0] else [], "match": best[0] >= 2})


def _condense(system: str, user: str) -> str:
    follow = re.search(r"Follow-up question:\s*(.*?)\n\s*\nStandalone question:", user, re.S)
    question = " ".join((follow.group(1) if follow else user).split())
    earlier = re.findall(r"^User: (.*)$", user, re.M)
    if earlier and earlier[-1].strip() and earlier[-1].strip() != question:
        return f"{question} (about: {' '.join(earlier[-1].split())[:300]})"
    return question


def _translate_query(system: str, user: str) -> str:
    question = user.split("Question:", 1)[-1].split("English search query:", 1)[0]
    terms = re.findall(r"[A-Za-z][A-Za-z0-9\-.]*[A-Za-z0-9]|[0-9]+(?:\.[0-9]+)?", question)
    return " ".join(dict.fromkeys(terms)) if len(" ".join(terms)) >= 3 else "research papers"


# ------------------------------------------------------------------------------------------------ compare
def _excerpt(user: str, n: int = 1) -> str:
    m = re.search(rf"^\[{n}\] \(page [^)\n]*\) (.*?)(?=\n\s*\n\[\d+\] \(page |\n\s*\nQuestion:|\nQuestion:|\Z)",
                  user, re.S | re.M)
    return " ".join(m.group(1).split()) if m else ""


def _question(user: str) -> str:
    m = re.search(r"Question: (.*)", user)
    return m.group(1) if m else ""


_METRIC_SKIP = _STOP | {"reaches", "reach", "achieves", "achieve", "obtains", "obtain", "gets", "scores", "score",
                        "takes", "our", "up", "about", "around", "only", "all", "each", "every", "single"}


def _candidates(user: str) -> list[tuple[int, str]]:
    """The numbered sentences of a `card_field` prompt: [(n, text)]."""
    block = user.split("Sentences:", 1)[-1].split("\nQuestion:", 1)[0]
    return [(int(n), t.strip()) for n, t in re.findall(r"^\[(\d+)\] (.*)$", block, re.MULTILINE)]


def _card_field(system: str, user: str) -> str:
    from rag.cards import content_stems
    from rag.quotes import numbers

    cands = _candidates(user)
    question = _question(user)
    if "Reply {\"results\"" in user:
        with_numbers = [(n, t) for n, t in cands if numbers(t)]
        if not with_numbers:
            return json.dumps({"results": []})
        q = content_stems(question + " accuracy score result benchmark")
        n, sentence = max(with_numbers, key=lambda c: (len(content_stems(c[1]) & q), -c[0]))
        m = next(iter(re.finditer(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?%?", sentence)), None)
        if m is None:
            return json.dumps({"results": []})
        before = [w for w in re.findall(r"[A-Za-z][A-Za-z\-]+", sentence[: m.start()])
                  if w.lower() not in _METRIC_SKIP]
        bench = re.search(r"\b[Oo]n (?:the )?([A-Z][\w\-]+)", sentence)
        item = {"metric": before[-1] if before else "result", "value": m.group(0),
                "benchmark": bench.group(1) if bench else "", "setting": "", "sentences": [n]}
        return json.dumps({"results": [item]})
    from rag.cards import CARD_SPECS

    asked = re.findall(r"^Question: (.*)$", user, re.MULTILINE)  # the last: a quoted sentence may hold one too
    spec = next((s for s in CARD_SPECS.values() if asked and s.question == asked[-1].strip()), None)
    if spec is not None and spec.cues:  # a field stated in a few words: only a sentence with one of them
        cands = [(n, t) for n, t in cands if re.search(rf"\b(?:{spec.cues})\b", t, re.IGNORECASE)]
    q = content_stems(question)
    scored = [(len(content_stems(t) & q), -n, n, t) for n, t in cands]
    if not scored or max(scored)[0] == 0:
        return json.dumps({"value": "not stated", "sentences": []})
    _, _, n, sentence = max(scored)
    return json.dumps({"value": _cut_words(sentence, 20).rstrip(" .…"), "sentences": [n]}, ensure_ascii=False)


def _value(user: str) -> str:
    text = _excerpt(user)
    if not text:
        return json.dumps({"value": "not stated"})
    sentence = _cut_words(_best_sentence(text, _question(user)), 25).rstrip(" .")
    return json.dumps({"value": sentence}, ensure_ascii=False)


def _aspect(system: str, user: str) -> str:
    return _value(user)


_ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"]


def _synthesis(system: str, user: str) -> str:
    most = re.search(r"Write 2 to (\d+)", system)
    limit = int(most.group(1)) if most else 4
    papers = re.findall(r"^- (\S+): ", user.split("Facts:", 1)[0], re.M)
    facts = re.findall(r"^\[(\d+)\] (\S+) — (.+?): (.*)$", user, re.M)
    out = []
    for n, paper, aspect, value in facts[:limit]:
        idx = papers.index(paper) if paper in papers else -1
        who = f"the {_ORDINALS[idx]} paper" if 0 <= idx < len(_ORDINALS) else "another paper"
        value = re.sub(r"([.!?])\s+", "; ", value.strip()).rstrip(" .;")
        out.append(f"On {aspect}, {who} reports {value} [{n}].")
    return " ".join(out)


# ------------------------------------------------------------------------------------------------ digest
def _span(system: str, user: str) -> str:
    from rag.quotes import numbers

    blocks = [b.strip() for b in re.split(r"\n\s*\n", user) if b.strip()]
    fact = re.match(r"^[^:\n]{1,40}: (.*)$", blocks[-2]) if len(blocks) >= 2 else None
    value = fact.group(1).strip() if fact else ""
    nums = [n for n in re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?:万|亿)?", value) if n.rstrip("万亿") in numbers(value)]
    if not _zh(system):
        v = value.rstrip(" .")
        return (v[:1].upper() + v[1:] + ".") if v else "The paper states this fact."
    text = "论文在这一方面的说明是：该要点依据所给的原文句子写成，内容与原文一致"
    if nums:
        text += "，涉及的数字为 " + "、".join(dict.fromkeys(nums))
    formulas = re.findall(r"\[(?:M|MATH)X*\d+\]", value)  # formula placeholders (paperrag.latex): kept as given
    if formulas:
        text += "，公式为 " + "、".join(formulas)
    return text + "。"


def _translate_title(system: str, user: str) -> str:
    from rag.digest.validate import check_translation

    title = re.search(r"^Title: (.*)$", user, re.M)
    t = title.group(1).strip() if title else ""
    if not _zh(system):
        return t
    zh_title = f"{t}（中文译名）"
    if not check_translation(zh_title, language="zh", part="title").ok:
        zh_title = "论文标题的中文翻译"
    return zh_title


def _translate_answer(system: str, user: str) -> str:
    """A Chinese sentence keeping every number of the English one (what the translation's check asks)."""
    from rag.quotes import numbers

    sentence = user.strip()
    nums = [n for n in re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?:万|亿)?", sentence) if n.rstrip("万亿") in numbers(sentence)]
    text = "这句回答的中文译文依据论文的原文句子写成"
    if nums:
        text += "，涉及的数字为 " + "、".join(dict.fromkeys(nums))
    return text + "。"


_WRITERS = {
    "answer": _answer,
    "condense_question": _condense,
    "translate_query": _translate_query,
    "find_paper": _find_paper,
    "card_field": _card_field,
    "compare_aspect": _aspect,
    "compare_synthesis": _synthesis,
    "digest_span": _span,
    "translate_title": _translate_title,
    "translate_answer": _translate_answer,
}
