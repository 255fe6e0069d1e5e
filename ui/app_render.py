"""Pure helpers of the Gradio app (`ui/app.py`): citations → links, the sources panel, digest pages, library
rows and the status page. No Gradio import here, so they are cheap to test on their own."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path

from paperrag.latex import MathSpan, split_math
from paperrag.library import CorpusHealth, RunView
from paperrag.records import PaperRecord

# a citation as rag.citations prints it: [2506.19850 §4.2 p.6], [hep-th/9901001 §Intro p.2], [local:0123abcd4567 p.3]
_LABEL = re.compile(
    r"\[(?P<id>\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7}|local:[0-9a-f]{12})"
    r"(?P<sec>\s+§[^\]\s]+)?\s+p\.(?P<page>\d+)\]"
)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]()<>#|~])")
FORMATS = ("report", "monitor", "table")


# LaTeX in the app: Gradio's Markdown and Chatbot render math with the KaTeX that Gradio itself serves (its
# frontend assets, no CDN), on the delimiters below. "\\(" and "\\[" are not among them, because md_escape
# writes "\\(" and "\\[" for literal brackets: math spans are written with dollars (`math_md`), and a dollar
# that is not math as "&#36;" (a "\\$" would still open math there).
LATEX_DELIMITERS = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


def math_md(span: MathSpan) -> str:
    """A math span for Gradio's markdown: `$…$` / `$$…$$` whatever its delimiters, "<" and ">" as `\\lt`/`\\gt`
    (the same formula; no tag can start inside it)."""
    tex = span.tex.replace("<", "\\lt ").replace(">", "\\gt ")
    return f"$${tex}$$" if span.display else f"${tex}$"


def md_escape(text: object) -> str:
    """Text from a paper or a model, shown literally inside markdown; its LaTeX math rendered."""
    out = []
    for piece, span in split_math(" ".join(str(text or "").split())):
        out.append(math_md(span) if span else _MD_SPECIAL.sub(r"\\\1", piece).replace("$", "&#36;"))
    return "".join(out)


def with_math(text: str) -> str:
    """Model text (an answer) for markdown: its math spans as `math_md` writes them, other dollars as "&#36;",
    and nothing in it that could become live HTML or a link of the model's making: "<" is `&lt;`, "](" and a
    line-start "[x]:" lose their meaning (the citation links are added by code afterwards); emphasis and lists
    stay."""
    return "".join(math_md(span) if span else _inert(piece) for piece, span in split_math(text or ""))


_REF_DEF = re.compile(r"^(\s*)\[([^\]]*)\]:", re.M)


def _inert(piece: str) -> str:
    piece = piece.replace("$", "&#36;").replace("<", "&lt;").replace("](", "]\\(")
    return _REF_DEF.sub(r"\1\\[\2\\]:", piece)


def shorten(text: str, n: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


# --------------------------------------------------------------------------------------------- citations
def versions_of(evidence: Iterable) -> dict[str, int]:
    """arXiv id → version of the passages that were in the prompt (the labels carry no version)."""
    return {p.arxiv_id: p.version for p in evidence or ()}


def linkify(text: str, versions: dict[str, int] | None = None,
            reader: dict[tuple[str, int], str] | None = None) -> str:
    """Markdown where every citation label links its id to the arXiv page and its `§x p.N` to the cited page:
    in the local reader (`reader`: (arXiv id, page) → its address, for the papers whose PDF is cached; the quote
    is highlighted there), else the PDF on arXiv at that page.
    `[2501.10120 §4 p.5]` → `\\[[2501.10120](…/abs/2501.10120v1) [§4 p.5](reader/2501.10120v1?page=5&q=…)\\]`.
    Labels of local PDFs (no arXiv page) link only to the reader, or stay plain text."""
    versions = versions or {}
    reader = reader or {}
    text = with_math(text or "")

    def one(m: re.Match) -> str:
        arxiv_id, page = m["id"], m["page"]
        where = ((m["sec"] or "").strip() + f" p.{page}").strip()
        local = reader.get((arxiv_id, int(page)))
        if arxiv_id.startswith("local:"):
            if local:
                return "\\[" + md_escape(arxiv_id) + f" [{md_escape(where)}]({local})\\]"
            return "\\[" + md_escape(f"{arxiv_id} {where}") + "\\]"
        v = versions.get(arxiv_id)
        ref = f"{arxiv_id}v{v}" if v else arxiv_id
        return (f"\\[[{arxiv_id}](https://arxiv.org/abs/{ref}) "
                f"[{where}]({local or f'https://arxiv.org/pdf/{ref}#page={page}'})\\]")

    return _LABEL.sub(one, text or "")


def sources_markdown(sources: Sequence[dict], notes: Sequence[str] = ()) -> str:
    """The panel next to the chat: only the cited sources, each with its links and the quoted evidence. A source
    with a `reader_url` (its PDF is cached) opens first in the local reader, the quote highlighted; the arXiv
    links stay, second."""
    lines: list[str] = []
    if sources:
        lines += [f"**Cited sources ({len(sources)})**", ""]
    for s in sources:
        links = " · ".join(x for x in (
            f"[read p.{s['pages'][0]} here]({s['reader_url']})" if s.get("reader_url") else "",
            f"[arXiv]({s['abs_url']})" if s.get("abs_url") else "",
            f"[PDF p.{s['pages'][0]} on arXiv]({s['pdf_url']})" if s.get("pdf_url") else "") if x)
        section = md_escape(s.get("section") or "n/a")
        lines.append(f"{s['n']}. **{md_escape(s['label'])}** *{md_escape(s['title'])}* — {section}"
                     + (f"  \n   {links}" if links else ""))
        evidence = md_escape(shorten(s.get("evidence", ""), 1200))
        lines.append(f"   > {evidence}")
        lines.append("")
    for note in notes:
        lines.append(f"*note: {md_escape(note)}*  ")
    return "\n".join(lines).strip() or "*No sources: the answer cites no passage.*"


# --------------------------------------------------------------------------------------------- library
LIBRARY_COLUMNS = ["paper", "title", "date", "categories", "status", "text", "chunks", "problem"]


def library_rows(papers: Iterable[PaperRecord], query: str = "", status: str = "all",
                 limit: int = 500) -> tuple[list[list], int]:
    """(table rows, number of matching papers) for the Library tab; newest first, at most `limit` rows."""
    words = [w.lower() for w in (query or "").split()]
    out = []
    for p in papers:
        if status and status != "all" and p.status != status:
            continue
        hay = " ".join([p.key, p.title, " ".join(p.categories), " ".join(p.authors), p.abstract]).lower()
        if any(w not in hay for w in words):
            continue
        text = ("full text" if p.fulltext else "abstract only") if p.status == "indexed" else "—"
        day = (p.published or p.announced or "")[:10]
        out.append([p.key, p.title, day, ", ".join(p.categories), p.status, text, int(p.n_chunks),
                    shorten(p.error, 200)])
    out.sort(key=lambda row: (row[2], row[0]), reverse=True)
    return out[:limit], len(out)


def decisions_markdown(decisions: Sequence, notes: Sequence[str] = (), problems: Sequence[str] = ()) -> str:
    """A run's outcome: one line per paper (kept / already / failed …) with its reason."""
    lines = []
    if decisions:
        lines += ["| paper | outcome | reason |", "|---|---|---|"]
        for d in decisions:
            action = getattr(d.action, "value", d.action)
            mark = {"failed": "✗ failed", "kept": "✓ added", "replaced": "✓ replaced",
                    "already": "✓ already there", "skipped": "– skipped"}.get(action, action)
            lines.append(f"| {md_escape(d.paper)} {md_escape(d.title) if d.title else ''} | {mark} | "
                         f"{md_escape(d.reason)} |")
    for p in problems:
        lines.append(f"\n✗ {md_escape(p)}")
    for n in notes:
        lines.append(f"\n*note: {md_escape(n)}*")
    return "\n".join(lines) or "Nothing was done."


