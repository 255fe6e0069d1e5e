"""Keep the evaluated fixed messages of recent calls, so calls that alternate do not re-read them.

llama.cpp keeps only the previous call's tokens: an `ask` whose answer calls alternate with the query
translation (every Chinese question) or the which-paper check re-reads its ~150-token rules each time, ~1.3 s
on two cores before the first word; a digest alternates card-field and span calls the same way, and each paper's
first span re-read the span prompt's ~330 tokens of worked examples (~3.5 s). llama-cpp-python's own state cache
(`LlamaRAMCache`) restores whole states but copies its 311 MB logits buffer each time, so it is not used. This
saves only the KV cells of a call's fixed messages — its system message and the prompt file's worked examples
(`Messages.fixed`); llama.cpp's per-sequence state, ~27 kB a token for the 1.5B — the first time they are
evaluated, and puts them back when a later call opens with the same messages but the context holds something
else."""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from typing import Any

MAX_STATES = 8  # distinct prefixes kept (rules and examples per prompt and language)
MIN_TOKENS = 32  # a shorter prefix costs less to evaluate than to save


class PrefixStates:
    def __init__(self, max_states: int = MAX_STATES):
        self.max_states = max_states
        self._states: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self.restored = 0
        self.saved = 0

    def prepare(self, llama: Any, prefix: list[int]) -> int:
        """Before a call whose prompt opens with `prefix`: make the context hold it (restored, or evaluated and
        saved); nothing when the context already holds it or the prefix is too short to matter. Returns how
        many of its tokens were not evaluated now (held or restored)."""
        n = len(prefix)
        held = llama.longest_token_prefix(llama._input_ids.tolist(), prefix)
        if n < MIN_TOKENS or held >= n:
            return held
        key = tuple(prefix)
        state = self._states.get(key)
        if state is not None:
            self._states.move_to_end(key)
            if self._restore(llama, prefix, state):
                self.restored += 1
                return n
            held = 0
        llama.n_tokens = held
        llama.eval(prefix[held:])
        self._save(llama, key)
        return held

    def _save(self, llama: Any, key: tuple[int, ...]) -> None:
        import llama_cpp

        ctx = llama._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        if llama_cpp.llama_state_seq_get_data(ctx, buf, size, 0) != size:
            return
        self._states[key] = buf
        self.saved += 1
        while len(self._states) > self.max_states:
            self._states.popitem(last=False)

    @staticmethod
    def _restore(llama: Any, prefix: list[int], buf: Any) -> bool:
        import llama_cpp

        if llama_cpp.llama_state_seq_set_data(llama._ctx.ctx, buf, len(buf), 0) != len(buf):
            llama.n_tokens = 0  # llama.cpp cleared the sequence on failure
            return False
        llama.input_ids[: len(prefix)] = prefix
        llama.n_tokens = len(prefix)
        return True
