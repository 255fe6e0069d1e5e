"""Small real PDFs made with PyMuPDF for pipeline tests (no license questions, no ../shared needed)."""

from __future__ import annotations

import random
from pathlib import Path

import pymupdf

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
