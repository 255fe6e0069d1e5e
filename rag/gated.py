"""Gated generation: call the model → check the output → retry with the problems spelled out → fall back →
record the outcome. Every LLM-written artifact (answers, analyses, translations, summaries, compare cells and
syntheses) goes through `generate_gated`, so the retry policy and the outcome labels are the same everywhere.

    def attempt(prev: Rejection | None) -> ChatResult:        # prev: the last rejected attempt, None at first
        extra = [] if prev is None else [{"role": "user", "content": prev.feedback}]
        return llm.chat(messages + extra, ...)

    def check(out: ChatResult) -> Check[str]:
        verdict = validate.check_span(out.text, ...)
        return Check.accept(verdict.text) if verdict.ok else Check.reject(*verdict.problems)

    g = generate_gated(attempt, check, fallback=lambda problems: plain_list())
    g.value, g.outcome, g.reason        # "first try" / "after retry" / "fallback" / "failed"

An `LLMError` raised by an attempt is a rejected attempt with "LLM error: …" as its problem; `on_error` says
whether to try again (the default), stop trying (go to the fallback) or let it propagate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from rag.llm.base import LLMError

R = TypeVar("R")  # what an attempt returns (usually a ChatResult)
T = TypeVar("T")  # the checked value


class Outcome(StrEnum):
    """How a gated artifact came to be; the values are what digests, run reports and the cache show."""

    FIRST_TRY = "first try"
    AFTER_RETRY = "after retry"
    FALLBACK = "fallback"
    FAILED = "failed"


class OnError(StrEnum):
    """What an `LLMError` raised by an attempt does."""

    RETRY = "retry"  # a rejected attempt; try again while tries remain
    STOP = "stop"  # a rejected attempt, and the last one: go to the fallback
    RAISE = "raise"  # not for the gate to handle: propagate


@dataclass(frozen=True)
class Check(Generic[T]):
    """A check's verdict on one attempt's output: the value to use, or the problems to send back."""

    ok: bool
    value: T | None = None
    problems: list[str] = field(default_factory=list)
    retryable: bool = True  # False: another try cannot do better, go to the fallback

    @classmethod
    def accept(cls, value: T) -> Check[T]:
        return cls(True, value)

    @classmethod
    def reject(cls, *problems: str, retryable: bool = True) -> Check[Any]:
        return cls(False, None, list(problems), retryable)


def accept(raw: R) -> Check[R]:
    """The check for attempts with nothing to validate (only their errors gate them)."""
    return Check.accept(raw)


@dataclass(frozen=True)
class Rejection(Generic[R]):
    """One attempt that did not pass; the next attempt gets it (to append `feedback`, or to shrink its input)."""

    problems: list[str]
    feedback: str  # the retry message for the next attempt: `feedback(problems)` of `generate_gated`
    raw: R | None = None  # what the attempt returned; None when it raised
    error: LLMError | None = None  # the error it raised
    retryable: bool = True  # False when this rejection ended the tries early (OnError.STOP, Check.retryable)


@dataclass
class Gated(Generic[T]):
    """The record of one gated generation."""

    value: T | None  # the accepted value, the fallback's, or None when it failed
    outcome: Outcome
    rejected: list[Rejection] = field(default_factory=list)  # every rejected attempt, in order
    attempts: int = 0  # attempts made (model calls tried), not counting the fallback's

    @property
    def ok(self) -> bool:
        """The model's own output passed the check (first try or after retry)."""
        return self.outcome in (Outcome.FIRST_TRY, Outcome.AFTER_RETRY)

    @property
    def problems(self) -> list[str]:
        return [p for r in self.rejected for p in r.problems]

    @property
    def reason(self) -> str:
        """Every rejected attempt's problems on one line, for the run report / the cache's `reason`."""
        return "; ".join(self.problems)

    @property
    def error(self) -> LLMError | None:
        """The error of the last rejected attempt, if it raised one."""
        return self.rejected[-1].error if self.rejected else None


def retry_message(problems: Sequence[str], *, then: str = "Write it again, fixing this.",
                  lead: str = "Your previous answer was rejected: ", limit: int = 600) -> str:
    """The message that sends an attempt's problems back to the model: `lead` + problems (cut to `limit`
    characters) + `then`, the instruction saying what to write again."""
    return lead + "; ".join(problems)[:limit] + ". " + then


def generate_gated(attempt: Callable[[Rejection[R] | None], R], check: Callable[[R], Check[T]], *,
                   retries: int = 1, fallback: Callable[[list[str]], T | None] | None = None,
                   feedback: Callable[[list[str]], str] = retry_message,
                   on_error: OnError | Callable[[LLMError], OnError] = OnError.RETRY) -> Gated[T]:
    """Run `attempt` (None first, then the last `Rejection`) and `check` its output, up to 1 + `retries` times;
    the first accepted value is FIRST_TRY / AFTER_RETRY. When none passes, `fallback(all problems)` gives the
    value (FALLBACK) or None (FAILED); without a fallback the outcome is FAILED."""
    rejected: list[Rejection] = []
    previous: Rejection | None = None
    attempts = 0
    for n in range(1, retries + 2):
        attempts = n
        try:
            raw = attempt(previous)
        except LLMError as exc:
            action = on_error(exc) if callable(on_error) else on_error
            if action is OnError.RAISE:
                raise
            problems = [f"LLM error: {exc}"]
            previous = Rejection(problems, feedback(problems), None, exc, retryable=action is OnError.RETRY)
        else:
            verdict = check(raw)
            if verdict.ok:
                return Gated(verdict.value, Outcome.FIRST_TRY if n == 1 else Outcome.AFTER_RETRY, rejected, n)
            problems = list(verdict.problems)
            previous = Rejection(problems, feedback(problems), raw, None, retryable=verdict.retryable)
        rejected.append(previous)
        if not previous.retryable:
            break
    return fall_back(fallback, rejected, attempts=attempts)


def fall_back(fallback: Callable[[list[str]], T | None] | None, rejected: list[Rejection], *,
              attempts: int = 0) -> Gated[T]:
    """The record when no attempt passed (or none could be made): the fallback's value, or FAILED."""
    value = fallback([p for r in rejected for p in r.problems]) if fallback is not None else None
    return Gated(value, Outcome.FALLBACK if value is not None else Outcome.FAILED, rejected, attempts)
