"""The local reader: a cited page of a cached PDF, rendered to an image, with the quote's words boxed.

    reader = Reader(catalog, pdf_cache, cache_dir)
    view = reader.view("1706.03762v7", page=6, quotes=["The encoder is composed of a stack of N = 6 …"])
    view.highlights            # rectangles as fractions of the page (x0, y0, x1, y1), one list per quote
    view.notes                 # "the quote could not be located exactly on this page", when it could not
    png = reader.image("1706.03762v7", page=6, dpi=150)    # a PNG of that one page, cached on disk

Only the requested page is opened and rendered (PyMuPDF reads the cross-reference table, not the whole file):
a 500-page PDF opens at its page as fast as a 10-page one, and the browser receives one page image.

**Locating a quote** (`locate`). A quote is a sentence of the *parsed* page text (ligatures decomposed, line-end
hyphens resolved, furniture dropped, reading order fixed); the page's words come from PyMuPDF's word boxes
(`page.get_text("words")`) in the PDF's own order. Both sides are folded the same way: NFKC, soft hyphens and
zero-width characters gone, accents stripped, lower case, a hyphen inside a word or at the end of a line joins
its two halves ("recog-" + "nition" = "recognition" = the parser's word; "high-level" = "highlevel" either way),
then split into letter/digit tokens. The quote's tokens are matched to the page's by the longest common run,
then the longest runs of what is left (3 tokens at least, near the first run unless long); a few page words
between two runs are boxed too (a symbol spelt differently), never counted as matched. The quote counts as
*located* (`is_located`) when at least `MIN_SHARE` (80 %) of its tokens are matched — all of them for a quote
under `SHORT_QUOTE` tokens —, at most one token is off at each end ("Figure 49: …" is not "Figure 50: …") and
every number in it is matched; otherwise no box is drawn and the view says so: a wrong highlight is worse than
none.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import tempfile
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from paperrag.errors import PdfMissingError, ReaderError

log = logging.getLogger(__name__)

MIN_SHARE = 0.80  # share of a quote's tokens that must be found on the page to draw its highlight …
SHORT_QUOTE = 12  # … and a quote shorter than this (tokens) must be found whole: one token off in a short
#                   sentence is another sentence ("as the LM scoring" vs "as the LM+FM")
MIN_RUN = 3  # a run of fewer tokens (other than the first) is too likely to be a coincidence
NEAR_TOKENS = 40  # short runs must lie this close (plus 3× the quote's length) to the first run
DPIS = (72, 110, 150, 220, 300)  # the resolutions the reader renders (a fixed set: bounded disk cache)
DEFAULT_DPI = 150
RENDER_TAG = "-na"  # in the cached file's name: rendered without annotations
MAX_QUOTES = 8
MAX_QUOTE_CHARS = 2000
NOT_LOCATED = "the quote could not be located exactly on this page"

_LOCK = threading.Lock()  # PyMuPDF is not thread-safe: the reader opens one document at a time
_HYPHENS = "-\u2010\u2011"
_INNER_HYPHEN = re.compile(rf"(?<=\w)[{_HYPHENS}]+(?=\w)")
_TOKEN = re.compile(r"\w+")
# spacing accents a PDF may set apart from their letter ("Mont´ufar", "Rozi`ere", "M¨uller"): the parser composes
# them ("Montúfar"); folding strips accents anyway, so the spacing ones go before NFKC splits them off
_SPACING_ACCENTS = "\u00b4\u0060\u00a8\u02c6\u02dc\u00b8\u02da\u02c7\u02d8\u02d9\u02dd\u00af"
_LOOSE_ACCENT = re.compile(rf"(?<=\w)[{_SPACING_ACCENTS}]|[{_SPACING_ACCENTS}](?=\w)")
_SHA = re.compile(r"[0-9a-f]{64}")


class PaperNotFound(ReaderError):
    pass


class PageOutOfRange(ReaderError):
    pass


PdfMissing = PdfMissingError


# ------------------------------------------------------------------------------------------------ folding
def fold(text: str) -> str:
    """The comparison form of a word or a sentence (see the module docstring), before tokenising."""
    text = unicodedata.normalize("NFKC", _LOOSE_ACCENT.sub("", text or ""))
    text = text.replace("\u00ad", "").replace("\u200b", "").replace("\ufeff", "")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _INNER_HYPHEN.sub("", text.casefold())


_KEPT_BREAK = re.compile(rf"(?<=\w)[{_HYPHENS}]\s+(?=\w)")


def tokens(text: str) -> list[str]:
    """Letter/digit tokens of a quote, folded; a line-break hyphen the parser kept ("differ- entiating") joins
    its halves, as the page's words are joined."""
    return _TOKEN.findall(fold(_KEPT_BREAK.sub("", text or "")))


