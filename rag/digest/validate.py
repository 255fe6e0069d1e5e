"""Every LLM-written piece of a digest is checked here before it is published. Pure functions, no LLM calls.

Each check returns a `Verdict`: `ok`, the cleaned `text` (chatter removed, labels dropped), `problems` (short
sentences for the run report: "missing heading '5. 实验说明'", "ends mid-sentence: '…通过这一系列设计'"),
`retryable` (asking the model again - stricter prompt, more tokens, the paper text - may fix it), `kind` (the
worst problem, so the caller knows *what* to change on a retry) and `fixes` (repairs already applied to `text`).

* `strip_chatter(text, language)` - conversational preamble/closing paragraphs ("好的，作为一名……我将……",
  "以下是……：", "希望这份执行摘要能帮助您……", "Sure, here is…", "I hope this helps"), horizontal rules
  left dangling at either end, a wrapping ```markdown fence, a leading <think> block. Only leading and
  trailing paragraphs are ever removed, and only short ones that open with a chatter phrase; content in the
  middle is never touched.
* `check_analysis(text, fmt=, language=, source_title=, finish_reason=)` - the required headings of
  `formats.ANALYSIS_HEADINGS[fmt][language]`, present and in order (markdown decoration, "1．"/"1、"/"1)",
  a missing dot or number tolerated); no empty section; the configured language (overall and per section);
  not truncated (`finish_reason="length"`, text ending mid-sentence / in an open bracket, `**`, `$`, code
  fence / on an empty list item or heading, the last headings missing); not a refusal ("请提供论文",
  "please provide the paper", "I cannot access", "作为一个AI模型", empty / tiny text); no line repeated 3
  times (small models loop); with `source_title`, not an analysis that names another paper.
* `check_summary(text, date=, language=, paper_titles=)` - the executive summary: `SUMMARY_HEADINGS`, every
  date it mentions is the digest's date, "论文 N"/"Paper N" within the digest, bold/quoted titles match a
  paper of the digest (and the one whose number they cite), plus the checks above.
* `check_translation(text, language=, part=)` - a translated title or abstract: no chatter, no leftover
  "摘要："/"Abstract:" label (removed, recorded in `fixes`), no markdown heading, target language, not empty,
  not truncated (with `source`: not much shorter than it), no repeated sentence.
* `check_abstract_clean(text)` - an abstract about to be published still carries the RSS
  "arXiv:… Announce Type: … Abstract:" prefix (or HTML tags); `text` is the repaired abstract.
* `clean_code_link(url)` / `clean_code_links(urls)` - trailing punctuation off a code link
  ("https://anonymous.4open.science/r/ActionFlow-1D47." -> "…-1D47"), using `ingest.text_clean`'s rules.

Kinds, worst first: "refusal" (a non-answer or empty/tiny text), "truncated", "repetition", "headings",
"language", "date", "papers", "empty_section", "wrong_paper", "format", "abstract"; "ok" when nothing is
wrong. Every kind is retryable except "abstract" (the input must be repaired: `text` already is). Chatter is
no problem: it is removed and listed in `fixes`, and the cleaned `text` is what gets published.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import date as Date
from typing import Literal

from ingest.text_clean import clean_abstract, extract_code_links, split_rss_description
from ingest.text_clean import (
    trim_url as _trim_url,  # the one rule set for trailing punctuation on URLs
)
from rag.digest import formats

Language = Literal["zh", "en"]

KIND_ORDER = (
    "refusal",
    "truncated",
    "repetition",
    "headings",
    "language",
    "date",
    "papers",
    "empty_section",
    "wrong_paper",
    "format",
    "abstract",
)
# problems a new request to the model cannot fix: the input itself must be repaired
_NOT_RETRYABLE = frozenset({"abstract"})


@dataclass(frozen=True)
class Verdict:
    ok: bool
    text: str  # the cleaned text: publish this one, not the raw answer
    problems: list[str] = field(default_factory=list)
    retryable: bool = False
    kind: str = "ok"  # the worst problem's kind (KIND_ORDER), "ok" when there is none
    kinds: tuple[str, ...] = ()  # every kind found, worst first
    fixes: list[str] = field(default_factory=list)  # repairs already applied to `text`

    @property
    def reason(self) -> str:
        """One line for the run report / `Analysis.reason`."""
        return "; ".join(self.problems)


class _Findings:
    """Collects (kind, problem) pairs and builds the Verdict."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.fixes: list[str] = []

    def add(self, kind: str, problem: str) -> None:
        if (kind, problem) not in self.items:
            self.items.append((kind, problem))

    def verdict(self, text: str) -> Verdict:
        if not self.items:
            return Verdict(True, text, [], False, "ok", (), list(self.fixes))
        kinds = tuple(sorted({k for k, _ in self.items}, key=KIND_ORDER.index))
        ordered = sorted(self.items, key=lambda kp: KIND_ORDER.index(kp[0]))
        return Verdict(
            ok=False,
            text=text,
            problems=[p for _, p in ordered],
            retryable=any(k not in _NOT_RETRYABLE for k in kinds),
            kind=kinds[0],
            kinds=kinds,
            fixes=list(self.fixes),
        )


def _snip(s: str, n: int = 40, *, tail: bool = False) -> str:
    s = re.sub(r"\s+", " ", s.replace("**", "")).strip()
    if len(s) <= n:
        return s
    return "…" + s[-n:].lstrip() if tail else s[:n].rstrip() + "…"


# ================================================================================================ blocks
_FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)\s*$")
_RULE = re.compile(r"^\s*(?:(?:-\s*){3,}|(?:\*\s*){3,}|(?:_\s*){3,}|(?:=\s*){3,})$")
_ATX = re.compile(r"^\s{0,3}#{1,6}\s")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d+[.)、．]|[（(]\d+[)）])\s+")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")


def _blocks(text: str) -> list[str]:
    """Paragraphs (split at blank lines); a fenced code block is one paragraph whatever it contains."""
    blocks: list[str] = []
    cur: list[str] = []
    in_fence = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            cur.append(line)
            in_fence = not in_fence
            continue
        if not in_fence and not line.strip():
            if cur:
                blocks.append("\n".join(cur))
                cur = []
            continue
        cur.append(line)
    if cur:
        blocks.append("\n".join(cur))
    return blocks


def _join(blocks: list[str]) -> str:
    return "\n\n".join(blocks).strip()


