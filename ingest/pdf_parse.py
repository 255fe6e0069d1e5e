"""Full text of a paper PDF as Blocks in reading order, with page numbers, section paths and kinds.

One pass of PyMuPDF's ``dict`` extraction per page (ligatures decomposed, no images), then plain Python:

* **clean**: ligatures (ﬁ ﬂ ﬀ ﬃ ﬄ), soft hyphens, odd spaces, unknown glyphs (U+FFFD), spacing accents
  ("Ma´nke" → "Mańke"), whitespace.
* **dehyphenate**: line-end hyphens are resolved with the paper's own vocabulary ("recog-" + "nition" →
  "recognition", but "high-" + "level" stays "high-level" when the paper writes it so). MuPDF's
  TEXT_DEHYPHENATE is not used because it drops every line-end hyphen blindly ("multi-layer" → "multilayer").
* **furniture**: running headers/footers (text repeated in the page margins), page numbers, venue lines in
  the margins and the rotated arXiv side stamp are dropped; the stamp is kept in ``ParsedPdf.arxiv_stamp``.
* **reading order**: per page, two-column layout is detected from block x-positions; blocks that cross the
  gutter (title, abstract of one-column headers, wide figures and tables) cut the page into bands, and each
  band is read left column first, then right column.
* **sections**: numbered headings ("3.2 Attention", "A.1 Proofs", "Appendix B ...", "IV. RESULTS") need a
  heading style (bold or larger than the body font) and a plausible number sequence; unnumbered headings are
  either well-known names ("Abstract", "References", ...) or clearly larger bold/all-caps lines. Equations,
  table cells and figure labels fail those tests (symbols, digits, body-size, sequence).
* **kinds**: "references" from the bibliography heading on, "appendix" for appendix headings and whatever
  follows the references, "caption" for "Figure 3:" / "Table 2." / "Fig. 1" blocks.

Bad input raises :class:`PdfError` with a one-line reason that says what is wrong and what to do.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pymupdf

from ingest.pdf_inflation import first_bomb
from paperrag.errors import PaperragError
from paperrag.records import Block, ChunkKind, ParsedPdf

log = logging.getLogger(__name__)

__all__ = ["PdfError", "parse_pdf", "clean_text", "SECTION_SEP"]

SECTION_SEP = " › "

# Ligatures decomposed (no TEXT_PRESERVE_LIGATURES), no images, clip to the media box. No TEXT_DEHYPHENATE:
# see the module docstring.
_FLAGS = pymupdf.TEXT_MEDIABOX_CLIP


class PdfError(PaperragError, ValueError):
    """A PDF that cannot be ingested; ``str(exc)`` is one line naming the problem and the fix."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------------------------------- cleaning

_LIGATURES = {
    "\ufb00": "ff",
    "\ufb01": "fi",
    "\ufb02": "fl",
    "\ufb03": "ffi",
    "\ufb04": "ffl",
    "\ufb05": "st",
    "\ufb06": "st",
    "\u00ad": "",  # soft hyphen
    "\ufffd": "",  # glyph without a Unicode mapping (math symbols): carries nothing readable
    "\u200b": "",
    "\u200c": "",
    "\u200d": "",
    "\u2060": "",
    "\ufeff": "",
}
_LIG_TABLE = str.maketrans(_LIGATURES)
# Spacing accents that pdfTeX sets before the letter ("Ma´nke", "J¨urgen") -> combining marks, then NFC; the
# cedilla comes after its letter ("c¸"). "´s" at a word end is an apostrophe, not an accent.
_SPACING_ACCENTS = {
    "\u00b4": "\u0301",  # ´ acute
    "`": "\u0300",  # grave
    "\u00a8": "\u0308",  # ¨ diaeresis
    "\u02dc": "\u0303",  # ˜ tilde
    "\u02c6": "\u0302",  # ˆ circumflex
    "\u02c7": "\u030c",  # ˇ caron
    "\u02da": "\u030a",  # ˚ ring
}
_ACCENT_RE = re.compile(r"([\u00b4\u00a8\u02dc\u02c6\u02c7\u02da])([A-Za-z])|(`)([aeiouyAEIOUY])")
_CEDILLA_RE = re.compile(r"([CcSsTtGgKkLlNnRr])\u00b8")
_SPACE_RE = re.compile(r"[\s\x00-\x1f\x7f]+")


def _compose_accent(m: re.Match) -> str:
    accent, letter = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    if accent == "\u00b4" and letter == "s" and not _is_letter_at(m.string, m.end()):
        return m.group(0)  # "germany´s": an apostrophe
    combined = unicodedata.normalize("NFC", letter + _SPACING_ACCENTS[accent])
    return combined if len(combined) == 1 else m.group(0)


def _is_letter_at(s: str, i: int) -> bool:
    return i < len(s) and s[i].isalpha()


def _compose_cedilla(m: re.Match) -> str:
    combined = unicodedata.normalize("NFC", m.group(1) + "\u0327")
    return combined if len(combined) == 1 else m.group(0)


def clean_text(text: str) -> str:
    """Ligatures, soft hyphens, unknown glyphs, spacing accents, control chars; whitespace collapsed."""
    if not text.isascii():
        text = text.translate(_LIG_TABLE)
        text = _ACCENT_RE.sub(_compose_accent, text)
        if "\u00b8" in text:
            text = _CEDILLA_RE.sub(_compose_cedilla, text)
    elif "`" in text:
        text = _ACCENT_RE.sub(_compose_accent, text)
    return _SPACE_RE.sub(" ", text).strip()


# ------------------------------------------------------------------------------------------------ patterns