def runs_markdown(runs: Sequence[RunView]) -> str:
    """Recent ingest runs (running ones included, e.g. the morning `paperrag daily`), with their failures."""
    if not runs:
        return "*No ingest run yet.*"
    lines, failures = [], []
    for view in runs:
        r = view.run
        counts = ", ".join(f"{k} {v}" for k, v in sorted(r.summary.get("counts", {}).items())) or "no decisions"
        status = "**running…**" if r.status == "running" else r.status
        started = (r.started_at or "")[:16].replace("T", " ")
        lines.append(f"- run {r.id} · {status} · {started} · `{shorten(r.command or '', 50).replace('`', '')}`"
                     f" — {counts}")
        for line in view.receipt_lines():
            lines.append(f"  - receipt: {md_escape(line)}")
        for d in view.decisions:
            if d.action == "failed":
                failures.append(f"- run {r.id}: **{md_escape(d.paper)}** — {md_escape(d.reason)}")
    if failures:
        lines += ["", "**Failed papers, with the reason**", "", *failures[:50]]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- status


def health_markdown(h: CorpusHealth) -> str:
    order = ("indexed", "indexing", "failed", "superseded")
    counts = ", ".join(f"{k} {h.counts[k]}" for k in order if h.counts.get(k)) or "no papers yet"
    lines = ["## Corpus", "",
             f"- papers: {counts}",
             f"- indexed papers: full text {h.fulltext} · abstract only {h.abstract_only}",
             "", "## Index health", "",
             f"- chunks in the catalog: {h.catalog_chunks}"]
    if h.vectors is None:
        lines.append(f"- vectors in Chroma: unknown ({md_escape(h.vector_error)})")
    else:
        ok = h.vectors == h.catalog_chunks
        lines.append(f"- vectors in Chroma: {h.vectors} — " + (
            "✓ in step with the catalog" if ok else
            "⚠ out of step with the catalog: an interrupted ingest is cleaned up by the next `paperrag ingest`; "
            "`paperrag reindex` rebuilds every vector"))
    if h.keyword_index_version is None:
        lines.append(f"- keyword index: not built yet for corpus version {h.corpus_version} "
                     "(built at the first question)")
    elif h.keyword_index_version == h.corpus_version:
        lines.append(f"- keyword index: ✓ current (corpus version {h.corpus_version})")
    else:
        lines.append(f"- keyword index: built for corpus version {h.keyword_index_version}, catalog is at "
                     f"{h.corpus_version} (brought up to date by the next ingest or question)")
    return "\n".join(lines)


