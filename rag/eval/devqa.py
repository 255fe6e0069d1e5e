"""Dev QA set: are the answers right, grounded in verbatim quotes, and honest about what the papers do not say?

    report = evaluate_devqa(lib, "bench/devqa/devqa.jsonl", shared_root=Path("../shared"))
    print(report.render())

The set (`bench/devqa/devqa.jsonl`, checked by `bench/devqa/verify.py`) has one JSON object a line: `id`, `type`
(fact | find | compare | unanswerable), `language` (en | zh), `question`, `papers` (gold arXiv ids, no version),
`facts` (key facts, each a list of accepted alternatives), `quotes` (`arxiv_id`, `pdf` relative to the shared
root, 1-based `page`, verbatim `text`) and, for unanswerable questions, `absent` (terms checked to be absent from
the gold papers' full text).

The set's PDFs are ingested into the Library (idempotent), then every question is asked with `lib.ask(question)`
over the whole library — no filters: finding the paper is part of the test — and only `result.to_dict()` is read:
`answer`, `abstained` and `sentences` (`text`, `citations`: `arxiv_id`, `version`, `page`, `quote`).

Metrics, independent of the product's own checks (quotes are checked against PyMuPDF's page text, not against the
product's parser; see `normalise`):
* citation accuracy: over every sentence of the answers that were not abstentions, the share that cite at least
  one quote, whose every quote is verbatim on its cited page, and whose numbers and acronym-like names occur in
  its quotes or in the question (`check_sentence`). A quote from a PDF this eval cannot locate (an arXiv id known
  neither to the set, MANIFEST.csv nor the ingest) is unverifiable and so not accurate.
* answer correctness: answerable questions whose answer holds every fact (`fact_present`), and the partial
  score: the share of facts held; an abstention scores 0.
* grounded refusal: share of the unanswerable questions abstained; false refusal: share of the answerable ones.
* paper recall: answerable questions, share of the gold papers among the arXiv ids cited.
* seconds per question (wall time of the whole streamed answer) p50/p90, time to the first non-empty piece p50.
Each also by type and by language. The machine's pace over the answers' LLM calls (`prompt_tok_s`, `decode_tok_s`,
from the call log) comes with them: the same code's times move with it (80–108 prompt tokens a second here).

CLI: python -m rag.eval.devqa SET --shared ../shared --home DIR [--limit N] [--json OUT] [--gguf PATH]
     (prints the table, then one JSON object with the summary on the last line)
"""

from __future__ import annotations

import csv
import json
import os
import re
import statistics
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from indexes.call_log import call_speeds, last_call_id
from paperrag.errors import PaperragError

TYPES = ("fact", "find", "compare", "unanswerable")
LANGUAGES = ("en", "zh")
MANIFEST = Path("corpus") / "pdfs" / "MANIFEST.csv"


class DevQAError(PaperragError, ValueError):
    """The dev QA set (or the folder its PDFs are relative to) cannot be used."""


# ---------------------------------------------------------------------------------------------- text
_LINE_BREAK_HYPHEN = re.compile(r"-[ \t]*\n\s*")
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\ufeff"))
_VERSION = re.compile(r"v\d+$")


