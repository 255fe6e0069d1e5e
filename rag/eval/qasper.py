"""QASPER over local PDFs: is the gold evidence in the top-k chunks, and how good are the answers?

    lib = Library(Settings(home=tmp))              # `paperrag eval qa` passes its Library
    report = evaluate_qasper(lib, "../shared/eval/qasper/qasper_qa_for_local_pdfs.jsonl",
                             shared_root=Path("../shared"), answers=False, stock=True)
    print(report.render())

Input: one JSON object a line with `arxiv_id`, `pdf` (relative to `shared_root`), `question`, `answers` (gold answer
strings) and `evidence` (gold evidence paragraphs, possibly empty). The PDFs are ingested through the real pipeline
into the Library's home (idempotent: a second run re-uses the index).

Retrieval metric (questions with gold evidence only). The paper is known in QASPER, so the search is restricted to
it (`SearchFilters(arxiv_ids=...)`; `per_paper=False` searches every indexed paper instead). The ranking is the one
`ask` uses: hybrid first stage, then the top `ask.rerank_depth` re-scored by their best sentence; the first stage
alone is reported next to it (`first_stage_hits`). Gold paragraphs come
from QASPER's own text extraction (BIBREF/TABREF tokens, LaTeX), the chunks from our PDF parser, so both sides are
normalised to word tokens first (`normalize_tokens`:
NFKC, lowercase; QASPER's BIBREF/TABREF/FIGREF/SECREF tokens, the "FLOAT SELECTED:" prefix, `$…$` math and LaTeX
commands dropped; numeric "[12, 13]" and author-year "(Smith et al., 2019)" citations dropped; everything that is
not a letter or digit is a separator). A gold paragraph of n tokens is *found* in the top-k chunk bodies when both
hold (`match_evidence`):

1. coverage: at least 50 % of its token positions lie inside a 5-token shingle (all n tokens when n < 5) that
   occurs in one of the top-k chunks, i.e. at least half of the paragraph is present, in order, in the union of
   the retrieved text (a paragraph may straddle two chunks; shingles rather than a bag of words, because ten
   chunks of the same paper share most of any paragraph's vocabulary);
2. anchor: a single chunk contains a contiguous run of at least min(8, n) of its tokens (so the match is one
   place in the paper, not scattered phrases).

One parser artefact (a garbled formula, a citation left in) only breaks the shingles that span it, so the rule
tolerates noise while a different paragraph of the same paper on the same topic does not pass. A question is a
*hit* when at least one of its gold paragraphs is found; `all_found` is the stricter share of questions whose every
gold paragraph is found. `ceiling` applies the same rule to all chunks of the paper: a gold paragraph that is not
found even there is lost to parsing/chunking (or matching), not to ranking.

Answer metrics (only with `llm`): `Asker.ask(question, papers=[arxiv_id])`; SQuAD token-F1 (lowercase, no
punctuation, no articles, max over the gold answers; QASPER's BIBREF-like tokens and LaTeX are removed from the
gold answers and citation brackets from ours; gold answers left empty by that are skipped). Special answers:
* yes/no: when every gold answer is "yes" or "no" the score is 1 when the answer's polarity matches (its first
  "yes"/"no" word, else a negation word such as "not"/"never"/"n't" means no, otherwise yes), 0 otherwise;
* "Unanswerable": an abstention scores 1 against it; an abstention scores 0 against any other gold answer.
Also reported: the abstain rate (and the share abstained by the relevance gate, before the LLM), seconds per LLM answer
(wall time of `ask`, gated questions left out), LLM tokens in/out per answer, and how often a gold paragraph was
among the passages the LLM saw.

`stock=True` adds the same retrieval metric for a stock LlamaIndex pipeline (SimpleDirectoryReader → default
SentenceSplitter → HuggingFaceEmbedding with the same MiniLM → in-memory VectorStoreIndex, one index per paper,
top-k), so ours and stock are compared in one run. The stock chunks are larger (1024 tokens vs our 256 word pieces),
so top-10 is a much larger share of the paper; the report therefore also gives each side at the other's budget:
stock's ranked chunks cut to the words our top-k holds, and our ranking (top 50) cut to the words stock's top-k
holds (whole chunks, at least one, while the running word count stays within the budget).

CLI: python -m rag.eval.qasper JSONL --shared ../shared --home DIR [--stock] [--corpus-wide] [--gguf PATH]
     [--max-tokens 128] [--min-relevance X] [--per-paper-cap N] [--json OUT]
"""

