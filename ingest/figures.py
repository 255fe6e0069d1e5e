"""The key figure of a paper, cut from its PDF with PyMuPDF: Figure 1, or when the paper has none the first
figure whose caption names the method ("overview", "architecture", "framework", "pipeline", "our method", …).
The digest shows it under the paper's header (rag/digest/daily.py copies it next to the digest).

How a figure is found, page by page in reading order (at most `MAX_PAGES`):

1. **Caption.** A text block whose first line starts "Figure N" / "Fig. N" followed by ":", ".", "|", "—" or
   " - " is a caption ("Figure 1 shows …" in the body is not). The number is the caption's: the figure cut is
   the one above that caption, so the number shown is always the right one.
2. **Region.** Above the caption, up to the nearest paragraph of body text that overlaps it horizontally (a
   *barrier*: body-size font, a paragraph's width, not inside a drawn box; running headers and footers count
   as barriers and are never cut), every drawing (`page.get_drawings()`) and embedded image
   (`page.get_image_info()`) that overlaps the caption's width, then whatever overlaps the growing region's
   width, is joined; so are the text blocks in that band (labels, axis ticks). A region with no drawing or
   image is no figure (never a cut of body text). Where nothing is above, the same is tried below the caption
   (captions on top). A side-by-side neighbour (another caption beside this one) bounds the region.
3. **Cut.** The region (+ a small margin) rendered to PNG at `DPI` (longest side at most `MAX_SIDE` pixels):
   vector drawings and embedded images alike, exactly as the page shows them.

Nothing is cut when no caption qualifies or its region is not a figure: `KeyFigure.found` is False with the
reason; never a wrong figure. Results are cached by the PDF's sha256 (`key_figure(pdf, cache_dir)`): the PNG
and a JSON record under `cache_dir/ab/<sha256>.*`, keyed by `EXTRACTOR_VERSION`.

Pure PyMuPDF; no network, no model.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pymupdf

EXTRACTOR_VERSION = 2
MAX_PAGES = 30  # a key figure is in the paper's body, not its 40th appendix page
DPI = 144
MAX_SIDE = 1800  # pixels
MARGIN = 3.0  # points around the region

CAPTION_RE = re.compile(
    r"^\s*(?:Figure|FIGURE|Fig\.?|FIG\.?)\s*(?P<n>\d{1,3})(?P<sub>[a-z]?)(?:\s*[:.|—–]|\s+-\s)")
METHOD_RE = re.compile(
    r"\b(?:overview|architecture|framework|pipeline|our (?:method|approach|model|system)|the proposed|"
    r"illustration of (?:our|the proposed)|schematic|workflow|model structure|system design)\b", re.I)


@dataclass
class KeyFigure:
    """The outcome of looking for a paper's key figure."""

    found: bool
    number: int = 0  # the caption's figure number
    page: int = 0  # 1-based
    caption: str = ""  # the caption block's text, whitespace collapsed
    bbox: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # points, on that page
    png: str = ""  # path of the cut PNG ("" when none)
    chosen: str = ""  # "figure 1" / "method figure"
    reason: str = ""  # why none was found
    size: tuple[int, int] = (0, 0)  # pixels of the PNG
    version: int = EXTRACTOR_VERSION
    candidates: list[str] = field(default_factory=list)  # the captions seen ("p3 Figure 1"), for the bench


@dataclass
class _Caption:
    page: int  # 0-based
    number: int
    rect: pymupdf.Rect
    text: str
    index: int  # block index on the page


# ------------------------------------------------------------------------------------------------ captions
def _block_text(block: dict) -> str:
    return " ".join(" ".join(s["text"] for s in ln["spans"]) for ln in block.get("lines", [])).strip()


def _blocks(page: pymupdf.Page) -> list[dict]:
    return [b for b in page.get_text("dict", flags=pymupdf.TEXTFLAGS_TEXT)["blocks"] if b.get("type") == 0]