def normalise(text: str) -> str:
    """Comparison form of PDF text: NFKC (ligatures), no soft hyphens or zero-width characters, line-end
    hyphens joined ("recog-\\nnition" -> "recognition"), whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text or "").translate(_INVISIBLE)
    return " ".join(_LINE_BREAK_HYPHEN.sub("", text).split())


def _squash(text: str) -> str:
    return "".join(text.split())


def match_forms(text: str) -> tuple[str, str]:
    """Whitespace-free form without accents, and the same without hyphens. Accents go because PDFs often draw
    them as separate glyphs ("G¨uera" for "Güera"); hyphens because a line-end hyphen may be a real one
    ("self-\\nsupervised"), which the parser keeps and `normalise` drops."""
    decomposed = unicodedata.normalize("NFKD", normalise(text))
    squashed = _squash("".join(ch for ch in decomposed if unicodedata.category(ch) not in ("Mn", "Sk")))
    return squashed, squashed.replace("-", "")


def text_holds_quote(quote: str, text_forms: Sequence[tuple[str, str]]) -> bool:
    """The quote is verbatim (whitespace- and line-end-hyphen-insensitive) in one of the `match_forms` given."""
    q, q_flat = match_forms(quote)
    return bool(q) and any(q in t or q_flat in t_flat for t, t_flat in text_forms)


def bare_id(arxiv_id: str) -> str:
    """'1706.03762v5' -> '1706.03762'."""
    return _VERSION.sub("", (arxiv_id or "").strip())


class PdfPages:
    """The page texts of PDFs as PyMuPDF extracts them (two reading orders: the content stream's and the sorted
    one), read once per file."""

    def __init__(self):
        self._pages: dict[Path, list[list[tuple[str, str]]]] = {}
        self._raw: dict[Path, list[str]] = {}

    def _load(self, pdf: Path) -> None:
        import pymupdf

        with pymupdf.open(pdf) as doc:
            raw = [page.get_text() for page in doc]
            ordered = [page.get_text(sort=True) for page in doc]
        self._raw[pdf] = raw
        self._pages[pdf] = [[match_forms(a), match_forms(b)] for a, b in zip(raw, ordered, strict=True)]

    def page_count(self, pdf: Path) -> int:
        pdf = Path(pdf)
        if pdf not in self._pages:
            self._load(pdf)
        return len(self._pages[pdf])

    def holds(self, pdf: Path, page: int, quote: str) -> bool:
        """`quote` is verbatim on the 1-based `page` of `pdf` (False for a page the PDF does not have)."""
        pdf = Path(pdf)
        if not 1 <= page <= self.page_count(pdf):
            return False
        return text_holds_quote(quote, self._pages[pdf][page - 1])

    def pages_holding(self, pdf: Path, quote: str) -> list[int]:
        return [p for p in range(1, self.page_count(pdf) + 1) if self.holds(pdf, p, quote)]

    def full_text(self, pdf: Path) -> str:
        pdf = Path(pdf)
        if pdf not in self._raw:
            self._load(pdf)
        return normalise("\n".join(self._raw[pdf]))


def term_in_text(term: str, text: str) -> bool:
    """Case-insensitive whole-term occurrence ("TPU" is not in "output"); also tried without hyphens, so a term
    whose hyphen fell at a line end ("GPT-\\n4", joined to "GPT4") is still found."""
    t = normalise(term).lower()
    low = normalise(text).lower()
    if not t:
        return False
    if _bounded_find(t, low):
        return True
    flat = t.replace("-", "")
    return bool(flat) and _bounded_find(flat, low.replace("-", ""))


# ---------------------------------------------------------------------------------------------- facts
_DIGIT_COMMA = re.compile(r"(?<=\d),(?=\d{3}\b)")
_ASCII_WORD = "A-Za-z0-9"


def _fact_form(text: str) -> str:
    """Lowercase NFKC text with thousands commas dropped ("4,500" -> "4500") and whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    return " ".join(_DIGIT_COMMA.sub("", text).split())


def _bounded_find(needle: str, hay: str) -> bool:
    """`needle` occurs in `hay` not glued to other ASCII letters/digits ("28.4" is not in "128.45", "BLEU" is not
    in "BLEURT"); a number may be followed by a unit ("19.4" is in "19.4M"), and CJK characters count as a
    boundary ("BLEU" is in "BLEU分数")."""
    pattern = re.escape(needle)
    if needle[:1].isascii() and needle[:1].isalnum():
        pattern = rf"(?<![{_ASCII_WORD}])(?<!\d\.)" + pattern
    if needle[-1:].isdigit():
        pattern += r"(?!\d)(?!\.\d)"
    elif needle[-1:].isascii() and needle[-1:].isalnum():
        pattern += rf"(?![{_ASCII_WORD}])"
    return re.search(pattern, hay) is not None


def fact_present(alternatives: Sequence[str], text: str) -> bool:
    """One of the accepted alternatives is in `text` (case-, comma- and whitespace-insensitive)."""
    hay = _fact_form(text)
    squashed = _squash(hay)
    for alt in alternatives:
        a = _fact_form(alt)
        if a and (_bounded_find(a, hay) or _bounded_find(_squash(a), squashed)):
            return True
    return False


# ---------------------------------------------------------------------------------------------- backing
_CITATION = re.compile(r"\[[^\]]*\]")
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
# acronym-like names (BLEU, GPT-3, ResNet, WMT); ASCII look-arounds instead of \b so "BLEU分数" still yields BLEU
_NAME = re.compile(r"(?<![A-Za-z0-9])(?:[A-Z][a-z]*[A-Z0-9][A-Za-z0-9\-]*|[A-Z]{2,}[a-z]?)(?![A-Za-z0-9])")