# ================================================================================================ chatter
_LEAD_ZH = re.compile(
    r"^(?:(?:好的|好|当然(?:可以)?|没问题|可以的?|嗯|明白了?|收到|OK|Ok)[，,！!。、~～\s]"
    r"|(?:以下|下面|这里|这)(?:是|为|就是)"
    r"|作为(?:一名|一个|一位|您的)"
    r"|(?:我将|我会|我来|让我|我已)"
    r"|(?:根据|基于|按照)(?:您|你)"
    r"|(?:感谢|谢谢))"
)
_LEAD_EN = re.compile(
    r"^(?:(?:sure|certainly|of course|okay|ok|absolutely|great|alright|no problem|gladly)"
    r"(?:\s*[,!.:;]|\s+(?=(?:here|below|i|i'll|i’ll|let|this|the following)\b))"
    r"|(?:here(?:'s|’s| is| are)|below (?:is|are)|the following (?:is|are))\b"
    r"|as an? (?:ai|language model|helpful|expert|professional|senior|experienced|research)"
    r"|(?:i will|i'll|i’ll|i would|i'd|i’d|let me|i am going to|i'm going to|i have|i've)\b"
    r"|(?:thank you|thanks)\b)",
    re.IGNORECASE,
)
# openers that are chatter only when they announce something ("以下是翻译：", "Here is the summary")
_WEAK_LEAD = re.compile(r"^(?:以下|下面|这里|这)(?:是|为|就是)|^(?:here|below|the following)\b", re.IGNORECASE)
_META_NOUN = re.compile(
    r"翻译|译文|摘要|总结|分析|报告|结果|内容|版本|回答|您|你|"
    r"\b(?:translation|summary|summaries|analysis|report|overview|digest|version|breakdown|answer|you)\b",
    re.IGNORECASE,
)
_TRAIL_ZH = re.compile(
    r"^(?:希望(?:这|以上|本|此|该|对|能|我|上述)|如(?:果)?(?:您|你)(?:还)?(?:有|需要|想|希望|对)|如需|若(?:您|你)|"
    r"欢迎(?:继续|随时|进一步|您)?|祝(?:您|你)|请随时|(?:如有|有任何)(?:其他|任何|进一步)?(?:问题|疑问|需要)|"
    r"(?:这份|本|以上|这篇|此|该)(?:执行)?(?:摘要|总结|报告|分析|翻译|译文|内容)(?:旨在|希望|可以|能够|将|应该)"
    r"(?:帮助|为|对|让)|以上(?:就是|便是|即为))"
)
_TRAIL_EN = re.compile(
    r"^(?:i hope|hope (?:this|that|it|you)|let me know|please let me know|feel free|if you (?:have|need|would|want|'d)|"
    r"happy to help|i'd be happy|i would be happy|good luck|is there anything|would you like|do you want|"
    r"this (?:summary|analysis|translation|report|overview|digest) (?:aims|is intended|should help|provides you|"
    r"is meant|hopefully))",
    re.IGNORECASE,
)
_TRAIL_NOTE = re.compile(r"^[（(]?\s*(?:注|备注|说明|译注|Note|Notes|N\.B\.)\s*[:：]", re.IGNORECASE)
_CLOSERS = {"(": ")", "（": "）", "[": "]", "【": "】", "《": "》", "{": "}", "「": "」", "『": "』", "“": "”"}


def _plain_para(block: str) -> bool:
    """A paragraph of prose: no heading, list, table, quote or code."""
    first = block.lstrip().split("\n", 1)[0]
    return not (
        _ATX.match(first)
        or _LIST_ITEM.match(first)
        or _TABLE_ROW.match(first)
        or _FENCE.match(first)
        or first.lstrip().startswith(">")
    )


def _unemph(s: str) -> str:
    return re.sub(r"^[\s*_>]+", "", s)


def _colon_cut(block: str) -> int | None:
    """Index just after the first colon outside brackets/quotes within 160 characters, or None."""
    depth: list[str] = []
    for i, ch in enumerate(block[:160]):
        if ch in _CLOSERS:
            depth.append(_CLOSERS[ch])
        elif depth and ch == depth[-1]:
            depth.pop()
        elif ch in ":：" and not depth:
            if block[i + 1 : i + 3] == "//":  # "https://"
                continue
            return i + 1
    return None


_WEAK_ZH_ANNOUNCE = re.compile(
    r"^(?:以下|下面|这里|这)(?:是|为|就是)(?:我|为您|给您|对|关于)?[^。！？\n]{0,20}?(?:翻译|译文|摘要|总结|分析|报告|结果|回答|版本)"
    r"[^。！？\n]{0,8}(?:[：:。！!]|$)"
)


def _is_lead_chatter(block: str) -> bool:
    head = _unemph(block.strip())
    if not (_LEAD_ZH.match(head) or _LEAD_EN.match(head)):
        return False
    if _WEAK_LEAD.match(head):
        # "以下是翻译：" / "这是对论文的分析。" / "Here is the summary" - but not "这是首个……平台" (content)
        first = re.split(r"(?<=[。！？!?：:])|(?<=\.)\s", head, maxsplit=1)[0].rstrip("*_ ")
        if len(first) > 120:
            return False
        if first.endswith((":", "：")) or re.search(r"您|你|\byou\b", first, re.IGNORECASE):
            return True
        if re.match(r"^(?:here|below|the following)\b", first, re.IGNORECASE):
            return bool(_META_NOUN.search(first))
        return bool(_WEAK_ZH_ANNOUNCE.match(first))
    return True


_ANNOUNCES = re.compile(
    r"(?:以下|如下|下面|翻译|译文|摘要|总结|分析|报告|内容|版本|结果)[^，,。！？]{0,6}$"
    r"|\b(?:here|below|following|translation|summary|analysis|overview|version|result|answer)s?\b[^,.!?]{0,25}$",
    re.IGNORECASE,
)


def _strip_lead(block: str) -> tuple[str | None, str]:
    """(what is left of the first paragraph or None when all of it is chatter, what was removed)."""
    if not _plain_para(block) or not _is_lead_chatter(block):
        return block, ""
    cut = _colon_cut(block)
    if cut is not None and not _ANNOUNCES.search(block[: cut - 1]) and block[cut : cut + 1] != "\n":
        cut = None  # a colon inside the chatter ("…论文 ActionFlow: A Pipelined…"), not one that announces
    if cut is not None:
        rest = block[cut:].lstrip(" *_\t")
        rest = rest.lstrip("\n")
        if rest.strip():
            return rest, block[:cut]
        return None, block
    if len(block) <= 400:
        return None, block
    # a long paragraph that opens with one chatter sentence ("好的。" + content): drop that sentence only
    m = re.match(r"^(.{1,150}?[。！？!?]|.{1,150}?\.\s)", block, re.DOTALL)
    if m and _is_lead_chatter(m.group(1)):
        return block[m.end() :].lstrip(), m.group(1)
    return block, ""


