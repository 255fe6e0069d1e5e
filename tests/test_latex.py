"""LaTeX math (paperrag/latex.py and its users): spans found by pandoc's rules, kept away from the model as
placeholders and put back byte-identical, a model output that lost or changed a formula rejected (retried, then
the fallback); markdown digests keep `$…$` as written, HTML digests render it as MathML (no script), the web app
hands it to Gradio's own KaTeX.

The writer tests use a generated, ingested paper and hand-made cards (tests/fakes/cards.py), like
tests/test_digest_writer.py; the model is scripted.
"""

from __future__ import annotations

import re

import pytest
from fakes.cards import card_of
from fakes.corpus import Paper, build_corpus
from fakes.data import A_DATA, A_HW, A_RESULT, SPARSE, make_digest
from fakes.llm import ScriptedLLM

from paperrag.latex import MathTable, find_math, math_problems, math_spans, split_math
from paperrag.library import Library
from paperrag.records import PaperMeta
from rag.digest import render
from rag.digest.mathml import to_mathml
from rag.digest.model import Cited
from rag.digest.writer import DigestWriter
from rag.gated import Outcome
from rag.llm.fake_backend import FakeLLM
from ui.app_render import LATEX_DELIMITERS, linkify, md_escape

ABSTRACT = (r"Attention costs $\mathcal{O}(n^2)$ in the length $n$; we keep $k \ll n$ keys, so the cost is "
            r"\(\mathcal{O}(nk)\) and $$\mathcal{L} = -\sum_{i=1}^{N} \log p_\theta(y_i \mid x_{<i})$$ is "
            r"minimised with \[ \alpha_t = \frac{\alpha_0}{\sqrt{t}} \]. A price of $5 and $10 is not math, "
            r"nor is \$x\$.")


# ------------------------------------------------------------------------------------------ finding spans
def test_spans_follow_pandocs_rules():
    assert math_spans(ABSTRACT) == [r"$\mathcal{O}(n^2)$", "$n$", r"$k \ll n$", r"\(\mathcal{O}(nk)\)",
                                    r"$$\mathcal{L} = -\sum_{i=1}^{N} \log p_\theta(y_i \mid x_{<i})$$",
                                    r"\[ \alpha_t = \frac{\alpha_0}{\sqrt{t}} \]"]
    assert [s.display for s in find_math(ABSTRACT)] == [False, False, False, False, True, True]
    assert math_spans("costs $5 and $10, or $5-$10") == []  # prices
    assert math_spans(r"($\sim$1500) and $>$1000 K") == [r"$\sim$", "$>$"]  # a formula before a number is fine
    assert math_spans(r"a line break \\[2pt] and $ spaced $") == []
    assert math_spans("$x$\n\n$y") == ["$x$"]  # never across a blank line
    assert "".join(p for p, _ in split_math(ABSTRACT)) == ABSTRACT


def test_protect_and_restore_round_trip_byte_identical():
    table = MathTable.for_texts([ABSTRACT])
    hidden = table.protect(ABSTRACT)
    assert "\\mathcal" not in hidden and "\\(" not in hidden and "$$" not in hidden
    assert re.findall(r"\[M\d+\]", hidden) == ["[M1]", "[M2]", "[M3]", "[M4]", "[M5]", "[M6]"]
    assert "$5 and $10" in hidden and r"\$x\$" in hidden  # not math: untouched
    assert table.restore(hidden) == ABSTRACT
    # the shapes a model turns a placeholder into come back too; one it was never given stays for the check
    assert table.restore("代价为【M1】，[[M2]]、⟦M3⟧ 和 [ M1 ]，[M9]") == \
        r"代价为$\mathcal{O}(n^2)$，$n$、$k \ll n$ 和 $\mathcal{O}(n^2)$，[M9]"
    # the same span gets the same placeholder across the texts of one call
    other = MathTable.for_texts(["$x$ first", "then $x$ again and $y$"])
    assert other.protect("then $x$ again and $y$") == "then [M1] again and [M2]"


def test_a_literal_placeholder_in_the_text_gets_another_prefix():
    table = MathTable.for_texts(["see [M1] of the appendix for $x^2$"])
    assert table.prefix != "M" and table.protect("see [M1] of the appendix for $x^2$").endswith(f"[{table.prefix}1]")
    assert table.restore(f"[M1] and [{table.prefix}1]") == "[M1] and $x^2$"


