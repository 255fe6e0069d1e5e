"""The llm_calls log: one row per call, whatever happens, shared with other tables of the catalog."""

from __future__ import annotations

import functools
import sqlite3

import pytest
from fakes.ollama_server import OllamaTestServer

from indexes.call_log import (
    COLUMNS,
    call_speeds,
    count_calls,
    ensure_table,
    last_call_id,
    log_call,
    recent_calls,
)
from rag.llm.base import LLM, LLMError, ModelMissing
from rag.llm.logged import LoggedLLM
from rag.llm.ollama_backend import OllamaLLM

MODEL = "qwen2.5:7b-instruct"
MSGS = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def srv():
    with OllamaTestServer(models=[MODEL]) as s:
        yield s


@pytest.fixture
def db(tmp_path):
    return tmp_path / "catalog.sqlite"


def test_chat_is_logged_with_everything(srv, db):
    llm = LoggedLLM(OllamaLLM(MODEL, srv.url, context_tokens=4096), db)
    assert isinstance(llm, LLM) and (llm.backend, llm.model, llm.context_tokens) == ("ollama", MODEL, 4096)
    assert count_calls(db) == 0
    r = llm.chat(MSGS, max_tokens=50, purpose="answer", prompt_id="answer", prompt_version="4")
    assert count_calls(db) == 1 and count_calls(db, purpose="answer", prompt_id="answer", prompt_version="4") == 1
    assert count_calls(db, purpose="digest") == 0
    row = recent_calls(db)[0]
    assert row["backend"] == "ollama" and row["model"] == MODEL and row["outcome"] == "ok"
    assert row["messages"] == MSGS and row["response"] == r.text
    assert (row["tokens_in"], row["tokens_out"], row["finish_reason"]) == (r.tokens_in, r.tokens_out, "stop")
    assert row["latency_s"] == pytest.approx(r.latency_s) and row["first_token_s"] == pytest.approx(r.first_token_s)
    assert row["params"] == {"max_tokens": 50, "temperature": None, "stop": None, "json_mode": False, "stream": False}
    assert row["ts"].endswith("+00:00") and row["error"] is None


def test_stream_is_logged_when_it_ends(srv, db):
    llm = LoggedLLM(OllamaLLM(MODEL, srv.url), db)
    s = llm.stream(MSGS, purpose="ask")
    first = next(s)
    assert count_calls(db) == 0  # not before the end
    rest = list(s)
    assert s.result is not None and s.result.text == first + "".join(rest)
    row = recent_calls(db)[0]
    assert row["outcome"] == "ok" and row["response"] == s.result.text and row["params"]["stream"] is True
    assert row["tokens_out"] == s.result.tokens_out and row["purpose"] == "ask"


def test_errors_are_logged_and_reraised(srv, db):
    llm = LoggedLLM(OllamaLLM("missing:1b", srv.url), db)
    with pytest.raises(ModelMissing):
        llm.chat(MSGS, purpose="answer")
    with pytest.raises(ModelMissing):
        list(llm.stream(MSGS, purpose="answer"))
    rows = recent_calls(db)
    assert [r["outcome"] for r in rows] == ["error", "error"]
    assert rows[0]["error"].startswith("ModelMissing: model 'missing:1b'") and rows[0]["finish_reason"] == "error"
    assert count_calls(db, outcome="error") == 2 and count_calls(db, outcome="ok") == 0


def test_mid_stream_death_is_logged_with_partial_text(srv, db):
    srv.die_after = 1
    llm = LoggedLLM(OllamaLLM(MODEL, srv.url), db)
    s = llm.stream(MSGS)
    with pytest.raises(LLMError):
        list(s)
    row = recent_calls(db)[0]
    assert row["outcome"] == "error" and row["response"] == "num_ctx=8192 " and "broke" in row["error"]


def test_abandoned_stream_is_logged_as_cancelled(srv, db):
    llm = LoggedLLM(OllamaLLM(MODEL, srv.url), db)
    s = llm.stream(MSGS)
    next(s)
    s.close()
    row = recent_calls(db)[0]
    assert row["outcome"] == "cancelled" and row["response"] and count_calls(db) == 1


def test_table_lives_beside_other_catalog_tables(srv, db):
    from indexes.catalog import Catalog
    from paperrag.records import PaperMeta

    cat = Catalog(db)
    cat.mark_indexing(PaperMeta("2401.00001"))
    cat.close()
    LoggedLLM(OllamaLLM(MODEL, srv.url), db).chat(MSGS)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT COUNT(*) FROM papers").fetchone()[0] == 1
    cols = [r[1] for r in con.execute("PRAGMA table_info(llm_calls)")]
    con.close()
    assert tuple(cols) == COLUMNS


def test_count_calls_on_missing_db_and_bad_filters(tmp_path, db):
    assert count_calls(tmp_path / "nope.sqlite") == 0 and recent_calls(tmp_path / "nope.sqlite") == []
    sqlite3.connect(db).close()  # exists, no table yet
    assert count_calls(db) == 0
    with pytest.raises(ValueError, match="unknown llm_calls columns"):
        count_calls(db, nonsense=1)


def test_extras_pass_through(srv, db):
    llm = LoggedLLM(OllamaLLM(MODEL, srv.url), db)
    assert llm.host == srv.url and llm.is_reachable()


def test_call_speeds_count_only_uncached_prompt_tokens_and_what_came_after_the_first(tmp_path, db):
    assert call_speeds(tmp_path / "nope.sqlite") == {"prompt_tok_s": None, "decode_tok_s": None}
    ensure_table(db)
    log = functools.partial(log_call, db, backend="llamacpp", model="m", messages=MSGS, outcome="ok")
    log(tokens_in=500, tokens_cached=300, tokens_out=11, first_token_s=1.0, latency_s=1.5)
    start = last_call_id(db)
    log(tokens_in=1000, tokens_cached=200, tokens_out=21, first_token_s=8.0, latency_s=10.0)
    log(tokens_in=400, tokens_cached=None, tokens_out=41, first_token_s=4.0, latency_s=8.0)
    log(tokens_in=None, tokens_out=None, first_token_s=None, latency_s=1.0, error="down")
    assert call_speeds(db, after_id=start) == {"prompt_tok_s": round(1200 / 12, 1), "decode_tok_s": 10.0}
    assert call_speeds(db) == {"prompt_tok_s": round(1400 / 13, 1), "decode_tok_s": round(70 / 6.5, 1)}
