"""The local reader: a cited page of a cached PDF with the quote's words boxed (rag/reader.py), served by the app
(ui/reader_web.py), linked from Ask answers, opened by `paperrag open`.

Unit tests place quotes on generated pages (exact, hyphenated across lines, not there, a near-duplicate) and
check the Bad-input rules over HTTP (path traversal, a PDF deleted from the cache, a 500-page PDF). The browser
tests drive the real app on 127.0.0.1 in headless Chromium (the fake LLM answers): click a citation → the reader
at the cited page with a highlight; a quote that cannot be located → the page, no highlight, the note. No sleeps:
every wait is on page state.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pymupdf
import pytest
from browser_kit import SHOTS, app_page, served
from fakes.pdfs import make_paper_pdf
from typer.testing import CliRunner

from paperrag.errors import PdfMissingError, ReaderError
from paperrag.library import Library
from paperrag.settings import Settings
from rag import reader as rd


# ------------------------------------------------------------------------------------------ helpers
def lines_pdf(path: Path, pages: list[list[str]], *, size: float = 11) -> Path:
    """A PDF whose pages hold exactly these lines (one `insert_text` per line, 14 pt apart)."""
    doc = pymupdf.open()
    for lines in pages:
        page = doc.new_page(width=612, height=792)
        for i, line in enumerate(lines):
            page.insert_text((72, 90 + 14 * i), line, fontsize=size, fontname="helv")
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(path)
    doc.close()
    return path


def page_of(path: Path, n: int = 1):
    doc = pymupdf.open(path)
    return doc, doc[n - 1]


def home_with(tmp_path: Path, papers: dict[str, Path], *, local: bool = True) -> Library:
    """A data home whose catalog lists `papers` (paper key → PDF), each PDF in the content-addressed cache;
    no vectors (the reader needs none)."""
    from indexes.catalog import Catalog
    from ingest.download import PdfCache
    from paperrag.records import PaperRecord

    settings = Settings(home=tmp_path / "home")
    settings.home.mkdir(parents=True, exist_ok=True)
    cache = PdfCache(settings.pdf_dir)
    catalog = Catalog(settings.catalog_path)
    rows = []
    for key, pdf in papers.items():
        cached = cache.add_local(pdf, key=key)
        arxiv_id, _, version = key.rpartition("v")
        rows.append(PaperRecord(key=key, arxiv_id=arxiv_id, version=int(version), title=f"Paper {arxiv_id}",
                                status="indexed", fulltext=True, content_sha256=cached.sha256,
                                n_pages=pymupdf.open(pdf).page_count, source="local" if local else "arxiv",
                                local_path=str(pdf) if local else "",
                                pdf_url="" if local else f"https://arxiv.org/pdf/{key}"))
    catalog.bulk_insert(rows)
    catalog.close()
    cache.close()
    return Library(settings)


def cached_file(lib: Library, key: str) -> Path:
    return lib.pdf_cache.path_for(lib.catalog.get_paper(key).content_sha256)


SENTENCE = "Sparse widget attention keeps the 64 highest-scoring keys for every query."
PAGE_ONE = [
    "1 Introduction",
    "Widget encoders read long sequences of glyphs and tokens.",
    "Sparse widget attention keeps the 64 highest-scoring keys for",
    "every query. The recog-",
    "nition of handwritten widgets improves by a factor of eight on",
    "sequences of 32k tokens, while the memory stays flat.",
]
PAGE_TWO = ["2 Method", "The crawler is trained with proximal policy optimization on citation graphs."]


# ------------------------------------------------------------------------------------------ locating
def test_tokens_fold_accents_ligatures_and_hyphens_the_way_the_parser_spells_words():
    assert rd.tokens("Mont´ufar Rozi`ere M¨uller") == rd.tokens("Montúfar Rozière Müller") == [
        "montufar", "roziere", "muller"]
    assert rd.tokens("the ﬁrst high-level recog- nition") == ["the", "first", "highlevel", "recognition"]
    assert rd.tokens("[3] GPT-3, 175B.") == ["3", "gpt3", "175b"]


def test_an_exact_quote_is_boxed_line_by_line(tmp_path):
    doc, page = page_of(lines_pdf(tmp_path / "a.pdf", [PAGE_ONE]))
    loc, = rd.locate_on_page(page, [SENTENCE])
    assert loc.located and loc.exact and loc.share == 1.0
    assert [page.get_text("words")[i][4] for i in loc.words] == SENTENCE.split()
    assert len(loc.rects) == 2  # the sentence runs over two lines: one box per line
    first, second = loc.rects
    assert first[1] < second[1] and abs(first[0] - 72) < 2  # line order, left edge of the text


def test_a_word_hyphenated_across_lines_is_found_as_the_parser_joined_it(tmp_path):
    doc, page = page_of(lines_pdf(tmp_path / "a.pdf", [PAGE_ONE]))
    quote = "The recognition of handwritten widgets improves by a factor of eight on sequences of 32k tokens."
    loc, = rd.locate_on_page(page, [quote])
    assert loc.located and loc.share == 1.0
    words = [page.get_text("words")[i][4] for i in loc.words]
    assert "recog-" in words and "nition" in words  # both halves boxed
    assert len(loc.rects) == 3


def test_a_quote_not_on_that_page_is_not_highlighted(tmp_path):
    doc, page = page_of(lines_pdf(tmp_path / "a.pdf", [PAGE_ONE, PAGE_TWO]), 2)
    loc, = rd.locate_on_page(page, [SENTENCE])
    assert not loc.located and loc.rects == [] and loc.share < 0.5


def test_a_near_duplicate_is_not_highlighted_for_the_quote():
    """Most words in common is not enough: another figure number, a missing word in a short sentence or another
    number in the middle make another sentence, and a wrong highlight is worse than none."""
    def words(lines):
        return [(72.0, 90.0 + 14 * n, 72.0 + 6 * len(w), 100.0 + 14 * n, w, 0, n, i)
                for n, line in enumerate(lines) for i, w in enumerate(line.split())]

    pw = rd.page_words(words([
        "Figure 50: Labeler-written prompt from our dataset, along with the human-written demonstration,",
        "and completions from GPT-3 175B and InstructGPT 175B. We refer to this as the LM+FM score.",
        "On WidgetBench our model reaches an accuracy of 87.3 percent compared with 81.5 percent for the",
        "dense baseline trained on the same widgets.",
    ]))
    for quote in (
        "Figure 49: Labeler-written prompt from our dataset, along with the human-written demonstration, and "
        "completions from GPT-3 175B and InstructGPT 175B.",
        "We refer to this as the LM scoring.",
        "On WidgetBench our model reaches an accuracy of 91.2 percent compared with 81.5 percent for the dense "
        "baseline trained on the same widgets.",
    ):
        loc = rd.locate(pw, quote)
        assert loc.share >= 0.8 and not loc.located and not loc.rects, quote
    assert rd.locate(pw, "On WidgetBench our model reaches an accuracy of 87.3 percent compared with 81.5 "
                         "percent for the dense baseline trained on the same widgets.").located


def test_every_sentence_the_parser_reads_from_a_generated_paper_is_located_on_its_page(tmp_path):
    """The product's own path: parse → page texts → sentences; each one is found on the page it was read from."""
    from ingest.pdf_parse import parse_pdf
    from paperrag.text import split_sentences

    pdf = make_paper_pdf(tmp_path / "p.pdf", title="Widget Lenses", arxiv_id="2405.00009", seed=5, sections=4,
                         extra_sections=[("5 Results", SENTENCE + " " + PAGE_TWO[1])])
    parsed = parse_pdf(pdf)
    doc = pymupdf.open(pdf)
    total = located = 0
    for block in parsed.blocks:
        sentences = split_sentences(block.text, min_words=4)
        for loc in rd.locate_on_page(doc[block.page - 1], sentences):
            total += 1
            located += loc.located
    assert total > 20 and located == total


