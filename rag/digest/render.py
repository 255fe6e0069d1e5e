"""Render a `Digest` as markdown and as a standalone HTML page, in the three formats of the reference reports.

- table   (reference 000): one markdown table row per paper of the day: title | first author | PDF | abstract.
- report  (references 001/002): executive summary, numbered table of contents, one section per paper with
  a `<a id='ID'></a>` anchor, metadata, abstract, 7-part analysis, key findings and links.
- monitor (references 003/004): overview of the monitoring run, then per paper its details, abstract and
  5-part analysis.

Analyses, the executive summary, key findings and the table's cells are data (`model.Part` / `Item` / `Cited`)
composed from paper cards; this module writes their markdown: a heading per part, a bullet per item, each span
followed by the pages of its quotes linked to the PDF page (`cite_md`), a rejected span's quotes verbatim under
a label, "not stated" as a sentence. What the reader sees never carries the validator's words (those are in the
run report).

Text that came from papers or from a model is never trusted: every `{{ }}` in a markdown template is escaped
for markdown unless the value is an `MD` fragment built here (see `_finalize`), model spans and quotes are
escaped as plain text (no markup, links or HTML of theirs survive), and the HTML conversion runs with raw HTML
switched off, an allow-list of attributes and URL schemes, and a Content-Security-Policy that forbids scripts.
Only the paper anchors this module writes get through as HTML.

`write_digest` writes DATE/{fmt}.md and DATE/{fmt}.html (and records that format's analysis outcomes in
DATE/run-report.md); `write_run_report` writes the rest of the run report: every candidate with its
decision and reason. All writes are atomic (rag.digest.io).
"""

from __future__ import annotations

import email.utils
import html
import re
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date as Date
from pathlib import Path
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree as ET

import markdown
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markdown.extensions import Extension
from markdown.extensions.toc import slugify_unicode
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup  # jinja2's own dependency

from ingest.text_clean import clean_abstract as _clean_abstract_text
from ingest.text_clean import trim_url
from paperrag.latex import MathSpan, split_math
from rag.digest.formats import BASIS_LABEL
from rag.digest.io import atomic_write_text
from rag.digest.mathml import to_mathml
from rag.digest.model import Cited, Digest, Item, KeyFigure, PaperEntry, Part
from rag.gated import Outcome

FORMATS = ("table", "report", "monitor")
LANGUAGES = ("zh", "en")
TEMPLATES = Path(__file__).resolve().parent / "templates"
RUN_REPORT = "run-report.md"
MARKDOWN_EXTENSIONS = ["tables", "toc", "attr_list", "fenced_code", "sane_lists"]

# ----------------------------------------------------------------------------------------------- labels
LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "table_title": "标题",
        "table_authors": "作者",
        "table_pdf": "PDF链接",
        "table_abstract": "摘要",
        "untranslated": "（未翻译）",
        "monitor_title": "arXiv论文监控报告",
        "monitor_note": "本报告由 paperrag 的 arXiv 论文监控自动生成",
        "overview": "报告概览",
        "monitor_date": "监控日期",
        "monitor_categories": "监控分类",
        "keywords": "关键词",
        "found": "发现论文数",
        "found_n": "{n}篇",
        "details": "基本信息",
        "authors": "作者",
        "published": "发布日期",
        "categories": "分类",
        "paper_links": "论文链接",
        "arxiv_link": "arXiv链接",
        "code": "代码链接",
        "matched": "匹配关键词",
        "relevance": "相关度",
        "must_read": "必读",
        "abstract": "原文摘要",
        "ai_full text": "AI分析（基于论文正文）",
        "ai_abstract only": "AI分析（基于摘要）",
        "ai_failed": "AI分析（未完成）",
        "basis": "分析依据：{label}",
        "basis_rejected": "；其中 {n} 处模型输出未通过检查，改为显示论文原文引文",
        "basis_missing": "；{n} 项内容未能从论文中提取",
        "analysis_failed": "**分析失败**：未能读取这篇论文的内容，本文仅提供原文摘要（原因见运行报告）。",
        "rejected": "（模型输出未通过检查，以下为原文引文）",
        "not stated": "论文未说明。",
        "not extracted": "未能从论文中提取。",
        "sep": "：",
        "none": "无",
        "no_papers": "今日无论文",
        "decisions": "候选论文处理记录",
        "no_decisions": "本次运行没有记录任何候选论文。",
        "dec_paper": "论文",
        "dec_action": "处理",
        "dec_reason": "原因",
        "contents": "目录",
        "papers_n": "{n} 篇论文",
        "unknown": "未知",
    },
    "en": {
        "table_title": "Title",
        "table_authors": "Authors",
        "table_pdf": "PDF",
        "table_abstract": "Abstract",
        "untranslated": " (untranslated)",
        "monitor_title": "arXiv Monitoring Report",
        "monitor_note": "This report was generated automatically by paperrag's arXiv monitor",
        "overview": "Overview",
        "monitor_date": "Date",
        "monitor_categories": "Categories",
        "keywords": "Keywords",
        "found": "Papers found",
        "found_n": "{n}",
        "details": "Details",
        "authors": "Authors",
        "published": "Published",
        "categories": "Categories",
        "paper_links": "Links",
        "arxiv_link": "arXiv",
        "code": "Code",
        "matched": "Matched keywords",
        "relevance": "Relevance",
        "must_read": "must read",
        "abstract": "Abstract",
        "ai_full text": "AI Analysis (based on the full text)",
        "ai_abstract only": "AI Analysis (based on the abstract only)",
        "ai_failed": "AI Analysis (not available)",
        "basis": "Basis: {label}",
        "basis_rejected": "; the model's text was rejected for {n} item(s): the paper's own sentences are shown instead",
        "basis_missing": "; {n} item(s) could not be extracted from the paper",
        "analysis_failed": "**Analysis failed**: the paper's content could not be read, so only the abstract is shown "
                           "(the run report says why).",
        "rejected": "(The model's text did not pass the checks; the paper's own sentences follow.)",
        "not stated": "Not stated in the paper.",
        "not extracted": "Could not be extracted from the paper.",
        "sep": ": ",
        "none": "none",
        "no_papers": "No papers today",
        "decisions": "Candidate papers",
        "no_decisions": "No candidate papers were recorded in this run.",
        "dec_paper": "Paper",
        "dec_action": "Decision",
        "dec_reason": "Reason",
        "contents": "Contents",
        "papers_n": "{n} papers",
        "unknown": "unknown",
    },
}