from __future__ import annotations

import json
import re
import statistics
import string
import time
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from paperrag.text import chunk_body

COVERAGE = 0.5  # share of the gold paragraph's tokens that must be inside a shared shingle
SHINGLE = 5  # shingle length for coverage
ANCHOR = 8  # contiguous run one chunk must share with the gold paragraph

_QASPER_REF = re.compile(r"\b(?:BIBREF|TABREF|FIGREF|SECREF|EQREF|INLINEFORM|DISPLAYFORM)\d*\b")
_MATH = re.compile(r"\$[^$]*\$")
_LATEX_CMD = re.compile(r"\\[a-zA-Z]+")
_NUM_CITE = re.compile(r"\[\s*\d+(?:\s*[,–-]\s*\d+)*\s*\]")
_YEAR_CITE = re.compile(r"\([^()]*\b(?:19|20)\d{2}[a-z]?\)")
_TOKEN = re.compile(r"[^\W_]+")


# ---------------------------------------------------------------------------------------------- matching
def normalize_tokens(text: str) -> list[str]:
    """Word tokens of a gold paragraph or a chunk body, markup and citations removed (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).removeprefix("FLOAT SELECTED:")
    for pattern in (_QASPER_REF, _MATH, _NUM_CITE, _YEAR_CITE, _LATEX_CMD):
        text = pattern.sub(" ", text)
    return _TOKEN.findall(text.lower())


def _ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


@dataclass
class EvidenceMatch:
    found: bool
    coverage: float  # share of gold tokens inside a shingle present in the chunks
    anchored: bool  # one chunk shares a contiguous run of min(ANCHOR, n) tokens


def match_evidence(gold: str, chunks: list[str], *, coverage: float = COVERAGE, shingle: int = SHINGLE,
                   anchor: int = ANCHOR) -> EvidenceMatch:
    """Whether the gold paragraph is in `chunks` (chunk bodies, already without their title › section line)."""
    g = normalize_tokens(gold)
    if not g:
        return EvidenceMatch(False, 0.0, False)
    toks = [normalize_tokens(c) for c in chunks]
    n_sh, n_an = min(shingle, len(g)), min(anchor, len(g))
    have = set().union(*(_ngrams(t, n_sh) for t in toks)) if toks else set()
    covered = [False] * len(g)
    for i in range(len(g) - n_sh + 1):
        if tuple(g[i : i + n_sh]) in have:
            covered[i : i + n_sh] = [True] * n_sh
    cov = sum(covered) / len(g)
    gold_runs = _ngrams(g, n_an)
    anchored = any(gold_runs & _ngrams(t, n_an) for t in toks)
    return EvidenceMatch(cov >= coverage and anchored, round(cov, 3), anchored)


# ---------------------------------------------------------------------------------------------- answers
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_BRACKETS = re.compile(r"\[[^\]]*\]")
_NEGATION = re.compile(r"\b(not|never|none|neither|nor|without)\b|n['’]t\b")
_PUNCT = set(string.punctuation)


def squad_normalize(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 of two strings after `squad_normalize`."""
    p, g = squad_normalize(prediction).split(), squad_normalize(gold).split()
    common = sum((Counter(p) & Counter(g)).values())
    if not p or not g or common == 0:
        return float(p == g)
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def clean_gold_answer(text: str) -> str:
    return " ".join(normalize_tokens(text)) if (_QASPER_REF.search(text) or "$" in text) else text.strip()


def answer_polarity(answer: str) -> str:
    words = squad_normalize(answer).split()
    for w in words:
        if w in ("yes", "no"):
            return w
    return "no" if _NEGATION.search(answer.lower()) else "yes"