def _is_trail_chatter(block: str, *, notes: bool) -> bool:
    if not _plain_para(block) or len(block) > 300:
        return False
    head = _unemph(block.strip())
    if _TRAIL_EN.match(head):
        return True
    if _TRAIL_ZH.match(head):
        # "希望本方法能为后续研究提供参考。" closes a real text; chatter addresses the reader or offers help
        return not head.startswith(("希望", "以上")) or bool(re.search(r"您|你|帮助|有所|参考价值", head))
    return notes and bool(_TRAIL_NOTE.match(head))


def _unwrap_fence(blocks: list[str]) -> tuple[list[str], bool]:
    """A ```markdown (or bare ```) fence around the whole answer: drop the fence lines."""
    if not blocks:
        return blocks, False
    first_lines = blocks[0].split("\n")
    m = _FENCE.match(first_lines[0])
    if not m or m.group(2).lower() not in ("", "markdown", "md", "text", "txt"):
        return blocks, False
    whole = "\n\n".join(blocks)
    fences = [ln for ln in whole.split("\n") if _FENCE.match(ln)]
    last_lines = blocks[-1].split("\n")
    closing = _FENCE.match(last_lines[-1])
    closes_at_end = len(fences) >= 2 and bool(closing) and not closing.group(2)
    if m.group(2) == "" and not closes_at_end:
        return blocks, False  # a bare fence that does not wrap everything is a code block
    inner = whole.split("\n", 1)[1] if "\n" in whole else ""
    if closes_at_end:
        inner = inner.rsplit("\n", 1)[0] if "\n" in inner else ""
    return _blocks(inner.strip("\n")), True


_THINK = re.compile(r"^\s*<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)


def _strip(text: str, *, notes: bool = False) -> tuple[str, list[str]]:
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    fixes: list[str] = []
    if _THINK.match(text):  # reasoning models served by Ollama (qwen3, deepseek-r1) think out loud first
        text = _THINK.sub("", text, count=1)
        fixes.append("removed the <think> block")
    blocks = _blocks(text.strip())
    for _ in range(12):
        changed = False
        if blocks and _RULE.match(blocks[0]):
            blocks = blocks[1:]
            changed = True
        elif blocks and _RULE.match(blocks[-1]):
            blocks = blocks[:-1]
            changed = True
        if blocks:
            blocks, unwrapped = _unwrap_fence(blocks)
            if unwrapped:
                fixes.append("removed the ```markdown fence around the answer")
                changed = True
        if blocks:
            rest, removed = _strip_lead(blocks[0])
            if removed:
                fixes.append(f"removed preamble '{_snip(removed)}'")
                blocks = ([rest] if rest is not None else []) + blocks[1:]
                changed = True
        if blocks and _is_trail_chatter(blocks[-1], notes=notes):
            fixes.append(f"removed closing '{_snip(blocks[-1])}'")
            blocks = blocks[:-1]
            changed = True
        if not changed:
            break
    # a rule glued to the last/first paragraph ("…内容。\n---")
    out = _join(blocks)
    out = re.sub(r"(?:\n\s*(?:-{3,}|\*{3,}|_{3,})\s*)+$", "", out)
    out = re.sub(r"^(?:\s*(?:-{3,}|\*{3,}|_{3,})\s*\n)+", "", out)
    return out.strip(), fixes


class Stripped(str):
    """The cleaned text - a `str`, so `strip_chatter(t, "zh").strip()` works - that also carries what was
    removed (`fixes`) and the Verdict fields (`ok`, `text`, `problems`, `kind`, `retryable`)."""

    fixes: list[str]
    problems: list[str]

    def __new__(cls, text: str, fixes: list[str], problems: list[str]) -> "Stripped":
        obj = super().__new__(cls, text)
        obj.fixes, obj.problems = fixes, problems
        return obj

    @property
    def text(self) -> str:
        return str.__str__(self)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def kind(self) -> str:
        return "refusal" if self.problems else "ok"

    @property
    def retryable(self) -> bool:
        return bool(self.problems)

    @property
    def reason(self) -> str:
        return "; ".join(self.problems)


def strip_chatter(text: str, language: Language = "zh") -> Stripped:
    """Remove conversational preamble / closing paragraphs, dangling rules and a wrapping ```markdown fence.

    Returns the cleaned text as a `Stripped` string; its `fixes` list what was removed, `ok` is False (kind
    "refusal") only when nothing is left. Both languages' phrases are removed whatever `language` is (small
    models answer a zh prompt with "Sure! Here is…" too).
    """
    del language  # the same rules for both: chatter in the "wrong" language is still chatter
    cleaned, fixes = _strip(text)
    problems = []
    if not cleaned:
        problems.append("empty answer" if not (text or "").strip() else "nothing left after removing chatter")
    return Stripped(cleaned, fixes, problems)


# ================================================================================================ refusals
_REFUSALS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"请(?:您)?(?:提供|上传|粘贴|发送|给出|分享)[^。！？\n]{0,20}?(?:论文|文章|全文|原文|文本|内容|摘要|PDF|链接)", re.I),
     "refusal: asks for the paper text"),
    (re.compile(r"please (?:provide|share|upload|paste|send|give)\b[^.\n]{0,40}?\b(?:paper|article|text|content|pdf|"
                r"abstract|document|link)", re.I), "refusal: asks for the paper text"),
    (re.compile(r"(?:我|AI|模型)[^。！？\n]{0,12}无法(?:直接)?(?:访问|获取|读取|打开|查看|浏览|下载)|"
                r"无法(?:直接)?(?:访问|打开|浏览|下载|读取)(?:该|这篇|此|您|你)?(?:提供的)?(?:论文|链接|网址|PDF|pdf|文件|网页|外部|互联网)"),
     "refusal: says it cannot access the paper"),
    (re.compile(r"\bI (?:cannot|can't|can’t|am unable to|'m unable to|’m unable to|do not have|don't have|don’t have) "
                r"(?:directly )?(?:access|browse|open|read|retrieve|view|download)", re.I),
     "refusal: says it cannot access the paper"),
    (re.compile(r"\b(?:unable to|no way to) (?:access|browse|retrieve|open) (?:the|this|external|any)", re.I),
     "refusal: says it cannot access the paper"),
    (re.compile(r"作为一个(?:AI|人工智能)(?:[，,]|(?:语言)?(?:模型|助手|程序))|作为(?:AI|人工智能)(?:语言模型|助手)[，,]\s*我(?:无法|不能)"),
     "refusal: 'as an AI' non-answer"),
    (re.compile(r"\bas an AI(?: language model| model| assistant)?,", re.I), "refusal: 'as an AI' non-answer"),
    (re.compile(r"(?:很|非常)?抱歉|对不起|我(?:无法|不能)(?:完成|提供|回答|满足|执行|处理|翻译)"), "refusal: apologises instead of answering"),
    (re.compile(r"\bI(?:'m| am|’m) sorry\b|\bI apologi[sz]e\b|\bI (?:cannot|can't|can’t|won't) (?:help|assist|complete|"
                r"provide|fulfil|translate|summari[sz]e)", re.I), "refusal: apologises instead of answering"),
]


