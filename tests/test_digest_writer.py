"""The digest composed from paper cards (rag/digest/writer.py, compose.py): every published span carries a
verified page citation, a span whose number is not in its quotes is retried then shown as the labelled quotes,
English in a Chinese span is rejected, the reader never sees the validator's words, the basis label tells the
truth, and a second run makes no LLM call.

The cards are built by hand from real sentences of a generated, ingested paper (tests/fakes/cards.py), so every
quote verifies against the parsed PDF; the card extraction itself (rag.cards.build_card) is not used here.
"""

from __future__ import annotations

import pytest
from fakes.cards import card_of
from fakes.corpus import Paper, build_corpus
from fakes.data import A_DATA, A_HW, A_RESULT, SPARSE
from fakes.llm import ScriptedLLM, ValidWriterLLM

from paperrag.library import Library
from paperrag.records import PaperMeta
from rag.digest import daily, render
from rag.digest.formats import ANALYSIS_HEADINGS, BASIS_LABEL, SUMMARY_HEADINGS
from rag.digest.model import Cited, Digest, PaperEntry
from rag.digest.validate import spaced
from rag.digest.writer import DigestWriter
from rag.gated import Outcome
from rag.llm.base import LLMUnavailable
from rag.llm.fake_backend import FakeLLM, request_of
from rag.quotes import PageTexts, unbacked

MOTIVATION = "Dense attention stores every key for every query, which makes long sequences expensive in memory."
LIMIT = "The method has not been tested on sequences longer than 64k tokens."
KEY = "2405.40001v1"
ABSTRACT_KEY = "2405.40009v1"
ABSTRACT = ("We study widget retrieval with sparse attention. Our retriever finds 91 percent of the relevant "
            "widgets in the WidgetHunt collection.")
REJECTED_ZH = "（模型输出未通过检查，以下为原文引文）"
INTERNALS = ("% CJK", "not in Chinese", "try 1", "try 2", "not in the paper's sentences", "LLM error", "unbacked",
             "card extraction failed", "copies the prompt")
GOOD_ZH = "论文对这一点作了说明，内容与原文一致。"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("digest-writer")
    c = build_corpus(root, embedder, [Paper(
        "sparse", "Sparse Widget Attention", "2405.40001", seed=31,
        sections=[("1 Motivation", MOTIVATION), ("4 Sparse attention", SPARSE), ("5 Training", f"{A_DATA} {A_HW}"),
                  ("6 Experiments", f"{A_RESULT} {LIMIT}")])])
    lib = Library(c.settings, embedder=embedder)
    meta = PaperMeta(arxiv_id="2405.40009", title="Sparse Widget Retrieval", abstract=ABSTRACT,
                     categories=["cs.IR"], primary_category="cs.IR", published="2025-01-20")
    lib.catalog.mark_indexing(meta)  # a paper whose PDF was never read: abstract only
    lib.catalog.commit_paper(meta.key, [], content_sha256="", fulltext=False, n_pages=0, embedder="x")
    lib.close()
    return c


def library(corpus, embedder, llm) -> Library:
    return Library(corpus.settings, llm=llm, embedder=embedder)


def sparse_card(lib, **changes):
    fields = {
        "problem": ("the memory of attention on long sequences", MOTIVATION),
        "motivation": ("dense attention stores every key for every query", MOTIVATION),
        "core_idea": ("keep only the 64 highest-scoring keys for every query", SPARSE),
        "data": ("the WidgetCorpus collection of 1.2 million annotated widgets", A_DATA),
        "compute": ("14 hours on 4 NVIDIA A100 GPUs", A_HW),
        "baselines": ("the dense baseline", A_RESULT),
        "limitations": ("not tested on sequences longer than 64k tokens", LIMIT),
    }
    fields.update(changes)
    return card_of(lib, KEY, fields=fields, results=[("accuracy", "87.3", "WidgetBench", A_RESULT)],
                   not_stated=["method_steps", "setup", "code_data"], failed=["ablations"])


def writer_for(lib, card=None, **kw) -> DigestWriter:
    cards = {KEY: card or sparse_card(lib)}
    return DigestWriter(lib, card_source=lambda parts, key, progress: cards[key], **kw)


def entry_of(lib, key: str, n: int = 1) -> PaperEntry:
    row = lib.catalog.get_paper(key)
    return PaperEntry(n=n, meta=row.meta, fulltext=bool(row.fulltext))


