"""`LoggedLLM(inner, db_path)` is itself an `LLM`: it forwards to `inner` and writes one row per call into the
catalog's `llm_calls` table (`indexes.call_log`) — on success, on error (outcome "error", the error's message)
and when a stream is abandoned before its end (outcome "cancelled", with the partial text).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from indexes.call_log import ensure_table, log_call
from rag.llm.base import LLM, ChatResult, ChatStream, Message


class LoggedLLM:
    """An `LLM` that logs every call of `inner` to `db_path` (table llm_calls)."""

    def __init__(self, inner: LLM, db_path: Path | str):
        self.inner = inner
        self.db_path = Path(db_path)
        ensure_table(self.db_path)

    @property
    def backend(self) -> str:
        return self.inner.backend

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def context_tokens(self) -> int:
        return self.inner.context_tokens

    def __getattr__(self, name: str) -> Any:  # backend extras (e.g. host, gguf_path)
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"<LoggedLLM {self.inner!r} -> {self.db_path}>"

    def _base_row(self, messages: Sequence[Message], labels: dict[str, str], params: dict[str, Any]) -> dict:
        return {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "backend": self.inner.backend,
            "model": self.inner.model,
            "purpose": labels["purpose"],
            "prompt_id": labels["prompt_id"],
            "prompt_version": labels["prompt_version"],
            "messages": [dict(m) for m in messages],
            "params": params,
        }

    @staticmethod
    def _result_cols(r: ChatResult) -> dict[str, Any]:
        return {
            "response": r.text,
            "tokens_in": r.tokens_in,
            "tokens_out": r.tokens_out,
            "latency_s": r.latency_s,
            "first_token_s": r.first_token_s,
            "tokens_cached": r.tokens_cached,
            "finish_reason": r.finish_reason,
            "backend": r.backend,
            "model": r.model,
        }

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        json_mode: bool = False,
        purpose: str = "",
        prompt_id: str = "",
        prompt_version: str = "",
    ) -> ChatResult:
        labels = {"purpose": purpose, "prompt_id": prompt_id, "prompt_version": str(prompt_version)}
        params = {"max_tokens": max_tokens, "temperature": temperature, "stop": stop, "json_mode": json_mode,
                  "stream": False}  # fmt: skip
        row = self._base_row(messages, labels, params)
        t0 = time.perf_counter()
        try:
            result = self.inner.chat(
                messages, max_tokens=max_tokens, temperature=temperature, stop=stop, json_mode=json_mode,
                purpose=purpose, prompt_id=prompt_id, prompt_version=prompt_version,
            )  # fmt: skip
        except BaseException as exc:
            log_call(self.db_path, **row, latency_s=time.perf_counter() - t0, finish_reason="error",
                     outcome="error", error=_err(exc))  # fmt: skip
            raise
        log_call(self.db_path, **{**row, **self._result_cols(result)}, outcome="ok")
        return result

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        json_mode: bool = False,
        purpose: str = "",
        prompt_id: str = "",
        prompt_version: str = "",
    ) -> ChatStream:
        labels = {"purpose": purpose, "prompt_id": prompt_id, "prompt_version": str(prompt_version)}
        params = {"max_tokens": max_tokens, "temperature": temperature, "stop": stop, "json_mode": json_mode,
                  "stream": True}  # fmt: skip
        row = self._base_row(messages, labels, params)
        t0 = time.perf_counter()
        try:
            inner = self.inner.stream(
                messages, max_tokens=max_tokens, temperature=temperature, stop=stop, json_mode=json_mode,
                purpose=purpose, prompt_id=prompt_id, prompt_version=prompt_version,
            )  # fmt: skip
        except BaseException as exc:
            log_call(self.db_path, **row, latency_s=time.perf_counter() - t0, finish_reason="error",
                     outcome="error", error=_err(exc))  # fmt: skip
            raise
        return ChatStream(self._logged(inner, row, t0))

    def _logged(self, inner: ChatStream, row: dict, t0: float) -> Generator[str, None, ChatResult]:
        pieces: list[str] = []
        first: float | None = None
        try:
            for piece in inner:
                if first is None and piece:
                    first = time.perf_counter() - t0
                pieces.append(piece)
                yield piece
        except GeneratorExit:
            inner.close()
            log_call(self.db_path, **row, response="".join(pieces), latency_s=time.perf_counter() - t0,
                     first_token_s=first, outcome="cancelled", error="stream closed by the caller")  # fmt: skip
            raise
        except BaseException as exc:
            log_call(self.db_path, **row, response="".join(pieces), latency_s=time.perf_counter() - t0,
                     first_token_s=first, finish_reason="error", outcome="error", error=_err(exc))  # fmt: skip
            raise
        result = inner.result
        assert result is not None
        log_call(self.db_path, **{**row, **self._result_cols(result)}, outcome="ok")
        return result


def _err(exc: BaseException) -> str:
    msg = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {msg}"
