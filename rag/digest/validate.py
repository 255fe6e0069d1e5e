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
* `check_span(text, language=, quotes=, also=, instructions=, finish_reason=)` - one short span the model
  wrote from one card field: 1 to 3 sentences, plain text (no heading, list or label), the configured language,
  not truncated, not a refusal, no repetition (a sentence twice, or a phrase looping), no echo of the prompt's
  instructions, and every number and acronym-like name in the field's quotes (`rag.quotes.unbacked`, with
  numbers and names glued to Chinese characters spaced out first). Citation marks the model typed ("[1]",
  "(p. 3)") are removed: code cites pages.
* `check_title(text, language=, source=)` - a translated title: `check_translation` + its numbers and names
  are the original title's.
* `check_translation(text, language=, part=)` - a translated title or abstract: no chatter, no leftover
  "摘要："/"Abstract:" label (removed, recorded in `fixes`), no markdown heading, target language, not empty,
  not truncated (with `source`: not much shorter than it), no repeated sentence.
* `check_abstract_clean(text)` - an abstract about to be published still carries the RSS
  "arXiv:… Announce Type: … Abstract:" prefix (or HTML tags); `text` is the repaired abstract.
* `clean_code_link(url)` / `clean_code_links(urls)` - trailing punctuation off a code link
  ("https://anonymous.4open.science/r/ActionFlow-1D47." -> "…-1D47"), using `ingest.text_clean`'s rules.

Kinds, worst first: "refusal" (a non-answer or empty/tiny text), "echo", "truncated", "repetition", "language",
"unbacked", "format", "abstract"; "ok" when nothing is wrong. Every kind is retryable except "abstract" (the input must be repaired: `text` already is). Chatter is
no problem: it is removed and listed in `fixes`, and the cleaned `text` is what gets published.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ingest.text_clean import clean_abstract, extract_code_links, split_rss_description
from ingest.text_clean import (
    trim_url as _trim_url,  # the one rule set for trailing punctuation on URLs
)
from rag.quotes import Quote, unbacked

Language = Literal["zh", "en"]

KIND_ORDER = (
    "refusal",
    "echo",
    "truncated",
    "repetition",
    "language",
    "unbacked",
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


# ================================================================================================ spans
_CITE_MARK = re.compile(
    r"\s*(?:\[(?:\d+(?:\s*[,，、–-]\s*\d+)*|p(?:p|age|ages)?\.?\s*\d+(?:\s*[,，、–-]\s*(?:p\.?\s*)?\d+)*)\]"
    r"|【\d+(?:\s*[,，、]\s*\d+)*】|[（(]\s*(?:p(?:p|age|ages)?\.?|第)\s*\d+\s*页?\s*[)）])",
    re.IGNORECASE,
)
_FIELD_WORDS = (r"Problem(?:\s*/\s*task)?|Motivation|Core idea|Method steps|Data|Experimental setup|Setup|Baselines|"
                r"Ablations|Limitations(?:\s*\(authors\))?|Compute(?:\s*/\s*hardware)?|Code(?:\s*/\s*data"
                r"(?:\s*availability)?)?|问题(?:/任务)?|动机|核心思想|方法步骤|数据|实验设置|对比基线|消融实验|"
                r"局限性(?:（作者所述）)?|计算资源|代码(?:/数据)?")
# a label in front of the answer: removed (code prints the field's label), not a problem
_SPAN_LABEL = re.compile(
    r"^\s*(?:\*\*)?\s*(?:(?:Fact|事实)\s*[（(][^)）\n]{1,40}[)）]|" + _FIELD_WORDS +
    r"|答案|回答|译文|翻译|中文|输出|改写|Answer|Output|Reply|Translation|Chinese|English)\s*(?:\*\*)?\s*[:：]\s*",
    re.IGNORECASE,
)
# the prompt's own scaffolding, copied back instead of an answer (rag/prompts/digest_span.toml)
_SCAFFOLD = re.compile(r"^\s*(?:\*\*)?(?:Paper:|Sentences from the paper|For instance, for the fact|Rules:|"
                       r"Write the 1|请用简体中文写)", re.IGNORECASE | re.MULTILINE)
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)、．])\s+")
_CJK_GLUE = re.compile(r"(?<=[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])(?=[A-Za-z0-9+\-−])"
                       r"|(?<=[A-Za-z0-9%])(?=[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])")
SPAN_MAX_CHARS = {"zh": 240, "en": 480}
SPAN_MAX_SENTENCES = 3


def spaced(text: str) -> str:
    """`text` with a space wherever a Chinese character touches a Latin letter or digit ("准确率为87.3%" ->
    "准确率为 87.3%"), so that `rag.quotes.numbers`/`names` see numbers and names inside Chinese prose."""
    return _CJK_GLUE.sub(" ", text or "")


def span_sentences(text: str) -> list[str]:
    """The sentences of a short span (Chinese or English)."""
    parts = re.split(r"(?<=[。！？!?；;])\s*|(?<=\.)\s+(?=[A-Z\u3400-\u9fff“\"(（])", (text or "").strip())
    return [p.strip() for p in parts if len(re.sub(r"[\W_]+", "", p)) >= 2]