# Why a day has no papers: Digest.empty_reason -> a sentence a person can read (detail after ":" is kept).
EMPTY_REASONS = {
    "weekend": {
        "zh": "今天是周末（或节假日），arXiv 不发布新论文。",
        "en": "arXiv announces no new papers on weekends and holidays.",
    },
    "holiday": {
        "zh": "今天是 arXiv 的节假日，没有发布新论文。",
        "en": "arXiv announced no new papers today (holiday).",
    },
    "no keyword match": {
        "zh": "今天的候选论文都没有匹配到关键词。",
        "en": "None of today's candidate papers matched the keywords.",
    },
    "fetch failed": {
        "zh": "获取 arXiv 论文列表失败，今天的论文未能读取。",
        "en": "Fetching the arXiv listings failed, so today's papers could not be read.",
    },
}
UNKNOWN_EMPTY = {"zh": "今天没有论文（未记录原因）。", "en": "There are no papers today (no reason was recorded)."}

ACTION_LABELS = {
    "zh": {"kept": "保留", "dropped": "丢弃", "skipped": "跳过", "failed": "失败", "already": "已收录",
           "replaced": "已替换"},
    "en": {},
}
OUTCOME_LABELS = {
    "zh": {Outcome.FIRST_TRY: "首次成功", Outcome.AFTER_RETRY: "重试后成功", Outcome.FALLBACK: "降级生成",
           Outcome.FAILED: "失败"},
    "en": {},
}


# ------------------------------------------------------------------------------------- markdown escaping
class MD(str):
    """A markdown fragment built by this module: templates print it as it is."""


# incl. Python-Markdown's \x02/\x03 placeholders and this module's math markers (U+E000/U+E001)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ue000\ue001]")
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")  # what would open an HTML tag, comment or declaration
_ESCAPABLE = set("\\`*_{}[]()>#+-.!|$")  # Python-Markdown's ESCAPED_CHARS with tables' '|' and our '$'
_BLOCK_START = re.compile(r"^(#|>|[-+=]|\d+[.)](?=\s|$))")
ANCHOR_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _plain(text: object) -> str:
    """One line of untrusted text: control characters dropped, all whitespace runs made one space."""
    return " ".join(_CONTROL.sub(" ", str(text or "")).split())


def _escape_inline(s: str, *, pipes: bool = False) -> str:
    out: list[str] = []
    n = len(s)
    for i, c in enumerate(s):
        prev = s[i - 1] if i else ""
        nxt = s[i + 1] if i + 1 < n else ""
        if c == "\\":
            out.append("\\\\" if nxt in _ESCAPABLE else c)
        elif c in "`*[]":
            out.append("\\" + c)
        elif c == "_":
            out.append(c if prev.isalnum() and nxt.isalnum() else "\\_")  # intra-word "x_1" stays as is
        elif c == "{":
            out.append("\\{" if not prev or prev.isspace() else c)  # attr_list needs " {" to fire
        elif c == "|" and pipes:
            out.append("\\|")
        elif c == "#" and i == n - 1:
            out.append("\\#")  # a trailing "#" would be eaten as an ATX heading's closing sequence
        else:
            out.append(c)
    return _TAG_START.sub("&lt;", "".join(out))


# LaTeX math. In the markdown a span is written as it is (`$x_{ij}$`, not escaped for markdown: a reader's
# markdown viewer with math support renders it, the LaTeX is byte-identical to the source) except that a "<"
# that could open an HTML tag becomes `\lt ` and, in a table cell, "|" becomes `\vert ` (same formula). A "$"
# that is not math is escaped (`\$`). While `render_html` renders, each span is a marker instead (U+E000 n
# U+E001: untrusted text cannot hold one, `_plain` drops them) that `markdown_to_html` replaces by MathML.
_MATH_SINK: ContextVar[list[MathSpan] | None] = ContextVar("paperrag_math_sink", default=None)
_MATH_MARK = re.compile("\ue000(\\d+)\ue001")


def _math_md(span: MathSpan, *, pipes: bool = False) -> str:
    sink = _MATH_SINK.get()
    if sink is not None:
        sink.append(span)
        return f"\ue000{len(sink) - 1}\ue001"
    text = _TAG_START.sub(r"\\lt ", span.text)
    if pipes:
        text = text.replace("\\|", "\\Vert ").replace("|", "\\vert ")
    return text


def _escape_text(s: str, *, pipes: bool = False) -> str:
    """`_escape_inline` for the text between math spans; the spans as `_math_md` writes them."""
    out = []
    for piece, span in split_math(s):
        out.append(_math_md(span, pipes=pipes) if span else _escape_inline(piece, pipes=pipes).replace("$", "\\$"))
    return "".join(out)


def md_inline(text: object) -> MD:
    """Untrusted text as one line of literal markdown text (no markup, no HTML, no line break); its LaTeX math
    spans kept as they are."""
    return MD(_escape_text(_plain(text)))


def md_cell(text: object) -> MD:
    """Untrusted text for a markdown table cell: one line, pipes escaped."""
    return MD(_escape_text(_plain(text), pipes=True))


def md_paragraphs(text: object) -> MD:
    """Untrusted plain text (an abstract) as literal markdown paragraphs; blank lines separate paragraphs."""
    paras = re.split(r"\n\s*\n", _CONTROL.sub(" ", str(text or "").replace("\r\n", "\n")))
    out = []
    for para in paras:
        line = _escape_text(_plain(para))
        if not line:
            continue
        if _BLOCK_START.match(line):  # would start a heading, quote, list or rule
            m = re.match(r"^(\d+)([.)])", line)
            line = f"{m[1]}\\{m[2]}{line[m.end():]}" if m else "\\" + line
        out.append(line)
    return MD("\n\n".join(out))


