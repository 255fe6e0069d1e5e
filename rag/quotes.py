"""Quotes: the unit of evidence. A quote is (paper, page, a verbatim sentence of the parsed text of that page).

The model never types a quote, a page or a citation label. Code numbers candidate sentences taken from the stored
chunks, the model points at numbers, and code attaches the quotes. Every quote shown anywhere has been checked by
`PageTexts.verify`: its text, normalised the way the parser normalises (NFKC, soft hyphens and line breaks gone,
whitespace collapsed), is a substring of the parsed text of the cited page. A sentence the model writes is a claim
of the paper only when its numbers (and its acronym-like names) are in its quotes: `unbacked`.

    texts = PageTexts(parts.catalog, parts.pdf_cache)
    cands = candidates(passages, texts)                   # numbered sentences, each with its page
    q = cands[2].quote                                    # Quote(paper_key, arxiv_id, version, page, text, title)
    assert texts.verify(q)
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from paperrag.text import chunk_body, split_sentences

log = logging.getLogger(__name__)

MIN_QUOTE_WORDS = 4  # "Model F1" or "Results." is not evidence of anything
MAX_QUOTE_CHARS = 600  # a run-on "sentence" (a table flattened into text) is cut at a word boundary


def normalise(text: str) -> str:
    """The comparison form of parsed text: NFKC, no soft hyphens or zero-width characters, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text or "")
    text = text.replace("\u00ad", "").replace("\u200b", "").replace("\ufeff", "")
    return " ".join(text.split())


@dataclass(frozen=True)
class Quote:
    paper_key: str  # arxiv id + version, the catalog key
    arxiv_id: str
    version: int
    page: int  # 1-based page of the PDF (abstract-only papers: 1, the abstract)
    text: str  # verbatim sentence of the parsed page text
    title: str = ""
    abstract_only: bool = False

    @property
    def label(self) -> str:
        """`[1706.03762 p.6]`; `[1706.03762 abstract]` for a paper whose PDF was not read."""
        return f"[{self.arxiv_id} abstract]" if self.abstract_only else f"[{self.arxiv_id} p.{self.page}]"

    @property
    def page_label(self) -> str:
        return "abstract" if self.abstract_only else f"p.{self.page}"

    def pdf_url(self) -> str:
        """The page of the PDF on arXiv ("" for a local PDF, which has no public address)."""
        if self.arxiv_id.startswith("local:"):
            return ""
        if self.abstract_only:
            return f"https://arxiv.org/abs/{self.arxiv_id}v{self.version}"
        return f"https://arxiv.org/pdf/{self.arxiv_id}v{self.version}#page={self.page}"

    def to_dict(self) -> dict:
        return {"arxiv_id": self.arxiv_id, "version": self.version, "page": self.page, "quote": self.text,
                "title": self.title, "abstract_only": self.abstract_only}


@dataclass(frozen=True)
class Candidate:
    """A numbered sentence offered to the model (n is 1-based, as the prompt shows it)."""

    n: int
    quote: Quote
    section: str = ""
    chunk_id: str = ""
    score: float = 0.0


class PageTexts:
    """The parsed text of each page of a paper, read from its cached PDF once (an LRU of recent papers).

    A paper without a PDF (abstract only) has one "page": its abstract. When the PDF is gone from the cache the
    stored chunks stand in for the pages they cover (what was indexed is still what was parsed)."""

    def __init__(self, catalog, pdf_cache, *, max_papers: int = 64):
        self.catalog = catalog
        self.pdf_cache = pdf_cache
        self.max_papers = max_papers
        self._cache: OrderedDict[str, dict[int, str]] = OrderedDict()
        self._lock = threading.Lock()

    def pages(self, paper_key: str) -> dict[int, str]:
        """{page: normalised parsed text} of `paper_key` ({} for an unknown paper)."""
        with self._lock:
            if paper_key in self._cache:
                self._cache.move_to_end(paper_key)
                return self._cache[paper_key]
        pages = self._read(paper_key)
        with self._lock:
            self._cache[paper_key] = pages
            while len(self._cache) > self.max_papers:
                self._cache.popitem(last=False)
        return pages

    def _read(self, paper_key: str) -> dict[int, str]:
        paper = self.catalog.get_paper(paper_key)
        if paper is None:
            return {}
        if not paper.fulltext or not paper.content_sha256:
            return {1: normalise(paper.abstract)}
        path = self.pdf_cache.path_for(paper.content_sha256) if self.pdf_cache is not None else None
        if path is not None and path.is_file():
            from ingest.pdf_parse import PdfError, parse_pdf

            try:
                parsed = parse_pdf(path)
                out: dict[int, list[str]] = {}
                for b in parsed.blocks:
                    out.setdefault(b.page, []).append(b.text)
                return {p: normalise("\n".join(t)) for p, t in out.items()}
            except PdfError as exc:
                log.warning("%s: page texts from the stored chunks (%s)", paper_key, exc)
        return self._from_chunks(paper_key)

    def _from_chunks(self, paper_key: str) -> dict[int, str]:
        out: dict[int, list[str]] = {}
        for c in self.catalog.chunks_of(paper_key):
            for p in range(c.page_start, max(c.page_start, c.page_end) + 1):
                out.setdefault(p, []).append(chunk_body(c.text))
        return {p: normalise("\n".join(t)) for p, t in out.items()}

    def locate(self, paper_key: str, sentence: str, pages: Iterable[int] = ()) -> int | None:
        """The page whose parsed text holds `sentence` (searching `pages` first, then every page), else None."""
        needle = normalise(sentence)
        if not needle:
            return None
        texts = self.pages(paper_key)
        tried = []
        for p in list(pages) + sorted(texts):
            if p in tried or p not in texts:
                continue
            tried.append(p)
            if needle in texts[p]:
                return p
        return None

    def verify(self, quote: Quote) -> bool:
        """The quote is verbatim (after normalisation) on the page it cites."""
        needle = normalise(quote.text)
        return bool(needle) and needle in self.pages(quote.paper_key).get(quote.page, "")


