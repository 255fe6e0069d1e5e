"""Fake LLMs for logic tests (never for quality claims: the real models run in the slow tests).

* `ScriptedLLM(reply)`: answers from `reply` and records every call. `reply` is a string (the same answer every
  time), a function of the messages, or a list of those consumed in order (the last one repeats). Backend,
  model, token counts and finish reason are settable, so it also stands in for "a llama.cpp model whose cells
  were cached" or "a model that always says 'No [1].'". Like the llama.cpp backend, whose model is locked until
  a stream ends, it refuses a `chat()` while one of its streams is open.
* `ValidWriterLLM()`: writes digest outputs (analyses, translations, map notes, executive summaries) that pass
  the quality gates, in the language the prompt asks for — the product's own deterministic fake backend
  (`rag.llm.fake_backend.FakeLLM`) under the model name "writer".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rag.llm.base import BaseLLM, ChatOptions, ContextOverflow
from rag.llm.fake_backend import FakeLLM

Reply = str | Callable[[list[dict]], str]


class ScriptedLLM(BaseLLM):
    """Answers from a function of the messages; records every call (a fake for logic tests only).

    `calls` holds the messages of each call, `labels` its purpose / prompt_id / json_mode. Streams come in
    pieces of `piece` characters, so citations arrive split across pieces. `overflow_first` makes the first
    `stream()` raise ContextOverflow at call time, like a backend that checks the prompt up front.
    """

    def __init__(self, reply: Reply | Sequence[Reply] = "", *, overflow_first: bool = False,
                 backend: str = "scripted", model: str = "scripted", context_tokens: int = 8192,
                 tokens: tuple[int, int] = (10, 10), finish_reason: str = "stop", piece: int = 7):
        self.replies: list[Reply] = list(reply) if isinstance(reply, (list, tuple)) else [reply]
        if not self.replies:
            raise ValueError("ScriptedLLM needs at least one reply")
        self.backend, self.model, self.context_tokens = backend, model, context_tokens
        self.tokens = tokens
        self.finish_reason = finish_reason
        self.piece = piece
        self.overflow_first = overflow_first
        self.calls: list[list[dict]] = []
        self.labels: list[dict] = []
        self.streaming = False

    @property
    def reply(self) -> Callable[[list[dict]], str]:
        """The reply the next call gets, as a function of the messages."""
        r = self.replies[min(len(self.calls), len(self.replies) - 1)]
        return r if callable(r) else (lambda messages, text=r: text)

    def _answer(self, messages) -> str:
        text = self.reply(messages)
        self.calls.append(messages)
        return text

    def chat(self, messages, **kw):
        self.labels.append(_labels(kw))
        return super().chat(messages, **kw)

    def stream(self, messages, **kw):
        if self.overflow_first:  # raise at call time, like a backend that checks the prompt up front
            self.overflow_first = False
            raise ContextOverflow("prompt does not fit")
        self.labels.append(_labels(kw))
        return super().stream(messages, **kw)

    def _chat(self, messages, opts: ChatOptions):
        if self.streaming:  # the llama.cpp backend holds its model's lock until a stream ends: this would hang
            raise AssertionError("chat() called while a stream of the same model is still open")
        return self._result(self._answer(messages), self.finish_reason, *self.tokens, 0.0, 0.0)

    def _stream(self, messages, opts: ChatOptions):
        text = self._answer(messages)
        self.streaming = True
        try:
            for i in range(0, len(text), self.piece):
                yield text[i:i + self.piece]
        finally:
            self.streaming = False
        return self._result(text, self.finish_reason, *self.tokens, 0.0, 0.0)


def _labels(kw: dict) -> dict:
    return {k: kw.get(k, "") for k in ("purpose", "prompt_id", "json_mode")}


class ValidWriterLLM(FakeLLM):
    """Writes outputs that pass the quality gates, in the language asked for (a fake for cache logic)."""

    def __init__(self, **kw):
        kw.setdefault("backend", "scripted")
        kw.setdefault("model", "writer")
        super().__init__(**kw)


def writer_reply(messages: list[dict]) -> str:
    """What ValidWriterLLM answers to `messages` (for servers that take a reply function, e.g. the Ollama one)."""
    return ValidWriterLLM().reply(messages)


_models = __import__("itertools").count()


def scripted(reply, *, prefix: str = "scripted", **kw) -> ScriptedLLM:
    """A scripted LLM with a model name of its own, so no test reads what another test cached."""
    llm = ScriptedLLM(reply, **kw)
    llm.model = f"{prefix}-{next(_models)}"
    return llm
