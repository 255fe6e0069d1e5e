"""`paperrag ingest` / `status` through the real network code against arXiv stand-ins on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakes.http_server import ArxivStandIn, Response
from fakes.pdfs import make_paper_pdf
from typer.testing import CliRunner

from indexes.catalog import Catalog
from paperrag.settings import Settings
from ui.cli import app

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "ingest" / "sample_day"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def arxiv(home, monkeypatch):
    """A local arXiv: RSS feeds, the API and PDFs, with fast pacing so tests never wait."""
    with ArxivStandIn() as srv:
        for name, value in srv.fetch_env(retries=3).items():
            monkeypatch.setenv(name, value)
        yield srv


def invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result


def decisions(run: int | None = None) -> dict[str, tuple[str, str]]:
    catalog = Catalog(Settings().catalog_path)
    run = run or catalog.last_runs(1)[0].id
    return {d.paper: (d.action, d.reason) for d in catalog.decisions(run)}


def test_daily_feed_flow_with_retries_api_outage_and_rerun(arxiv, tmp_path):
    (tmp_path / "paperrag.toml").write_text((SAMPLE / "paperrag.toml").read_text())
    arxiv.route("/rss/cs.CL", Response(200, (SAMPLE / "rss" / "cs.CL.xml").read_bytes()))
    # cs.IR answers 503 then 429 before the feed: the client must back off and retry
    arxiv.route("/rss/cs.IR", [Response(503), Response(429, headers={"Retry-After": "0"}),
                               Response(200, (SAMPLE / "rss" / "cs.IR.xml").read_bytes())])
    arxiv.route("/api/query", Response(503, "Service Unavailable"))  # the API is down all day
    for pdf in (SAMPLE / "pdfs").glob("*.pdf"):
        arxiv.route(f"/pdf/{pdf.stem}", Response(200, pdf.read_bytes(), content_type="application/pdf"))

    first = invoke("ingest", "--feed")
    assert first.exit_code == 0, first.output
    got = decisions()
    assert {k: v[0] for k, v in got.items()} == {
        "2301.13298v1": "kept", "1911.02782v2": "kept", "2501.10120v1": "kept",
        "1102.0372v1": "skipped", "0904.1234v3": "skipped"}
    assert got["1102.0372v1"][1] == "no keyword match"
    assert "replacement" in got["0904.1234v3"][1]
    assert arxiv.hits("/rss/cs.IR") == 3
    assert "using the feeds' metadata" in first.output or "API" in first.output
    pdf_hits = sum(arxiv.hits(f"/pdf/{p.stem}") for p in (SAMPLE / "pdfs").glob("*.pdf"))
    assert pdf_hits == 3

    # The same day again: nothing downloaded, no API call, every paper "already".
    api_hits = arxiv.hits("/api/query")
    second = invoke("ingest", "--feed")
    assert second.exit_code == 0, second.output
    assert {v[0] for k, v in decisions().items() if k.startswith(("2301", "1911", "2501"))} == {"already"}
    assert sum(arxiv.hits(f"/pdf/{p.stem}") for p in (SAMPLE / "pdfs").glob("*.pdf")) == 3
    assert arxiv.hits("/api/query") == api_hits

    status = invoke("status")
    assert "indexed 3" in status.output and "no keyword match" in status.output


def test_empty_malformed_and_error_feeds_are_named_and_nothing_breaks(arxiv):
    arxiv.route("/rss/cs.CL", Response(200, (FIXTURES / "feeds" / "rss_weekend_empty.xml").read_bytes()))
    arxiv.route("/rss/cs.LG", Response(200, (FIXTURES / "feeds" / "rss_malformed.xml").read_bytes()))
    arxiv.route("/rss/cs.XX", Response(400, (FIXTURES / "feeds" / "rss_http400.html").read_bytes()))
    result = invoke("ingest", "--feed", "-c", "cs.CL", "-c", "cs.LG", "-c", "cs.XX")
    assert result.exit_code == 0, result.output
    run = Catalog(Settings().catalog_path).last_runs(1)[0]
    notes = run.summary["notes"]
    assert any(n.startswith("cs.CL:") and "weekend" in n for n in notes), notes
    assert any(n.startswith("cs.LG:") and "malformed" in n for n in notes), notes
    assert any(n.startswith("cs.XX:") and "400" in n for n in notes), notes
    assert run.status == "done"


def test_ids_replayed_from_a_recorded_api_response(arxiv, tmp_path):
    recorded = json.loads((FIXTURES / "arxiv_api" / "id_1605.08386_s0_m100_199195aa31ad.json").read_text())
    arxiv.route("/api/query", Response(200, recorded["body"]), query={"id_list": "1605.08386"})
    unknown = json.loads((FIXTURES / "arxiv_api" / "id_0000.0000_s0_m100_8b51d9633a68.json").read_text())
    arxiv.route("/api/query", Response(200, unknown["body"]), query={"id_list": "0000.0000"})
    pdf = make_paper_pdf(tmp_path / "walks.pdf", title="Heat-bath random walks with Markov bases", seed=9)
    arxiv.route("/pdf/1605.08386v1", Response(200, pdf.read_bytes(), content_type="application/pdf"))

    result = invoke("ingest", "1605.08386", "0000.0000")
    assert result.exit_code == 0, result.output
    got = decisions()
    assert got["1605.08386v1"][0] == "kept"
    failed = [v for k, v in got.items() if k.startswith("0000.0000")]
    assert failed and failed[0][0] == "failed" and failed[0][1]
    row = Catalog(Settings().catalog_path).get_paper("1605.08386v1")
    assert row.title == "Heat-bath random walks with Markov bases" and row.published == "2016-05-26"


def test_fallback_to_the_sample_day_when_arxiv_is_unreachable(home, monkeypatch):
    monkeypatch.setenv("PAPERRAG_FETCH__RSS_URL", "http://127.0.0.1:9/rss/{category}")  # discard port: refused
    monkeypatch.setenv("PAPERRAG_FETCH__RETRIES", "1")
    result = invoke("ingest", "--feed", "--fallback-sample")
    assert result.exit_code == 0, result.output
    assert Catalog(Settings().catalog_path).status_counts() == {"indexed": 3}


def test_one_line_errors_and_exit_codes(home):
    env = {**os.environ, "PAPERRAG_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-m", "ui.cli", "ingest"], cwd=REPO, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: nothing to ingest") and proc.stderr.count("\n") == 1
    proc = subprocess.run([sys.executable, "-m", "ui.cli", "status", "--run", "42"], cwd=REPO, env=env,
                          capture_output=True, text=True)
    assert proc.returncode in (0, 1)  # no catalog yet: a hint, not a crash
    assert "Traceback" not in proc.stderr