def answer_score(answer: str, golds: list[str], abstained: bool) -> float | None:
    """Max over the gold answers of token-F1, with the yes/no and Unanswerable rules; None when nothing to score."""
    golds = [c for c in (clean_gold_answer(g) for g in golds) if squad_normalize(c)]
    if not golds:
        return None
    norm = [squad_normalize(g) for g in golds]
    if abstained:
        return 1.0 if "unanswerable" in norm else 0.0
    scorable = [(g, n) for g, n in zip(golds, norm, strict=True) if n != "unanswerable"]
    if not scorable:
        return 0.0
    if all(n in ("yes", "no") for _, n in scorable):
        return float(answer_polarity(answer) in {n for _, n in scorable})
    answer = _BRACKETS.sub(" ", answer)
    return max(token_f1(answer, g) for g, _ in scorable)


# ---------------------------------------------------------------------------------------------- data
@dataclass
class QasperItem:
    arxiv_id: str
    pdf: Path
    question: str
    answers: list[str]
    evidence: list[str]
    question_id: str = ""


def load_qasper(jsonl_path: str | Path, shared_root: str | Path) -> list[QasperItem]:
    items = []
    with open(jsonl_path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                r = json.loads(line)
                items.append(QasperItem(r["arxiv_id"], Path(shared_root) / r["pdf"], r["question"],
                                        list(r.get("answers") or []), list(r.get("evidence") or []),
                                        r.get("question_id", "")))
    return items


# ---------------------------------------------------------------------------------------------- report
@dataclass
class QuestionResult:
    arxiv_id: str
    question: str
    n_evidence: int
    found: list[bool] = field(default_factory=list)  # per gold paragraph, ours (as ask retrieves: with rerank)
    first_stage_found: list[bool] = field(default_factory=list)  # ours without the sentence rerank
    ceiling: list[bool] = field(default_factory=list)  # per gold paragraph, against all chunks of the paper
    stock_found: list[bool] | None = None
    stock_hit_at_our_words: bool | None = None  # stock's ranking cut to the words of our top-k
    hit_at_stock_words: bool | None = None  # our ranking cut to the words of stock's top-k
    words: int = 0  # words in our top-k chunk bodies
    stock_words: int | None = None
    answer: str | None = None
    score: float | None = None
    abstained: bool | None = None
    gated: bool | None = None  # abstained before the LLM (ask.min_relevance gate or no passage)
    prompt_hit: bool | None = None  # a gold paragraph is in the passages the LLM saw
    seconds: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None


def _share(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 3) if flags else None


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.fmean(values), 3) if values else None