def md_url(url: object, schemes: tuple[str, ...] = ("http", "https")) -> MD | None:
    """A URL fit for a markdown link destination, or None when it is not a plain web (or allowed) URL."""
    u = "".join(_CONTROL.sub("", str(url or "")).split())
    if not u:
        return None
    try:
        parts = urlsplit(u)
    except ValueError:
        return None
    if parts.scheme.lower() not in schemes or (parts.scheme.lower() in ("http", "https") and not parts.netloc):
        return None
    return MD(quote(u, safe="/:?#[]@!$&'*+,;=%~-._"))


def clean_code_link(url: str) -> str | None:
    """A code link without the sentence punctuation the abstract glued to it ("...github.com/x/y.")."""
    url = trim_url(_plain(url).rstrip("*>"))
    return url if md_url(url) else None


def clean_abstract(text: str) -> str:
    """The abstract as a reader wants it: no RSS "arXiv:... Announce Type: ... Abstract:" prefix, one line."""
    return _clean_abstract_text(text or "")


def display_date(value: str) -> str:
    """ISO date for display; an RFC 822 feed date ("Thu, 25 Dec 2025 00:00:00 -0500") becomes 2025-12-25."""
    value = _plain(value)
    if not value:
        return ""
    try:
        return Date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(value).date().isoformat()
    except (TypeError, ValueError, IndexError):
        return value


def _zh_date(iso: str) -> str:
    d = Date.fromisoformat(iso)
    return f"{d.year}年{d.month}月{d.day}日"


# --------------------------------------------------------------------------------------- cited spans
# Page citations open the local reader (rag/reader.py, served by the web app) at the cited page with the quotes
# of that page highlighted, the same page on arXiv as a second link (↗): `[p.3][c1] [↗][c2]`. The reader's
# addresses are long (they carry the quotes), so while `render_markdown` renders they are reference links whose
# definitions close the document: the markdown stays readable as text. Digest files are read outside the app (a
# file opened from disk, a download, a feed reader), so their reader links are absolute, on the app's address
# (`ui.app_url`, http://127.0.0.1:7860/ by default): they work while `paperrag ui` runs; ↗ works anywhere online.
# The app's Digests tab makes them relative again (rag.digest.stored). Without an app address (`reader=""`),
# pages link to arXiv only.
@dataclass
class _Links:
    base: str  # the web app's address, "http://127.0.0.1:7860/" ("" = no reader links)
    refs: dict[str, tuple[str, str]]  # url -> (reference label, title), in first-use order

    def ref(self, url: str, title: str) -> str:
        if url not in self.refs:
            self.refs[url] = (f"c{len(self.refs) + 1}", title)
        return self.refs[url][0]

    def definitions(self) -> str:
        return "\n".join(f'[{label}]: {url} "{title}"' for url, (label, title) in self.refs.items())


_LINKS: ContextVar[_Links | None] = ContextVar("paperrag_cite_links", default=None)
READER_NOTE = {
    "en": "Page citations open the cited page in paperrag's local reader, the quote highlighted (the web app at "
          "{url}, started by `paperrag ui`); ↗ opens the same page on arXiv.",
    "zh": "页码引用在 paperrag 的本地阅读器中打开被引用的页面并高亮引文（网页应用 {url}，由 `paperrag ui` 启动）；"
          "↗ 在 arXiv 上打开同一页。",
}


def cite_md(quotes) -> MD:
    """The pages of `quotes` at the end of a span: `[p.3, p.6]` ("[abstract]" for a paper read from its abstract
    only), each page linked to the local reader with its quotes highlighted and to the PDF page on arXiv (↗), or
    to arXiv only outside `render_markdown` / without the app's address. Code writes these from the verified
    quotes; the model never does. The brackets are written as they are, not escaped: "\\[…\\]" would be display
    math to a Markdown viewer that renders LaTeX (and to `find_math`); a "[" that opens no link is text."""
    if not quotes:
        return MD("")
    pages: dict[int, object] = {}
    for q in quotes:
        if not q.abstract_only:
            pages.setdefault(q.page, q)
    if not pages:
        url = md_url(quotes[0].pdf_url())
        return MD(f"[[abstract]({url})]" if url else "[abstract]")
    links = _LINKS.get()
    if links is not None and links.base:
        from rag.reader import page_citations

        out = []
        for c in page_citations(quotes, base=links.base):
            reader = md_url(c.reader)
            text = f"[p.{c.page}][{links.ref(reader, f'p.{c.page} in the local reader')}]" if reader else \
                f"p.{c.page}"
            arxiv = md_url(c.arxiv)
            if arxiv:
                text += f" [↗][{links.ref(arxiv, f'p.{c.page} on arXiv')}]"
            out.append(text)
        return MD("[" + ", ".join(out) + "]")
    out = []
    for page in sorted(pages):
        url = md_url(pages[page].pdf_url())
        out.append(f"[p.{page}]({url})" if url else f"p.{page}")
    return MD("[" + ", ".join(out) + "]")


def cited_md(c: Cited, lang: str, *, cell: bool = False) -> MD:
    """One span as the reader sees it: the text and its page citations; a rejected span's quotes verbatim under
    the label saying so; "not stated" / "not extracted" as a fixed sentence."""
    L = LABELS[lang]
    esc = md_cell if cell else md_inline
    if c.kind in ("not stated", "not extracted"):
        return MD(esc(c.text or L[c.kind]))
    if c.kind == "quotes":
        body = " ".join(f"“{esc(q.text)}” {cite_md([q])}" for q in c.quotes)
        return MD(f"*{esc(L['rejected'])}* {body}".strip())
    return MD(f"{esc(c.text)} {cite_md(c.quotes)}".strip())


def item_md(item: Item, lang: str, *, cell: bool = False, anchors: dict[str, str] | None = None) -> MD:
    """`**label**：span [p.3] span [p.5]`; the label links to the paper's anchor when it names one."""
    esc = md_cell if cell else md_inline
    body = " ".join(cited_md(c, lang, cell=cell) for c in item.spans)
    label = esc(item.label) if _plain(item.label) else ""
    if label:
        label = f"**{label}**"
        target = (anchors or {}).get(item.anchor, "") if item.anchor else ""
        if target:
            label = f"[{label}](#{target})"
    if label and body:
        return MD(f"{label}{LABELS[lang]['sep']}{body}")
    return MD(label or body)


