"""ingest.pdf_parse on generated PDFs (core) and on the ../shared corpus (skipped when absent)."""

from __future__ import annotations

import pymupdf
import pytest
from fakes import pdfs as pf

from ingest.pdf_parse import PdfError, clean_text, parse_pdf

# ------------------------------------------------------------------------------------------ generated paper


@pytest.fixture(scope="module")
def paper():
    return parse_pdf(pf.two_column_paper())


def _index(parsed, marker: str) -> int:
    hits = [i for i, b in enumerate(parsed.blocks) if marker in b.text]
    assert hits, f"{marker} not found in any block"
    return hits[0]


def _block(parsed, marker: str):
    return parsed.blocks[_index(parsed, marker)]


def test_title_stamp_and_page_count(paper):
    assert paper.page_count == 3
    assert paper.title == pf.TITLE  # no metadata title: the largest text on page 1
    assert paper.arxiv_stamp == pf.STAMP
    assert not any("arXiv:2401" in b.text for b in paper.blocks), "the side stamp must not be body text"
    assert paper.text_chars == sum(len(b.text) for b in paper.blocks)


def test_metadata_title_wins_when_sane_and_junk_is_ignored():
    assert parse_pdf(pf.two_column_paper(metadata_title="A Sane Metadata Title")).title == "A Sane Metadata Title"
    assert parse_pdf(pf.two_column_paper(metadata_title="Microsoft Word - draft7.docx")).title == pf.TITLE


def test_reading_order_left_column_before_right(paper):
    abstract = _index(paper, "ABSTRACTMARK")
    left_start, left_end = _index(paper, "LEFTCOLMARK"), _index(paper, "LEFTCOLEND")
    right_start = _index(paper, "RIGHTCOLMARK")
    assert abstract < left_start < left_end < right_start < _index(paper, "DETAILSMARK")
    assert _index(paper, "DETAILSMARK") < _index(paper, "CAPTIONMARK")
    # page 2: the left column (results) before the right column (references), then the appendix page
    assert _index(paper, "RESULTSMARK") < _index(paper, "REFMARK") < _index(paper, "APPENDIXMARK")


def test_page_numbers_on_blocks(paper):
    assert _block(paper, "LEFTCOLMARK").page == 1
    assert _block(paper, "RESULTSMARK").page == 2
    assert _block(paper, "REFMARK").page == 2
    assert _block(paper, "APPENDIXMARK").page == 3
    assert all(1 <= b.page <= 3 for b in paper.blocks)


def test_sections_and_paths(paper):
    assert _block(paper, "ABSTRACTMARK").section == "Abstract"
    assert _block(paper, "LEFTCOLMARK").section == "1 Introduction"
    assert _block(paper, "RIGHTCOLMARK").section == "2 Method"
    assert _block(paper, "DETAILSMARK").section == "2 Method › 2.1 Training Details"
    assert _block(paper, "RESULTSMARK").section == "3 Results"
    assert _block(paper, "REFMARK").section == "References"
    assert _block(paper, "APPENDIXMARK").section == "A Proofs"
    assert paper.blocks[0].section == ""  # the title block comes before any heading
    sections = {b.section for b in paper.blocks}
    # the equation line and the bold table rows are not headings
    assert not any("3 x + 2" in s or "Baseline" in s or "Widgets 40.5" in s for s in sections)
    assert any(b.text == "3 x + 2 = y" and b.section == "2 Method" for b in paper.blocks)


def test_kinds(paper):
    assert _block(paper, "REFMARK").kind == "references"
    assert _block(paper, "APPENDIXMARK").kind == "appendix"
    assert _block(paper, "RESULTSMARK").kind == "body"
    fig = _block(paper, "CAPTIONMARK")
    tab = _block(paper, "TABLECAPMARK")
    assert fig.kind == tab.kind == "caption"
    # captions are kept as text, on their own (not merged with the body around them)
    assert fig.text == "Figure 1: CAPTIONMARK A widget network reading a page."
    # a table's cells hang on its caption, one row a line, and stay out of the body text
    assert tab.text == "Table 1: TABLECAPMARK Accuracy of widget networks.\n1 Baseline 34.2 56.1\n2 Widgets 40.5 61.0"
    assert not any("34.2" in b.text for b in paper.blocks if b.kind != "caption")
    assert {b.kind for b in paper.blocks if b.section.startswith(("1 ", "2 ", "3 "))} <= {"body", "caption"}


