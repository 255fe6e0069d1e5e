"""The digest's analyses, executive summary, key findings and table cells, composed by code from paper cards.

Pure functions, no LLM: the structure (parts, labels, results) comes from `formats.py` and the card; each card
field's text comes from `span(field)`, which the writer fills (one short, checked model span per field, or the
field's quotes when the model's text was rejected). Headline results are rendered from the card's
`ResultItem`s directly (metric, value, benchmark, setting + their quotes): no model is needed for a number.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from rag.cards import PaperCard, ResultItem
from rag.digest.formats import (
    ANALYSIS_HEADINGS,
    FIELD_NAMES,
    PART_FIELDS,
    SUMMARY_HEADINGS,
)
from rag.digest.model import Cited, Digest, Item, Part
from rag.quotes import numbers, unbacked

Span = Callable[[str], Cited]  # card field -> its span in the digest's language

TEXT = {
    "zh": {"result": "结果", "no_results": "未找到可核实的量化结果。", "not_in_abstract": "摘要未说明。", "paper": "论文 {n}：{title}",
           "paper_n": "论文 {n}", "sep": "，", "open": "（", "close": "）",
           "themes": "本期共 {n} 篇论文{cats}{kws}。",
           "cats": "；主要分类：{x}", "kws": "；命中关键词：{x}", "count": "{k}（{v}）",
           "basis": "其中 {full} 篇基于论文全文分析，{abstract} 篇仅有摘要。",
           "no_limits": "本期论文均未说明其局限。", "ranked": "{reason}",
           "unranked": "未设置种子论文或评分：按今日顺序列出基于全文分析的论文。",
           "nothing": "本期没有可推荐的论文。"},
    "en": {"result": "Result", "no_results": "No checkable quantitative result was found.",
           "not_in_abstract": "Not stated in the abstract.",
           "paper": "Paper {n}: {title}", "paper_n": "Paper {n}", "sep": ", ", "open": " (", "close": ")",
           "themes": "{n} papers in this issue{cats}{kws}.",
           "cats": "; main categories: {x}", "kws": "; keywords matched: {x}", "count": "{k} ({v})",
           "basis": "{full} analysed from the full text, {abstract} from the abstract only.",
           "no_limits": "None of the papers states its limitations.", "ranked": "{reason}",
           "unranked": "No seeds or ratings are set: the papers analysed from the full text, in today's order.",
           "nothing": "No paper to recommend in this issue."},
}


# ------------------------------------------------------------------------------------------------- results
def result_text(r: ResultItem, lang: str) -> str:
    """`28.4（WMT 2014 English-German，big）` / `28.4 (WMT 2014 English-German, big)`."""
    t = TEXT[lang]
    where = t["sep"].join(x.strip() for x in (r.benchmark, r.setting) if x and x.strip())
    return r.value.strip() + (f"{t['open']}{where}{t['close']}" if where else "")


def result_item(r: ResultItem, lang: str) -> Item | None:
    """A headline result as a bullet (label = metric); None when it has no quote or its numbers are not in them."""
    quotes = [q.quote() for q in r.quotes]
    text = result_text(r, lang)
    if not quotes or not numbers(r.value) or unbacked(text, quotes, also=r.metric):
        return None
    return Item(r.metric.strip() or TEXT[lang]["result"], [Cited(text, quotes, "code")])


def result_items(card: PaperCard, lang: str, limit: int | None = None) -> list[Item]:
    out = [i for i in (result_item(r, lang) for r in card.results) if i is not None]
    return out[:limit] if limit is not None else out


def dropped_results(card: PaperCard, lang: str) -> list[str]:
    """The card's results not shown (no quote, or numbers not in their quotes): for the run report."""
    return [f"{r.metric} {r.value}" for r in card.results if result_item(r, lang) is None]


# ------------------------------------------------------------------------------------------------ analyses
def analysis_parts(card: PaperCard, fmt: str, lang: str, span: Span) -> list[Part]:
    """The parts of `fmt`'s analysis: headings from formats.py, one bullet per card field (its span), the
    headline results rendered by code."""
    names = FIELD_NAMES[lang]
    parts = []
    for heading, fields in zip(ANALYSIS_HEADINGS[fmt][lang], PART_FIELDS[fmt], strict=True):
        items: list[Item] = []
        for f in fields:
            if f == "results":
                items += result_items(card, lang) or [Item(TEXT[lang]["result"], [Cited(
                    TEXT[lang]["no_results"], [], "not stated")])]
            elif f == "top_result":
                items += result_items(card, lang, limit=1)
            else:
                items.append(Item(names[f], [span(f)]))
        parts.append(Part(heading, items))
    return parts


