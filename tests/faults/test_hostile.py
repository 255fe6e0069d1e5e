"""Hostile content: script, event handlers and javascript: links in what arXiv's feeds carry (titles, authors,
abstracts) come out inert in every page paperrag writes or serves; hostile uploads stay inside the data home.

The day runs through the real pipeline (feeds → ingest → cards with the fake LLM → digests → Atom feed); the
pages are parsed with selectolax (the browser's view: elements and attributes), not searched as strings."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

import pymupdf
import pytest
from selectolax.lexbor import LexborHTMLParser

from paperrag.library import Library
from paperrag.settings import Settings

PAYLOADS = [
    "<script>alert('t')</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(2))",
    '<a href="javascript:alert(3)">a</a>',
    "<svg onload=alert(4)>",
]
HOSTILE = " ".join(PAYLOADS)
ATOM = "{http://www.w3.org/2005/Atom}"
SCRIPTY = re.compile(r"^\s*(javascript|vbscript|data:text/html)", re.I)


def assert_inert(page: str, where: str) -> None:
    """No element that runs code, no event-handler attribute, no javascript:/vbscript: URL."""
    tree = LexborHTMLParser(page)
    assert not tree.css("script, iframe, object, embed, svg, base"), where
    for node in tree.css("*"):
        for name, value in (node.attributes or {}).items():
            assert not name.lower().startswith("on"), (where, node.tag, name, value)
            if name.lower() in ("href", "src", "action", "formaction", "xlink:href"):
                assert not SCRIPTY.match(html.unescape(value or "")), (where, node.tag, name, value)
        if node.tag == "img":  # only paperrag's own images (key figures, reader pages): nothing from elsewhere
            src = node.attributes.get("src") or ""
            assert src.startswith("data:image/png;base64,") or not re.match(r"^([a-z][a-z0-9+.-]*:|//)", src, re.I), \
                (where, src)


def _hostile_sample_day(dest: Path) -> Path:
    """The bundled sample day with PAYLOADS in the first paper's title, author list and abstract."""
    from ingest.sources import SAMPLE_DAY

    shutil.copytree(SAMPLE_DAY, dest)
    feed = dest / "rss" / "cs.CL.xml"
    text = feed.read_text(encoding="utf-8")
    evil = html.escape(HOSTILE, quote=False)
    text = text.replace("<title>LongEval: Guidelines", f"<title>LongEval {evil}: Guidelines", 1)
    text = text.replace("<dc:creator>Kalpesh Krishna,", f"<dc:creator>Kalpesh {evil} Krishna,", 1)
    text = text.replace("Abstract: While human evaluation", f"Abstract: {evil} While human evaluation", 1)
    assert text.count(evil) == 3
    feed.write_text(text, encoding="utf-8")
    return dest