def _trim(sentence: str) -> str:
    if len(sentence) <= MAX_QUOTE_CHARS:
        return sentence
    cut = sentence[:MAX_QUOTE_CHARS].rsplit(" ", 1)[0]
    return cut


TITLE_PAGES = 2  # a title is printed on the first page, or the second after a journal's cover page


def title_quote(texts: PageTexts, quote: Quote) -> Quote | None:
    """The title of `quote`'s paper as its first pages print it, as a quote of that page (the page's own casing
    and spacing; a line break inside the title is a space, a hyphen may end a line): what an answer naming the
    paper by its title cites. None when no early page holds it (an abstract-only paper, a title set as an image,
    metadata that spells the title otherwise)."""
    words = normalise(quote.title).split()
    if not words or quote.abstract_only:
        return None
    pattern = re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w).replace(r"\-", r"-\s?") for w in words) + r"(?!\w)",
                         re.IGNORECASE)
    pages = texts.pages(quote.paper_key)
    for page in sorted(pages)[:TITLE_PAGES]:
        m = pattern.search(pages[page])
        if m:
            return Quote(quote.paper_key, quote.arxiv_id, quote.version, page, m.group(0), quote.title,
                         quote.abstract_only)
    return None


def passage_sentences(passage, texts: PageTexts, *, min_words: int = MIN_QUOTE_WORDS) -> list[Quote]:
    """The verified quotes of one retrieved passage (a `Passage` or anything with its fields), in text order."""
    return [q for _, q in passage_quotes(passage, texts, min_words=min_words)]


def passage_quotes(passage, texts: PageTexts, *, min_words: int = MIN_QUOTE_WORDS) -> list[tuple[int, Quote]]:
    """(index in `split_sentences(body, min_words)`, quote) for each sentence of a passage found on a page; the
    index lines up with the passage's cached sentence vectors (`indexes.sentences`)."""
    abstract_only = False
    paper = texts.catalog.get_paper(passage.paper_key)
    if paper is not None:
        abstract_only = not paper.fulltext
    out = []
    pages = range(passage.page_start, max(passage.page_start, passage.page_end) + 1)
    for i, s in enumerate(split_sentences(chunk_body(passage.text), min_words=min_words)):
        s = _trim(s)
        page = texts.locate(passage.paper_key, s, pages)
        if page is None:  # the chunker joined text across a block boundary the page text keeps apart
            continue
        out.append((i, Quote(passage.paper_key, passage.arxiv_id, passage.version, page, s, passage.title,
                             abstract_only)))
    return out


def candidates(passages: Sequence, texts: PageTexts, *, limit: int | None = None,
               scores: Sequence[float] | None = None) -> list[Candidate]:
    """Numbered candidate sentences from `passages` (deduplicated, verified), best passages first.

    `scores`, when given, is one score per sentence in the order the sentences come out of the passages, and
    the best `limit` are kept (still numbered in reading order, grouped by passage)."""
    seen: set[tuple[str, str]] = set()
    flat: list[tuple[Quote, object]] = []
    for p in passages:
        for q in passage_sentences(p, texts):
            k = (q.paper_key, normalise(q.text))
            if k in seen:
                continue
            seen.add(k)
            flat.append((q, p))
    keep = list(range(len(flat)))
    if scores is not None and limit is not None and len(flat) > limit:
        ranked = sorted(range(len(flat)), key=lambda i: -scores[i])[:limit]
        keep = sorted(ranked)
    elif limit is not None:
        keep = keep[:limit]
    return [Candidate(i + 1, flat[j][0], getattr(flat[j][1], "section", ""), getattr(flat[j][1], "chunk_id", ""),
                      float(scores[j]) if scores is not None else 0.0) for i, j in enumerate(keep)]