def render_one(entry: PaperEntry, fmt: str, lang: str = "zh") -> str:
    d = Digest("2025-01-20", lang, ["cs.CL"], [], papers=[entry])
    return render.render_markdown(d, fmt) + render.render_html(d, fmt)


def claims(analysis) -> list[Cited]:
    return [c for part in analysis.parts for item in part.items for c in item.spans if c.claim]


def assert_every_claim_is_cited_and_backed(lib, analysis):
    texts = PageTexts(lib.catalog, lib.pdf_cache)
    for c in claims(analysis):
        assert c.quotes, c
        assert all(texts.verify(q) for q in c.quotes), c
        if c.kind != "quotes":
            assert unbacked(spaced(c.text), c.quotes) == [], c


# ------------------------------------------------------------------------------------------------ analyses
def test_chinese_report_every_span_written_checked_and_cited(corpus, embedder):
    lib = library(corpus, embedder, ValidWriterLLM(model="w-report"))
    w = writer_for(lib)
    entry = entry_of(lib, KEY)
    a = w.analysis(entry.meta, "report", "zh")
    assert (a.outcome, a.basis, a.rejected, a.missing) == (Outcome.FIRST_TRY, "full text", 0, 1), a.reason
    assert [p.heading for p in a.parts] == ANALYSIS_HEADINGS["report"]["zh"]
    # one call per card field found (7); none for the fields not stated or not extracted, none for the results
    assert w.stats.llm_calls == 7
    assert_every_claim_is_cited_and_backed(lib, a)
    entry.analysis = a
    md = render_one(entry, "report")
    assert "*分析依据：基于论文全文；1 项内容未能从论文中提取*" in md
    assert "**核心思想**：论文在这一方面的说明是：" in md and "涉及的数字为 64。 [[p." in md
    assert "**accuracy**：87.3（WidgetBench） [[p." in md  # the number rendered by code, with its page
    assert "**方法步骤**：论文未说明。" in md and "**消融实验**：未能从论文中提取。" in md
    assert "](https://arxiv.org/pdf/2405.40001v1#page=" in md
    assert not [x for x in INTERNALS if x in md]


def test_a_number_not_in_the_quotes_is_retried_then_shown_as_labelled_quotes(corpus, embedder):
    def reply(messages):
        return "该方法只保留得分最高的 128 个键。" if "\nCore idea: " in request_of(messages) else GOOD_ZH

    llm = ScriptedLLM(reply, model="w-unbacked")
    lib = library(corpus, embedder, llm)
    w = writer_for(lib)
    rec = w.span(w.card(entry_of(lib, KEY).meta), "core_idea", "zh")
    assert rec.outcome == Outcome.FALLBACK and rec.cited.kind == "quotes"
    assert [q.text for q in rec.cited.quotes] == [SPARSE]
    assert "core_idea, try 1: not in the paper's sentences: 128" in rec.reason and "try 2" in rec.reason
    # the retry sent the problem back, after the rejected answer (the prompt's prefix unchanged)
    core = [m for m in llm.calls if "\nCore idea: " in request_of(m)]
    assert len(core) == 2 and core[1][:-2] == core[0]
    assert core[1][-2] == {"role": "assistant", "content": "该方法只保留得分最高的 128 个键。"}
    assert "128" in core[1][-1]["content"] and "Chinese" in core[1][-1]["content"]

    entry = entry_of(lib, KEY)
    entry.analysis = a = w.analysis(entry.meta, "monitor", "zh")
    assert a.outcome == Outcome.FALLBACK and a.rejected == 1 and "128" in a.reason
    assert_every_claim_is_cited_and_backed(lib, a)
    md = render_one(entry, "monitor")
    assert f"*{REJECTED_ZH}* “Sparse widget attention keeps only the 64 highest-scoring keys" in md
    assert "128" not in md and not [x for x in INTERNALS if x in md]
    assert "其中 1 处模型输出未通过检查，改为显示论文原文引文" in md  # the basis line says what happened


def test_english_in_a_chinese_span_is_rejected_then_retried(corpus, embedder):
    llm = ScriptedLLM(["Sparse widget attention keeps only 64 keys for every query.", "稀疏注意力只为每个查询保留 64 个键。"],
                      model="w-english")
    lib = library(corpus, embedder, llm)
    w = writer_for(lib)
    rec = w.span(w.card(entry_of(lib, KEY).meta), "core_idea", "zh")
    assert rec.outcome == Outcome.AFTER_RETRY and rec.cited.text == "稀疏注意力只为每个查询保留 64 个键。"
    assert "span is not in Chinese" in rec.reason and "not in Chinese" in llm.calls[1][-1]["content"]


