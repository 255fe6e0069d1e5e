"""Digest rendering: the structure of the reference reports (000 table, 001/002 report, 003/004 monitor), with
their defects fixed; analyses composed of cited spans (page links, labelled quotes where the model's text was
rejected, no validator internals); TOC links that resolve; escaping of hostile paper/model text; empty days;
atomic writes.

No network, no LLM: digests are built by hand from realistic metadata.
"""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fakes.data import HOSTILE, make_digest

from rag.digest import render
from rag.digest.formats import ANALYSIS_HEADINGS, BASIS_LABEL
from rag.digest.io import TEMP_PREFIX, atomic_write_text
from rag.digest.model import Analysis, Cited, Digest, Item, Part
from rag.digest.render import (
    render_html,
    render_markdown,
    render_run_report,
    write_digest,
    write_run_report,
)

FORMATS = ("table", "report", "monitor")


# --------------------------------------------------------------------------------------------- helpers
def split_row(line: str) -> list[str]:
    """Cells of a markdown table row, splitting on unescaped pipes only."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def md_anchor_ids(md: str) -> set[str]:
    return set(re.findall(r"^<a id='([^']+)'></a>$", md, re.M))


def md_toc_targets(md: str) -> list[str]:
    return re.findall(r"^\d+\. \[.*\]\(#([^)]+)\)$", md, re.M)


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.hrefs, self.tags, self.attrs = set(), [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            self.attrs.append((tag, k, v or ""))
            if k == "id":
                self.ids.add(v)
            if k == "href":
                self.hrefs.append(v)


def parse_html(page: str) -> _Ids:
    p = _Ids()
    p.feed(page)
    p.close()
    return p


def table_skeleton(text: str) -> dict:
    lines = text.splitlines()
    rows = [ln for ln in lines if ln.startswith("|")]
    body = rows[2:]
    return {
        "heading": re.sub(r"\d{4}-\d{2}-\d{2}", "DATE", lines[0]),
        "header": split_row(rows[0]),
        "ncols": {len(split_row(r)) for r in body},
        "pdf_cells": all(re.fullmatch(r"\[PDF\]\(https://arxiv\.org/pdf/[\w.]+v\d+\)", split_row(r)[2]) for r in body),
        "rows": len(body),
    }


REPORT_LABELS = r"^\*\*(Authors|Published|Categories|Abstract|Analysis|Key Findings|Links):\*\*"


def report_skeleton(text: str) -> dict:
    lines = text.splitlines()
    papers_at = lines.index("## Papers")
    blocks = re.split(r"^<a id='[^']+'></a>$", text, flags=re.M)[1:]
    anchors = re.findall(r"^<a id='([^']+)'></a>$", text, re.M)
    papers = []
    for anchor, block in zip(anchors, blocks):
        head = next(ln for ln in block.splitlines() if ln.strip())
        links_part = block.split("**Links:**", 1)[1] if "**Links:**" in block else ""
        papers.append({
            "anchor": anchor,
            "heading_links_abs": bool(re.fullmatch(rf"## \[.+\]\(https://arxiv\.org/abs/{re.escape(anchor)}\)", head)),
            "labels": re.findall(REPORT_LABELS, block, re.M),
            "links": re.findall(r"^- \[(\w+)\]\(", links_part, re.M),
        })
    return {
        "first": re.sub(r"\d{8}", "YYYYMMDD", lines[0]),
        "title": bool(re.fullmatch(r"# .+ - \d{4}-\d{2}-\d{2}", next(ln for ln in lines if ln.startswith("# ")))),
        "sections": [ln for ln in lines[: papers_at + 1] if ln.startswith("## ")],
        "toc": md_toc_targets(text),
        "anchors": anchors,
        "papers": papers,
    }


def monitor_skeleton(text: str) -> dict:
    lines = [ln.strip() for ln in text.splitlines()]  # the reference indents "### 原文摘要": ignore it here
    over_at = next(i for i, ln in enumerate(lines) if ln.startswith("## ") and not re.match(r"## \d+\. ", ln))
    over_end = lines.index("---", over_at)
    paper_at = [i for i, ln in enumerate(lines) if re.match(r"^## \d+\. ", ln)]
    papers = []
    for k, start in enumerate(paper_at):
        block = lines[start : (paper_at[k + 1] if k + 1 < len(paper_at) else len(lines))]
        subs = []
        for ln in block:
            if ln.startswith("### "):
                subs.append(re.sub(r"（.*）$|\s*\(.*\)$", "", ln))
                if ln.startswith(("### AI分析", "### AI Analysis")):
                    break
        info_at = block.index(subs[0]) if subs else 0
        info = []
        for ln in block[info_at + 1 :]:
            if ln.startswith("###"):
                break
            m = re.match(r"^- \*\*(.+?)\*\*:", ln)
            if m:
                info.append(m[1])
        papers.append({"subsections": subs, "info": info})
    return {
        "heading": re.sub(r"\d{4}年\d{1,2}月\d{1,2}日|\d{4}-\d{2}-\d{2}", "DATE", lines[0]),
        "note": lines[2].startswith("> "),
        "overview": lines[over_at],
        "overview_fields": re.findall(r"^- \*\*(.+?)\*\*:", "\n".join(lines[over_at:over_end]), re.M),
        "papers": papers,
    }


# Expected skeletons, written out (the core suite needs no ../shared)
TABLE_HEADERS = {"zh": ["标题", "作者", "PDF链接", "摘要"], "en": ["Title", "Authors", "PDF", "Abstract"]}
REPORT_SECTIONS = ["## Executive Summary", "## Table of Contents", "## Papers"]
REPORT_FIELD_ORDER = ["Authors", "Published", "Categories", "Abstract", "Analysis", "Key Findings", "Links"]
MONITOR = {
    "zh": {
        "heading": "# arXiv论文监控报告 - DATE",
        "overview": "## 报告概览",
        "overview_fields": ["监控日期", "监控分类", "关键词", "发现论文数"],
        "subsections": ["### 基本信息", "### 原文摘要", "### AI分析"],
        "info": ["作者", "arXiv ID", "发布日期", "分类", "论文链接", "代码链接", "匹配关键词"],
    },
    "en": {
        "heading": "# arXiv Monitoring Report - DATE",
        "overview": "## Overview",
        "overview_fields": ["Date", "Categories", "Keywords", "Papers found"],
        "subsections": ["### Details", "### Abstract", "### AI Analysis"],
        "info": ["Authors", "arXiv ID", "Published", "Categories", "Links", "Code", "Matched keywords"],
    },
}


# ------------------------------------------------------------------------------------------------ table
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_table_structure(lang):
    md = render_markdown(make_digest(lang, "table"), "table")
    sk = table_skeleton(md)
    assert md.splitlines()[0] == "# arxiv 2025-12-26"
    assert sk["header"] == TABLE_HEADERS[lang]
    assert sk["rows"] == 3  # every paper of the day, failed analysis or not
    assert sk["ncols"] == {4}
    assert sk["pdf_cells"]
    rows = [split_row(r) for r in md.splitlines() if r.startswith("|")][2:]
    assert rows[0][1] == "Yuntao Dai et al."
    assert rows[2][1] == "Shi Quan Foo"  # a single author gets no "et al."


def test_table_translation_and_fallback_marked():
    md = render_markdown(make_digest("zh", "table"), "table")
    rows = [split_row(r) for r in md.splitlines() if r.startswith("|")][2:]
    assert rows[0][0].startswith("ActionFlow：面向边缘端")
    # the card's fields, each with its page linked to the PDF
    assert rows[0][3] == ("**核心思想**：视觉-语言-动作（VLA）模型已成为机器人感知与控制的统一范式。 "
                          "[[p.1](https://arxiv.org/pdf/2512.20276v1#page=1)]")
    assert rows[1][0].startswith("HiMoE-VLA: Hierarchical") and rows[1][0].endswith("（未翻译）")
    assert rows[1][3].startswith("The development of foundation models") and rows[1][3].endswith("（未翻译）")
    en = render_markdown(make_digest("en", "table"), "table")
    assert "untranslated" not in en  # English digest: the original *is* the target language


def test_table_escapes_pipes_and_newlines():
    d = make_digest("zh", "table")
    d.papers[0].title_translated = "A | B\nC"
    d.papers[0].summary = [Item("", [Cited("first line\nsecond | line\r\n\nthird", [], "code")])]
    md = render_markdown(d, "table")
    body = [ln for ln in md.splitlines() if ln.startswith("|")][2:]
    assert len(body) == 3
    assert split_row(body[0])[0] == r"A \| B C"
    assert split_row(body[0])[3] == r"first line second \| line third"
    # and the HTML table keeps 3 rows of 4 cells, the pipes shown as text
    page = render_html(d, "table")
    tbody = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert tbody.count("<tr>") == 3
    assert [r.count("<td") for r in tbody.split("<tr>")[1:]] == [4, 4, 4]
    assert "A | B C" in page


# ----------------------------------------------------------------------------------------------- report
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_structure(lang):
    d = make_digest(lang, "report")
    md = render_markdown(d, "report")
    sk = report_skeleton(md)
    assert md.splitlines()[0] == "time: 20251226"
    assert sk["first"] == "time: YYYYMMDD"
    assert md.splitlines()[2] == "# Arxiv Robotics Papers - 2025-12-26"
    assert sk["sections"] == REPORT_SECTIONS
    assert sk["anchors"] == ["2512.20276v1", "2512.05693v1", "2512.21118v2"]  # arXiv id with version
    assert sk["toc"] == sk["anchors"]
    for p in sk["papers"]:
        assert p["heading_links_abs"]
        assert p["labels"] in (REPORT_FIELD_ORDER, [x for x in REPORT_FIELD_ORDER if x != "Key Findings"])
        assert p["links"][:2] == ["PDF", "arXiv"]
    assert sk["papers"][0]["links"] == ["PDF", "arXiv", "Code"]
    assert sk["papers"][2]["links"] == ["PDF", "arXiv"]  # no code link: no Code bullet
    # English labels even for zh content, as in the reference
    assert "**Authors:** Yuntao Dai, Hang Gu, Teng Wang, Qianyu Cheng" in md
    assert "**Published:** 2025-12-08" in md  # RSS date made ISO
    assert "**Categories:** cs.AI, cs.RO" in md
    # executive summary headings sit under "## Executive Summary"
    summary = md.split("## Executive Summary", 1)[1].split("## Table of Contents", 1)[0]
    assert re.findall(r"^#+ ", summary, re.M) == ["### ", "### "]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_analysis_basis_and_failure(lang):
    md = render_markdown(make_digest(lang, "report"), "report")
    sections = re.split(r"^<a id='[^']+'></a>$", md, flags=re.M)[1:]
    full, abstract_only, failed = sections
    assert BASIS_LABEL[lang]["full text"] in full
    assert BASIS_LABEL[lang]["abstract only"] in abstract_only
    # the 7 headings of the analysis, one level under the paper heading
    for h in ANALYSIS_HEADINGS["report"][lang]:
        assert f"\n### {h}\n" in full
    assert "## " + ANALYSIS_HEADINGS["report"][lang][0] not in full.replace("### ", "")
    # every part ends with the pages of its quotes, linked to the PDF page
    assert "[[p.2](https://arxiv.org/pdf/2512.20276v1#page=2)]" in full
    # a rejected span shows the paper's own sentence under a label, and the basis line says so
    rejected = "（模型输出未通过检查，以下为原文引文）" if lang == "zh" else "(The model's text did not pass the checks"
    assert rejected in abstract_only and "“Sentence 2 of HiMoE-VLA: H on page 3.”" in abstract_only
    assert ("1 处模型输出未通过检查" if lang == "zh" else "rejected for 1 item") in abstract_only
    assert rejected not in full
    # a failed analysis says so, and prints nothing else in its place; why is for the run report only
    notice = "分析失败" if lang == "zh" else "Analysis failed"
    assert notice in failed and "model timed out twice" not in failed and "card extraction" not in failed
    assert "### " not in failed
    assert BASIS_LABEL[lang]["full text"] not in failed
    assert "**Key Findings:**" not in failed  # none extracted: no empty section


def test_report_key_findings_bulleted():
    md = render_markdown(make_digest("en", "report"), "report")
    block = md.split("<a id='2512.05693v1'></a>")[1].split("\n---\n")[0]
    kf = block.split("**Key Findings:**", 1)[1].split("**Links:**", 1)[0]
    assert re.findall(r"^- .+$", kf, re.M) == [
        "- HiMoE adaptively handles heterogeneity across layers.",
        "- Consistent gains over VLA baselines.",
    ]


# ---------------------------------------------------------------------------------------------- monitor
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_monitor_structure(lang):
    md = render_markdown(make_digest(lang, "monitor"), "monitor")
    sk = monitor_skeleton(md)
    exp = MONITOR[lang]
    assert sk["heading"] == exp["heading"]
    assert sk["note"]
    assert sk["overview"] == exp["overview"]
    assert sk["overview_fields"] == exp["overview_fields"]
    assert len(sk["papers"]) == 3
    for p in sk["papers"]:
        assert p["subsections"] == exp["subsections"]
    assert sk["papers"][0]["info"] == exp["info"]
    assert sk["papers"][2]["info"] == [f for f in exp["info"] if f not in ("代码链接", "Code")]
    heading = md.splitlines()[0]
    assert heading == ("# arXiv论文监控报告 - 2025年12月26日" if lang == "zh" else "# arXiv Monitoring Report - 2025-12-26")
    found = "- **发现论文数**: 3篇" if lang == "zh" else "- **Papers found**: 3"
    assert found in md


def test_monitor_fields_and_basis_headings():
    md = render_markdown(make_digest("zh", "monitor"), "monitor")
    assert "- **arXiv ID**: [2512.20276v1](https://arxiv.org/abs/2512.20276v1)" in md
    assert "oai:arXiv.org" not in md
    assert "- **发布日期**: 2025-12-08" in md
    assert "- **匹配关键词**: Vision-Language-Action, vla" in md
    assert "### AI分析（基于论文正文）" in md
    assert "### AI分析（基于摘要）" in md
    # the 5 analysis headings one level under "### AI分析"
    for h in ANALYSIS_HEADINGS["monitor"]["zh"]:
        assert f"\n#### {h}\n" in md
    failed = md.split("\n## 3. ", 1)[1]
    assert "分析失败" in failed and "model timed out twice" not in failed
    assert "*分析依据：仅基于摘要（未获取到论文全文）；其中 1 处模型输出未通过检查" in md  # only where something is off
    en = render_markdown(make_digest("en", "monitor"), "monitor")
    assert "### AI Analysis (based on the full text)" in en
    assert "### AI Analysis (based on the abstract only)" in en


@pytest.mark.parametrize("fmt", FORMATS)
def test_abstract_clean_no_rss_prefix_no_indentation(fmt):
    for lang in ("zh", "en"):
        d = make_digest(lang, fmt)
        d.papers[0].summary = []
        md = render_markdown(d, fmt)
        assert "Announce Type" not in md
        assert "arXiv:2512.20276v1" not in md
        assert not re.search(r"^[ \t]+#", md, re.M)  # the reference indents "### 原文摘要" by 12 spaces
        assert "emerged as a unified paradigm for robotic perception and control. However, their" in md


@pytest.mark.parametrize("fmt", ["report", "monitor"])
def test_code_links_have_no_trailing_punctuation(fmt):
    md = render_markdown(make_digest("zh", fmt), fmt)
    urls = re.findall(r"\]\((https?://[^)]+)\)", md)
    assert "https://github.com/ZhiyingDu/HiMoE-VLA" in urls
    assert "https://anonymous.4open.science/r/ActionFlow-1D47" in urls
    assert not [u for u in urls if u[-1] in ".,;:!?'\""]
    assert md.count("https://github.com/ZhiyingDu/HiMoE-VLA)") == 1  # the duplicate is dropped


def test_clean_code_link():
    assert render.clean_code_link("https://github.com/a/b.") == "https://github.com/a/b"
    assert render.clean_code_link("https://github.com/a/b).") == "https://github.com/a/b"
    assert render.clean_code_link("https://en.wikipedia.org/wiki/A_(b)") == "https://en.wikipedia.org/wiki/A_(b)"
    assert render.clean_code_link("javascript:alert(1)") is None


# ------------------------------------------------------------------------------------------- TOC + html
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_toc_link_resolves_in_md_and_html(fmt, lang):
    d = make_digest(lang, fmt)
    md = render_markdown(d, fmt)
    ids = md_anchor_ids(md)
    targets = re.findall(r"\]\(#([^)]+)\)", md)
    assert all(t in ids for t in targets), (targets, ids)
    if fmt == "report":
        assert len(md_toc_targets(md)) == 3 and len(targets) == 4  # the TOC, and paper 1 named in the summary
    page = parse_html(render_html(d, fmt))
    internal = [h[1:] for h in page.hrefs if h.startswith("#")]
    assert internal, "the page has a table of contents"
    assert [h for h in internal if h not in page.ids] == []
    if fmt != "table":
        assert {"2512.20276v1", "2512.05693v1", "2512.21118v2"} <= page.ids


@pytest.mark.parametrize("fmt", FORMATS)
def test_html_is_a_standalone_page(fmt):
    page = render_html(make_digest("zh", fmt), fmt)
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="zh-CN">' in page
    assert '<meta charset="utf-8">' in page
    assert "<style>" in page and "<nav class=\"toc\"" in page
    p = parse_html(page)
    assert "script" not in p.tags and "link" not in p.tags and "img" not in p.tags
    assert not [a for a in p.attrs if a[1] == "src"]
    assert "Content-Security-Policy" in page
    assert '<html lang="en">' in render_html(make_digest("en", fmt), fmt)


def _hostile_digest(fmt: str) -> Digest:
    d = make_digest("zh", fmt)
    p = d.papers[0]
    p.meta.title = f"Evil {HOSTILE} title | x"
    p.meta.authors = [f"Mallory {HOSTILE}", "Eve"]
    p.meta.abstract = f"Abstract with {HOSTILE} and <img src=x onerror=alert(1)> and <!-- comment"
    p.meta.categories = ["cs.AI<b>"]
    p.title_translated = f"标题 {HOSTILE}"
    p.summary = [Item(f"标签 {HOSTILE}", [Cited("摘要 <iframe src=//evil></iframe> | x", [])])]
    p.matched_keywords = [HOSTILE]
    p.key_findings = [f"Finding {HOSTILE}", Cited(f"Cited {HOSTILE}", [])]
    # model-written spans and paper quotes are text: markdown, links and HTML in them come out literally
    model = (
        f"{HOSTILE} <div onclick=\"alert(1)\">click</div> "
        "[click me](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=) [ok](https://example.org) "
        "[encoded](&#106;avascript:alert(1)) [tab](java\tscript:alert(1)) [ref][1]\n\n[1]: javascript:alert(2)\n\n"
        "*emph*{: onclick=\"alert(1)\" style=\"color:red\" }\n\n![tracker](https://evil.example/pixel.png)\n\n"
        "*hijack*{: #2512.05693v1 }\n\n<a id='2512.05693v1'></a>\n\n"
        "`<script>in code</script>`\n\n```html\n<script>fenced()</script>\n"
    )
    q = p.analysis.parts[0].items[0].spans[0].quotes[0]
    evil_quote = type(q)(q.paper_key, q.arxiv_id, q.version, q.page, f"Quoted {HOSTILE} <b>x</b>", q.title)
    p.analysis.parts[0].items = [Item(f"Label {HOSTILE}", [Cited(model, [q]), Cited("", [evil_quote], "quotes")])]
    d.executive_summary = [Part(f"1. 主要主题与趋势 {HOSTILE}", [Item(f"论文 1 {HOSTILE}", [Cited(
        f"{HOSTILE} <style>body{{display:none}}</style>", [], "code")], anchor="2512.20276v1")])]
    d.keywords = [HOSTILE]
    d.decisions = [(HOSTILE, "kept", HOSTILE)]
    return d


@pytest.mark.parametrize("fmt", FORMATS)
def test_html_escapes_hostile_paper_and_model_text(fmt):
    page = render_html(_hostile_digest(fmt), fmt)
    p = parse_html(page)
    assert "script" not in p.tags and "iframe" not in p.tags and "img" not in p.tags
    assert p.tags.count("style") == 1  # ours, in <head>
    assert p.tags.count("div") == 2  # the page and TOC wrappers; the model's <div onclick> is text
    bad = [a for a in p.attrs if a[1].startswith("on") or a[1] == "style" or a[1] == "src"]
    assert bad == []
    hrefs = [h.lower() for h in p.hrefs]
    assert not [h for h in hrefs if h.startswith(("javascript:", "data:", "vbscript:"))]
    assert "<script" not in page.lower().replace("&lt;script", "")
    # the hostile text is shown, as text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page or '&lt;script&gt;alert("x")&lt;/script&gt;' in page
    if fmt != "table":
        assert 'href="https://example.org"' not in page  # a link in model text is text
        # only the renderer's own anchor for paper 2, not the ones smuggled into the analysis
        assert page.count('id="2512.05693v1"') == 1
        assert page.index('id="2512.05693v1"') > page.index("hijack")


@pytest.mark.parametrize("fmt", FORMATS)
def test_markdown_neutralizes_raw_html(fmt):
    md = render_markdown(_hostile_digest(fmt), fmt)
    outside_code = re.sub(r"```.*?```|`[^`\n]*`", "", md, flags=re.S)
    assert not re.search(r"<(script|iframe|img|div|style|!--)", outside_code, re.I)
    if fmt != "table":
        # model text opens no code block: the next paper is not swallowed by it
        assert md.count("```") % 2 == 0 and "\\`\\`\\`html" in md


# ------------------------------------------------------------------------------------------- empty day
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "reason,zh,en",
    [
        ("weekend", "周末", "weekends"),
        ("no keyword match", "没有匹配到关键词", "matched the keywords"),
        ("fetch failed: HTTP 503", "获取 arXiv 论文列表失败", "Fetching the arXiv listings failed"),
    ],
)
def test_empty_day(fmt, reason, zh, en):
    decisions = [("2512.20001v1", "dropped", "no keyword match"), ("cs.CL feed", "failed", "HTTP 503")]
    for lang, needle in (("zh", zh), ("en", en)):
        d = make_digest(lang, fmt, papers=[], empty_reason=reason, decisions=decisions, executive_summary=[])
        md = render_markdown(d, fmt)
        assert needle in md
        if reason.startswith("fetch failed"):
            assert "HTTP 503" in md
        assert "2512.20001v1" in md and "no keyword match" in md  # the decisions list
        assert "| 2512.20001v1 |" in md
        page = render_html(d, fmt)
        assert needle in page and "2512.20001v1" in page
        if fmt == "monitor":
            assert ("- **发现论文数**: 0篇" if lang == "zh" else "- **Papers found**: 0") in md
        if fmt == "report":
            assert md.startswith("time: 20251226\n")


def test_empty_day_without_decisions_or_reason():
    d = make_digest("en", "table", papers=[], empty_reason="", decisions=[])
    md = render_markdown(d, "table")
    assert "no reason was recorded" in md and "No candidate papers were recorded" in md


# ------------------------------------------------------------------------------------- cited spans
def test_cited_spans_end_with_linked_pages():
    from fakes.data import _metas, quote

    meta = _metas()[0]
    a, b = quote(meta, 6, "Sentence on page six."), quote(meta, 3, "Sentence on page three.")
    assert render.cite_md([a, b, a]) == ("[[p.3](https://arxiv.org/pdf/2512.20276v1#page=3), "
                                         "[p.6](https://arxiv.org/pdf/2512.20276v1#page=6)]")
    abstract = type(a)(a.paper_key, a.arxiv_id, a.version, 1, "From the abstract.", a.title, abstract_only=True)
    assert render.cite_md([abstract]) == "[[abstract](https://arxiv.org/abs/2512.20276v1)]"
    local = type(a)("local:abc", "local:abc", 1, 2, "A local paper.", "T")
    assert render.cite_md([local]) == "[p.2]"  # no public address: the page, unlinked
    html, _ = render.markdown_to_html(f"x {render.cite_md([a, b])}")
    assert '[<a href="https://arxiv.org/pdf/2512.20276v1#page=3" rel="noopener noreferrer">p.3</a>, ' in html
    # the fallback of a rejected span: the quotes verbatim, each with its page, under the label
    zh = render.cited_md(Cited("", [b, a], "quotes"), "zh")
    assert zh.startswith("*（模型输出未通过检查，以下为原文引文）* “Sentence on page three.” [[p.3]")
    assert render.cited_md(Cited("", [], "not stated"), "en") == "Not stated in the paper."
    assert render.cited_md(Cited("", [], "not extracted"), "zh") == "未能从论文中提取。"


def test_rendered_analyses_use_one_heading_level():
    d = make_digest("zh", "monitor")
    heads = ANALYSIS_HEADINGS["monitor"]["zh"]
    md = render_markdown(d, "monitor")
    first = md.split("\n## 2. ", 1)[0]
    assert re.findall(r"^#### (.+)$", first, re.MULTILINE) == heads
    assert re.findall(r"^- \*\*要点\*\*：内容：该方法的要点。", first, re.MULTILINE) and "\n##### " not in md
    report = render_markdown(make_digest("en", "report"), "report")
    assert re.findall(r"^### (\d\. .+)$", report.split("<a id='2512.05693v1'></a>")[0].split("## Papers")[1],
                      re.MULTILINE) == ANALYSIS_HEADINGS["report"]["en"]


def test_executive_summary_labels_link_to_the_papers():
    d = make_digest("zh", "report")
    md = render_markdown(d, "report")
    summary = md.split("## Executive Summary", 1)[1].split("## Table of Contents", 1)[0]
    assert "- [**论文 1**](#2512.20276v1)" in summary and "- 本期共 3 篇论文。" in summary


def test_md_inline_escapes_markup():
    s = render.md_inline("a *b* [c](javascript:x) _d_ x_1 {#id} <tag> \\alpha\n C#")
    assert s == r"a \*b\* \[c\](javascript:x) \_d\_ x_1 \{#id} &lt;tag> \alpha C\#"


# ------------------------------------------------------------------------------------------------ write
def test_write_digest_writes_files_atomically(tmp_path):
    d = make_digest("zh", "report")
    out = write_digest(d, "report", tmp_path)
    day = tmp_path / "2025-12-26"
    assert out == {"md": day / "report.md", "html": day / "report.html"}
    assert out["md"].read_text(encoding="utf-8") == render_markdown(d, "report")
    assert out["html"].read_text(encoding="utf-8") == render_html(d, "report")
    write_digest(d, "report", tmp_path)  # a rewrite replaces in place
    assert sorted(p.name for p in day.iterdir()) == ["report.html", "report.md", "run-report.md"]
    assert oct(out["html"].stat().st_mode & 0o777) == oct(0o644)


def test_atomic_write_failure_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "x" / "page.html"
    atomic_write_text(target, "old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["page.html"]
    assert not list(tmp_path.rglob(f"{TEMP_PREFIX}*"))


def test_write_digest_rejects_bad_date_and_format(tmp_path):
    with pytest.raises(ValueError):
        write_digest(make_digest("zh", "report", date="../../etc"), "report", tmp_path)
    with pytest.raises(ValueError):
        render_markdown(make_digest("zh", "report"), "weekly")
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------- run report
def test_run_report_lists_decisions_and_outcomes(tmp_path):
    d = make_digest("en", "report")
    write_digest(d, "report", tmp_path)
    text = (tmp_path / "2025-12-26" / "run-report.md").read_text(encoding="utf-8")
    cands = text.split("## Candidates", 1)[1].split("## Analyses", 1)[0]
    rows = [split_row(r) for r in cands.splitlines() if r.startswith("| ")][1:]
    assert [(r[1], r[2]) for r in rows] == [
        ("2512.20276v1", "kept"), ("2512.05693v1", "kept"), ("2512.21118v2", "kept"),
        ("2512.20001v1", "dropped"), ("2511.11111v3", "dropped"), ("2512.20999v1", "failed"),
    ]
    assert rows[5][3] == "PDF download failed: HTTP 404"
    assert "kept: 3, dropped: 2, failed: 1" in text
    analyses = text.split("## Analyses (report)", 1)[1]
    arows = [split_row(r) for r in analyses.splitlines() if r.startswith("| ")][1:]
    assert [(r[2], r[3], r[5]) for r in arows] == [
        ("full text", "first try", "0"), ("abstract only", "fallback", "1"), ("full text", "failed", "0")]
    # the validator's and the extraction's words are here, for whoever runs the digest, not in the digest
    assert arows[1][4] == "motivation, try 1: span is not in Chinese (0% CJK)"
    assert arows[2][4] == "card extraction failed: model timed out twice"
    digest = (tmp_path / "2025-12-26" / "report.md").read_text(encoding="utf-8")
    assert "CJK" not in digest and "try 1" not in digest and "timed out" not in digest


def test_run_report_keeps_every_format_of_the_day(tmp_path):
    for fmt in FORMATS:
        write_digest(make_digest("zh", fmt), fmt, tmp_path)
    text = (tmp_path / "2025-12-26" / "run-report.md").read_text(encoding="utf-8")
    assert [m for m in re.findall(r"^## Analyses \((\w+)\)", text, re.M)] == list(FORMATS)
    write_digest(make_digest("zh", "monitor"), "monitor", tmp_path)  # rewrite one: still one section each
    again = (tmp_path / "2025-12-26" / "run-report.md").read_text(encoding="utf-8")
    assert again == text
    assert "首次成功 (first try)" in text and "降级生成 (fallback)" in text


def test_run_report_as_daily_writes_it(tmp_path):
    """daily.py swaps each paper's analysis per format, writes each format, then the run report once."""
    d = make_digest("en", "report")
    analyses = {fmt: [p.analysis for p in make_digest("en", fmt).papers] for fmt in ("report", "monitor")}
    analyses["monitor"][0] = Analysis([], "abstract only", "fallback", reason="full text unreadable")
    for fmt in ("table", "report", "monitor"):
        for entry, a in zip(d.papers, analyses.get(fmt, [None] * 3)):
            entry.analysis = a
        write_digest(d, fmt, tmp_path)
    path = write_run_report(d, tmp_path)
    assert path == tmp_path / "2025-12-26" / "run-report.md"
    text = path.read_text(encoding="utf-8")
    report = text.split("## Analyses (report)", 1)[1].split("<!--", 1)[0]
    monitor = text.split("## Analyses (monitor)", 1)[1].split("<!--", 1)[0]
    table = text.split("## Analyses (table)", 1)[1].split("<!--", 1)[0]
    assert "first try" in report and "full text unreadable" not in report
    assert "fallback" in monitor and "full text unreadable" in monitor
    assert "not analysed" in table and "missing (original shown)" in table
    assert "| 6 | 2512.20999v1 | failed | PDF download failed: HTTP 404 |" in text


