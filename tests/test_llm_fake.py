"""The fake LLM backend (`llm.backend = "fake"`): selected by settings, deterministic, and every built-in answer
passes the product's own checks (citations, compare JSON + page verification, digest gates). Scripted
responses from `llm.fake_responses` are consumed in order."""

from __future__ import annotations

import json

import pytest
from fakes.corpus import Paper, build_corpus
from fakes.data import A_DATA, A_RESULT, CRAWLER, SPARSE

from indexes.call_log import count_calls
from paperrag.library import Library
from paperrag.settings import Settings
from rag.cards import parse_field, parse_results
from rag.compare import Excerpt, parse_value, support
from rag.digest import validate
from rag.digest.writer import ASK, LANGUAGE_NAMES
from rag.llm.base import ContextOverflow, LLMTimeout, LLMUnavailable
from rag.llm.fake_backend import DEFAULT_REPLY, FakeLLM, prompt_id_of
from rag.llm.logged import LoggedLLM
from rag.llm.select import choose_backend, get_llm, model_identity
from rag.prompts import PROMPT_DIR, load_prompt

QUESTION = "How many keys does sparse widget attention keep for every query?"


def fake_settings(home=None, **llm) -> Settings:
    kw = {"home": home} if home is not None else {}
    return Settings(**kw, llm={"backend": "fake", **llm})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("fake-llm")
    return build_corpus(root, embedder, [
        Paper("a", "Sparse Widget Attention", "2405.30001", seed=21,
              sections=[("4 Sparse attention", SPARSE), ("5 Training data", A_DATA), ("6 Experiments", A_RESULT)]),
        Paper("b", "Graph Crawlers for Citation Search", "2405.30002", seed=22, category="cs.IR",
              sections=[("4 Training the crawler", CRAWLER)]),
    ], settings=fake_settings(root / "home"))


# ------------------------------------------------------------------------------------------ selection
def test_selected_by_settings_and_logged(home, monkeypatch):
    monkeypatch.setenv("PAPERRAG_LLM__BACKEND", "fake")
    s = Settings()
    sel = choose_backend(s)
    assert sel.backend == "fake" and "built-in answers" in sel.reason
    assert model_identity(s) == "fake:scripted"
    llm = get_llm(s)
    assert isinstance(llm, LoggedLLM) and (llm.backend, llm.model) == ("fake", "scripted")
    r = llm.chat([{"role": "user", "content": "hello"}], purpose="smoke")
    assert r.text == DEFAULT_REPLY and r.finish_reason == "stop" and r.backend == "fake" and r.tokens_out > 0
    assert count_calls(s.catalog_path, backend="fake", purpose="smoke") == 1


def test_doctor_reports_the_fake_backend(home, monkeypatch, tmp_path):
    from rag.llm.doctor import run_doctor

    script = tmp_path / "responses.json"
    script.write_text(json.dumps({"answer": ["A [1].", "B [1]."]}))
    monkeypatch.setenv("PAPERRAG_LLM__BACKEND", "fake")
    monkeypatch.setenv("PAPERRAG_LLM__FAKE_RESPONSES", str(script))
    rep = run_doctor(Settings(), max_tokens=8)
    assert rep.ok and rep.backend == "fake" and rep.model == "scripted" and rep.fake_scripted == 2
    assert rep.speed is not None and rep.speed.tokens_out and rep.speed.finish_reason == "stop"
    text = rep.render()
    assert "**In use:** `fake`" in text and "## Fake (scripted) backend" in text and str(script) in text


