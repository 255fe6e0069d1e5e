"""The text format of stored chunks, shared by every room: the `title › section` line each chunk starts with,
and where sentences end (the chunker cuts at these boundaries; the sentence rerank and the quote checks split
the same way)."""

from __future__ import annotations

import re

SECTION_SEP = " › "

_ABBREV = {
    "e.g.", "i.e.", "etc.", "al.", "fig.", "figs.", "eq.", "eqs.", "eqn.", "sec.", "secs.", "tab.", "ref.",
    "refs.", "cf.", "vs.", "approx.", "resp.", "no.", "nos.", "dr.", "mr.", "ms.", "mrs.", "prof.", "st.",
    "vol.", "pp.", "p.", "ch.", "app.", "appx.", "def.", "thm.", "lem.", "prop.", "alg.", "ex.", "viz.",
    "inc.", "ltd.", "co.", "jr.", "sr.", "u.s.", "a.k.a.", "w.r.t.", "ca.", "est.", "max.", "min.",
}
_SENT_END_RE = re.compile(r"[.!?][\"'”’)\]]*$")
_SENT_START_RE = re.compile(r"^[\"'“‘(\[]?[A-Z0-9]")
_INITIAL_RE = re.compile(r"^[A-Z]\.$")


def chunk_prefix(title: str, section: str) -> str:
    """The context line every chunk starts with: ``"title › section\n"``, ``"title\n"`` before the first
    heading (and just ``"section\n"`` when the paper has no title)."""
    parts = [p for p in (title, section) if p]
    return SECTION_SEP.join(parts) + "\n" if parts else ""


def chunk_body(text: str) -> str:
    """A chunk's text without its first `title › section` line (see `chunk_prefix`)."""
    return text.split("\n", 1)[-1]


def is_sentence_break(words: list[str], i: int) -> bool:
    """A sentence ends after words[i] (and the next one starts a sentence)."""
    w = words[i]
    if i + 1 >= len(words) or not _SENT_END_RE.search(w) or not _SENT_START_RE.match(words[i + 1]):
        return False
    core = w.rstrip("\"'”’)]").lower()
    return not (core in _ABBREV or _INITIAL_RE.match(w) or (len(core) <= 2 and core[:1].isalpha() and "." in core))


def sentence_spans(words: list[str]) -> list[tuple[int, int]]:
    """[start, end) word ranges of the sentences of a paragraph."""
    out = []
    start = 0
    for i in range(len(words) - 1):
        if is_sentence_break(words, i):
            out.append((start, i + 1))
            start = i + 1
    out.append((start, len(words)))
    return out


def split_sentences(text: str, *, min_words: int = 1) -> list[str]:
    """Sentences of a text (paragraphs at newlines, sentence ends as the chunker cuts them), each with at
    least `min_words` words."""
    out = []
    for para in text.split("\n"):
        words = para.split()
        for s0, s1 in sentence_spans(words) if words else ():
            if s1 - s0 >= min_words:
                out.append(" ".join(words[s0:s1]))
    return out