def parts_md(parts: list[Part], *, top: int, lang: str, anchors: dict[str, str] | None = None) -> MD:
    """Parts as markdown: a heading at level `top` per part, one bullet per item."""
    out = []
    for part in parts:
        lines = [f"{'#' * top} {md_inline(part.heading)}", ""]
        lines += [f"- {item_md(i, lang, anchors=anchors)}" for i in part.items]
        out.append("\n".join(lines))
    return MD("\n\n".join(out))


def parts_text(parts: list[Part]) -> str:
    """Parts as plain text (the HTML description, the feed summary)."""
    out = []
    for part in parts:
        for item in part.items:
            texts = [c.text for c in item.spans if c.text]
            out.append(" ".join(x for x in [item.label, *texts] if x))
    return _plain(" ".join(out))


# ------------------------------------------------------------------------------------------- view model
@dataclass
class _PaperView:
    n: int
    anchor: MD
    key: str
    title: MD  # escaped original title
    title_link: MD  # "[title](abs)" or the title
    authors: MD
    published: MD
    categories: MD
    abstract: MD
    analysis: MD  # the analysis block (basis line + text) or the failure notice
    analysis_heading: MD  # monitor: "AI分析（基于论文正文）" etc.
    key_findings: list[MD]
    links: list[tuple[MD, MD]]  # (label, url) for the report's Links list
    arxiv_id: MD  # monitor: "[2512.20276v1](https://arxiv.org/abs/2512.20276v1)"
    paper_links: MD  # monitor: "[arXiv链接](abs) · [PDF](pdf)"
    code_links: MD  # monitor: "[url](url), ..." or ""
    matched: MD
    cell_title: MD
    cell_author: MD
    cell_pdf: MD
    cell_abstract: MD
    outcome: str = ""
    basis: str = ""
    reason: str = ""
    plain_title: str = ""
    rejected: int = 0
    relevance: MD = MD("")  # monitor: "0.71 · **must read** · close to “Seed” (0.71); keyword 'x'" when ranked
    figure: MD = MD("")  # report / monitor: the key figure and its caption under the paper's header ("" = none)


def _is_arxiv(meta) -> bool:
    return bool(meta.arxiv_id) and not meta.arxiv_id.startswith("local:") and meta.source != "local"


def paper_urls(meta) -> tuple[str, str]:
    """(abs_url, pdf_url) with the version, as the reference reports link them; "" when unknown."""
    key = meta.key.removeprefix("oai:arXiv.org:")
    abs_url, pdf_url = meta.abs_url or "", meta.pdf_url or ""
    if _is_arxiv(meta):
        versioned = re.compile(re.escape(key) + r"(?![0-9])")
        if not versioned.search(abs_url):
            abs_url = f"https://arxiv.org/abs/{key}"
        if not versioned.search(pdf_url):
            pdf_url = f"https://arxiv.org/pdf/{key}"
    elif not pdf_url and meta.local_path:
        try:
            pdf_url = Path(meta.local_path).resolve().as_uri()
        except ValueError:
            pdf_url = ""
    return abs_url, pdf_url


def _link(label: str, url: str, schemes=("http", "https", "file")) -> MD | None:
    safe = md_url(url, schemes)
    return MD(f"[{md_inline(label)}]({safe})") if safe else None


def _safe_anchor(anchor: str, used: set[str]) -> str:
    a = re.sub(r"[^A-Za-z0-9._-]", "-", anchor or "").strip("-.") or "paper"
    if not ANCHOR_RE.match(a):
        a = "p-" + a
    base, i = a, 2
    while a in used:
        a, i = f"{base}-{i}", i + 1
    used.add(a)
    return a


def _relevance(p: PaperEntry, L: dict, *, cell: bool = False) -> MD:
    """Score, "must read" and the reason of a ranked paper ("" when the day was not ranked)."""
    if p.score is None:
        return MD("")
    parts = [MD(f"{p.score:.2f}")]
    if p.must_read:
        parts.append(MD(f"**{L['must_read']}**"))
    if p.reason:
        parts.append(md_cell(p.reason) if cell else md_inline(p.reason))
    return MD(" · ".join(parts))


