"""Grounding a model's short answer in numbered candidate sentences: split it into sentences as it streams, read
the numbers each sentence points at, and keep a sentence only when its quotes back it.

A sentence is *backed* when it points at (or code attributes it to) quotes that contain its numbers and its
acronym-like names (`rag.quotes.unbacked`), and, for English, share at least one content word with it. A wrong
pointer whose claim sits in another candidate is corrected by code (`attribute`): the model is good at the words
and poor at bookkeeping, so the bookkeeping is done here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.quotes import Candidate, Quote, name_head, names, numbers, unbacked

TERMINALS = ".!?。！？"
_CJK_TERMINALS = "。！？"
# [3] [3, 5] [3-5] [Sentence 3] [S3] [#3] [3][5]; "【3】" from Chinese answers
_CITE = re.compile(r"[\[【]\s*(?:(?:sentences?|sent\.?|s|passages?|#|no\.?)\s*)?\d+(?:\s*(?:[,，;、]|and|-|–)\s*"
                   r"(?:(?:s|#)\s*)?\d+)*\s*[\]】]", re.I)
_NUM_IN = re.compile(r"\d+(?:\s*[-–]\s*\d+)?")
_ABBREV_END = re.compile(r"(?:\b(?:e\.g|i\.e|et al|etc|vs|cf|Fig|Eq|Sec|Tab|approx)|\b[A-Z])\.$")
_REFUSAL = re.compile(
    r"(do(?:es)?n[o’']?t|do(?:es)? not|did not|never)\s+(?:explicitly\s+)?(?:mention|specify|state|say|provide|"
    r"report|give|include|discuss|describe)|not (?:explicitly )?(?:mentioned|specified|stated|provided|reported|"
    r"given|available|described)|no information|cannot be determined|not in the (?:provided )?(?:papers|sentences)|"
    r"NOT_IN_PAPERS|没有(?:提到|提及|说明|给出|报告|涉及)|未(?:提到|提及|说明|给出|报告|涉及)|无法(?:确定|得知)",
    re.I)
_WORD = re.compile(r"[A-Za-z][A-Za-z\-]{2,}")
_STOP = frozenset("""the and for with from that this these those are was were been being which who whom what when
where how than then there also such can may not into over under between both each per via using used use paper
papers model models method approach proposed propose based results show shows new more most other some only all any
one two three their they its our has have had does did into about sentence sentences""".split())


def _cjk(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in text)


def pop_sentences(buf: str, *, final: bool = False) -> tuple[list[str], str]:
    """The complete sentences at the front of `buf` (each with the citations that follow it) and the rest.

    A sentence is complete at a terminal mark (not a decimal point, not "e.g.") once the text after the mark and
    its citation brackets has started the next sentence, or at a line break followed by more text; `final`
    closes whatever is left."""
    out: list[str] = []
    start = 0
    i = 0
    n = len(buf)
    while i < n:
        ch = buf[i]
        end = None
        if ch in TERMINALS:
            if ch == "." and (i + 1 < n and buf[i + 1].isdigit() or _ABBREV_END.search(buf[start:i + 1])):
                i += 1
                continue
            j = i + 1
            while j < n and buf[j] in "\"'”’)）":
                j += 1
            while True:  # citations after the mark belong to this sentence
                m = re.compile(r"\s*").match(buf, j)
                k = m.end()
                c = _CITE.match(buf, k)
                if not c:
                    break
                j = c.end()
            k = re.compile(r"\s*").match(buf, j).end()
            if k < n and buf[k] not in "[【":
                if ch in _CJK_TERMINALS or k > j:  # CJK needs no space; Latin needs one
                    end = j
            elif k >= n and final:
                end = j
        elif ch == "\n":
            rest = buf[i + 1:]
            if rest.strip() or final:
                end = i
        if end is not None:
            piece = buf[start:end].strip()
            if piece:
                out.append(piece)
            start = end
            i = max(end, i + 1)
            continue
        i += 1
    rest = buf[start:]
    if final and rest.strip():
        out.append(rest.strip())
        rest = ""
    return out, rest


def parse_cites(sentence: str) -> tuple[str, list[int]]:
    """(the sentence without its citation brackets, the numbers they point at, in order, each once)."""
    nums: list[int] = []
    for m in _CITE.finditer(sentence):
        for part in _NUM_IN.findall(m.group(0)):
            if "-" in part or "–" in part:
                a, b = (int(x) for x in re.split(r"\s*[-–]\s*", part))
                rng = range(a, b + 1) if 0 < b - a < 10 else (a, b)
            else:
                rng = (int(part),)
            for x in rng:
                if x not in nums:
                    nums.append(x)
    text = _CITE.sub("", sentence)
    text = re.sub(r"\s+([.,;:!?。，；：！？])", r"\1", text)
    text = re.sub(r"^\s*[-*•]\s+", "", text)  # a list bullet
    return " ".join(text.split()), nums


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.search(text))


_ASKING = frozenset("""what which who whom whose when where why how does do did is are was were can could should
would will the a an in on of for and or with by from to at as paper papers model models method approach table
figure section according""".split())


def premise_terms(query: str) -> list[str]:
    """The proper names a question rests on: acronym-like names and capitalised words after its first word
    ("… on CIFAR-10 in the Batch Normalization paper" → CIFAR-10, Batch, Normalization)."""
    words = re.findall(r"[A-Za-z][A-Za-z0-9\-]*[A-Za-z0-9]", query or "")
    out = []
    for i, w in enumerate(words):
        if w.lower() in _ASKING or len(w) < 3:
            continue
        if names(w) or (i > 0 and w[0].isupper()):
            out.append(w)
    return list(dict.fromkeys(out))


_JOINER = r"(?:\s*[-–]\s*|\s+)(?:to(?:\s*[-–]\s*|\s+))?"  # "English-French" is also "English-to-French"


def mentions(text: str, term: str) -> bool:
    """`text` mentions premise term `term` (any case); a hyphenated term also when its parts are joined otherwise
    ("English-French" by "English-to-French" or "English–French"), and one with a generic suffix when its head
    is ("FlashAttention-based" by "FlashAttention")."""
    hay, term = text.lower(), term.lower()
    if term in hay:
        return True
    if name_head(term) != term:
        return mentions(hay, name_head(term))
    parts = term.split("-")
    return len(parts) > 1 and all(parts) and re.search(_JOINER.join(map(re.escape, parts)), hay) is not None


def missing_premise(query: str, texts: Sequence[str]) -> list[str]:
    """Premise terms of `query` that none of `texts` (the retrieved passages with their title lines) `mentions`."""
    hay = " ".join(texts)
    return [t for t in premise_terms(query) if not mentions(hay, t)]


def content_words(text: str) -> set[str]:
    return {w.lower().rstrip("s") for w in _WORD.findall(text) if w.lower() not in _STOP}


def _overlap(text: str, quote: Quote) -> float:
    words = content_words(text)
    if not words:
        return 0.0
    return len(words & content_words(quote.text)) / len(words)


def attribute(text: str, cands: Sequence[Candidate], *, also: str = "", limit: int = 3) -> list[Candidate]:
    """Candidates of one paper that together back `text` (its numbers and names; the best word match when it has
    none), or [] when none do. Used for sentences that cite nothing, or cite sentences that do not hold their
    claim. Code moves a pointer inside a paper but never assembles a claim from two papers' sentences: "REALM
    achieves state-of-the-art results on TriviaQA" was once backed by REALM's "…on all three benchmarks" plus
    another paper's "TriviaQA" (the model's own pointers may still cite several papers)."""
    if not cands:
        return []

    def holds(c: Candidate, item: tuple[str, str]) -> bool:
        kind, value = item
        return value in numbers(c.quote.text) if kind == "num" else value in c.quote.text.lower()

    ranked = sorted(cands, key=lambda c: -_overlap(text, c.quote))
    if not numbers(text) - numbers(also) and not any(n not in also.lower() for n in names(text)):
        if _cjk(text):
            return []  # no words to match a Chinese sentence against English quotes
        best = ranked[0]
        return [best] if _overlap(text, best.quote) >= 0.5 else []
    for paper in dict.fromkeys(c.quote.paper_key for c in ranked):  # the best-matching paper first
        own = [c for c in ranked if c.quote.paper_key == paper]
        known = f"{also} {cited_titles(own)}"  # a paper's own title may supply a name, another paper's may not
        needed = [("num", x) for x in sorted(numbers(text)) if x not in numbers(known)]
        needed += [("name", x) for x in sorted(names(text)) if x not in known.lower()]
        chosen: list[Candidate] = []
        for item in needed:
            if any(holds(c, item) for c in chosen):
                continue
            holder = next((c for c in own if holds(c, item)), None)
            if holder is None or len(chosen) == limit:
                chosen = []
                break
            chosen.append(holder)
        if not needed and _overlap(text, own[0].quote) >= 0.5:
            chosen = [own[0]]
        # the digits are there; the quantity must be too ("48.2M parameters" is not a table's "48.2")
        if chosen and not unbacked(text, [c.quote for c in chosen], also=known):
            return sorted(chosen, key=lambda c: c.n)
    return []


def cited_titles(cands: Sequence[Candidate]) -> str:
    """The titles and arXiv ids of the papers `cands` are from: names a sentence citing them may take from there."""
    return " ".join(dict.fromkeys(f"{c.quote.title} {c.quote.arxiv_id}" for c in cands))


@dataclass
class GroundedSentence:
    text: str  # the model's sentence without its citation brackets
    quotes: list[Quote] = field(default_factory=list)
    cited: list[int] = field(default_factory=list)  # the candidate numbers finally attached
    corrected: bool = False  # code replaced the model's pointers
    problem: str = ""  # why it was not published ("" = published)
    refusal: bool = False
    translated_from: str = ""  # the checked English sentence this one translates ("" = written as it stands)

    @property
    def published(self) -> bool:
        return not self.problem

    def rendered(self) -> str:
        """The sentence with one `[id p.N]` label per quote, before its final punctuation."""
        labels = "".join(dict.fromkeys(q.label for q in self.quotes))
        if not labels:
            return self.text
        m = re.match(r"^(.*?)([.!?。！？]*)$", self.text, re.S)
        body, punct = m.group(1).rstrip(), m.group(2)
        return f"{body} {labels}{punct}"

    def to_dict(self) -> dict:
        out = {"text": self.text, "citations": [{k: v for k, v in q.to_dict().items()
                                                 if k in ("arxiv_id", "version", "page", "quote")}
                                                for q in self.quotes]}
        if self.translated_from:
            out["translated_from"] = self.translated_from
        return out


def ground(sentence: str, cands: Sequence[Candidate]) -> GroundedSentence:
    """Check one sentence of the answer against the candidates it points at; correct or reject it.

    Only the cited papers' titles and ids may supply a name the quotes lack — never the question: a question
    with a false premise ("… on CIFAR-10 in the BatchNorm paper?") must not lend the answer its CIFAR-10."""
    text, nums = parse_cites(sentence)
    by_n = {c.n: c for c in cands}
    pointed = [by_n[n] for n in nums if n in by_n]
    also = cited_titles(pointed)
    out = GroundedSentence(text=text, refusal=is_refusal(text))
    if (not text or not re.search(r"\w", text)) and pointed:  # pointers only: the quotes are the answer
        out.text, out.quotes, out.cited = f"“{pointed[0].quote.text}”", [pointed[0].quote], [pointed[0].n]
        return out
    if not text or not re.search(r"\w", text):
        out.problem = "empty"
        return out
    if out.refusal:
        return out
    if pointed and not unbacked(text, [c.quote for c in pointed], also=also) and (
            _cjk(text) or names(text) or numbers(text) or max(_overlap(text, c.quote) for c in pointed) > 0):
        out.quotes, out.cited = [c.quote for c in pointed], [c.n for c in pointed]
        return out
    alt = attribute(text, cands)
    if alt:
        out.quotes, out.cited, out.corrected = [c.quote for c in alt], [c.n for c in alt], bool(pointed)
        return out
    missing = unbacked(text, [c.quote for c in pointed], also=also) if pointed else []
    if missing:
        out.problem = f"{', '.join(missing[:4])} not in the quoted sentences"
    elif pointed:
        out.problem = "shares no words with the sentences it cites"
    else:
        out.problem = "cites no sentence"
    return out
