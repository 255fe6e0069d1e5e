"""LLM faults: an Ollama or OpenAI-compatible server that refuses, dies mid-answer, stalls, trickles, answers
malformed JSON, an empty body or a 500; a truncated GGUF. Each ends in one line naming the server and the fix,
within a deadline derived from llm.timeout_s — never a hang — and the next question works once the server is
back."""

from __future__ import annotations

import concurrent.futures as cf

import pytest

from faults.harness import cli_env, run_cli
from faults.llm_server import FAULTS, MODEL, FaultyLLMServer, closed_url
from paperrag.errors import PaperragError, user_message
from paperrag.library import Library
from paperrag.settings import Settings
from rag.llm.base import LLMError

TIMEOUT_S = 2.0
# the answer makes one call (no follow-up, English): the call's timeout, plus retrieval and the embedder's
# first load on a busy 2-core machine
DEADLINE_S = TIMEOUT_S * 2 + 60
QUESTION = "How many citations does the crawler follow per paper?"


def _settings(home, backend: str, url: str) -> Settings:
    base = Settings(home=home)
    llm = {"ollama": {"backend": "ollama", "ollama_host": url, "ollama_model": MODEL},
           "openai": {"backend": "openai", "openai_base_url": f"{url}/v1", "openai_model": MODEL}}[backend]
    return base.model_copy(update={"llm": base.llm.model_copy(update={**llm, "timeout_s": TIMEOUT_S})})


def _ask(lib: Library) -> str:
    stream = lib.ask(QUESTION)
    return "".join(stream)


def _bounded(fn, *args):
    """fn(*args) in a worker thread; a call still running at the deadline fails the test (it would have hung)."""
    pool = cf.ThreadPoolExecutor(1)
    try:
        return pool.submit(fn, *args).result(timeout=DEADLINE_S)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


@pytest.mark.parametrize("backend", ["ollama", "openai"])
@pytest.mark.parametrize("fault", ("refused",) + FAULTS)
def test_each_fault_is_one_line_within_the_timeout(fault, backend, ingested_home, embedder):
    server = None if fault == "refused" else FaultyLLMServer(fault)
    url = closed_url() if server is None else server.url
    try:
        with Library(_settings(ingested_home, backend, url), embedder=embedder) as lib:
            with pytest.raises(PaperragError) as caught:
                _bounded(_ask, lib)
            assert isinstance(caught.value, LLMError), repr(caught.value)
            line = user_message(caught.value)
            assert "\n" not in line and line.strip(), line
            assert url.split("//")[1] in line or "llm.timeout_s" in line, line
            if fault in ("stall", "trickle"):
                assert f"{TIMEOUT_S:g} s" in line and "llm.timeout_s" in line, line
    finally:
        if server is not None:
            server.close()


def test_the_next_question_works_once_the_server_is_back(ingested_home, embedder, tmp_path):
    """A backend failure is not sticky: the Library chooses the backend again (`Library.recover`)."""
    from fakes.ollama_server import OllamaTestServer

    faulty = FaultyLLMServer("die")
    with Library(_settings(ingested_home, "ollama", faulty.url), embedder=embedder) as lib:
        with pytest.raises(LLMError):
            _bounded(_ask, lib)
        faulty.close()
        with OllamaTestServer(models=[MODEL], reply=lambda body: "The crawler follows 40 citations per paper [1].") \
                as good:
            lib._settings = _settings(ingested_home, "ollama", good.url)  # the user points it at the new server
            lib.forget_llm()
            answer = _bounded(_ask, lib)
    assert "40 citations" in answer


def test_cli_stall_is_one_line_on_stderr_and_exit_1(ingested_home, tmp_path):
    with FaultyLLMServer("trickle") as server:
        env = cli_env(ingested_home, tmp_path, PAPERRAG_LLM__BACKEND="ollama", PAPERRAG_LLM__OLLAMA_HOST=server.url,
                      PAPERRAG_LLM__OLLAMA_MODEL=MODEL, PAPERRAG_LLM__TIMEOUT_S=str(TIMEOUT_S))
        proc = run_cli(["ask", QUESTION], env, timeout=DEADLINE_S + 30)
    assert proc.returncode == 1, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "llm.timeout_s" in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def test_truncated_gguf_is_one_line(ingested_home, tmp_path):
    from fakes.models import small_gguf_or_reason

    found = small_gguf_or_reason()
    if isinstance(found, str):
        pytest.skip(found)
    cut = tmp_path / "model.gguf"
    with open(found, "rb") as src, open(cut, "wb") as dst:
        dst.write(src.read(4 << 20))  # the header and the first tensors, not the rest
    env = cli_env(ingested_home, tmp_path, PAPERRAG_LLM__BACKEND="llamacpp", PAPERRAG_LLM__GGUF_PATH=str(cut),
                  PAPERRAG_LLM__TIMEOUT_S=str(TIMEOUT_S))
    proc = run_cli(["ask", QUESTION], env, timeout=DEADLINE_S + 30)
    assert proc.returncode == 1, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and str(cut) in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
