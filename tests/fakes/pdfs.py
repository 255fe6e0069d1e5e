"""Small real PDFs generated with PyMuPDF (no license questions, no ../shared needed).

* `make_paper_pdf(path, title=, arxiv_id=, seed=, extra_sections=)`: a one-column paper for pipeline,
  retrieval, ask and compare tests (random body text from a small vocabulary, plus sections with real
  sentences); `make_bad_pdfs(folder)`: the bad inputs a real folder of downloads contains.
* For the parser and chunker tests: `two_column_paper()` lays out a 3-page two-column paper with everything
  the parser must handle: a centred title, a rotated arXiv stamp in the left margin, a full-width abstract,
  numbered headings (1, 2, 2.1, 3), an equation line and bold table cells that must NOT become headings, a
  figure and a table caption, line-end hyphenation, ligature characters (ﬁ ﬂ ﬀ ﬃ), running headers and page
  numbers, a References section and an appendix ("A Proofs"). Marker words (LEFTCOLMARK, RIGHTCOLMARK, ...)
  let tests check the reading order. Also `table_paper()`, `text_pages(n)`, `encrypted_pdf()`,
  `image_only_pdf()`.
"""

from __future__ import annotations

import random
from pathlib import Path

import pymupdf

# ================================================================================ one-column papers (pipeline)
WORDS = (
    "retrieval attention transformer corpus embedding latency benchmark recall precision gradient "
    "agent policy reward dataset annotation summary faithfulness citation section figure table model "
    "training inference memory throughput baseline ablation encoder decoder token window chunk index"
).split()


def _paragraph(rng: random.Random, n_words: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n_words)]
    sentences, out = [], []
    for i, w in enumerate(words, 1):
        out.append(w)
        if i % 14 == 0:
            sentences.append(" ".join(out).capitalize() + ".")
            out = []
    if out:
        sentences.append(" ".join(out).capitalize() + ".")
    return " ".join(sentences)