def _canonical_number(n: str) -> str:
    n = n.replace(",", "")
    if "." in n:
        n = n.rstrip("0").rstrip(".")
    return n or "0"


def numbers_in(text: str) -> set[str]:
    """The numbers of a text, canonical ("4,500" -> "4500", "0.10" -> "0.1"); citation brackets left out."""
    text = _CITATION.sub(" ", unicodedata.normalize("NFKC", text or ""))
    return {_canonical_number(m.group(0)) for m in _NUMBER.finditer(text)}


def names_in(text: str) -> set[str]:
    text = _CITATION.sub(" ", unicodedata.normalize("NFKC", text or ""))
    return {m.group(0).rstrip("-") for m in _NAME.finditer(text)}


def unbacked(sentence: str, support: str) -> list[str]:
    """The numbers and names of `sentence` that `support` (its quotes and the question) does not contain."""
    have_numbers = numbers_in(support)
    flat = _squash(normalise(support)).replace("-", "").lower()
    missing = sorted(n for n in numbers_in(sentence) if n not in have_numbers)
    missing += sorted(n for n in names_in(sentence) if n.replace("-", "").lower() not in flat)
    return missing


@dataclass
class SentenceCheck:
    text: str
    citations: int
    accurate: bool
    problems: list[str] = field(default_factory=list)


class QuoteChecker:
    """Verifies cited quotes against the PDFs: `pdf_of` maps a bare arXiv id to its PDF."""

    def __init__(self, pdf_of: dict[str, Path], pages: PdfPages | None = None):
        self.pdf_of = pdf_of
        self.pages = pages or PdfPages()

    def verify(self, citation: dict) -> bool | None:
        """True/False: the quote is / is not verbatim on the cited page; None: no PDF for that arXiv id."""
        pdf = self.pdf_of.get(bare_id(str(citation.get("arxiv_id", ""))))
        if pdf is None:
            return None
        page = citation.get("page")
        try:
            return isinstance(page, int) and self.pages.holds(pdf, page, str(citation.get("quote") or ""))
        except (OSError, RuntimeError, ValueError):  # a PDF PyMuPDF cannot open: nothing to check against
            return None


def check_sentence(sentence: dict, question: str, checker: QuoteChecker) -> SentenceCheck:
    """Accurate: it cites, every cited quote is verbatim on its page, its numbers and names are in its quotes
    (or the ids it cites) or in the question."""
    text = str(sentence.get("text") or "")
    citations = list(sentence.get("citations") or [])
    problems = [] if citations else ["no citation"]
    for c in citations:
        verdict = checker.verify(c)
        where = f"{c.get('arxiv_id')} p.{c.get('page')}"
        if verdict is None:
            problems.append(f"unverifiable {where}")
        elif not verdict:
            problems.append(f"quote not on {where}")
    # the arXiv id a sentence cites is evidence of itself: "(1706.03762)" in the text is not an invented number
    support = " ".join(f"{c.get('quote') or ''} {c.get('arxiv_id') or ''}" for c in citations) + " " + question
    missing = unbacked(text, support)
    if missing:
        problems.append("not in its quotes: " + ", ".join(missing))
    return SentenceCheck(text, len(citations), not problems, problems)


# ---------------------------------------------------------------------------------------------- the set
@dataclass
class DevQuestion:
    id: str
    type: str
    language: str
    question: str
    papers: list[str]
    facts: list[list[str]]
    quotes: list[dict]
    absent: list[str] = field(default_factory=list)

    @property
    def answerable(self) -> bool:
        return self.type != "unanswerable"


