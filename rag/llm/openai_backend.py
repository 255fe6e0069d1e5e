"""Any OpenAI-compatible chat server (vLLM, llama.cpp `llama-server`, LM Studio, …) over plain httpx.

`POST {base_url}/chat/completions`, JSON or SSE streaming (`stream_options.include_usage` asked for, so token
counts come from the server when it supports it). `base_url` includes the API prefix, e.g.
http://127.0.0.1:8000/v1. An empty model name means "the first model GET {base_url}/models lists".
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import httpx

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
)

if TYPE_CHECKING:
    from paperrag.settings import LLMSettings


def _short(text: str, n: int = 200) -> str:
    return " ".join(text.split())[:n]


def _error_text(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return _short(resp.text)
    err = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(err, dict):
        return _short(str(err.get("message") or err))
    return _short(str(err))


class OpenAILLM(BaseLLM):
    backend = "openai"
    deadline_guard = True

    def __init__(
        self,
        base_url: str,
        model: str = "",
        *,
        api_key: str = "not-needed",
        context_tokens: int = 8192,
        max_tokens: int = 1024,
        temperature: float = 0.2,
        timeout_s: float = 600.0,
    ):
        if not base_url:
            raise LLMUnavailable(
                "no OpenAI-compatible server configured; set llm.openai_base_url (e.g. http://127.0.0.1:8000/v1)"
            )
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.context_tokens = int(context_tokens)
        self.default_max_tokens = int(max_tokens)
        self.default_temperature = float(temperature)
        self.timeout_s = float(timeout_s)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, 10.0)),
        )
        self._stream_usage = True  # cleared if the server rejects stream_options

    @classmethod
    def from_settings(cls, llm: LLMSettings) -> OpenAILLM:
        return cls(
            llm.openai_base_url,
            llm.openai_model,
            api_key=llm.openai_api_key,
            context_tokens=llm.context_tokens,
            max_tokens=llm.max_output_tokens,
            temperature=llm.temperature,
            timeout_s=llm.timeout_s,
        )

    # ------------------------------------------------------------------ helpers
    def list_models(self) -> list[str]:
        try:
            r = self._http.get("/models")
        except Exception as exc:
            raise self._map_exc(exc) from None
        if r.status_code != 200:
            raise self._map_status(r)
        return [m.get("id", "") for m in r.json().get("data", [])]

    def _ensure_model(self) -> None:
        if not self.model:
            names = self.list_models()
            if not names:
                raise ModelMissing(f"the server at {self.base_url} serves no model; start it with one")
            self.model = names[0]

    def _payload(self, messages: list[Message], opts: ChatOptions, stream: bool) -> dict[str, Any]:
        self._ensure_model()
        p: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": opts.max_tokens,
            "temperature": opts.temperature,
            "stream": stream,
        }
        if opts.stop:
            p["stop"] = opts.stop
        if opts.json_mode:
            p["response_format"] = {"type": "json_object"}
        if stream and self._stream_usage:
            p["stream_options"] = {"include_usage": True}
        return p

    def _map_exc(self, exc: BaseException) -> LLMError:
        if isinstance(exc, LLMError):
            return exc
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            return LLMTimeout(
                f"the OpenAI-compatible server at {self.base_url} did not answer within {self.timeout_s:g} s "
                f"(llm.timeout_s); raise the timeout or use a smaller model"
            )
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            return LLMUnavailable(
                f"no OpenAI-compatible server reachable at {self.base_url} (llm.openai_base_url); start one, e.g. "
                f"`vllm serve <model>` or `llama-server -m model.gguf --port 8000`"
            )
        if isinstance(exc, (httpx.TransportError, httpx.StreamError, json.JSONDecodeError)):
            return LLMError(
                f"connection to {self.base_url} broke during the answer ({type(exc).__name__}: "
                f"{_short(str(exc))}); is the server still running?"
            )
        return LLMError(f"OpenAI-compatible call failed: {type(exc).__name__}: {_short(str(exc))}")

    def _map_status(self, resp: httpx.Response) -> LLMError:
        msg = _error_text(resp)
        low = msg.lower()
        code = resp.status_code
        if code in (401, 403):
            return LLMError(f"{self.base_url} refused the API key (HTTP {code}: {msg}); set llm.openai_api_key")
        if code == 404 and "model" in low:
            return ModelMissing(
                f"model {self.model!r} is not served at {self.base_url} ({msg}); set llm.openai_model to one "
                f"listed at {self.base_url}/models or start the server with it"
            )
        if code == 404:
            return LLMUnavailable(
                f"{self.base_url}/chat/completions does not exist (HTTP 404); llm.openai_base_url usually ends in /v1"
            )
        if "context" in low and any(w in low for w in ("length", "exceed", "too long", "maximum")):
            return ContextOverflow(f"the prompt does not fit in the model's context at {self.base_url}: {msg}")
        if code in (502, 503):
            return LLMUnavailable(f"the server at {self.base_url} is not ready (HTTP {code}: {msg})")
        return LLMError(f"{self.base_url} returned HTTP {code}: {msg}")

    # ------------------------------------------------------------------ LLM
    def _chat(self, messages: list[Message], opts: ChatOptions) -> ChatResult:
        t0 = time.perf_counter()
        try:
            r = self._http.post("/chat/completions", json=self._payload(messages, opts, stream=False))
        except Exception as exc:
            raise self._map_exc(exc) from None
        if r.status_code != 200:
            raise self._map_status(r)
        try:
            body = r.json()
            choice = body["choices"][0]
            text = (choice.get("message") or {}).get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMError(f"{self.base_url} sent an unexpected reply: {_short(r.text)}") from None
        usage = body.get("usage") or {}
        return self._result(
            text,
            map_finish_reason(choice.get("finish_reason")),
            usage.get("prompt_tokens"),
            usage.get("completion_tokens"),
            t0,
            None,
        )

    def _stream(self, messages: list[Message], opts: ChatOptions) -> Generator[str, None, ChatResult]:
        t0 = time.perf_counter()
        pieces: list[str] = []
        first: float | None = None
        finish: str | None = None
        usage: dict[str, Any] = {}
        chunks = 0
        done = False
        try:
            payload = self._payload(messages, opts, stream=True)
            with self._http.stream("POST", "/chat/completions", json=payload) as r:
                if r.status_code != 200:
                    r.read()
                    if self._stream_usage and r.status_code in (400, 422) and "stream_options" in r.text:
                        self._stream_usage = False  # an older server: ask again without it
                        retry = self._stream(messages, opts)
                        return (yield from retry)
                    raise self._map_status(r)
                for line in r.iter_lines():
                    if not line.startswith("data:"):
                        continue  # comments, event names, keep-alives
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        break
                    obj = json.loads(data)
                    if isinstance(obj, dict) and obj.get("error"):
                        err = obj["error"]
                        raise LLMError(f"{self.base_url} reported an error mid-answer: "
                                       f"{_short(str(err.get('message') if isinstance(err, dict) else err))}")
                    if obj.get("usage"):
                        usage = obj["usage"]
                    for choice in obj.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content") or ""
                        if text:
                            if first is None:
                                first = time.perf_counter() - t0
                            chunks += 1
                            pieces.append(text)
                            yield text
                        if choice.get("finish_reason"):
                            finish = choice["finish_reason"]
                    if time.perf_counter() - t0 > self.timeout_s:
                        raise httpx.ReadTimeout("total time exceeded")
        except Exception as exc:
            raise self._map_exc(exc) from None
        if not done and finish is None:
            raise LLMError(
                f"the answer stream from {self.base_url} ended early (no finish_reason, no [DONE]); "
                f"is the server still running?"
            )
        return self._result(
            "".join(pieces),
            map_finish_reason(finish),
            usage.get("prompt_tokens"),
            usage.get("completion_tokens", chunks),
            t0,
            first,
        )

    def close(self) -> None:
        self._http.close()
