"""Ollama backend, through the official `ollama` Python client.

Always sends `num_ctx` (Ollama's own default of a few thousand tokens silently truncates RAG prompts),
`num_predict` and `temperature`; maps `done_reason` → finish_reason and `prompt_eval_count`/`eval_count` →
tokens. Every failure comes out as an `LLMError` subclass with a one-line message.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import ollama
from ollama._client import (
    _parse_host,  # the client's own host normalisation (":11434", "http://…")
)

from rag.llm.base import (
    BaseLLM,
    ChatOptions,
    ChatResult,
    ContextOverflow,
    LLMError,
    LLMTimeout,
    LLMUnavailable,
    Message,
    ModelMissing,
    map_finish_reason,
    min_tokens,
)

if TYPE_CHECKING:
    from paperrag.settings import LLMSettings

DEFAULT_HOST = "http://127.0.0.1:11434"


def resolve_host(llm: LLMSettings | None = None, host: str | None = None) -> str:
    """The Ollama URL to use: explicit `host`, else llm.ollama_host when set explicitly (toml / PAPERRAG_LLM__
    OLLAMA_HOST), else $OLLAMA_HOST, else the llm.ollama_host default."""
    if host:
        return _parse_host(host)
    if llm is not None and "ollama_host" in llm.model_fields_set:
        return _parse_host(llm.ollama_host)
    env = os.environ.get("OLLAMA_HOST")
    if env:
        return _parse_host(env)
    return _parse_host(llm.ollama_host if llm is not None else DEFAULT_HOST)


def _unavailable(host: str, detail: str = "") -> LLMUnavailable:
    extra = f" ({detail})" if detail else ""
    return LLMUnavailable(
        f"Ollama is not reachable at {host}{extra}; start it with `ollama serve`, or point llm.ollama_host / "
        f"OLLAMA_HOST at a running server, or use the embedded model (llm.backend = \"llamacpp\")"
    )


def is_reachable(host: str | None = None, timeout: float = 1.0) -> bool:
    """True when an Ollama server answers GET /api/tags at `host` within `timeout` seconds."""
    try:
        r = httpx.get(f"{_parse_host(host)}/api/tags", timeout=timeout)
        return r.status_code == 200 and "models" in r.json()
    except (httpx.HTTPError, ValueError, OSError):
        return False


def list_models(host: str | None = None, timeout: float = 5.0) -> list[str]:
    """Names of the models on the server (e.g. "qwen2.5:7b-instruct"); LLMUnavailable when unreachable."""
    host = _parse_host(host)
    try:
        resp = ollama.Client(host=host, timeout=timeout).list()
    except (ConnectionError, httpx.HTTPError, ollama.ResponseError) as exc:
        raise _unavailable(host, _short(exc)) from None
    return [m.model for m in resp.models if m.model]


def _norm(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def model_present(model: str, names: list[str]) -> bool:
    """Whether `model` is among `names`, treating a missing tag as ":latest" like Ollama does."""
    want = _norm(model)
    return any(_norm(n) == want for n in names)


def server_version(host: str | None = None, timeout: float = 2.0) -> str | None:
    try:
        r = httpx.get(f"{_parse_host(host)}/api/version", timeout=timeout)
        return r.json().get("version")
    except (httpx.HTTPError, ValueError, OSError):
        return None


def _short(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return msg[:200]


class OllamaLLM(BaseLLM):
    backend = "ollama"
    deadline_guard = True

    def __init__(
        self,
        model: str,
        host: str | None = None,
        *,
        context_tokens: int = 8192,
        max_tokens: int = 1024,
        temperature: float = 0.2,
        timeout_s: float = 600.0,
        keep_alive: str | float | None = "10m",
    ):
        self.model = model
        self.host = _parse_host(host or os.environ.get("OLLAMA_HOST"))
        self.context_tokens = int(context_tokens)
        self.default_max_tokens = int(max_tokens)
        self.default_temperature = float(temperature)
        self.timeout_s = float(timeout_s)
        self.keep_alive = keep_alive
        timeout = httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, 10.0))
        self._client = ollama.Client(host=self.host, timeout=timeout)

    @classmethod
    def from_settings(cls, llm: LLMSettings, host: str | None = None) -> OllamaLLM:
        return cls(
            llm.ollama_model,
            resolve_host(llm, host),
            context_tokens=llm.context_tokens,
            max_tokens=llm.max_output_tokens,
            temperature=llm.temperature,
            timeout_s=llm.timeout_s,
        )

    # ------------------------------------------------------------------ helpers
    def _request(self, messages: list[Message], opts: ChatOptions, stream: bool) -> dict[str, Any]:
        # Ollama silently truncates a prompt longer than num_ctx: refuse one that certainly cannot fit
        at_least = sum(min_tokens(m["content"]) for m in messages)
        if at_least >= self.context_tokens:
            chars = sum(len(m["content"]) for m in messages)
            raise ContextOverflow(
                f"prompt of {chars} characters (at least {at_least} tokens) cannot fit in the "
                f"{self.context_tokens}-token context (llm.context_tokens); send fewer passages or raise the context"
            )
        options: dict[str, Any] = {
            "num_ctx": self.context_tokens,
            "num_predict": opts.max_tokens,
            "temperature": opts.temperature,
        }
        if opts.stop:
            options["stop"] = opts.stop
        kw: dict[str, Any] = {"model": self.model, "messages": messages, "options": options, "stream": stream}
        if opts.json_mode:  # Ollama ≥ 0.5 constrains the reply to a JSON schema given as `format`
            kw["format"] = opts.json_mode if isinstance(opts.json_mode, dict) else "json"
        if self.keep_alive is not None:
            kw["keep_alive"] = self.keep_alive
        return kw

    def _map_error(self, exc: BaseException, model: str | None = None) -> LLMError:
        model = model or self.model
        if isinstance(exc, LLMError):
            return exc
        if isinstance(exc, httpx.TimeoutException):
            return LLMTimeout(
                f"Ollama at {self.host} did not answer within {self.timeout_s:g} s (llm.timeout_s) for model "
                f"{model}; raise the timeout or use a smaller model"
            )
        if isinstance(exc, (ConnectionError, httpx.ConnectError)):
            return _unavailable(self.host)
        if isinstance(exc, ollama.ResponseError):
            err = str(exc.error)
            low = err.lower()
            if exc.status_code == 404 or ("model" in low and "not found" in low) or "try pulling" in low:
                return ModelMissing(
                    f"model {model!r} is not on the Ollama server at {self.host}; run `ollama pull {model}` "
                    f"(or set llm.ollama_model to one listed by `ollama list`)"
                )
            if "context" in low and ("exceed" in low or "too long" in low or "length" in low):
                return ContextOverflow(f"Ollama refused the prompt: {err} (llm.context_tokens={self.context_tokens})")
            code = f" (HTTP {exc.status_code})" if exc.status_code and exc.status_code > 0 else ""
            return LLMError(f"Ollama at {self.host} returned an error{code}: {err}")
        if isinstance(exc, (httpx.TransportError, httpx.StreamError, json.JSONDecodeError)):
            return LLMError(
                f"connection to Ollama at {self.host} broke during the answer ({type(exc).__name__}: "
                f"{_short(exc)}); is the server still running?"
            )
        return LLMError(f"Ollama call failed: {type(exc).__name__}: {_short(exc)}")

    # ------------------------------------------------------------------ LLM
    def _chat(self, messages: list[Message], opts: ChatOptions) -> ChatResult:
        kw = self._request(messages, opts, stream=False)
        t0 = time.perf_counter()
        try:
            resp = self._client.chat(**kw)
        except Exception as exc:
            raise self._map_error(exc) from None
        first = None
        if resp.prompt_eval_duration is not None:
            first = ((resp.load_duration or 0) + resp.prompt_eval_duration) / 1e9
        return self._result(
            resp.message.content or "",
            map_finish_reason(resp.done_reason),
            resp.prompt_eval_count,
            resp.eval_count,
            t0,
            first,
        )

    def _stream(self, messages: list[Message], opts: ChatOptions) -> Generator[str, None, ChatResult]:
        kw = self._request(messages, opts, stream=True)
        t0 = time.perf_counter()
        parts: Iterator[Any] | None = None
        pieces: list[str] = []
        first: float | None = None
        final = None
        try:
            parts = self._client.chat(**kw)
            for part in parts:
                text = part.message.content if part.message is not None else ""
                if text:
                    if first is None:
                        first = time.perf_counter() - t0
                    pieces.append(text)
                    yield text
                if part.done:
                    final = part
                    break
                if time.perf_counter() - t0 > self.timeout_s:
                    raise httpx.ReadTimeout("total time exceeded")
        except Exception as exc:
            raise self._map_error(exc) from None
        finally:
            if parts is not None and hasattr(parts, "close"):
                parts.close()  # closes the HTTP response
        if final is None:
            raise LLMError(
                f"Ollama at {self.host} ended the answer stream without a final message (got "
                f"{len(''.join(pieces))} characters); is the server still running?"
            )
        return self._result(
            "".join(pieces),
            map_finish_reason(final.done_reason),
            final.prompt_eval_count,
            final.eval_count,
            t0,
            first,
        )

    # ------------------------------------------------------------------ extras
    def is_reachable(self, timeout: float = 1.0) -> bool:
        return is_reachable(self.host, timeout)

    def list_models(self) -> list[str]:
        return list_models(self.host)

    def show(self) -> dict[str, Any]:
        """/api/show for the model (details, model_info); ModelMissing when absent."""
        try:
            return self._client.show(self.model).model_dump(mode="json", exclude_none=True, by_alias=True)
        except Exception as exc:
            raise self._map_error(exc) from None

    def embed(self, texts: list[str], model: str | None = None) -> list[list[float]]:
        """Embeddings via /api/embed (optional helper; the corpus embedder is sentence-transformers)."""
        try:
            resp = self._client.embed(model=model or self.model, input=texts, keep_alive=self.keep_alive)
        except Exception as exc:
            raise self._map_error(exc, model) from None
        return [list(v) for v in resp.embeddings]
