"""rag.gated (call → check → retry with the problems → fall back → record) and rag.budget (token figures)."""

from __future__ import annotations

import pytest

from rag.budget import (
    CHARS_PER_TOKEN,
    estimate_tokens,
    fit,
    fit_messages,
    prompt_budget,
    token_chars,
)
from rag.gated import (
    Check,
    OnError,
    Outcome,
    Rejection,
    accept,
    fall_back,
    generate_gated,
    retry_message,
)
from rag.llm.base import ContextOverflow, LLMError, LLMTimeout, LLMUnavailable


class Script:
    """An attempt that returns (or raises) the scripted replies in order and records what it was given."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.seen: list[Rejection | None] = []

    def __call__(self, prev: Rejection | None):
        self.seen.append(prev)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def good_only(raw: str) -> Check[str]:
    return Check.accept(raw.upper()) if raw.startswith("good") else Check.reject(f"{raw} is bad", "too short")


def test_outcome_labels_are_the_strings_reports_show():
    assert [o.value for o in Outcome] == ["first try", "after retry", "fallback", "failed"]
    assert Outcome.AFTER_RETRY == "after retry" and f"{Outcome.FALLBACK}" == "fallback"
    assert {"first try": 1}[Outcome.FIRST_TRY] == 1  # plain strings from the cache and members are one key


def test_first_try():
    attempt = Script("good answer")
    g = generate_gated(attempt, good_only, fallback=lambda problems: "plain")
    assert (g.value, g.outcome, g.attempts, g.rejected, g.reason) == ("GOOD ANSWER", Outcome.FIRST_TRY, 1, [], "")
    assert g.ok and attempt.seen == [None]


def test_bad_then_good_is_after_retry_and_the_retry_gets_the_problems():
    attempt = Script("meh", "good now")
    g = generate_gated(attempt, good_only)
    assert (g.value, g.outcome, g.attempts) == ("GOOD NOW", Outcome.AFTER_RETRY, 2)
    prev = attempt.seen[1]
    assert prev.problems == ["meh is bad", "too short"] and prev.raw == "meh" and prev.error is None
    assert prev.feedback == retry_message(["meh is bad", "too short"])
    assert prev.feedback == "Your previous answer was rejected: meh is bad; too short. Write it again, fixing this."
    assert g.reason == "meh is bad; too short"


def test_bad_twice_falls_back_with_every_problem():
    got = []
    g = generate_gated(Script("a", "b"), good_only, fallback=lambda problems: got.append(problems) or "plain list")
    assert got == [["a is bad", "too short", "b is bad", "too short"]]
    assert (g.value, g.outcome, g.attempts, len(g.rejected)) == ("plain list", Outcome.FALLBACK, 2, 2)
    assert not g.ok


def test_bad_twice_without_fallback_fails():
    g = generate_gated(Script("a", "b"), good_only)
    assert (g.value, g.outcome, g.attempts) == (None, Outcome.FAILED, 2)
    assert g.problems == ["a is bad", "too short", "b is bad", "too short"]


def test_fallback_that_gives_nothing_is_failed():
    g = generate_gated(Script("a", "b"), good_only, fallback=lambda problems: None)
    assert g.outcome is Outcome.FAILED


def test_llm_error_is_a_rejected_attempt_not_a_crash():
    attempt = Script(LLMTimeout("no reply in 60 s"), "good late")
    g = generate_gated(attempt, good_only)
    assert (g.value, g.outcome) == ("GOOD LATE", Outcome.AFTER_RETRY)
    prev = attempt.seen[1]
    assert prev.problems == ["LLM error: no reply in 60 s"] and isinstance(prev.error, LLMTimeout)
    assert prev.raw is None and "LLM error: no reply in 60 s" in prev.feedback

    g = generate_gated(Script(LLMError("down"), LLMError("still down")), good_only, fallback=lambda p: "plain")
    assert (g.value, g.outcome, g.reason) == ("plain", Outcome.FALLBACK, "LLM error: down; LLM error: still down")
    assert str(g.error) == "still down"


def test_on_error_stop_and_raise():
    attempt = Script(LLMError("down"), "never asked")
    g = generate_gated(attempt, good_only, fallback=lambda p: "plain", on_error=OnError.STOP)
    assert (g.value, g.outcome, g.attempts, len(attempt.seen)) == ("plain", Outcome.FALLBACK, 1, 1)
    assert not g.rejected[-1].retryable

    with pytest.raises(LLMUnavailable):
        generate_gated(Script(LLMUnavailable("ollama is not running")), good_only,
                       on_error=lambda e: OnError.RAISE if isinstance(e, LLMUnavailable) else OnError.RETRY)

    other = Script(ValueError("a bug"))
    with pytest.raises(ValueError):  # only LLM errors are gated
        generate_gated(other, good_only)


def test_the_retry_can_shrink_its_input_after_an_overflow():
    sizes = []

    def attempt(prev):
        n = 1 if prev is not None and isinstance(prev.error, ContextOverflow) else 3
        sizes.append(n)
        if n > 1:
            raise ContextOverflow("prompt is 9000 tokens but the context is 2048")
        return "ok"

    g = generate_gated(attempt, accept)
    assert (g.value, g.outcome, sizes) == ("ok", Outcome.AFTER_RETRY, [3, 1])


def test_a_final_rejection_skips_the_retry_and_retries_counts():
    attempt = Script("x", "good")
    g = generate_gated(attempt, lambda raw: Check.reject("hopeless", retryable=False), fallback=lambda p: "fb")
    assert (g.outcome, g.attempts, len(attempt.seen)) == (Outcome.FALLBACK, 1, 1)

    attempt = Script("a", "b", "good third")
    g = generate_gated(attempt, good_only, retries=2)
    assert (g.value, g.outcome, g.attempts) == ("GOOD THIRD", Outcome.AFTER_RETRY, 3)
    assert attempt.seen[2].problems == ["b is bad", "too short"]  # each retry gets the attempt before it

    g = generate_gated(Script("good"), good_only, retries=0)
    assert g.outcome is Outcome.FIRST_TRY


def test_custom_feedback_wording():
    attempt = Script("meh", "good")
    generate_gated(attempt, good_only, feedback=lambda problems: retry_message(
        problems, lead="Rejected: ", limit=13, then="Write the whole summary again, fixing this."))
    assert attempt.seen[1].feedback == "Rejected: meh is bad; t. Write the whole summary again, fixing this."


def test_fall_back_without_attempts():
    g = fall_back(lambda problems: f"from abstract ({len(problems)} problems)", [])
    assert (g.value, g.outcome, g.attempts) == ("from abstract (0 problems)", Outcome.FALLBACK, 0)
    assert fall_back(None, []).outcome is Outcome.FAILED


# ------------------------------------------------------------------------------------------------ budget
def test_budget_figures():
    assert CHARS_PER_TOKEN == 3.0
    assert estimate_tokens("x" * 300) == 100 and estimate_tokens("x" * 302) == 100 and estimate_tokens("") == 0
    assert token_chars(100) == 300 and token_chars(2.5) == 7
    assert prompt_budget(4096, 512, 64) == 3520 and prompt_budget(4096, 512) == 3584


def test_budget_reproduces_the_three_formulas_it_replaced():
    for ctx in (512, 1024, 2048, 4096, 8192, 32768):
        for out in (64, 160, 512, 1024):
            for q in ("", "x", "what is attention?" * 7, "問" * 101):
                # rag.ask: passages' token budget
                old = ctx - out - int((len(q) + 1200) / 3.0)
                assert prompt_budget(ctx, out, estimate_tokens(q) + 400) == old
            # rag.digest.writer: characters of prompt that fit
            assert token_chars(prompt_budget(ctx, out, 64)) == int((ctx - out - 64) * 3.0)
        # rag.compare: characters per excerpt, 3 excerpts, clamped
        old = max(300, min(1400, int((ctx - 160 - 450) * 3.0 / 3)))
        assert max(300, min(1400, token_chars(prompt_budget(ctx, 160, 450)) // 3)) == old


def test_fit_keeps_a_prefix_and_at_least_one():
    assert fit([5, 5, 5, 5], 12, cost=lambda n: n) == [5, 5]
    assert fit([50, 1], 10, cost=lambda n: n) == [50]  # one oversized item is still tried
    assert fit([], 10, cost=lambda n: n) == []
    assert fit([1, 9, 1], 10, cost=lambda n: n) == [1, 9]  # a prefix: never skips to a smaller later item


def test_fit_messages_cuts_the_longest():
    short = [{"role": "system", "content": "s" * 100}, {"role": "user", "content": "u" * 100}]
    assert fit_messages(short, 512, 256) is short
    long = [{"role": "system", "content": "s" * 100}, {"role": "user", "content": "u" * 5000}]
    cut = fit_messages(long, 1024, 256)  # (1024 - 256 - 64) × 3 = 2112 characters in all
    assert cut[0] == long[0] and len(long[1]["content"]) == 5000
    assert cut[1]["content"] == "u" * 2012 + "\n[… cut to fit the context]"