def test_every_prompt_is_recognised_without_its_id():
    """Callers that pass no prompt_id (or an Ollama-style reply function) still get the right answer."""
    variables = {
        "answer": dict(papers=[], question="q", language_name="English"),
        "card_field": dict(title="T", candidates=[], question="q", kind="value"),
        "compare_aspect": dict(title="T", passages=[], aspect="memory"),
        "compare_synthesis": dict(papers=[], facts=[], max_sentences=4),
        "condense_question": dict(history=[], question="q"),
        "digest_span": dict(language_name="English", title="T", quotes=["q"], label="Core idea",
                            value="v", ask="Write it."),
        "translate_title": dict(title="T", language_name="English"),
        "translate_query": dict(question="q"),
        "translate_answer": dict(sentence="s", language="zh"),
        "find_paper": dict(title="T", sentences=[], question="q"),
    }
    ids = sorted(p.stem for p in PROMPT_DIR.glob("*.toml"))
    assert ids == sorted(variables)  # a new prompt needs a marker in fake_backend._MARKERS and a line here
    for pid in ids:
        assert prompt_id_of(load_prompt(pid).messages(**variables[pid])) == pid, pid


def test_a_prompts_fixed_messages_are_its_rules_and_the_examples_shown():
    """`Messages.fixed` marks what every call of a prompt shares (the prefix llama.cpp may keep): the system message
    and the worked examples shown for the request's language — never the request, nor a retry's appended turns."""
    from llama_cpp.llama_chat_format import format_chatml

    from rag.llm.base import BaseLLM
    from rag.llm.llamacpp_backend import _end_of_fixed

    translate = load_prompt("translate_query").messages(question="残差网络有多少层？")
    assert translate.fixed == len(translate) - 1 == 3
    span = dict(title="T", quotes=["q"], label="Core idea", value="v", ask="Write it.")
    zh, en = (load_prompt("digest_span").messages(language_name=n, language=c, **span)
              for n, c in (("Chinese", "zh"), ("English", "en")))
    assert zh.fixed == len(zh) - 1 > 1 and en.fixed == len(en) - 1 == 1  # the examples are Chinese only

    checked = BaseLLM._check_messages(translate)
    assert checked.fixed == 3 and checked == list(translate)
    retry = BaseLLM._check_messages([*translate, {"role": "assistant", "content": "x"},
                                     {"role": "user", "content": "again"}])
    assert retry.fixed == 0  # a list built otherwise: nothing beyond the system message is assumed
    appended = translate + [{"role": "assistant", "content": "x"}, {"role": "user", "content": "again"}]
    assert BaseLLM._check_messages(appended).fixed == 3 and len(appended) == 6  # a retry's turns come after

    prompt = format_chatml(checked).prompt
    end = _end_of_fixed(prompt, checked)
    assert prompt[:end].endswith("<|im_end|>") and translate[2]["content"] in prompt[:end]
    assert translate[3]["content"] not in prompt[:end]
    assert prompt[:_end_of_fixed(prompt, retry)].count("<|im_end|>") == 1  # the system message alone


# ------------------------------------------------------------------------------------------ ask
def test_answer_cites_its_best_sentence_deterministically_and_streams(corpus, embedder):
    lib = Library(corpus.settings, embedder=embedder)
    first = lib.ask(QUESTION)
    pieces = list(first)
    result = first.result
    assert pieces and "".join(pieces).strip() == result.answer.strip()
    assert result.evidence[0].arxiv_id == "2405.30001" and not result.abstained
    (sentence,) = result.published  # the fake points at the sentence sharing most words with the question
    assert "64 highest-scoring keys" in sentence.quotes[0].text and lib.asker.page_texts.verify(sentence.quotes[0])
    assert sentence.quotes[0].label in result.answer and not result.rejected
    again = Library(corpus.settings, embedder=embedder).ask(QUESTION)
    list(again)
    assert again.result.answer == result.answer  # deterministic
    assert count_calls(corpus.settings.catalog_path, backend="fake", prompt_id="answer") == 2


def test_follow_up_and_chinese_question(corpus, embedder):
    lib = Library(corpus.settings, embedder=embedder)
    follow = lib.ask("and how much memory does that save?",
                     history=[("What does sparse widget attention keep?", "The 64 highest-scoring keys.")])
    list(follow)
    assert "sparse widget attention" in follow.result.search_query.lower()
    zh = lib.ask("稀疏小部件注意力 sparse widget attention 为每个查询保留多少个 keys？")
    list(zh)
    assert zh.result.language == "zh" and zh.result.search_query.isascii()
    assert zh.result.answer.startswith("根据检索到的句子") and "[2405.30001 p." in zh.result.answer