@pytest.mark.parametrize(
    "reason,zh,en",
    [
        ("fetching the feeds failed: cs.CL: HTTP 503", "获取 arXiv 论文列表失败", "fetching the feeds failed: cs.CL: HTTP 503"),
        ("arXiv announced nothing today (weekends and holidays have no feed): cs.CL: empty", "周末", "announced nothing"),
        ("no announced paper matched the configured keywords and categories", "没有匹配到关键词", "matched the configured"),
        ("something else entirely", "something else entirely", "something else entirely"),
    ],
)
def test_empty_reason_sentences_from_daily(reason, zh, en):
    z = render.empty_reason_text(reason, "zh")
    assert zh in z and (reason in z or z == reason)  # the detail is kept
    assert en in render.empty_reason_text(reason, "en")


def test_run_report_empty_day():
    d = make_digest("en", "monitor", papers=[], empty_reason="weekend", decisions=[])
    text = render_run_report(d, "monitor")
    assert "weekends" in text and "No candidate papers were recorded" in text


# ----------------------------------------------------------------------- reference reports (../shared)
def _reference(shared_dir: Path, prefix: str) -> list[str]:
    files = sorted((shared_dir / "reference-reports").glob(f"{prefix}_*"))
    if not files:
        pytest.skip(f"no reference report {prefix}_* in {shared_dir / 'reference-reports'}")
    return [f.read_text(encoding="utf-8") for f in files]