def captions(doc: pymupdf.Document, max_pages: int = MAX_PAGES) -> list[_Caption]:
    """Every figure caption in the first `max_pages` pages, in reading order."""
    out = []
    for pno in range(min(len(doc), max_pages)):
        for i, b in enumerate(_blocks(doc[pno])):
            lines = b.get("lines") or []
            if not lines:
                continue
            first = " ".join(s["text"] for s in lines[0]["spans"])
            m = CAPTION_RE.match(first)
            if m:
                text = " ".join(_block_text(b).split())
                out.append(_Caption(pno, int(m["n"]), pymupdf.Rect(b["bbox"]), text, i))
    return out


def choose(caps: list[_Caption]) -> tuple[_Caption, str] | None:
    """Figure 1 (its first caption), else the first caption naming the method; None when neither exists."""
    for c in caps:
        if c.number == 1:
            return c, "figure 1"
    for c in caps:
        if METHOD_RE.search(c.text[:300]):
            return c, "method figure"
    return None


# ------------------------------------------------------------------------------------------------ regions
def _body_size(blocks: list[dict]) -> float:
    sizes: Counter = Counter()
    for b in blocks:
        for ln in b.get("lines", []):
            for s in ln["spans"]:
                sizes[round(s["size"], 1)] += len(s["text"].strip())
    return sizes.most_common(1)[0][0] if sizes else 10.0


def _dominant_size(block: dict) -> float:
    sizes: Counter = Counter()
    for ln in block.get("lines", []):
        for s in ln["spans"]:
            sizes[round(s["size"], 1)] += len(s["text"].strip())
    return sizes.most_common(1)[0][0] if sizes else 0.0


def _overlap_x(a: pymupdf.Rect, x0: float, x1: float, slack: float = 0.0) -> bool:
    return a.x1 > x0 - slack and a.x0 < x1 + slack


def _graphics(page: pymupdf.Page) -> list[pymupdf.Rect]:
    """Rectangles of the page's visible drawings and images, without page-sized backgrounds, white fills that
    draw nothing and invisible dots."""
    area = abs(page.rect)
    out: list[pymupdf.Rect] = []
    for d in page.get_drawings():
        r = pymupdf.Rect(d["rect"]) & page.rect
        if r.width < 0.5 and r.height < 0.5:
            continue
        if abs(r) > 0.8 * area or r.height > 0.9 * page.rect.height:
            continue
        fill, stroke = d.get("fill"), d.get("color")
        if stroke is None and (fill is None or all(c > 0.98 for c in fill) or not d.get("fill_opacity", 1)):
            continue  # a white (or no) fill without a stroke: nothing to see
        out.append(r)
    for info in page.get_image_info():
        r = pymupdf.Rect(info["bbox"]) & page.rect
        if r.width > 2 and r.height > 2 and abs(r) < 0.95 * area:
            out.append(r)
    return out


def _inside_any(r: pymupdf.Rect, boxes: list[pymupdf.Rect]) -> bool:
    """`r` lies (mostly) inside one of `boxes` (text in a drawn frame belongs to the figure)."""
    ra = abs(r) or 1.0
    return any(abs(r & b) >= 0.6 * ra and abs(b) > 1.5 * ra for b in boxes if b.width > 2 and b.height > 2)


def _is_barrier(block: dict, rect: pymupdf.Rect, body: float, width: float, boxes: list[pymupdf.Rect]) -> bool:
    """A paragraph of body text (a figure ends before it; it is never cut as a figure's label)."""
    lines = block.get("lines") or []
    text = _block_text(block)
    if _dominant_size(block) < body - 0.6 or len(text) < 40:
        return False
    if _inside_any(rect, boxes):
        return False
    if len(lines) >= 2 and rect.width >= 0.55 * width:
        return True
    return len(lines) == 1 and rect.width >= 0.8 * width and len(text) >= 60