# ------------------------------------------------------------------------------------------ the Library
def test_page_view_draws_boxes_as_fractions_of_the_page_and_says_when_it_cannot(tmp_path):
    lib = home_with(tmp_path, {"2405.00001v1": lines_pdf(tmp_path / "a.pdf", [PAGE_ONE, PAGE_TWO])})
    view = lib.page_view("2405.00001", 1, [SENTENCE])  # an arXiv id resolves to its indexed version
    assert (view.paper_key, view.page, view.n_pages) == ("2405.00001v1", 1, 2)
    h, = view.highlights
    assert h.located and len(h.boxes) == 2 and view.notes == []
    assert all(0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1 for x0, y0, x1, y1 in h.boxes)
    assert view.pdf_url == "https://arxiv.org/pdf/2405.00001v1#page=1"

    elsewhere = lib.page_view("2405.00001v1", 2, [SENTENCE])
    assert not elsewhere.highlights[0].located and elsewhere.highlights[0].boxes == []
    assert elsewhere.notes == [rd.NOT_LOCATED] == ["the quote could not be located exactly on this page"]
    two = lib.page_view("2405.00001v1", 1, [SENTENCE, "A sentence that is nowhere in this paper at all."])
    assert two.notes == ["1 of 2 quotes could not be located exactly on this page"]

    with pytest.raises(ReaderError, match="has 2 pages: there is no page 3"):
        lib.page_view("2405.00001v1", 3)
    lib.close()