def test_hyphenation_ligatures_and_whitespace(paper):
    text = " ".join(b.text for b in paper.blocks)
    assert "robust recognition of layout and careful normalization of the text" in text
    assert "recog-" not in text and "normaliza-" not in text
    assert "We find the flow effective and efficient." in text
    assert not any(ch in text for ch in "ﬁﬂﬀﬃﬄ")
    for b in paper.blocks:
        assert b.text == b.text.strip() and "  " not in b.text
        assert "\n" not in b.text or (b.kind == "caption" and b.text.startswith("Table"))  # table rows only


def test_running_headers_and_page_numbers_dropped(paper):
    assert not any(pf.HEADER in b.text for b in paper.blocks)
    assert not any(b.text.strip() in {"1", "2", "3"} for b in paper.blocks)


def test_clean_text_unit():
    assert clean_text("e\ufb03cient \ufb02ow\u00ad  of\u00a0\ufb01sh \ufb00 \ufb04") == "efficient flow of fish ff ffl"
    assert clean_text("Ma\u00b4nke  and  J\u00a8urgen G\u00a8ulc\u00b8ehre\n") == "Mańke and Jürgen Gülçehre"
    assert clean_text("Andr\u00b4e and germany\u00b4s laws") == "André and germany\u00b4s laws"
    assert clean_text("F(x)\ufffd+\ufffdx") == "F(x)+x"


def test_dehyphenation_uses_the_papers_vocabulary():
    from ingest.pdf_parse import _Dehyphenator

    d = _Dehyphenator([])
    d.words.update({"high-level": 2, "transformer": 3, "based": 4})
    assert d.join(["uses high-", "level features"]) == "uses high-level features"
    assert d.join(["a recog-", "nition task"]) == "a recognition task"
    assert d.join(["the state-of-the-", "art model"]) == "the state-of-the-art model"
    assert d.join(["English-", "to-German"]) == "English-to-German"
    assert d.join(["Berkeley-", "Parser"]) == "Berkeley-Parser"
    assert d.join(["at https://github.com/", "org/repo"]) == "at https://github.com/org/repo"
    assert d.join(["Transformer-", "based models"]) == "Transformer-based models"


# ----------------------------------------------------------------------------------------------- bad input


def _reason(source, **kw) -> str:
    with pytest.raises(PdfError) as exc:
        parse_pdf(source, **kw)
    reason = str(exc.value)
    assert reason and "\n" not in reason
    return reason


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    assert "empty (0 bytes)" in _reason(path)
    assert "empty (0 bytes)" in _reason(str(path))


def test_missing_file(tmp_path):
    assert "not found" in _reason(tmp_path / "nope.pdf")


def test_html_saved_as_pdf(tmp_path):
    path = tmp_path / "paper.pdf"
    path.write_bytes(b"<!DOCTYPE html>\n<html><head><title>Just a moment...</title></head><body></body></html>")
    assert "HTML" in _reason(path)
    assert "HTML" in _reason(b"\n\n<html lang='en'><body>captcha</body></html>")