def row_problems(row: dict) -> list[str]:
    """What is wrong with one row's shape (an empty list when nothing)."""
    out = []
    for key, kind in (("id", str), ("type", str), ("language", str), ("question", str), ("papers", list),
                      ("facts", list), ("quotes", list)):
        if not isinstance(row.get(key), kind):
            out.append(f"{key}: missing or not a {kind.__name__}")
    if out:
        return out
    if row["type"] not in TYPES:
        out.append(f"type {row['type']!r} is not one of {', '.join(TYPES)}")
    if row["language"] not in LANGUAGES:
        out.append(f"language {row['language']!r} is not one of {', '.join(LANGUAGES)}")
    if not row["question"].strip():
        out.append("empty question")
    if any(not isinstance(p, str) or not p or _VERSION.search(p) for p in row["papers"]):
        out.append("papers: arXiv ids without a version")
    if any(not isinstance(f, list) or not f or not all(isinstance(a, str) and a.strip() for a in f)
           for f in row["facts"]):
        out.append("facts: each fact is a non-empty list of non-empty strings")
    for q in row["quotes"]:
        if not (isinstance(q, dict) and isinstance(q.get("arxiv_id"), str) and isinstance(q.get("pdf"), str)
                and isinstance(q.get("page"), int) and q["page"] >= 1 and isinstance(q.get("text"), str)
                and q["text"].strip()):
            out.append(f"quote {q!r}: needs arxiv_id, pdf, page (>= 1) and text")
    if row["type"] == "unanswerable":
        if row["facts"] or row["quotes"]:
            out.append("an unanswerable question has no facts and no quotes")
        absent = row.get("absent")
        if not (isinstance(absent, list) and absent and all(isinstance(a, str) and a.strip() for a in absent)):
            out.append("absent: the terms checked to be absent (non-empty list of strings)")
    else:
        if not row["papers"]:
            out.append("an answerable question names its gold papers")
        if not row["facts"]:
            out.append("an answerable question has at least one fact")
        if not row["quotes"]:
            out.append("an answerable question has at least one quote")
        quoted = {q.get("arxiv_id") for q in row["quotes"] if isinstance(q, dict)}
        out += [f"gold paper {p} has no quote" for p in row["papers"] if p not in quoted]
        out += [f"quote from {p}, which is not a gold paper" for p in sorted(quoted - set(row["papers"]), key=str)]
        if row.get("absent"):
            out.append("absent is for unanswerable questions only")
    return out


def load_devqa(path: str | Path) -> list[DevQuestion]:
    """The set's questions; a bad row is one DevQAError naming the line."""
    path = Path(path)
    if not path.is_file():
        raise DevQAError(f"no such file: {path}")
    items, seen = [], set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DevQAError(f"{path}:{n}: not JSON ({exc.msg})") from None
        problems = row_problems(row) if isinstance(row, dict) else ["not a JSON object"]
        if problems:
            raise DevQAError(f"{path}:{n}: " + "; ".join(problems))
        if row["id"] in seen:
            raise DevQAError(f"{path}:{n}: duplicate id {row['id']}")
        seen.add(row["id"])
        items.append(DevQuestion(row["id"], row["type"], row["language"], row["question"], list(row["papers"]),
                                 [list(f) for f in row["facts"]], list(row["quotes"]), list(row.get("absent") or [])))
    return items


def read_manifest(shared_root: Path) -> dict[str, Path]:
    """{bare arXiv id: PDF} from the shared corpus's MANIFEST.csv ({} when there is none)."""
    manifest = Path(shared_root) / MANIFEST
    if not manifest.is_file():
        return {}
    with manifest.open(encoding="utf-8", newline="") as fh:
        return {bare_id(r["arxiv_id"]): manifest.parent / r["file"] for r in csv.DictReader(fh)
                if (r.get("arxiv_id") or "").strip()}


def gold_pdfs(items: Iterable[DevQuestion], shared_root: Path) -> dict[str, Path]:
    """{bare arXiv id: PDF} for every paper the set names: from its quotes, else from MANIFEST.csv."""
    manifest = read_manifest(shared_root)
    out: dict[str, Path] = {}
    for item in items:
        for q in item.quotes:
            out.setdefault(bare_id(q["arxiv_id"]), Path(shared_root) / q["pdf"])
    for item in items:
        for p in item.papers:
            if p not in out and p in manifest:
                out[p] = manifest[p]
    return out


def find_shared_root(set_path: Path, items: Sequence[DevQuestion]) -> Path:
    """The folder the set's `pdf` paths are relative to: $PAPERRAG_SHARED, else a `shared` folder next to the
    set or one of its parents."""
    probe = next((q["pdf"] for i in items for q in i.quotes), None)
    candidates = [Path(os.environ["PAPERRAG_SHARED"])] if os.environ.get("PAPERRAG_SHARED") else []
    candidates += [p / "shared" for p in Path(set_path).resolve().parents]
    for root in candidates:
        if probe is None or (root / probe).is_file():
            return root
    raise DevQAError(f"cannot find the folder the PDFs of {set_path} are relative to (e.g. {probe})",
                     hint="set PAPERRAG_SHARED to the folder that holds corpus/pdfs")