def table_summary(card: PaperCard, lang: str, span: Span) -> list[Item]:
    """The table format's abstract cell: problem, core idea, top result."""
    names = FIELD_NAMES[lang]
    items = [Item(names[f], [span(f)]) for f in ("problem", "core_idea") if card.field(f).found]
    return items + result_items(card, lang, limit=1)


def key_findings(card: PaperCard, lang: str, span: Span, *, results: int = 2) -> list[Cited]:
    """The core idea and the top headline results ([] when the card has neither: the caller uses the
    abstract's own sentences)."""
    out = [span("core_idea")] if card.field("core_idea").found else []
    for item in result_items(card, lang, limit=results):
        c = item.spans[0]
        sep = "：" if lang == "zh" else ": "
        out.append(Cited(f"{item.label}{sep}{c.text}", c.quotes, "code"))
    return out


# --------------------------------------------------------------------------------------- executive summary
def executive_summary(digest: Digest, cards: dict[str, PaperCard | None],
                      span: Callable[[str, str], Cited]) -> list[Part]:
    """The report's executive summary: counts by code, then per paper its core idea and top result, what the
    authors leave open, and the papers to read in full. `span(paper_key, field)` gives a field's span."""
    lang = digest.language
    t = TEXT[lang]
    heads = SUMMARY_HEADINGS[lang]
    papers = sorted(digest.papers, key=lambda p: p.n)

    def top(counter: Counter, k: int = 4) -> str:
        return t["sep"].join(t["count"].format(k=k_, v=v) for k_, v in counter.most_common(k))

    cats = Counter(p.meta.primary_category or (p.meta.categories or [""])[0] for p in papers)
    cats.pop("", None)
    kws = Counter(k for p in papers for k in p.matched_keywords)
    full = sum(1 for p in papers if (c := cards.get(p.meta.key)) is not None and c.basis == "full text")
    themes = t["themes"].format(n=len(papers), cats=t["cats"].format(x=top(cats)) if cats else "",
                                kws=t["kws"].format(x=top(kws)) if kws else "")
    basis = t["basis"].format(full=full, abstract=len(papers) - full)
    parts = [Part(heads[0], [Item("", [Cited(themes, [], "code"), Cited(basis, [], "code")])])]

    highlights, limits = [], []
    for p in papers:
        card = cards.get(p.meta.key)
        label = t["paper"].format(n=p.n, title=p.meta.title)
        if card is None:
            continue
        spans = [span(p.meta.key, "core_idea")] if card.field("core_idea").found else []
        results = result_items(card, lang, limit=1)
        if results:
            r = results[0]
            sep = "：" if lang == "zh" else ": "
            spans.append(Cited(f"{r.label}{sep}{r.spans[0].text}", r.spans[0].quotes, "code"))
        if spans:
            highlights.append(Item(label, spans, anchor=p.anchor))
        if card.field("limitations").found:
            limits.append(Item(t["paper_n"].format(n=p.n), [span(p.meta.key, "limitations")], anchor=p.anchor))
    parts.append(Part(heads[1], highlights or [Item("", [Cited(t["nothing"], [], "not stated")])]))
    parts.append(Part(heads[2], limits or [Item("", [Cited(t["no_limits"], [], "not stated")])]))

    must = [p for p in papers if p.must_read]
    if must:
        read = [Item(t["paper"].format(n=p.n, title=p.meta.title), [Cited(p.reason, [], "code")] if p.reason else [],
                     anchor=p.anchor) for p in must]
    else:
        chosen = [p for p in papers if (c := cards.get(p.meta.key)) is not None and c.basis == "full text"][:3]
        read = [Item("", [Cited(t["unranked"], [], "code")])] + [
            Item(t["paper"].format(n=p.n, title=p.meta.title), [], anchor=p.anchor) for p in chosen] if chosen else []
    parts.append(Part(heads[3], read or [Item("", [Cited(t["nothing"], [], "not stated")])]))
    return parts
