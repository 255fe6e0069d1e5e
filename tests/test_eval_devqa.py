"""Dev QA set: the metrics on hand-made `AskResult.to_dict()` outputs, the set's schema, verify.py's checks on a
generated PDF, the evaluator's loop on a stand-in library, the CLI's --set/--qasper choice; and the real set
against ../shared (skipped when it is absent)."""

from __future__ import annotations

import functools
import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest
from fakes.pdfs import make_paper_pdf
from typer.testing import CliRunner

from indexes.call_log import ensure_table, log_call
from paperrag.errors import LibraryError
from paperrag.library import Library
from paperrag.settings import Settings
from rag.eval.devqa import (
    DevQAError,
    DevQAReport,
    DevQuestion,
    PdfPages,
    QuoteChecker,
    check_sentence,
    evaluate_devqa,
    fact_present,
    load_devqa,
    match_forms,
    names_in,
    numbers_in,
    row_problems,
    score_answer,
    term_in_text,
    text_holds_quote,
)

REPO = Path(__file__).resolve().parent.parent
SET = REPO / "bench" / "devqa" / "devqa.jsonl"
FACT = ("The Glyph Transformer reaches 28.4 BLEU on WMT 2014 after 3.5 days of training on 8 GPUs. "
        "Its encoder uses 6 layers.")
ARXIV = "2406.00042"


