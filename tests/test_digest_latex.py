"""No raw LaTeX in rendered HTML digests (issue 14's bar): the sample day and a day of 10 classic papers
(../shared/corpus/pdfs/classic, ingested through the real pipeline) are written in every format and both
languages with the fake writer (stand-in cards made of the papers' own verified sentences), each page is parsed
with selectolax, and the text outside <math> must hold no LaTeX span: no `$…$` / `$$…$$` by the digest's own
rules (paperrag.latex.find_math), no `\\(…\\)` / `\\[…\\]` delimiter, no `\\frac`-like command. Every formula the
Markdown keeps as written is a <math> element in the HTML. The classic day also measures how many of the
digest's page citations the reader highlights (the quote located on its page).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fakes.cards import stand_in_card
from fakes.llm import ValidWriterLLM
from selectolax.lexbor import LexborHTMLParser

from paperrag.latex import find_math
from paperrag.library import Library
from paperrag.settings import Settings
from rag.digest.mathml import to_mathml

CLASSIC = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "pdfs" / "classic"
# 10 of the 23: formulas in the text (2204.10628's "$"s, 1803.02999's and 2005.11401's backslashes), two-column
# and one-column layouts, with and without figures
CLASSIC_TEN = ["1502.03167", "1706.03762", "1803.02999", "2002.08909", "2005.11401", "2007.01282", "2204.10628",
               "2301.11305", "2501.10120", "resnet"]
DAY = "2024-03-04"
FORMATS = ["report", "monitor", "table"]
RAW_LATEX = re.compile(r"\\[A-Za-z]{2,}|\\\(|\\\)|\\\[|\\\]|\$\$")


def raw_latex_outside_math(html: str) -> list[str]:
    """LaTeX left as text in a page: spans by the digest's rules, commands and delimiters, outside <math>."""
    tree = LexborHTMLParser(html)
    for m in tree.css("math"):
        m.decompose()
    text = " ".join(node.text(separator=" ") for node in tree.css("title, nav, main, footer"))
    return [s.text for s in find_math(text)] + RAW_LATEX.findall(text)


def formulas_kept(md: str) -> list[str]:
    """The formulas of a Markdown digest that the HTML shows as MathML (those latex2mathml can read)."""
    return [s.text for s in find_math(md) if to_mathml(s.tex, s.display)]


def highlighted(lib: Library, html: str) -> tuple[int, int]:
    """(quotes located, quotes) over every reader link of a digest page, as the reader would draw them."""
    from urllib.parse import parse_qs, unquote, urlsplit

    located = total = 0
    for href in {a.attributes["href"] for a in LexborHTMLParser(html).css('main a[href*="/reader/"]')}:
        parts = urlsplit(href)
        query = parse_qs(parts.query)
        view = lib.page_view(unquote(parts.path.rsplit("/", 1)[-1]), int(query["page"][0]), query.get("q", []))
        located += sum(h.located for h in view.highlights)
        total += len(view.highlights)
    return located, total


def check_day(files: dict[str, Path]) -> dict[str, int]:
    """Every HTML page of the day: no raw LaTeX; as many <math> elements as renderable formulas in its .md."""
    counts = {}
    for name, path in files.items():
        if not name.endswith(".html"):
            continue
        html = path.read_text(encoding="utf-8")
        assert raw_latex_outside_math(html) == [], (path, raw_latex_outside_math(html)[:5])
        md = files[name.removesuffix(".html") + ".md"].read_text(encoding="utf-8")
        maths = len(LexborHTMLParser(html).css("main math"))
        assert maths >= len(formulas_kept(md)), (path, formulas_kept(md)[:5])
        counts[name] = maths
    return counts


def test_sample_day_html_digests_have_no_raw_latex(tmp_path, embedder, monkeypatch):
    monkeypatch.setattr("rag.digest.writer.default_card_source", stand_in_card)
    base = Settings(home=tmp_path / "home")
    settings = base.model_copy(update={"digest": base.digest.model_copy(update={"formats": FORMATS,
                                                                              "language": "en"})})
    lib = Library(settings, llm=ValidWriterLLM(), embedder=embedder)
    day = lib.daily(sample=True)
    assert len(day.digest.papers) == 3 and sum(k.endswith(".html") for k in day.files) == 3
    check_day(day.files)
    zh = lib.digest(day.date, formats=FORMATS, language="zh")
    check_day(zh.files)


@pytest.mark.skipif(not CLASSIC.is_dir(), reason=f"needs the classic papers at {CLASSIC} (../shared)")
def test_ten_classic_papers_html_digests_have_no_raw_latex(tmp_path, embedder, monkeypatch):
    from indexes.catalog import Catalog

    monkeypatch.setattr("rag.digest.writer.default_card_source", stand_in_card)
    base = Settings(home=tmp_path / "home")
    settings = base.model_copy(update={"digest": base.digest.model_copy(update={"formats": FORMATS,
                                                                              "language": "en"})})
    folder = tmp_path / "classic"
    folder.mkdir()
    for name in CLASSIC_TEN:
        (folder / f"{name}.pdf").symlink_to(CLASSIC / f"{name}.pdf")
    lib = Library(settings, llm=ValidWriterLLM(), embedder=embedder)
    report = lib.ingest([str(folder)]).report
    assert report.counts == {"kept": 10}, [(d.paper, d.reason) for d in report.decisions]
    catalog = Catalog(settings.catalog_path)
    catalog.db.execute("UPDATE papers SET announced=?", (DAY,))  # one day's papers
    catalog.db.commit()
    catalog.close()
    counts = {}
    for language in ("en", "zh"):
        written = lib.digest(DAY, formats=FORMATS, language=language)
        assert len(written.digest.papers) == 10
        report = written.files["report.html"].read_text(encoding="utf-8")
        cited = {a.attributes["href"].split("/reader/")[1].split("?")[0]
                 for a in LexborHTMLParser(report).css('main a[href*="/reader/"]')}
        assert len(cited) == 10  # every paper analysed from its full text, its pages cited
        if language == "en":
            located, total = highlighted(lib, report)
            print(f"digest citations of 10 classic papers highlighted by the reader: {located}/{total}")
            assert located >= 0.9 * total
        counts[language] = check_day(written.files)
    print("MathML elements per page:", counts)