def test_table_matches_reference_000(shared_dir):
    (ref,) = _reference(shared_dir, "000")
    rs = table_skeleton(ref)
    ours = table_skeleton(render_markdown(make_digest("zh", "table"), "table"))
    assert ours["heading"] == rs["heading"] == "# arxiv DATE"
    assert ours["header"] == [h.strip() for h in rs["header"]]
    assert ours["ncols"] == rs["ncols"] == {4}
    assert ours["pdf_cells"] and rs["pdf_cells"]


@pytest.mark.parametrize("prefix", ["001", "002"])
def test_report_matches_reference(shared_dir, prefix):
    (ref,) = _reference(shared_dir, prefix)
    rs = report_skeleton(ref)
    ours = report_skeleton(render_markdown(make_digest("zh", "report"), "report"))
    assert ours["first"] == rs["first"] == "time: YYYYMMDD"
    assert ours["title"] and rs["title"]
    assert ours["sections"] == rs["sections"]
    # the reference's scheme: TOC -> <a id='ID'> -> "## [title](https://arxiv.org/abs/ID)", ID with version
    assert rs["toc"] == rs["anchors"] and ours["toc"] == ours["anchors"]
    assert all(re.fullmatch(r"\d{4}\.\d{4,5}v\d+", a) for a in rs["anchors"] + ours["anchors"])
    assert all(p["heading_links_abs"] for p in rs["papers"] + ours["papers"])
    ref_orders = {tuple(p["labels"]) for p in rs["papers"]}
    assert tuple(ours["papers"][0]["labels"]) in ref_orders
    ref_links = {tuple(p["links"]) for p in rs["papers"]}
    assert tuple(ours["papers"][2]["links"]) in ref_links  # PDF, arXiv (+ Code when a paper has code)
    assert ours["papers"][0]["links"][: len(ours["papers"][2]["links"])] == ours["papers"][2]["links"]