# ---------------------------------------------------------------------------------------------- scoring
@dataclass
class QuestionOutcome:
    id: str
    type: str
    language: str
    question: str
    answer: str = ""
    abstained: bool = False
    facts_found: int = 0
    facts_total: int = 0
    papers_cited: list[str] = field(default_factory=list)
    paper_recall: float | None = None  # answerable questions only
    sentences: list[SentenceCheck] = field(default_factory=list)
    seconds: float | None = None
    first_piece_seconds: float | None = None
    error: str = ""

    @property
    def answerable(self) -> bool:
        return self.type != "unanswerable"

    @property
    def correct(self) -> bool | None:
        return (not self.abstained and self.facts_found == self.facts_total) if self.answerable else None

    @property
    def partial(self) -> float | None:
        if not self.answerable:
            return None
        return 0.0 if self.abstained or not self.facts_total else self.facts_found / self.facts_total


def answer_sentences(answer: dict) -> list[dict]:
    """The answer's sentences; an answer without the `sentences` field counts as one sentence citing nothing."""
    sentences = answer.get("sentences")
    if sentences is None:
        text = str(answer.get("answer") or "").strip()
        return [{"text": text, "citations": []}] if text else []
    return [s for s in sentences if isinstance(s, dict) and str(s.get("text") or "").strip()]


def score_answer(item: DevQuestion, answer: dict, checker: QuoteChecker, *, canonical=bare_id) -> QuestionOutcome:
    """Score one `AskResult.to_dict()` against its question. `canonical` maps a cited arXiv id to the set's id
    for the same PDF (a PDF ingested without its arXiv stamp is known to the library by another id)."""
    sentences = answer_sentences(answer)
    out = QuestionOutcome(item.id, item.type, item.language, item.question, str(answer.get("answer") or ""),
                          bool(answer.get("abstained")))
    # citation labels ("[1706.03762 p.4]") are not part of the answer: their page numbers must not pass as facts
    text = _CITATION.sub(" ", out.answer or " ".join(str(s.get("text") or "") for s in sentences))
    cited = [canonical(str(c.get("arxiv_id", ""))) for s in sentences for c in (s.get("citations") or [])]
    out.papers_cited = list(dict.fromkeys(c for c in cited if c))
    if not out.abstained:
        out.sentences = [check_sentence(s, item.question, checker) for s in sentences]
    if item.answerable:
        out.facts_total = len(item.facts)
        out.facts_found = 0 if out.abstained else sum(fact_present(f, text) for f in item.facts)
        gold = set(item.papers)
        out.paper_recall = len(gold & set(out.papers_cited)) / len(gold) if gold else None
    return out


# ---------------------------------------------------------------------------------------------- report
def _share(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 3) if flags else None


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.fmean(values), 3) if values else None


def _percentile(values, q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1) of the values that are not None."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    rank = max(1, -(-len(values) * q // 1))  # ceil(n * q), at least the first
    return round(values[int(rank) - 1], 2)


def summarise(questions: Sequence[QuestionOutcome]) -> dict:
    answerable = [q for q in questions if q.answerable]
    unanswerable = [q for q in questions if not q.answerable]
    sentences = [s for q in questions for s in q.sentences]
    return {
        "questions": len(questions), "answerable": len(answerable), "unanswerable": len(unanswerable),
        "sentences": len(sentences), "accurate_sentences": sum(s.accurate for s in sentences),
        "citation_accuracy": _share([s.accurate for s in sentences]),
        "uncited_sentences": sum(not s.citations for s in sentences),
        "answer_correctness": _share([bool(q.correct) for q in answerable]),
        "answer_partial": _mean(q.partial for q in answerable),
        "grounded_refusal": _share([q.abstained for q in unanswerable]),
        "false_refusal": _share([q.abstained for q in answerable]),
        "paper_recall": _mean(q.paper_recall for q in answerable),
        "seconds_p50": _percentile([q.seconds for q in questions], 0.5),
        "seconds_p90": _percentile([q.seconds for q in questions], 0.9),
        "first_piece_p50": _percentile([q.first_piece_seconds for q in questions], 0.5),
        "errors": sum(bool(q.error) for q in questions),
    }


