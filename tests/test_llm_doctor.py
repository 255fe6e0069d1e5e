"""`run_doctor`: plain data about the LLM setup, a Markdown rendering, a measured speed."""

from __future__ import annotations

import pytest
from fakes.models import closed_url, install_small_into
from fakes.ollama_server import OllamaTestServer

from indexes.call_log import count_calls
from rag.llm.doctor import run_doctor

MODEL = "qwen2.5:7b-instruct"


def settings():
    from paperrag.settings import Settings

    return Settings()


def test_doctor_with_ollama(home, monkeypatch):
    with OllamaTestServer(models=[MODEL, "nomic-embed-text:latest"]) as srv:
        monkeypatch.setenv("PAPERRAG_LLM__OLLAMA_HOST", srv.url)
        s = settings()
        rep = run_doctor(s)
    assert rep.ok and rep.backend == "ollama" and rep.model == MODEL and rep.context_tokens == 8192
    assert rep.ollama_reachable and rep.ollama_version == "0.9.0-test" and rep.ollama_model_present
    assert rep.ollama_models == [MODEL, "nomic-embed-text:latest"]
    assert rep.speed is not None and rep.speed.tokens_out and rep.speed.finish_reason == "stop"
    assert count_calls(s.catalog_path, purpose="doctor") == 1
    text = rep.render()
    assert "**In use:** `ollama`" in text and "configured model `qwen2.5:7b-instruct` present: yes" in text
    assert "## Speed" in text and "tok/s" in text
    assert rep.to_dict()["speed"]["tokens_out"] == rep.speed.tokens_out


def test_doctor_with_nothing(home, monkeypatch):
    monkeypatch.setenv("PAPERRAG_LLM__OLLAMA_HOST", closed_url())
    rep = run_doctor(settings())
    assert not rep.ok and rep.backend is None and "ollama serve" in rep.problem
    assert not rep.ollama_reachable and rep.gguf_path is None
    assert [b.parts_installed for b in rep.bundled] and all(b.gguf is None for b in rep.bundled)
    assert "**No usable LLM backend**" in rep.render()


@pytest.mark.slow
def test_doctor_with_embedded_model(home, monkeypatch):
    monkeypatch.setenv("PAPERRAG_LLM__OLLAMA_HOST", closed_url())
    monkeypatch.setenv("PAPERRAG_LLM__THREADS", "2")
    monkeypatch.setenv("PAPERRAG_LLM__CONTEXT_TOKENS", "2048")
    gguf = install_small_into(home)
    rep = run_doctor(settings(), max_tokens=8)
    assert rep.ok and rep.backend == "llamacpp" and rep.gguf_path == str(gguf)
    assert rep.gguf_sha_ok is True and rep.gguf_size_bytes == gguf.stat().st_size
    assert rep.speed.tokens_out == 8 and rep.speed.gen_tokens_per_s > 0 and rep.speed.prompt_tokens_per_s > 0
    small = next(b for b in rep.bundled if b.gguf)
    assert small.sha_ok is True and small.name == "qwen2.5-coder-0.5b-instruct"
    text = rep.render()
    assert "sha256 ok: yes" in text and "`llamacpp`" in text