def make_paper_pdf(path: Path, *, title: str, arxiv_id: str | None = None, version: int = 1,
                   category: str = "cs.CL", seed: int = 0, sections: int = 3, words_per_section: int = 260,
                   extra_sections: list[tuple[str, str]] = ()) -> Path:
    """A one-column paper: title, optional arXiv margin stamp, numbered sections (then `extra_sections`,
    (heading, text) pairs with real sentences for retrieval tests), a References section."""
    rng = random.Random(seed)
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    y = 72

    def write(text: str, size: float, bold: bool = False) -> None:
        nonlocal page, y
        font = "hebo" if bold else "helv"
        rect = pymupdf.Rect(72, y, 540, 740)
        needed = page.insert_textbox(rect, text, fontsize=size, fontname=font)
        if needed < 0:  # did not fit: continue on a new page
            page = doc.new_page(width=612, height=792)
            y = 72
            needed = page.insert_textbox(pymupdf.Rect(72, y, 540, 740), text, fontsize=size, fontname=font)
        y = 740 - needed + size

    if arxiv_id:
        stamp = f"arXiv:{arxiv_id}v{version}  [{category}]  {rng.randint(1, 28)} Jan 2024"
        page.insert_text((30, 600), stamp, fontsize=16, rotate=90, color=(0.5, 0.5, 0.5))
    write(title, 17, bold=True)
    write("Abstract", 11, bold=True)
    write(_paragraph(rng, 80), 10)
    for i in range(1, sections + 1):
        write(f"{i} {rng.choice(WORDS).capitalize()} {rng.choice(WORDS)}", 12, bold=True)
        for _ in range(max(1, words_per_section // 130)):
            write(_paragraph(rng, 130), 10)
    for heading, text in extra_sections:
        write(heading, 12, bold=True)
        write(text, 10)
    write("References", 12, bold=True)
    write("[1] A. Author. A cited paper. In Proceedings, 2020.", 9)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(path)
    return path


def make_bad_pdfs(folder: Path) -> dict[str, Path]:
    """The bad inputs a real folder of downloads contains."""
    folder.mkdir(parents=True, exist_ok=True)
    bad = {
        "zero-byte": folder / "zero.pdf",
        "html": folder / "saved-page.pdf",
        "corrupt": folder / "corrupt.pdf",
        "encrypted": folder / "locked.pdf",
    }
    bad["zero-byte"].write_bytes(b"")
    bad["html"].write_text("<!DOCTYPE html><html><head><title>arXiv</title></head><body>Just a moment...</body></html>")
    bad["corrupt"].write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nthis is not a pdf" + bytes(200))
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "secret " * 50)
    doc.save(bad["encrypted"], encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="o", user_pw="u")
    return bad


# ================================================================================ the parser's test papers
W, H = 612.0, 792.0
LEFT_X, RIGHT_X = 60.0, 320.0  # column origins; columns are 230 pt wide with a 30 pt gutter
COL_W = 232.0
BODY = 10.0
LEADING = 12.5

TITLE = "Widget Networks for Synthetic Reading"
STAMP = "arXiv:2401.01234v2 [cs.CL] 5 Jan 2024"
HEADER = "Widget Networks for Synthetic Reading (preprint)"

_FILLER = (
    "Widgets are small components whose behaviour we measure across many settings and datasets. "
    "We describe the experimental protocol in detail so that others can reproduce every number. "
    "Each run uses the same random seeds and the same hardware budget for a fair comparison. "
)

_LIG_FONT: pymupdf.Font | None = None


def _lig_font() -> pymupdf.Font:
    """A built-in font that has glyphs for the ligature code points (Base-14 fonts do not)."""
    global _LIG_FONT
    if _LIG_FONT is None:
        _LIG_FONT = pymupdf.Font("cjk")
    return _LIG_FONT


def _wrap(text: str, width: float, fontname: str = "tiro", size: float = BODY) -> list[str]:
    lines: list[str] = []
    cur = ""
    for word in text.split():
        trial = f"{cur} {word}".strip()
        if pymupdf.get_text_length(trial, fontname=fontname, fontsize=size) <= width or not cur:
            cur = trial
        else:
            lines.append(cur)
            cur = word
    if cur:
        lines.append(cur)
    return lines


class _Col:
    """A text cursor in one column (or across the page)."""

    def __init__(self, page: pymupdf.Page, x: float, y: float, width: float):
        self.page, self.x, self.y, self.width = page, x, y, width

    def heading(self, text: str, size: float = 12.0) -> None:
        self.y += 6
        self.page.insert_text((self.x, self.y), text, fontname="tibo", fontsize=size)
        self.y += size + 6

    def lines(self, lines: list[str], fontname: str = "tiro", size: float = BODY) -> None:
        for ln in lines:
            self.page.insert_text((self.x, self.y), ln, fontname=fontname, fontsize=size)
            self.y += LEADING * size / BODY

    def para(self, text: str, fontname: str = "tiro", size: float = BODY) -> None:
        self.lines(_wrap(text, self.width, fontname, size), fontname, size)
        self.y += 8

    def ligature_line(self, text: str) -> None:
        tw = pymupdf.TextWriter(self.page.rect)
        tw.append((self.x, self.y), text, font=_lig_font(), fontsize=BODY)
        tw.write_text(self.page)
        self.y += LEADING + 8

    def gap(self, dy: float) -> None:
        self.y += dy


def _furniture(page: pymupdf.Page, number: int) -> None:
    if number > 1:
        page.insert_text((LEFT_X, 40), HEADER, fontname="tiro", fontsize=8)
    page.insert_text((W / 2 - 3, H - 30), str(number), fontname="tiro", fontsize=BODY)


def two_column_paper(*, metadata_title: str = "") -> bytes:
    doc = pymupdf.open()

    # ---- page 1: title, stamp, full-width abstract, then two columns
    p1 = doc.new_page(width=W, height=H)
    tw = pymupdf.get_text_length(TITLE, fontname="tibo", fontsize=20)
    p1.insert_text(((W - tw) / 2, 90), TITLE, fontname="tibo", fontsize=20)
    authors = "Ada Example and Bob Sample, Example University"
    aw = pymupdf.get_text_length(authors, fontname="tiro", fontsize=11)
    p1.insert_text(((W - aw) / 2, 115), authors, fontname="tiro", fontsize=11)
    p1.insert_text((30, 560), STAMP, fontname="tiro", fontsize=18, rotate=90)
    full = _Col(p1, LEFT_X, 150, W - 2 * LEFT_X)
    aw = pymupdf.get_text_length("Abstract", fontname="tibo", fontsize=12)
    full.x = (W - aw) / 2
    full.heading("Abstract")
    full.x = LEFT_X
    full.para(
        "ABSTRACTMARK We study widget networks, a family of models that read synthetic documents. "
        "They are fast to train and easy to inspect. " + _FILLER
    )
    top = full.y + 10

    left = _Col(p1, LEFT_X, top, COL_W)
    left.heading("1 Introduction")
    left.para("LEFTCOLMARK Introductory text opens the left column. " + _FILLER)
    # line-end hyphenation, written as separate lines so the PDF really breaks the words
    left.lines(
        [
            "Reading printed papers needs robust recog-",
            "nition of layout and careful normaliza-",
            "tion of the text, which we evaluate here.",
        ]
    )
    left.gap(8)
    left.ligature_line("We ﬁnd the ﬂow eﬀective and eﬃcient.")
    left.para(_FILLER + "LEFTCOLEND closes the left column.")

    right = _Col(p1, RIGHT_X, top, COL_W)
    right.heading("2 Method")
    right.para("RIGHTCOLMARK The method section starts at the top of the right column. " + _FILLER)
    right.lines(["3 x + 2 = y"])  # an equation line: must not become a heading
    right.gap(8)
    right.heading("2.1 Training Details", size=10.5)
    right.para("DETAILSMARK We train for ten epochs with a small learning rate. " + _FILLER)
    right.gap(6)
    right.para("Figure 1: CAPTIONMARK A widget network reading a page.", size=9)
    right.para("After the figure the method text goes on. " + _FILLER)
    _furniture(p1, 1)

    # ---- page 2: results with a table, references
    p2 = doc.new_page(width=W, height=H)
    left = _Col(p2, LEFT_X, 80, COL_W)
    left.heading("3 Results")
    left.para("RESULTSMARK Widget networks beat the baseline on all datasets. " + _FILLER)
    left.para("Table 1: TABLECAPMARK Accuracy of widget networks.", size=9)
    left.lines(["1 Baseline 34.2 56.1", "2 Widgets 40.5 61.0"], fontname="tibo")  # bold table rows
    left.gap(8)
    left.para("The table shows consistent gains. " + _FILLER)
    right = _Col(p2, RIGHT_X, 80, COL_W)
    right.heading("References")
    right.para("[1] A. Author and B. Author. REFMARK A paper about widgets. In Proceedings of Widgets, 2020.", size=9)
    right.para("[2] C. Writer. Another paper on reading machines. Journal of Reading, 2021.", size=9)
    _furniture(p2, 2)

    # ---- page 3: appendix
    p3 = doc.new_page(width=W, height=H)
    left = _Col(p3, LEFT_X, 80, COL_W)
    left.heading("A Proofs")
    left.para("APPENDIXMARK Here we prove that widgets converge. " + _FILLER)
    _furniture(p3, 3)

    if metadata_title:
        doc.set_metadata({"title": metadata_title})
    return doc.tobytes()


def table_paper() -> bytes:
    """One two-column page, ACL style: a paragraph runs from the bottom of the left column to the top of the right
    one, where a table (cells as plain text lines) with its caption BELOW it sits in between. STATSMARK marks the
    caption, CONTMARK the paragraph's continuation."""
    doc = pymupdf.open()
    p = doc.new_page(width=W, height=H)
    left = _Col(p, LEFT_X, 80, COL_W)
    left.heading("4 Experiments")
    left.para(_FILLER * 6)
    left.lines(_wrap("We first test our model on the single domain dataset, a small corpus that earlier work "
                     "used as well. It consists", COL_W))
    right = _Col(p, RIGHT_X, 80, COL_W)
    right.lines(["Metric WoZ2.0 MultiWoZ", "Avg. turns 7.45 13.68", "Number of slots 3 35",
                 "Training set size 600 8438"])
    right.gap(10)
    right.para("Table 2: STATSMARK The statistics of the two datasets.", size=9)
    right.gap(10)
    right.para("of 1,200 dialogues from the restaurant domain CONTMARK with three slots. " + _FILLER * 5)
    return doc.tobytes()


def text_pages(n: int, *, text: str = _FILLER) -> bytes:
    """n single-column pages of plain text."""
    doc = pymupdf.open()
    for i in range(n):
        page = doc.new_page(width=W, height=H)
        col = _Col(page, LEFT_X, 80, W - 2 * LEFT_X)
        col.heading(f"{i + 1} Section {i + 1}")
        col.para(text * 3)
    return doc.tobytes()


def encrypted_pdf() -> bytes:
    """Needs the user password to open."""
    doc = pymupdf.open(stream=text_pages(1))
    return doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="owner-secret")