# ------------------------------------------------------------------------------------------------ backing
# ASCII boundaries: a number or name glued to Chinese text ("准确率为87.3%", "使用GPT-3模型") is still found
# a comma groups thousands only as in "4,500" / "1,000,000"; "2021,2020" (a Chinese list once NFKC turns "，"
# into ",") is two numbers
_NUM = re.compile(r"(?<![A-Za-z0-9_.])(?<![A-Za-z0-9_][-−])[-+−]?(?:\d{1,3}(?:,\d{3}(?!\d))+|\d+)(?:\.\d+)?")
_CITE = re.compile(r"\[[^\]]*\]")
_NAME = re.compile(r"(?<![A-Za-z0-9])(?:[A-Z][a-z]*[A-Z0-9][A-Za-z0-9\-]*|[A-Z]{2,}[a-z]?)(?![A-Za-z0-9])")


def numbers(text: str) -> set[str]:
    """Numbers of a text, normalised ("4,500" → "4500", "−1" → "1"); citation brackets are not numbers."""
    text = _CITE.sub(" ", unicodedata.normalize("NFKC", text or ""))
    out = set()
    for m in _NUM.finditer(text):
        n = m.group(0).replace(",", "").replace("−", "-").lstrip("+-")
        out.add(n)
        if "." in n:
            out.add(n.rstrip("0").rstrip(".") or "0")
    return out


# acronyms that name a kind of thing, not an entity: a sentence saying "64 块 V100 GPU" for "64 Tesla V100" invents
# nothing
_GENERIC_NAMES = {"gpu", "gpus", "cpu", "cpus", "tpu", "tpus", "gb", "mb", "tb", "ram"}


def names(text: str) -> set[str]:
    """Acronym-like names (BLEU, GPT-3, ResNet, WMT): the entities a sentence must not invent."""
    text = _CITE.sub(" ", unicodedata.normalize("NFKC", text or ""))
    return {m.group(0).lower() for m in _NAME.finditer(text)}


_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_MONTH = re.compile(r"\b(" + "|".join(m[:3] for m in _MONTHS) + r")[a-z]*\.?\s+(?:\d{1,2}(?:st|nd|rd|th)?,?\s+)?"
                    r"(?:of\s+)?\d{4}\b|\b(?:" + "|".join(m for m in _MONTHS if m not in ("may", "march")) + r")\b",
                    re.IGNORECASE)  # "may" and "march" are months only before a year
_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80",
               "ninety": "90", "hundred": "100", "thousand": "1000", "twice": "2", "half": "0.5", "single": "1",
               "first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5", "sixth": "6",
               "seventh": "7", "eighth": "8", "ninth": "9", "tenth": "10", "dozen": "12", "double": "2",
               "doubles": "2", "doubled": "2", "triple": "3", "tripled": "3", "order of magnitude": "10"})
_WORD = re.compile(r"\b(" + "|".join(w.replace(" ", r"[\s-]+") for w in _WORDS) + r")\b", re.IGNORECASE)


def spelled_numbers(text: str) -> set[str]:
    """Numbers a text states in words, which a translation may write as digits: "three layers" → "3", "June
    2018" → "6" (a Chinese date writes the month as a number: "2018 年 6 月")."""
    out = {_WORDS[" ".join(m.group(1).lower().replace("-", " ").split())] for m in _WORD.finditer(text)}
    for m in _MONTH.finditer(text):
        word = m.group(1) or m.group(0)
        out.add(str(next(i for i, name in enumerate(_MONTHS, 1) if name.startswith(word[:3].lower()))))
    return out


_SCALES = {"k": 3, "thousand": 3, "m": 6, "million": 6, "b": 9, "bn": 9, "billion": 9, "t": 12, "trillion": 12,
           "千": 3, "万": 4, "百万": 6, "千万": 7, "亿": 8}
_SCALED = re.compile(_NUM.pattern + r"\s?(thousand|million|billion|trillion|bn|[kmbt]|百万|千万|[千万亿])(?![A-Za-z0-9])",
                     re.IGNORECASE)


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _magnitudes(text: str) -> dict[str, tuple[str, str]]:
    """digits → (plain value, as written) for each number written with a magnitude ("1K" → ("1000", "1K"))."""
    text = _CITE.sub(" ", unicodedata.normalize("NFKC", text or ""))
    out = {}
    for m in _SCALED.finditer(text):
        digits = m.group(0)[: m.start(1) - m.start(0)].strip().replace(",", "").replace("−", "-").lstrip("+-")
        try:
            out[_plain(Decimal(digits))] = (_plain(Decimal(digits).scaleb(_SCALES[m.group(1).lower()])),
                                            m.group(0).strip())
        except (InvalidOperation, KeyError):
            continue
    return out