def test_an_output_that_lost_or_changed_a_formula_is_rejected():
    table = MathTable.for_texts([r"cost $\mathcal{O}(n^2)$ with $k$ keys"])
    need = math_spans(r"cost $\mathcal{O}(n^2)$ with $k$ keys")
    ok = table.restore("代价为 [M1]，保留 [M2] 个键。")
    assert math_problems(ok, required=need, table=table) == []
    lost = table.restore("代价为 [M1]，保留若干个键。")
    assert any("lost the formula $k$" in p for p in math_problems(lost, required=need, table=table))
    changed = table.restore(r"代价为 $O(n^2)$，保留 [M2] 个键。")  # \mathcal dropped: not the same formula
    problems = math_problems(changed, required=need, table=table)
    assert any("lost the formula $\\mathcal{O}(n^2)$" in p for p in problems)
    assert any("changed or made up the formula $O(n^2)$" in p for p in problems)
    unknown = table.restore("代价为 [M1]，保留 [M2] 个键 [M3]。")
    assert any("unknown formula placeholder [M3]" in p for p in math_problems(unknown, required=need, table=table))


# ------------------------------------------------------------------------------------------ rendering
def test_markdown_keeps_latex_as_written_and_html_renders_mathml_without_script():
    d = make_digest("en", "report")
    d.papers[0].meta.abstract = ABSTRACT
    d.papers[0].meta.title = r"$\alpha$-Flow: pipelined $\mathcal{O}(n)$ actions"
    d.papers[0].key_findings = [Cited(r"It reaches $\beta_1 = 0.9$ with $a|b$.", [], "code")]
    md = render.render_markdown(d, "report")
    for span in math_spans(ABSTRACT):
        assert span.replace("<", "\\lt ") in md, span  # byte-identical ("<" that opens a tag: \lt)
    assert r"$\alpha$-Flow: pipelined $\mathcal{O}(n)$ actions" in md
    assert r"A price of \$5 and \$10 is not math" in md
    page = render.render_html(d, "report")
    main = page.split("<main>", 1)[1]
    assert main.count("<math ") >= len(math_spans(ABSTRACT)) + 2 + 2
    assert '<math display="block"' in main and "\ue000" not in page
    text = re.sub(r"<annotation[^>]*>.*?</annotation>", "", main, flags=re.S)
    text = re.sub(r"<[^>]+>", "", text)
    assert not re.search(r"\\[A-Za-z]{2,}|\\\(|\\\[", text), re.findall(r".{20}\\[A-Za-z]{2,}.{20}", text)[:3]
    assert "A price of $5 and $10 is not math" in text
    assert "<script" not in page and "default-src 'none'" in page


def test_hostile_latex_cannot_put_markup_on_the_page():
    for tex in (r"\text{<script>alert(1)</script>}", r"\href{javascript:alert(1)}{x}", r"\style{color:red}{x}",
                r"\unknowncommand{x}"):
        out = to_mathml(tex) or ""
        assert "<script" not in out and " href=" not in out and " style=" not in out and "<mi>\\" not in out
    d = make_digest("en", "report")
    d.papers[0].meta.abstract = r"Evil $\text{<img src=x onerror=alert(1)>}$ and $\foo{x}$ and $<b>bold</b>$."
    page = render.render_html(d, "report")
    assert "<img src=x" not in page and "<b>bold</b>" not in page and "onerror=alert(1)>" not in page
    assert r"$\foo{x}$" in page  # not renderable: shown as its LaTeX, escaped


def test_the_web_app_hands_math_to_gradios_katex_with_dollar_delimiters():
    assert [d["left"] for d in LATEX_DELIMITERS] == ["$$", "$"]
    shown = md_escape(r"Cost $O(n^2)$, \(a<b\), \[x\] and $5 and $10 [1] *x*")
    assert shown == r"Cost $O(n^2)$, $a\lt b$, $$x$$ and &#36;5 and &#36;10 \[1\] \*x\*"
    linked = linkify(r"It is \(O(n)\) at $3 [2501.10120 §4 p.5].", {"2501.10120": 1})
    assert linked.startswith("It is $O(n)$ at &#36;3 \\[[2501.10120]")


