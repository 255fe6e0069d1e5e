"""Outbound traffic: a whole `paperrag daily` (arXiv attempted, refused, the bundled sample day used) and the web
app (page, a question answered by an Ollama-protocol model on 127.0.0.1, a reader page) run with every
non-loopback destination refused, and every destination they attempt recorded (tests/faults/audit/
sitecustomize.py: a Python audit hook on name lookups, connects and datagrams, in every process they start).

Nothing but the configured arXiv hosts is ever attempted beyond loopback — no Hugging Face, no chromadb or
gradio telemetry — with the offline/telemetry variables UNSET in the environment the test hands over: paperrag
sets them itself (paperrag/offline.py) before those libraries are imported."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fakes.llm import writer_reply
from fakes.ollama_server import OllamaTestServer

from faults.harness import cli_env, run_cli
from faults.webapp import WebApp, ask
from paperrag.offline import QUIET_ENV
from paperrag.settings import Settings

AUDIT = Path(__file__).with_name("audit")
DEADLINE_S = 1500  # the whole day on a shared 2-core machine
DAY = "2025-01-20"  # the bundled sample day


def _arxiv_hosts() -> set[str]:
    src = Settings().fetch
    return {urlsplit(u.replace("{category}", "cs.CL").replace("{id}", "1")).hostname
            for u in (src.rss_url, src.listing_url, src.api_url, src.pdf_url)}


def _audited_env(home: Path, tmp: Path, log: Path, **extra) -> dict:
    env = cli_env(home, tmp, **extra)
    for key in QUIET_ENV:
        env.pop(key, None)  # the product must set them, not the caller
    env["PYTHONPATH"] = f"{AUDIT}:{env['PYTHONPATH']}"
    env["PAPERRAG_AUDIT_LOG"] = str(log)
    return env


def _records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    root = tmp_path_factory.mktemp("outbound")
    home, log = root / "home", root / "audit.jsonl"
    daily = run_cli(["daily"], _audited_env(home, root, log, PAPERRAG_LLM__BACKEND="fake"), timeout=DEADLINE_S)
    daily_records = _records(log)
    log.unlink(missing_ok=True)

    srv = OllamaTestServer(reply=lambda body: writer_reply(body["messages"])).start()
    app = WebApp(_audited_env(home, root, log, PAPERRAG_LLM__BACKEND="ollama", PAPERRAG_LLM__OLLAMA_HOST=srv.url))
    try:
        status, _, page = app.get("/")
        answer, sources = ask(app.client(), "What do the LongEval guidelines recommend for evaluating summaries?")
        from paperrag.library import Library

        with Library(Settings(home=home)) as lib:
            key = lib.papers()[0].key
            reader = app.get(lib.reader_url(key, 1, []))
        served = {"status": status, "page": page, "answer": answer, "sources": sources, "reader": reader,
                  "llm_calls": len(srv.chat_requests()), "output": app.output()}
    finally:
        app.close()
        srv.stop()
    return {"daily": daily, "daily_records": daily_records, "ui_records": _records(log), "served": served}


def _destinations(records: list[dict]) -> list[dict]:
    return [r for r in records if r["event"] != "import"]


def test_the_daily_run_attempts_arxiv_only_and_falls_back_to_the_sample_day(audited):
    daily = audited["daily"]
    assert daily.returncode == 0, daily.stderr[-3000:]
    assert f"digest of {DAY}: 3 papers" in daily.stdout, daily.stdout[-3000:]
    dest = _destinations(audited["daily_records"])
    refused = {r["host"] for r in dest if not r["allowed"]}
    assert refused, "the day never tried arXiv: the audit saw nothing"  # the hook works and arXiv was tried
    assert refused <= _arxiv_hosts(), refused - _arxiv_hosts()


def test_the_web_app_attempts_nothing_beyond_loopback(audited):
    served = audited["served"]
    assert served["status"] == 200 and b"paperrag" in served["page"].lower()
    assert served["llm_calls"] >= 1 and served["answer"].strip(), served
    assert served["reader"][0] == 200 and "text/html" in served["reader"][1]
    dest = _destinations(audited["ui_records"])
    assert dest, "the app made no connection at all: the audit hook is not loaded"
    assert [r for r in dest if not r["allowed"]] == [], served["output"][-2000:]


@pytest.mark.parametrize("run", ["daily_records", "ui_records"])
def test_telemetry_and_the_hub_are_off_before_their_libraries_load(audited, run):
    imports = {r["module"]: r["env"] for r in audited[run] if r["event"] == "import"}
    expected = {"chromadb"} | ({"gradio"} if run == "ui_records" else set())
    assert expected <= set(imports), imports.keys()
    for module, env in imports.items():
        for key in ("HF_HUB_OFFLINE", "ANONYMIZED_TELEMETRY", "GRADIO_ANALYTICS_ENABLED"):
            assert env[key] == QUIET_ENV[key], (module, key, env[key])
