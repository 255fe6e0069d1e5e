"""`paperrag daily` / `digest`: the sample day end to end, the cache (counted through the LLM-call log),
prompt-version invalidation, empty days, regeneration from the store.

The papers' cards come from a stand-in (tests/fakes/cards.py: each field one verified sentence of the paper)
through the writer's seam, `rag.digest.writer.default_card_source`; the card extraction has its own tests."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fakes.cards import stand_in_card
from fakes.llm import ValidWriterLLM
from fakes.models import small_gguf

from indexes.call_log import count_calls
from paperrag.library import Library
from paperrag.settings import Settings
from rag.digest.formats import ANALYSIS_HEADINGS, SUMMARY_HEADINGS
from rag.llm.logged import LoggedLLM

SAMPLE_DAY = "2025-01-20"
SPANS_PER_PAPER = 11  # the stand-in fills every card field; zh: one span each (+ the table's title)


@pytest.fixture(scope="module", autouse=True)
def stand_in_cards():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("rag.digest.writer.default_card_source", stand_in_card)
        yield


def fast_settings(home, **digest) -> Settings:
    base = Settings(home=home)
    return base.model_copy(update={"digest": base.digest.model_copy(update={
        "formats": ["table", "report", "monitor"], "language": "zh", **digest})})


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory, embedder):
    """The sample day written once for the module; the tests below compare LLM-call counts before/after."""
    settings = fast_settings(tmp_path_factory.mktemp("daily") / "home")
    llm = LoggedLLM(ValidWriterLLM(), settings.catalog_path)
    first = Library(settings, llm=llm, embedder=embedder).daily(sample=True)
    return settings, llm, first, count_calls(settings.catalog_path)


def test_sample_day_writes_every_format_and_a_rerun_makes_no_llm_call(sample_run, embedder):
    settings, llm, first, calls = sample_run
    assert first.date == SAMPLE_DAY and len(first.digest.papers) == 3 and not first.already_done
    for name in ("table.md", "table.html", "report.md", "report.html", "monitor.md", "monitor.html",
                 "run-report", "feed"):
        assert first.files[name].exists(), name
    assert calls == first.llm_calls > 0
    report = first.files["report.md"].read_text()
    assert report.startswith("time: 20250120") and "## Executive Summary" in report
    for entry in first.digest.papers:  # TOC → anchor → paper section
        assert f"(#{entry.anchor})" in report and f"<a id='{entry.anchor}'></a>" in report
    run_report = first.files["run-report"].read_text()
    assert "0904.1234v3" in run_report and "replacement" in run_report  # dropped papers are listed with why
    assert "no keyword match" in run_report  # the sample day's own keywords were applied
    assert first.outcomes.get("first try", 0) == 3 * 3  # 3 papers × (title + 2 analyses) passed every check
    assert first.llm_calls == 3 * (SPANS_PER_PAPER + 1)  # one span per card field, shared by the formats
    summary = report.split("## Executive Summary", 1)[1].split("## Table of Contents", 1)[0]
    assert [h for h in SUMMARY_HEADINGS["zh"] if f"### {h}" in summary] == SUMMARY_HEADINGS["zh"]
    monitor = first.files["monitor.md"].read_text()
    for h in ANALYSIS_HEADINGS["monitor"]["zh"]:
        assert monitor.count(f"#### {h}\n") == 3
    assert "](https://arxiv.org/pdf/" in monitor and "#page=" in monitor  # spans cite their pages

    again = Library(settings, llm=llm, embedder=embedder).daily(sample=True)
    assert again.already_done
    assert count_calls(settings.catalog_path) == calls, "a finished day must make zero LLM calls"
    assert again.llm_calls == 0


def test_prompt_version_change_regenerates_only_what_depends_on_it(sample_run, monkeypatch, embedder):
    from rag import prompts

    settings, llm, first, _ = sample_run
    original = prompts.load_prompt

    def bumped(name):
        prompt = original(name)
        return replace(prompt, version=prompt.version + 1) if name == "translate_title" else prompt

    monkeypatch.setattr("rag.digest.writer.load_prompt", bumped)
    monkeypatch.setattr("rag.digest.daily.load_prompt", bumped)
    before = count_calls(settings.catalog_path)
    second = Library(settings, llm=llm, embedder=embedder).daily(sample=True)
    assert not second.already_done  # the manifest names the prompt versions
    new = count_calls(settings.catalog_path) - before
    assert new == 3 == second.llm_calls  # one title per paper; no span is written again


def test_regenerate_from_the_store_and_in_another_language(sample_run):
    settings, llm, first, _ = sample_run
    before = count_calls(settings.catalog_path)
    same = Library(settings, llm=llm).digest(SAMPLE_DAY, formats=["report"])
    assert same.llm_calls == 0 and count_calls(settings.catalog_path) == before
    english = Library(settings, llm=llm).digest(SAMPLE_DAY, formats=["report"], language="en")
    assert english.llm_calls == 0  # English spans are the cards' own values: no model call
    assert "### 1. Overview" in english.files["report.md"].read_text()


def test_empty_day_says_why(tmp_path, embedder, monkeypatch):
    settings = fast_settings(tmp_path / "home")
    settings = settings.model_copy(update={"sources": settings.sources.model_copy(
        update={"keywords": ["quantum chromodynamics"]})})
    # the sample day brings its own keywords: keep ours so that no paper matches
    monkeypatch.setattr("ingest.sources.sample_settings", lambda s: s)
    result = Library(settings, llm=ValidWriterLLM(), embedder=embedder).daily(sample=True)
    assert result.digest.papers == [] and "keyword" in result.digest.empty_reason
    assert "keyword" in result.files["report.md"].read_text()


def test_daily_sample_end_to_end_with_the_embedded_model(tmp_path, embedder):
    """Real llama.cpp generation (0.5B, Chinese spans): every published span passed its checks or shows its
    quotes under the label; the re-run is free."""
    settings = fast_settings(tmp_path / "home", max_papers=1)
    settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={
        "backend": "llamacpp", "gguf_path": str(small_gguf()), "context_tokens": 4096, "temperature": 0.0})})
    result = Library(settings, embedder=embedder).daily(sample=True)
    assert len(result.digest.papers) == 1 and result.llm_calls > 0
    entry = result.digest.papers[0]
    monitor = result.files["monitor.md"].read_text()
    assert entry.meta.title in monitor and "Announce Type" not in monitor and "% CJK" not in monitor
    run_report = result.files["run-report"].read_text()
    assert any(o in run_report for o in ("first try", "after retry", "fallback", "failed"))
    calls = count_calls(settings.catalog_path)
    assert Library(settings, embedder=embedder).daily(sample=True).already_done
    assert count_calls(settings.catalog_path) == calls