@pytest.mark.parametrize("prefix", ["003", "004"])
def test_monitor_matches_reference_and_fixes_its_defects(shared_dir, prefix):
    (ref,) = _reference(shared_dir, prefix)
    rs = monitor_skeleton(ref)
    md = render_markdown(make_digest("zh", "monitor"), "monitor")
    ours = monitor_skeleton(md)
    assert ours["heading"] == rs["heading"]
    assert ours["note"] and rs["note"]
    assert ours["overview"] == rs["overview"]
    assert ours["overview_fields"] == rs["overview_fields"]
    for p in rs["papers"]:
        assert p["subsections"] == ours["papers"][0]["subsections"]
    renamed = {"源码地址": "代码链接"}  # the reference's "source code" label; ours names it as the brief does
    ref_info = {renamed.get(f, f) for p in rs["papers"] for f in p["info"]}
    assert ref_info <= set(ours["papers"][0]["info"])
    assert set(ours["papers"][0]["info"]) - ref_info <= {"匹配关键词", "代码链接"}
    # the defects of the reference, present there and fixed here
    assert "Announce Type" in ref and "Announce Type" not in md
    assert "oai:arXiv.org" in ref and "oai:arXiv.org" not in md
    assert re.search(r"^ {4,}### 原文摘要", ref, re.M) and not re.search(r"^ +###", md, re.M)
    ref_code = re.findall(r"源码地址\*\*: \[[^\]]*\]\(([^)]+)\)", ref)
    ours_code = re.findall(r"代码链接\*\*: (.+)$", md, re.M)
    assert any(u.endswith(".") for u in ref_code)
    assert ours_code and not any(u.rstrip(")").endswith(".") for line in ours_code for u in re.findall(r"\(([^)]+)\)", line))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_ranked_day_shows_score_and_reason_in_table_and_report_keeping_their_structure(lang):
    """A ranked day: the table's summary cell opens with the score and reason (still 4 columns, pipes escaped), the
    report gets a Relevance line per paper (its labels and links stay the reference's)."""
    plain = {fmt: render_markdown(make_digest(lang, fmt), fmt) for fmt in ("table", "report")}
    ranked = {}
    for fmt in ("table", "report"):
        d = make_digest(lang, fmt)
        for i, p in enumerate(d.papers):
            p.score, p.must_read = 0.8 - 0.1 * i, i == 0
            p.reason = f"close to “Seed | {i}” (0.7{i}); keyword 'vla'"
        ranked[fmt] = render_markdown(d, fmt)
    L = render.LABELS[lang]
    sk, sk0 = table_skeleton(ranked["table"]), table_skeleton(plain["table"])
    assert sk == sk0 and sk["ncols"] == {4}
    rows = [split_row(r) for r in ranked["table"].splitlines() if r.startswith("|")][2:]
    assert rows[0][3].startswith(f"**{L['relevance']}**: 0.80 · **{L['must_read']}** · close to “Seed \\| 0” (0.70)")
    assert rows[1][3].startswith(f"**{L['relevance']}**: 0.70 · close to “Seed \\| 1”")
    assert "Relevance" not in plain["report"]
    rk, rk0 = report_skeleton(ranked["report"]), report_skeleton(plain["report"])
    assert rk == rk0
    assert ranked["report"].count("**Relevance:** ") == 3
    assert f"**Relevance:** 0.80 · **{L['must_read']}** · close to “Seed | 0” (0.70); keyword 'vla'" in ranked["report"]