def test_a_span_keeps_its_sentences_that_pass_when_one_adds_a_number_twice(corpus, embedder):
    """Seen in a digest run: a span said "end of May 2020" as "5 月 31 日" on both tries. The retry shows the
    clause at fault; when the retry fails too, the sentences that pass every check on their own are kept."""
    bad = "稀疏注意力只为每个查询保留 64 个键。该方法于 2020 年 5 月 31 日发布。"
    llm = ScriptedLLM([bad, bad], model="w-date")
    lib = library(corpus, embedder, llm)
    w = writer_for(lib)
    rec = w.span(w.card(entry_of(lib, KEY).meta), "core_idea", "zh")
    assert rec.cited.kind == "model" and rec.cited.text == "稀疏注意力只为每个查询保留 64 个键。"
    assert rec.outcome == Outcome.AFTER_RETRY and "kept the sentences that pass" in rec.reason
    assert '(in "该方法于 2020 年 5 月 31 日发布")' in llm.calls[1][-1]["content"]

    one = ScriptedLLM(["该方法于 2020 年 5 月 31 日发布，只保留 64 个键。"] * 2, model="w-date-one")
    lib1 = library(corpus, embedder, one)
    w1 = writer_for(lib1)
    rec1 = w1.span(w1.card(entry_of(lib1, KEY).meta), "core_idea", "zh")
    assert rec1.cited.kind == "quotes"  # one sentence: nothing to keep, the quotes are shown


def test_a_span_too_long_only_together_keeps_its_leading_sentences(corpus, embedder):
    """Seen in a digest run (REALM's setup): two faithful sentences, 241 characters together, on both tries. Each
    passes every check alone, so the first is kept instead of falling back to the quotes."""
    first = ("稀疏注意力只为每个查询保留 64 个键，其余的键在计算注意力之前就被丢弃，因此显存占用随序列长度的增长明显放缓，"
             "长序列上的训练和推理都因此变得更加可行，作者认为这是该方法最核心的设计选择，也是它与以往稠密注意力方法在思路上的"
             "根本区别所在，后续各节的实验都围绕这一设计展开讨论。")
    second = ("论文进一步说明，这种做法不需要修改模型的其他部分，只需在注意力层中加入一个选择步骤即可，因此可以方便地移植到"
              "现有的各种模型结构之中，而且实现起来相当简单，不会显著增加工程上的复杂度，也不会影响模型在短序列上的原有表现。")
    assert len(first) < 240 and len(second) < 240 and len(first + second) > 240
    llm = ScriptedLLM([first + second] * 2, model="w-long")
    lib = library(corpus, embedder, llm)
    w = writer_for(lib)
    rec = w.span(w.card(entry_of(lib, KEY).meta), "core_idea", "zh")
    assert "too long" in rec.reason and len(llm.calls) == 2
    assert rec.cited.kind == "model" and rec.cited.text == first
    assert rec.outcome == Outcome.AFTER_RETRY and "kept the sentences that pass" in rec.reason


def test_the_reader_never_sees_the_validators_words(corpus, embedder, tmp_path):
    """A model that only answers in English: every span falls back to its quotes, labelled; the digest files
    say so in the reader's words, the run report has the validator's."""
    settings = corpus.settings.model_copy(update={"home": tmp_path / "out"})
    lib = library(corpus, embedder, ScriptedLLM("The method keeps 64 keys for each query.", model="w-english-only"))
    w = writer_for(lib)
    digest = Digest("2025-01-20", "zh", ["cs.CL"], [], papers=[entry_of(lib, KEY)])
    result = daily.write_day(settings, digest, w, formats=["table", "report", "monitor"])
    reader = "".join(result.files[f].read_text(encoding="utf-8") for f in (
        "table.md", "table.html", "report.md", "report.html", "monitor.md", "monitor.html"))
    assert REJECTED_ZH in reader and "“Sparse widget attention keeps only the 64" in reader
    assert not [x for x in INTERNALS if x in reader]
    run_report = result.files["run-report"].read_text(encoding="utf-8")
    assert "span is not in Chinese" in run_report and "fallback" in run_report


