"""Compare: card-field rows read from paper cards, free-form aspects with per-paper evidence, page verification,
number alignment, synthesis, CLI.

Over a real mini-index (generated PDFs with known facts, real MiniLM, Chroma). The logic around the model —
repair, retry, per-paper failure, hallucination checks, citation validation, caching — is driven by a scripted
LLM; the real 0.5B model runs the same path in test_compare_e2e.py. The card extraction itself is tested in
test_cards.py.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from fakes.corpus import Paper, add_abstract_only, build_corpus, page_text
from fakes.data import A_DATA, A_HW, A_RESULT, B_DATA, B_HW, B_RESULT
from fakes.llm import ScriptedLLM
from fakes.llm import scripted as make_scripted

from indexes.call_log import count_calls
from paperrag.library import Library
from rag.cards import CardBuilder, PaperCard
from rag.compare import (
    CompareError,
    Comparer,
    compare,
    compare_topic,
    field_for,
    method_card,
    parse_aspects,
    resolve_fact_citations,
    support,
)
from rag.llm.logged import LoggedLLM

C_TEXT = ("Surface codes protect logical qubits by measuring stabilizers on a two-dimensional lattice of "
          "physical qubits; the threshold error rate is close to one percent.")
ABSTRACT_D = ("We present Tiny Widget Nets, trained on 300 synthetic widgets, which reach 66.2 percent accuracy "
              "on WidgetBench.")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, embedder):
    """A, B: full text with known facts; C: an unrelated paper; D: abstract only (no PDF)."""
    settings = build_corpus(tmp_path_factory.mktemp("compare"), embedder, [
        Paper("a", "Sparse Widget Attention", "2405.10001", seed=31,
              sections=[("4 Training data", A_DATA), ("5 Experiments", A_RESULT), ("6 Hardware", A_HW)]),
        Paper("b", "Graph Crawlers for Citation Search", "2405.10002", seed=32, category="cs.IR",
              sections=[("4 Training data", B_DATA), ("5 Experiments", B_RESULT), ("6 Hardware", B_HW)]),
        Paper("c", "Surface Codes for Quantum Memories", "2405.10003", seed=33, category="quant-ph",
              sections=[("4 Surface codes", C_TEXT)]),
    ]).settings
    _add_abstract_only(settings, embedder)
    return settings


def _add_abstract_only(settings, embedder) -> None:
    add_abstract_only(settings, embedder, "2405.10004", ABSTRACT_D, published="2024-05-20")


def scripted(reply, **kw) -> ScriptedLLM:
    return make_scripted(reply, prefix="scripted", **kw)


def question_of(messages) -> str:
    user = messages[-1]["content"] if messages[-1]["role"] == "user" else ""
    for m in reversed(messages):
        if m["role"] == "user" and "Question:" in m["content"]:
            user = m["content"]
            break
    m = re.search(r"Question: (.*)", user)
    return m.group(1) if m else ""


def paper_of(messages) -> str:
    for m in messages:
        hit = re.search(r"Paper: (.*)", m["content"])
        if hit:
            return hit.group(1).strip()
    return ""


def is_card(messages) -> bool:
    return "numbered sentences quoted from ONE research paper" in messages[0]["content"]


def sentences_of(messages) -> dict[int, str]:
    """The numbered candidate sentences of a card_field prompt."""
    block = messages[1]["content"].split("Sentences:", 1)[1].split("\nQuestion:", 1)[0]
    return {int(n): t for n, t in re.findall(r"^\[(\d+)\] (.*)$", block, re.MULTILINE)}


def cite(messages, value: str, phrase: str) -> str:
    """{"value": value, "sentences": [the sentence holding phrase]}, or "not stated" when none holds it."""
    hits = [n for n, t in sentences_of(messages).items() if phrase in t]
    return json.dumps({"value": value, "sentences": hits[:1]}) if hits else '{"value": "not stated", "sentences": []}'


def fact_reply(messages) -> str:
    """A well-behaved model: answers from the known facts of the paper in its prompt, citing their sentences."""
    system = messages[0]["content"]
    if "numbered facts" in system:
        return "Both papers report WidgetBench accuracy [1][2]. Sparse Widget Attention trains on widgets [3]."
    q, title = question_of(messages), paper_of(messages)
    a = title.startswith("Sparse")
    if is_card(messages) and "headline numeric results" in q:
        if title.startswith(("Sparse", "Graph")):
            value, setting = ("87.3", "") if a else ("79.4", "zero-shot")
            n = [k for k, t in sentences_of(messages).items() if value in t][:1]
            return json.dumps({"results": [{"metric": "accuracy", "value": value, "benchmark": "WidgetBench",
                                            "setting": setting, "sentences": n}]})
        return '{"results": []}'
    if "data" in q and "released" not in q:  # not the code/data availability question
        value, phrase = {"Sparse": ("WidgetCorpus collection of 1.2 million annotated widgets", "WidgetCorpus"),
                         "Graph": ("35,000 citation graphs from the OpenCite collection", "OpenCite"),
                         "Tiny": ("300 synthetic widgets", "300 synthetic")}.get(title.split()[0], ("", ""))
    elif "hardware" in q:
        value, phrase = {"Sparse": ("4 NVIDIA A100 GPUs for 14 hours", "A100"),
                         "Graph": ("a single RTX 3090 GPU for 6 hours", "RTX 3090")}.get(title.split()[0], ("", ""))
    else:
        value, phrase = "", ""
    if not value:
        return '{"value": "not stated", "sentences": []}'
    return cite(messages, value, phrase) if is_card(messages) else json.dumps({"value": value})


ASPECTS = ["training data", "compute", "headline results"]


def test_cells_cite_the_pages_that_hold_their_values(corpus, embedder):
    llm = scripted(fact_reply)
    cmp = compare(Library(corpus, llm=llm, embedder=embedder), ["2405.10001", "2405.10002"], ASPECTS)
    assert [p.key for p in cmp.papers] == ["2405.10001v1", "2405.10002v1"]
    assert [r.aspect for r in cmp.rows][:3] == ["Data", "Compute / hardware", "Headline results"]
    assert [r.field for r in cmp.rows][:3] == ["data", "compute", "results"]
    for row in cmp.rows:
        for paper, cell in zip(cmp.papers, row.cells, strict=True):
            assert cell.status == "found", (row.aspect, cell)
            assert cell.pages and re.search(r"\(pp?\.\d", cell.display())
            assert cell.quotes and {q.page for q in cell.quotes} == set(cell.pages)
            text = " ".join(page_text(corpus, paper.key, p) for p in cell.pages)
            quoted = " ".join(q.text for q in cell.quotes).replace(",", "")
            for n in re.findall(r"\d+(?:\.\d+)?", cell.value.replace(",", "")):
                assert n in text.replace(",", ""), (n, cell.pages)
                assert n in quoted, (n, cell.quotes)
    data = cmp.row("Data").cells[0]
    assert "1.2 million" in data.value and data.display().endswith(")")
    # 4 model calls per paper at most: one per aspect, no retries; one synthesis call
    assert len(llm.calls) == 2 * len(ASPECTS) + 1 and cmp.llm_calls == len(llm.calls)


def test_same_benchmark_and_metric_are_aligned_and_differing_settings_are_said(corpus, embedder):
    cmp = compare(Library(corpus, llm=scripted(fact_reply), embedder=embedder), ["2405.10001", "2405.10002"], ASPECTS)
    aligned = [r for r in cmp.rows if r.field == "numbers"]
    assert len(aligned) == 1
    row = aligned[0]
    assert row.aspect == "WidgetBench accuracy"
    assert [c.value for c in row.cells] == ["87.3", "79.4 (zero-shot)"]
    assert "settings differ" in row.note
    md = cmp.to_markdown()
    assert re.search(r"\| WidgetBench accuracy \(settings differ[^|]*\| 87\.3 \(p\.\d+\) \| 79\.4 \(zero-shot\) "
                     r"\(p\.\d+\) \|", md), md


def test_hallucinated_values_are_retried_then_not_stated(corpus, embedder):
    def liar(messages):
        if "numbered facts" in messages[0]["content"]:
            return "Nothing to compare [1]."
        if "headline numeric results" in question_of(messages):
            return '{"results": [{"metric": "accuracy", "value": "99.9", "benchmark": "WidgetBench", "sentences": [1]}]}'
        return '{"value": "trained on 9.9 million cat photos from the ImageNet collection", "sentences": [1]}'

    llm = scripted(liar)
    cmp = compare(Library(corpus, llm=llm, embedder=embedder), ["2405.10001", "2405.10002"], ["training data", "results"])
    for row in cmp.rows:
        for cell in row.cells:
            assert cell.status == "not stated" and cell.display() == "not stated", cell
            assert not cell.pages and not cell.quotes
            assert cell.note.startswith("rejected after a retry")
    assert "9.9" in cmp.row("Data").cells[0].note and "imagenet" in cmp.row("Data").cells[0].note.lower()
    assert "99.9" in cmp.row("Headline results").cells[0].note
    assert len(llm.calls) == 2 * 2 * 2 and cmp.synthesis_status == "skipped"  # no fact: no synthesis call


def test_malformed_json_is_repaired_without_a_retry(corpus, embedder):
    def reply(messages):
        n = next(k for k, t in sentences_of(messages).items() if "OpenCite" in t)
        return ('Here is the JSON:\n```json\n{"value": "35,000 citation graphs from the OpenCite collection", '
                f'"sentences": ["{n}"],}}\n```.')

    llm = scripted(reply)
    parts = Library(corpus, llm=llm, embedder=embedder)
    card = CardBuilder(parts).build("2405.10002", fields=["data"])
    f = card.field("data")
    assert f.found and f.value.startswith("35,000") and "OpenCite" in f.quotes[0].text and len(llm.calls) == 1
    parts.close()


def test_invalid_json_is_retried_once_with_the_problem_spelled_out(corpus, embedder):
    llm = scripted(["The model is trained on WidgetCorpus.", fact_reply])
    parts = Library(corpus, llm=llm, embedder=embedder)
    f = CardBuilder(parts).build("2405.10001", fields=["data"]).field("data")
    assert f.found and "after a retry" in f.note and "WidgetCorpus" in f.value
    retry = llm.calls[1]
    assert retry[-2] == {"role": "assistant", "content": "The model is trained on WidgetCorpus."}
    assert "rejected" in retry[-1]["content"] and '{"sentences": [n], "value": "..."}' in retry[-1]["content"]
    parts.close()


def test_a_model_that_never_returns_json_fails_that_paper_only(corpus, embedder):
    def reply(messages):
        if "numbered facts" in messages[0]["content"]:
            return "Only one paper has facts [1]."
        if paper_of(messages).startswith("Graph"):
            return "Sorry, I cannot help with that."
        return fact_reply(messages)

    llm = scripted(reply)
    cmp = compare(Library(corpus, llm=llm, embedder=embedder), ["2405.10001", "2405.10002"], ["training data", "compute"])
    a, b = cmp.papers
    assert not a.failure and b.failure.startswith("every aspect failed")
    for row in cmp.rows:
        assert row.cells[0].status == "found"
        assert row.cells[1].status == "failed" and "after a retry" in row.cells[1].note
        assert row.cells[1].display().startswith("failed: model output unusable after a retry")
    assert "FAILED" in b.label and "**Failed papers**" in cmp.to_markdown()
    assert len(llm.calls) == 2 + 2 * 2 + 0  # A: 2 calls, B: 2 aspects × (try + retry); synthesis skipped
    assert cmp.synthesis_status == "skipped"


def test_a_poor_match_paper_keeps_its_column_and_its_own_evidence(corpus, embedder):
    llm = scripted(lambda m: '{"value": "not stated"}' if "Question" in m[-1]["content"] else "x [1].")
    cmp = compare(Library(corpus, llm=llm, embedder=embedder), ["2405.10001", "2405.10003"], ["sparse widget attention keys"])
    assert [p.key for p in cmp.papers] == ["2405.10001v1", "2405.10003v1"]
    cell_a, cell_c = cmp.rows[0].cells
    assert cell_c.evidence and all(cid.startswith("2405.10003v1#") for cid in cell_c.evidence)
    assert all(cid.startswith("2405.10001v1#") for cid in cell_a.evidence)
    assert cell_c.display() == "not stated"
    engine = Comparer(Library(corpus, llm=llm, embedder=embedder))
    (c,) = engine.resolve(["2405.10003"])
    assert len(engine.excerpts(c, "sparse widget attention keys")) == 3  # the global top-k would hold none of C
    engine.parts.close()


def test_abstract_only_papers_are_labelled_and_cite_the_abstract(corpus, embedder):
    cmp = compare(Library(corpus, llm=scripted(fact_reply), embedder=embedder), ["2405.10001", "2405.10004"], ["training data"])
    d = cmp.papers[1]
    assert d.basis == "abstract only" and "(abstract only)" in d.label
    cell = cmp.rows[0].cells[1]
    assert cell.status == "found" and cell.display() == "300 synthetic widgets (abstract)"
    assert cell.quotes and cell.quotes[0].abstract_only and "300 synthetic widgets" in cell.quotes[0].text
    assert any("abstract only" in n for n in cmp.notes)
    assert "(abstract only)" in cmp.to_markdown().splitlines()[2]


def test_bad_inputs_say_what_is_wrong(corpus, embedder):
    llm = scripted(fact_reply)
    with pytest.raises(CompareError, match=r"unknown papers: 9999\.99999, nonsense"):
        compare(Library(corpus, llm=llm, embedder=embedder), ["2405.10001", "9999.99999", "nonsense"])
    with pytest.raises(CompareError, match="at least 2 different papers; got 1 \\(2405.10001v1\\)"):
        compare(Library(corpus, llm=llm, embedder=embedder), ["2405.10001"])
    with pytest.raises(CompareError, match="at least 2 different papers"):
        compare(Library(corpus, llm=llm, embedder=embedder), ["2405.10001", "2405.10001v1"])
    with pytest.raises(CompareError, match=r"at most 8 at a time because every paper costs about 12 LLM calls.*"
                                           r"--max 20"):
        compare(Library(corpus, llm=llm, embedder=embedder), [f"2405.{10000 + i}" for i in range(20)])
    assert llm.calls == []


def test_more_papers_than_the_default_limit_work_when_allowed(corpus, embedder):
    llm = scripted(fact_reply)
    ids = ["2405.10001", "2405.10002", "2405.10003", "2405.10004"]
    cmp = compare(Library(corpus, llm=llm, embedder=embedder), ids, ["training data"], max_papers=4, synthesis=False)
    assert len(cmp.papers) == 4 and len(cmp.rows[0].cells) == 4
    with pytest.raises(CompareError, match="at most 3"):
        compare(Library(corpus, llm=llm, embedder=embedder), ids, max_papers=3)


def test_synthesis_cites_only_facts_that_were_in_its_prompt(corpus, embedder):
    def reply(messages):
        if "numbered facts" in messages[0]["content"]:
            assert "[1] 2405.10001" in messages[-1]["content"]
            return ("Both use WidgetBench [1][2]. One reaches 87.3 percent accuracy [3] [2405.10001 p.77]. "
                    "It is the best [99] [Paper 2]. The other reaches 99.1 percent accuracy on WidgetBench [2]. "
                    "Both train on annotated widgets from the WidgetCorpus collection [4].")  # fact 4 is the other paper's headline number: unrelated
        return fact_reply(messages)

    cmp = compare(Library(corpus, llm=scripted(reply), embedder=embedder), ["2405.10001", "2405.10002"], ASPECTS)
    assert cmp.synthesis_status == "ok"
    cites = re.findall(r"\[[^\]]+\]", cmp.synthesis)
    assert cites and all(re.fullmatch(r"\[2405\.1000[12] p\.\d+\]", c) for c in cites), cites
    for c in cites:  # every cited page is a page of a cell of that paper
        pid, page = re.fullmatch(r"\[(\S+) p\.(\d+)\]", c).groups()
        col = [p.arxiv_id for p in cmp.papers].index(pid)
        assert any(int(page) in row.cells[col].pages for row in cmp.rows)
    assert "p.77" not in cmp.synthesis and "[99]" not in cmp.synthesis and "Paper 2" not in cmp.synthesis
    assert any("dropped 3 citation(s)" in n for n in cmp.notes), cmp.notes
    assert any("left out 1 sentence(s) that match no fact" in n for n in cmp.notes)
    assert any("left out 1 sentence(s) with numbers not in the facts they cite" in n for n in cmp.notes)
    assert any("dropped 1 citation(s) of facts that share no word with their sentence" in n for n in cmp.notes)
    assert re.search(r"Both train on annotated widgets from the WidgetCorpus collection \[2405\.10001 p\.\d+\]\.",
                     cmp.synthesis), cmp.synthesis
    assert "99.1" not in cmp.synthesis and "87.3 percent accuracy [2405.10001 p." in cmp.synthesis


def test_synthesis_without_citations_is_retried_then_left_out(corpus, embedder):
    def reply(messages):
        if "numbered facts" in messages[0]["content"]:
            return "These papers are both very interesting."
        return fact_reply(messages)

    llm = scripted(reply)
    cmp = compare(Library(corpus, llm=llm, embedder=embedder), ["2405.10001", "2405.10002"], ["training data"])
    assert cmp.synthesis == "" and cmp.synthesis_status == "failed"
    assert sum("numbered facts" in c[0]["content"] for c in llm.calls) == 2
    assert any("cites none of the numbered facts" in n for n in cmp.notes)


def test_second_run_is_served_from_the_cache_without_loading_a_model(corpus, embedder):
    settings = corpus.model_copy(update={"llm": corpus.llm.model_copy(update={
        "backend": "llamacpp", "gguf_path": "/nonexistent/fake-cached-model.gguf"})})

    llm = LoggedLLM(ScriptedLLM(fact_reply, backend="llamacpp", model="fake-cached-model"), settings.catalog_path)
    ids = ["2405.10001", "2405.10002"]
    first = compare(Library(settings, llm=llm, embedder=embedder), ids, ASPECTS)
    made = count_calls(settings.catalog_path, model="fake-cached-model")
    assert first.llm_calls == made == 2 * len(ASPECTS) + 1
    again = compare(Library(settings, embedder=embedder), ids, ASPECTS)  # llm=None: building one would fail (no GGUF)
    assert again.llm_calls == 0 and again.cached == 2 * len(ASPECTS) + 1
    assert count_calls(settings.catalog_path, model="fake-cached-model") == made
    assert again.to_markdown() == first.to_markdown()
    assert again.model == "llamacpp:fake-cached-model"


def test_method_card_is_the_paper_card(corpus, embedder):
    llm = scripted(fact_reply)
    library = Library(corpus, llm=llm, embedder=embedder)
    card = method_card(library, "2405.10001")
    assert isinstance(card, PaperCard) and card.basis == "full text" and len(card.fields) == 11
    assert card.prompt == "card_field@v2" and card.llm_calls == len(llm.calls) == 12
    assert card.fields["data"].found and card.fields["data"].pages and card.fields["data"].quotes
    assert card.fields["limitations"].status == "not stated"
    md = card.to_markdown()
    assert "| Data | WidgetCorpus collection of 1.2 million annotated widgets (p." in md
    assert "| Limitations (authors) | not stated |" in md
    again = library.method_card("2405.10001")  # the Library's use case: the same card, from the cache
    assert again.cached and len(llm.calls) == 12 and again.fields == card.fields
    # a comparison reads the same card: no further call for its card-field rows
    cmp = compare(library, ["2405.10001", "2405.10002"], ["training data"], synthesis=False)
    assert cmp.row("Data").cells[0].value == card.fields["data"].value
    assert len(llm.calls) == 12 + 1  # paper B's data field only


def test_output_formats(corpus, embedder):
    cmp = compare(Library(corpus, llm=scripted(fact_reply), embedder=embedder), ["2405.10001", "2405.10002"], ASPECTS)
    rows = list(csv.reader(io.StringIO(cmp.to_csv())))
    assert rows[0] == ["aspect", "2405.10001v1", "2405.10002v1"]
    assert rows[1] == ["title", "Sparse Widget Attention", "Graph Crawlers for Citation Search"]
    assert rows[2][0] == "Data" and rows[2][1].startswith("WidgetCorpus") and "(p." in rows[2][1]
    data = json.loads(cmp.to_json())
    assert data["papers"][0]["label"] == "2405.10001v1" and data["rows"][0]["cells"][0]["pages"]
    assert data["rows"][0]["cells"][0]["display"] == cmp.rows[0].cells[0].display()
    assert "WidgetCorpus" in data["rows"][0]["cells"][0]["quotes"][0]["text"]
    md = cmp.to_markdown()
    assert md.splitlines()[2].startswith("| Aspect | 2405.10001v1 Sparse Widget Attention |")
    assert "### Synthesis" in md


def test_topic_picks_papers_by_paper_level_retrieval(corpus, embedder):
    cmp = compare_topic(Library(corpus, llm=scripted(fact_reply), embedder=embedder), "widget benchmark accuracy", n=2, aspects=["training data"])
    assert {p.arxiv_id for p in cmp.papers} <= {"2405.10001", "2405.10002", "2405.10004"}
    assert cmp.notes[0].startswith("papers picked for the topic 'widget benchmark accuracy'")
    with pytest.raises(CompareError, match="only 0 indexed paper"):
        compare_topic(Library(corpus, llm=scripted(fact_reply), embedder=embedder), "widget", n=2, since="2030-01-01")


def test_helpers():
    assert parse_aspects("action representation, data") == ["action representation", "data"]
    assert parse_aspects(None) is None and parse_aspects(" , ") is None
    assert field_for("Training Data").key == "data" and field_for("code").key == "code_data"
    assert field_for("action representation") is None
    facts = [{"n": 1, "cite": "[2405.10001 p.5]"}, {"n": 2, "cite": "[2405.10002 abstract]"}]
    text, cited, invalid = resolve_fact_citations("A [1]. B [2][7]. C [2405.10001 p. 5]. D [1706.03762 p.2].", facts)
    assert text == "A [2405.10001 p.5]. B [2405.10002 abstract]. C [2405.10001 p.5]. D."
    assert cited == [1, 2] and invalid == ["[1706.03762 p.2]", "[7]"]


def test_support_needs_every_number_and_most_words():
    from rag.compare import Excerpt

    ex = [Excerpt(1, "x#1", 3, 3, "", "Training takes 14 hours on 4 NVIDIA A100 GPUs."),
          Excerpt(2, "x#2", 5, 6, "", "The WidgetCorpus has 1.2 million widgets.")]
    assert [e.n for e in support("4 NVIDIA A100 GPUs for 14 hours", ex)] == [1]
    assert support("8 NVIDIA A100 GPUs", ex) is None  # a number that is on no page
    assert [e.n for e in support("WidgetCorpus, 1.2 million widgets; 14 hours of training", ex)] == [1, 2]
    assert support("a large photo collection", ex) is None


# ------------------------------------------------------------------------------------------------ CLI
@pytest.fixture
def cli_home(corpus, monkeypatch, tmp_path):

    monkeypatch.setenv("PAPERRAG_HOME", str(corpus.home))
    monkeypatch.setenv("PAPERRAG_CONFIG", str(tmp_path / "absent.toml"))
    yield corpus


def test_cli_compare_over_ollama_then_from_the_cache(cli_home, monkeypatch, tmp_path):
    from fakes.ollama_server import OllamaTestServer
    from typer.testing import CliRunner

    from ui.cli import app

    with OllamaTestServer(models=["cmp-cli-model"], reply=lambda body: fact_reply(body["messages"])) as srv:
        monkeypatch.setenv("PAPERRAG_LLM__BACKEND", "ollama")
        monkeypatch.setenv("PAPERRAG_LLM__OLLAMA_HOST", srv.url)
        monkeypatch.setenv("PAPERRAG_LLM__OLLAMA_MODEL", "cmp-cli-model")
        args = ["compare", "2405.10001", "2405.10002", "--aspects", "training data, compute", "--format", "csv"]
        first = CliRunner().invoke(app, args)
        assert first.exit_code == 0, first.output
        sent = len(srv.chat_requests())
        second = CliRunner().invoke(app, args)
        assert second.exit_code == 0 and len(srv.chat_requests()) == sent  # nothing sent the second time
        # a Markdown file is read elsewhere: each cited page opens the app's reader, the page on arXiv second
        saved = CliRunner().invoke(app, [*args[:-2], "--output", str(tmp_path / "cmp.md")])
        assert saved.exit_code == 0 and len(srv.chat_requests()) == sent, saved.output
        md = (tmp_path / "cmp.md").read_text(encoding="utf-8")
        assert re.search(r"\(\[p\.\d+\]\(http://127\.0\.0\.1:7860/reader/2405\.10001v1\?page=\d+&q=[^)]+\) "
                         r"\[↗\]\(https://arxiv\.org/pdf/2405\.10001v1#page=\d+ ", md), md
        topic = CliRunner().invoke(app, ["compare", "--topic", "widget benchmark accuracy", "-n", "2", "--aspects",
                                         "training data", "--format", "json"])
        assert topic.exit_code == 0, topic.output
        picked = json.loads(topic.stdout)
        assert len(picked["papers"]) == 2 and picked["notes"][0].startswith("papers picked for the topic")
        assert picked["rows"][0]["aspect"] == "Data"
    rows = list(csv.reader(io.StringIO(first.stdout)))
    assert rows[0] == ["aspect", "2405.10001v1", "2405.10002v1"]
    assert rows[2][0] == "Data" and "1.2 million" in rows[2][1] and "(p." in rows[2][1]
    assert rows[3][0] == "Compute / hardware" and "RTX 3090" in rows[3][2]
    assert second.stdout == first.stdout
    assert "LLM calls: 0" in second.stderr and f"LLM calls: {sent}" in first.stderr


def test_cli_compare_bad_input_is_one_line_and_a_failing_exit_code(cli_home):
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("paperrag")

    def run(*args):
        return subprocess.run([str(exe), "compare", *args], capture_output=True, text=True, timeout=300)

    unknown = run("2405.10001", "9999.99999")
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines()[-1].startswith("error: unknown paper: 9999.99999 — not indexed")
    single = run("2405.10001")
    assert single.returncode == 1 and "compare needs at least 2 different papers; got 1" in single.stderr
    many = run(*[f"2405.{10000 + i}" for i in range(20)])
    assert many.returncode == 1 and "at most 8 at a time" in many.stderr and "--max 20" in many.stderr
    fmt = run("2405.10001", "2405.10002", "--format", "xlsx")
    assert fmt.returncode == 1 and "unknown format 'xlsx'" in fmt.stderr


def test_numbers_on_the_same_benchmark_align_across_spellings():
    from rag.compare import Cell, HeadlineResult, Row, aligned_rows

    def cell(*results):
        return Cell(status="found", results=[HeadlineResult(metric=m, value=v, benchmark=b, setting=s, pages=[p])
                                             for m, v, b, s, p in results])

    row = Row(aspect="Headline results", field="results", cells=[
        cell(("nDCG@10", "73.7", "SciFact", "", 6), ("BLEU", "28.4", "WMT 2014 En-De", "big", 8)),
        cell(("nDCG@10", "71.2", "SciFact test set", "zero-shot", 4), ("accuracy", "90.1", "SST-2", "", 5)),
        cell(("nDCG@10", "70.0", "NFCorpus", "", 3)),
    ])
    rows = aligned_rows([None, None, None], row)
    assert len(rows) == 1
    r = rows[0]
    assert r.aspect == "SciFact nDCG@10" and r.field == "numbers"
    assert [c.display() for c in r.cells] == ["73.7 (p.6)", "71.2 (zero-shot) (p.4)", "not stated"]
    assert r.note == "settings differ: unspecified vs zero-shot"


def test_an_aspect_prompt_too_big_for_the_context_is_retried_with_the_best_excerpt(corpus, embedder):
    from rag.llm.base import ContextOverflow

    llm = scripted('{"value": "WidgetCorpus collection of 1.2 million annotated widgets"}')
    real_chat = llm.chat
    sizes = []

    def chat(messages, **kw):
        sizes.append(messages[-1]["content"].count("(page "))
        if len(sizes) == 1:
            raise ContextOverflow("prompt is 9000 tokens but the context is 2048")
        return real_chat(messages, **kw)

    llm.chat = chat
    engine = Comparer(Library(corpus, llm=llm, embedder=embedder))
    (paper,) = engine.resolve(["2405.10001"])
    cell = engine.aspect_cell(paper, "the WidgetCorpus collection of annotated widgets")
    assert sizes == [3, 1] and cell.status == "found" and len(cell.evidence) == 1
    assert "did not fit the context" in cell.note
    engine.parts.close()


def test_uncited_synthesis_sentences_get_the_facts_they_repeat_or_are_left_out(corpus, embedder):
    def reply(messages):
        if "numbered facts" in messages[0]["content"]:
            first = "Sparse Widget Attention trains on the WidgetCorpus collection of 1.2 million annotated widgets. "
            return ("[3] " + first + "The crawler is trained on 99 citation graphs from the OpenCite collection. "
                    + first + "Both are great.")  # a bare "[3]" and a repeated sentence, as the 0.5B writes
        return fact_reply(messages)

    cmp = compare(Library(corpus, llm=scripted(reply), embedder=embedder), ["2405.10001", "2405.10002"], ASPECTS)
    assert re.fullmatch(r"Sparse Widget Attention trains on the WidgetCorpus collection of 1\.2 million annotated "
                        r"widgets \[2405\.10001 p\.\d+\]\.", cmp.synthesis), cmp.synthesis
    page = int(re.search(r"p\.(\d+)", cmp.synthesis).group(1))
    assert page in cmp.row("Data").cells[0].pages
    assert any("cited no fact in 1 sentence(s)" in n for n in cmp.notes)
    assert any("left out 1 sentence(s) with numbers not in the facts" in n for n in cmp.notes)
    assert any("left out 1 sentence(s) that match no fact" in n for n in cmp.notes)