@dataclass
class PageWords:
    """A page's words (PyMuPDF word boxes, in the PDF's order) as tokens, each token knowing its word."""

    words: list[tuple]  # (x0, y0, x1, y1, text, block, line, word_no)
    tokens: list[str]
    word_of: list[int]  # token index → word index (a line-end hyphen join maps to the first half's word)
    extra: dict[int, int] = field(default_factory=dict)  # token index → the second half's word, for joins


def page_words(words: Sequence[tuple]) -> PageWords:
    """Tokens of a page's words; a word ending in a hyphen at the end of its line is joined with the next
    line's first word (the parser resolved the break; its quote spells the word whole)."""
    words = list(words)
    toks: list[str] = []
    word_of: list[int] = []
    extra: dict[int, int] = {}
    i = 0
    while i < len(words):
        w = words[i]
        text = w[4]
        nxt = words[i + 1] if i + 1 < len(words) else None
        if (nxt is not None and len(text) > 1 and text[-1] in _HYPHENS and text[-2].isalnum()
                and (nxt[5], nxt[6]) != (w[5], w[6])):
            head = _TOKEN.findall(fold(text[:-1]))
            tail = _TOKEN.findall(fold(nxt[4]))
            if head and tail:
                for t in head[:-1]:
                    toks.append(t)
                    word_of.append(i)
                toks.append(head[-1] + tail[0])
                word_of.append(i)
                extra[len(toks) - 1] = i + 1
                for t in tail[1:]:
                    toks.append(t)
                    word_of.append(i + 1)
                i += 2
                continue
        for t in _TOKEN.findall(fold(text)):
            toks.append(t)
            word_of.append(i)
        i += 1
    return PageWords(words, toks, word_of, extra)


# ------------------------------------------------------------------------------------------------ locating
@dataclass
class Location:
    """Where a quote stands on a page: the words matched, the share of its tokens found, and the boxes."""

    quote: str
    share: float  # matched quote tokens / quote tokens (0 when the quote has no token)
    located: bool  # share ≥ MIN_SHARE: the highlight is drawn
    exact: bool = False  # every token, in one run
    words: list[int] = field(default_factory=list)  # indexes into the page's words
    rects: list[tuple[float, float, float, float]] = field(default_factory=list)  # in PDF points, one per line


def match_tokens(quote: Sequence[str], page: Sequence[str], *, sm: difflib.SequenceMatcher | None = None
                 ) -> tuple[int, list[tuple[int, int, int]]]:
    """(matched quote tokens, [(quote start, page start, length)] in quote order) — the runs that place `quote`
    on `page`: the longest common run, then the longest runs of what is left of the quote (`MIN_RUN` tokens at
    least; a run under 6 tokens only near the first one)."""
    n = len(quote)
    if not n or not page:
        return 0, []
    if sm is None:
        sm = difflib.SequenceMatcher(None, (), page, autojunk=False)
    sm.set_seq1(list(quote))
    first = sm.find_longest_match(0, n, 0, len(page))
    if first.size == 0:
        return 0, []
    runs = [(first.a, first.b, first.size)]
    if first.size < n:
        near_lo = first.b - 3 * n - NEAR_TOKENS
        near_hi = first.b + first.size + 3 * n + NEAR_TOKENS
        todo = [(0, first.a), (first.a + first.size, n)]
        while todo:
            lo, hi = todo.pop()
            if hi - lo < MIN_RUN:
                continue
            m = sm.find_longest_match(lo, hi, 0, len(page))
            if m.size < MIN_RUN:
                continue
            if m.size < 6 and not (near_lo <= m.b <= near_hi):
                # a short run far away is a coincidence; look for one nearby instead
                m = sm.find_longest_match(lo, hi, max(0, near_lo), min(len(page), near_hi))
                if m.size < MIN_RUN:
                    continue
            runs.append((m.a, m.b, m.size))
            todo += [(lo, m.a), (m.a + m.size, hi)]
    runs.sort()
    return sum(r[2] for r in runs), runs