@dataclass
class QasperReport:
    k: int
    questions: list[QuestionResult]
    per_paper: bool = True  # search restricted to the question's paper (else the whole index)
    rerank_depth: int = 0  # ask.rerank_depth used for `found`
    ingest_seconds: float = 0.0
    retrieval_seconds: float = 0.0
    answer_seconds: float = 0.0
    model: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def with_evidence(self) -> list[QuestionResult]:
        return [q for q in self.questions if q.n_evidence]

    def summary(self) -> dict:
        ev = self.with_evidence
        out = {
            "questions": len(self.questions), "with_evidence": len(ev), "k": self.k,
            "scope": "paper" if self.per_paper else "corpus",
            "hits": sum(any(q.found) for q in ev), "hit_rate": _share([any(q.found) for q in ev]),
            "rerank_depth": self.rerank_depth,
            "first_stage_hits": sum(any(q.first_stage_found) for q in ev),
            "all_found_rate": _share([all(q.found) for q in ev]),
            "ceiling_rate": _share([any(q.ceiling) for q in ev]),
            "words_per_question": _mean(q.words for q in ev),
        }
        if any(q.stock_found is not None for q in ev):
            out.update(stock_hits=sum(any(q.stock_found or []) for q in ev),
                       stock_hit_rate=_share([any(q.stock_found or []) for q in ev]),
                       stock_all_found_rate=_share([bool(q.stock_found) and all(q.stock_found) for q in ev]),
                       stock_words_per_question=_mean(q.stock_words for q in ev),
                       stock_hits_at_our_words=sum(bool(q.stock_hit_at_our_words) for q in ev),
                       hits_at_stock_words=sum(bool(q.hit_at_stock_words) for q in ev))
        answered = [q for q in self.questions if q.abstained is not None]
        if answered:
            out.update(model=self.model, answers=len(answered), token_f1=_mean(q.score for q in answered),
                       scored=sum(q.score is not None for q in answered),
                       abstain_rate=_share([q.abstained for q in answered]),
                       gated_rate=_share([bool(q.gated) for q in answered]),
                       prompt_hits=sum(bool(q.prompt_hit) for q in answered if q.n_evidence),
                       seconds_per_answer=_mean(q.seconds for q in answered if not q.gated),  # LLM answers only
                       tokens_in_per_answer=_mean(q.tokens_in for q in answered),
                       tokens_out_per_answer=_mean(q.tokens_out for q in answered))
        return out

    def to_dict(self) -> dict:
        return {"summary": self.summary(), "ingest_seconds": round(self.ingest_seconds, 2),
                "retrieval_seconds": round(self.retrieval_seconds, 2),
                "answer_seconds": round(self.answer_seconds, 2), "notes": self.notes,
                "questions": [asdict(q) for q in self.questions]}

    def render(self) -> str:
        def flags(f):
            return "-" if f is None else f"{sum(f)}/{len(f)}"

        s = self.summary()
        answers = "answers" in s
        head = f"{'paper':<11} {'question':<44} {'ev':>3} {'ours':>5} {'ceil':>5}"
        head += f" {'stock':>5}" if "stock_hit_rate" in s else ""
        head += f" {'F1':>5} {'abst':>4} {'sec':>6}" if answers else ""
        lines = [head]
        for q in self.questions:
            row = f"{q.arxiv_id:<11} {q.question[:44]:<44} {q.n_evidence:>3} "
            row += f"{flags(q.found if q.n_evidence else None):>5} {flags(q.ceiling if q.n_evidence else None):>5}"
            if "stock_hit_rate" in s:
                row += f" {flags(q.stock_found if q.n_evidence else None):>5}"
            if answers:
                f1 = "-" if q.score is None else f"{q.score:.2f}"
                row += f" {f1:>5} {'yes' if q.abstained else 'no':>4} {q.seconds or 0:>6.1f}"
            lines.append(row)
        lines.append("")
        lines.append("search scope: " + ("the question's paper" if self.per_paper else "all indexed papers"))
        lines.append(f"retrieval hit@{self.k} (ours): {s['hits']}/{s['with_evidence']} = {s['hit_rate']} "
                     f"(all gold paragraphs: {s['all_found_rate']}; ceiling over all chunks: {s['ceiling_rate']}; "
                     f"{s['words_per_question']} words retrieved per question)")
        if s["rerank_depth"]:
            lines.append(f"  of which without the sentence rerank of the top {s['rerank_depth']} (ask.rerank_depth): "
                         f"{s['first_stage_hits']}/{s['with_evidence']}")
        if "stock_hit_rate" in s:
            lines.append(f"retrieval hit@{self.k} (stock LlamaIndex): {s['stock_hits']}/{s['with_evidence']} = "
                         f"{s['stock_hit_rate']} (all gold paragraphs: {s['stock_all_found_rate']}; "
                         f"{s['stock_words_per_question']} words retrieved per question)")
            n = s["with_evidence"]
            lines.append(f"equal word budget: stock cut to our words {s['stock_hits_at_our_words']}/{n}, "
                         f"ours cut to stock's words {s['hits_at_stock_words']}/{n}")
        if answers:
            lines.append(f"answers ({s['model']}): token-F1 {s['token_f1']} over {s['scored']} scored, abstain rate "
                         f"{s['abstain_rate']} (before the LLM: {s['gated_rate']}), {s['seconds_per_answer']} s per "
                         f"LLM answer, tokens in/out {s['tokens_in_per_answer']}/{s['tokens_out_per_answer']}; gold "
                         f"evidence in the LLM's passages {s['prompt_hits']}/{s['with_evidence']}")
        lines.append(f"time: ingest {self.ingest_seconds:.1f} s, retrieval {self.retrieval_seconds:.1f} s"
                     + (f", answers {self.answer_seconds:.1f} s" if answers else ""))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- evaluation
def _ingest(items: list[QasperItem], parts, progress) -> tuple[dict[Path, str], list[str]]:
    """Index the referenced PDFs; {pdf: arXiv id the catalog knows it by} and the failures."""
    from ingest import sources
    from ingest.pipeline import Ingestor

    pdfs = list(dict.fromkeys(i.pdf for i in items))
    plan = sources.plan(parts.settings, inputs=[str(p) for p in pdfs], catalog=parts.catalog)
    report = Ingestor(parts, progress=progress).run(plan.command, plan.candidates, plan.pre_decisions)
    ids = {Path(c.local_path).resolve(): c.meta.arxiv_id for c in plan.candidates}
    problems = [f"{d.paper}: {d.action.value} ({d.reason})" for d in report.decisions
                if d.action.value in ("failed", "skipped")]
    return {p: ids.get(p.resolve(), "") for p in pdfs}, problems


