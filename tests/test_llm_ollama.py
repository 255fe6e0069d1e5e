"""Ollama backend through the real `ollama` client against the Ollama-protocol test server."""

from __future__ import annotations

import pytest
from fakes.http_server import free_port as closed_port
from fakes.ollama_server import OllamaTestServer

from rag.llm.base import (
    ContextOverflow,
    LLMError,
    LLMTimeout,
    LLMUnavailable,
    ModelMissing,
)
from rag.llm.ollama_backend import (
    OllamaLLM,
    is_reachable,
    list_models,
    model_present,
    resolve_host,
)

MODEL = "qwen2.5:7b-instruct"
MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}]


@pytest.fixture
def srv():
    with OllamaTestServer(models=[MODEL, "nomic-embed-text:latest"]) as s:
        yield s


def test_chat_sends_num_ctx_and_maps_the_reply(srv):
    llm = OllamaLLM(MODEL, srv.url, context_tokens=6144, max_tokens=100, temperature=0.1)
    r = llm.chat(MSGS)
    assert r.text == "num_ctx=6144 temperature=0.1 you said: hello there"
    assert (r.finish_reason, r.backend, r.model) == ("stop", "ollama", MODEL)
    assert r.tokens_in == 2 + 4 + 2 + 4 and r.tokens_out == 6  # prompt_eval_count / eval_count
    assert r.latency_s > 0 and r.first_token_s is not None
    body = srv.chat_requests()[-1]
    assert body["stream"] is False and body["model"] == MODEL
    assert body["options"] == {"num_ctx": 6144, "num_predict": 100, "temperature": 0.1}
    assert body["keep_alive"] == "10m"
    assert body["messages"] == MSGS


def test_per_call_options_override_defaults(srv):
    llm = OllamaLLM(MODEL, srv.url, context_tokens=4096)
    r = llm.chat(MSGS, max_tokens=3, temperature=0.7, stop=["\n\n"], json_mode=False)
    assert r.finish_reason == "length" and r.tokens_out == 3
    assert r.text == "num_ctx=4096 temperature=0.7 you "
    opts = srv.chat_requests()[-1]["options"]
    assert opts == {"num_ctx": 4096, "num_predict": 3, "temperature": 0.7, "stop": ["\n\n"]}


def test_json_mode_sends_format_json(srv):
    r = OllamaLLM(MODEL, srv.url).chat(MSGS, json_mode=True)
    assert srv.chat_requests()[-1]["format"] == "json"
    assert '"echo": "hello there"' in r.text


def test_a_json_schema_is_sent_as_the_format(srv):
    """The real `ollama` client carries a JSON schema as `format` (Ollama ≥ 0.5 constrains the reply to it)."""
    from rag.cards import VALUE_SCHEMA

    OllamaLLM(MODEL, srv.url).chat(MSGS, json_mode=VALUE_SCHEMA)
    assert srv.chat_requests()[-1]["format"] == VALUE_SCHEMA


def test_stream_yields_pieces_then_result(srv):
    llm = OllamaLLM(MODEL, srv.url, context_tokens=2048)
    s = llm.stream(MSGS)
    pieces = list(s)
    assert len(pieces) == 6 and "".join(pieces) == s.text
    r = s.result
    assert r is not None and r.text == "num_ctx=2048 temperature=0.2 you said: hello there"
    assert r.finish_reason == "stop" and r.tokens_out == 6 and r.tokens_in == 12
    assert r.first_token_s is not None and r.first_token_s <= r.latency_s
    body = srv.chat_requests()[-1]
    assert body["stream"] is True and body["options"]["num_ctx"] == 2048


def test_stream_length_finish(srv):
    s = OllamaLLM(MODEL, srv.url).stream(MSGS, max_tokens=2)
    assert s.consume().finish_reason == "length"
    assert s.result.tokens_out == 2


def test_stream_close_early_is_clean(srv):
    s = OllamaLLM(MODEL, srv.url).stream(MSGS)
    assert next(s)
    s.close()
    assert s.result is None and list(s) == []


@pytest.mark.parametrize("streaming", [False, True])
def test_model_missing_names_the_pull_command(srv, streaming):
    llm = OllamaLLM("llama3.1:8b", srv.url)
    with pytest.raises(ModelMissing) as ei:
        if streaming:
            list(llm.stream(MSGS))
        else:
            llm.chat(MSGS)
    assert "`ollama pull llama3.1:8b`" in str(ei.value)
    assert "\n" not in str(ei.value)