_DIGITS = re.compile(r"\d+")


def furniture(doc: pymupdf.Document, max_pages: int = MAX_PAGES) -> dict[int, list[pymupdf.Rect]]:
    """Running headers, footers and page numbers per page (0-based): the topmost or bottom-most text blocks of a
    page, in its outer eighth, whose text (digits aside) comes back at the same place on another page."""
    zone: dict[int, list[tuple[tuple, pymupdf.Rect]]] = {}
    count: Counter = Counter()
    for pno in range(min(len(doc), max_pages)):
        page = doc[pno]
        H = page.rect.height
        seen = set()
        blocks = _blocks(page)
        if not blocks:
            continue
        top = min(b["bbox"][1] for b in blocks)
        bottom = max(b["bbox"][3] for b in blocks)
        for b in blocks:
            r = pymupdf.Rect(b["bbox"])  # the topmost or bottom-most line of the page, in its outer eighth
            if (r.y1 <= H / 8 and r.y0 <= top + 4) or (r.y0 >= H * 7 / 8 and r.y1 >= bottom - 4):
                key = (_DIGITS.sub("#", " ".join(_block_text(b).lower().split())), round(r.y0 / 8),
                       round((r.x0 + r.x1) / 40))
                zone.setdefault(pno, []).append((key, r))
                seen.add(key)
        count.update(seen)
    return {pno: [r for key, r in items if count[key] >= 2] for pno, items in zone.items()}


def body_size(doc: pymupdf.Document, pages: int = 6) -> float:
    """The body text's font size: the most common one over the first pages (a page's own can be a figure's)."""
    return _body_size([b for pno in range(min(len(doc), pages)) for b in _blocks(doc[pno])])