def _paper_view(p: PaperEntry, fmt: str, lang: str, used: set[str]) -> _PaperView:
    L = LABELS[lang]
    meta = p.meta
    abs_url, pdf_url = paper_urls(meta)
    title = md_inline(meta.title or meta.key)
    safe_abs = md_url(abs_url)
    title_link = MD(f"[{title}]({safe_abs})") if safe_abs else title
    authors = list(meta.authors or [])
    short = authors[0] + (" et al." if len(authors) > 1 else "") if authors else "—"
    code = []
    for u in meta.code_links or []:
        c = clean_code_link(u)
        if c and c not in code:
            code.append(c)

    # analysis block: composed by code from the card; what went wrong is in the run report, not here
    a = p.analysis
    if a is None or a.outcome == Outcome.FAILED or not a.parts:
        analysis = MD(L["analysis_failed"])
        heading = MD(L["ai_failed"])
    else:
        top = 3 if fmt == "report" else 4
        body = parts_md(a.parts, top=top, lang=lang)
        note = L["basis"].format(label=BASIS_LABEL[lang].get(a.basis, a.basis))
        note += L["basis_rejected"].format(n=a.rejected) if a.rejected else ""
        note += L["basis_missing"].format(n=a.missing) if a.missing else ""
        # report: the basis line always; monitor: its heading says the basis, a line only when something is off
        shown = fmt == "report" or a.rejected or a.missing
        analysis = MD(f"*{md_inline(note)}*\n\n{body}") if shown else body
        heading = MD(L.get(f"ai_{a.basis}", L["ai_full text"]))

    links: list[tuple[MD, MD]] = []
    for label, url in (("PDF", pdf_url), ("arXiv", abs_url)):
        safe = md_url(url, ("http", "https", "file"))
        if safe:
            links.append((MD(label), safe))
    for u in code:
        links.append((MD("Code"), md_url(u)))

    key = meta.key.removeprefix("oai:arXiv.org:")
    arxiv_id = (_link(key, abs_url) if _is_arxiv(meta) else None) or md_inline(key)
    plinks = [x for x in (_link(L["arxiv_link"], abs_url), _link("PDF", pdf_url)) if x]
    code_md = ", ".join(f"[{md_inline(re.sub(r'^https?://', '', u))}]({md_url(u)})" for u in code)

    translated_title = _plain(p.title_translated)
    mark = lang != "en"
    cell_title = md_cell(translated_title or meta.title or key)
    if mark and not translated_title:
        cell_title = MD(cell_title + md_cell(L["untranslated"]))
    abstract_clean = clean_abstract(meta.abstract)
    if p.summary:  # the card's problem, core idea and top result, each with its pages
        cell_abs = MD(" ".join(item_md(i, lang, cell=True) for i in p.summary))
    else:
        cell_abs = md_cell(abstract_clean or "—")
        if mark and abstract_clean:
            cell_abs = MD(cell_abs + md_cell(L["untranslated"]))
    if p.score is not None:  # ranked: the score and its reason open the cell (the table keeps its 4 columns)
        cell_abs = MD(f"**{L['relevance']}**: {_relevance(p, L, cell=True)} — {cell_abs}")
    pdf_safe = md_url(pdf_url, ("http", "https", "file"))

    return _PaperView(
        n=p.n,
        anchor=MD(_safe_anchor(p.anchor, used)),
        key=key,
        title=title,
        title_link=title_link,
        authors=md_inline(", ".join(authors) or "—"),
        published=md_inline(display_date(meta.published or meta.updated or meta.announced) or L["unknown"]),
        categories=md_inline(", ".join(meta.categories or []) or meta.primary_category or "—"),
        abstract=md_paragraphs(abstract_clean or "—"),
        analysis=analysis,
        analysis_heading=heading,
        key_findings=[cited_md(f, lang) if isinstance(f, Cited) else md_inline(f) for f in p.key_findings
                      if isinstance(f, Cited) or _plain(f)],
        links=links,
        arxiv_id=arxiv_id,
        paper_links=MD(" · ".join(plinks) or "—"),
        code_links=MD(code_md),
        matched=md_inline(", ".join(_plain(k) for k in p.matched_keywords if _plain(k)) or L["none"]),
        relevance=_relevance(p, L),
        cell_title=cell_title,
        cell_author=md_cell(short),
        cell_pdf=MD(f"[PDF]({pdf_safe})") if pdf_safe else MD("—"),
        cell_abstract=cell_abs,
        outcome=a.outcome if a else Outcome.FAILED,
        basis=a.basis if a else "",
        reason=(a.reason if a else "no analysis") or "",
        rejected=a.rejected if a else 0,
        plain_title=_plain(meta.title or key),
        figure=figure_md(p.figure),
    )


FIGURE_SRC = re.compile(r"^figures/[A-Za-z0-9][A-Za-z0-9._-]*\.png$")
CAPTION_CHARS = 600


def figure_md(fig: KeyFigure | None) -> MD:
    """The paper's key figure as markdown: the image (a PNG next to the digest, `figures/…`) and its caption,
    the caption cut at CAPTION_CHARS. "" when the paper has none (or its path is not one this module writes)."""
    if fig is None or not FIGURE_SRC.match(fig.path or ""):
        return MD("")
    caption = _plain(fig.caption)
    if len(caption) > CAPTION_CHARS:
        caption = caption[: CAPTION_CHARS - 1].rstrip() + "…"
    alt = f"Figure {int(fig.number)}"
    return MD(f"![{alt}]({fig.path})\n\n*{md_inline(caption)}*")


def _empty_kind(text: str) -> str:
    t = text.lower()
    if "fetch" in t and "fail" in t:
        return "fetch failed"
    if any(w in t for w in ("weekend", "holiday", "announced nothing", "no announcements", "skipdays")):
        return "weekend"
    if "match" in t and "keyword" in t:
        return "no keyword match"
    return ""


def empty_reason_text(reason: str, lang: str) -> str:
    """Digest.empty_reason as a sentence in the digest's language, its detail kept.

    Takes the short keys ("weekend", "no keyword match", "fetch failed: HTTP 503") as well as the sentences
    daily.py writes ("fetching the feeds failed: cs.CL: HTTP 503").
    """
    raw = _plain(reason)
    if not raw:
        return UNKNOWN_EMPTY[lang]
    head, _, detail = raw.partition(":")
    key = re.sub(r"[\s_-]+", " ", head).strip().lower()
    if key not in EMPTY_REASONS:
        key, detail = _empty_kind(raw), raw
        if not key or lang == "en":
            return raw  # already a sentence a person can read
    text = EMPTY_REASONS[key][lang]
    detail = detail.strip()
    if detail:
        text += f"（{detail}）" if lang == "zh" else f" ({detail})"
    return text