def last_daily_markdown(digests_dir: Path, days: list[str], today: date | None = None) -> str:
    """The Status tab's "Last daily run": `days` are the written digest days, newest first."""
    lines = ["## Last daily run", ""]
    if not days:
        return "\n".join(lines + ["- no digest written yet: run `paperrag daily` (or `make run`)"])
    day = days[0]
    day_dir = Path(digests_dir) / day
    files = sorted(p.name for p in day_dir.iterdir() if p.suffix in (".md", ".html"))
    stamp = max(p.stat().st_mtime for p in day_dir.iterdir())
    from datetime import datetime

    written = datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")
    age = ((today or date.today()) - date.fromisoformat(day)).days
    lines.append(f"- latest digest: **{day}**" + (" (today)" if age == 0 else f" ({age} days ago)")
                 + f", written {written}")
    lines.append(f"- files: {', '.join(files)}")
    report = day_dir / "run-report.md"
    if report.exists():
        text = report.read_text(encoding="utf-8")
        for label in ("Papers in the digest", "Candidates"):
            m = re.search(rf"\*\*{label}\*\*:\s*(.+)", text)
            if m:
                lines.append(f"- {label.lower()}: {md_escape(m[1])}")
        lines.append("- every candidate with its reason: Digests tab → format *run report*")
    return "\n".join(lines)