_STAMP_RE = re.compile(
    r"arXiv:\s*((?:[a-z\-]+(?:\.[A-Z]{2})?/)?\d{4}\.?\d{3,5}(?:v\d+)?)\s*\[\s*([^\]]+?)\s*\]\s*"
    r"(\d{1,2}\s+[A-Z][a-z]{2,8}\.?\s+\d{4})"
)
_PAGE_NUM_RE = re.compile(
    r"^(?:page\s*)?(?:\d{1,4}|[ivxlc]{1,7})(?:\s*(?:/|of)\s*\d{1,4})?$|^[-–—]\s*\d{1,4}\s*[-–—]$", re.I
)
_VENUE_RE = re.compile(
    r"^(?:\d{1,2}(?:st|nd|rd|th)\s+)?(?:conference|proceedings|workshop|published|preprint|under review|"
    r"accepted|submitted|copyright|©|arxiv preprint|in proceedings|journal of|transactions on|"
    r"workshop on|icml|iclr|neurips|nips|acl|emnlp|naacl)\b",
    re.I,
)
_CAPTION_RE = re.compile(
    r"^(?:Supplementary\s+|Extended\s+Data\s+|Supp\.\s*)?(?:Figure|FIGURE|Fig\.?|FIG\.?|Table|TABLE|Tab\.|"
    r"Algorithm|ALGORITHM|Listing|Chart|Exhibit)\s*(?:S?\d{1,3}|[A-Z]\.?\d{1,3}|[IVX]{1,5})[a-z]?"
    r"(?:\s*[:.|—–]|\s+-\s)"
)
_CAPTION_LABEL_RE = re.compile(
    r"^(?:Figure|FIGURE|Fig\.?|Table|TABLE|Algorithm|Listing)\s*(?:S?\d{1,3}|[A-Z]\.?\d{1,3})[a-z]?\b"
)
# "3", "3.2", "3.2.1", "A", "A.1", "IV" (+ optional trailing dot), then the title.
_NUMBERED_RE = re.compile(
    r"^(?P<app>(?:Appendix|APPENDIX|Supplementary|SUPPLEMENTARY)\s+)?"
    r"(?P<num>\d{1,2}(?:\.\d{1,2}){0,3}|[A-Z](?:\.\d{1,2}){0,3}|[IVX]{1,5})(?P<dot>\.|:)?\s+(?P<title>\S.*)$"
)
_KNOWN_RE = re.compile(
    r"^(?P<name>abstract|(?:table of )?contents|references|bibliography|literature cited|works cited|"
    r"acknowledge?ments?|"
    r"acknowledgements? and disclosure of funding|appendix|appendices|supplementary(?: materials?)?|"
    r"supplemental(?: materials?)?|supplementary information|introduction|conclusions?|related works?|"
    r"discussion|limitations|broader impacts?(?: statement)?|ethics statement|ethical considerations|"
    r"reproducibility statement|impact statement|author contributions|contributions|funding|"
    r"declaration of competing interest|conflicts? of interest|background|methods|results|"
    r"materials and methods|summary|future work|conclusions? and future work|experiments|experimental setup|"
    r"experimental results|evaluation|approach|method|methodology|preliminaries|analysis|keywords|"
    r"index terms|ccs concepts|nomenclature)(?:\s*[:.])?$",
    re.I,
)
_STRUCTURAL_RE = re.compile(r"^(abstract|references|bibliography|acknowledge?ments?|appendix|appendices)$", re.I)
_REFS_RE = re.compile(r"^(references|bibliography|literature cited|works cited)$", re.I)
_APPX_RE = re.compile(r"^(appendix|appendices|supplementary|supplemental)\b", re.I)
_RUNIN_RE = re.compile(
    r"^(Abstract|ABSTRACT|Acknowledge?ments?|ACKNOWLEDGE?MENTS?)(?:\s*(?:[:.—–]|-{1,2})\s*|\s+)(?=\S)"
)
_BOLD_FONT_RE = re.compile(r"bold|black|heavy|semibold|demi|medi|cmbx|sfbx|bx\d|\.b$|-b$", re.I)
_WORD_RE = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")
_SUFFIXES = {
    "ing", "ings", "ed", "er", "ers", "est", "ion", "ions", "tion", "tions", "sion", "ity", "ities", "ment",
    "ments", "ness", "ly", "al", "ally", "ic", "ical", "ive", "ives", "ize", "izes", "ized", "ise", "able",
    "ible", "ance", "ence", "ant", "ent", "ous", "ful", "less", "ship", "ism", "ist", "ists", "ure", "ures",
    "ate", "ates", "ated", "ation", "ations", "age", "ary", "ory", "ing.", "ies", "es", "s", "en", "le",
}
_TOC_RE = re.compile(r"^(?:\d+(?:\.\d+)*|[A-Z](?:\.\d+)*)\.?\s+([A-Za-z].*?)(?:\s*(?:\.\s*){2,}|\s+|…+)\d{1,3}$")
_ENDS_SENTENCE_RE = re.compile(r"[.!?:][\"'”’)\]]*$")
_OPEN_END_RE = re.compile(r"(?:^|\s)[a-z][a-z\-]*,?$")  # ends in a plain lower-case word: mid-sentence
_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7, "VIII": 8, "IX": 9, "X": 10,
          "XI": 11, "XII": 12, "XIII": 13, "XIV": 14, "XV": 15}


# ---------------------------------------------------------------------------------------------- structures