def _refusal(text: str, zone_chars: int = 600) -> str | None:
    """The refusal sentence if one of the phrases is in the first or last `zone_chars` characters."""
    zone = text[:zone_chars] + "\n" + text[-zone_chars:]
    for pat, problem in _REFUSALS:
        if pat.search(zone):
            return problem
    return None


# ================================================================================================ language
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-zÀ-ɏ]+(?:['’-][A-Za-zÀ-ɏ]+)*")
_NOT_PROSE = re.compile(
    r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]*\$|\\\(.*?\\\)|\\\[.*?\\\]|"
    r"https?://\S+|www\.\S+|\]\([^)]*\)|<[^>\n]+>",
    re.DOTALL,
)


def _language_share(text: str) -> tuple[int, int]:
    """(CJK characters, Latin words) of the prose: code, formulas, URLs and link targets left out."""
    prose = _NOT_PROSE.sub(" ", text)
    return len(_CJK.findall(prose)), len(_LATIN_WORD.findall(prose))


def _language_problem(text: str, language: Language, *, what: str = "text", lenient: bool = False) -> str | None:
    """zh: CJK characters must be at least half of CJK characters + Latin words (an English term counts once,
    however long); en: at most 15% (30% lenient). `lenient` is for titles and single sections."""
    cjk, words = _language_share(text)
    total = cjk + words
    if total < 4:
        return None
    share = cjk / total
    if language == "zh" and share < (0.3 if lenient else 0.5):
        return f"{what} is not in Chinese ({share:.0%} CJK)"
    if language == "en" and share > (0.3 if lenient else 0.15):
        return f"{what} is not in English ({share:.0%} CJK)"
    return None


# ================================================================================================ headings
_FW_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_CN_NUM = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_NUM_PREFIX = re.compile(
    r"^(?:第\s*)?[（(]?\s*(?P<n>\d{1,2}|[一二三四五六七八九十])\s*(?:[.．、:：)）]|部分|节|\s)\s*(?P<rest>.*)$"
)


def _norm_title(s: str) -> str:
    s = s.translate(_FW_DIGITS).lower()
    s = re.sub(r"[*_`#>~]+", "", s)
    s = re.sub(r"[\s\u3000]+", " ", s).strip()
    s = re.sub(r"(?<=[^\x00-\x7f]) (?=[^\x00-\x7f])", "", s)  # "实验 分析" -> "实验分析"
    return re.sub(r"[\s:：.。．、,，;；!！?？()（）\[\]【】《》\"'“”‘’\-–—/]+$", "", s)


@dataclass(frozen=True)
class _Heading:
    line: int  # index into the lines
    number: int | None
    title: str  # normalized, number removed
    raw: str
    decorated: bool  # '#' heading or a bold-only line


def _heading_candidates(lines: list[str]) -> list[_Heading]:
    out: list[_Heading] = []
    in_fence = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence or not line.strip():
            continue
        s = line.strip().translate(_FW_DIGITS)
        if len(s) > 80:  # "**1. 论文概要**：本文旨在……" - a heading with its content on the same line
            m_colon = re.search(r"[:：]", s[:60])
            if not m_colon:
                continue
            s = s[: m_colon.start()].rstrip()
        atx = bool(re.match(r"^#{1,6}\s", s))
        s = re.sub(r"^#{1,6}\s*", "", s).strip()
        s = re.sub(r"^>\s*", "", s)
        bold = bool(re.match(r"^(\*\*|__).+?(\*\*|__)\s*[:：]?\s*$", s))
        body = re.sub(r"^(\*\*|__)\s*|\s*(\*\*|__)\s*([:：]?)\s*$", r"\3", s).strip()
        body = re.sub(r"^\*\*|\*\*$", "", body).strip()
        m = _NUM_PREFIX.match(body)
        number = None
        if m and m.group("rest"):
            n = m.group("n")
            number = int(n) if n.isdigit() else _CN_NUM.get(n)
            body = m.group("rest")
        title = _norm_title(body)
        if title:
            out.append(_Heading(i, number, title, line.strip(), atx or bold))
    return out


def _required_parts(required: str) -> tuple[int | None, str]:
    m = _NUM_PREFIX.match(required.translate(_FW_DIGITS))
    if m and m.group("rest"):
        return int(m.group("n")) if m.group("n").isdigit() else _CN_NUM.get(m.group("n")), _norm_title(m.group("rest"))
    return None, _norm_title(required)


def _title_matches(cand: _Heading, required: str) -> bool:
    _, req_title = _required_parts(required)
    if not (cand.decorated or cand.number is not None):
        return False  # a plain, unnumbered line is prose even when it says "总结"
    if cand.title == req_title:
        return True
    # "5. 实验分析（Experiments）", "3. Method Design and Details": the required words, then a qualifier
    if not cand.title.startswith(req_title) or not req_title:
        return False
    nxt = cand.title[len(req_title)]
    return not (nxt.isascii() and nxt.isalnum()) or not req_title[-1].isascii()


@dataclass
class _HeadingScan:
    found: list[tuple[str, _Heading]]  # required heading -> where, in order
    missing: list[str]
    out_of_order: list[str]
    lines: list[str]


def _scan_headings(text: str, required: list[str]) -> _HeadingScan:
    lines = text.split("\n")
    cands = _heading_candidates(lines)
    found: list[tuple[str, _Heading]] = []
    missing: list[str] = []
    out_of_order: list[str] = []
    last = -1
    for req in required:
        number, _ = _required_parts(req)
        matches = [c for c in cands if _title_matches(c, req)]
        after = [c for c in matches if c.line > last]
        if after:
            best = next((c for c in after if number is not None and c.number == number), after[0])
            found.append((req, best))
            last = best.line
        elif matches:
            out_of_order.append(req)
        else:
            missing.append(req)
    return _HeadingScan(found, missing, out_of_order, lines)


_PLACEHOLDER = re.compile(
    r"^(?:无|略|暂无|待补充|待定|同上|见上|不适用|未提及|n/?a|none|tbd|todo|same as above|not applicable|-+|…+|\.+)[。.]?$",
    re.IGNORECASE,
)


def _section_units(body: str) -> int:
    cjk, words = _language_share(body)
    return cjk + words + len(re.findall(r"\d+", body))


def _empty_sections(scan: _HeadingScan, *, min_units: int = 5) -> list[str]:
    """Required headings whose section (up to the next heading found) has (almost) nothing in it."""
    out = []
    for idx, (req, h) in enumerate(scan.found):
        end = scan.found[idx + 1][1].line if idx + 1 < len(scan.found) else len(scan.lines)
        body = "\n".join(scan.lines[h.line + 1 : end])
        body = re.sub(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$", "", body, flags=re.MULTILINE).strip()
        # the heading line itself may carry the content: "**1. 论文概要**：本文……" / "1. 摘要翻译：……"
        inline = re.sub(r"^.*?[:：]\s*", "", h.raw, count=1) if re.search(r"[:：]\s*\S", h.raw) else ""
        content = (inline + "\n" + body).strip()
        plain = re.sub(r"[*_#>`\s]+", "", content)
        if not plain or _PLACEHOLDER.match(plain) or _section_units(content) < min_units:
            why = "is empty" if not plain else f"is nearly empty: '{_snip(content, 30)}'"
            out.append(f"section '{req}' {why}")
    return out


def _add_heading_problems(f: _Findings, scan: _HeadingScan, required: list[str]) -> None:
    """Missing / out-of-order headings and empty sections; the first headings in order and the last ones
    missing means the answer stopped early: "truncated", not "headings"."""
    n = len(scan.found)
    stopped_early = (
        scan.found
        and scan.missing
        and not scan.out_of_order
        and [r for r, _ in scan.found] == required[:n]
        and scan.missing == required[n:]
    )
    if stopped_early:
        missing = ", ".join(f"'{m}'" for m in scan.missing)
        f.add("truncated", f"stops after '{scan.found[-1][0]}': missing {missing}")
    else:
        for m in scan.missing:
            f.add("headings", f"missing heading '{m}'")
    for m in scan.out_of_order:
        f.add("headings", f"heading '{m}' out of order")
    for p in _empty_sections(scan):
        f.add("empty_section", p)


# ================================================================================================ truncation
_TERMINAL = set("。！？.!?…」』\"”’）)]】》>$`}|~")
_URL_END = re.compile(r"(?:https?://|www\.)\S+$")


def _last_paragraph(text: str) -> str:
    blocks = _blocks(text)
    return blocks[-1] if blocks else ""


def _unbalanced(s: str) -> str | None:
    """An opening bracket/quote/math/emphasis in `s` that is never closed, or None."""
    s = re.sub(r"`[^`\n]*`", "", s)
    if s.count("**") % 2:
        return "**"
    if len(re.findall(r"\\\(", s)) > len(re.findall(r"\\\)", s)):
        return "\\("
    if len(re.findall(r"\\\[", s)) > len(re.findall(r"\\\]", s)):
        return "\\["
    if len(re.findall(r"(?<!\\)\$\$", s)) % 2:
        return "$$"
    if len(re.findall(r"(?<![\\$])\$(?!\$)", s)) % 2:
        return "$"
    for o, c in (("（", "）"), ("(", ")"), ("【", "】"), ("《", "》"), ("「", "」"), ("“", "”"), ("[", "]"), ("{", "}")):
        if s.count(o) > s.count(c):
            return o
    return None


def _ending_problem(text: str, finish_reason: str | None = None, *, prose_end: bool = True) -> str | None:
    """Why `text` looks cut off, or None. `prose_end=False` (titles) skips the terminal-punctuation rule."""
    if finish_reason == "length":
        return "stopped at the token limit (finish_reason=length)"
    stripped = text.rstrip()
    if not stripped:
        return None
    fence_lines = [ln for ln in stripped.split("\n") if _FENCE.match(ln)]
    if len(fence_lines) % 2:
        return "unclosed code block at the end"
    lines = [ln for ln in stripped.split("\n") if ln.strip()]
    last = lines[-1].strip()
    if _FENCE.match(last) or _TABLE_ROW.match(last):
        return None
    if _ATX.match(last) or re.fullmatch(r"(\*\*|__)[^*_]*[^*_。！？.!?](\*\*|__)\s*[:：]?", last):
        return f"ends with a heading and no content: '{_snip(last)}'"
    if re.fullmatch(r"(?:[-*+•]|\d+[.)、．]|[（(]\d+[)）])", last):
        return f"ends with an empty list item: '{last}'"
    para = _last_paragraph(stripped)
    open_ = _unbalanced(para.split("\n")[-1]) or (_unbalanced(para) if len(para) < 2000 else None)
    if open_:
        return f"ends inside an unclosed '{open_}': '{_snip(_LIST_ITEM.sub('', last), 30, tail=True)}'"
    if not prose_end:
        return None
    core = last.rstrip("*_ ")
    if not core:
        return None
    if _URL_END.search(core) or core[-1] in _TERMINAL:
        return None
    if finish_reason == "stop" and _LIST_ITEM.match(last) and re.match(r"[A-Za-z0-9]", core[-1]):
        return None  # the model ended on its own; English bullet lists often go without a period
    return f"ends mid-sentence: '{_snip(_LIST_ITEM.sub('', core), 30, tail=True)}'"


def _repetition(text: str, *, min_chars: int = 12, times: int = 3) -> str | None:
    """A line of prose said `times` times or more (small models loop), or None. Headings, table rows, rules,
    code and bold-only labels ("**局限性**：") are left out: they repeat by design."""
    counts: dict[str, int] = {}
    in_fence = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        s = line.strip()
        if in_fence or _ATX.match(s) or _TABLE_ROW.match(s) or _RULE.match(s):
            continue
        s = _LIST_ITEM.sub("", s)
        if re.fullmatch(r"(\*\*|__)[^*_]+(\*\*|__)\s*[:：]?", s):
            continue
        if len(re.sub(r"[\W_]+", "", s)) < min_chars:
            continue
        counts[s] = counts.get(s, 0) + 1
    worst = max(counts.items(), key=lambda kv: kv[1], default=("", 0))
    return f"repeats '{_snip(worst[0], 40)}' {worst[1]} times" if worst[1] >= times else None


def _repeated_sentence(text: str, *, times: int = 3, min_chars: int = 8) -> str | None:
    """The same sentence (at least `min_chars` characters) `times` times or more, wherever it is."""
    sentences = [x.strip(" *_-") for x in re.split(r"(?<=[。！？.!?])\s*|\n+", text)]
    sentences = [x for x in sentences if len(x) >= min_chars]
    counts: dict[str, int] = {}
    for x in sentences:
        counts[x] = counts.get(x, 0) + 1
    worst = max(counts.items(), key=lambda kv: kv[1], default=("", 0))
    return f"repeats '{_snip(worst[0], 40)}' {worst[1]} times" if worst[1] >= times else None


# ================================================================================================ analysis
_MIN_CHARS = {"zh": 150, "en": 300}


def _title_norm(s: str) -> str:
    s = s.lower().replace("’", "'")
    s = re.sub(r"\$[^$]*\$", " ", s)
    s = re.sub(r"[^\w]+", " ", s)
    return re.sub(r"\s+", " ", s).strip()


def titles_match(candidate: str, title: str) -> bool:
    """Does `candidate` (a bold/quoted mention, a short name like "CamPilot") name the paper `title`?"""
    c, t = _title_norm(candidate), _title_norm(title)
    if not c or not t:
        return False
    if c == t:
        return True
    short = _title_norm(re.split(r"[:：]", title, maxsplit=1)[0])
    if short and (c == short or (len(short) >= 4 and c.startswith(short + " ") and len(c) <= len(short) + 12)):
        return True  # "CamPilot" / "CamPilot 方法"
    if len(c) >= 12 and t.startswith(c):
        return True  # a title cut short
    if difflib.SequenceMatcher(None, c, t).ratio() >= 0.85:
        return True
    ct, tt = set(c.split()), set(t.split())
    return len(ct) >= 3 and len(ct & tt) / len(ct) >= 0.85 and len(ct & tt) / len(tt) >= 0.5


_TITLE_HEADING = re.compile(
    r"^\s*#{1,6}\s*(?:\*\*)?[^:：\n]{0,20}?(?:分析|总结|报告|Analysis|Summary)[^:：\n]{0,10}[:：]\s*(.+?)(?:\*\*)?\s*$",
    re.IGNORECASE,
)


def _named_titles(text: str) -> list[str]:
    """Paper titles the analysis says it is about: 《…》 and "分析：<title>" in its first lines."""
    head = "\n".join(text.split("\n")[:8])
    names = re.findall(r"《([^》\n]{6,200})》", head)
    for line in head.split("\n"):
        m = _TITLE_HEADING.match(line)
        if m:
            names.append(m.group(1).strip("《》*\" "))
    return [n for n in names if len(_LATIN_WORD.findall(n)) >= 2]


def check_analysis(
    text: str,
    *,
    fmt: str,
    language: Language,
    source_title: str | None = None,
    finish_reason: str | None = None,
) -> Verdict:
    """Validate one LLM-written paper analysis of format `fmt` ("report": 7 parts, "monitor": 5 parts)."""
    required = formats.ANALYSIS_HEADINGS[fmt][language]
    raw = (text or "").strip()
    cleaned, fixes = _strip(raw)
    f = _Findings()
    f.fixes = fixes
    scan = _scan_headings(cleaned, required)
    refusal = _refusal(raw)
    if not raw:
        f.add("refusal", "empty answer")
        return f.verdict("")
    if refusal and len(scan.found) < len(required) / 2:
        f.add("refusal", refusal)
        return f.verdict(cleaned)
    if len(cleaned) < _MIN_CHARS[language]:
        f.add("refusal", f"too short to be an analysis ({len(cleaned)} characters after removing chatter)")
        return f.verdict(cleaned)

    if not scan.found:
        f.add("headings", f"none of the {len(required)} required headings ('{required[0]}' … '{required[-1]}')")
    else:
        _add_heading_problems(f, scan, required)

    end = _ending_problem(cleaned, finish_reason)
    if end:
        f.add("truncated", end)
    loop = _repetition(cleaned) or _repeated_sentence(cleaned, min_chars=20)
    if loop:
        f.add("repetition", loop)
    lang = _language_problem(cleaned, language, what="analysis")
    if lang:
        f.add("language", lang)
    elif scan.found:
        for idx, (req, h) in enumerate(scan.found):
            stop = scan.found[idx + 1][1].line if idx + 1 < len(scan.found) else len(scan.lines)
            body = "\n".join(scan.lines[h.line + 1 : stop])
            p = _language_problem(body, language, what=f"section '{req}'", lenient=True)
            if p:
                f.add("language", p)
    if source_title:
        for name in _named_titles(cleaned):
            if not titles_match(name, source_title):
                f.add("wrong_paper", f"analysis names another paper: '{_snip(name, 60)}'")
                break
    return f.verdict(cleaned)


# ================================================================================================ summary
_MONTHS = {m: i for i, ms in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
     ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
     ("dec", "december")], 1) for m in ms}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_PATTERNS = [
    re.compile(r"(?<![\d.])(?P<y>(?:19|20)\d\d)[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?![\d])"),
    re.compile(r"(?P<y>(?:19|20)\d\d)\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]"),
    re.compile(r"(?<![年\d])(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]"),
    re.compile(rf"\b(?P<mon>{_MONTH_RE})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y>(?:19|20)\d\d))?\b", re.I),
    re.compile(rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<mon>{_MONTH_RE})\.?(?:,?\s+(?P<y>(?:19|20)\d\d))?\b", re.I),
]