def _verify_module():
    spec = importlib.util.spec_from_file_location("devqa_verify", REPO / "bench" / "devqa" / "verify.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    """A shared root with one generated paper under corpus/pdfs and a MANIFEST.csv naming it."""
    root = tmp_path_factory.mktemp("shared")
    make_paper_pdf(root / "corpus" / "pdfs" / "glyph.pdf", title="Glyph Transformers", arxiv_id=ARXIV, seed=3,
                   sections=1, extra_sections=[("4 Results", FACT)])
    (root / "corpus" / "pdfs" / "MANIFEST.csv").write_text(
        f"file,arxiv_id,title\nglyph.pdf,{ARXIV}v1,Glyph Transformers\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def fact_page(shared) -> int:
    (page,) = PdfPages().pages_holding(shared / "corpus" / "pdfs" / "glyph.pdf", FACT.split(". ")[0])
    return page


@pytest.fixture
def checker(shared) -> QuoteChecker:
    return QuoteChecker({ARXIV: shared / "corpus" / "pdfs" / "glyph.pdf"})


def cite(page: int, quote: str = "The Glyph Transformer reaches 28.4 BLEU on WMT 2014 after 3.5 days",
         arxiv_id: str = ARXIV) -> dict:
    return {"arxiv_id": arxiv_id, "version": 1, "page": page, "quote": quote}


def question(type_="fact", facts=(("28.4",), ("3.5",)), papers=(ARXIV,), language="en", text="What BLEU?"):
    return DevQuestion("t1", type_, language, text, list(papers), [list(f) for f in facts], [], [])


# ---------------------------------------------------------------------------------------------- matching
def test_quotes_match_through_pdf_line_breaks_hyphens_ligatures_and_accents():
    page = ["The ﬁrst recog-\nnition model is self-\nsupervised,\n  trained by G¨uera on 4,500 images."]
    forms = [match_forms(page[0])]
    assert text_holds_quote("The first recognition model", forms)
    assert text_holds_quote("model is self-supervised, trained by Güera", forms)  # a real hyphen at a line end
    assert not text_holds_quote("The first recognition models", forms)
    assert not text_holds_quote("trained on 4,600 images", forms)
    assert not text_holds_quote("   ", forms)


def test_facts_match_whole_numbers_and_names_in_english_and_chinese():
    assert fact_present(["28.4"], "它在 WMT 2014 上达到 28.4 BLEU。")
    assert fact_present(["BLEU"], "BLEU分数为28.4")  # CJK next to a name is a boundary
    assert not fact_present(["28.4"], "a score of 128.45")
    assert not fact_present(["0.1"], "a rate of 10.1 and 0.15")
    assert fact_present(["19.4"], "it has 19.4M parameters")  # a unit may follow a number
    assert fact_present(["4,500"], "about 4500 sentence pairs") and fact_present(["4500"], "about 4，500 pairs")
    assert fact_present(["100 million"], "100  Million labeled images")
    assert fact_present(["Qwen2.5-7b"], "built on Qwen2.5-7B")
    assert not fact_present(["BLEU"], "BLEURT only") and not fact_present(["x", "y"], "none here")


def test_numbers_and_names_of_a_sentence():
    assert numbers_in("reaches 4,500 steps and 0.10 loss [12]") == {"4500", "0.1"}
    assert names_in("GPT-NeoX beats BERT and ResNet-50, in BLEU分数") >= {"GPT-NeoX", "BERT", "ResNet-50", "BLEU"}
    assert "The" not in names_in("The model")


def test_absent_terms_are_whole_terms():
    assert not term_in_text("TPU", "the output of the layer")
    assert term_in_text("TPUs", "trained on 64 Cloud TPUs.") and term_in_text("tpu", "a TPU-v3 pod")
    assert term_in_text("GPT-4", "compared with GPT-\n4 outputs")  # broken across a line


# ---------------------------------------------------------------------------------------------- sentences
def test_a_sentence_citing_a_verbatim_quote_with_its_numbers_is_accurate(checker, fact_page):
    s = check_sentence({"text": "It reaches 28.4 BLEU on WMT 2014.", "citations": [cite(fact_page)]},
                       "What BLEU?", checker)
    assert s.accurate and s.citations == 1 and s.problems == []


def test_a_quote_cited_to_the_wrong_page_is_not_accurate(checker, fact_page):
    s = check_sentence({"text": "It reaches 28.4 BLEU.", "citations": [cite(fact_page + 1)]}, "q", checker)
    assert not s.accurate and s.problems == [f"quote not on {ARXIV} p.{fact_page + 1}"]


def test_a_number_or_name_missing_from_the_quote_is_not_accurate(checker, fact_page):
    wrong_number = check_sentence({"text": "It reaches 29.1 BLEU.", "citations": [cite(fact_page)]}, "q", checker)
    assert not wrong_number.accurate and wrong_number.problems == ["not in its quotes: 29.1"]
    invented_name = check_sentence({"text": "It reaches 28.4 BLEU on GLUE.", "citations": [cite(fact_page)]},
                                   "q", checker)
    assert not invented_name.accurate and invented_name.problems == ["not in its quotes: GLUE"]


def test_numbers_from_the_question_or_the_cited_id_back_a_sentence(checker, fact_page):
    s = check_sentence({"text": "After 3.5 days it reaches 28.4 BLEU, not 30 BLEU.", "citations": [cite(fact_page)]},
                       "Does it reach 30 BLEU?", checker)
    assert s.accurate
    named = check_sentence({"text": f"Paper {ARXIV} reports 28.4 BLEU.", "citations": [cite(fact_page)]}, "q",
                           checker)
    assert named.accurate


def test_a_quote_that_is_not_in_the_pdf_or_from_an_unknown_paper_is_not_accurate(checker, fact_page):
    altered = check_sentence({"text": "It reaches 28.4 BLEU.",
                              "citations": [cite(fact_page, "The Glyph Transformer reaches 28.4 BLEU on WMT 2015")]},
                             "q", checker)
    assert not altered.accurate and altered.problems[0].startswith("quote not on")
    unknown = check_sentence({"text": "It reaches 28.4 BLEU.", "citations": [cite(1, arxiv_id="9999.00001")]},
                             "q", checker)
    assert not unknown.accurate and unknown.problems == ["unverifiable 9999.00001 p.1"]
    uncited = check_sentence({"text": "It reaches 28.4 BLEU.", "citations": []}, "q", checker)
    assert not uncited.accurate and uncited.problems == ["no citation", "not in its quotes: 28.4, BLEU"]


# ---------------------------------------------------------------------------------------------- answers
def test_a_correct_cited_answer(checker, fact_page):
    answer = {"answer": "It reaches 28.4 BLEU after 3.5 days.", "abstained": False, "language": "en",
              "sentences": [{"text": "It reaches 28.4 BLEU after 3.5 days.", "citations": [cite(fact_page)]}]}
    out = score_answer(question(), answer, checker)
    assert out.correct and out.partial == 1.0 and out.paper_recall == 1.0
    assert out.papers_cited == [ARXIV] and [s.accurate for s in out.sentences] == [True]


def test_page_numbers_of_citation_labels_are_not_facts(checker, fact_page):
    answer = {"answer": f"The beam size is 5 [{ARXIV} p.4].", "abstained": False,
              "sentences": [{"text": "The beam size is 5.", "citations": [cite(fact_page)]}]}
    assert score_answer(question(facts=(("4",),)), answer, checker).facts_found == 0
    assert score_answer(question(facts=(("5",),)), answer, checker).correct


def test_partial_facts_and_paper_recall_of_a_comparison(checker, fact_page):
    q = question("compare", facts=(("28.4",), ("41.8",)), papers=(ARXIV, "1706.03762"))
    answer = {"answer": "It reaches 28.4 BLEU.", "abstained": False,
              "sentences": [{"text": "It reaches 28.4 BLEU.", "citations": [cite(fact_page)]}]}
    out = score_answer(q, answer, checker)
    assert out.correct is False and out.partial == 0.5 and out.paper_recall == 0.5


def test_an_abstained_unanswerable_is_a_grounded_refusal_and_an_abstained_answerable_a_false_one(checker):
    refused = {"answer": "The indexed papers do not say.", "abstained": True, "sentences": []}
    unanswerable = score_answer(question("unanswerable", facts=()), refused, checker)
    answerable = score_answer(question(), refused, checker)
    answered = score_answer(question("unanswerable", facts=()),
                            {"answer": "It used 64 TPUs.", "abstained": False,
                             "sentences": [{"text": "It used 64 TPUs.", "citations": []}]}, checker)
    report = DevQAReport([unanswerable, answerable, answered])
    s = report.summary()
    assert (s["grounded_refusal"], s["false_refusal"], s["answer_correctness"]) == (0.5, 1.0, 0.0)
    assert unanswerable.correct is None and unanswerable.paper_recall is None and unanswerable.sentences == []
    assert answerable.partial == 0.0 and answerable.sentences == []  # an abstention's text is not scored
    assert s["sentences"] == 1 and s["citation_accuracy"] == 0.0  # the invented, uncited answer


def test_an_answer_without_sentences_counts_as_one_uncited_sentence(checker):
    out = score_answer(question(), {"answer": "It reaches 28.4 BLEU after 3.5 days.", "abstained": False}, checker)
    assert out.correct and len(out.sentences) == 1 and out.sentences[0].problems[0] == "no citation"


def test_report_summary_breakdown_and_render(checker, fact_page):
    good = {"answer": "It reaches 28.4 BLEU after 3.5 days.", "abstained": False,
            "sentences": [{"text": "It reaches 28.4 BLEU after 3.5 days.", "citations": [cite(fact_page)]}]}
    a = score_answer(question(), good, checker)
    a.seconds, a.first_piece_seconds = 10.0, 2.0
    b = score_answer(question(language="zh", text="BLEU 是多少？"), {"answer": "", "abstained": True}, checker)
    b.seconds, b.first_piece_seconds = 30.0, None
    rep = DevQAReport([a, b], model="m", notes=["one note"])
    s = rep.summary()
    assert (s["questions"], s["answerable"], s["citation_accuracy"], s["answer_correctness"]) == (2, 2, 1.0, 0.5)
    assert (s["seconds_p50"], s["seconds_p90"], s["first_piece_p50"]) == (10.0, 30.0, 2.0)
    assert s["by_language"]["zh"]["false_refusal"] == 1.0 and s["by_language"]["en"]["answer_correctness"] == 1.0
    assert set(s["by_type"]) == {"fact"}
    text = rep.render()
    assert "lang zh" in text and "type fact" in text and "note: one note" in text and "model: m" in text
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["questions"][0]["correct"] is True and d["questions"][1]["partial"] == 0.0


# ---------------------------------------------------------------------------------------------- the loop
class _Stream:
    def __init__(self, pieces, result):
        self._pieces, self.result = iter(pieces), result

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._pieces)


class _Result:
    def __init__(self, d):
        self._d = d

    def to_dict(self):
        return self._d


class _Catalog:
    def __init__(self, known):
        self.known = known

    def papers_with_local_path(self, path):
        from types import SimpleNamespace

        return [SimpleNamespace(key=f"{k}v1", arxiv_id=k) for p, k in self.known.items() if str(p) == str(path)]


class StandInLibrary:
    """What `evaluate_devqa` uses of a Library: ingest, catalog, ask (streamed), model_id."""

    model_id = "stand-in"

    def __init__(self, answers, known):
        self.answers, self.catalog, self.ingested, self.asked = answers, _Catalog(known), [], []

    def ingest(self, paths, progress=None):
        from types import SimpleNamespace

        self.ingested.append(list(paths))
        return SimpleNamespace(report=SimpleNamespace(decisions=[]), problems=[])

    def ask(self, q):
        self.asked.append(q)
        answer = self.answers[q]
        if isinstance(answer, Exception):
            raise answer
        return _Stream(["", answer["answer"]], _Result(answer))


def _write_set(path: Path, page: int) -> Path:
    rows = [
        {"id": "a1", "type": "fact", "language": "en", "question": "What BLEU does the Glyph Transformer reach?",
         "papers": [ARXIV], "facts": [["28.4"]],
         "quotes": [{"arxiv_id": ARXIV, "pdf": "corpus/pdfs/glyph.pdf", "page": page,
                     "text": "The Glyph Transformer reaches 28.4 BLEU on WMT 2014"}]},
        {"id": "a2", "type": "unanswerable", "language": "zh", "question": "它用了多少 TPU？", "papers": [ARXIV],
         "facts": [], "quotes": [], "absent": ["TPU"]},
        {"id": "a3", "type": "fact", "language": "en", "question": "How many encoder layers?", "papers": [ARXIV],
         "facts": [["6"]], "quotes": [{"arxiv_id": ARXIV, "pdf": "corpus/pdfs/glyph.pdf", "page": page,
                                       "text": "Its encoder uses 6 layers."}]},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_evaluate_ingests_asks_and_maps_the_librarys_own_id_for_a_pdf(shared, fact_page, tmp_path):
    set_path = _write_set(tmp_path / "set.jsonl", fact_page)
    pdf = shared / "corpus" / "pdfs" / "glyph.pdf"
    # the library knows the PDF by another id (as one ingested without its stamp would be): citations of it count
    answers = {
        "What BLEU does the Glyph Transformer reach?": {
            "answer": "It reaches 28.4 BLEU.", "abstained": False,
            "sentences": [{"text": "It reaches 28.4 BLEU.", "citations": [cite(fact_page, arxiv_id="local:abc")]}]},
        "它用了多少 TPU？": {"answer": "论文没有说明。", "abstained": True, "sentences": []},
        "How many encoder layers?": RuntimeError("model crashed"),
    }
    lib = StandInLibrary(answers, {pdf: "local:abc"})
    rep = evaluate_devqa(lib, set_path, shared_root=shared)
    assert lib.ingested == [[str(pdf)]] and len(lib.asked) == 3
    first, refusal, failed = rep.questions
    assert first.correct and first.paper_recall == 1.0 and first.sentences[0].accurate
    assert first.seconds is not None and first.first_piece_seconds is not None  # the empty first piece is skipped
    assert refusal.abstained and rep.summary()["grounded_refusal"] == 1.0
    assert failed.error == "RuntimeError: model crashed" and failed.correct is False
    assert rep.model == "stand-in" and rep.summary()["errors"] == 1

    by_arxiv_id = dict(answers)
    by_arxiv_id["What BLEU does the Glyph Transformer reach?"] = {
        "answer": "It reaches 28.4 BLEU.", "abstained": False,
        "sentences": [{"text": "It reaches 28.4 BLEU.", "citations": [cite(fact_page)]}]}
    limited = evaluate_devqa(StandInLibrary(by_arxiv_id, {}), set_path, shared_root=shared, limit=2)
    assert [q.id for q in limited.questions] == ["a1", "a2"]
    assert limited.questions[0].paper_recall == 1.0 and limited.questions[0].sentences[0].accurate
    unknown = evaluate_devqa(StandInLibrary(answers, {}), set_path, shared_root=shared, limit=1).questions[0]
    assert unknown.paper_recall == 0.0 and unknown.sentences[0].problems == [f"unverifiable local:abc p.{fact_page}"]


class LoggingStandIn(StandInLibrary):
    """A stand-in whose every answer logs one LLM call in its catalog, as a Library's LoggedLLM does."""

    def __init__(self, answers, known, catalog_path: Path):
        super().__init__(answers, known)
        from types import SimpleNamespace

        self.settings = SimpleNamespace(catalog_path=catalog_path)
        ensure_table(catalog_path)
        self._log = functools.partial(log_call, catalog_path, backend="llamacpp", model="m", outcome="ok",
                                      messages=[{"role": "user", "content": "q"}])
        self._log(tokens_in=900, tokens_cached=0, tokens_out=3, first_token_s=1.0, latency_s=2.0)  # before the eval

    def ask(self, q):
        self._log(tokens_in=500, tokens_cached=100, tokens_out=25, first_token_s=5.0, latency_s=7.0)
        return super().ask(q)


def test_the_report_carries_the_machines_pace_over_the_answers_calls_only(shared, fact_page, tmp_path):
    set_path = _write_set(tmp_path / "set.jsonl", fact_page)
    answers = {"What BLEU does the Glyph Transformer reach?": {"answer": "It reaches 28.4 BLEU.", "abstained": False,
                                                                "sentences": []}}
    rep = evaluate_devqa(LoggingStandIn(answers, {}, tmp_path / "catalog.sqlite"), set_path, shared_root=shared,
                         limit=1)
    summary = rep.summary()
    assert summary["prompt_tok_s"] == 80.0 and summary["decode_tok_s"] == 12.0  # 400 tok / 5 s; 24 tok / 2 s
    assert "machine pace: prompt 80 tok/s, decode 12.0 tok/s" in rep.render()
    assert "prompt_tok_s" not in evaluate_devqa(StandInLibrary(answers, {}), set_path, shared_root=shared,
                                                limit=1).summary()


def test_evaluate_refuses_a_set_whose_pdfs_are_missing(tmp_path, fact_page):
    set_path = _write_set(tmp_path / "set.jsonl", fact_page)
    with pytest.raises(DevQAError, match="not under"):
        evaluate_devqa(StandInLibrary({}, {}), set_path, shared_root=tmp_path / "nowhere")


def test_row_problems_of_answerable_and_unanswerable_rows():
    quote = {"arxiv_id": ARXIV, "pdf": "corpus/pdfs/glyph.pdf", "page": 1, "text": "a verbatim sentence"}
    base = {"id": "r1", "type": "compare", "language": "en", "question": "q?", "papers": [ARXIV, "1706.03762"],
            "facts": [["1"]], "quotes": [quote]}
    assert row_problems(base) == ["gold paper 1706.03762 has no quote"]
    assert row_problems(dict(base, papers=["1706.03762"], quotes=[quote, dict(quote, arxiv_id="1706.03762")])) == \
        [f"quote from {ARXIV}, which is not a gold paper"]
    unanswerable = dict(base, type="unanswerable", facts=[], quotes=[], absent=[])
    assert row_problems(unanswerable) == ["absent: the terms checked to be absent (non-empty list of strings)"]
    assert row_problems(dict(unanswerable, absent=["TPU"], language="fr", type="yes/no", papers=[ARXIV])) == [
        "type 'yes/no' is not one of fact, find, compare, unanswerable", "language 'fr' is not one of en, zh",
        "an answerable question has at least one fact", "an answerable question has at least one quote",
        f"gold paper {ARXIV} has no quote", "absent is for unanswerable questions only"]


def test_a_pdf_that_cannot_be_read_makes_its_quotes_unverifiable(tmp_path):
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 not really")
    checker = QuoteChecker({ARXIV: broken})
    s = check_sentence({"text": "It works.", "citations": [cite(1, "It works.")]}, "q", checker)
    assert not s.accurate and s.problems == [f"unverifiable {ARXIV} p.1"]


def test_load_devqa_names_the_bad_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x1", "type": "fact", "language": "en", "question": "q?", "papers": ["1706.03762v5"], '
                   '"facts": [], "quotes": []}\n', encoding="utf-8")
    with pytest.raises(DevQAError, match=r"bad.jsonl:1: .*without a version.*at least one fact"):
        load_devqa(bad)
    with pytest.raises(DevQAError, match="no such file"):
        load_devqa(tmp_path / "missing.jsonl")