def _validate(digest: Digest, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown digest format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if digest.language not in LANGUAGES:
        raise ValueError(f"unknown digest language {digest.language!r}: expected zh or en")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", digest.date or ""):
        raise ValueError(f"digest date must be YYYY-MM-DD, got {digest.date!r}")
    return Date.fromisoformat(digest.date).isoformat()


def default_title(digest: Digest, fmt: str) -> str:
    """The title a digest gets when `Digest.title` is empty."""
    if digest.title:
        return _plain(digest.title)
    if fmt == "report":
        cats = ", ".join(digest.categories)
        return f"Arxiv {cats} Papers" if cats else "Arxiv Papers"
    return "arxiv" if fmt == "table" else LABELS[digest.language]["monitor_title"]


def page_title(digest: Digest, fmt: str) -> str:
    """The page's top heading as plain text (also the HTML <title> and the feed entry's title)."""
    iso = _validate(digest, fmt)
    if fmt == "table":
        return f"arxiv {iso}"
    if fmt == "report":
        return f"{default_title(digest, fmt)} - {iso}"
    day = _zh_date(iso) if digest.language == "zh" else iso
    return f"{LABELS[digest.language]['monitor_title']} - {day}"


def summary_text(digest: Digest, fmt: str, limit: int = 400) -> str:
    """Plain-text summary of a digest (HTML description, feed entry summary)."""
    lang = digest.language
    L = LABELS[lang]
    papers = sorted(digest.papers, key=lambda p: p.n)
    if not papers:
        return empty_reason_text(digest.empty_reason, lang)
    head = L["papers_n"].format(n=len(papers))
    body = parts_text(digest.executive_summary) if fmt == "report" and digest.executive_summary else ""
    if not body:
        body = "; ".join(_plain((p.title_translated if fmt == "table" else "") or p.meta.title) for p in papers)
    text = f"{head}: {body}" if lang == "en" else f"{head}：{body}"
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _decision_rows(digest: Digest, lang: str) -> list[tuple[MD, MD, MD]]:
    rows = []
    for d in digest.decisions:
        paper, action, reason = (list(d) + ["", "", ""])[:3]
        act = _plain(action)
        label = ACTION_LABELS[lang].get(act.lower(), "")
        rows.append((md_cell(paper), md_cell(f"{label} ({act})" if label else act), md_cell(reason or "—")))
    return rows


# -------------------------------------------------------------------------------------------- templates
def _finalize(value: object) -> object:
    """Every `{{ }}` in a markdown template: MD fragments as they are, anything else escaped as text."""
    if value is None:
        return ""
    if isinstance(value, MD):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return md_inline(value)


_MD_ENV = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=False,  # markdown, escaped by _finalize instead
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=StrictUndefined,
    finalize=_finalize,
)
_HTML_ENV = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html", "html.j2"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=StrictUndefined,
)


def _context(digest: Digest, fmt: str) -> dict:
    iso = _validate(digest, fmt)
    lang = digest.language
    L = LABELS[lang]
    used: set[str] = set()
    entries = sorted(digest.papers, key=lambda p: p.n)
    papers = [_paper_view(p, fmt, lang, used) for p in entries]
    anchors = {e.anchor: str(v.anchor) for e, v in zip(entries, papers, strict=True)}
    # report: English labels for the structure even for zh content, as the reference reports do
    struct = LABELS["en"] if fmt == "report" else L
    return {
        "fmt": fmt,
        "lang": lang,
        "L": {k: MD(v) for k, v in L.items()},
        "S": {k: MD(v) for k, v in struct.items()},
        "date": MD(iso),
        "time_stamp": MD(iso.replace("-", "")),
        "heading": md_inline(page_title(digest, fmt)),
        "monitor_day": MD(_zh_date(iso) if lang == "zh" else iso),
        "categories": md_inline(", ".join(digest.categories) or "—"),
        "keywords": md_inline(", ".join(_plain(k) for k in digest.keywords) or "—"),
        "found": MD(L["found_n"].format(n=len(papers))),
        "executive_summary": parts_md(digest.executive_summary, top=3, lang=lang, anchors=anchors),
        "papers": papers,
        "empty_text": md_inline(empty_reason_text(digest.empty_reason, lang)),
        "decisions": _decision_rows(digest, lang),
    }


def render_markdown(digest: Digest, fmt: str, *, reader: str = "", note: bool = True) -> str:
    """The digest as markdown in format `fmt` ("table", "report" or "monitor"). `reader`: the web app's address
    (`ui.app_url`): page citations open its local reader (and arXiv, ↗), and a closing note (`note`) says what
    those links need; "" = arXiv links only."""
    links = _Links(reader, {})
    token = _LINKS.set(links)
    try:
        ctx = _context(digest, fmt)
        text = _MD_ENV.get_template(f"{fmt}.md.j2").render(**ctx)
    finally:
        _LINKS.reset(token)
    text = re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"
    text += updates_markdown(getattr(digest, "updates", []))
    if links.refs:
        if note:
            text += f"\n---\n\n*{md_inline(READER_NOTE[digest.language].format(url=reader))}*\n"
        text += f"\n{links.definitions()}\n"
    return text