# ------------------------------------------------------------------------------------------ compare
def test_compare_json_quotes_the_excerpts_and_passes_page_verification(corpus, embedder):
    lib = Library(corpus.settings, embedder=embedder)
    cmp = lib.compare(["2405.30001", "2405.30002"], ["compute", "headline results"])
    cells = {(row.field, p.key): c for row in cmp.rows for p, c in zip(cmp.papers, row.cells, strict=True)}
    result = cells[("results", "2405.30001v1")]
    assert result.status == "found" and "87.3" in result.value and "87.3" in result.quotes[0].text
    assert result.pages == [result.quotes[0].page]
    assert cmp.synthesis_status == "ok" and "[2405.30001 p." in cmp.synthesis
    again = Library(corpus.settings, embedder=embedder).compare(["2405.30001", "2405.30002"],
                                                                ["compute", "headline results"])
    assert again.to_markdown() == cmp.to_markdown() and again.llm_calls == 0  # cached under fake:scripted


def test_json_answers_point_at_sentences_and_quote_excerpt_one():
    llm = FakeLLM()
    cands = [{"n": 1, "text": "We train the widget model on the WidgetCorpus collection."},
             {"n": 2, "text": A_RESULT}]
    results = load_prompt("card_field").messages(title="Sparse Widget Attention", candidates=cands,
                                                 question="What are the paper's headline numeric results?",
                                                 kind="results")
    out = parse_results(llm.chat(results, prompt_id="card_field", json_mode=True).text)
    assert [(r.value, r.benchmark, r.sentences) for r in out.results] == [("87.3", "WidgetBench", [2])]
    value = load_prompt("card_field").messages(title="Sparse Widget Attention", candidates=cands,
                                               question="What data is the widget model trained on?", kind="value")
    got = parse_field(llm.chat(value, prompt_id="card_field", json_mode=True).text)
    assert got.sentences == [1] and got.value in cands[0]["text"]
    none = load_prompt("card_field").messages(title="T", candidates=[], question="Results?", kind="results")
    assert parse_results(llm.chat(none, prompt_id="card_field").text).results == []  # no sentence: no result
    ex = [Excerpt(1, "k#0", 3, 3, "5 Experiments", A_RESULT), Excerpt(2, "k#1", 2, 2, "4 Data", A_DATA)]
    value = load_prompt("compare_aspect").messages(title="Sparse Widget Attention", passages=ex, aspect="accuracy")
    got = parse_value(llm.chat(value, prompt_id="compare_aspect", json_mode=True).text).value
    assert got in A_RESULT and support(got, ex) == [ex[0]]
    unknown = load_prompt("compare_aspect").messages(title="T", passages=[], aspect="memory")
    assert parse_value(llm.chat(unknown, prompt_id="compare_aspect").text).value == "not stated"


# ------------------------------------------------------------------------------------------ digest
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_digest_spans_and_titles_pass_the_digest_checks(lang):
    from rag.quotes import Quote

    quotes = [Quote("2405.30001v1", "2405.30001", 1, 4, SPARSE, "Sparse Widget Attention")]
    messages = load_prompt("digest_span").messages(
        language_name=LANGUAGE_NAMES[lang], title="Sparse Widget Attention",
        quotes=[SPARSE], label="Core idea", value="keeps the 64 highest-scoring keys, cutting memory by eight",
        ask=ASK[lang].format(label="Core idea"))
    out = FakeLLM().chat(messages, prompt_id="digest_span")
    v = validate.check_span(out.text, language=lang, quotes=quotes, instructions=messages[0]["content"],
                            finish_reason=out.finish_reason)
    assert v.ok, v.problems
    assert "64" in v.text
    title = load_prompt("translate_title").messages(title="Sparse Widget Attention", language_name=LANGUAGE_NAMES[lang])
    t = FakeLLM().chat(title, prompt_id="translate_title").text
    assert validate.check_title(t, language=lang, source="Sparse Widget Attention").ok
    if lang == "zh":  # an English answer sentence of a Chinese question, translated (rag.ask.Asker._translated)
        said = load_prompt("translate_answer").messages(
            sentence="It keeps the 64 highest-scoring keys for every query.", language="zh")
        out = FakeLLM().chat(said, prompt_id="translate_answer")
        v = validate.check_span(out.text, language="zh", quotes=quotes, instructions=said[0]["content"],
                                finish_reason=out.finish_reason)
        assert v.ok and "64" in v.text, v.problems


