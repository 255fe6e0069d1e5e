"""ingest/pdf_inflation.py: Flate streams are measured by inflating in bounded steps, nested layers included."""

from __future__ import annotations

import zlib

import pymupdf
import pytest

from ingest.pdf_inflation import inflated_size
from ingest.pdf_parse import PdfError, parse_pdf

TEN_MB = 10 << 20


def test_sizes_are_exact_below_the_limit_and_stop_past_it():
    once = zlib.compress(b"\0" * TEN_MB, 9)
    twice = zlib.compress(once, 9)  # a bomb hidden behind a second Flate layer
    assert inflated_size(once, 1, 20 << 20) == TEN_MB
    assert inflated_size(twice, 2, 20 << 20) == TEN_MB
    assert inflated_size(twice, 1, 20 << 20) == len(once)  # one layer counted: the inner stream's size
    assert (1 << 20) < inflated_size(twice, 2, 1 << 20) <= (1 << 20) + (1 << 20)  # stops one step past the limit
    assert inflated_size(b"not zlib at all", 1, 1 << 20) == 0  # damage is MuPDF's to report


def test_a_nested_flate_bomb_is_refused_by_parse(tmp_path):
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "A page with a hidden payload.")
    xref = doc.get_new_xref()
    doc.update_object(xref, "<< >>")
    doc.update_stream(xref, zlib.compress(zlib.compress(b" " * TEN_MB, 9), 9), compress=False)
    doc.xref_set_key(xref, "Filter", "[/FlateDecode /FlateDecode]")
    doc.xref_set_key(doc.pdf_catalog(), "PaperragPayload", f"{xref} 0 R")
    path = tmp_path / "nested.pdf"
    doc.save(path)
    with pytest.raises(PdfError, match=r"inflates to more than 5 MB.*parse\.max_stream_mb"):
        parse_pdf(path, max_stream_mb=5)
    try:  # under the limit it is read as usual (this one page has too little text to be a paper)
        parse_pdf(path, max_stream_mb=50)
    except PdfError as exc:
        assert "inflates" not in str(exc)
