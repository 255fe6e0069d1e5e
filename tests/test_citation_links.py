"""Page citations open the local reader (issue 14): in the Markdown and HTML digests (the app's address, the quotes
of that page highlighted, arXiv's PDF page second), in the web app's Digests tab (the same links made relative to
the app), in compare tables, and in the self-contained downloads (figures inlined, or a .zip next to the .md).

Pure rendering over hand-built digests and comparisons: the browser side is in tests/test_citation_browser.py.
"""

from __future__ import annotations

import re
import zipfile
from urllib.parse import parse_qs, urlsplit

import pymupdf
from fakes.data import make_digest
from fakes.pdfs import figure_paper
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from ingest import figures as F
from paperrag.latex import find_math
from paperrag.settings import Settings, UISettings
from rag.cards import QuoteRef
from rag.compare import Cell, Comparison, HeadlineResult, PaperColumn, Row
from rag.digest import render
from rag.digest.model import KeyFigure
from rag.digest.stored import digest_html, download_copy
from rag.reader import page_citations, reader_url

APP = "http://127.0.0.1:7860/"


def links_of(html: str) -> list[tuple[str, str, str]]:
    """(text, href, title) of every link of an HTML page or fragment."""
    return [(a.text(), a.attributes.get("href") or "", a.attributes.get("title") or "")
            for a in HTMLParser(html).css("a[href]")]


def reader_target(href: str) -> tuple[str, int, list[str]]:
    """(paper, page, quotes) a reader address asks for."""
    parts = urlsplit(href)
    query = parse_qs(parts.query)
    return parts.path.rsplit("/", 1)[-1], int(query["page"][0]), query.get("q", [])


def test_the_app_address_comes_from_settings():
    assert UISettings().app_url == "http://127.0.0.1:7860/"
    assert UISettings(host="0.0.0.0", port=8000).app_url == "http://127.0.0.1:8000/"
    assert UISettings(host="192.168.1.5").app_url == "http://192.168.1.5:7860/"
    assert UISettings(url="https://papers.example.org/rag").app_url == "https://papers.example.org/rag/"
    assert Settings().ui.app_url == "http://127.0.0.1:7860/"


def test_page_citations_group_quotes_by_page_and_keep_arxiv_second():
    d = make_digest("en", "report")
    quotes = [s for part in d.papers[0].analysis.parts for i in part.items for c in i.spans for s in c.quotes]
    cites = page_citations(quotes, base=APP)
    assert [c.page for c in cites] == sorted({q.page for q in quotes})
    for c in cites:
        paper, page, texts = reader_target(c.reader)
        assert c.reader.startswith(APP + "reader/") and (paper, page) == (c.paper_key, c.page)
        assert texts == list(dict.fromkeys(q.text for q in quotes if q.page == c.page))
        assert c.arxiv == f"https://arxiv.org/pdf/{c.arxiv_id}v1#page={c.page}"
    local = QuoteRef(paper_key="local:0123456789ab", arxiv_id="local:0123456789ab", version=1, page=2, text="x y")
    assert page_citations([local])[0].arxiv == ""  # a local PDF has no arXiv page
    assert reader_url("local:0123456789ab", 2, ["x y"]) == "reader/local%3A0123456789ab?page=2&q=x+y"