def region(page: pymupdf.Page, cap: _Caption, others: list[_Caption] = (),
           furniture_rects: list[pymupdf.Rect] = (), body: float | None = None) -> tuple[pymupdf.Rect | None, str]:
    """The figure region that `cap` captions (above it, else below it) and why none when None. `body`: the
    document's body font size (`body_size`; the page's own when not given)."""
    blocks = _blocks(page)
    body = body or _body_size(blocks)
    boxes = _graphics(page)
    H = page.rect.height
    top_limit = max([r.y1 for r in furniture_rects if r.y1 <= H / 2] + [page.rect.y0])
    bottom_limit = min([r.y0 for r in furniture_rects if r.y0 >= H / 2] + [page.rect.y1])
    rect_of = [pymupdf.Rect(b["bbox"]) for b in blocks]
    furn = {i for i, r in enumerate(rect_of) if any(abs(r & f) > 0.5 * abs(r) for f in furniture_rects)}
    cx0, cx1 = cap.rect.x0, cap.rect.x1
    # a caption beside this one (side-by-side figures) bounds the region horizontally
    left_bound, right_bound = page.rect.x0, page.rect.x1
    for o in others:
        if o.page != cap.page or o.index == cap.index:
            continue
        if abs(o.rect.y0 - cap.rect.y0) < 40 or (o.rect.y0 < cap.rect.y1 and o.rect.y1 > cap.rect.y0):
            if o.rect.x0 >= cap.rect.x1 - 2:
                right_bound = min(right_bound, o.rect.x0 - 1)
            elif o.rect.x1 <= cap.rect.x0 + 2:
                left_bound = max(left_bound, o.rect.x1 + 1)

    def grow(y_lo: float, y_hi: float) -> pymupdf.Rect | None:
        """Join the graphics in the band (y_lo, y_hi) that overlap the caption's width (then the region's), and
        the label text next to them."""
        def fits(r: pymupdf.Rect) -> bool:
            return (r.y0 >= y_lo - 2 and r.y1 <= y_hi + 2 and r.x0 >= left_bound - 2 and r.x1 <= right_bound + 2
                    and r.y0 >= top_limit - 1 and r.y1 <= bottom_limit + 1)

        graphics = [b for b in boxes if fits(b)]
        labels = [r for i, (b, r) in enumerate(zip(blocks, rect_of, strict=True))
                  if i != cap.index and i not in furn and fits(r) and not _is_barrier(b, r, body, r.width, boxes)]
        union: pymupdf.Rect | None = None
        x0, x1 = cx0, cx1
        used_g: set[int] = set()
        used_t: set[int] = set()
        changed = True
        while changed:
            changed = False
            for i, g in enumerate(graphics):
                if i not in used_g and _overlap_x(g, x0, x1):
                    used_g.add(i)
                    union = pymupdf.Rect(g) if union is None else union | g
                    changed = True
            if union is None:
                return None
            for i, t in enumerate(labels):
                near = t.y1 >= union.y0 - 14 and t.y0 <= union.y1 + 14
                if i not in used_t and near and _overlap_x(t, union.x0, union.x1, 2):
                    used_t.add(i)
                    union |= t
                    changed = True
            x0, x1 = min(x0, union.x0), max(x1, union.x1)
        return union

    # above: up to the nearest barrier (or another caption) that overlaps the caption's width
    barrier_y = top_limit
    for i, (b, r) in enumerate(zip(blocks, rect_of, strict=True)):
        if r.y1 <= cap.rect.y0 + 1 and _overlap_x(r, cx0, cx1) and i != cap.index:
            if i in furn or _is_barrier(b, r, body, cx1 - cx0, boxes):
                barrier_y = max(barrier_y, r.y1)
    for o in others:
        if o.page == cap.page and o.index != cap.index and o.rect.y1 <= cap.rect.y0 and _overlap_x(o.rect, cx0, cx1):
            barrier_y = max(barrier_y, o.rect.y1)
    found = grow(barrier_y, cap.rect.y0)
    where = "above"
    if found is not None:
        found.y1 = min(found.y1, cap.rect.y0 - 0.5)  # never a line of the caption
    if found is None or found.height < 20:
        limit = bottom_limit
        for i, (b, r) in enumerate(zip(blocks, rect_of, strict=True)):
            if r.y0 >= cap.rect.y1 - 1 and _overlap_x(r, cx0, cx1) and i != cap.index and \
                    _is_barrier(b, r, body, cx1 - cx0, boxes):
                limit = min(limit, r.y0)
        for o in others:
            if o.page == cap.page and o.index != cap.index and o.rect.y0 >= cap.rect.y1 and \
                    _overlap_x(o.rect, cx0, cx1):
                limit = min(limit, o.rect.y0)
        found = grow(cap.rect.y1, limit)
        where = "below"
        if found is not None:
            found.y0 = max(found.y0, cap.rect.y1 + 0.5)
    if found is None:
        return None, "no drawing or image next to the caption"
    if found.width < 50 or found.height < 25:
        return None, f"the region {where} the caption is too small to be a figure ({found.width:.0f}×{found.height:.0f} pt)"
    pad = pymupdf.Rect(found.x0 - MARGIN, found.y0 - MARGIN, found.x1 + MARGIN, found.y1 + MARGIN)
    if where == "above":
        pad.y1 = min(pad.y1, cap.rect.y0 - 0.5)
    else:
        pad.y0 = max(pad.y0, cap.rect.y1 + 0.5)
    return pad & page.rect, ""