@dataclass
class DevQAReport:
    questions: list[QuestionOutcome]
    model: str = ""
    ingest_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    speeds: dict = field(default_factory=dict)  # the machine's pace over the answers' calls (call_log.call_speeds)

    def summary(self) -> dict:
        out = summarise(self.questions)
        out["model"] = self.model
        out.update(self.speeds)
        out["by_type"] = {t: summarise(g) for t in TYPES if (g := [q for q in self.questions if q.type == t])}
        out["by_language"] = {lang: summarise(g) for lang in LANGUAGES
                              if (g := [q for q in self.questions if q.language == lang])}
        return out

    def to_dict(self) -> dict:
        questions = []
        for q in self.questions:
            d = asdict(q)
            d.update(correct=q.correct, partial=q.partial)
            questions.append(d)
        return {"summary": self.summary(), "ingest_seconds": round(self.ingest_seconds, 2), "notes": self.notes,
                "questions": questions}

    def render(self) -> str:
        def num(v, fmt="{:.2f}"):
            return "-" if v is None else fmt.format(v)

        lines = [(f"{'id':<6} {'type':<12} {'lang':<4} {'abst':>4} {'facts':>5} {'cited ok':>8} {'recall':>6} "
                  f"{'sec':>6} {'first':>6}  question")]
        for q in self.questions:
            facts = f"{q.facts_found}/{q.facts_total}" if q.answerable else "-"
            cited = f"{sum(s.accurate for s in q.sentences)}/{len(q.sentences)}" if q.sentences else "-"
            lines.append(f"{q.id:<6} {q.type:<12} {q.language:<4} {'yes' if q.abstained else 'no':>4} {facts:>5} "
                         f"{cited:>8} {num(q.paper_recall):>6} {num(q.seconds, '{:.1f}'):>6} "
                         f"{num(q.first_piece_seconds, '{:.1f}'):>6}  {q.question[:60]}"
                         + (f"  [error: {q.error}]" if q.error else ""))
        s = self.summary()
        pace = (f" · machine pace: prompt {num(s['prompt_tok_s'], '{:.0f}')} tok/s, decode "
                f"{num(s['decode_tok_s'], '{:.1f}')} tok/s") if self.speeds else ""
        lines += ["", (f"model: {s['model'] or 'unknown'} · {s['questions']} questions ({s['answerable']} answerable, "
                       f"{s['unanswerable']} unanswerable) · ingest {self.ingest_seconds:.1f} s{pace}"), ""]
        head = (f"{'group':<14} {'n':>3} {'cit.acc':>7} {'sent':>5} {'correct':>7} {'partial':>7} {'refusal':>7} "
                f"{'false.r':>7} {'recall':>6} {'p50 s':>6} {'p90 s':>6} {'first':>6}")
        lines.append(head)
        groups = [("all", s)] + [(f"type {k}", v) for k, v in s["by_type"].items()] + \
                 [(f"lang {k}", v) for k, v in s["by_language"].items()]
        for name, g in groups:
            lines.append(f"{name:<14} {g['questions']:>3} {num(g['citation_accuracy']):>7} {g['sentences']:>5} "
                         f"{num(g['answer_correctness']):>7} {num(g['answer_partial']):>7} "
                         f"{num(g['grounded_refusal']):>7} {num(g['false_refusal']):>7} {num(g['paper_recall']):>6} "
                         f"{num(g['seconds_p50'], '{:.1f}'):>6} {num(g['seconds_p90'], '{:.1f}'):>6} "
                         f"{num(g['first_piece_p50'], '{:.1f}'):>6}")
        lines.append("cit.acc: answer sentences citing verbatim quotes that hold their numbers and names; refusal: "
                     "unanswerables abstained; false.r: answerables abstained; recall: gold papers cited")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- evaluation
def ask_timed(lib, question: str) -> tuple[dict, float, float | None]:
    """(`result.to_dict()`, seconds to the complete answer, seconds to the first non-empty streamed piece)."""
    started = time.perf_counter()
    stream = lib.ask(question)
    first = None
    for piece in stream:
        if first is None and str(piece).strip():
            first = time.perf_counter() - started
    total = time.perf_counter() - started
    return stream.result.to_dict(), total, first