# ---------------------------------------------------------------------------------------------- the set
def test_the_dev_set_passes_the_schema_and_meets_the_bars():
    rows = [json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert [p for r in rows for p in row_problems(r)] == []
    items = load_devqa(SET)
    types, languages = Counter(i.type for i in items), Counter(i.language for i in items)
    assert len(items) >= 60 and types["fact"] >= 25 and types["find"] >= 8 and types["compare"] >= 6
    assert types["unanswerable"] >= 10 and languages["zh"] >= 10
    assert {i.language for i in items if i.type == "unanswerable"} == {"en", "zh"}
    assert all(len(i.papers) == 2 for i in items if i.type == "compare")
    assert len({p for i in items for p in i.papers}) >= 10


# ---------------------------------------------------------------------------------------------- verify.py
def _row(page: int, **changes) -> dict:
    row = {"id": "v1", "type": "fact", "language": "en", "question": "What BLEU?", "papers": [ARXIV],
           "facts": [["28.4"], ["WMT 2014", "WMT14"]],
           "quotes": [{"arxiv_id": ARXIV, "pdf": "corpus/pdfs/glyph.pdf", "page": page,
                       "text": "The Glyph Transformer reaches 28.4 BLEU on WMT 2014 after 3.5 days"}]}
    row.update(changes)
    return row


def test_verify_accepts_verbatim_quotes_and_reports_each_problem(shared, fact_page):
    verify = _verify_module()
    ok_unanswerable = {"id": "v2", "type": "unanswerable", "language": "zh", "question": "多少 TPU？",
                       "papers": [ARXIV], "facts": [], "quotes": [], "absent": ["TPU", "ImageNet"]}
    failures, counts = verify.verify([_row(fact_page), ok_unanswerable], shared, minimums=None)
    assert failures == [] and counts["ok"] and counts["by_type"] == {"fact": 1, "unanswerable": 1}
    assert counts["by_language"] == {"en": 1, "zh": 1} and counts["quotes"] == 1 and counts["absent_terms"] == 2

    quote = dict(_row(fact_page)["quotes"][0], page=fact_page + 1)
    wrong_page = _row(fact_page, id="w1", quotes=[quote])
    altered = _row(fact_page, id="w2", quotes=[dict(quote, page=fact_page, text=quote["text"].replace("28.4", "28.5"))])
    fact_outside = _row(fact_page, id="w3", facts=[["28.4"], ["41.8"]])
    present = dict(ok_unanswerable, id="w4", absent=["Glyph"])
    mislabelled = _row(fact_page, id="w5", quotes=[dict(quote, page=fact_page, arxiv_id="1706.03762")],
                       papers=["1706.03762"])
    failures, counts = verify.verify([wrong_page, altered, fact_outside, present, mislabelled], shared, minimums=None)
    assert any(f.startswith(f"w1: quote not on page {fact_page + 1} of corpus/pdfs/glyph.pdf (it is on page "
                            f"{fact_page}): ") for f in failures)
    assert any(f.startswith("w2: quote not on page") for f in failures)
    assert "w2: fact ['28.4'] is in none of its quotes" in failures
    assert "w3: fact ['41.8'] is in none of its quotes" in failures
    assert f"w4: absent term 'Glyph' occurs in {ARXIV}" in failures
    assert f"w5: corpus/pdfs/glyph.pdf is {ARXIV} in MANIFEST.csv, the quote says 1706.03762" in failures
    assert not counts["ok"] and counts["failures"] == len(failures)


def test_verify_checks_the_bars_and_its_last_line_is_json(shared, fact_page, tmp_path, capsys):
    verify = _verify_module()
    set_path = tmp_path / "one.jsonl"
    set_path.write_text(json.dumps(_row(fact_page)) + "\n", encoding="utf-8")
    assert verify.main(["--set", str(set_path), "--shared", str(shared)]) == 1  # one question is under the bars
    lines = capsys.readouterr().out.strip().splitlines()
    assert "set: questions = 1, the bar is 60" in lines
    assert json.loads(lines[-1])["ok"] is False
    assert verify.main(["--set", str(set_path), "--shared", str(shared), "--no-minimums"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {
        "rows": 1, "by_type": {"fact": 1}, "by_language": {"en": 1}, "by_type_language": {"fact/en": 1},
        "papers": 1, "quotes": 1, "absent_terms": 0, "failures": 0, "ok": True}


def test_the_dev_set_is_verified_against_the_shared_pdfs(shared_dir):
    failures, counts = _verify_module().verify(
        [json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines() if line.strip()], shared_dir)
    assert failures == [] and counts["ok"]


# ---------------------------------------------------------------------------------------------- library and CLI
def test_library_eval_devqa_needs_an_existing_file(home, tmp_path):
    with pytest.raises(LibraryError, match="no such file"):
        Library(Settings(home=home)).eval_devqa(tmp_path / "missing.jsonl")


def test_cli_eval_qa_takes_exactly_one_of_set_and_qasper(home, tmp_path):
    from ui.cli import CliError, app

    for args in ([], ["--set", "a.jsonl", "--qasper", "b.jsonl"]):
        result = CliRunner().invoke(app, ["eval", "qa", *args])
        assert result.exit_code != 0 and isinstance(result.exception, CliError)
        assert "either --qasper FILE or --set FILE" in str(result.exception)


def test_cli_eval_qa_set_prints_the_table_then_one_json_line(home, tmp_path, monkeypatch):
    from ui.cli import app

    seen = {}

    def fake_eval(self, set_path, *, shared_root=None, progress=None, limit=None):
        seen.update(set_path=set_path, limit=limit)
        return DevQAReport([], model="m")

    monkeypatch.setattr(Library, "eval_devqa", fake_eval)
    result = CliRunner().invoke(app, ["eval", "qa", "--set", str(tmp_path / "s.jsonl"), "--limit", "5"])
    assert result.exit_code == 0, result.output
    assert seen == {"set_path": tmp_path / "s.jsonl", "limit": 5}
    lines = result.stdout.strip().splitlines()
    assert "model: m" in result.stdout and json.loads(lines[-1])["questions"] == 0