@pytest.fixture(scope="module")
def hostile_day(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("hostile")
    day = _hostile_sample_day(root / "sample_day")
    base = Settings(home=root / "home")
    settings = base.model_copy(update={
        "llm": base.llm.model_copy(update={"backend": "fake"}),
        "digest": base.digest.model_copy(update={"formats": ["table", "report", "monitor"], "language": "en"})})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("ingest.sources.SAMPLE_DAY", day)
        lib = Library(settings, embedder=embedder)
        result = lib.daily(sample=True)
    yield lib, result
    lib.close()


def test_the_hostile_paper_was_taken_in(hostile_day):
    lib, result = hostile_day
    stored = [p for p in lib.papers() if p.arxiv_id == "2301.13298"]
    assert stored and "<script>" in stored[0].title and "onerror" in stored[0].abstract  # kept as data, verbatim
    assert len(result.digest.papers) == 3


@pytest.mark.parametrize("fmt", ["report", "monitor", "table"])
def test_digest_pages_written_and_shown_are_inert(hostile_day, fmt):
    lib, result = hostile_day
    page = result.files[f"{fmt}.html"].read_text(encoding="utf-8")
    assert_inert(page, f"{fmt}.html")
    text = LexborHTMLParser(page).body.text()
    assert "<script>alert('t')</script>" in text  # shown to the reader as the text it is
    view = lib.digest_view(result.date, fmt)  # what the web app's Digests tab puts in its gr.HTML
    assert view is not None and view.fmt == fmt
    assert_inert(view.html, f"web app digest view {fmt}")


def test_markdown_digest_has_no_live_html(hostile_day):
    lib, result = hostile_day
    import markdown_it

    for name in ("report.md", "monitor.md", "table.md"):
        md = result.files[name].read_text(encoding="utf-8")
        # rendered by a markdown viewer that lets raw HTML through (the worst case: GitHub-like viewers strip it)
        assert_inert(markdown_it.MarkdownIt("commonmark", {"html": True}).render(md), name)


def test_atom_feed_carries_the_text_as_text(hostile_day):
    lib, result = hostile_day
    feed = ET.parse(result.files["feed"]).getroot()
    entries = feed.findall(f"{ATOM}entry")
    assert entries
    for el in feed.iter():
        if el.tag in (f"{ATOM}title", f"{ATOM}summary", f"{ATOM}content", f"{ATOM}subtitle"):
            kind = el.get("type", "text")
            assert kind in ("text", "html"), el.tag
            if kind == "html":  # a feed reader renders it: it must be inert too
                assert_inert(el.text or "", f"feed {el.tag}")
        for name, value in el.attrib.items():
            if name == "href":
                assert not SCRIPTY.match(value), value


def test_reader_page_of_the_hostile_paper_is_inert(hostile_day):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from ui.reader_web import add_reader_routes

    lib, _ = hostile_day
    key = next(p.key for p in lib.papers() if p.arxiv_id == "2301.13298")
    app = FastAPI()
    add_reader_routes(app, lib)
    with TestClient(app) as client:
        r = client.get("/" + lib.reader_url(key, 1, [HOSTILE]))
        assert r.status_code == 200
        assert_inert(r.text.replace("<script>" + _reader_script(r.text) + "</script>", ""), "reader page")
        assert "<script>alert('t')</script>" in LexborHTMLParser(r.text).css_first("title").text()


def _reader_script(page: str) -> str:
    """The reader's own keyboard script (one, written by paperrag): everything else must be inert."""
    scripts = LexborHTMLParser(page).css("script")
    assert len(scripts) <= 1 and all("alert" not in s.text() for s in scripts)
    return scripts[0].text() if scripts else ""


def test_ask_sources_markdown_is_inert():
    """The Ask tab's sources panel (gr.Markdown): titles and quotes are escaped before markdown sees them."""
    import markdown_it

    from ui.app_render import linkify, md_escape

    md = md_escape(HOSTILE) + "\n\n" + linkify(HOSTILE)
    assert_inert(markdown_it.MarkdownIt("commonmark", {"html": True}).render(md), "ask sources")


# ------------------------------------------------------------------------------------------ uploads
def _js_pdf(path: Path) -> Path:
    """A PDF whose /OpenAction runs JavaScript in a viewer that allows it, with ordinary text."""
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "Widget Nets\n\nWidget nets route 12 tokens per expert in every layer.", fontsize=11)
    js = doc.get_new_xref()
    doc.update_object(js, "<< /S /JavaScript /JS (app.alert('pwned');) >>")
    doc.xref_set_key(doc.pdf_catalog(), "OpenAction", f"{js} 0 R")
    doc.save(path)
    return path


def test_hostile_uploads_stay_in_the_home_or_are_refused(home, tmp_path, embedder):
    settings = Settings()
    inbox = tmp_path / "inbox" / "deep"
    inbox.mkdir(parents=True)
    one_byte = inbox / "x.pdf"
    one_byte.write_bytes(b"%")
    empty = inbox / "empty.pdf"
    empty.write_bytes(b"")
    html_file = inbox / "page.pdf"
    html_file.write_bytes(b"<!DOCTYPE html><html><script>alert(1)</script></html>")
    js = _js_pdf(inbox / "..evil name;rm -rf.pdf")
    # the sender's names: a dot-dot path and an absolute one, exactly as a client could hand them over
    dotdot = str(inbox / ".." / "deep" / js.name)
    with Library(settings, embedder=embedder) as lib:
        result = lib.ingest(uploads=[str(one_byte), str(empty), str(html_file), dotdot, str(js.resolve())])
        assert [p.split(":")[0] for p in result.problems] == ["x.pdf", "empty.pdf", "page.pdf"]
        assert "not a PDF" in result.problems[0] and "empty" in result.problems[1]
        assert "HTML" in result.problems[2]
        stored = sorted((settings.home / "uploads").iterdir())
        assert len(stored) == 1 and re.fullmatch(r"[0-9a-f]{20}\.pdf", stored[0].name)  # one file, by content
        assert result.report.counts == {"kept": 1} or result.report.counts == {"kept": 1, "already": 1}
        hit = lib.search("how many tokens does each expert route", k=1)[0]
        assert "12 tokens per expert" in hit.text
    outside = {p for p in tmp_path.rglob("*") if p.is_file()} - {p for p in settings.home.rglob("*")}
    assert outside <= {one_byte, empty, html_file, js} | set((tmp_path / "model-cache").rglob("*"))