def _bridged_tokens(runs: list[tuple[int, int, int]]) -> list[int]:
    """Page token indexes to highlight: the runs, and the few page tokens between consecutive runs when the quote
    has a few tokens there too (a symbol spelt differently: the box stays continuous; it never counts as matched)."""
    out: list[int] = []
    for k, (qa, pa, na) in enumerate(runs):
        out += range(pa, pa + na)
        if k + 1 < len(runs):
            qb, pb, _ = runs[k + 1]
            gq, gp = qb - (qa + na), pb - (pa + na)
            if 0 <= gq <= 4 and 0 < gp <= gq + 3:
                out += range(pa + na, pb)
    return out


def is_located(q: Sequence[str], runs: list[tuple[int, int, int]], *, min_share: float = MIN_SHARE) -> bool:
    """The runs place the quote on the page with confidence: most of its tokens (`min_share`), all of them for a
    short quote, its two ends (at most one token off at each: "Figure 49: …" is not "Figure 50: …"), and every
    number in it (a sentence with another number is another claim)."""
    n = len(q)
    if not n or not runs:
        return False
    hit = [False] * n
    for qa, _, na in runs:
        hit[qa:qa + na] = [True] * na
    matched = sum(hit)
    if matched < min_share * n or (n < SHORT_QUOTE and matched < n):
        return False
    head = next(i for i, h in enumerate(hit) if h)
    tail = n - 1 - max(i for i, h in enumerate(hit) if h)
    if head > 1 or tail > 1:
        return False
    return not any(not h and t.isdigit() for t, h in zip(q, hit))


def locate(pw: PageWords, quote: str, *, min_share: float = MIN_SHARE,
           sm: difflib.SequenceMatcher | None = None) -> Location:
    """Place `quote` on the page whose words are `pw` (see the module docstring)."""
    q = tokens(quote)
    if not q:
        return Location(quote, 0.0, False)
    matched, runs = match_tokens(q, pw.tokens, sm=sm)
    share = min(1.0, matched / len(q))
    loc = Location(quote, share, is_located(q, runs, min_share=min_share),
                   exact=len(runs) == 1 and runs[0][2] == len(q))
    if not loc.located:
        return loc
    idx: list[int] = []
    for t in _bridged_tokens(runs):
        idx.append(pw.word_of[t])
        if t in pw.extra:
            idx.append(pw.extra[t])
    loc.words = sorted(set(idx))
    loc.rects = line_rects([pw.words[i] for i in loc.words])
    return loc


def line_rects(words: Sequence[tuple]) -> list[tuple[float, float, float, float]]:
    """One rectangle per run of words on the same line (the union of their boxes)."""
    out: list[list[float]] = []
    last = None
    for w in words:
        key = (w[5], w[6])
        if out and key == last and w[0] >= out[-1][0] - 1:
            r = out[-1]
            r[0], r[1], r[2], r[3] = min(r[0], w[0]), min(r[1], w[1]), max(r[2], w[2]), max(r[3], w[3])
        else:
            out.append([w[0], w[1], w[2], w[3]])
        last = key
    return [tuple(r) for r in out]


# ------------------------------------------------------------------------------------------------ pages
def _open(path: Path):
    import pymupdf

    return pymupdf.open(path)


def words_of_page(page) -> list[tuple]:
    import pymupdf

    return page.get_text("words", flags=pymupdf.TEXT_MEDIABOX_CLIP)


def locate_on_page(page, quotes: Sequence[str], *, min_share: float = MIN_SHARE) -> list[Location]:
    """Each quote placed on a PyMuPDF page (rects in the page's unrotated coordinates)."""
    pw = page_words(words_of_page(page))
    sm = difflib.SequenceMatcher(None, (), pw.tokens, autojunk=False)
    return [locate(pw, q, min_share=min_share, sm=sm) for q in quotes]


@dataclass
class Highlight:
    quote: str
    located: bool
    share: float
    boxes: list[tuple[float, float, float, float]]  # fractions of the displayed page: x0, y0, x1, y1


