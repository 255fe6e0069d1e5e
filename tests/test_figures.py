"""Key figures (ingest/figures.py): Figure 1 or the method figure cut from the PDF with its caption, never a wrong
one; cached by the PDF's sha256; shown under the paper's header in the markdown and HTML digests.

Generated PDFs (tests/fakes/pdfs.py `figure_paper`) with a drawn or embedded figure in known places; the bar
over the 23 classic papers of ../shared runs when ../shared is there (bench/figures.py prints the details).
"""

from __future__ import annotations

import json
from pathlib import Path

import pymupdf
import pytest
from fakes.data import make_digest
from fakes.pdfs import figure_paper

from ingest import figures as F
from rag.digest import render
from rag.digest.model import KeyFigure

CLASSIC = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "pdfs" / "classic"


def open_pdf(data: bytes) -> pymupdf.Document:
    return pymupdf.open(stream=data, filetype="pdf")


def covers(outer, inner, tol: float = 4.0) -> bool:
    o, i = pymupdf.Rect(outer), pymupdf.Rect(inner)
    return o.x0 <= i.x0 + tol and o.y0 <= i.y0 + tol and o.x1 >= i.x1 - tol and o.y1 >= i.y1 - tol


def body_rects(doc: pymupdf.Document, marker: str) -> list[pymupdf.Rect]:
    return [pymupdf.Rect(b[:4]) for b in doc[0].get_text("blocks") if marker in b[4]]


# ------------------------------------------------------------------------------------------ generated PDFs
@pytest.mark.parametrize("layout", [{}, {"columns": 2}, {"caption_above": True}])
def test_a_drawn_figure_1_is_cut_with_its_caption_and_nothing_else(tmp_path, layout):
    data, drawn = figure_paper(**layout)
    doc = open_pdf(data)
    fig = F.find_key_figure(doc, tmp_path / "fig.png")
    assert fig.found and fig.number == 1 and fig.chosen == "figure 1" and fig.page == 1
    assert fig.caption.startswith("Figure 1: Overview of the widget pipeline")
    assert covers(fig.bbox, drawn), (fig.bbox, drawn)  # the whole diagram, labels included
    cut = pymupdf.Rect(fig.bbox)
    for marker in ("BODYABOVE", "BODYBELOW", "Figure 1:", "Widget Networks"):  # no body text, caption, header
        assert all(not cut.intersects(r) for r in body_rects(doc, marker)), marker
    png = pymupdf.Pixmap(str(tmp_path / "fig.png"))
    assert png.width > 300 and png.height > 80 and fig.size == (png.width, png.height)


def test_an_embedded_image_is_cut_too(tmp_path):
    data, box = figure_paper(image=True)
    fig = F.find_key_figure(open_pdf(data), tmp_path / "fig.png")
    img = pymupdf.Rect(open_pdf(data)[0].get_image_info()[0]["bbox"])
    assert fig.found and fig.number == 1 and covers(fig.bbox, img) and covers(box, fig.bbox, tol=6)


def test_a_figure_2_that_is_not_the_method_is_never_taken_as_figure_1():
    data, _ = figure_paper(caption="Figure 2: Results on WidgetBench for every widget size and both baselines.")
    fig = F.find_key_figure(open_pdf(data), None)
    assert not fig.found and fig.number == 0 and fig.png == ""
    assert fig.reason == "no Figure 1 and no caption naming the method"
    assert fig.candidates == ["p1 Figure 2"]


def test_a_figure_2_that_names_the_method_is_taken_with_its_own_number():
    data, drawn = figure_paper(caption="Figure 2: Overview of our method: the widget encoder feeds the decoder.")
    fig = F.find_key_figure(open_pdf(data), None)
    assert fig.found and fig.number == 2 and fig.chosen == "method figure" and covers(fig.bbox, drawn)


def test_a_caption_with_no_figure_and_a_reference_in_the_text_give_no_figure():
    data, _ = figure_paper(figure=False)  # "Figure 1: ..." but nothing drawn: never cut body text
    fig = F.find_key_figure(open_pdf(data), None)
    assert not fig.found and "no drawing or image" in fig.reason
    data, _ = figure_paper(caption="Figure 1 shows the widget pipeline, which the next section describes.")
    fig = F.find_key_figure(open_pdf(data), None)  # a sentence of the body, not a caption
    assert not fig.found and fig.reason == "no figure caption"