def test_boxes_follow_a_rotated_page_as_it_is_displayed(tmp_path):
    pdf = lines_pdf(tmp_path / "r.pdf", [PAGE_ONE])
    doc = pymupdf.open(pdf)
    doc[0].set_rotation(90)  # shown turned clockwise: the top-left lines end up on the right, reading downwards
    doc.save(tmp_path / "rotated.pdf")
    lib = home_with(tmp_path, {"2405.00001v1": tmp_path / "rotated.pdf"})
    view = lib.page_view("2405.00001v1", 1, [SENTENCE])
    assert (view.width, view.height) == (792, 612)
    h, = view.highlights
    assert h.located and all(x0 > 0.5 and x1 - x0 < y1 - y0 for x0, y0, x1, y1 in h.boxes)
    lib.close()


def test_rendered_pages_are_cached_on_disk_by_sha_page_and_dpi(tmp_path):
    lib = home_with(tmp_path, {"2405.00001v1": lines_pdf(tmp_path / "a.pdf", [PAGE_ONE, PAGE_TWO])})
    png = lib.page_image("2405.00001v1", 2)
    sha = lib.catalog.get_paper("2405.00001v1").content_sha256
    assert png.read_bytes()[:4] == b"\x89PNG" and png.parent.parent == lib.settings.reader_dir
    assert png.name.startswith(f"{sha}-p2-150")
    stamp = png.stat().st_mtime_ns
    assert lib.page_image("2405.00001v1", 2) == png and png.stat().st_mtime_ns == stamp  # not rendered again
    assert lib.page_image("2405.00001v1", 2, dpi=72).stat().st_size < png.stat().st_size
    with pytest.raises(ReaderError, match="dpi must be one of"):
        lib.page_image("2405.00001v1", 2, dpi=5000)
    lib.close()


@pytest.mark.parametrize("key", ["../../etc/passwd", "/etc/passwd", "2405.00001v1/../../catalog.sqlite",
                                 "pdfs/index.json", "..", "", "local:../x"])
def test_only_catalog_papers_are_served_never_a_path(tmp_path, key):
    lib = home_with(tmp_path, {"2405.00001v1": lines_pdf(tmp_path / "a.pdf", [PAGE_ONE])})
    with pytest.raises(ReaderError, match="in the library"):
        lib.page_view(key, 1)
    with pytest.raises(ReaderError):
        lib.page_image(key, 1)
    lib.close()


