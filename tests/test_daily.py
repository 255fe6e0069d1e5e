"""`paperrag daily` / `digest`: the sample day end to end, the cache (counted through the LLM-call log),
prompt-version invalidation, empty days, regeneration from the store."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from ingest.settings import Settings
from rag.digest.daily import regenerate, run_daily
from rag.digest.formats import ANALYSIS_HEADINGS, SUMMARY_HEADINGS
from rag.llm.base import BaseLLM, ChatOptions
from rag.llm.call_log import LoggedLLM, count_calls

SAMPLE_DAY = "2025-01-20"


class ValidWriterLLM(BaseLLM):
    """Writes outputs that pass the quality gates, in the language asked for (a fake for cache logic)."""

    backend, model, context_tokens = "scripted", "writer", 8192

    def _chat(self, messages, opts: ChatOptions):
        system, user = messages[0]["content"], messages[1]["content"]
        zh = "Chinese" in system
        if "TITLE:" in system:  # translation
            text = "TITLE: 测试标题的中文翻译\nABSTRACT: 这是摘要的中文翻译，内容完整，说明了方法与实验结果。"
        elif "Notes:" in user:  # map
            text = "- the method uses a crawler and a selector\n- recall improves by 37.78%"
        elif "executive summary" in system:
            lang = "zh" if zh else "en"
            date = re.search(r"Digest of (\d{4}-\d{2}-\d{2})", user).group(1)
            papers = re.findall(r"Paper (\d+): (.+)", user)
            parts = []
            for i, h in enumerate(SUMMARY_HEADINGS[lang]):
                n, title = papers[i % len(papers)]
                parts.append(f"**{h}**\n" + (f"论文 {n}：{title} 在第{i + 1}个方面值得关注（{date}）。" if zh
                                             else f"Paper {n}: {title} matters for point {i + 1} ({date})."))
            text = "\n\n".join(parts)
        else:  # analysis
            fmt = "report" if "method analysis" in system else "monitor"
            lang = "zh" if zh else "en"
            body = ("本部分说明了第{}个要点：问题、方法的关键步骤以及实验中的主要数字，结论清楚。" if zh else
                    "This part explains point {}: the problem, the key steps of the method and the main numbers.")
            text = "\n".join(f"### {h}\n{body.format(i + 1)}" for i, h in enumerate(ANALYSIS_HEADINGS[fmt][lang]))
        return self._result(text, "stop", 100, 50, 0.0, 0.0)

    def _stream(self, messages, opts: ChatOptions):
        result = self._chat(messages, opts)
        yield result.text
        return result


def fast_settings(home, **digest) -> Settings:
    base = Settings(home=home)
    return base.model_copy(update={"digest": base.digest.model_copy(update={
        "formats": ["table", "report", "monitor"], "language": "zh", **digest})})


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory, embedder):
    """The sample day written once for the module; the tests below compare LLM-call counts before/after."""
    settings = fast_settings(tmp_path_factory.mktemp("daily") / "home")
    llm = LoggedLLM(ValidWriterLLM(), settings.catalog_path)
    first = run_daily(settings, sample=True, llm=llm, embedder=embedder)
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
    assert first.outcomes.get("first try", 0) >= 3 * 3  # 3 papers × (translation + 2 analyses) passed the gates

    again = run_daily(settings, sample=True, llm=llm, embedder=embedder)
    assert again.already_done
    assert count_calls(settings.catalog_path) == calls, "a finished day must make zero LLM calls"
    assert again.llm_calls == 0


def test_prompt_version_change_regenerates_only_what_depends_on_it(sample_run, monkeypatch, embedder):
    from rag import prompts

    settings, llm, first, _ = sample_run
    original = prompts.load_prompt

    def bumped(name):
        prompt = original(name)
        return replace(prompt, version=prompt.version + 1) if name == "analysis_monitor" else prompt

    monkeypatch.setattr("rag.digest.writer.load_prompt", bumped)
    monkeypatch.setattr("rag.digest.daily.load_prompt", bumped)
    before = count_calls(settings.catalog_path)
    second = run_daily(settings, sample=True, llm=llm, embedder=embedder)
    assert not second.already_done  # the manifest names the prompt versions
    new = count_calls(settings.catalog_path) - before
    assert new == 3 == second.llm_calls  # one monitor analysis per paper; no map, translation or report call


def test_regenerate_from_the_store_and_in_another_language(sample_run):
    settings, llm, first, _ = sample_run
    before = count_calls(settings.catalog_path)
    same = regenerate(settings, SAMPLE_DAY, formats=["report"], llm=llm)
    assert same.llm_calls == 0 and count_calls(settings.catalog_path) == before
    english = regenerate(settings, SAMPLE_DAY, formats=["report"], language="en", llm=llm)
    assert english.llm_calls == 3 + 1  # 3 analyses in English (notes are reused) + the summary
    assert "### 1. Abstract" in english.files["report.md"].read_text()


def test_empty_day_says_why(tmp_path, embedder, monkeypatch):
    settings = fast_settings(tmp_path / "home")
    settings = settings.model_copy(update={"sources": settings.sources.model_copy(
        update={"keywords": ["quantum chromodynamics"]})})
    # the sample day brings its own keywords: keep ours so that no paper matches
    monkeypatch.setattr("ingest.sources.sample_settings", lambda s: s)
    result = run_daily(settings, sample=True, llm=ValidWriterLLM(), embedder=embedder)
    assert result.digest.papers == [] and "keyword" in result.digest.empty_reason
    assert "keyword" in result.files["report.md"].read_text()


def test_daily_sample_end_to_end_with_the_embedded_model(tmp_path, embedder):
    """Real llama.cpp generation (0.5B, short outputs): every published output passed its gate, or the
    failure is stated; the re-run is free."""
    from test_llm_llamacpp import small_gguf

    from rag.llm.select import get_llm

    settings = fast_settings(tmp_path / "home", max_papers=1, analysis_max_tokens=300, map_input_tokens=900,
                             max_map_parts=1, map_max_tokens=96, summary_max_tokens=300)
    settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={
        "backend": "llamacpp", "gguf_path": str(small_gguf()), "context_tokens": 4096, "temperature": 0.0})})
    result = run_daily(settings, sample=True, llm=get_llm(settings), embedder=embedder)
    assert len(result.digest.papers) == 1 and result.llm_calls > 0
    entry = result.digest.papers[0]
    monitor = result.files["monitor.md"].read_text()
    assert entry.meta.title in monitor and "Announce Type" not in monitor
    run_report = result.files["run-report"].read_text()
    assert any(o in run_report for o in ("first try", "after retry", "fallback", "failed"))
    calls = count_calls(settings.catalog_path)
    assert run_daily(settings, sample=True, embedder=embedder).already_done
    assert count_calls(settings.catalog_path) == calls


def test_echoed_template_placeholders_are_rejected_and_retried(tmp_path):
    """Real failure of the 0.5B: it returned the headings with the template's bracketed instructions,
    translated ("[摘要，简体中文]"), instead of an analysis."""
    from ingest.records import PaperMeta
    from rag.digest.writer import DigestWriter

    echoed = "\n".join(f"### {h}\n[{h[3:]}：问题、方法的关键步骤、其关键组件以及它们如何连接，实验的数据集、指标和主要数字，用简体中文写出]"
                       for h in ANALYSIS_HEADINGS["monitor"]["zh"])
    good = ValidWriterLLM()

    class EchoThenGood(ValidWriterLLM):
        calls = 0

        def _chat(self, messages, opts):
            EchoThenGood.calls += 1
            if EchoThenGood.calls == 1:
                return self._result(echoed, "stop", 100, 50, 0.0, 0.0)
            return good._chat(messages, opts)

    settings = fast_settings(tmp_path / "home")
    meta = PaperMeta(arxiv_id="2409.00001", title="A Paper", abstract="We propose a method. It works well.")
    analysis = DigestWriter(settings, llm=EchoThenGood()).analysis(meta, "monitor", "zh", fulltext=False)
    assert analysis.outcome == "after retry" and "[" not in analysis.text
    assert "copied the template" in analysis.reason