def image_only_pdf(pages: int = 2) -> bytes:
    """A 'scan': every page is one image, no text layer."""
    doc = pymupdf.open()
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 120, 160), False)
    pix.clear_with(200)
    for _ in range(pages):
        page = doc.new_page(width=W, height=H)
        page.insert_image(pymupdf.Rect(50, 50, W - 50, H - 50), pixmap=pix)
    return doc.tobytes()


# ================================================================================ key figures (ingest.figures)
FIG_BODY = ("Widget networks read synthetic documents and write short summaries of them. " * 6).strip()


def _draw_diagram(page: pymupdf.Page, box: pymupdf.Rect, labels: tuple[str, ...]) -> None:
    """A method diagram in `box`: a frame, one stage box per label (with its label) and arrows between them."""
    page.draw_rect(box, color=(0.2, 0.2, 0.2), width=0.8)
    n = len(labels)
    w = (box.width - 20 * (n + 1)) / n
    y0, y1 = box.y0 + box.height * 0.3, box.y0 + box.height * 0.7
    prev = None
    for i, label in enumerate(labels):
        x0 = box.x0 + 20 + i * (w + 20)
        r = pymupdf.Rect(x0, y0, x0 + w, y1)
        page.draw_rect(r, color=(0.1, 0.3, 0.6), fill=(0.85, 0.9, 1.0), width=1)
        page.insert_text((r.x0 + 4, (r.y0 + r.y1) / 2 + 3), label, fontname="helv", fontsize=7)
        if prev is not None:
            page.draw_line((prev.x1, (y0 + y1) / 2), (r.x0, (y0 + y1) / 2), color=(0, 0, 0), width=1)
        prev = r
    page.insert_text((box.x0 + 6, box.y1 - 6), "input", fontname="helv", fontsize=6)


