"""Prompt-lookup drafts (`rag.llm.lookup_decoding.PromptLookup`), without a model."""

from __future__ import annotations

import numpy as np

from rag.llm.lookup_decoding import PromptLookup


def ids(*xs: int) -> np.ndarray:
    return np.array(xs, dtype=np.intc)


def test_a_three_token_tail_seen_earlier_drafts_what_followed_it():
    lookup = PromptLookup(draft_tokens=10)
    draft = lookup(ids(1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3))
    assert draft.tolist() == [4, 5, 6, 7]  # the first draft is 4 tokens long
    assert draft.dtype == np.intc


def test_a_two_token_tail_drafts_nothing():
    assert PromptLookup()(ids(1, 2, 3, 4, 5, 6, 9, 5, 6)).size == 0
    assert PromptLookup()(ids(1, 2)).size == 0


def test_the_draft_grows_while_it_holds_and_shrinks_to_what_held():
    prompt = list(range(100, 140))
    lookup = PromptLookup(draft_tokens=10)
    out = prompt + [100, 101, 102]
    first = lookup(ids(*out))
    assert first.tolist() == [103, 104, 105, 106]
    out += [103, 104, 105, 106, 107]  # all 4 accepted, plus the model's own next token
    second = lookup(ids(*out))
    assert lookup.accepted == 4 and len(second) == 8 and second[0] == 108
    out += [108, 109, 999]  # 2 accepted, then the model went elsewhere
    lookup(ids(*out))
    assert lookup.accepted == 6 and lookup.length == 2
    lookup.reset()
    assert lookup.length == 4


def test_the_earliest_occurrence_is_used():
    draft = PromptLookup()(ids(7, 8, 9, 1, 1, 7, 8, 9, 2, 2, 7, 8, 9))
    assert draft.tolist()[:2] == [1, 1]