def _ingest(lib, pdfs: Sequence[Path], progress) -> tuple[dict[str, Path], list[str]]:
    """Index the set's PDFs (idempotent); {id the library knows each PDF by: PDF} and the failures."""
    result = lib.ingest([str(p) for p in pdfs], progress=progress)
    problems = [f"{d.paper}: {d.action.value} ({d.reason})" for d in result.report.decisions
                if d.action.value in ("failed", "skipped")] + list(result.problems)
    known: dict[str, Path] = {}
    for pdf in pdfs:
        for rec in {r.key: r for path in {str(pdf), str(Path(pdf).resolve())}
                    for r in lib.catalog.papers_with_local_path(path)}.values():
            known[bare_id(rec.arxiv_id)] = pdf
    return known, problems


def evaluate_devqa(lib, set_path: str | Path, *, shared_root: str | Path, progress=None,
                   limit: int | None = None) -> DevQAReport:
    """Ingest the set's PDFs into `lib`, ask every question (the first `limit`) and score the answers."""
    from paperrag.progress import NullProgress

    progress = progress or NullProgress()
    shared_root = Path(shared_root)
    items = load_devqa(set_path)
    pdf_of = gold_pdfs(items, shared_root)
    missing = sorted({str(p) for p in pdf_of.values() if not p.is_file()})
    if missing:
        raise DevQAError(f"{len(missing)} PDFs of the set are not under {shared_root}: {missing[0]}",
                         hint="pass --shared with the folder that holds corpus/pdfs")
    if limit is not None:
        items = items[:limit]

    report = DevQAReport(questions=[])
    started = time.perf_counter()
    known, report.notes = _ingest(lib, sorted(set(pdf_of.values())), progress)
    report.ingest_seconds = time.perf_counter() - started
    id_of_pdf = {pdf: arxiv_id for arxiv_id, pdf in pdf_of.items()}
    every_pdf = {**read_manifest(shared_root), **known, **pdf_of}
    checker = QuoteChecker(every_pdf)

    def canonical(arxiv_id: str) -> str:
        arxiv_id = bare_id(arxiv_id)
        return id_of_pdf.get(every_pdf.get(arxiv_id), arxiv_id)

    report.model = getattr(lib, "model_id", "") or ""
    catalog = getattr(getattr(lib, "settings", None), "catalog_path", None)
    first_call = last_call_id(catalog) if catalog else 0
    progress.start("devqa", total=len(items), description="Dev QA answers")
    for item in items:
        try:
            answer, seconds, first = ask_timed(lib, item.question)
        except Exception as exc:  # noqa: BLE001 — one failing question must not lose the other answers of a run
            outcome = score_answer(item, {"answer": "", "abstained": False, "sentences": []}, checker)
            outcome.error = f"{type(exc).__name__}: {exc}"
        else:
            outcome = score_answer(item, answer, checker, canonical=canonical)
            outcome.seconds, outcome.first_piece_seconds = round(seconds, 2), (
                round(first, 2) if first is not None else None)
        report.questions.append(outcome)
        progress.advance("devqa")
    progress.stop("devqa")
    if catalog:
        report.speeds = call_speeds(catalog, after_id=first_call)
    return report


if __name__ == "__main__":
    import argparse

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    ap = argparse.ArgumentParser(description="Dev QA set: citation accuracy, correctness, grounded refusal")
    ap.add_argument("set", help="the set (jsonl), e.g. bench/devqa/devqa.jsonl")
    ap.add_argument("--shared", required=True, help="folder the set's `pdf` paths are relative to")
    ap.add_argument("--home", required=True, help="data home to index into (re-used when run again)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions")
    ap.add_argument("--gguf", default="", help="answer with this GGUF through llama.cpp")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="", help="write the report's to_dict() here")
    ns = ap.parse_args()

    from paperrag import Library
    from paperrag.settings import load_settings

    settings = load_settings(home=Path(ns.home))
    if ns.gguf:
        settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={
            "backend": "llamacpp", "gguf_path": ns.gguf, "temperature": 0.0, "threads": ns.threads})})
    lib = Library(settings)
    try:
        rep = evaluate_devqa(lib, ns.set, shared_root=ns.shared, limit=ns.limit)
    finally:
        lib.close()
    print(rep.render())
    if ns.json:
        Path(ns.json).write_text(json.dumps(rep.to_dict(), indent=1, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(rep.summary(), ensure_ascii=False))