def figure_paper(*, caption: str = "Figure 1: Overview of the widget pipeline: an encoder, a retriever and a "
                 "decoder, each a stage of its own.", columns: int = 1, image: bool = False,
                 caption_above: bool = False, figure: bool = True,
                 labels: tuple[str, ...] = ("Encoder", "Retriever", "Decoder")) -> tuple[bytes, pymupdf.Rect]:
    """A two-page paper with one figure on page 1 between two body paragraphs: a vector diagram (or, with
    `image`, an embedded raster image) with its `caption` below it (above with `caption_above`), in a one- or
    two-column layout (`columns`; the figure then sits in the right column). Running header and page numbers on
    both pages. Returns (PDF bytes, the figure's rectangle on page 1). `figure=False`: the caption's words with
    no figure at all (a caption-like line of body text)."""
    doc = pymupdf.open()
    page = doc.new_page(width=W, height=H)
    if columns == 1:
        x0, width = 72.0, W - 144.0
    else:
        x0, width = W / 2 + 8, W / 2 - 8 - 54
        left = _Col(page, 54, 72, W / 2 - 8 - 54)
        for _ in range(6):
            left.para(FIG_BODY)
    col = _Col(page, x0, 72, width)
    col.para("BODYABOVE " + FIG_BODY)
    col.gap(10)
    fig_h = 150.0
    cap_lines = _wrap(caption, width)
    cap_h = len(cap_lines) * LEADING
    if caption_above:
        col.lines(cap_lines)
        col.gap(6)
        fig = pymupdf.Rect(x0 + 10, col.y, x0 + width - 10, col.y + fig_h)
        col.y = fig.y1 + 12
    else:
        fig = pymupdf.Rect(x0 + 10, col.y, x0 + width - 10, col.y + fig_h)
        col.y = fig.y1 + 14
    if figure:
        if image:
            pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 120, 60), False)
            for yy in range(60):
                for xx in range(120):
                    pix.set_pixel(xx, yy, (xx * 2 % 256, yy * 4 % 256, 160))
            page.insert_image(fig, pixmap=pix)
        else:
            _draw_diagram(page, fig, labels)
    if not caption_above:
        col.lines(cap_lines)
        col.gap(10)
    col.y += cap_h * 0 + 6
    col.para("BODYBELOW " + FIG_BODY)
    col.para(FIG_BODY)
    _furniture_fig(page, 1)
    p2 = doc.new_page(width=W, height=H)
    c2 = _Col(p2, 72, 72, W - 144)
    for _ in range(4):
        c2.para(FIG_BODY)
    _furniture_fig(p2, 2)
    return doc.tobytes(), fig


def _furniture_fig(page: pymupdf.Page, number: int) -> None:
    page.insert_text((72, 40), "Widget Networks — Preprint", fontname="tiro", fontsize=8)
    page.insert_text((W / 2 - 3, H - 30), str(number), fontname="tiro", fontsize=BODY)