def test_sample_day_through_settings_passes_every_gate_first_time(tmp_path, embedder, monkeypatch):
    from fakes.cards import stand_in_card

    monkeypatch.setattr("rag.digest.writer.default_card_source", stand_in_card)  # rag.cards has its own tests
    settings = fake_settings(tmp_path / "home", context_tokens=8192)
    settings = settings.model_copy(update={"digest": settings.digest.model_copy(update={
        "formats": ["report", "monitor"], "language": "zh"})})
    result = Library(settings, embedder=embedder).daily(sample=True)
    assert len(result.digest.papers) == 3 and result.llm_calls > 0
    assert set(result.outcomes) == {"first try"}, result.outcomes
    assert "## Executive Summary" in result.files["report.md"].read_text()
    assert count_calls(settings.catalog_path, backend="fake") == result.llm_calls


# ------------------------------------------------------------------------------------------ scripted responses
def test_scripted_responses_are_consumed_in_order(home, monkeypatch, tmp_path):
    script = tmp_path / "responses.json"
    script.write_text(json.dumps({
        "answer": ["First [1].", {"text": "Cut off", "finish_reason": "length"}, {"error": "timeout"}],
        "*": ["anything else"],
    }))
    monkeypatch.setenv("PAPERRAG_LLM__BACKEND", "fake")
    monkeypatch.setenv("PAPERRAG_LLM__FAKE_RESPONSES", str(script))
    s = Settings()
    llm = get_llm(s)
    msgs = [{"role": "user", "content": "q"}]
    assert llm.chat(msgs, prompt_id="answer").text == "First [1]."
    stream = llm.stream(msgs, prompt_id="answer")
    assert "".join(stream) == "Cut off" and stream.result.finish_reason == "length"
    with pytest.raises(LLMTimeout, match="scripted timeout"):
        llm.chat(msgs, prompt_id="answer")
    assert llm.chat(msgs, prompt_id="answer").text == "NOT_IN_PAPERS"  # used up: the built-in answer again
    assert llm.chat(msgs, prompt_id="condense_question").text == "anything else"  # "*"
    assert llm.chat(msgs, prompt_id="condense_question").text == "q"  # "*" used up too
    assert count_calls(s.catalog_path, backend="fake", prompt_id="answer") == 4


def test_a_bad_responses_file_or_an_oversized_prompt_is_one_clear_error(tmp_path):
    with pytest.raises(LLMUnavailable, match="does not exist"):
        get_llm(fake_settings(tmp_path / "h1", fake_responses=str(tmp_path / "missing.json")))
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(LLMUnavailable, match="JSON object"):
        get_llm(fake_settings(tmp_path / "h2", fake_responses=str(bad)))
    with pytest.raises(ContextOverflow, match="llm.context_tokens"):
        FakeLLM(context_tokens=256).chat([{"role": "user", "content": "word " * 2000}])


def test_cli_ask_runs_offline_on_the_fake_backend(home, monkeypatch, tmp_path, embedder):
    from fakes.corpus import ingest
    from fakes.pdfs import make_paper_pdf
    from typer.testing import CliRunner

    from ui.cli import app

    monkeypatch.setenv("PAPERRAG_LLM__BACKEND", "fake")
    pdf = make_paper_pdf(tmp_path / "p.pdf", title="Sparse Widget Attention", arxiv_id="2405.30001", seed=21,
                         extra_sections=[("4 Sparse attention", SPARSE)])
    ingest(Settings(), embedder, pdf)
    result = CliRunner().invoke(app, ["ask", QUESTION])
    assert result.exit_code == 0, result.output
    assert "64 highest-scoring keys" in result.output and "[2405.30001 p." in result.output