def _trim(page: pymupdf.Page, rect: pymupdf.Rect, zoom: float) -> pymupdf.Rect:
    """`rect` without the blank (white) margins the page shows inside it, plus MARGIN."""
    pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), clip=rect, alpha=False, annots=False,
                          colorspace=pymupdf.csGRAY)
    w, h = pix.width, pix.height
    data = pix.samples
    stride = pix.stride
    rows = [y for y in range(h) if min(data[y * stride: y * stride + w]) < 235]
    if not rows:
        return rect
    cols_min = w
    cols_max = -1
    for y in rows:
        line = data[y * stride: y * stride + w]
        for x in range(w):
            if line[x] < 235:
                cols_min = min(cols_min, x)
                break
        for x in range(w - 1, -1, -1):
            if line[x] < 235:
                cols_max = max(cols_max, x)
                break
    px = rect.width / w
    py = rect.height / h
    out = pymupdf.Rect(rect.x0 + cols_min * px - MARGIN, rect.y0 + rows[0] * py - MARGIN,
                       rect.x0 + (cols_max + 1) * px + MARGIN, rect.y0 + (rows[-1] + 1) * py + MARGIN)
    return out & rect


# ------------------------------------------------------------------------------------------------ the cut
def find_key_figure(doc: pymupdf.Document, out_png: Path | None = None, *, dpi: int = DPI) -> KeyFigure:
    """The key figure of an open document; with `out_png`, its cut is written there."""
    caps = captions(doc)
    seen = [f"p{c.page + 1} Figure {c.number}" for c in caps]
    pick = choose(caps)
    if pick is None:
        why = "no figure caption" if not caps else "no Figure 1 and no caption naming the method"
        return KeyFigure(False, reason=why, candidates=seen)
    cap, how = pick
    page = doc[cap.page]
    rect, why = region(page, cap, [c for c in caps if c.page == cap.page], furniture(doc).get(cap.page, []),
                       body_size(doc))
    if rect is None:
        return KeyFigure(False, cap.number, cap.page + 1, cap.text, reason=f"Figure {cap.number}: {why}",
                         chosen=how, candidates=seen)
    rect = _trim(page, rect, 1.0)
    zoom = min(dpi / 72.0, MAX_SIDE / max(rect.width, rect.height))
    pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), clip=rect, alpha=False, annots=False)
    png = ""
    if out_png is not None:
        out_png = Path(out_png)
        out_png.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".fig-", suffix=".png", dir=out_png.parent)
        os.close(fd)
        try:
            pix.save(tmp)
            os.replace(tmp, out_png)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        png = str(out_png)
    return KeyFigure(True, cap.number, cap.page + 1, cap.text, tuple(round(v, 1) for v in rect), png, how,
                     size=(pix.width, pix.height), candidates=seen)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def key_figure(pdf: str | os.PathLike, cache_dir: str | os.PathLike, *, sha256: str | None = None) -> KeyFigure:
    """The key figure of the PDF at `pdf`, cached in `cache_dir` by the PDF's sha256 (computed when not given).
    A PDF PyMuPDF cannot open gives a KeyFigure that is not found, with the reason."""
    pdf = Path(pdf)
    sha = (sha256 or sha256_of(pdf)).lower()
    base = Path(cache_dir) / sha[:2] / sha
    record = base.with_suffix(".json")
    png = base.with_suffix(".png")
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        if data.get("version") == EXTRACTOR_VERSION and (not data.get("found") or png.is_file()):
            data["bbox"] = tuple(data.get("bbox") or (0, 0, 0, 0))
            data["size"] = tuple(data.get("size") or (0, 0))
            data["png"] = str(png) if data.get("found") else ""
            return KeyFigure(**data)
    except (OSError, ValueError, TypeError):
        pass
    try:
        with pymupdf.open(pdf) as doc:
            result = find_key_figure(doc, png)
    except (RuntimeError, ValueError, pymupdf.FileDataError) as exc:
        return KeyFigure(False, reason=f"the PDF could not be read: {exc}")
    record.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".fig-", suffix=".json", dir=record.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(asdict(result) | {"png": ""}, f, ensure_ascii=False)
    os.replace(tmp, record)
    return result


__all__ = ["CAPTION_RE", "DPI", "EXTRACTOR_VERSION", "METHOD_RE", "KeyFigure", "captions", "choose",
           "find_key_figure", "key_figure", "region"]