def find_dates(text: str) -> list[tuple[str, int | None, int, int]]:
    """(as written, year or None, month, day) of every date in `text`, in order."""
    hits: list[tuple[int, str, int | None, int, int]] = []
    taken: list[tuple[int, int]] = []
    for pat in _DATE_PATTERNS:
        for m in pat.finditer(text):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            gd = m.groupdict()
            month = _MONTHS[gd["mon"].lower()] if gd.get("mon") else int(gd["m"])
            day, year = int(gd["d"]), int(gd["y"]) if gd.get("y") else None
            if not (1 <= month <= 12 and 1 <= day <= 31):
                continue
            if gd.get("mon") and gd["mon"].lower() == "may" and not gd.get("y"):
                continue  # "may 3" is usually the verb
            taken.append((m.start(), m.end()))
            hits.append((m.start(), m.group(0), year, month, day))
    return [h[1:] for h in sorted(hits)]


_PAPER_REF = re.compile(
    r"(?:论文|文献|Papers?|paper|第)\s*[#＃]?\s*"
    r"(?P<nums>\d{1,3}(?:\s*(?:[,，、/&]|and|和|及|与|以及|-|–|~|至|到)\s*\d{1,3})*)(?![A-Za-z0-9])\s*(?:篇)?",
)
_BOLD = re.compile(r"\*\*([^*\n]{2,300}?)\*\*")
_QUOTED = re.compile(r"《([^》\n]{4,300})》|“([^”\n]{8,300})”|\"([^\"\n]{8,300})\"")
_NUMBERED_BOLD = re.compile(r"^(?:论文|Paper)\s*#?\s*(\d{1,3})\s*[:：.．、-]\s*(.+)$", re.I)
_FOLLOWING_REF = re.compile(r"^\s*[（(]\s*(?:论文|Paper)\s*#?\s*(\d{1,3})\s*[)）]", re.I)