@dataclass(slots=True)
class _Line:
    """A visual line: PyMuPDF lines of one block that share a baseline, left to right."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    size: float  # char-weighted font size
    bold: float  # fraction of characters in a bold font
    chars: int
    big: float = 0.0  # largest span size (small-caps headings: large initials, smaller rest)
    font: str = ""  # font of the longest span


@dataclass(slots=True)
class _Blk:
    lines: list[_Line]
    x0: float
    y0: float
    x1: float
    y1: float
    page: int  # 1-based
    col: int = 0  # 0 full width / single column, 1 left, 2 right
    table_rows: list[str] = field(default_factory=list)  # a table caption's cells, one visual row a line

    @property
    def text(self) -> str:
        return " ".join(ln.text for ln in self.lines)


@dataclass
class _Page:
    number: int
    width: float
    height: float
    blocks: list[_Blk] = field(default_factory=list)
    rotated_text: list[str] = field(default_factory=list)  # non-horizontal lines (stamps, axis labels)
    chars: int = 0
    rotated_page: bool = False
    toc: bool = False  # a table of contents: its lines look like headings but are not
    col_stats: tuple[int, int, int] = (0, 0, 0)
    col_bounds: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # left, gutter left/right, right


@dataclass
class _Heading:
    level: int
    text: str
    size: float


# ------------------------------------------------------------------------------------------------- loading


def _read_source(source: str | Path | bytes | bytearray | memoryview) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "PDF data"
    path = Path(source)
    name = path.name or str(path)
    try:
        if not path.exists():
            raise PdfError(f"file not found: {path}; check the path")
        if path.is_dir():
            raise PdfError(f"{path} is a folder, not a PDF file; pass the PDF file itself")
        return path.read_bytes(), name
    except PdfError:
        raise
    except OSError as exc:
        raise PdfError(f"cannot read {path}: {exc.strerror or exc}; check the file's permissions") from exc


def _sniff(data: bytes, name: str) -> bool:
    """Reject what is clearly not a PDF; True when the %PDF header is there."""
    if not data:
        raise PdfError(f"{name} is empty (0 bytes): the download failed or was cut off; fetch the PDF again")
    if b"%PDF-" in data[:1024]:
        return True
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")) or b"<html" in head:
        raise PdfError(
            f"{name} is not a PDF but an HTML page (often an error, login or captcha page saved as .pdf); "
            "download the PDF itself again"
        )
    return False


def _open(data: bytes, name: str, max_pages: int, has_header: bool, max_stream_mb: float) -> pymupdf.Document:
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except Exception as exc:  # pymupdf raises FileDataError, RuntimeError, ValueError ...
        if not has_header:
            raise PdfError(
                f"{name} is not a PDF (no %PDF header, unreadable as PDF); check the file and fetch the PDF again"
            ) from exc
        raise PdfError(f"{name} is corrupt or not a readable PDF ({_short(exc)}); fetch the PDF again") from exc
    try:
        if doc.needs_pass:
            raise PdfError(
                f"{name} is encrypted and needs a password; save an unencrypted copy (e.g. print to PDF) and add that"
            )
        n = doc.page_count
    except PdfError:
        doc.close()
        raise
    except Exception as exc:
        doc.close()
        raise PdfError(f"{name} is corrupt or not a readable PDF ({_short(exc)}); fetch the PDF again") from exc
    if n <= 0:
        doc.close()
        raise PdfError(f"{name} has no pages (corrupt or truncated PDF); fetch the PDF again")
    if n > max_pages:
        doc.close()
        raise PdfError(
            f"{name} has {n} pages, more than the limit of {max_pages}; raise parse.max_pages in paperrag.toml "
            "to ingest it"
        )
    limit = int(max_stream_mb * 1024 * 1024)
    if bomb := first_bomb(doc, limit):
        doc.close()
        raise PdfError(
            f"{name} holds a compressed stream (object {bomb[0]}) that inflates to more than {max_stream_mb:g} MB: "
            "a decompression bomb or a damaged file, not read; if it is a genuine paper, raise "
            "parse.max_stream_mb in paperrag.toml"
        )
    return doc


def _short(exc: BaseException) -> str:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    return msg[:160]


# ---------------------------------------------------------------------------------------------- extraction


def _is_bold(span: dict) -> bool:
    return bool(span["flags"] & 16) or bool(_BOLD_FONT_RE.search(span["font"]))


def _extract_page(page: pymupdf.Page, number: int) -> _Page:
    rect = page.rect
    out = _Page(number=number, width=rect.width or 612.0, height=rect.height or 792.0)
    d = page.get_text("dict", flags=_FLAGS)
    horiz_chars = 0
    rot_chars = 0
    rotated_blocks: list[_Blk] = []
    for b in d.get("blocks", ()):
        if b.get("type", 0) != 0:
            continue
        vlines: list[_Line] = []
        rlines: list[_Line] = []
        for ln in b.get("lines", ()):
            spans = ln.get("spans") or ()
            text = "".join(s["text"] for s in spans)
            if not text or text.isspace():
                continue
            n = 0
            size_sum = 0.0
            bold = 0
            big = 0.0
            font = ""
            longest = 0
            for s in spans:
                k = len(s["text"])
                n += k
                size_sum += s["size"] * k
                if _is_bold(s):
                    bold += k
                if s["size"] > big and not s["text"].isspace():
                    big = s["size"]
                if k > longest:
                    longest = k
                    font = s["font"]
            x0, y0, x1, y1 = ln["bbox"]
            line = _Line(text, x0, y0, x1, y1, size_sum / n if n else 0.0, bold / n if n else 0.0, n, big, font)
            dx, dy = ln.get("dir", (1.0, 0.0))
            if abs(dy) > 0.1 or dx < 0:
                rot_chars += n
                out.rotated_text.append(text)
                rlines.append(line)
                continue
            horiz_chars += n
            vl = vlines[-1] if vlines else None
            if vl is not None and _same_baseline(vl, line):
                gap = line.x0 - vl.x1
                sep = "" if -1.0 < gap < 0.12 * max(line.size, 1.0) else " "
                if line.x0 >= vl.x0:
                    vl.text = vl.text + sep + line.text
                else:
                    vl.text = line.text + sep + vl.text
                tot = vl.chars + line.chars
                vl.size = (vl.size * vl.chars + line.size * line.chars) / tot
                vl.bold = (vl.bold * vl.chars + line.bold * line.chars) / tot
                vl.chars = tot
                vl.big = max(vl.big, line.big)
                if line.chars > vl.chars - line.chars:
                    vl.font = line.font
                vl.x0, vl.y0 = min(vl.x0, line.x0), min(vl.y0, line.y0)
                vl.x1, vl.y1 = max(vl.x1, line.x1), max(vl.y1, line.y1)
            else:
                vlines.append(line)
        if vlines:
            out.blocks.append(_block(vlines, number))
        if rlines:
            rotated_blocks.append(_block(rlines, number))
    out.chars = horiz_chars + rot_chars
    if rot_chars > 2 * horiz_chars and rot_chars > 200:
        # A landscape table or page set sideways: its text is the content, keep it in extraction order.
        out.rotated_page = True
        out.blocks.extend(rotated_blocks)
    return out


def _same_baseline(a: _Line, b: _Line) -> bool:
    """b continues visual line a: they overlap vertically and sit side by side."""
    overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
    if overlap <= 0.5 * min(a.y1 - a.y0, b.y1 - b.y0):
        return False
    return b.x0 >= a.x1 - 2.0 or b.x1 <= a.x0 + 2.0


def _block(lines: list[_Line], page: int) -> _Blk:
    return _Blk(
        lines=lines,
        x0=min(ln.x0 for ln in lines),
        y0=min(ln.y0 for ln in lines),
        x1=max(ln.x1 for ln in lines),
        y1=max(ln.y1 for ln in lines),
        page=page,
    )


# ----------------------------------------------------------------------------------------------- furniture


def _norm_key(text: str) -> str:
    return re.sub(r"\d+", "#", _SPACE_RE.sub(" ", text.lower())).strip()


def _strip_furniture(pages: list[_Page]) -> None:
    """Drop running headers/footers, page numbers and margin venue lines."""
    zone_counts: Counter[str] = Counter()
    for pg in pages:
        seen = set()
        for b in pg.blocks:
            if _in_margin(b, pg):
                k = _norm_key(b.text)
                if k and k not in seen:
                    seen.add(k)
                    zone_counts[k] += 1
    n = len(pages)
    min_repeat = 2 if n <= 4 else 3
    for pg in pages:
        if pg.rotated_page:
            continue
        keep = []
        for b in pg.blocks:
            if _in_margin(b, pg):
                text = clean_text(b.text)
                if (
                    _PAGE_NUM_RE.match(text)
                    or zone_counts[_norm_key(b.text)] >= min_repeat
                    or (_VENUE_RE.match(text) and len(text) < 250)
                    or _STAMP_RE.search(text)
                ):
                    continue
            keep.append(b)
        pg.blocks = keep


def _in_margin(b: _Blk, pg: _Page) -> bool:
    return (b.y1 <= 0.085 * pg.height or b.y0 >= 0.915 * pg.height) and len(b.lines) <= 3


# ------------------------------------------------------------------------------------------------ tables

_TABLE_CAPTION_RE = re.compile(
    r"^(?:Supplementary\s+|Supp\.\s*)?(?:Table|TABLE|Tab\.)\s*(?:S?\d{1,3}|[A-Z]\.?\d{1,3}|[IVX]{1,5})[a-z]?"
    r"(?:\s*[:.|—–]|\s+-\s|\s*$)"
)
_CELL_NUM_RE = re.compile(r"^[(\[]?[-+±−–]?\d[\d.,]*(?:[%×x]|pp)?[)\]*†‡]*$|^[-–—✓✗]$")
_TABLE_GAP = 24.0  # points between a caption and its table, or between two blocks of one table


def _table_like(b: _Blk) -> bool:
    """Table cells rather than prose: almost no function words, or many numbers and few function words."""
    if _CAPTION_RE.match(b.lines[0].text.lstrip()):
        return False
    toks = b.text.split()
    if not toks:
        return False
    fw = sum(t.lower().strip(".,;:()") in _FUNCTION_WORDS for t in toks) / len(toks)
    num = sum(bool(_CELL_NUM_RE.match(t)) for t in toks) / len(toks)
    return fw < 0.08 or (num >= 0.2 and fw < 0.2)


def _x_overlap(a: _Blk, b: _Blk) -> bool:
    ov = min(a.x1, b.x1) - max(a.x0, b.x0)
    return ov > 0.3 * min(a.x1 - a.x0, b.x1 - b.x0)


def _table_chain(cap: _Blk, cands: list[_Blk], up: bool) -> list[_Blk]:
    """The table-like blocks stacked directly above (`up`) or below a caption, each within _TABLE_GAP of the
    previous one; blocks side by side at the same height (a table PyMuPDF cut into column blocks) come along."""
    chain: list[_Blk] = []
    edge = cap.y0 if up else cap.y1
    while True:
        step = [
            b for b in cands
            if b not in chain and _x_overlap(b, cap)
            and ((edge - b.y1) if up else (b.y0 - edge)) >= -2.0
            and ((edge - b.y1) if up else (b.y0 - edge)) <= _TABLE_GAP
        ]
        if not step:
            return chain
        chain.extend(step)
        edge = min(b.y0 for b in step) if up else max(b.y1 for b in step)


def _attach_tables(pages: list[_Page]) -> None:
    """Take the cells of each table out of the text flow and hang them on the table's caption.

    PyMuPDF returns a table's cells as ordinary text blocks; read in order they land inside the paragraphs
    around them (a sentence cut in two by a row of numbers) and the caption is left alone without its numbers.
    A block is a table's when it is table-like (`_table_like`) and stacked against a "Table N" caption in the
    same column. Whether tables sit above or below their captions is the paper's convention, decided by the
    captions that have a table on one side only.
    """
    plans = []
    up_votes = down_votes = 0
    for pg in pages:
        if pg.rotated_page:
            continue
        caps = [b for b in pg.blocks if _TABLE_CAPTION_RE.match(b.lines[0].text.lstrip())]
        if not caps:
            continue
        cands = [b for b in pg.blocks if b not in caps and _table_like(b)]
        for cap in caps:
            up, down = _table_chain(cap, cands, True), _table_chain(cap, cands, False)
            up_votes += bool(up) and not down
            down_votes += bool(down) and not up
            plans.append((pg, cap, cands))
    if not plans:
        return
    table_above = up_votes >= down_votes
    taken: set[int] = set()
    for pg, cap, cands in plans:
        free = [b for b in cands if id(b) not in taken]
        chain = _table_chain(cap, free, table_above) or _table_chain(cap, free, not table_above)
        if not chain:
            continue
        taken.update(id(b) for b in chain)
        cap.table_rows = [ln.text for b in sorted(chain, key=lambda b: (b.y0, b.x0)) for ln in b.lines]
    if taken:
        for pg in pages:
            pg.blocks = [b for b in pg.blocks if id(b) not in taken]


# ------------------------------------------------------------------------------------------- reading order


def _assign_columns(pg: _Page) -> tuple[int, int, int]:
    """Set b.col (1 left, 2 right, 0 across the gutter) for every block; return (left, right, total) chars."""
    blocks = pg.blocks
    if not blocks:
        return 0, 0, 0
    xs0 = sorted(b.x0 for b in blocks)
    xs1 = sorted(b.x1 for b in blocks)
    left = xs0[len(xs0) // 20]
    right = xs1[-1 - len(xs1) // 20]
    if right - left < 0.3 * pg.width:
        left, right = 0.0, pg.width
    mid = (left + right) / 2
    tol = 0.012 * pg.width
    wide = 0.3 * (right - left)
    # First pass: which side of the page centre each block lies on.
    l_x1 = [b.x1 for b in blocks if b.x1 <= mid + tol and b.x1 - b.x0 > wide]
    r_x0 = [b.x0 for b in blocks if b.x0 >= mid - tol and b.x1 - b.x0 > wide]
    # The gutter as the columns themselves draw it: blocks may poke into it without being full width.
    gut_l = sorted(l_x1)[len(l_x1) // 2] if l_x1 else mid
    gut_r = sorted(r_x0)[len(r_x0) // 2] if r_x0 else mid
    if gut_r < gut_l:
        gut_l = gut_r = mid
    pg.col_bounds = (left, gut_l, gut_r, right)
    lchars = rchars = total = 0
    for b in blocks:
        c = sum(ln.chars for ln in b.lines)
        total += c
        if b.x1 <= gut_r + 2.0:
            b.col = 1
            lchars += c
        elif b.x0 >= gut_l - 2.0:
            b.col = 2
            rchars += c
        else:
            b.col = 0
    return lchars, rchars, total


def _order_page(pg: _Page, two_col_doc: bool) -> list[_Blk]:
    blocks = pg.blocks
    if len(blocks) <= 1 or pg.rotated_page:
        return list(blocks)
    lchars, rchars, total = pg.col_stats
    share = 0.2 if not two_col_doc else 0.05
    two_col = total > 0 and lchars >= share * total and rchars >= share * total
    if not two_col:
        for b in blocks:
            b.col = 0
        return sorted(blocks, key=lambda b: (round(b.y0 / 3), b.x0))
    # Blocks across the gutter (title, one-column abstract, wide figures/tables) cut the page into bands;
    # each band is read left column, then right column.
    out: list[_Blk] = []
    band: list[_Blk] = []
    for b in sorted(blocks, key=lambda b: (b.y0, b.x0)):
        if b.col == 0:
            band.sort(key=lambda b: (b.col, b.y0, b.x0))
            out.extend(band)
            band.clear()
            out.append(b)
        else:
            band.append(b)
    band.sort(key=lambda b: (b.col, b.y0, b.x0))
    out.extend(band)
    return out


# ------------------------------------------------------------------------------------------ dehyphenation


class _Dehyphenator:
    def __init__(self, pages: list[_Page]):
        # The paper's own vocabulary, without the fragments of words broken at a line end.
        words: Counter[str] = Counter()
        findall = _WORD_RE.findall
        for pg in pages:
            for b in pg.blocks:
                broken = False
                for ln in b.lines:
                    text = ln.text.rstrip()
                    found = findall(text)
                    lo = 1 if broken and found else 0
                    broken = text.endswith(("-", "\u2010"))
                    hi = len(found) - 1 if broken else len(found)
                    for w in found[lo:hi]:
                        words[w.lower()] += 1
        self.words = words

    def join(self, lines: list[str]) -> str:
        """Join the lines of one paragraph: spaces, except across a line-end hyphen or a broken URL."""
        if len(lines) == 1:
            return lines[0]
        out = [lines[0]]
        for nxt in lines[1:]:
            prev = out[-1]
            if not nxt:
                continue
            if len(prev) >= 2 and prev[-1] in "-\u2010" and prev[-2].isdigit() and nxt[0].isalpha():
                out[-1] = prev + nxt  # "152-" + "layer"
            elif len(prev) >= 2 and prev[-1] in "-\u2010" and prev[-2].isalpha():
                if nxt[0].islower() and self._drop_hyphen(prev, nxt):
                    out[-1] = prev[:-1] + nxt
                else:
                    out[-1] = prev + nxt  # "Berkeley-" + "Parser", "state-of-the-" + "art"
            elif prev[-1:] == "/" and re.search(r"(?:https?://|www\.)\S*/$", prev):
                out[-1] = prev + nxt  # URL broken after a slash
            else:
                out[-1] = prev + " " + nxt
        return out[0]

    def _drop_hyphen(self, prev: str, nxt: str) -> bool:
        """True when "left-" + "right" at a line end is one word hyphenated by the typesetter."""
        lm = re.search(r"([A-Za-z]+(?:-[A-Za-z]+)*)-$", prev)
        rm = re.match(r"([A-Za-z]+)(-?)", nxt)
        if not lm or not rm:
            return True
        left_full = lm.group(1)
        if "-" in left_full or rm.group(2) or prev[lm.start() - 1 : lm.start()] == "/":
            return False  # "state-of-the-" + "art", "English-" + "to-German", "low/mid/high-" + "level"
        left = left_full.lower()
        right = rm.group(1).lower()
        words = self.words
        if words.get(f"{left}-{right}", 0) > 0:
            return False
        if words.get(left + right, 0) > 0:
            return True
        if right in _SUFFIXES:
            return True
        if left_full[0].isupper() and not left_full.isupper() and len(left) >= 3 and words.get(right, 0) > 0:
            return False  # "Transformer-" + "based"
        if words.get(left, 0) > 0 and words.get(right, 0) > 0 and len(left) >= 3 and len(right) >= 3:
            return False  # "high-" + "level", "back-" + "propagation"
        return True


def _is_toc_page(pg: _Page) -> bool:
    """A table of contents: many "2.1 Title ..... 5" lines (not table rows: those are mostly numbers)."""
    lines = [ln.text.strip() for b in pg.blocks for ln in b.lines]
    hits = 0
    for text in lines:
        m = _TOC_RE.match(text)
        if m:
            title = m.group(1).replace(" ", "").replace(".", "")
            if title and sum(c.isalpha() for c in title) >= 0.7 * len(title):
                hits += 1
    titled = any(t.lower() in ("contents", "table of contents") for t in lines)
    return hits >= 6 and (hits >= 0.3 * len(lines) or titled)


def _prose(text: str) -> bool:
    words = text.split()
    return sum(1 for w in words if w.strip(".,;:()[]\"'").isalpha()) >= 0.6 * len(words)


_FUNCTION_WORDS = frozenset(
    "a an the of on in to and or nor for with by from at as is are was were be been being that which this these "
    "those its their our we than into onto via between among under over such both either whether while when "
    "where how what who whose whom not also very more most less each every all any some can could may might "
    "will would should must has have had do does did it his her they them there then so but if because "
    "although though per without within upon about across after before during through toward towards".split()
)
_FOOTNOTE_RE = re.compile(r"^(?:[\d∗*†‡§¶]+)\s?[A-Za-z]")


def _rejoin_paragraphs(blocks: list[Block]) -> list[Block]:
    """Move what interrupts a paragraph at a column or page break (footnotes, figure labels, tables, margin
    notes) after the paragraph's continuation. A paragraph is interrupted when it ends in a lower-case word;
    its continuation is the next block of its section and kind, within a page, that starts in lower case, or,
    when it ends in a function word ("the", "of", ...), the next prose block that is not a footnote."""
    out = list(blocks)
    n = len(out)
    for i in range(n):
        a = out[i]
        if a.kind not in ("body", "appendix") or len(a.text) < 100:
            continue
        m = _OPEN_END_RE.search(a.text)
        if not m or not _prose(a.text):
            continue
        strong = m.group(0).strip().rstrip(",") in _FUNCTION_WORDS
        for j in range(i + 1, min(n, i + 40)):
            b = out[j]
            if b.section != a.section or b.page - a.page > 1:
                break
            if b.kind != a.kind or len(b.text) < 30:
                continue
            if b.text[:1].islower() or (
                strong and len(b.text) >= 50 and _prose(b.text) and not _FOOTNOTE_RE.match(b.text)
            ):
                if j > i + 1:
                    out[i + 1 : j + 1] = [b] + out[i + 1 : j]
                break
    return out


# -------------------------------------------------------------------------------------------- sectioning


class _Sectioner:
    """Walks ordered blocks, splits off headings and captions, tracks the section path and the kind."""

    def __init__(
        self, body_size: float, dehyph: _Dehyphenator, left_edges: list[float], heading_fonts: set[str] | None = None
    ):
        self.body = body_size
        self.heading_fonts = heading_fonts or set()
        self.dehyph = dehyph
        self.left_edges = left_edges
        self.stack: list[_Heading] = []
        self.mode: ChunkKind = "body"
        self.last_top: int | None = None  # last top-level section number (digits)
        self.last_letter: str | None = None
        self.last_roman: int | None = None
        self.sub_letter: str | None = None  # IEEE "A." subsections under a roman section
        self.seen_heading = False
        self.after_refs = False
        self.out: list[Block] = []
        self.cap_open: Block | None = None  # last caption block, for continuation lines

    # ---- style helpers
    def _styled(self, lines: list[_Line]) -> bool:
        chars = sum(ln.chars for ln in lines) or 1
        bold = sum(ln.bold * ln.chars for ln in lines) / chars
        size = sum(ln.size * ln.chars for ln in lines) / chars
        if bold >= 0.8 or size >= self.body + 0.9:
            return True
        # Small caps: large initials, the rest about body size, all upper case.
        big = max(ln.big for ln in lines)
        letters = [c for ln in lines for c in ln.text if c.isalpha()]
        return big >= self.body + 0.9 and bool(letters) and sum(c.isupper() for c in letters) >= 0.9 * len(letters)

    def _size(self, lines: list[_Line]) -> float:
        chars = sum(ln.chars for ln in lines) or 1
        return sum(ln.size * ln.chars for ln in lines) / chars

    def _bold(self, lines: list[_Line]) -> float:
        chars = sum(ln.chars for ln in lines) or 1
        return sum(ln.bold * ln.chars for ln in lines) / chars

    # ---- heading tests
    def _heading(self, text: str, lines: list[_Line], whole_block: bool, blk: _Blk, pg: _Page):
        """(level, normalised text, kind-switch) when the lines are a heading, else None."""
        if len(text) > 140 or len(text) < 3:
            return None
        if text.endswith((",", ";")) or "=" in text:
            return None
        styled = self._styled(lines)
        size = self._size(lines)
        km = _KNOWN_RE.match(text)
        if km:
            name = km.group("name")
            alpha = text.rstrip(":.").strip()
            if name.lower() in ("abstract", "introduction") and (
                self.last_top is not None or self.last_roman is not None or self.after_refs
            ):
                return None  # a page shown inside a figure, not this paper's abstract
            if styled:
                return 1, alpha, name
            # Unstyled: only the structural names, alone in their block, where a heading would sit.
            if (
                whole_block
                and _STRUCTURAL_RE.match(name)
                and (alpha.isupper() or alpha.istitle())
                and self._aligned(blk, pg)
            ):
                return 1, alpha, name
            return None
        m = _NUMBERED_RE.match(text)
        if m:
            return self._numbered(m, size, styled, whole_block)
        # Unnumbered, unknown: bold and larger than the body (or much larger and all caps), after the first
        # heading, left-aligned or centred.
        if not self.seen_heading:
            return None
        bold = self._bold(lines) >= 0.8
        if not ((bold and size >= self.body + 0.5) or (size >= self.body + 1.4 and text.isupper())):
            return None
        if not self._title_like(text, max_words=10) or text.endswith((".", ":")):
            return None
        if not self._aligned(blk, pg):
            return None
        if self.heading_fonts and not any(ln.font in self.heading_fonts for ln in lines):
            return None  # a label in a figure, set in some other font
        return self._unnumbered_level(size), text, None

    def _title_like(self, title: str, max_words: int = 16) -> bool:
        if not title:
            return False
        words = title.split()
        if not (title[0].isupper() or title[0].isdigit() or any(c.isupper() for c in words[0][1:])):
            return False  # "bAbI" and "iPhone" may start a heading, "and so on" not
        if len(words) > max_words:
            return False
        nonspace = [c for c in title if not c.isspace()]
        alpha = sum(c.isalpha() for c in nonspace)
        if alpha < 0.7 * len(nonspace):
            return False
        if sum(1 for w in words if re.fullmatch(r"[\d.,%±()]+", w)) >= 2:
            return False
        if re.search(r"[=<>∑∫√±×∈≤≥→←∀∃^_{}\\]", title):
            return False
        return True

    def _aligned(self, blk: _Blk, pg: _Page) -> bool:
        """At a usual left edge, or centred on the page or in its column (figure labels are neither)."""
        if any(abs(blk.x0 - e) <= 4 for e in self.left_edges):
            return True
        centre = (blk.x0 + blk.x1) / 2
        tol = 0.04 * pg.width
        if abs(centre - pg.width / 2) < tol:
            return True
        left, gut_l, gut_r, right = pg.col_bounds
        if blk.col == 1:
            return abs(centre - (left + gut_l) / 2) < tol
        if blk.col == 2:
            return abs(centre - (gut_r + right) / 2) < tol
        return False

    def _numbered(self, m: re.Match, size: float, styled: bool, whole_block: bool):
        num = m.group("num")
        title = m.group("title").strip()
        app = m.group("app")
        dot = m.group("dot")
        if not self._title_like(title) or (title.endswith(".") and not app and (not styled or len(title.split()) > 12)):
            return None
        parts = num.split(".")
        level = len(parts)
        head = parts[0]
        label = f"{app or ''}{num} {title}"
        if app:
            if not (styled or whole_block):
                return None
            if head.isalpha():
                self.last_letter = head
            return level, label, "appendix"
        # IEEE style: "IV. RESULTS" (small caps, often not bold), then "A. Subsection" (italic).
        if head in _ROMAN and dot == "." and level == 1 and (len(head) > 1 or head in "IVX"):
            r = _ROMAN[head]
            if (styled or title.isupper()) and (
                (self.last_roman is None and r <= 2) or (self.last_roman is not None and 0 <= r - self.last_roman <= 2)
            ):
                self.last_roman = r
                self.sub_letter = None
                return 1, f"{num}. {title}", None
        if head.isdigit():
            if not styled:
                return None
            if self.mode == "references" and size < self.body + 0.9:
                return None
            top = int(head)
            if self.last_top is None:
                ok = top <= 2 or (self.after_refs and top <= 3)
            else:
                ok = self.last_top <= top <= self.last_top + 2
                if not ok and self.mode == "appendix" and top <= 2:
                    ok = True  # appendix numbering restarts
            if level > 1 and self.last_top is not None and top not in (self.last_top, self.last_top + 1):
                ok = False
            if not ok:
                return None
            self.last_top = top
            return level, label, None
        if len(head) == 1 and head.isalpha():
            if self.last_roman is not None and not self.after_refs and level == 1 and dot == "." and whole_block:
                prev = self.sub_letter
                if (prev is None and head == "A") or (prev is not None and ord(head) - ord(prev) in (0, 1)):
                    self.sub_letter = head
                    return 2, label, None
                return None
            if not styled:
                return None
            prev = self.last_letter
            seq_ok = prev is not None and (head == prev or ord(head) == ord(prev) + 1)
            start_ok = prev is None and head == "A"
            context = self.after_refs or self.mode == "appendix" or level > 1 or bool(dot)
            if (seq_ok and (context or prev is not None)) or (start_ok and context) or (
                start_ok and self.last_top is not None and self.last_top >= 2 and size >= self.body + 0.9
            ):
                self.last_letter = head
                return level, label, "appendix"
        return None

    def _unnumbered_level(self, size: float) -> int:
        level = 1
        for h in self.stack:
            if h.size > size + 0.5:
                level = h.level + 1
        return min(level, 4)

    # ---- state
    def _push(self, level: int, text: str, size: float, switch: str | None) -> None:
        while self.stack and self.stack[-1].level >= level:
            self.stack.pop()
        self.stack.append(_Heading(level, text, size))
        self.seen_heading = True
        self.cap_open = None
        if switch and _REFS_RE.match(switch.strip()):
            self.mode = "references"
            self.after_refs = True
            self.stack = [_Heading(1, text, size)]
        elif switch == "appendix" or (switch and _APPX_RE.match(switch)):
            self.mode = "appendix"
        elif self.after_refs and self.mode == "references":
            self.mode = "appendix"

    @property
    def section(self) -> str:
        return SECTION_SEP.join(h.text for h in self.stack)

    def _emit(self, text: str, page: int, kind: ChunkKind, *, clean: bool = True) -> None:
        if clean:
            text = clean_text(text)
        if text:
            self.out.append(Block(text=text, page=page, section=self.section, kind=kind))

    # ---- main
    def feed(self, blk: _Blk, pg: _Page) -> None:
        lines = blk.lines
        i = 0
        n = len(lines)
        body_lines: list[_Line] = []
        while i < n:
            ln = lines[i]
            # Caption start: at a block start, or after a sentence end / a change of font inside a block.
            if self._caption_start(lines, i):
                self._flush_body(body_lines, blk)
                body_lines = []
                j = i + 1
                while j < n and not self._caption_start(lines, j) and abs(lines[j].size - ln.size) < 0.6:
                    j += 1
                parts = [t for t in (clean_text(x.text) for x in lines[i:j]) if t]
                kind: ChunkKind = "references" if self.mode == "references" else "caption"
                text = self.dehyph.join(parts)
                rows = [r for r in (clean_text(x) for x in blk.table_rows) if r] if i == 0 else []
                self._emit("\n".join([text, *rows]), blk.page, kind, clean=False)
                self.cap_open = self.out[-1] if self.out and kind == "caption" and not rows else None
                i = j
                continue
            # Heading at the start of the block or after a style break.
            got = None if pg.toc else self._try_heading(lines, i, blk, pg)
            if got is not None:
                end, level, label, size, switch = got
                self._flush_body(body_lines, blk)
                body_lines = []
                self._push(level, label, size, switch)
                i = end
                continue
            body_lines.append(ln)
            i += 1
        self._flush_body(body_lines, blk)

    def _caption_start(self, lines: list[_Line], i: int) -> bool:
        text = lines[i].text.lstrip()
        if text[:1] not in "FTALCES" or not (
            _CAPTION_RE.match(text) or (_CAPTION_LABEL_RE.match(text) and 0.05 < lines[i].bold < 0.6)
        ):
            return False
        if i == 0:
            return True
        prev = lines[i - 1]
        return bool(_ENDS_SENTENCE_RE.search(prev.text.rstrip())) or not self._same_style(prev, lines[i])

    def _try_heading(self, lines: list[_Line], i: int, blk: _Blk, pg: _Page):
        """(k, level, label, size, switch) when lines[i:k] is a heading (k == i: a run-in heading was split off
        and lines[i] now holds the rest of the line), else None."""
        ln = lines[i]
        # Only at the start of a block, or on a line whose style differs from the line before.
        if i > 0 and self._same_style(lines[i - 1], ln):
            return None
        n = len(lines)
        # A heading may wrap onto 2-3 lines of the same style.
        k = i + 1
        while k < n and k - i < 3 and abs(lines[k].size - ln.size) < 0.3 and abs(lines[k].bold - ln.bold) < 0.3:
            k += 1
        ends = ([k] if k - i > 1 else []) + [i + 1]
        for end in ends:
            if end < n and self._same_style(lines[end], ln):
                continue  # a heading must stand out from the text that follows it
            text = self.dehyph.join([clean_text(x.text) for x in lines[i:end]])
            got = self._heading(text, lines[i:end], i == 0 and end == n, blk, pg)
            if got:
                level, label, switch = got
                return end, level, label, self._size(lines[i:end]), switch
        # Run-in "Abstract—..." / "Acknowledgments We thank ..." at a block start.
        if i == 0:
            text = clean_text(ln.text)
            m = _RUNIN_RE.match(text)
            if m and (ln.bold > 0.05 or ln.size > self.body + 0.5 or m.group(0).rstrip()[-1:] in ".:—–-"):
                name = m.group(1)
                rest = text[m.end():]
                lines[i] = _Line(rest, ln.x0, ln.y0, ln.x1, ln.y1, ln.size, 0.0, len(rest))
                return i, 1, name.title() if name.isupper() else name, ln.size, name
        return None

    @staticmethod
    def _same_style(a: _Line, b: _Line) -> bool:
        return abs(a.size - b.size) < 0.5 and abs(a.bold - b.bold) < 0.5 and abs(a.big - b.big) < 0.5

    def _flush_body(self, lines: list[_Line], blk: _Blk) -> None:
        if not lines:
            return
        parts = [t for t in (clean_text(x.text) for x in lines) if t]
        if not parts:
            return
        text = self.dehyph.join(parts)
        kind: ChunkKind = self.mode
        cap = self.cap_open
        if cap is not None and cap.page == blk.page and kind != "references":
            # Caption continued in the next block (same page, same small font, no heading in between).
            size = self._size(lines)
            if size < self.body - 0.4 and len(text) < 600 and not cap.text.rstrip().endswith((".", ":")):
                cap.text = clean_text(self.dehyph.join([cap.text, text]))
                return
        self.cap_open = None
        self._emit(text, blk.page, kind, clean=False)


# ------------------------------------------------------------------------------------------------- title


def _sane_meta_title(title: str) -> bool:
    t = clean_text(title or "")
    if not 6 <= len(t) <= 300:
        return False
    low = t.lower()
    if re.search(r"\.(pdf|dvi|tex|docx?|ps|eps|txt)$", low) or low.startswith(("microsoft word", "untitled", "arxiv")):
        return False
    if _CAPTION_RE.match(t):
        return False
    if low in {"title", "paper", "article", "manuscript", "main", "document", "proceedings template - word"}:
        return False
    if "template" in low or re.fullmatch(r"[\w.\-/:]+", t):  # a single token (file/id) is not a title
        return False
    letters = sum(c.isalpha() for c in t)
    return letters >= 0.5 * len(t) and len(t.split()) >= 2


def _title_from_page(pg: _Page, body: float) -> str:
    """The largest text in the upper part of page 1, with the lines next to it in the same font."""
    lines = sorted(
        (
            ln
            for b in pg.blocks
            if not _CAPTION_RE.match(b.lines[0].text.lstrip())  # a caption is not the title
            for ln in b.lines
            if ln.y0 < 0.6 * pg.height
        ),
        key=lambda ln: (ln.y0, ln.x0),
    )
    cands = [i for i, ln in enumerate(lines) if sum(c.isalpha() for c in ln.text) >= 4]
    # The title sits in the top third; only when nothing stands out there, look lower (a figure on page 1 may
    # use a bigger font than the title).
    upper = [i for i in cands if lines[i].y0 < 0.3 * pg.height]
    for group in (upper, cands):
        if not group:
            continue
        t = max(group, key=lambda i: lines[i].size)
        if lines[t].size >= body + 1.0:
            break
    else:
        return ""  # nothing stands out (a page cut from a paper, a table): no title rather than a random line
    top = lines[t]

    def same(ln: _Line) -> bool:
        return abs(ln.big - top.big) < 0.6 and ln.size >= top.size - 3.0

    lo = t
    while lo > 0 and same(lines[lo - 1]) and lines[lo].y0 - lines[lo - 1].y1 < 1.5 * top.size:
        lo -= 1
    hi = t
    while hi + 1 < len(lines) and same(lines[hi + 1]) and lines[hi + 1].y0 - lines[hi].y1 < 1.5 * top.size:
        hi += 1
    return clean_text(" ".join(ln.text for ln in lines[lo : hi + 1]))[:300]


# -------------------------------------------------------------------------------------------------- main


def parse_pdf(
    source: str | Path | bytes, *, max_pages: int = 300, min_text_chars_per_page: int = 50,
    max_stream_mb: float = 256.0, first_pages: int | None = None,
) -> ParsedPdf:
    """Blocks of a paper in reading order, with page, section path and kind; raises PdfError on bad input.
    `max_pages` refuses a longer PDF; `first_pages` reads only that many pages of one that passed the checks (a
    seed's title and abstract)."""
    data, name = _read_source(source)
    has_header = _sniff(data, name)
    with _quiet_mupdf(name):
        doc = _open(data, name, max_pages, has_header, max_stream_mb)
        try:
            if first_pages is not None and doc.page_count > first_pages:
                doc.select(list(range(first_pages)))
            return _parse_doc(doc, name, min_text_chars_per_page)
        except PdfError:
            raise
        except Exception as exc:  # never let a raw PyMuPDF (or layout) error escape to the ingest loop
            log.exception("%s: unexpected error while reading the PDF", name)
            raise PdfError(
                f"{name} could not be read ({type(exc).__name__}: {_short(exc)}); the PDF is probably malformed "
                "— fetch it again, and report it if it opens fine in a PDF viewer"
            ) from exc
        finally:
            try:
                doc.close()
            except Exception:  # pragma: no cover - closing a broken document
                pass


@contextmanager
def _quiet_mupdf(name: str):
    """MuPDF prints repair messages ("MuPDF error: format error ...") straight to stderr; keep them out of the
    user's terminal while parsing and hand them to the log instead."""
    tools = pymupdf.TOOLS
    try:
        was = tools.mupdf_display_errors()
        tools.mupdf_display_errors(False)
        tools.reset_mupdf_warnings()
    except Exception:  # pragma: no cover - older/newer PyMuPDF without these helpers
        yield
        return
    try:
        yield
    finally:
        try:
            msgs = tools.mupdf_warnings(reset=True)
            if msgs:
                log.debug("%s: MuPDF: %s", name, " | ".join(msgs.splitlines()[:20]))
        finally:
            tools.mupdf_display_errors(was)


def _parse_doc(doc: pymupdf.Document, name: str, min_chars: int) -> ParsedPdf:
    n_pages = doc.page_count
    pages: list[_Page] = []
    failed: list[int] = []
    for i in range(n_pages):
        try:
            pages.append(_extract_page(doc[i], i + 1))
        except Exception as exc:  # one broken page must not sink the paper
            failed.append(i + 1)
            log.warning("%s: page %d could not be read (%s); skipped", name, i + 1, _short(exc))
    if not pages:
        raise PdfError(f"{name} is corrupt: none of its {n_pages} pages could be read; fetch the PDF again")
    if len(failed) > max(2, n_pages // 4):
        raise PdfError(
            f"{name} is damaged: {len(failed)} of {n_pages} pages could not be read; fetch the PDF again"
        )
    total_chars = sum(p.chars for p in pages)
    if total_chars / max(len(pages), 1) < min_chars:
        raise PdfError(
            f"{name} has no text layer (scanned/image-only PDF); OCR is not supported — "
            "use a PDF with selectable text (e.g. the arXiv version)"
        )

    # arXiv stamp: rotated text on page 1 (sometimes horizontal in the margin).
    stamp = ""
    first = pages[0] if pages[0].number == 1 else None
    if first is not None:
        for txt in first.rotated_text + [b.text for b in first.blocks if b.x1 < 0.15 * first.width]:
            m = _STAMP_RE.search(clean_text(txt))
            if m:
                stamp = f"arXiv:{m.group(1)} [{m.group(2)}] {_SPACE_RE.sub(' ', m.group(3))}"
                break
        if stamp:
            first.blocks = [b for b in first.blocks if not _STAMP_RE.search(clean_text(b.text))]

    # Title before the furniture goes (a title in the top margin would otherwise be judged a header).
    try:
        meta_title = html.unescape((doc.metadata or {}).get("title") or "")
    except Exception:  # broken metadata must not sink the text
        meta_title = ""
    title = clean_text(meta_title) if _sane_meta_title(meta_title) else ""
    if not title and first is not None:
        body_sizes: Counter[float] = Counter()
        for pg in pages:
            for b in pg.blocks:
                for ln in b.lines:
                    body_sizes[round(ln.size * 2) / 2] += ln.chars
        title = _title_from_page(first, body_sizes.most_common(1)[0][0] if body_sizes else 10.0)

    _strip_furniture(pages)
    _attach_tables(pages)

    # Body font size: the most common size by characters.
    sizes: Counter[float] = Counter()
    edges: Counter[int] = Counter()
    nblocks = 0
    for pg in pages:
        for b in pg.blocks:
            nblocks += 1
            edges[round(b.x0 / 2) * 2] += 1
            for ln in b.lines:
                sizes[round(ln.size * 2) / 2] += ln.chars
    body = sizes.most_common(1)[0][0] if sizes else 10.0
    left_edges = [float(e) for e, c in edges.most_common(8) if c >= max(3, 0.03 * nblocks)]

    votes = 0
    voters = 0
    for pg in pages:
        pg.col_stats = _assign_columns(pg)
        lc, rc, tot = pg.col_stats
        if tot >= 500:
            voters += 1
            votes += lc >= 0.2 * tot and rc >= 0.2 * tot
    two_col_doc = voters > 0 and votes >= voters / 2

    # Fonts of lines that look like numbered or well-known headings: unnumbered headings must share one.
    heading_fonts: set[str] = set()
    for pg in pages:
        for b in pg.blocks:
            for ln in b.lines:
                if len(ln.text) <= 100 and (ln.bold >= 0.8 or ln.size >= body + 0.9):
                    t = ln.text.strip()
                    if _NUMBERED_RE.match(t) or _KNOWN_RE.match(t):
                        heading_fonts.add(ln.font)

    dehyph = _Dehyphenator(pages)
    sec = _Sectioner(body, dehyph, left_edges, heading_fonts)
    for pg in pages:
        pg.toc = _is_toc_page(pg)
        for blk in _order_page(pg, two_col_doc):
            sec.feed(blk, pg)
        sec.cap_open = None
    blocks = _rejoin_paragraphs(sec.out)
    return ParsedPdf(
        blocks=blocks,
        page_count=n_pages,
        title=title,
        arxiv_stamp=stamp,
        text_chars=sum(len(b.text) for b in blocks),
    )