def test_a_pdf_deleted_from_the_cache_says_so_and_how_to_get_it_back(tmp_path):
    pdf = lines_pdf(tmp_path / "a.pdf", [PAGE_ONE])
    lib = home_with(tmp_path, {"2405.00001v1": pdf, "2405.00002v1": lines_pdf(tmp_path / "b.pdf", [PAGE_TWO])},
                    local=False)
    cached_file(lib, "2405.00001v1").unlink()
    assert not lib.has_pdf("2405.00001v1") and lib.has_pdf("2405.00002v1")
    with pytest.raises(PdfMissingError) as err:
        lib.page_view("2405.00001v1", 1)
    assert "not in the local cache" in str(err.value)
    assert err.value.hint == "`paperrag open 2405.00001v1 --download` downloads it again"
    assert err.value.paper.key == "2405.00001v1"
    lib.close()


def test_restore_copies_a_local_pdf_back_into_the_cache(tmp_path):
    pdf = lines_pdf(tmp_path / "a.pdf", [PAGE_ONE])
    lib = home_with(tmp_path, {"2405.00001v1": pdf})
    cached_file(lib, "2405.00001v1").unlink()
    assert lib.restore_pdf("2405.00001v1").read_bytes() == pdf.read_bytes()
    assert lib.page_view("2405.00001v1", 1, [SENTENCE]).highlights[0].located
    lib.close()


def test_reader_links_point_at_the_cited_page_with_every_quote_of_that_page(tmp_path):
    from rag.quotes import Quote

    lib = home_with(tmp_path, {"2405.00001v1": lines_pdf(tmp_path / "a.pdf", [PAGE_ONE]),
                               "2405.00002v1": lines_pdf(tmp_path / "b.pdf", [PAGE_TWO])})
    cached_file(lib, "2405.00002v1").unlink()
    q1 = Quote("2405.00001v1", "2405.00001", 1, 1, SENTENCE)
    q2 = Quote("2405.00001v1", "2405.00001", 1, 1, "Widget encoders read long sequences of glyphs and tokens.")
    q3 = Quote("2405.00002v1", "2405.00002", 1, 1, PAGE_TWO[1])  # its PDF is gone: no reader link
    q4 = Quote("2405.00003v1", "2405.00003", 1, 1, "An abstract sentence.", abstract_only=True)
    links = lib.reader_links([q1, q2, q3, q4])
    assert list(links) == [("2405.00001", 1)]
    assert links[("2405.00001", 1)] == (
        "reader/2405.00001v1?page=1&q=Sparse+widget+attention+keeps+the+64+highest-scoring+keys+for+every+query."
        "&q=Widget+encoders+read+long+sequences+of+glyphs+and+tokens.")
    assert Library.reader_url("local:0123abcd4567v1", 3, ["a (b) [c]"], cite=2) == \
        "reader/local%3A0123abcd4567v1?page=3&cite=2&q=a+%28b%29+%5Bc%5D"
    lib.close()


def test_linkify_and_the_sources_panel_open_the_local_reader_first():
    from ui.app_render import linkify, sources_markdown

    url = "reader/2405.00001v1?page=3&q=x"
    text = "Sparse attention keeps 64 keys [2405.00001 p.3]; crawlers use PPO [2405.00002 p.5]."
    out = linkify(text, {"2405.00001": 1, "2405.00002": 1}, {("2405.00001", 3): url})
    assert f"[p.3]({url})" in out and "(https://arxiv.org/abs/2405.00001v1)" in out  # arXiv stays, second
    assert "[p.5](https://arxiv.org/pdf/2405.00002v1#page=5)" in out  # no cached PDF: arXiv at the page
    assert linkify("[local:0123abcd4567 p.2]", {}, {("local:0123abcd4567", 2): "reader/x"}) == \
        "\\[local:0123abcd4567 [p.2](reader/x)\\]"
    panel = sources_markdown([{"n": 1, "label": "[2405.00001 p.3]", "title": "Sparse", "section": "4", "pages": [3, 3],
                               "abs_url": "https://arxiv.org/abs/2405.00001v1", "reader_url": url,
                               "pdf_url": "https://arxiv.org/pdf/2405.00001v1#page=3", "evidence": "64 keys"}])
    assert f"[read p.3 here]({url}) · [arXiv](https://arxiv.org/abs/2405.00001v1) · [PDF p.3 on arXiv]" in panel