def test_key_figure_is_cached_by_the_pdfs_sha256(tmp_path, monkeypatch):
    data, _ = figure_paper()
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(data)
    cache = tmp_path / "cache"
    first = F.key_figure(pdf, cache)
    sha = F.sha256_of(pdf)
    assert first.found and Path(first.png) == cache / sha[:2] / f"{sha}.png"
    record = json.loads((cache / sha[:2] / f"{sha}.json").read_text())
    assert record["version"] == F.EXTRACTOR_VERSION and record["number"] == 1

    def boom(*a, **k):
        raise AssertionError("cut again")

    monkeypatch.setattr(F, "find_key_figure", boom)
    again = F.key_figure(pdf, cache, sha256=sha)
    assert again.found and again.png == first.png and again.caption == first.caption
    assert tuple(again.bbox) == tuple(first.bbox)


def test_a_broken_pdf_gives_no_figure_and_a_reason(tmp_path):
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4 not really")
    fig = F.key_figure(bad, tmp_path / "cache")
    assert not fig.found and fig.reason


# ------------------------------------------------------------------------------------------ in the digest
def test_the_figure_is_under_the_papers_header_in_markdown_and_html():
    d = make_digest("en", "report")
    d.papers[0].figure = KeyFigure("figures/2512.20276v1.png", 1, "Figure 1: Overview of ActionFlow *bold* <b>x</b>.",
                                   2)
    for fmt in ("report", "monitor"):
        md = render.render_markdown(d, fmt)
        head = md.index("2512.20276v1'></a>")
        img = md.index("![Figure 1](figures/2512.20276v1.png)")
        assert head < img < md.index("Authors" if fmt == "report" else "### Details", head)
        assert "*Figure 1: Overview of ActionFlow \\*bold\\* &lt;b>x&lt;/b>.*" in md
        page = render.render_html(d, fmt)
        assert page.count("<img ") == 1 and '<img alt="Figure 1" src="figures/2512.20276v1.png">' in page
        assert "<b>x</b>" not in page and "img-src 'self' data:" in page
    assert "figures/" not in render.render_markdown(d, "table")  # one row a paper: no figure


def test_only_the_figures_this_module_wrote_become_images():
    d = make_digest("en", "report")
    d.papers[0].figure = KeyFigure("../../etc/passwd.png", 1, "Figure 1: x", 1)  # not a figures/ path
    d.papers[1].meta.abstract = "See ![pic](https://example.org/x.png) and ![f](figures/a.png)."
    page = render.render_html(d, "report")
    assert "<img" not in page and "passwd" not in page


@pytest.mark.shared
@pytest.mark.skipif(not CLASSIC.is_dir(), reason="needs ../shared/corpus/pdfs/classic (the 23 classic papers)")
def test_figure_1_of_the_classic_papers_is_found_for_at_least_90_percent(tmp_path):
    pdfs = sorted(CLASSIC.glob("*.pdf"))
    results = {p.stem: F.key_figure(p, tmp_path) for p in pdfs}
    found = [k for k, r in results.items() if r.found]
    assert len(found) >= 0.9 * len(pdfs), {k: r.reason for k, r in results.items() if not r.found}
    assert all(results[k].number == 1 and results[k].caption.startswith(("Figure 1", "FIGURE 1", "Fig. 1"))
               for k in found)
    attention = results["1706.03762"]  # the Transformer: its architecture diagram on page 3
    assert attention.page == 3 and attention.caption == "Figure 1: The Transformer - model architecture."
    assert not results["distillation"].found  # a paper without figures gets none


def test_the_web_app_shows_the_figure_inlined_from_the_day_folder(tmp_path):
    from rag.digest.stored import digest_html

    d = make_digest("en", "report")
    data, _ = figure_paper()
    d.papers[0].figure = KeyFigure("figures/2512.20276v1.png", 1, "Figure 1: Overview.", 1)
    files = render.write_digest(d, "report", tmp_path)
    F.find_key_figure(open_pdf(data), files["html"].parent / "figures" / "2512.20276v1.png")
    frag = digest_html(files["html"].parent, "report")
    assert frag.count('src="data:image/png;base64,iVBOR') == 1 and 'src="figures/' not in frag
    (files["html"].parent / "figures" / "2512.20276v1.png").unlink()  # deleted by hand: no broken link to it
    assert 'src="figures/' not in digest_html(files["html"].parent, "report")