@dataclass
class PageView:
    """What the reader page shows for (paper, page, quotes)."""

    paper_key: str
    arxiv_id: str
    version: int
    title: str
    page: int
    n_pages: int
    width: float  # displayed page size in PDF points (rotation applied)
    height: float
    highlights: list[Highlight] = field(default_factory=list)
    arxiv_url: str = ""  # the abs page on arXiv ("" for a local PDF)
    pdf_url: str = ""  # the PDF on arXiv at this page

    @property
    def notes(self) -> list[str]:
        missed = [h for h in self.highlights if not h.located]
        if not missed:
            return []
        if len(self.highlights) == 1:
            return [NOT_LOCATED]
        return [f"{len(missed)} of {len(self.highlights)} quotes could not be located exactly on this page"]


# ------------------------------------------------------------------------------------------------ addresses
def reader_url(paper: str, page: int = 1, quotes: Sequence[str] = (), *, cite: int | None = None,
               base: str = "") -> str:
    """The reader's address for a page of a paper with `quotes` highlighted: `base` + `reader/2405.00001v1?page=3
    &q=…`. `base` "" is relative to the web app's root (links inside the app); the app's address
    (`ui.app_url`) makes it absolute (digest files, copied Markdown)."""
    from urllib.parse import quote, urlencode

    params: list[tuple[str, str]] = [("page", str(int(page)))]
    if cite is not None and cite != page:
        params.append(("cite", str(int(cite))))
    params += [("q", q) for q in list(dict.fromkeys(q for q in quotes if q))[:MAX_QUOTES]]
    return f"{base}reader/{quote(paper, safe='')}?{urlencode(params)}"


@dataclass
class PageCitation:
    """One cited page of one paper: where the local reader opens it (every quote of that page highlighted) and
    the same page on arXiv ("" for a local PDF)."""

    paper_key: str
    arxiv_id: str
    page: int
    reader: str
    arxiv: str


def page_citations(quotes: Sequence, base: str = "") -> list[PageCitation]:
    """The pages `quotes` (`rag.quotes.Quote` / `rag.cards.QuoteRef`) cite, in page order per paper (first-seen
    paper order), each with its reader address (`base` as in `reader_url`) and its arXiv PDF page. Quotes of a
    paper read from its abstract only cite no page and are left out."""
    grouped: dict[tuple[str, int], list] = {}
    for q in quotes:
        if not getattr(q, "abstract_only", False):
            grouped.setdefault((q.paper_key, int(q.page)), []).append(q)
    papers = list(dict.fromkeys(key for key, _ in grouped))
    out = []
    for key, page in sorted(grouped, key=lambda kp: (papers.index(kp[0]), kp[1])):
        qs = grouped[(key, page)]
        first = qs[0]
        arxiv = "" if first.arxiv_id.startswith("local:") else \
            f"https://arxiv.org/pdf/{first.arxiv_id}v{first.version}#page={page}"
        out.append(PageCitation(key, first.arxiv_id, page, reader_url(key, page, [q.text for q in qs], base=base),
                                arxiv))
    return out


def restore_source(rec) -> tuple[str, str]:
    """How a paper's PDF can be put back into the cache: ("copy", its local file still on disk), ("download",
    its arXiv PDF URL), or ("", "") when it cannot (a local PDF whose file is gone)."""
    if rec.local_path and Path(rec.local_path).is_file():
        return "copy", rec.local_path
    if rec.pdf_url and not rec.arxiv_id.startswith("local:"):
        return "download", rec.pdf_url
    return "", ""