def test_digest_citations_open_the_reader_at_the_page_with_its_quotes_and_arxiv_second(tmp_path):
    d = make_digest("en", "report")
    files = render.write_digest(d, "report", tmp_path, reader=APP)
    md = files["md"].read_text(encoding="utf-8")
    # readable as text: reference links, their addresses at the end with a note saying what they need
    assert re.search(r"\[\[p\.2\]\[c\d+\] \[↗\]\[c\d+\]", md)
    assert find_math(md) == []  # no "\\[…\\]" a math-aware Markdown viewer would read as a formula
    assert "](http://127.0.0.1:7860/reader/" not in md
    defs = dict(re.findall(r'^\[(c\d+)\]: (\S+) "[^"]*"$', md, re.M))
    assert defs and all(u.startswith((APP + "reader/", "https://arxiv.org/pdf/")) for u in defs.values())
    assert "paperrag ui" in md and APP in md

    html = files["html"].read_text(encoding="utf-8")
    links = links_of(html)
    pages = [(text, href) for text, href, _ in links if re.fullmatch(r"p\.\d+", text)]
    assert pages and all(href.startswith(APP + "reader/2512.20276v1?") or href.startswith(APP + "reader/")
                         for _, href in pages)
    cited = {q.page: q.text for part in d.papers[0].analysis.parts for i in part.items for c in i.spans
             for q in c.quotes if q.paper_key == "2512.20276v1"}
    for text, href in pages:
        paper, page, quotes = reader_target(href)
        assert text == f"p.{page}"
        if paper == "2512.20276v1":
            assert cited[page] in quotes  # the quote the span stands on is highlighted there
    # right after each reader link: the same page on arXiv
    for i, (text, href, _) in enumerate(links):
        if href.startswith(APP + "reader/"):
            paper, page, _ = reader_target(href)
            nxt_text, nxt_href, nxt_title = links[i + 1]
            assert (nxt_text, nxt_href) == ("↗", f"https://arxiv.org/pdf/{paper}#page={page}")
            assert nxt_title == f"p.{page} on arXiv"
    assert not [h for _, h, _ in links if h.startswith("https://arxiv.org/pdf/") and "#page=" in h
                and not h.endswith(tuple(f"#page={p}" for p in range(1, 99)))]


def test_without_the_app_address_pages_link_to_arxiv_only():
    md = render.render_markdown(make_digest("en", "report"), "report")
    assert "reader/" not in md and "[p.2](https://arxiv.org/pdf/2512.20276v1#page=2)" in md


def test_table_cells_and_chinese_digests_link_the_reader_too(tmp_path):
    for lang, fmt in (("zh", "table"), ("zh", "monitor")):
        d = make_digest(lang, fmt)
        html = render.render_html(d, fmt, reader=APP)
        readers = [h for t, h, _ in links_of(html) if h.startswith(APP + "reader/")]
        assert readers, (lang, fmt)
        assert "↗" in html and "paperrag ui" in html


def test_the_app_shows_the_citations_relative_to_itself_in_a_new_tab(tmp_path):
    d = make_digest("en", "report")
    d.papers[0].meta.code_links = ["https://github.com/x/reader/tree/main"]  # not a reader link: left alone
    files = render.write_digest(d, "report", tmp_path, reader="http://127.0.0.1:9999/")
    frag = digest_html(files["html"].parent, "report", app_url="http://127.0.0.1:7860/")
    tree = HTMLParser(frag)
    readers = tree.css('a[href^="reader/"]')
    assert readers and all(a.attributes.get("target") == "_blank" for a in readers)
    assert "127.0.0.1:9999" not in frag  # written when the app had another port: still the app's own reader
    assert tree.css_first('a[href="https://github.com/x/reader/tree/main"]') is not None
    # an app behind a proxy address (ui.url): its links are recognised too
    files = render.write_digest(d, "report", tmp_path, reader="https://papers.example.org/rag/")
    frag = digest_html(files["html"].parent, "report", app_url="https://papers.example.org/rag/")
    assert HTMLParser(frag).css('a[href^="reader/"]') and "papers.example.org" not in frag