def _paper_chunks(catalog, arxiv_id: str) -> list[str]:
    """Every stored chunk of every version of the paper (the ceiling: the gold passage is in one of them)."""
    return [chunk_body(c.text) for rec in catalog.versions_of(arxiv_id) for c in catalog.chunks_of(rec.key)]


def _words_prefix(texts: list[str], budget: int) -> list[str]:
    """The leading texts whose running word count stays within `budget` (at least one)."""
    out, used = [], 0
    for t in texts:
        used += len(t.split())
        if out and used > budget:
            break
        out.append(t)
    return out


def stock_retrieve(items: list[QasperItem], k: int = 10, *, per_paper: bool = True) -> dict[int, list[str]]:
    """{index into items: top-k chunk texts} from a stock LlamaIndex pipeline: one in-memory index per paper, or
    one over all the papers when not `per_paper`."""
    import logging

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # "fontTools is required ..." once per font and page
    from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from indexes.embedder import resolve_model_path

    embed_model = HuggingFaceEmbedding(model_name=resolve_model_path("all-MiniLM-L6-v2"))
    out: dict[int, list[str]] = {}
    pdfs = list(dict.fromkeys(i.pdf for i in items))
    for group in ([[p] for p in pdfs] if per_paper else [pdfs]):
        docs = SimpleDirectoryReader(input_files=[str(p) for p in group]).load_data()
        retriever = VectorStoreIndex.from_documents(docs, embed_model=embed_model).as_retriever(similarity_top_k=k)
        for n, item in enumerate(items):
            if item.pdf in group and item.evidence:
                out[n] = [hit.node.get_content() for hit in retriever.retrieve(item.question)]
    return out


def evaluate_qasper(parts, jsonl_path: str | Path, *, shared_root: str | Path, answers: bool = True, k: int = 10,
                    progress=None, stock: bool = False, papers: list[str] | None = None,
                    per_paper: bool = True) -> QasperReport:
    """Ingest into `parts` (the Library of the eval's data home), then the retrieval metric (and the answer
    metrics with `answers`, through the Library's LLM; the stock baseline with `stock`).
    `papers` restricts the run to the questions of those arXiv ids. `per_paper=False` searches the whole index
    (every paper in `settings.home`) instead of the question's paper, for ours and stock alike; answers are always
    asked about the question's paper."""
    from paperrag.progress import NullProgress
    from rag.ask import Asker
    from rag.retrieval.filters import SearchFilters

    settings = parts.settings
    progress = progress or NullProgress()
    items = load_qasper(jsonl_path, shared_root)
    if papers:
        items = [i for i in items if i.arxiv_id in set(papers)]
    report = QasperReport(k=k, per_paper=per_paper, rerank_depth=settings.ask.rerank_depth,
                          questions=[QuestionResult(i.arxiv_id, i.question, len(i.evidence)) for i in items])

    t0 = time.perf_counter()
    ids, problems = _ingest(items, parts, progress)
    report.notes += problems
    report.ingest_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    retriever = parts.retriever
    deep: dict[int, list[str]] = {}  # our top 50, for the equal-budget comparison with stock
    progress.start("qasper", total=len(items), description="QASPER retrieval")
    for n, (item, res) in enumerate(zip(items, report.questions, strict=True)):
        if item.evidence:
            paper = ids.get(item.pdf) or item.arxiv_id
            only = SearchFilters(arxiv_ids=(paper,)) if per_paper else None
            hits = retriever.search(item.question, k=k, filters=only, rerank=report.rerank_depth)
            first = [chunk_body(p.text) for p in retriever.search(item.question, k=k, filters=only)]
            if stock:
                deep[n] = [chunk_body(p.text) for p in retriever.search(item.question, k=max(50, k), filters=only,
                                                                        rerank=report.rerank_depth)]
            bodies = [chunk_body(p.text) for p in hits]
            every = _paper_chunks(parts.catalog, paper)
            res.found = [match_evidence(g, bodies).found for g in item.evidence]
            res.first_stage_found = [match_evidence(g, first).found for g in item.evidence]
            res.ceiling = [match_evidence(g, every).found for g in item.evidence]
            res.words = sum(len(b.split()) for b in bodies)
        progress.advance("qasper")
    progress.stop("qasper")
    if stock:
        stock_hits = stock_retrieve(items, k, per_paper=per_paper)
        for n, texts in stock_hits.items():
            res = report.questions[n]
            res.stock_found = [match_evidence(g, texts).found for g in items[n].evidence]
            res.stock_words = sum(len(t.split()) for t in texts)
            ours = _words_prefix(deep[n], res.stock_words)
            res.hit_at_stock_words = any(match_evidence(g, ours).found for g in items[n].evidence)
            mine = _words_prefix(texts, res.words)
            res.stock_hit_at_our_words = any(match_evidence(g, mine).found for g in items[n].evidence)
    report.retrieval_seconds = time.perf_counter() - t0

    if answers:
        t0 = time.perf_counter()
        report.model = parts.model_id
        asker = Asker(parts)
        progress.start("qasper-answers", total=len(items), description="QASPER answers")
        for item, res in zip(items, report.questions, strict=True):
            started = time.perf_counter()
            result = asker.ask(item.question, papers=[ids.get(item.pdf) or item.arxiv_id])
            res.seconds = round(time.perf_counter() - started, 2)
            res.answer, res.abstained = result.answer, result.abstained
            res.score = answer_score(result.answer, item.answers, result.abstained)
            res.gated = result.abstained and result.llm is None
            if item.evidence:
                seen = [chunk_body(p.text) for p in result.evidence]
                res.prompt_hit = any(match_evidence(g, seen).found for g in item.evidence)
            if result.llm is not None:
                res.tokens_in, res.tokens_out = result.llm.tokens_in, result.llm.tokens_out
                report.model = result.llm.model or report.model
            progress.advance("qasper-answers")
        progress.stop("qasper-answers")
        report.answer_seconds = time.perf_counter() - t0
    return report