def updates_markdown(updates: list[dict]) -> str:
    """New versions of papers already in the library: 'updated (v1 → v2)' with what changed, never as new."""
    if not updates:
        return ""
    lines = ["", "## Updated papers", ""]
    for u in updates:
        link = f"https://arxiv.org/abs/{u['key']}"
        lines.append(f"- [{md_inline(u['key'])}]({link}) {md_inline(u['title'])} — {md_inline(u['text'])}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------- markdown -> HTML
_SAFE_SCHEMES = {"http", "https", "mailto", "file"}
# No "id": at this point every id comes from attr_list in paper/model text (the TOC extension names the
# headings afterwards), and one could take over a paper anchor.
_ATTRS = {"title"}
_TAG_ATTRS = {"a": {"href"}, "ol": {"start"}, "th": {"style", "align"}, "td": {"style", "align"}, "code": {"class"},
              "img": {"src", "alt"}}


def _safe_href(href: str) -> str | None:
    h = _CONTROL.sub("", href or "").strip()
    if not h:
        return None
    # Python-Markdown keeps entities as they are when it serialises, so the browser would decode
    # "&#106;avascript:": judge the URL as the browser will read it
    compact = re.sub(r"[\s\x00-\x1f]+", "", html.unescape(html.unescape(h)))
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", compact)
    if m and m[1].lower() not in _SAFE_SCHEMES:
        return None  # javascript:, data:, vbscript:, ...
    return h


class _AnchorPreprocessor(Preprocessor):
    """Let the paper anchors this module writes (`<a id='ID'></a>` on a line of their own) through as HTML;
    raw HTML is otherwise off, so nothing from a paper or a model can add markup."""

    def __init__(self, md, allowed: set[str]):
        super().__init__(md)
        self.allowed = allowed

    def run(self, lines):
        out, seen = [], set()
        for line in lines:
            m = re.fullmatch(r"<a id='([A-Za-z0-9._-]+)'></a>", line)
            if m and m[1] in self.allowed and m[1] not in seen:
                seen.add(m[1])
                out.extend([self.md.htmlStash.store(f'<a id="{m[1]}"></a>'), ""])
            else:
                out.append(line)
        return out


class _Sanitizer(Treeprocessor):
    """Allow-list of attributes and URL schemes; images become links (no external assets on the page) except
    the key figures this module wrote (`figures`: their relative paths)."""

    def __init__(self, md, figures: set[str] | None = None):
        super().__init__(md)
        self.figures = figures or set()

    def run(self, root):
        for parent in list(root.iter()):
            for i, child in enumerate(list(parent)):
                if child.tag == "img" and child.get("src") in self.figures and FIGURE_SRC.match(child.get("src")):
                    continue
                if child.tag == "img":
                    alt = child.get("alt") or child.get("src") or ""
                    href = _safe_href(child.get("src", ""))
                    repl = ET.Element("a" if href else "span")
                    if href:
                        repl.set("href", href)
                    repl.text = f"[{alt}]"
                    repl.tail = child.tail
                    parent.remove(child)
                    parent.insert(i, repl)
        for el in root.iter():
            allowed = _ATTRS | _TAG_ATTRS.get(el.tag, set())
            for name in list(el.attrib):
                value = el.attrib[name]
                ok = name in allowed
                if ok and name == "src":
                    ok = value in self.figures
                elif ok and name == "href":
                    safe = _safe_href(value)
                    ok = safe is not None
                    if ok and re.match(r"^https?:", safe, re.I):
                        el.set("rel", "noopener noreferrer")
                elif ok and name == "class":
                    ok = bool(re.fullmatch(r"[\w\s-]+", value))
                elif ok and name == "style":
                    ok = bool(re.fullmatch(r"text-align:\s*(left|right|center);?", value))
                elif ok and name == "start":
                    ok = value.isdigit()
                elif ok and name == "align":
                    ok = value in ("left", "right", "center")
                if not ok:
                    del el.attrib[name]


class _SafeExtension(Extension):
    def __init__(self, anchors: set[str], figures: set[str] | None = None):
        super().__init__()
        self.anchors = anchors
        self.figures = figures or set()

    def extendMarkdown(self, md):
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        if "$" not in md.ESCAPED_CHARS:
            md.ESCAPED_CHARS.append("$")  # "\$": a dollar that is not math (md_inline writes it so)
        md.preprocessors.register(_AnchorPreprocessor(md, self.anchors), "paper_anchors", 24)
        md.treeprocessors.register(_Sanitizer(md, self.figures), "sanitize", 6)  # after attr_list (8), before toc (5)


def _math_html(span: MathSpan) -> str:
    """One math span as HTML: MathML, or its LaTeX as text when it cannot be rendered."""
    return to_mathml(span.tex, span.display) or html.escape(span.text, quote=False)


def fill_math(html_text: str, spans: list[MathSpan]) -> str:
    """Replace the math markers `_math_md` wrote by the spans' MathML (inside a tag, e.g. an id, by nothing)."""
    if "\ue000" not in html_text:
        return html_text
    parts = re.split(r"(<[^>]*>)", html_text)
    for i, part in enumerate(parts):
        if i % 2:
            parts[i] = _MATH_MARK.sub("", part)
        else:
            parts[i] = _MATH_MARK.sub(
                lambda m: _math_html(spans[int(m[1])]) if int(m[1]) < len(spans) else "", part)
    return "".join(parts)


def markdown_to_html(text: str, anchors: set[str] | frozenset[str] = frozenset(), *,
                     math: list[MathSpan] | None = None, figures: set[str] | frozenset[str] = frozenset(),
                     ) -> tuple[str, str]:
    """(body HTML, TOC HTML) of `text`; raw HTML is shown as text except the given paper anchors. `math`: the
    spans whose markers `text` holds (rendered as MathML); `figures`: the key figures' paths (shown as images)."""
    md = markdown.Markdown(
        extensions=[*MARKDOWN_EXTENSIONS, _SafeExtension(set(anchors), set(figures))],
        extension_configs={"toc": {"marker": "", "toc_depth": "1-2", "slugify": slugify_unicode}},
        output_format="html",
    )
    body = md.convert(text)
    toc = md.toc if getattr(md, "toc_tokens", None) else ""
    return fill_math(body, math or []), fill_math(toc, math or [])


def render_html(digest: Digest, fmt: str, *, reader: str = "") -> str:
    """The same content as `render_markdown`, as a standalone page: inline CSS, TOC, no external assets."""
    ctx = _context(digest, fmt)
    spans: list[MathSpan] = []
    sink = _MATH_SINK.set(spans)
    try:
        text = render_markdown(digest, fmt, reader=reader, note=False)  # the page's footer says it
    finally:
        _MATH_SINK.reset(sink)
    figures = {p.figure.path for p in digest.papers if p.figure is not None and figure_md(p.figure)}
    body, toc = markdown_to_html(text, {str(p.anchor) for p in ctx["papers"]}, math=spans, figures=figures)
    lang = digest.language
    return _HTML_ENV.get_template("page.html.j2").render(
        lang="zh-CN" if lang == "zh" else "en",
        title=page_title(digest, fmt),
        description=summary_text(digest, fmt),
        date=ctx["date"],
        fmt=fmt,
        language=lang,
        paper_count=len(ctx["papers"]),
        contents=LABELS[lang]["contents"],
        toc=_markup(toc),
        body=_markup(body),
        reader_note=READER_NOTE[lang].format(url=reader) if reader and "reader/" in body else "",
    )


def _markup(s: str) -> Markup:
    return Markup(s)  # HTML built and sanitised by markdown_to_html


# ------------------------------------------------------------------------------------------- run report
_SECTION = re.compile(
    r"<!-- paperrag:analyses:(?P<fmt>\w+) -->\n.*?<!-- /paperrag:analyses:(?P=fmt) -->\n", re.S
)


def _analyses_section(digest: Digest, fmt: str, papers: list[_PaperView]) -> str:
    lang = digest.language
    table = fmt == "table"
    header = ["#", "Paper", "Basis", "Outcome", "Reason"] + (["Table cells"] if table else ["Rejected spans"])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] if papers else []
    for p, entry in zip(papers, sorted(digest.papers, key=lambda e: e.n), strict=True):
        if entry.analysis is None and table:
            outcome, reason = "—", "not analysed (the table format has no analyses)"
        else:
            label = OUTCOME_LABELS[lang].get(p.outcome, "")
            outcome, reason = (f"{label} ({p.outcome})" if label else p.outcome), p.reason or "—"
        cells = [str(p.n), f"{p.key} {p.plain_title}", p.basis or "—", outcome, reason]
        if table:
            parts = [n for n, v in (("title", _plain(entry.title_translated)), ("card summary", entry.summary)) if v]
            cells.append(" + ".join(parts) if parts else "missing (original shown)")
        else:
            cells.append(str(p.rejected))
        lines.append("| " + " | ".join(md_cell(c) for c in cells) + " |")
    section = _MD_ENV.get_template("run_report_analyses.md.j2").render(fmt=fmt, lines=[MD(x) for x in lines])
    return section.strip("\n") + "\n"