def test_not_a_pdf_and_corrupt():
    assert "not a PDF" in _reason(b"\x00\x01\x02\x03" * 200)
    assert "corrupt" in _reason(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\nthis is not really a pdf at all\n")


def test_mupdf_repair_messages_stay_off_the_terminal(capfd):
    _reason(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nthis is not a pdf" + bytes(200))
    assert "MuPDF" not in capfd.readouterr().err
    assert pymupdf.TOOLS.mupdf_display_errors()  # the global setting is restored


def test_truncated_pdf_never_leaks_a_raw_exception():
    data = pf.two_column_paper()
    for cut in (len(data) // 3, len(data) // 2, len(data) - 200):
        try:
            parsed = parse_pdf(data[:cut])
        except PdfError as exc:
            assert str(exc)
        else:
            assert parsed.page_count >= 1


def test_encrypted_needs_password():
    reason = _reason(pf.encrypted_pdf())
    assert "encrypted" in reason and "password" in reason


def test_image_only_pdf():
    reason = _reason(pf.image_only_pdf())
    assert "no text layer (scanned/image-only PDF); OCR is not supported" in reason


def test_too_many_pages():
    data = pf.text_pages(6)
    reason = _reason(data, max_pages=5)
    assert "6 pages" in reason and "5" in reason and "parse.max_pages" in reason and "paperrag.toml" in reason
    assert parse_pdf(data, max_pages=6).page_count == 6


def test_min_text_chars_threshold_is_configurable():
    data = pf.text_pages(1, text="A short page, enough for the default threshold. ")
    assert parse_pdf(data).page_count == 1
    assert "no text layer" in _reason(data, min_text_chars_per_page=10_000)


def test_a_broken_page_is_skipped_not_fatal(monkeypatch):
    from ingest import pdf_parse

    real = pdf_parse._extract_page

    def flaky(page, number):
        if number == 2:
            raise RuntimeError("simulated MuPDF failure")
        return real(page, number)

    monkeypatch.setattr(pdf_parse, "_extract_page", flaky)
    parsed = parse_pdf(pf.two_column_paper())
    assert parsed.page_count == 3
    assert {b.page for b in parsed.blocks} == {1, 3}


def test_accepts_path_str_and_bytes(tmp_path):
    data = pf.text_pages(2)
    path = tmp_path / "p.pdf"
    path.write_bytes(data)
    a, b, c = parse_pdf(path), parse_pdf(str(path)), parse_pdf(data)
    assert [x.text for x in a.blocks] == [x.text for x in b.blocks] == [x.text for x in c.blocks]
    assert [x.section for x in a.blocks][-1] == "2 Section 2"


# ------------------------------------------------------------------------------------------ ../shared corpus


def test_edge_cases_parse_or_raise_pdferror(shared_dir):
    files = sorted((shared_dir / "corpus/pdfs/edge-cases").glob("*.pdf"))
    assert len(files) == 15
    ok = 0
    for f in files:
        try:
            parsed = parse_pdf(f)
        except PdfError as exc:
            assert str(exc) and "\n" not in str(exc)
            assert "could not be read (" not in str(exc), f"{f.name}: internal error: {exc}"
            continue
        ok += 1
        assert parsed.page_count >= 1
        assert all(b.text and b.page >= 1 for b in parsed.blocks)
    assert ok >= 1


def test_attention_paper_sections_kinds_stamp(shared_dir):
    parsed = parse_pdf(shared_dir / "corpus/pdfs/classic/1706.03762.pdf")
    assert parsed.title == "Attention Is All You Need"
    assert parsed.arxiv_stamp == "arXiv:1706.03762v5 [cs.CL] 6 Dec 2017"
    sections = list(dict.fromkeys(b.section for b in parsed.blocks))
    assert "3 Model Architecture" in {s.split(" › ")[0] for s in sections}
    assert "3 Model Architecture › 3.2 Attention › 3.2.1 Scaled Dot-Product Attention" in sections
    assert "Abstract" in sections and "7 Conclusion" in sections
    refs = [b for b in parsed.blocks if b.kind == "references"]
    assert refs and all(b.section == "References" for b in refs)
    assert any("Layer normalization" in b.text for b in refs)
    caps = [b for b in parsed.blocks if b.kind == "caption"]
    assert any(b.text.startswith("Figure 1: The Transformer") for b in caps)
    # no equation / table line became a heading
    assert not any(s[:1].isdigit() and "=" in s for s in sections)


def test_classic_section_lists(shared_dir):
    def sections(name):
        parsed = parse_pdf(shared_dir / "corpus/pdfs/classic" / name)
        return parsed, list(dict.fromkeys(b.section for b in parsed.blocks))

    parsed, secs = sections("resnet.pdf")
    assert "3 Deep Residual Learning › 3.1 Residual Learning" in secs
    assert "4 Experiments › 4.2 CIFAR-10 and Analysis" in secs
    assert any(b.kind == "appendix" and b.section.startswith("A Object Detection Baselines") for b in parsed.blocks)

    parsed, secs = sections("vit.pdf")
    assert {"1 INTRODUCTION", "3 METHOD", "5 CONCLUSION"} <= {s.split(" › ")[0] for s in secs}
    assert any(b.kind == "references" for b in parsed.blocks)
    assert any(b.kind == "appendix" and "MULTIHEAD SELF-ATTENTION" in b.section for b in parsed.blocks)

    parsed, secs = sections("2205.14135.pdf")
    tops = [s.split(" › ")[0] for s in secs]
    for want in ("1 Introduction", "2 Background", "4 Experiments", "References"):
        assert want in tops
    assert "3 FlashAttention: Algorithm, Analysis, and Extensions" in tops


def test_two_column_reading_order_on_a_real_paper(shared_dir):
    """On two-column pages, every left-column paragraph comes before every right-column paragraph of the page
    (positions taken straight from PyMuPDF, independently of the parser)."""
    path = shared_dir / "corpus/pdfs/qasper/1809.01202.pdf"
    parsed = parse_pdf(path)
    doc = pymupdf.open(path)
    checked = 0
    for pno in (1, 2, 6):  # pages 2, 3, 7: two columns of running text
        page = doc[pno]
        mid = page.rect.width / 2
        left, right = [], []
        for x0, _y0, x1, _y1, text, *_ in page.get_text("blocks"):
            key = clean_text(text)[:40]
            if len(key) < 40 or not key[0].isalpha():
                continue
            (left if x1 < mid else right if x0 > mid else []).append(key)

        def pos(key, page_no=pno + 1):
            hits = [i for i, b in enumerate(parsed.blocks) if b.page == page_no and key[:30] in b.text]
            return hits[0] if hits else None

        lpos = [p for p in map(pos, left) if p is not None]
        rpos = [p for p in map(pos, right) if p is not None]
        assert lpos and rpos, f"page {pno + 1}: column paragraphs not found in the parsed blocks"
        assert max(lpos) < min(rpos), f"page {pno + 1}: a right-column paragraph comes before a left-column one"
        checked += 1
    assert checked == 3


def test_table_cells_go_with_their_caption_not_into_the_paragraph():
    """A table between the two halves of a paragraph (caption below the table, as in ACL papers): its cells
    join the caption, and the paragraph reads on without a row of numbers in the middle."""
    parsed = parse_pdf(pf.table_paper())
    cap = _block(parsed, "STATSMARK")
    assert cap.kind == "caption"
    assert cap.text.split("\n") == ["Table 2: STATSMARK The statistics of the two datasets.", "Metric WoZ2.0 MultiWoZ",
                                     "Avg. turns 7.45 13.68", "Number of slots 3 35", "Training set size 600 8438"]
    body = [b for b in parsed.blocks if b.kind == "body"]
    assert not any("7.45" in b.text or "MultiWoZ" in b.text for b in body)
    first = next(i for i, b in enumerate(parsed.blocks) if b.text.endswith("It consists"))
    assert "CONTMARK" in parsed.blocks[first + 1].text and parsed.blocks[first + 1].text.startswith("of 1,200")


def test_prose_next_to_a_table_caption_stays_body():
    """Only table-like blocks are taken: the prose right after a caption is not a table row."""
    parsed = parse_pdf(pf.two_column_paper())
    after = _block(parsed, "The table shows consistent gains.")
    assert after.kind == "body" and "Baseline" not in after.text
