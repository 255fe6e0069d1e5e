"""Citations in the web app's Digests tab and Compare tab open the local reader (issue 14), in headless Chromium
over the real app on 127.0.0.1: three generated papers ingested through the real pipeline, a digest written by
the fake writer, the fake LLM backend answering the comparison. Clicking a page citation opens the reader at that
page with the quote boxed; the arXiv link (↗) is the second link. Every wait is on page state, never a sleep.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from browser_kit import SHOTS, app_page, needs_chromium, served
from fakes.llm import ValidWriterLLM

from paperrag.library import Library
from paperrag.settings import Settings

DAY = "2024-01-15"
LENSES = ("Gradient lenses rescale every layer's update by the inverse square root of its fan-in, which "
          "stabilises training of 48-layer widget encoders without warm-up.")

pytest.importorskip("playwright")
pytestmark = needs_chromium


@pytest.fixture(scope="module")
def app(tmp_path_factory, embedder):
    from fakes.corpus import Paper, build_corpus
    from fakes.data import CRAWLER, SPARSE

    from indexes.catalog import Catalog

    root = tmp_path_factory.mktemp("citations")
    base = Settings(home=root / "home")
    settings = base.model_copy(update={"llm": base.llm.model_copy(update={"backend": "fake"})})
    build_corpus(root, embedder, [
        Paper("a", "Sparse Widget Attention", "2405.00001", seed=21, sections=[("4 Sparse attention", SPARSE)]),
        Paper("b", "Graph Crawlers for Citation Search", "2405.00002", seed=22, category="cs.IR",
              sections=[("4 Training the crawler", CRAWLER)]),
        Paper("c", "Gradient Lenses for Deep Encoders", "2405.00003", seed=23,
              sections=[("3 Gradient lenses", LENSES)]),
    ], settings=settings)
    catalog = Catalog(settings.catalog_path)
    catalog.db.execute("UPDATE papers SET announced=?", (DAY,))
    catalog.db.commit()
    catalog.close()
    # written while the app's address is the default one (127.0.0.1:7860): the tab serves them on its own port
    written = Library(settings, llm=ValidWriterLLM(), embedder=embedder).digest(DAY, formats=["report"],
                                                                                language="en")
    assert len(written.digest.papers) == 3
    assert "http://127.0.0.1:7860/reader/" in written.files["report.html"].read_text(encoding="utf-8")
    lib = Library(settings, embedder=embedder)
    with served(lib) as (_, url):
        yield {"url": url, "lib": lib}


@pytest.fixture
def page(browser, app, request):
    with app_page(browser, app["url"], request, tab="Digests") as pg:
        yield pg


def open_citation(pg, link, app_url: str):
    """Click a page citation: the reader in a new tab, once its page image is decoded; (reader, page, quotes)."""
    href = link.get_attribute("href")
    query = parse_qs(urlsplit(href).query)
    page_no, quotes = int(query["page"][0]), query.get("q", [])
    assert link.inner_text() == f"p.{page_no}"
    with pg.context.expect_page() as opened:
        link.click()
    reader = opened.value
    reader.wait_for_function("() => { const i = document.getElementById('page-image');"
                             " return i && i.complete && i.naturalWidth > 0; }")
    assert reader.url.startswith(app_url + "reader/")
    return reader, page_no, quotes


def assert_highlighted(reader, page_no: int):
    from playwright.sync_api import expect

    expect(reader.locator("#page-label")).to_have_text(re.compile(rf"^p\. {page_no} / \d+$"))
    boxes = reader.locator(".hl")
    expect(boxes.first).to_be_visible()
    expect(reader.locator("#reader-note")).to_have_count(0)
    img = reader.locator("#page-image").bounding_box()
    box = boxes.first.bounding_box()
    assert img["x"] <= box["x"] and box["x"] + box["width"] <= img["x"] + img["width"] + 1
    assert img["y"] <= box["y"] and box["y"] + box["height"] <= img["y"] + img["height"] + 1


def test_a_citation_in_the_digest_opens_the_reader_at_the_page_with_the_quote_highlighted(page, app):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Digests").click()
    view = page.locator("#paperrag-digest-view")
    expect(view.locator("nav.toc")).to_be_visible()
    links = view.locator('main a[href^="reader/"]')
    expect(links.first).to_be_visible()
    assert links.count() >= 3
    # the arXiv page is the second link of each citation
    arxiv = view.locator('main a[href^="https://arxiv.org/pdf/"][title$="on arXiv"]')
    assert arxiv.count() == links.count()
    # a citation of an analysis (not the summary): the paper "Sparse Widget Attention"
    link = view.locator('main a[href^="reader/2405.00001v1?page="]').first
    link.scroll_into_view_if_needed()
    reader, page_no, quotes = open_citation(page, link, app["url"])
    assert quotes, "the digest's citation carries the quote it stands on"
    assert_highlighted(reader, page_no)
    expect(reader.locator("#arxiv-pdf-link")).to_have_attribute(
        "href", f"https://arxiv.org/pdf/2405.00001v1#page={page_no}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    reader.screenshot(animations="disabled", path=str(SHOTS / "digest-citation-reader.png"))
    outside = {u for u in page.requests if not u.startswith(("http://127.0.0.1:", "data:", "blob:"))}
    assert not outside, f"loaded from outside this machine: {sorted(outside)[:5]}"
    # the download is read outside the app: its citations keep the app's address (and arXiv second)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download .html").click()
    assert dl.value.suggested_filename == f"paperrag-{DAY}-report.html"
    saved = Path(dl.value.path()).read_text(encoding="utf-8")
    assert "http://127.0.0.1:7860/reader/2405.00001v1?page=" in saved and 'src="figures/' not in saved
    assert "paperrag ui" in saved  # the note on what the reader links need


def test_a_citation_in_a_compare_cell_opens_the_reader_at_the_page_with_the_quote_highlighted(page, app):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Compare").click()
    picker = page.locator("#paperrag-compare-papers input")
    for paper in ("2405.00001", "2405.00002"):
        picker.click()
        picker.fill(paper)
        picker.press("Enter")
    picker.press("Escape")  # close the option list
    expect(page.locator("[data-testid=dropdown-option]")).to_have_count(0)
    page.locator("#paperrag-compare").click()
    result = page.locator("#paperrag-compare-result")
    expect(result).to_contain_text("Comparison of 2 papers")
    links = result.locator('a[href*="reader/"]')
    expect(links.first).to_be_visible()
    expect(result.locator('a[href^="https://arxiv.org/pdf/"]').first).to_have_text("↗")
    link = result.locator('a[href*="reader/2405.00001v1?page="][href*="&q="]').first  # the card's fields
    reader, page_no, quotes = open_citation(page, link, app["url"])
    assert quotes, "a card-field cell carries the quotes it stands on"
    assert_highlighted(reader, page_no)
    SHOTS.mkdir(parents=True, exist_ok=True)
    reader.screenshot(animations="disabled", path=str(SHOTS / "compare-citation-reader.png"))