def _expand(nums: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*(?:[,，、/&]|and|和|及|与|以及)\s*", nums):
        m = re.fullmatch(r"(\d+)\s*(?:-|–|~|至|到)\s*(\d+)", part.strip())
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            out.extend(range(a, b + 1) if 0 < b - a < 50 else (a, b))
        elif part.strip().isdigit():
            out.append(int(part.strip()))
    return out


def _title_like(s: str) -> bool:
    """'PyraTok: Language-Aligned Pyramidal Tokenizer …' - a name, a colon and Latin words."""
    m = re.match(r"^\s*([^:：]{2,60})[:：]\s*(.+)$", s)
    return bool(m and _LATIN_WORD.search(m.group(1)) and len(_LATIN_WORD.findall(m.group(2))) >= 2)


def _paper_mentions(text: str, titles: list[str]) -> list[str]:
    problems: list[str] = []
    n = len(titles)
    for m in _PAPER_REF.finditer(text):
        if m.group(0).startswith("第") and not re.match(r"第\s*\d+\s*篇", m.group(0)):
            continue  # "第2阶段" is no paper
        for k in _expand(m.group("nums")):
            if not 1 <= k <= n:
                problems.append(f"mentions paper {k}, the digest has {n}")
    spans = [(mm.start(), mm.end(), mm.group(1)) for mm in _BOLD.finditer(text)]
    spans += [(mm.start(), mm.end(), next(g for g in mm.groups() if g)) for mm in _QUOTED.finditer(text)]
    for start, end, inner in spans:
        inner = inner.strip().rstrip("：:").strip()
        numbered = _NUMBERED_BOLD.match(inner)
        k = None
        if numbered:
            k, inner = int(numbered.group(1)), numbered.group(2).strip()
        else:
            after = _FOLLOWING_REF.match(text[end : end + 20])
            if after:
                k = int(after.group(1))
        if k is not None:
            if 1 <= k <= n and not titles_match(inner, titles[k - 1]) and _LATIN_WORD.search(inner):
                if any(titles_match(inner, t) for t in titles):
                    actual = _snip(titles[k - 1], 50)
                    problems.append(f"calls '{_snip(inner, 50)}' paper {k}, but paper {k} is '{actual}'")
                else:
                    problems.append(f"mentions a paper not in the digest: '{_snip(inner, 60)}' (as paper {k})")
            continue
        if (_title_like(inner) or text[start] == "《") and not any(titles_match(inner, t) for t in titles):
            problems.append(f"mentions a paper not in the digest: '{_snip(inner, 60)}'")
    seen: set[str] = set()
    return [p for p in problems if not (p in seen or seen.add(p))]


def check_summary(
    text: str,
    *,
    date: str,
    language: Language,
    paper_titles: list[str],
    finish_reason: str | None = None,
) -> Verdict:
    """Validate the executive summary of a digest of `date` (YYYY-MM-DD) whose papers are `paper_titles`."""
    raw = (text or "").strip()
    cleaned, fixes = _strip(raw)
    f = _Findings()
    f.fixes = fixes
    required = formats.SUMMARY_HEADINGS[language]
    scan = _scan_headings(cleaned, required)
    if not raw:
        f.add("refusal", "empty answer")
        return f.verdict("")
    refusal = _refusal(raw)
    if refusal and len(scan.found) < len(required) / 2:
        f.add("refusal", refusal)
        return f.verdict(cleaned)
    if len(cleaned) < _MIN_CHARS[language]:
        f.add("refusal", f"too short to be a summary ({len(cleaned)} characters after removing chatter)")
        return f.verdict(cleaned)

    digest_day = Date.fromisoformat(date[:10])
    for written, y, m, d in find_dates(cleaned):
        if (m, d) != (digest_day.month, digest_day.day) or (y is not None and y != digest_day.year):
            f.add("date", f"dated '{written}', but the digest is of {digest_day.isoformat()}")

    _add_heading_problems(f, scan, required)
    for p in _paper_mentions(cleaned, paper_titles):
        f.add("papers", p)
    end = _ending_problem(cleaned, finish_reason)
    if end:
        f.add("truncated", end)
    loop = _repetition(cleaned) or _repeated_sentence(cleaned, min_chars=20)
    if loop:
        f.add("repetition", loop)
    lang = _language_problem(cleaned, language, what="summary")
    if lang:
        f.add("language", lang)
    return f.verdict(cleaned)


# ================================================================================================ translation
_LABEL = re.compile(
    r"^\s*(?:#{1,6}\s*)?(?:\*\*)?\s*(?:中文|英文|Chinese|English)?\s*(?:摘要|标题|题目|翻译|译文|中文翻译|英文翻译|Abstract|Title|"
    r"Translation|Translated (?:title|abstract))\s*(?:翻译|译文|translation)?\s*(?:\*\*)?\s*[:：]\s*(?:\*\*)?\s*",
    re.IGNORECASE,
)
_LABEL_LINE = re.compile(
    r"^\s*(?:#{1,6}\s*)?(?:\*\*)?\s*(?:(?:中文|英文)?(?:摘要|标题|题目)?(?:翻译|译文)|摘要|标题|题目|Abstract|Title|Translation|"
    r"Translated (?:title|abstract)|(?:Chinese|English) translation)\s*(?:\*\*)?\s*[:：]?\s*(?:\*\*)?\s*$",
    re.IGNORECASE,
)
_MID_LABEL = re.compile(r"\n\s*(?:\*\*)?\s*(?:摘要|标题|题目|Abstract|Title)\s*(?:\*\*)?\s*[:：]", re.IGNORECASE)


def _guess_part(text: str) -> Literal["abstract", "title"]:
    t = text.strip()
    if "\n" in t or len(t) > 250 or re.search(r"[。！？!?]\s*\S|\.\s+[A-Z]", t):
        return "abstract"
    return "title"


def check_translation(
    text: str,
    *,
    language: Language,
    part: Literal["abstract", "title"] | None = None,
    source: str | None = None,
    finish_reason: str | None = None,
) -> Verdict:
    """Validate a translated title or abstract (into `language`); `text` of the verdict is ready to print.

    `part=None` guesses: a title is one line of at most 250 characters with no sentence end inside (with
    `source`, the source decides). Titles need no final punctuation; abstracts must end a sentence.
    """
    raw = (text or "").strip()
    f = _Findings()
    if not raw:
        f.add("refusal", "empty translation")
        return f.verdict("")
    refusal = _refusal(raw, zone_chars=80)
    if refusal and len(raw) < 400:
        f.add("refusal", refusal.replace("the paper", "the text"))
        return f.verdict(_strip(raw, notes=True)[0])
    cleaned, fixes = _strip(raw, notes=True)
    f.fixes = fixes
    # a heading line that only says "摘要" / "Translation", then the text
    first, _, rest = cleaned.partition("\n")
    if _LABEL_LINE.match(first) and rest.strip():
        f.fixes.append(f"removed label line '{first.strip()}'")
        cleaned = rest.strip()
    m = _LABEL.match(cleaned)
    if m and cleaned[m.end() :].strip():
        f.fixes.append(f"removed label '{m.group(0).strip()}'")
        cleaned = cleaned[m.end() :].strip()
    if part is None:
        part = _guess_part(source if source else cleaned)
    if part == "title":
        cleaned = re.sub(r"^(\*\*|《)(.+?)(\*\*|》)$", r"\2", cleaned.strip())
    if not cleaned:
        f.add("refusal", "nothing left after removing chatter")
        return f.verdict("")
    for line in cleaned.split("\n"):
        if _ATX.match(line):
            f.add("format", f"contains a markdown heading: '{_snip(line.strip())}'")
            break
    mid = _MID_LABEL.search(cleaned)
    if mid:
        f.add("format", f"contains another label '{mid.group(0).strip()}' (title and abstract mixed?)")
    if part == "title" and "\n" in cleaned.strip():
        f.add("format", "a title on more than one line")
    end = _ending_problem(cleaned, finish_reason, prose_end=(part == "abstract"))
    if end:
        f.add("truncated", end)
    loop = _repetition(cleaned, times=2) or _repeated_sentence(cleaned)
    if loop:
        f.add("repetition", loop)
    lang = _language_problem(cleaned, language, what=f"translated {part}", lenient=(part == "title"))
    if lang:
        f.add("language", lang)
    if source and part == "abstract":
        src_words = len(_LATIN_WORD.findall(source)) + len(_CJK.findall(source)) / 1.7
        cjk, words = _language_share(cleaned)
        got = cjk / 1.7 + words
        if src_words >= 40 and got < 0.4 * src_words:
            f.add("truncated", f"much shorter than the source ({got:.0f} vs {src_words:.0f} words): incomplete")
    return f.verdict(cleaned)


# ================================================================================================ abstracts, links
_HTML_TAG = re.compile(r"</?(?:p|br|div|span|a|em|strong|i|b|sup|sub)\b[^>]*>", re.IGNORECASE)


def check_abstract_clean(text: str) -> Verdict:
    """An abstract about to be published: flags the RSS prefix ("arXiv:… Announce Type: … Abstract:") and HTML
    tags; `text` is the repaired abstract (`ingest.text_clean.clean_abstract`). Not retryable: fix the input."""
    raw = text or ""
    f = _Findings()
    arxiv_id, ann_type, _ = split_rss_description(raw)
    if arxiv_id:
        f.add("abstract", f"starts with the RSS prefix 'arXiv:{arxiv_id} Announce Type: {ann_type} Abstract:'")
    elif re.search(r"Announce\s+Type\s*:", raw, re.IGNORECASE):
        f.add("abstract", "contains an RSS 'Announce Type:' label")
    elif re.match(r"^\s*(?:\*\*)?Abstract\s*[:：.]", raw, re.IGNORECASE):
        f.add("abstract", "starts with an 'Abstract:' label")
    if _HTML_TAG.search(raw):
        f.add("abstract", "contains HTML tags")
    if not raw.strip():
        f.add("abstract", "empty abstract")
    cleaned = clean_abstract(raw)
    cleaned = re.sub(r"^\s*(?:\*\*)?Abstract\s*[:：.]\s*(?:\*\*)?\s*", "", cleaned, flags=re.IGNORECASE)
    cleaned = re.sub(r"\s+", " ", _HTML_TAG.sub(" ", cleaned)).strip()
    return f.verdict(cleaned)


def clean_code_link(url: str) -> str:
    """A code link without trailing punctuation: "https://anonymous.4open.science/r/ActionFlow-1D47." -> "…-1D47".

    The same rules as `ingest.text_clean.extract_code_links` (balanced brackets kept); "" for no URL.
    """
    url = (url or "").strip().strip("<>")
    found = extract_code_links(url)
    if found:
        return found[0]
    m = re.search(r"(?:https?://|www\.)\S+", url, re.IGNORECASE)
    if not m:
        return ""
    out = _trim_url(m.group(0))
    return out if re.match(r"https?://", out, re.IGNORECASE) else "https://" + out


def clean_code_links(urls: list[str]) -> list[str]:
    """`clean_code_link` over a list, empties dropped, duplicates (after cleaning) removed, order kept."""
    out: list[str] = []
    for u in urls:
        c = clean_code_link(u)
        if c and c.rstrip("/").lower() not in {o.rstrip("/").lower() for o in out}:
            out.append(c)
    return out
