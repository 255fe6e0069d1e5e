"""`paperrag search --json` and `paperrag ask` through the CLI, over a real mini-index."""

from __future__ import annotations

import json
import re

import pytest
from fakes.corpus import ingest
from fakes.ollama_server import OllamaTestServer
from fakes.pdfs import make_paper_pdf
from typer.testing import CliRunner

from paperrag.settings import Settings
from ui.cli import app

FACT = ("The widget tokenizer splits every formula into 17 glyph classes before the encoder sees it, "
        "which doubles the accuracy on handwritten equations.")


@pytest.fixture
def indexed(home, tmp_path, embedder):
    pdf = make_paper_pdf(tmp_path / "p.pdf", title="Glyph Tokenizers", arxiv_id="2406.00007", seed=31,
                         extra_sections=[("5 Tokenizer", FACT)])
    settings = Settings()
    ingest(settings, embedder, pdf)
    return settings


def test_search_json_lists_ranked_passages(indexed):
    result = CliRunner().invoke(app, ["search", "how many glyph classes does the tokenizer use", "-k", "3", "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert 1 <= len(hits) <= 3
    for hit in hits:
        assert {"arxiv_id", "version", "title", "section", "pages", "score", "text"} <= set(hit)
    assert hits[0]["arxiv_id"] == "2406.00007" and "17 glyph classes" in hits[0]["text"]
    assert hits[0]["text"].startswith("Glyph Tokenizers › 5 Tokenizer")
    assert hits == sorted(hits, key=lambda h: -h["score"])


def test_search_filters_can_exclude_everything(indexed):
    result = CliRunner().invoke(app, ["search", "glyph classes", "--category", "q-bio.NC", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_ask_streams_an_answer_with_cited_sources_over_ollama(indexed, monkeypatch):
    def reply(body):  # points at the candidate sentence that holds the fact
        user = body["messages"][-1]["content"]
        n = next(n for n, text in re.findall(r"^\[(\d+)\] (.+)$", user, re.MULTILINE) if "17" in text)
        return f"It uses 17 glyph classes [{n}]."

    with OllamaTestServer(reply=reply) as srv:
        monkeypatch.setenv("PAPERRAG_LLM__BACKEND", "ollama")
        monkeypatch.setenv("PAPERRAG_LLM__OLLAMA_HOST", srv.url)
        result = CliRunner().invoke(app, ["ask", "How many glyph classes does the widget tokenizer use?"])
    assert result.exit_code == 0, result.output
    assert "It uses 17 glyph classes [2406.00007 p." in result.output
    assert "Sources" in result.output and "https://arxiv.org/pdf/2406.00007v1#page=" in result.output


def test_ask_with_ollama_down_is_one_clear_line(indexed, monkeypatch):
    monkeypatch.setenv("PAPERRAG_LLM__BACKEND", "ollama")
    monkeypatch.setenv("PAPERRAG_LLM__OLLAMA_HOST", "http://127.0.0.1:9")
    result = CliRunner().invoke(app, ["ask", "How many glyph classes does the widget tokenizer use?"])
    assert result.exit_code != 0
    assert "ollama" in str(result.exception).lower() or "ollama" in result.output.lower()


def test_search_rerank_option_reorders_within_the_same_candidates(indexed):
    query = "how many glyph classes does the tokenizer use"
    plain = json.loads(CliRunner().invoke(app, ["search", query, "-k", "5", "--json"]).stdout)
    result = CliRunner().invoke(app, ["search", query, "-k", "5", "--json", "--rerank", "5"])
    assert result.exit_code == 0, result.output
    reranked = json.loads(result.stdout)
    assert sorted(h["chunk_id"] for h in reranked) == sorted(h["chunk_id"] for h in plain)
    assert "17 glyph classes" in reranked[0]["text"]
    assert (indexed.bm25_dir / "sentences.sqlite").exists()  # sentence vectors were embedded and kept