if __name__ == "__main__":
    import argparse
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    ap = argparse.ArgumentParser(description="QASPER evidence hit@k (ours vs stock) and answer token-F1")
    ap.add_argument("jsonl")
    ap.add_argument("--shared", required=True, help="folder the `pdf` paths are relative to")
    ap.add_argument("--home", required=True, help="data home to index into (re-used when run again)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--stock", action="store_true", help="also the stock LlamaIndex baseline")
    ap.add_argument("--gguf", default="", help="answer with this GGUF through llama.cpp")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-relevance", type=float, default=None, help="override ask.min_relevance")
    ap.add_argument("--per-paper-cap", type=int, default=None, help="override ask.per_paper_cap")
    ap.add_argument("--rerank-depth", type=int, default=None, help="override ask.rerank_depth (0 = off)")
    ap.add_argument("--papers", default="", help="comma-separated arXiv ids (default: all)")
    ap.add_argument("--corpus-wide", action="store_true", help="search all indexed papers, not the question's")
    ap.add_argument("--json", default="", help="write the report's to_dict() here")
    ns = ap.parse_args()

    from paperrag import Library
    from paperrag.settings import Settings

    settings = Settings(home=Path(ns.home))
    ask = {k: v for k, v in (("min_relevance", ns.min_relevance), ("per_paper_cap", ns.per_paper_cap),
                             ("rerank_depth", ns.rerank_depth)) if v is not None}
    settings = settings.model_copy(update={"ask": settings.ask.model_copy(update=ask)})
    if ns.gguf:
        settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={
            "backend": "llamacpp", "gguf_path": ns.gguf, "max_output_tokens": ns.max_tokens, "temperature": 0.0,
            "threads": ns.threads})})
    rep = evaluate_qasper(Library(settings), ns.jsonl, shared_root=ns.shared, answers=bool(ns.gguf), k=ns.k, stock=ns.stock, papers=[p for p in ns.papers.split(",") if p] or None,
                          per_paper=not ns.corpus_wide)
    print(rep.render())
    if ns.json:
        Path(ns.json).write_text(json.dumps(rep.to_dict(), indent=1, ensure_ascii=False))