def _looping(text: str, *, times: int = 3) -> str | None:
    """A phrase said `times` times in a row ("的方法的方法的方法", "and the and the and the")."""
    m = re.search(r"(\S.{2,40}?)(?:\s*\1){" + str(times - 1) + ",}", text)
    return f"repeats '{_snip(m.group(1), 30)}' {len(m.group(0)) // max(1, len(m.group(1)))} times" if m else None


def _echo(text: str, instructions: str) -> str | None:
    """The prompt's instructions or scaffolding copied into the answer."""
    m = _SCAFFOLD.search(text)
    if m:
        return f"copies the prompt: '{_snip(text[m.start():], 40)}'"
    norm = " ".join(text.split()).lower()
    for line in (instructions or "").split("\n"):
        line = " ".join(line.strip(" -").split()).lower()
        if len(line) >= 24 and line[:60] in norm:
            return f"copies the prompt's instruction '{_snip(line, 40)}'"
    return None


def check_span(
    text: str,
    *,
    language: Language,
    quotes: Sequence[Quote],
    also: str = "",
    instructions: str = "",
    finish_reason: str | None = None,
) -> Verdict:
    """Validate one short span written from one card field (see the module docstring); `text` of the verdict
    is the span to publish: one paragraph, chatter, labels and typed citation marks removed."""
    raw = (text or "").strip()
    f = _Findings()
    if not raw:
        f.add("refusal", "empty answer")
        return f.verdict("")
    refusal = _refusal(raw, zone_chars=120)
    if refusal:
        f.add("refusal", refusal)
        return f.verdict(raw)
    cleaned, fixes = _strip(raw, notes=True)
    f.fixes = fixes
    m = _SPAN_LABEL.match(cleaned)
    if m and cleaned[m.end():].strip():
        f.fixes.append(f"removed label '{m.group(0).strip()}'")
        cleaned = cleaned[m.end():]
    if _CITE_MARK.search(cleaned):
        f.fixes.append("removed citation marks (code cites the pages)")
        cleaned = _CITE_MARK.sub("", cleaned)
    echo = _echo(cleaned, instructions)
    if echo:
        f.add("echo", echo)
    lines = [ln.strip() for ln in cleaned.split("\n") if ln.strip()]
    if any(_ATX.match(ln) for ln in lines):
        f.add("format", "contains a heading: a span is plain sentences")
        lines = [ln for ln in lines if not _ATX.match(ln)]
    if len(lines) > 1 and sum(bool(_BULLET.match(ln)) for ln in lines) > 1:
        f.add("format", "a list instead of 1 to 3 sentences")
    cleaned = " ".join(_BULLET.sub("", ln) if len(lines) == 1 else ln for ln in lines)
    if language == "zh":
        cleaned = re.sub(r"(?<=[\u3400-\u9fff，。；：！？）])\s+(?=[\u3400-\u9fff（])", "", cleaned)
    cleaned = re.sub(r"\s+([，。；：！？,.;:!?])", r"\1", cleaned).strip()
    if not cleaned:
        f.add("refusal", "nothing left after removing chatter")
        return f.verdict("")
    end = _ending_problem(cleaned, finish_reason)
    if end:
        f.add("truncated", end)
    loop = _repeated_sentence(cleaned, times=2) or _looping(cleaned)
    if loop:
        f.add("repetition", loop)
    lang = _language_problem(cleaned, language, what="span")
    if lang:
        f.add("language", lang)
    missing = unbacked(spaced(cleaned), list(quotes), also=spaced(also))
    if missing:
        f.add("unbacked", "not in the paper's sentences: " + ", ".join(missing[:6]) + _where(cleaned, missing[0]))
    n = len(span_sentences(cleaned))
    if n > SPAN_MAX_SENTENCES or len(cleaned) > SPAN_MAX_CHARS[language]:
        f.add("format", f"too long ({n} sentences, {len(cleaned)} characters): at most {SPAN_MAX_SENTENCES} "
                        f"short sentences")
    return f.verdict(cleaned)


_CLAUSE = re.compile(r"[^，。；：！？,;:!?]+")


def _where(text: str, item: str) -> str:
    """Where a span says what its quotes do not, e.g. ' (in "在 2020 年 5 月 31 日之前发布")': shown to the model on
    the retry, the clause is what it must change (told only "31", a 1.5B model wrote the same span again)."""
    squeezed = item.replace(" ", "").lower()
    for m in _CLAUSE.finditer(text):
        clause = m.group(0).strip()
        if squeezed and squeezed in clause.replace(" ", "").lower():
            return f' (in "{clause[:80]}")' if clause.replace(" ", "").lower() != squeezed else ""
    return ""


def check_title(text: str, *, language: Language, source: str, finish_reason: str | None = None) -> Verdict:
    """A translated title: `check_translation` (part "title"), and no number or name the original lacks."""
    v = check_translation(text, language=language, part="title", finish_reason=finish_reason)
    missing = unbacked(spaced(v.text), [], also=spaced(source)) if v.text else []
    if not missing:
        return v
    kinds = tuple(sorted({*v.kinds, "unbacked"}, key=KIND_ORDER.index))
    problems = [*v.problems, "not in the original title: " + ", ".join(missing[:6])]
    return Verdict(False, v.text, problems, True, kinds[0], kinds, list(v.fixes))


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