def test_downloads_stand_on_their_own(tmp_path):
    d = make_digest("en", "report")
    data, _ = figure_paper()
    d.papers[0].figure = KeyFigure("figures/2512.20276v1.png", 1, "Figure 1: Overview.", 1)
    files = render.write_digest(d, "report", tmp_path / "digests", reader=APP)
    day = files["html"].parent
    F.find_key_figure(pymupdf.open(stream=data, filetype="pdf"), day / "figures" / "2512.20276v1.png")
    out = tmp_path / "downloads"

    html = download_copy(day, "report", "html", out)
    assert html.name == f"paperrag-{d.date}-report.html"
    imgs = HTMLParser(html.read_text(encoding="utf-8")).css("main img")
    assert [i.attributes["src"][:30] for i in imgs] == ["data:image/png;base64,iVBORw0K"]
    assert any(h.startswith(APP + "reader/") for _, h, _ in links_of(html.read_text(encoding="utf-8")))

    bundle = download_copy(day, "report", "md", out)
    assert bundle.name == f"paperrag-{d.date}-report.zip"
    with zipfile.ZipFile(bundle) as z:
        names = sorted(z.namelist())
        stem = f"paperrag-{d.date}-report"
        assert names == [f"{stem}/figures/2512.20276v1.png", f"{stem}/report.md"]
        md = z.read(f"{stem}/report.md").decode()
        assert "![Figure 1](figures/2512.20276v1.png)" in md  # relative to the .md, as in the zip
        assert z.read(f"{stem}/figures/2512.20276v1.png").startswith(b"\x89PNG")

    (day / "figures" / "2512.20276v1.png").unlink()  # no figure on disk: the plain .md
    assert download_copy(day, "report", "md", out).name == f"paperrag-{d.date}-report.md"
    assert download_copy(day, "monitor", "md", out) is None  # not written


def _comparison() -> Comparison:
    q = QuoteRef(paper_key="2405.00001v1", arxiv_id="2405.00001", version=1, page=4,
                 text="Sparse widget attention keeps the 64 highest-scoring keys for every query.")
    r = QuoteRef(paper_key="2405.00001v1", arxiv_id="2405.00001", version=1, page=6, text="F1 is 90 on WidgetQA.")
    return Comparison(
        papers=[PaperColumn(key="2405.00001v1", arxiv_id="2405.00001", version=1, title="Sparse", basis="full text"),
                PaperColumn(key="local:0123456789ab", arxiv_id="local:0123456789ab", version=1, title="Mine",
                            basis="full text"),
                PaperColumn(key="2405.00002v1", arxiv_id="2405.00002", version=1, title="Abs",
                            basis="abstract only")],
        rows=[Row(aspect="core idea", field="core_idea", cells=[
                  Cell(value="keeps 64 keys", status="found", pages=[4], quotes=[q]),
                  Cell(value="a local idea", status="found", pages=[2]),
                  Cell(value="from the abstract", status="found", abstract_only=True)]),
              Row(aspect="headline results", field="results", cells=[
                  Cell(value="F1 90", status="found", pages=[6], quotes=[r],
                       results=[HeadlineResult(metric="F1", value="90", benchmark="WidgetQA", pages=[6], quotes=[r])]),
                  Cell(), Cell(status="failed", note="no text")])],
        synthesis="Sparse keeps 64 keys [2405.00001 p.4] while the other paper works locally.")


def test_compare_cells_and_synthesis_link_the_reader_and_arxiv():
    cmp = _comparison()
    plain = cmp.to_markdown()
    assert "reader/" not in plain and "keeps 64 keys (p.4)" in plain  # the CLI's table: page labels
    html, _ = render.markdown_to_html(cmp.to_markdown(reader=""))
    links = links_of(html)
    readers = [(t, h) for t, h, _ in links if h.startswith("reader/")]
    assert [(t, reader_target(h)) for t, h in readers] == [
        ("p.4", ("2405.00001v1", 4, ["Sparse widget attention keeps the 64 highest-scoring keys for every query."])),
        ("p.2", ("local%3A0123456789ab", 2, [])),
        ("p.6", ("2405.00001v1", 6, ["F1 is 90 on WidgetQA."])),
        ("p.4", ("2405.00001v1", 4, ["Sparse widget attention keeps the 64 highest-scoring keys for every query."])),
    ]
    arxiv = [h for t, h, _ in links if t == "↗"]
    assert arxiv == ["https://arxiv.org/pdf/2405.00001v1#page=4", "https://arxiv.org/pdf/2405.00001v1#page=6",
                     "https://arxiv.org/pdf/2405.00001v1#page=4"]  # none for the local PDF
    assert "from the abstract (abstract)" in html  # no page to open
    absolute = cmp.to_markdown(reader=APP)
    assert f"]({APP}reader/2405.00001v1?page=4&q=" in absolute
