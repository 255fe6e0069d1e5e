"""QASPER evaluation: the evidence-matching rule and token-F1 on hand cases; the whole run over ../shared.

The hand cases need nothing but the module. The ../shared test ingests the questions of two of the seven QASPER
PDFs with the real MiniLM into a temp home and checks the report's structure (not the measured value), with a
scripted LLM for the answer path so no model is needed.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from paperrag.library import Library
from rag.eval.qasper import (
    QasperReport,
    QuestionResult,
    answer_polarity,
    answer_score,
    chunk_body,
    evaluate_qasper,
    load_qasper,
    match_evidence,
    normalize_tokens,
    squad_normalize,
    token_f1,
)

GOLD = ("We compare our approaches with related approaches of pivoting, multilingual NMT (MNMT) BIBREF19, and "
        "cross-lingual transfer without pretraining BIBREF16. The results show that our approaches consistently "
        "outperform other approaches across languages and datasets, especially surpass pivoting, which is a strong "
        "baseline in the zero-shot scenario $\\alpha _{\\rm m}$ that multilingual NMT systems often fail to "
        "beat.")
PDF_TEXT = ("We compare our approaches with related approaches of pivoting, multilingual NMT (MNMT) (Johnson et al., "
            "2017), and cross-lingual transfer without pretraining [16]. The results show that our approaches "
            "consistently outperform other approaches across languages and datasets, especially surpass pivoting, "
            "which is a strong baseline in the zero-shot scenario αm that multilingual NMT systems often fail to "
            "beat.")


# ---------------------------------------------------------------------------------------------- normalisation
def test_normalize_drops_qasper_tokens_latex_and_citations():
    assert normalize_tokens("Table TABREF19 and FIGREF2 show BIBREF3 results $\\alpha^2$ \\textbf{bold}") == \
        ["table", "and", "show", "results", "bold"]
    assert normalize_tokens("pivoting (Gu et al., 2019a) beats [12, 13] MNMT-style—baselines.") == \
        ["pivoting", "beats", "mnmt", "style", "baselines"]
    assert normalize_tokens("FLOAT SELECTED: Table 2: Main results") == ["table", "2", "main", "results"]
    assert normalize_tokens("ﬁne-tuned Naïve") == ["fine", "tuned", "naïve"]  # NFKC folds the ligature


def test_chunk_body_drops_the_title_section_line():
    assert chunk_body("A Paper › 3 Method\nThe body.\nMore.") == "The body.\nMore."
    assert chunk_body("just one line") == "just one line"


# ---------------------------------------------------------------------------------------------- matching
def test_same_paragraph_through_a_different_extraction_is_found():
    m = match_evidence(GOLD, ["Unrelated text about something else entirely.", PDF_TEXT])
    assert m.found and m.anchored and m.coverage > 0.9


def test_paragraph_split_across_two_chunks_is_found_in_their_union():
    words = PDF_TEXT.split()
    first, second = " ".join(words[:28]), " ".join(words[28:])
    assert match_evidence(GOLD, [first, second]).found
    half = match_evidence(GOLD, [first])  # one half alone: anchored, but under half the paragraph
    assert half.anchored and half.coverage < 0.5 and not half.found


def test_same_vocabulary_in_another_order_is_not_found():
    shuffled = " ".join(reversed(PDF_TEXT.split()))  # every word present, no phrase shared
    m = match_evidence(GOLD, [shuffled])
    assert not m.found and m.coverage == 0.0 and not m.anchored


def test_scattered_short_phrases_without_an_anchor_are_not_found():
    # every 5-word shingle of the gold is present, but in chunks of 6 words: no 8-token run in one chunk
    g = normalize_tokens(GOLD)
    pieces = [" ".join(g[i:i + 6]) for i in range(0, len(g), 5)]
    m = match_evidence(GOLD, pieces)
    assert m.coverage > 0.9 and not m.anchored and not m.found


def test_an_anchor_with_too_little_coverage_is_not_found():
    chunk = "In this section: " + " ".join(PDF_TEXT.split()[:12]) + " and nothing else of it."
    m = match_evidence(GOLD, [chunk])
    assert m.anchored and m.coverage < 0.5 and not m.found


def test_short_caption_needs_all_its_tokens_in_a_row():
    gold = "FLOAT SELECTED: Table 2: Main results on the DL-PS data."
    assert match_evidence(gold, ["Table 2: Main results on the DL-PS data. Model P R F1 CRF 89.48"]).found
    assert not match_evidence(gold, ["Table 3: Main results on the EC-MT and EC-UQ datasets."]).found


def test_empty_inputs():
    assert not match_evidence("BIBREF3 $x$", ["anything"]).found  # nothing left of the gold
    assert not match_evidence(GOLD, []).found


# ---------------------------------------------------------------------------------------------- answers
def test_token_f1_squad_style():
    assert token_f1("The Cat sat.", "a cat sat") == 1.0
    assert token_f1("the cat sat", "a cat sat on the mat") == pytest.approx(2 / 3)  # P 1, R 1/2
    assert token_f1("dog", "cat") == 0.0
    assert token_f1("", "") == 1.0 and token_f1("", "cat") == 0.0
    assert squad_normalize("An Apple, the PIE!") == "apple pie"


def test_answer_score_takes_the_best_gold_and_cleans_qasper_markup():
    golds = ["BIBREF19, BIBREF20", "multilingual NMT (MNMT) BIBREF19"]  # the first is empty once cleaned
    # "[...]" citation labels are not answer words: they, compare, with, multilingual, nmt vs multilingual nmt mnmt
    got = answer_score("They compare with multilingual NMT [1912.01214 §4 p.5]", golds, abstained=False)
    assert got == pytest.approx(2 * (2 / 5) * (2 / 3) / (2 / 5 + 2 / 3))
    assert answer_score("pivoting", ["pivoting, pivoting$_{\\rm m}$", "pivoting"], False) == 1.0
    assert answer_score("anything", ["BIBREF19"], False) is None  # nothing to score against


def test_yes_no_questions_score_the_polarity():
    assert answer_polarity("No, they did not.") == "no"
    assert answer_polarity("They did not perform any error analysis [1].") == "no"
    assert answer_polarity("They report an error analysis in Section 5.") == "yes"
    assert answer_score("No. The annotation was done by the authors.", ["No"], False) == 1.0
    assert answer_score("Yes, on Amazon Mechanical Turk.", ["No"], False) == 0.0
    assert answer_score("They didn't use one.", ["No", "no"], False) == 1.0
    assert answer_score("They didn’t use one.", ["No"], False) == 1.0  # typographic apostrophe


def test_unanswerable_and_abstentions():
    assert answer_score("", ["Unanswerable"], abstained=True) == 1.0
    assert answer_score("It is 42.", ["Unanswerable"], abstained=False) == 0.0
    assert answer_score("", ["joint goal accuracy"], abstained=True) == 0.0
    assert answer_score("joint goal accuracy", ["Unanswerable", "joint goal accuracy"], abstained=False) == 1.0


# ---------------------------------------------------------------------------------------------- data and report
def test_load_qasper(tmp_path):
    f = tmp_path / "q.jsonl"
    f.write_text(json.dumps({"arxiv_id": "1", "pdf": "corpus/a.pdf", "question": "q?", "answers": ["a"],
                             "evidence": []}) + "\n\n")
    (item,) = load_qasper(f, tmp_path)
    assert item.pdf == tmp_path / "corpus" / "a.pdf" and item.evidence == [] and item.answers == ["a"]


def test_report_summary_and_render():
    qs = [QuestionResult("1", "q1?", 2, found=[True, False], ceiling=[True, True], stock_found=[False, False],
                         words=100, stock_words=400, stock_hit_at_our_words=False, hit_at_stock_words=True,
                         answer="x", score=0.5, abstained=False, gated=False, prompt_hit=True, seconds=2.0,
                         tokens_in=900, tokens_out=20),
          QuestionResult("2", "q2?", 1, found=[False], ceiling=[True], stock_found=[True], words=120, stock_words=380,
                         stock_hit_at_our_words=True, hit_at_stock_words=True, answer="", score=0.0, abstained=True,
                         gated=True, prompt_hit=False, seconds=0.1),
          QuestionResult("2", "yes or no?", 0, answer="No", score=None, abstained=False, gated=False, seconds=4.0)]
    rep = QasperReport(k=10, questions=qs, model="m")
    s = rep.summary()
    assert (s["questions"], s["with_evidence"], s["hits"], s["hit_rate"], s["all_found_rate"]) == (3, 2, 1, 0.5, 0.0)
    assert (s["ceiling_rate"], s["stock_hits"], s["stock_hit_rate"], s["stock_all_found_rate"]) == (1.0, 1, 0.5, 0.5)
    assert (s["stock_hits_at_our_words"], s["hits_at_stock_words"]) == (1, 2)
    assert (s["answers"], s["scored"], s["token_f1"], s["abstain_rate"], s["gated_rate"]) == (3, 2, 0.25, 0.333, 0.333)
    assert s["seconds_per_answer"] == 3.0 and s["prompt_hits"] == 1  # the gated question is left out of latency
    text = rep.render()
    assert "hit@10 (ours): 1/2 = 0.5" in text and "stock LlamaIndex" in text and "token-F1 0.25" in text
    assert s["scope"] == "paper" and "search scope: the question's paper" in text
    json.dumps(rep.to_dict())


def test_report_without_stock_or_answers_renders_retrieval_only():
    rep = QasperReport(k=5, questions=[QuestionResult("1", "q?", 1, found=[True], ceiling=[True], words=50)],
                       per_paper=False)
    assert rep.summary()["scope"] == "corpus" and "search scope: all indexed papers" in rep.render()
    assert "stock_hit_rate" not in rep.summary() and "token_f1" not in rep.summary()
    text = rep.render()
    assert "hit@5 (ours): 1/1 = 1.0" in text and "stock" not in text and "answers" not in text


# ---------------------------------------------------------------------------------------------- over ../shared
PAPERS = ["1810.08699", "2001.03131"]  # the two smallest PDFs: 5 questions, 3 with gold evidence


@pytest.mark.slow
def test_retrieval_and_answer_path_over_shared(shared_dir, home, embedder):
    from fakes.llm import ScriptedLLM

    from paperrag.settings import Settings

    fixed_llm = ScriptedLLM("No [1].", backend="fixed", model="fixed", tokens=(100, 3))

    jsonl = shared_dir / "eval" / "qasper" / "qasper_qa_for_local_pdfs.jsonl"
    items = [i for i in load_qasper(jsonl, shared_dir) if i.arxiv_id in PAPERS]
    settings = Settings(home=home)
    rep = evaluate_qasper(Library(settings, embedder=embedder, llm=fixed_llm), jsonl, shared_root=shared_dir,
                          papers=PAPERS)
    s = rep.summary()
    assert s["questions"] == len(items) == 5 and s["scope"] == "paper"
    assert s["with_evidence"] == sum(bool(i.evidence) for i in items) == 3
    assert 0.0 <= s["hit_rate"] <= 1.0 and s["hit_rate"] == round(s["hits"] / s["with_evidence"], 3)
    assert 0.0 <= s["all_found_rate"] <= s["hit_rate"] <= s["ceiling_rate"] <= 1.0
    for q, item in zip(rep.questions, items, strict=True):
        assert len(q.found) == len(q.ceiling) == len(item.evidence)
        assert q.abstained is not None and q.seconds is not None
        if not q.gated:
            assert (q.tokens_in, q.tokens_out) == (100, 3)
    assert s["answers"] == 5 and 0.0 <= s["abstain_rate"] <= 1.0 and 0.0 <= s["token_f1"] <= 1.0
    assert "hit@10 (ours)" in rep.render() and not rep.notes
    json.dumps(rep.to_dict())

    # a second run re-uses the index: nothing is ingested again, same retrieval results
    def chunks():
        with sqlite3.connect(settings.catalog_path) as conn:
            return conn.execute("SELECT count(*), max(rowid) FROM chunks").fetchone()

    before = chunks()
    again = evaluate_qasper(Library(settings, embedder=embedder), jsonl, shared_root=shared_dir, answers=False,
                            papers=PAPERS)
    assert chunks() == before and [q.found for q in again.questions] == [q.found for q in rep.questions]
    assert "token_f1" not in again.summary()