# ------------------------------------------------------------------------------------------ the model's side
@pytest.fixture(scope="module")
def corpus(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("latex")
    return build_corpus(root, embedder, [Paper(
        "sparse", "Sparse Widget Attention", "2405.40001", seed=31,
        sections=[("4 Sparse attention", SPARSE), ("5 Training", f"{A_DATA} {A_HW}"), ("6 Experiments", A_RESULT)])])


KEY = "2405.40001v1"
VALUE = r"keep only the 64 highest-scoring keys, $k \ll n$, for every query"


def writer(corpus, embedder, llm) -> tuple[Library, DigestWriter]:
    lib = Library(corpus.settings, llm=llm, embedder=embedder)
    card = card_of(lib, KEY, fields={"core_idea": (VALUE, SPARSE)})
    return lib, DigestWriter(lib, card_source=lambda parts, key, progress: card)


def core(messages) -> bool:
    return "\nCore idea: " in messages[-1]["content"] or any("\nCore idea: " in m["content"] for m in messages)


def test_a_chinese_span_keeps_the_formula_byte_identical(corpus, embedder):
    llm = ScriptedLLM("该方法只保留得分最高的 64 个键，即 [M1]。", model="m-keep")
    lib, w = writer(corpus, embedder, llm)
    rec = w.span(w.card(lib.catalog.get_paper(KEY).meta), "core_idea", "zh")
    assert rec.outcome == Outcome.FIRST_TRY and rec.cited.kind == "model"
    assert rec.cited.text == r"该方法只保留得分最高的 64 个键，即 $k \ll n$。"
    prompt = llm.calls[0][-1]["content"]
    assert "Core idea: keep only the 64 highest-scoring keys, [M1], for every query" in prompt
    assert "\\ll" not in prompt and "[M1], [M2], … stand for formulas" in llm.calls[0][0]["content"]


def test_a_span_that_lost_its_formula_is_retried_then_falls_back(corpus, embedder):
    llm = ScriptedLLM(["该方法只保留得分最高的 64 个键。", "该方法只保留得分最高的 64 个键，即 [M1]。"], model="m-lost")
    lib, w = writer(corpus, embedder, llm)
    rec = w.span(w.card(lib.catalog.get_paper(KEY).meta), "core_idea", "zh")
    assert rec.outcome == Outcome.AFTER_RETRY and r"$k \ll n$" in rec.cited.text
    assert "lost the formula $k \\ll n$" in rec.reason and "lost the formula" in llm.calls[1][-1]["content"]

    llm = ScriptedLLM(r"该方法只保留得分最高的 64 个键，即 $k < n$。", model="m-changed")  # rewrote it, twice
    lib, w = writer(corpus, embedder, llm)
    rec = w.span(w.card(lib.catalog.get_paper(KEY).meta), "core_idea", "zh")
    assert rec.outcome == Outcome.FALLBACK and rec.cited.kind == "quotes" and len(llm.calls) == 2
    assert "changed or made up the formula $k < n$" in rec.reason


def test_the_fake_backend_keeps_formulas_in_chinese_spans(corpus, embedder):
    lib, w = writer(corpus, embedder, FakeLLM(model="fake-math"))
    rec = w.span(w.card(lib.catalog.get_paper(KEY).meta), "core_idea", "zh")
    assert rec.outcome == Outcome.FIRST_TRY and r"$k \ll n$" in rec.cited.text


def test_a_translated_title_keeps_its_formulas(corpus, embedder):
    meta = PaperMeta(arxiv_id="2405.40002", title=r"$\alpha$-Widgets: Attention in $\mathcal{O}(n \log n)$ Time")
    llm = ScriptedLLM(["[M1]-Widgets：[M2] 时间的注意力"], model="t-keep")
    _, w = writer(corpus, embedder, llm)
    title, outcome = w.title(meta, "zh")
    assert outcome == Outcome.FIRST_TRY and title == r"$\alpha$-Widgets：$\mathcal{O}(n \log n)$ 时间的注意力"
    assert "[M1]-Widgets: Attention in [M2] Time" in llm.calls[0][-1]["content"]
    llm = ScriptedLLM(["α-Widgets：[M2] 时间的注意力"], model="t-lost")  # the model typed α: lost $\alpha$
    _, w = writer(corpus, embedder, llm)
    title, outcome = w.title(meta, "zh")
    assert (title, outcome) == ("", Outcome.FALLBACK) and len(llm.calls) == 2


def n_of(messages, needle: str) -> int:
    for n, text in re.findall(r"^\[(\d+)\] (.+)$", messages[-1]["content"], re.MULTILINE):
        if needle in text:
            return int(n)
    raise AssertionError(f"no candidate sentence contains {needle!r}")


def test_an_answer_uses_formulas_only_as_given(corpus, embedder):
    question = "How many keys $k$ does sparse widget attention keep for every query?"

    def reply(m):
        assert "$k$" not in m[-1]["content"] and "[M1]" in m[-1]["content"]  # the model sees the placeholder
        n = n_of(m, "64 highest")
        return (f"It keeps the 64 highest-scoring keys as [M1] for every query [{n}]. "
                f"So $k = 64$ keys are kept for every query [{n}].")

    lib = Library(corpus.settings, llm=ScriptedLLM(reply), embedder=embedder)
    result = lib.asker.ask(question)
    assert [s.published for s in result.sentences] == [True, False]
    assert "as $k$ for every query" in result.answer and "$k = 64$" not in result.answer
    assert "changed or made up the formula $k = 64$" in result.sentences[1].problem