class Reader:
    """Pages of the cached PDFs of catalog papers: the view (highlights) and the image (a cached PNG)."""

    def __init__(self, parts, cache_dir: Path):
        self.parts = parts  # the Library (its catalog is one connection per thread: read it on each call)
        self.cache_dir = Path(cache_dir)

    @property
    def catalog(self):
        return self.parts.catalog

    @property
    def pdf_cache(self):
        return self.parts.pdf_cache

    # ---------------------------------------------------------------- what is served
    def paper(self, key: str):
        """The catalog record of a paper key ("1706.03762v7") or an arXiv id (its newest indexed version).
        Nothing else is ever resolved: the key is looked up, never used as a path."""
        key = (key or "").strip()
        rec = self.catalog.get_paper(key) if key else None
        if rec is None and key:
            try:
                from ingest.arxiv_ids import parse_arxiv_id

                arxiv_id, version = parse_arxiv_id(key)
            except ValueError:
                arxiv_id, version = "", None
            if arxiv_id:
                rows = [r for r in self.catalog.versions_of(arxiv_id) if version is None or r.version == version]
                rows = [r for r in rows if r.status == "indexed"] or rows
                rec = max(rows, key=lambda r: r.version) if rows else None
        if rec is None:
            raise PaperNotFound(f"no paper {key!r} in the library", hint="`paperrag status` lists what is stored")
        return rec

    def pdf_path(self, rec) -> Path:
        """The cached PDF of a catalog paper, or PdfMissing with what to do."""
        sha = (rec.content_sha256 or "").lower()
        if sha and _SHA.fullmatch(sha):
            path = self.pdf_cache.path_for(sha)
            if path.is_file():
                return path
        hit = self.pdf_cache.get(rec.key) if self.pdf_cache is not None else None
        if hit is not None and hit.path.is_file():
            return hit.path
        how, source = restore_source(rec)
        fix = {"copy": f"`paperrag open {rec.key} --download` copies it back from {source}",
               "download": f"`paperrag open {rec.key} --download` downloads it again"}.get(
            how, f"`paperrag delete {rec.key}`, then add the file again (Library tab, or `paperrag ingest PATH`)")
        if not rec.fulltext or not sha:
            raise PdfMissing(f"{rec.key} was indexed from its abstract only: there is no PDF to show", paper=rec,
                             hint=fix.replace("downloads it again", "downloads it"), restore=how, source=source)
        raise PdfMissing(f"the PDF of {rec.key} is not in the local cache (deleted?)", paper=rec, hint=fix,
                         restore=how, source=source)

    def view(self, key: str, page: int, quotes: Sequence[str] = ()) -> PageView:
        rec = self.paper(key)
        path = self.pdf_path(rec)
        quotes = [q[:MAX_QUOTE_CHARS] for q in quotes if q and q.strip()][:MAX_QUOTES]
        import pymupdf

        with _LOCK:
            doc = _open(path)
            try:
                n = doc.page_count
                if not 1 <= page <= n:
                    raise PageOutOfRange(f"{rec.key} has {n} pages: there is no page {page}")
                pg = doc[page - 1]
                rect = pg.rect
                mat = pg.rotation_matrix
                highlights = []
                for loc in locate_on_page(pg, quotes) if quotes else ():
                    boxes = []
                    for r in loc.rects:
                        d = pymupdf.Rect(r) * mat  # word boxes are unrotated; the image is as displayed
                        boxes.append((round(d.x0 / rect.width, 5), round(d.y0 / rect.height, 5),
                                      round(d.x1 / rect.width, 5), round(d.y1 / rect.height, 5)))
                    highlights.append(Highlight(loc.quote, loc.located, round(loc.share, 3), boxes))
            finally:
                doc.close()
        local = rec.arxiv_id.startswith("local:")
        ref = f"{rec.arxiv_id}v{rec.version}"
        return PageView(rec.key, rec.arxiv_id, rec.version, rec.title, page, n, rect.width, rect.height, highlights,
                        "" if local else f"https://arxiv.org/abs/{ref}",
                        "" if local else f"https://arxiv.org/pdf/{ref}#page={page}")

    def image(self, key: str, page: int, dpi: int = DEFAULT_DPI) -> Path:
        """A PNG of one page at one of `DPIS`, rendered once and kept under the cache dir (sha256, page, dpi)."""
        if dpi not in DPIS:
            raise ReaderError(f"dpi must be one of {', '.join(map(str, DPIS))}")
        rec = self.paper(key)
        path = self.pdf_path(rec)
        sha = path.stem if _SHA.fullmatch(path.stem) else (rec.content_sha256 or rec.key.replace(":", "_"))
        out = self.cache_dir / sha[:2] / f"{sha}-p{int(page)}-{int(dpi)}{RENDER_TAG}.png"
        if out.is_file():
            return out
        with _LOCK:
            doc = _open(path)
            try:
                if not 1 <= page <= doc.page_count:
                    raise PageOutOfRange(f"{rec.key} has {doc.page_count} pages: there is no page {page}")
                # annotations are not drawn: a PDF someone highlighted by hand must not look like our highlight
                png = doc[page - 1].get_pixmap(dpi=dpi, alpha=False, annots=False).tobytes("png")
            finally:
                doc.close()
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(png)
        os.replace(tmp, out)
        return out