def test_abstract_only_basis_is_labelled_and_cited_to_the_abstract(corpus, embedder):
    lib = library(corpus, embedder, ValidWriterLLM(model="w-abstract"))
    card = card_of(lib, ABSTRACT_KEY, fields={
        "problem": ("widget retrieval with sparse attention", "We study widget retrieval with sparse attention."),
        "core_idea": ("a retriever for widgets", ABSTRACT.split(". ", 1)[1])})
    assert card.basis == "abstract only"
    w = DigestWriter(lib, card_source=lambda parts, key, progress: card)
    entry = entry_of(lib, ABSTRACT_KEY)
    entry.analysis = a = w.analysis(entry.meta, "report", "zh")
    assert a.basis == "abstract only" and a.outcome == Outcome.FIRST_TRY
    assert_every_claim_is_cited_and_backed(lib, a)
    md = render_one(entry, "report")
    assert f"*分析依据：{BASIS_LABEL['zh']['abstract only']}*" in md
    assert "[[abstract](https://arxiv.org/abs/2405.40009v1)]" in md and "#page=" not in md
    assert "**动机**：摘要未说明。" in md  # where we looked: only the abstract
    entry.analysis = w.analysis(entry.meta, "monitor", "zh")
    assert "### AI分析（基于摘要）" in render_one(entry, "monitor")


def test_a_failed_card_extraction_is_stated_not_explained(corpus, embedder):
    lib = library(corpus, embedder, ValidWriterLLM(model="w-nocard"))

    def broken(parts, key, progress):
        raise LLMUnavailable("llama.cpp could not load the model")

    w = DigestWriter(lib, card_source=broken)
    entry = entry_of(lib, KEY)
    entry.analysis = a = w.analysis(entry.meta, "report", "zh")
    assert a.outcome == Outcome.FAILED and "could not load" in a.reason and w.stats.llm_calls == 0
    assert w.table_summary(entry.meta, "zh") == [] and w.key_findings(entry.meta, "zh") == []
    md = render_one(entry, "report")
    assert "分析失败" in md and "could not load" not in md


def test_a_cached_second_run_makes_no_llm_call(corpus, embedder):
    first = writer_for(library(corpus, embedder, ValidWriterLLM(model="w-cache")))
    meta = entry_of(first.parts, KEY).meta
    before = [first.analysis(meta, f, "zh") for f in ("report", "monitor")]
    title = first.title(meta, "zh")
    assert first.stats.llm_calls == 7 + 1  # the report's 7 fields (the monitor needs no other), the title
    second = writer_for(library(corpus, embedder, ValidWriterLLM(model="w-cache")))
    after = [second.analysis(meta, f, "zh") for f in ("report", "monitor")]
    assert second.title(meta, "zh") == title
    assert second.stats.llm_calls == 0 and after == before
    # a changed card field is written again, and only it
    lib = library(corpus, embedder, ValidWriterLLM(model="w-cache"))
    third = writer_for(lib, sparse_card(lib, limitations=("untested beyond 64k tokens", LIMIT)))
    third.analysis(meta, "report", "zh")
    assert third.stats.llm_calls == 1


def test_an_unavailable_model_falls_back_without_caching_the_fallback(corpus, embedder):
    down = FakeLLM(responses={"digest_span": [{"error": "unavailable"}]}, model="w-down")
    lib = library(corpus, embedder, down)
    w = writer_for(lib)
    rec = w.span(w.card(entry_of(lib, KEY).meta), "core_idea", "zh")
    assert rec.cited.kind == "quotes" and "LLM error" in rec.reason and w.stats.llm_calls == 1  # no retry
    again = writer_for(library(corpus, embedder, FakeLLM(model="w-down")))
    rec = again.span(again.card(entry_of(lib, KEY).meta), "core_idea", "zh")
    assert rec.cited.kind == "model" and again.stats.llm_calls == 1


def test_context_overflow_never_crashes_the_digest(corpus, embedder):
    lib = library(corpus, embedder, FakeLLM(model="w-tiny", context_tokens=64))
    w = writer_for(lib)
    entry = entry_of(lib, KEY)
    entry.analysis = a = w.analysis(entry.meta, "monitor", "zh")
    assert a.outcome == Outcome.FALLBACK and a.rejected == 5 and "LLM error" in a.reason  # every field found
    assert_every_claim_is_cited_and_backed(lib, a)
    assert REJECTED_ZH in render_one(entry, "monitor")


