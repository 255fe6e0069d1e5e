"""Token budgets without a tokenizer: how much text fits next to a prompt and an answer in the model's context.

    room = prompt_budget(context_tokens=4096, max_output_tokens=512, reserve=64)   # tokens left for the prompt
    text = text[: token_chars(room)]                                                # …as characters
    kept = fit(passages, room, cost=lambda p: estimate_tokens(p.text) + 40)         # a rank-ordered prefix

Every budget in `rag/` (ask's passages, compare's excerpts, the digest's map parts and message cutting) goes
through these figures, so they move together when the estimate changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

# Conservative for Qwen-family tokenizers: measured at most 5.1 characters per token on English arXiv PDF text
# (see rag.llm.base.min_tokens); 3.0 over-counts tokens, so a budget computed with it leaves headroom for
# formulas, tables and non-English text, which tokenize denser. Not a tokenizer: never use it to refuse a prompt.
CHARS_PER_TOKEN = 3.0

T = TypeVar("T")


def estimate_tokens(text: str) -> int:
    """A generous token count for `text` (rounded down): len / CHARS_PER_TOKEN."""
    return int(len(text) / CHARS_PER_TOKEN)


def token_chars(tokens: float) -> int:
    """How many characters `tokens` tokens hold (rounded down): tokens × CHARS_PER_TOKEN."""
    return int(tokens * CHARS_PER_TOKEN)


def prompt_budget(context_tokens: int, max_output_tokens: int, reserve: int = 0) -> int:
    """Tokens left for the variable part of a prompt: the context less the answer and `reserve` (the prompt's
    fixed text, chat-template tokens). May be ≤ 0 when the context is tiny; callers clamp as they need."""
    return context_tokens - max_output_tokens - reserve


def fit(items: Sequence[T], budget: int, cost: Callable[[T], int]) -> list[T]:
    """The leading items whose summed cost stays within `budget`, in order; at least one (when there is one),
    so a single oversized item is still tried rather than nothing."""
    kept: list[T] = []
    used = 0
    for item in items:
        c = cost(item)
        if kept and used + c > budget:
            break
        kept.append(item)
        used += c
    return kept


def fit_messages(messages: list[dict], context_tokens: int, max_output_tokens: int, reserve: int = 64) -> list[dict]:
    """Cut the longest message so prompt + answer fit the context (never crash on overflow). Returns copies
    when it cuts; the messages as given when they fit."""
    budget_chars = token_chars(prompt_budget(context_tokens, max_output_tokens, reserve))
    total = sum(len(m["content"]) for m in messages)
    if total <= budget_chars:
        return messages
    longest = max(range(len(messages)), key=lambda i: len(messages[i]["content"]))
    cut = len(messages[longest]["content"]) - (total - budget_chars)
    out = [dict(m) for m in messages]
    out[longest]["content"] = out[longest]["content"][: max(200, cut)] + "\n[… cut to fit the context]"
    return out
