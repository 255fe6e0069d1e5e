"""Prompt-lookup decoding without the logits of every prompt token.

paperrag's replies copy from their prompts: card values are phrases of the numbered sentences, answers restate
them. Prompt lookup drafts the next tokens by finding the last few generated tokens earlier in the prompt and
proposing what followed them there; one forward pass checks the whole draft, and every drafted token the model
would have chosen itself is accepted at once. One token's pass is bound by reading the weights, so a pass over a few more
costs much less than those tokens one by one (~1.8 passes for 5 tokens on this machine's 2 cores).

llama-cpp-python has both halves (`LlamaPromptLookupDecoding`, and a `draft_model` hook in `Llama.generate`)
but switches on `logits_all` for them, which makes llama.cpp compute and copy the logits of every prompt token
(~150k floats each): that cost ate the gain (`bench/prompt_lookup.py`, 1.05x slower). `install(llama)` replaces
`eval` with one that asks for every position's logits only in the short batches that carry a draft, and the
last position's otherwise; `use(llama, on)` sets the draft model per call. The drafts are paperrag's own
(`PromptLookup`): tails of 3–4 tokens only, and a draft length that adapts to how much of the last one held.
Sampling is unchanged, so the verified tokens are the model's own greedy choices.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

# A draft is at most this many tokens; an eval batch up to one more than that gets every position's logits.
DRAFT_TOKENS = 10
# The last MAX_NGRAM..MIN_NGRAM tokens are looked up. Shorter tails (a quote mark and a word) match almost
# everywhere and draft noise, and a rejected draft is not free here: a pass over 5 tokens costs ~1.8 single ones.
MAX_NGRAM = 4
MIN_NGRAM = 3


class PromptLookup:
    """Draft model: the tokens that followed the longest recent n-gram at its first earlier occurrence."""

    def __init__(self, draft_tokens: int = DRAFT_TOKENS):
        self.draft_tokens = draft_tokens
        self.length = min(4, draft_tokens)  # adapts: grows while drafts are accepted whole, shrinks when not
        self.drafted = 0
        self.accepted = 0
        self._last: tuple[int, np.ndarray] | None = None  # (position, draft) of the previous draft

    def reset(self) -> None:
        self.length = min(4, self.draft_tokens)
        self._last = None

    def _score_last(self, input_ids: np.ndarray) -> None:
        if self._last is None:
            return
        at, draft = self._last
        self._last = None
        seen = input_ids[at:at + len(draft)]
        if len(seen) and at < len(input_ids):
            same = seen == draft[:len(seen)]
            ok = int(len(same) if same.all() else np.argmin(same))
            self.accepted += ok
            self.length = min(self.draft_tokens, self.length * 2) if ok == len(draft) else max(1, ok)

    def __call__(self, input_ids: np.ndarray, /, **_: Any) -> np.ndarray:
        self._score_last(input_ids)
        n = input_ids.shape[0]
        for size in range(min(MAX_NGRAM, n - 1), MIN_NGRAM - 1, -1):
            tail = input_ids[-size:]
            windows = np.lib.stride_tricks.sliding_window_view(input_ids[:-1], size)
            for start in np.flatnonzero((windows == tail).all(axis=1)):
                begin = start + size
                draft = input_ids[begin:min(begin + self.length, n)]
                if len(draft):
                    self.drafted += len(draft)
                    self._last = (n, draft)
                    return draft.astype(np.intc)
        return np.empty(0, dtype=np.intc)


def _eval(self: Any, tokens: Any) -> None:
    """`Llama.eval` (llama-cpp-python 0.3.x) minus the logits copy, with logits for every position of a
    draft-sized batch (the sampler reads them in place through `llama_get_logits_ith`)."""
    self._ctx.kv_cache_seq_rm(-1, self.n_tokens, -1)
    every = len(tokens) <= DRAFT_TOKENS + 1
    for i in range(0, len(tokens), self.n_batch):
        batch = tokens[i:min(len(tokens), i + self.n_batch)]
        n_past = self.n_tokens
        self._batch.set_batch(batch=batch, n_past=n_past, logits_all=every)
        self._ctx.decode(self._batch)
        self.input_ids[n_past:n_past + len(batch)] = batch
        self.n_tokens += len(batch)
        self._requires_eval = False


def install(llama: Any, draft_tokens: int = DRAFT_TOKENS) -> None:
    """Prepare one loaded `llama_cpp.Llama` (loaded without `logits_all`) for prompt-lookup decoding; `use`
    switches it on per call."""
    if getattr(llama, "_logits_all", False):
        return  # a model loaded for logprobs keeps llama-cpp-python's own path
    llama._prompt_lookup = PromptLookup(min(draft_tokens, DRAFT_TOKENS))
    llama.eval = types.MethodType(_eval, llama)


def use(llama: Any, on: bool) -> None:
    """Draft the next call's tokens by prompt lookup (on) or not. Measured by `bench/prompt_lookup.py` on logged
    calls, 1.5B, 2 cores: card fields 0.86x the time, answers 0.87x (a 113-token answer 13.7 → 8.5 s), Chinese
    digest spans 0.98x (they copy little). Batched passes round differently from single-token ones, so where two
    tokens nearly tie the greedy text can differ (answers 14/16 identical, card fields 15/16)."""
    lookup = getattr(llama, "_prompt_lookup", None)
    if lookup is None:
        return
    lookup.reset()
    llama.draft_model = lookup if on else None