def test_english_digest_uses_the_card_values_and_no_model(corpus, embedder):
    lib = library(corpus, embedder, ScriptedLLM("unused", model="w-en"))
    card = sparse_card(lib, compute=("14 hours on 8 NVIDIA A100 GPUs", A_HW))  # 8: not in its quote
    w = writer_for(lib, card)
    entry = entry_of(lib, KEY)
    entry.analysis = a = w.analysis(entry.meta, "report", "en")
    assert w.stats.llm_calls == 0 and a.outcome == Outcome.FALLBACK and a.rejected == 1
    assert "compute: value not backed by its quotes: 8" in a.reason
    assert_every_claim_is_cited_and_backed(lib, a)
    md = render_one(entry, "report", "en")
    assert "**Core idea**: Keep only the 64 highest-scoring keys for every query. [[p." in md
    assert "(The model's text did not pass the checks; the paper's own sentences follow.)* “Training takes 14" in md
    assert w.title(entry.meta, "en") == (entry.meta.title, "not needed")


# ------------------------------------------------------------------------------- summary, findings, table
def test_executive_summary_key_findings_and_table_come_from_the_cards(corpus, embedder):
    lib = library(corpus, embedder, ValidWriterLLM(model="w-summary"))
    cards = {KEY: sparse_card(lib), ABSTRACT_KEY: card_of(lib, ABSTRACT_KEY, fields={
        "core_idea": ("a retriever for widgets", "We study widget retrieval with sparse attention.")})}
    w = DigestWriter(lib, card_source=lambda parts, key, progress: cards[key])
    papers = [entry_of(lib, KEY, 1), entry_of(lib, ABSTRACT_KEY, 2)]
    digest = Digest("2025-01-20", "zh", ["cs.CL"], [], papers=papers)
    summary = w.executive_summary(digest)
    assert [p.heading for p in summary] == SUMMARY_HEADINGS["zh"]
    themes, highlights, limits, read = summary
    assert "本期共 2 篇论文" in themes.items[0].spans[0].text and "1 篇基于论文全文分析，1 篇仅有摘要" in \
        themes.items[0].spans[1].text
    first = highlights.items[0]
    assert first.label == "论文 1：Sparse Widget Attention" and first.anchor == "2405.40001v1"
    assert first.spans[0].kind == "model" and first.spans[1].text == "accuracy：87.3（WidgetBench）"
    assert [i.label for i in limits.items] == ["论文 1"]
    assert [i.label for i in read.items] == ["", "论文 1：Sparse Widget Attention"]  # unranked: full-text papers

    findings = w.key_findings(papers[0].meta, "zh")
    assert [c.kind for c in findings] == ["model", "code"] and findings[1].text == "accuracy：87.3（WidgetBench）"
    cell = w.table_summary(papers[0].meta, "zh")
    assert [i.label for i in cell] == ["问题/任务", "核心思想", "accuracy"]
    title, outcome = w.title(papers[0].meta, "zh")
    assert outcome == Outcome.FIRST_TRY and title.startswith("Sparse Widget Attention")

    digest.executive_summary = summary
    for p in papers:
        p.key_findings, p.summary = w.key_findings(p.meta, "zh"), w.table_summary(p.meta, "zh")
    md = render.render_markdown(digest, "report")
    assert "- [**论文 1：Sparse Widget Attention**](#2405.40001v1)：" in md
    assert "- accuracy：87.3（WidgetBench） [[p." in md.split("**Key Findings:**", 1)[1]
    table = render.render_markdown(digest, "table")
    assert "**核心思想**：论文在这一方面的说明是：" in table and "**accuracy**：87.3（WidgetBench）" in table


def test_a_span_that_copies_the_worked_example_is_rejected_then_retried(corpus, embedder):
    """The Chinese prompt shows worked examples about made-up papers; a model that hands one back is caught even
    when it carries no number or name to trip the quote check."""
    from rag.prompts import load_prompt

    prompt = load_prompt("digest_span")
    example = next(ex["assistant"] for ex in prompt.examples if ex.get("language") == "zh")
    llm = ScriptedLLM([example, "稀疏注意力只为每个查询保留 64 个键。"], model="w-echo")
    lib = library(corpus, embedder, llm)
    w = writer_for(lib)
    rec = w.span(w.card(entry_of(lib, KEY).meta), "core_idea", "zh")
    assert rec.outcome == Outcome.AFTER_RETRY and "copies the worked example" in rec.reason
    first = llm.calls[0]
    assert [m["role"] for m in first[:3]] == ["system", "user", "assistant"]  # the examples come first …
    assert "\nCore idea: " in first[-1]["content"]  # … and the request last