def receipt_lines(receipts: list[dict]) -> list[str]:
    """The run receipt as Markdown lines: one table row per category and day, then the notes."""
    if not receipts:
        return []
    lines = ["| Category | Day | Feed | Listing | New / cross / repl. | Kept | Dropped | Already | Failed | Verdict |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for r in receipts:
        listing = r.get("listing")
        shown = "not read" if not listing else (
            f"{listing['announced']}" + (f" of {listing['declared']}" if listing.get("declared") is not None else "")
            + ("" if listing["status"] == "ok" else f" ({listing['status']})"))
        types = r.get("types", {})
        dropped = ", ".join(f"{md_inline(k)} {v}" for k, v in sorted(r.get("dropped", {}).items())) or "0"
        verdict = r.get("verdict") or "—"
        lines.append(
            f"| {md_inline(r['category'])} | {r.get('day') or '?'} | {r['feed']['announced']}"
            f"{'' if r['feed']['status'] == 'ok' else ' (' + md_inline(r['feed']['status']) + ')'} | {shown} | "
            f"{types.get('new', 0)} / {types.get('cross', 0)} / {types.get('replace', 0)} | {r.get('kept', 0)} | "
            f"{dropped} | {r.get('already', 0)} | {r.get('failed', 0)} | {md_inline(verdict)} |")
        for label, key in (("only the listing had", "only_listing"), ("only the feed had", "only_feed")):
            if r.get(key):
                notes.append(f"- {md_inline(r['category'])}: {label} {', '.join(r[key])}")
        if r.get("why"):
            notes.append(f"- {md_inline(r['category'])} {r.get('day') or ''}: {verdict} — {md_inline(r['why'])}")
    return lines + ([""] + notes if notes else [])


def render_run_report(digest: Digest, fmt: str | None = None, previous: str = "") -> str:
    """DATE/run-report.md: every candidate with its decision and reason, and each paper's analysis outcome.

    The analyses differ per format: `fmt`'s section is built from the analyses on `digest.papers`, and the
    sections of other formats found in `previous` (the file as it was) are kept, so writing the three formats
    of a day leaves one report that covers all three. With `fmt=None` only the candidates part is rebuilt.
    """
    ctx = _context(digest, fmt or "report")
    sections = {m["fmt"]: m.group(0) for m in _SECTION.finditer(previous or "")}
    if fmt is not None:
        sections[fmt] = _analyses_section(digest, fmt, ctx["papers"])
    counts: dict[str, int] = {}
    for d in digest.decisions:
        a = _plain(d[1] if len(d) > 1 else "") or "?"
        counts[a] = counts.get(a, 0) + 1
    text = _MD_ENV.get_template("run_report.md.j2").render(
        **ctx,
        counts=MD(", ".join(f"{md_inline(k)}: {v}" for k, v in counts.items()) or "—"),
        receipts=[MD(x) for x in receipt_lines(getattr(digest, "receipts", []))],
        updates=[MD(f"- {md_inline(u['key'])} {md_inline(u['title'])}: {md_inline(u['text'])}")
                 for u in getattr(digest, "updates", [])],
        sections=[MD(sections[f]) for f in FORMATS if f in sections],
    )
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"


# ---------------------------------------------------------------------------------------------- writing
def run_report_path(digest: Digest, out_dir: str | Path) -> Path:
    return Path(out_dir) / digest.date / RUN_REPORT


def _previous_run_report(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return ""


def write_digest(digest: Digest, fmt: str, out_dir: str | Path, *, reader: str = "") -> dict[str, Path]:
    """Write DATE/{fmt}.md and DATE/{fmt}.html under `out_dir`, each atomically; returns {"md": ..., "html": ...}.
    `reader`: the web app's address, which page citations open (see `cite_md`).

    It also records this format's analysis outcomes in DATE/run-report.md (the analyses differ per format
    and this is where they are known); `write_run_report` refreshes the rest of that file.
    """
    iso = _validate(digest, fmt)
    day = Path(out_dir) / iso
    md_text = render_markdown(digest, fmt, reader=reader)
    html_text = render_html(digest, fmt, reader=reader)
    report = run_report_path(digest, out_dir)
    run_report = render_run_report(digest, fmt, _previous_run_report(report))
    paths = {
        "md": atomic_write_text(day / f"{fmt}.md", md_text),
        "html": atomic_write_text(day / f"{fmt}.html", html_text),
    }
    atomic_write_text(report, run_report)
    return paths


def write_run_report(digest: Digest, out_dir: str | Path, fmt: str | None = None) -> Path:
    """Write DATE/run-report.md: the run's candidates (kept/dropped/failed + reason) and, per format already
    written with `write_digest`, each paper's analysis outcome. With `fmt`, that format's section is
    (re)built from the analyses now on `digest.papers`; without, the sections already there are kept."""
    path = run_report_path(digest, out_dir)
    return atomic_write_text(path, render_run_report(digest, fmt, _previous_run_report(path)))


__all__ = [
    "FORMATS",
    "MD",
    "cite_md",
    "cited_md",
    "clean_abstract",
    "clean_code_link",
    "default_title",
    "display_date",
    "empty_reason_text",
    "item_md",
    "markdown_to_html",
    "md_cell",
    "md_inline",
    "md_paragraphs",
    "md_url",
    "page_title",
    "paper_urls",
    "parts_md",
    "render_html",
    "render_markdown",
    "render_run_report",
    "run_report_path",
    "summary_text",
    "write_digest",
    "write_run_report",
]