# ------------------------------------------------------------------------------------------ HTTP
@pytest.fixture
def http(tmp_path):
    """The reader's routes on a bare FastAPI app (what `launch` adds to Gradio's), over a small home."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from ui.reader_web import add_reader_routes

    pdf = lines_pdf(tmp_path / "a.pdf", [PAGE_ONE, PAGE_TWO])
    lib = home_with(tmp_path, {"2405.00001v1": pdf}, local=False)
    app = FastAPI()
    add_reader_routes(app, lib)
    with TestClient(app) as client:
        yield client, lib
    lib.close()


def test_the_reader_page_shows_the_cited_page_its_boxes_and_the_arxiv_link(http):
    client, lib = http
    r = client.get("/" + lib.reader_url("2405.00001v1", 1, [SENTENCE]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert page.count('class="hl"') == 2 and 'id="reader-note"' not in page
    assert 'id="page-label">p. 1 / 2<' in page
    assert 'href="https://arxiv.org/pdf/2405.00001v1#page=1"' in page
    src = re.search(r'id="page-image" src="([^"]+)"', page)[1].replace("&amp;", "&")
    img = client.get("/reader/" + src)
    assert img.status_code == 200 and img.headers["content-type"] == "image/png" and img.content[:4] == b"\x89PNG"
    assert not re.search(r"(src|href)=\"(https?:)?//(?!arxiv\.org)", page)  # nothing loaded from elsewhere

    nxt = re.search(r'id="next-page" href="([^"]+)"', page)[1].replace("&amp;", "&")
    other = client.get("/reader/" + nxt).text  # page 2 keeps the quote, shows no note, links back to page 1
    assert 'id="page-label">p. 2 / 2<' in other and 'class="hl"' not in other and 'id="reader-note"' not in other
    assert 'id="reader-elsewhere"' in other

    miss = client.get("/" + lib.reader_url("2405.00001v1", 2, [SENTENCE])).text
    assert 'class="hl"' not in miss and 'id="page-image"' in miss
    assert "the quote could not be located exactly on this page" in miss


@pytest.mark.parametrize("path", ["/reader/..%2F..%2Fetc%2Fpasswd", "/reader/../../etc/passwd",
                                  "/reader/%2Fetc%2Fpasswd/page/1.png", "/reader/2405.00001v1%2F..%2F..%2Findex.json",
                                  "/reader/pdfs%2Findex.json/page/1.png", "/reader/2405.00001v1/page/9.png"])
def test_path_traversal_and_unknown_pages_are_refused(http, path):
    client, _ = http
    r = client.get(path)
    assert r.status_code == 404 and "PNG" not in r.text[:8] and "%PDF" not in r.text
    assert 'id="reader-error"' in r.text or r.text == '{"detail":"Not Found"}'  # the client resolved "../"


@pytest.mark.parametrize("query", ["page=x", "page=0", "page=1&zoom=9", "page=1&cite=-1"])
def test_bad_parameters_are_a_readable_400(http, query):
    client, _ = http
    r = client.get(f"/reader/2405.00001v1?{query}")
    assert r.status_code == 400 and "Bad request" in r.text
    assert client.get("/reader/2405.00001v1/page/1.png?dpi=7").status_code == 400


def test_a_missing_pdf_is_a_page_that_says_so_and_offers_the_download(http):
    client, lib = http
    cached_file(lib, "2405.00001v1").unlink()
    r = client.get("/" + lib.reader_url("2405.00001v1", 1, [SENTENCE]))
    assert r.status_code == 404
    assert "The PDF of 2405.00001v1 is not in the local cache" in r.text
    assert "paperrag open 2405.00001v1 --download" in r.text
    assert 'id="reader-restore"' in r.text and 'action="2405.00001v1/restore"' in r.text
    assert client.get("/reader/2405.00001v1/page/1.png").status_code == 404
    # offline here: the download fails and the page says why, still offering it
    lib.catalog.db.execute("UPDATE papers SET pdf_url='http://127.0.0.1:9/pdf/2405.00001v1'")
    lib.catalog.db.commit()
    failed = client.post("/reader/2405.00001v1/restore")
    assert failed.status_code == 502 and 'id="reader-restore-error"' in failed.text
    assert client.post("/reader/2405.00001v1/restore", headers={"origin": "http://evil.example"}).status_code == 403


def test_a_500_page_pdf_opens_at_its_page_and_sends_one_page_image(tmp_path):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from ui.reader_web import add_reader_routes

    pages = [[f"Page {n} of a long report.", f"Widget experiment {n} reached an accuracy of {n % 97} percent "
              "on the held-out widgets."] for n in range(1, 501)]
    pdf = lines_pdf(tmp_path / "long.pdf", pages)
    lib = home_with(tmp_path, {"2405.00500v1": pdf})
    app = FastAPI()
    add_reader_routes(app, lib)
    with TestClient(app) as client:
        t0 = time.perf_counter()
        quote = "Widget experiment 420 reached an accuracy of 32 percent on the held-out widgets."
        html = client.get("/" + lib.reader_url("2405.00500v1", 420, [quote])).text
        src = re.search(r'id="page-image" src="([^"]+)"', html)[1].replace("&amp;", "&")
        img = client.get("/reader/" + src)
        seconds = time.perf_counter() - t0
    assert 'id="page-label">p. 420 / 500<' in html and html.count('class="hl"') == 1
    assert img.status_code == 200 and len(html) + len(img.content) < pdf.stat().st_size / 4
    pngs = list(lib.settings.reader_dir.rglob("*.png"))  # only the requested page was rendered
    assert len(pngs) == 1 and "-p420-" in pngs[0].name
    assert seconds < 5, f"p.420 of 500 took {seconds:.2f} s"
    lib.close()


def test_the_reader_is_behind_the_apps_login():
    from types import SimpleNamespace

    from ui.reader_web import _authorised

    app = SimpleNamespace(auth=[("u", "p")], auth_dependency=None, cookie_id="c1", tokens={"tok": "u"})
    assert not _authorised(SimpleNamespace(app=app, cookies={}))
    assert not _authorised(SimpleNamespace(app=app, cookies={"access-token-c1": "forged"}))
    assert _authorised(SimpleNamespace(app=app, cookies={"access-token-c1": "tok"}))
    assert _authorised(SimpleNamespace(app=SimpleNamespace(auth=None, auth_dependency=None), cookies={}))


# ------------------------------------------------------------------------------------------ the CLI
def test_paperrag_open_prints_the_local_address_and_errors_in_one_line(tmp_path, monkeypatch):
    from ui.cli import app

    lib = home_with(tmp_path, {"2405.00001v1": lines_pdf(tmp_path / "a.pdf", [PAGE_ONE, PAGE_TWO])}, local=False)
    home = lib.settings.home
    lib.close()
    monkeypatch.setenv("PAPERRAG_HOME", str(home))
    monkeypatch.setenv("PAPERRAG_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("PAPERRAG_UI__PORT", "9")  # nothing listens there: the app is "not running"
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url))
    runner = CliRunner()
    r = runner.invoke(app, ["open", "2405.00001", "--page", "1", "--quote", SENTENCE])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == ("http://127.0.0.1:9/reader/2405.00001v1?page=1&q=Sparse+widget+attention+keeps+"
                                "the+64+highest-scoring+keys+for+every+query.")
    assert "the web app is not running on 127.0.0.1:9: start it with `paperrag ui`" in r.stderr
    assert opened == []

    r = runner.invoke(app, ["open", "2405.00001v1", "-p", "2", "-q", SENTENCE])
    assert r.exit_code == 0 and "note: the quote could not be located exactly on this page" in r.stderr

    r = runner.invoke(app, ["open", "2405.99999"])
    assert r.exit_code != 0 and "no paper '2405.99999' in the library" in str(r.exception or r.output)
    with Library(Settings(home=home)) as again:
        cached_file(again, "2405.00001v1").unlink()
    r = runner.invoke(app, ["open", "2405.00001v1"])
    assert r.exit_code != 0
    assert "--download" in getattr(r.exception, "hint", "") and "not in the local cache" in str(r.exception)


# ------------------------------------------------------------------------------------------ the browser
LENSES = ("Gradient lenses rescale every layer's update by the inverse square root of its fan-in, which "
          "stabilises training of 48-layer widget encoders without warm-up.")


@pytest.fixture(scope="module")
def reader_app(tmp_path_factory, embedder, browser):
    """Two real PDFs indexed, the fake LLM, the app served on a free 127.0.0.1 port (after the browser: without
    Chromium the browser tests skip before anything is built)."""
    from fakes.corpus import Paper, build_corpus
    from fakes.data import CRAWLER, SPARSE

    root = tmp_path_factory.mktemp("reader")
    base = Settings(home=root / "home")
    settings = base.model_copy(update={"llm": base.llm.model_copy(update={"backend": "fake"})})
    build_corpus(root, embedder, [
        Paper("a", "Sparse Widget Attention", "2405.00001", seed=21, sections=[("4 Sparse attention", SPARSE)]),
        Paper("b", "Graph Crawlers for Citation Search", "2405.00002", seed=22, category="cs.IR",
              sections=[("4 Training the crawler", CRAWLER)]),
        Paper("c", "Gradient Lenses for Deep Encoders", "2405.00003", seed=23,
              sections=[("3 Gradient lenses", LENSES)]),
    ], settings=settings)
    lib = Library(settings, embedder=embedder)
    with served(lib, warm=True) as (_, url):
        yield {"url": url, "lib": lib, "root": root}


@pytest.fixture
def page(browser, reader_app, request):
    with app_page(browser, reader_app["url"], request, tab="Ask") as pg:
        yield pg


def ask_and_open_citation(pg, question: str, paper: str):
    """Ask; click the answer's citation of `paper` (`p.N`, the local reader): the reader tab, once its page
    image is decoded."""
    from playwright.sync_api import expect

    pg.locator("#paperrag-question textarea").fill(question)
    pg.locator("#paperrag-ask").click()
    expect(pg.locator("#paperrag-sources")).to_contain_text("Cited sources")
    bot = pg.locator("#paperrag-chat [data-testid=bot]").last
    link = bot.locator(f'a[href*="reader/{paper}v1?page="]').first
    expect(link).to_have_text(re.compile(r"^p\.\d+$"))
    cited = int(link.inner_text().removeprefix("p."))
    expect(pg.locator("#paperrag-sources").locator(f'a[href*="reader/{paper}v1?page={cited}"]')).to_have_text(
        f"read p.{cited} here")
    with pg.context.expect_page() as opened:
        link.click()
    reader = opened.value
    reader.wait_for_function("() => { const i = document.getElementById('page-image');"
                             " return i && i.complete && i.naturalWidth > 0; }")
    return reader, cited


def test_clicking_a_citation_opens_the_reader_at_the_page_with_the_quote_highlighted(page, reader_app):
    from playwright.sync_api import expect

    reader, cited = ask_and_open_citation(page, "How many keys does sparse widget attention keep for every query?",
                                          "2405.00001")
    assert reader.url.startswith(reader_app["url"] + "reader/2405.00001v1?page=")
    expect(reader.locator("#page-label")).to_have_text(re.compile(rf"^p\. {cited} / \d+$"))
    boxes = reader.locator(".hl")
    expect(boxes.first).to_be_visible()
    assert boxes.count() >= 1
    expect(reader.locator("#reader-note")).to_have_count(0)
    # the box lies on the page image, around the quoted words
    img = reader.locator("#page-image").bounding_box()
    box = boxes.first.bounding_box()
    assert img["x"] <= box["x"] and box["x"] + box["width"] <= img["x"] + img["width"] + 1
    assert img["y"] <= box["y"] and box["y"] + box["height"] <= img["y"] + img["height"] + 1
    expect(reader.locator("#arxiv-pdf-link")).to_have_attribute(
        "href", f"https://arxiv.org/pdf/2405.00001v1#page={cited}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    reader.screenshot(animations="disabled", path=str(SHOTS / "reader-highlight.png"))
    # zoom keeps the box on its words: both scale together
    before = boxes.first.bounding_box()["width"] / reader.locator("#page-image").bounding_box()["width"]
    reader.locator("#zoom-in").click()
    expect(reader.locator("#zoom-level")).to_have_text("125%")
    after = boxes.first.bounding_box()["width"] / reader.locator("#page-image").bounding_box()["width"]
    assert abs(before - after) < 1e-3
    outside = {u for u in page.requests if not u.startswith(("http://127.0.0.1:", "data:", "blob:"))}
    assert not outside, f"loaded from outside this machine: {sorted(outside)[:5]}"


def test_a_quote_that_cannot_be_located_opens_the_page_without_a_highlight_and_says_so(page, reader_app):
    """The cached file no longer holds the quoted sentence (replaced since the answer was written): the cited page
    opens, with no box and the note."""
    from playwright.sync_api import expect

    lib = reader_app["lib"]
    page.locator("#paperrag-question textarea").fill("How is the citation crawler trained?")
    target = cached_file(lib, "2405.00002v1")
    original = target.read_bytes()
    try:
        # swap the file only once the answer is on the screen, before the click
        page.locator("#paperrag-ask").click()
        expect(page.locator("#paperrag-sources")).to_contain_text("Cited sources")
        other = make_paper_pdf(reader_app["root"] / "other.pdf", title="Something Else", seed=99, sections=8)
        shutil.copyfile(other, target)
        bot = page.locator("#paperrag-chat [data-testid=bot]").last
        link = bot.locator('a[href*="reader/2405.00002v1?page="]').first
        cited = int(link.inner_text().removeprefix("p."))
        with page.context.expect_page() as opened:
            link.click()
        reader = opened.value
        reader.wait_for_function("() => { const i = document.getElementById('page-image');"
                                 " return i && i.complete && i.naturalWidth > 0; }")
        expect(reader.locator("#page-label")).to_have_text(re.compile(rf"^p\. {cited} / \d+$"))
        expect(reader.locator("#reader-note")).to_contain_text("the quote could not be located exactly on this page")
        expect(reader.locator(".hl")).to_have_count(0)
        SHOTS.mkdir(parents=True, exist_ok=True)
        reader.screenshot(animations="disabled", path=str(SHOTS / "reader-not-located.png"))
    finally:
        target.write_bytes(original)
        for png in lib.settings.reader_dir.rglob("*.png"):  # pages rendered from the stand-in file
            png.unlink()


def test_a_pdf_missing_from_the_cache_is_a_message_with_a_restore_button(page, reader_app):
    from playwright.sync_api import expect

    lib = reader_app["lib"]
    target = cached_file(lib, "2405.00003v1")
    original = target.read_bytes()
    target.unlink()
    try:
        page.goto(reader_app["url"] + lib.reader_url("2405.00003v1", 1, [LENSES]))
        expect(page.locator("#reader-missing")).to_contain_text("The PDF of 2405.00003v1 is not in the local cache")
        expect(page.locator("#page-image")).to_have_count(0)
        expect(page.locator("#reader-restore")).to_have_text(re.compile(r"^Copy it back from .+c\.pdf$"))
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(animations="disabled", path=str(SHOTS / "reader-missing-pdf.png"))
        page.locator("#reader-restore").click()  # a local PDF: copied back from its file
        expect(page.locator("#page-label")).to_have_text(re.compile(r"^p\. 1 / \d+$"))
        page.wait_for_function("() => document.getElementById('page-image').naturalWidth > 0")
        assert target.read_bytes() == original
    finally:
        if not target.exists():
            target.write_bytes(original)