def scaled_numbers(text: str) -> dict[str, str]:
    """Numbers written with a magnitude, each to its plain value: "1K" → "1000", "1.5 billion" → "1500000000",
    "15亿" → "1500000000" (a translation writes the same quantity in another unit)."""
    return {digits: value for digits, (value, _) in _magnitudes(text).items()}


_ENGLISH_MAGNITUDE = re.compile(
    r"(?<![A-Za-z0-9\-.])(?<![A-Za-z0-9]- )(\d+(?:\.\d+)?)\s?((?i:thousand|million|billion|trillion|bn)|[KMBT])"
    r"(?![A-Za-z0-9])")


def in_chinese_units(text: str) -> str:
    """English magnitudes rewritten as a Chinese text writes them: "19.6 billion" → "196亿", "4.5M" → "450万",
    "1K" → "1000". A small model asked to translate writes "19.6 亿" for 19.6 billion (ten times too small),
    so code converts before the model sees the fact; names such as "T5-11B" (or "T5- 11B", broken at a line
    end in a PDF) are left alone."""
    def convert(m: re.Match) -> str:
        value = Decimal(m.group(1)).scaleb(_SCALES[m.group(2).lower()])
        if value >= Decimal("1e8"):
            return _plain(value.scaleb(-8)) + "亿"
        if value >= Decimal("1e4"):
            return _plain(value.scaleb(-4)) + "万"
        return _plain(value)

    return _ENGLISH_MAGNITUDE.sub(convert, text or "")


_GLUED = re.compile(r"(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z]{2})")
_BROKEN = re.compile(r"(\w)- (\w)")


def unbacked(sentence: str, quotes: Sequence[Quote], *, also: str = "") -> list[str]:
    """The numbers and names of `sentence` found in none of its quotes (nor in `also`, e.g. the question).
    A number the quotes spell out ("three", "June") backs its digits; a quantity the quotes write with a magnitude
    ("1K", "1.5B") backs the same quantity written out or in another unit ("1,000", "15亿"). A number the sentence
    writes with a magnitude ("100 亿", "48.2M", "48.2 million") is backed only by the same quantity, not by its
    digits."""
    if not sentence.strip():
        return []
    have = " ".join(normalise(q.text) for q in quotes) + " " + normalise(also)
    # digits glued to a word back themselves ("newstest2013" → "2013"), and a name broken at a line end backs
    # the joined name ("T5- 11B" → "T5-11B")
    have += " " + _GLUED.sub(" ", have) + " " + _BROKEN.sub(r"\1-\2", have)
    quantities = numbers(have) | set(scaled_numbers(have).values())
    have_nums = numbers(have) | spelled_numbers(have) | quantities
    have_low = have.lower()
    # a magnitude is a claim of its own: "100 亿" for "∼100B" (10^10 for 10^11, a digest translation) and
    # "48.2M parameters" from a table's score "48.2" (a dev-set answer) have their digits in the quotes, not their
    # quantities; a name is no magnitude ("T5-11B": `_NUM` skips digits glued to a hyphen or a word)
    in_units = _magnitudes(sentence)
    missing = []
    for n in sorted(numbers(sentence)):
        plain = n.rstrip("0").rstrip(".") if "." in n else n
        if plain in in_units:
            value, written = in_units[plain]
            if value not in quantities:
                missing.append(written)
        elif n not in have_nums and plain not in have_nums:
            missing.append(n)
    missing += [n for n in sorted(names(sentence))
                if n not in have_low and name_head(n) not in have_low and n not in _GENERIC_NAMES]
    return missing


# "FlashAttention-based Transformers" names FlashAttention: a suffix like these names no thing of its own
GENERIC_SUFFIXES = frozenset({"based", "style", "like", "only", "free", "aware", "level", "wise", "specific",
                              "driven", "powered", "enabled", "related", "type"})


def name_head(name: str) -> str:
    """`name` without a generic suffix ("FlashAttention-based" → "FlashAttention"); else `name` itself, also
    when the head is too short to stand alone ("IO-aware": "io" is inside too many words)."""
    head, _, suffix = name.rpartition("-")
    return head if len(head) >= 4 and suffix.lower() in GENERIC_SUFFIXES else name


def page_citations(quotes: Sequence[Quote]) -> str:
    """`[p.3, p.6]` for one paper's quotes (pages in order, each once); `[abstract]` when that is all there is."""
    pages = sorted({q.page for q in quotes if not q.abstract_only})
    if not pages:
        return "[abstract]" if quotes else ""
    return "[" + ", ".join(f"p.{p}" for p in pages) + "]"