@pytest.mark.parametrize("streaming", [False, True])
def test_server_down_is_unavailable(streaming):
    url = f"http://127.0.0.1:{closed_port()}"
    llm = OllamaLLM(MODEL, url)
    with pytest.raises(LLMUnavailable) as ei:
        if streaming:
            list(llm.stream(MSGS))
        else:
            llm.chat(MSGS)
    msg = str(ei.value)
    assert url in msg and "ollama serve" in msg and "OLLAMA_HOST" in msg
    assert ei.value.__cause__ is None and ei.value.__suppress_context__
    assert not is_reachable(url) and not llm.is_reachable()


@pytest.mark.parametrize("streaming", [False, True])
def test_slow_server_times_out_with_the_configured_timeout(srv, streaming):
    srv.hold()  # the server answers nothing until released
    llm = OllamaLLM(MODEL, srv.url, timeout_s=0.3)
    try:
        with pytest.raises(LLMTimeout) as ei:
            if streaming:
                list(llm.stream(MSGS))
            else:
                llm.chat(MSGS)
        assert srv.waiting.is_set()  # the request did reach the server
        assert "0.3 s" in str(ei.value) and srv.url in str(ei.value)
    finally:
        srv.release()
    assert llm.chat(MSGS).finish_reason == "stop"  # and the same client works afterwards


def test_server_dying_mid_stream_is_a_clean_llm_error(srv):
    srv.die_after = 2
    s = OllamaLLM(MODEL, srv.url).stream(MSGS)
    got = []
    with pytest.raises(LLMError) as ei:
        for piece in s:
            got.append(piece)
    assert got == ["num_ctx=8192 ", "temperature=0.2 "] and s.text == "".join(got)
    assert type(ei.value) is LLMError and "broke during the answer" in str(ei.value)
    assert s.result is None and s.error is ei.value


def test_reachability_and_listing(srv):
    assert is_reachable(srv.url)
    assert list_models(srv.url) == [MODEL, "nomic-embed-text:latest"]
    assert model_present("nomic-embed-text", list_models(srv.url))
    assert not model_present("qwen2.5:14b", list_models(srv.url))
    with pytest.raises(LLMUnavailable):
        list_models(f"127.0.0.1:{closed_port()}")


def test_show_and_embed(srv):
    llm = OllamaLLM(MODEL, srv.url)
    assert llm.show()["model_info"]["qwen2.context_length"] == 32768
    vecs = llm.embed(["a", "b"], model="nomic-embed-text")
    assert len(vecs) == 2 and len(vecs[0]) == 8 and vecs[0] != vecs[1]
    with pytest.raises(ModelMissing, match="ollama pull other"):
        llm.embed(["a"], model="other")
    with pytest.raises(ModelMissing):
        OllamaLLM("absent", srv.url).show()


def test_hopeless_prompt_is_refused_before_sending(srv):
    llm = OllamaLLM(MODEL, srv.url, context_tokens=1000)
    with pytest.raises(ContextOverflow, match="1000-token context"):
        llm.chat([{"role": "user", "content": "retrieval augmented generation " * 250}])
    with pytest.raises(ContextOverflow):  # CJK packs far fewer characters per token
        llm.chat([{"role": "user", "content": "大型语言模型" * 400}])
    assert srv.chat_requests() == []
    assert llm.chat([{"role": "user", "content": "word " * 1000}]).text  # may fit: sent


def test_host_resolution(monkeypatch, home):
    from paperrag.settings import LLMSettings

    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert resolve_host(LLMSettings()) == "http://127.0.0.1:11434"
    monkeypatch.setenv("OLLAMA_HOST", "10.0.0.5:1234")
    assert resolve_host(LLMSettings()) == "http://10.0.0.5:1234"  # env beats the default
    assert resolve_host(LLMSettings(ollama_host="http://h:9")) == "http://h:9"  # explicit setting beats env
    assert resolve_host(LLMSettings(), "other:5") == "http://other:5"


def test_bad_arguments_are_value_errors(srv):
    llm = OllamaLLM(MODEL, srv.url)
    with pytest.raises(ValueError):
        llm.chat([])
    with pytest.raises(ValueError):
        llm.chat([{"content": "no role"}])
    with pytest.raises(ValueError):
        llm.chat(MSGS, max_tokens=0)
