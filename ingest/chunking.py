"""Blocks → Chunks that fit the embedder's window, measured with the embedder's own tokenizer.

Every chunk is ``f"{title} › {section}\\n" + body`` (``f"{title}\\n" + body`` before the first heading) and the
WHOLE text, special tokens included, is at most ``max_tokens`` word pieces as ``count_tokens`` counts them.

How (fast and exact):

1. Blocks are grouped into runs: one run per (section, kind); a caption block is a run of its own (a table's
   caption and rows: each row a paragraph, so rows keep their lines). Runs never mix sections or kinds, so chunks
   never do.
2. Paragraph texts are split into words at whitespace, and every distinct word is counted once, in one batched
   ``count_tokens`` call. WordPiece/BERT tokenizers never build a piece across whitespace, so the pieces of a
   text joined at whitespace are the sum of its words' pieces; a chunk's size is a sum, not a tokenizer call.
3. Packing per run: whole paragraphs while they fit; a paragraph that does not fit is packed sentence by
   sentence; a sentence that does not fit is split between words (a word longer than the window, between
   characters). A chunk is closed at a paragraph boundary once it is ≥ 85 % full, at a sentence boundary once
   it is ≥ 75 % full; otherwise it is filled to the brim.
4. Consecutive chunks of a run overlap by about ``overlap_tokens`` pieces: the tail of the previous chunk,
   started at a sentence start when one lies within 1.5 × ``overlap_tokens`` (else the last words that fit
   ``overlap_tokens``), so most chunks begin with a whole sentence.
5. All final texts are counted again in one batched call; a chunk over the window (only possible with a
   tokenizer that is not additive over whitespace) is split until it fits. ``n_tokens`` is that real count.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from paperrag.records import Block, Chunk
from paperrag.text import (
    SECTION_SEP,
    chunk_body,
    chunk_prefix,
    is_sentence_break,
    sentence_spans,
    split_sentences,
)

__all__ = ["Chunker", "chunk_blocks", "measure_overflow", "chunk_prefix", "chunk_body", "split_sentences", "SECTION_SEP"]

CountTokens = Callable[[list[str]], list[int]]

_BATCH = 2048  # texts per count_tokens call
_PARA_CLOSE = 0.85  # close a chunk at a paragraph boundary once this full
_SENT_CLOSE = 0.75  # ... at a sentence boundary once this full
_MAX_PREFIX_SHARE = 0.5  # the prefix may take at most this share of the window

_FUNCTION_WORDS = frozenset(
    "a an the of on in to and or nor for with by from at as is are was were be been being that which this these "
    "those its their our we than into onto via between among under over such both either".split()
)
_OPEN_WORD_RE = re.compile(r"^[a-z][a-z\-]*,?$")  # a paragraph ending in such a word stops mid-sentence


def measure_overflow(chunks: Sequence[Chunk], count_tokens: CountTokens, max_tokens: int) -> int:
    """How many chunks the embedder would truncate (word pieces incl. special tokens over ``max_tokens``)."""
    texts = [c.text for c in chunks]
    over = 0
    for i in range(0, len(texts), _BATCH):
        over += sum(1 for n in count_tokens(texts[i : i + _BATCH]) if n > max_tokens)
    return over


# ----------------------------------------------------------------------------------------------- internals


@dataclass(slots=True)
class _Piece:
    """Consecutive words of one paragraph (a paragraph, a sentence or part of one)."""

    para: int
    words: list[str]
    counts: list[int]
    page: int
    starts_sentence: bool = True

    @property
    def n(self) -> int:
        return sum(self.counts)


@dataclass
class _Run:
    section: str
    kind: str
    first: int  # index of its first block, for paper order
    paras: list[tuple[str, int]] = field(default_factory=list)  # (text, page)


@dataclass
class _Draft:
    section: str
    kind: str
    pieces: list[_Piece]
    order: tuple[int, int]


class Chunker:
    """Packs Blocks into window-sized Chunks; holds the token counter and the limits."""

    def __init__(self, count_tokens: CountTokens, *, max_tokens: int = 256, overlap_tokens: int = 32):
        if max_tokens < 16:
            raise ValueError(f"max_tokens={max_tokens} is too small for a chunk (at least 16 word pieces)")
        self.count_tokens = count_tokens
        self.max_tokens = int(max_tokens)
        self.overlap_tokens = max(0, min(int(overlap_tokens), self.max_tokens // 4))
        self._specials: int | None = None

    @classmethod
    def for_embedder(cls, embedder, *, max_tokens: int | None = None, overlap_tokens: int = 32) -> "Chunker":
        """A Chunker for an indexes.embedder.Embedder; ``max_tokens`` is capped at the model's window."""
        window = int(embedder.max_tokens)
        limit = window if max_tokens is None else min(int(max_tokens), window)
        return cls(embedder.count_tokens, max_tokens=limit, overlap_tokens=overlap_tokens)

    # ------------------------------------------------------------------------------------------ counting
    @property
    def specials(self) -> int:
        if self._specials is None:
            self._specials = int(self.count_tokens([""])[0])
        return self._specials

    def _count(self, texts: list[str]) -> list[int]:
        out: list[int] = []
        for i in range(0, len(texts), _BATCH):
            out.extend(int(n) for n in self.count_tokens(texts[i : i + _BATCH]))
        return out

    def _word_pieces(self, words: Iterable[str]) -> dict[str, int]:
        uniq = list(dict.fromkeys(words))
        sp = self.specials
        return {w: max(0, n - sp) for w, n in zip(uniq, self._count(uniq))}

    # -------------------------------------------------------------------------------------------- public
    def chunk(self, blocks: Sequence[Block], *, title: str) -> list[Chunk]:
        title = " ".join((title or "").split())
        runs = self._runs(blocks)
        if not runs:
            return []
        # Words of every paragraph, counted once per distinct word.
        para_words: list[list[list[str]]] = [[text.split() for text, _ in run.paras] for run in runs]
        pieces_of = self._word_pieces(w for run in para_words for words in run for w in words)
        prefixes = self._prefixes(title, sorted({r.section for r in runs}))

        drafts: list[_Draft] = []
        for ri, run in enumerate(runs):
            prefix, prefix_n = prefixes[run.section]
            budget = self.max_tokens - prefix_n
            paras = []
            for pi, ((_, page), words) in enumerate(zip(run.paras, para_words[ri])):
                if words:
                    paras.append((pi, page, words, [pieces_of[w] for w in words]))
            for k, pieces in enumerate(self._pack(paras, budget)):
                drafts.append(_Draft(run.section, run.kind, pieces, (run.first, k)))

        drafts.sort(key=lambda d: d.order)
        texts = [prefixes[d.section][0] + self._body(d.pieces) for d in drafts]
        counts = self._count(texts)
        chunks: list[Chunk] = []
        for d, text, n in zip(drafts, texts, counts):
            if n <= self.max_tokens:
                chunks.append(self._make(d, text, n))
            else:
                chunks.extend(self._refit(d, prefixes[d.section][0]))
        for i, c in enumerate(chunks):
            c.ordinal = i
        return chunks

    # ------------------------------------------------------------------------------------------ grouping
    @staticmethod
    def _runs(blocks: Sequence[Block]) -> list[_Run]:
        runs: list[_Run] = []
        open_runs: dict[str, _Run] = {}
        section: str | None = None
        for i, b in enumerate(blocks):
            text = b.text.strip() if b.text else ""
            if not text:
                continue
            if b.section != section:
                section = b.section
                open_runs = {}
            if b.kind == "caption":  # a table's rows (one a line after its caption) stay one a line
                runs.append(_Run(b.section, b.kind, i, [(ln, b.page) for ln in text.split("\n") if ln.strip()]))
                continue
            run = open_runs.get(b.kind)
            if run is None:
                run = open_runs[b.kind] = _Run(b.section, b.kind, i)
                runs.append(run)
            run.paras.append((text, b.page))
        return runs

    def _prefixes(self, title: str, sections: list[str]) -> dict[str, tuple[str, int]]:
        """Prefix text and its token count (special tokens included) per section, shortened if huge."""
        texts = [chunk_prefix(title, s) for s in sections]
        counts = self._count(texts)
        limit = int(self.max_tokens * _MAX_PREFIX_SHARE)
        out = {}
        for s, text, n in zip(sections, texts, counts):
            if n > limit:
                text, n = self._shorten_prefix(title, s, limit)
            out[s] = (text, n)
        return out

    def _shorten_prefix(self, title: str, section: str, limit: int) -> tuple[str, int]:
        # Deepest heading only, then fewer title words, until the prefix fits its share of the window.
        section = section.split(SECTION_SEP)[-1] if section else ""
        words = title.split()
        sec_words = section.split()
        while True:
            text = chunk_prefix(" ".join(words), " ".join(sec_words))
            n = self._count([text])[0]
            if n <= limit or (not words and not sec_words):
                return text, n
            if len(words) > 4 or not sec_words:
                words = words[: max(0, len(words) * 3 // 4)] if len(words) > 1 else []
            else:
                sec_words = sec_words[: max(0, len(sec_words) * 3 // 4)] if len(sec_words) > 1 else []

    # ------------------------------------------------------------------------------------------- packing
    def _pack(self, paras: list[tuple[int, int, list[str], list[int]]], budget: int) -> list[list[_Piece]]:
        chunks: list[list[_Piece]] = []
        cur: list[_Piece] = []
        cur_n = 0
        own = 0  # pieces in cur that are not overlap

        def close():
            nonlocal cur, cur_n, own
            if own:
                chunks.append(cur)
                cur = self._overlap(cur)
                cur_n = sum(p.n for p in cur)
                own = 0

        def add(p: _Piece):
            nonlocal cur_n, own
            cur.append(p)
            cur_n += p.n
            own += 1

        for pi, page, words, counts in paras:
            total = sum(counts)
            if cur_n + total <= budget:
                add(_Piece(pi, words, counts, page))
                continue
            if own and cur_n >= _PARA_CLOSE * budget:
                close()
                if cur_n + total <= budget:
                    add(_Piece(pi, words, counts, page))
                    continue
            for s, e in sentence_spans(words):
                sw, sc = words[s:e], counts[s:e]
                sn = sum(sc)
                if cur_n + sn <= budget:
                    add(_Piece(pi, sw, sc, page))
                    continue
                if own and cur_n >= _SENT_CLOSE * budget:
                    close()
                    if cur_n + sn <= budget:
                        add(_Piece(pi, sw, sc, page))
                        continue
                # Split the sentence between words, filling chunks to the brim.
                j = 0
                while j < len(sw):
                    room = budget - cur_n
                    k = j
                    acc = 0
                    while k < len(sw) and acc + sc[k] <= room:
                        acc += sc[k]
                        k += 1
                    if k > j:
                        add(_Piece(pi, sw[j:k], sc[j:k], page, starts_sentence=j == 0))
                        j = k
                        if j < len(sw) and sc[j] <= budget:  # (a giant word fills this chunk first)
                            close()
                        continue
                    if sc[j] > budget:
                        # A word longer than the window: cut it between characters, filling this chunk first.
                        room = budget - cur_n
                        parts = self._split_word(sw[j], room if room >= 8 else budget, budget)
                        for n_part, (part, pn) in enumerate(parts):
                            if cur_n + pn > budget:
                                close()
                                cur, cur_n = [], 0  # no overlap next to a cut word
                            add(_Piece(pi, [part], [pn], page, starts_sentence=j == 0 and n_part == 0))
                        j += 1
                        continue
                    if own:  # no room left: next chunk
                        close()
                        continue
                    # the overlap alone leaves no room for this word: drop the overlap
                    cur, cur_n = [], 0
        if own:
            chunks.append(cur)
        return chunks

    def _overlap(self, pieces: list[_Piece]) -> list[_Piece]:
        """The tail of a closed chunk that the next chunk starts with: about ``overlap_tokens`` pieces, from a
        sentence start when one lies within 1.5 × that (else the last words that fit ``overlap_tokens``)."""
        limit = self.overlap_tokens
        if limit <= 0 or not pieces:
            return []
        stretch = limit + limit // 2
        # Walk back word by word: the plain tail is the longest one within `limit`; a tail that starts a
        # sentence within `stretch` is preferred, the one closest to `limit`.
        acc = 0
        best: tuple[int, int] | None = None  # (piece index, word index) of the sentence-start tail
        best_gap = 0
        plain: tuple[int, int] | None = None
        for pi in range(len(pieces) - 1, -1, -1):
            p = pieces[pi]
            k = len(p.words)
            while k > 0:
                c = p.counts[k - 1]
                if acc + c > stretch:
                    break
                acc += c
                k -= 1
                if acc <= limit:
                    plain = (pi, k)
                starts = p.starts_sentence if k == 0 else is_sentence_break(p.words, k - 1)
                if starts and acc >= limit // 3 and (best is None or abs(acc - limit) < best_gap):
                    best, best_gap = (pi, k), abs(acc - limit)
            else:
                continue
            break
        start = best or plain
        if start is None:
            return []
        pi, k = start
        first = pieces[pi]
        out = [
            _Piece(first.para, first.words[k:], first.counts[k:], first.page, starts_sentence=best is not None)
        ]
        out.extend(pieces[pi + 1 :])
        return [p for p in out if p.words]

    def _split_word(self, word: str, first: int, budget: int) -> list[tuple[str, int]]:
        """A word with more pieces than the window, cut into parts of at most ``first`` then ``budget`` pieces
        (each part counted for real)."""
        parts: list[tuple[str, int]] = []
        rest = word
        sp = self.specials
        limit = first
        while rest:
            lo, hi = 1, len(rest)
            best = 1
            while lo <= hi:  # the longest prefix that fits
                mid = (lo + hi) // 2
                if self._count([rest[:mid]])[0] - sp <= limit:
                    best = mid
                    lo = mid + 1
                else:
                    hi = mid - 1
            part = rest[:best]
            parts.append((part, self._count([part])[0] - sp))
            rest = rest[best:]
            limit = budget
        return parts

    # ------------------------------------------------------------------------------------------- output
    @staticmethod
    def _body(pieces: list[_Piece]) -> str:
        """Pieces of one paragraph joined by a space, paragraphs by a newline (by a space when the paragraph
        before stops mid-sentence, on a lower-case word, and the next goes on in lower case or the word is a
        function word: one paragraph cut by a column or page break)."""
        out: list[str] = []
        prev: _Piece | None = None
        for p in pieces:
            if prev is not None:
                last = prev.words[-1]
                cont = p.para == prev.para or (
                    _OPEN_WORD_RE.match(last) is not None
                    and (p.words[0][:1].islower() or last.rstrip(",") in _FUNCTION_WORDS)
                )
                out.append(" " if cont else "\n")
            out.append(" ".join(p.words))
            prev = p
        return "".join(out)

    @staticmethod
    def _make(d: _Draft, text: str, n: int) -> Chunk:
        pages = [p.page for p in d.pieces]
        return Chunk(
            text=text,
            section=d.section,
            page_start=min(pages),
            page_end=max(pages),
            kind=d.kind,  # type: ignore[arg-type]
            n_tokens=int(n),
        )

    def _refit(self, d: _Draft, prefix: str) -> list[Chunk]:
        """Split a draft the tokenizer counts over the window (non-additive tokenizers) until each part fits."""
        words: list[tuple[_Piece, int]] = [(p, i) for p in d.pieces for i in range(len(p.words))]
        out: list[Chunk] = []
        stack = [words]
        while stack:
            ws = stack.pop()
            pieces = self._pieces_from(ws)
            text = prefix + self._body(pieces)
            n = self._count([text])[0]
            if n <= self.max_tokens or len(ws) <= 1:
                out.append(self._make(_Draft(d.section, d.kind, pieces, d.order), text, n))
                continue
            mid = len(ws) // 2
            stack.append(ws[mid:])
            stack.append(ws[:mid])
        return out

    @staticmethod
    def _pieces_from(ws: list[tuple[_Piece, int]]) -> list[_Piece]:
        out: list[_Piece] = []
        src = None
        for p, i in ws:
            if p is src:
                out[-1].words.append(p.words[i])
                out[-1].counts.append(p.counts[i])
            else:
                out.append(_Piece(p.para, [p.words[i]], [p.counts[i]], p.page, starts_sentence=False))
                src = p
        return out


def chunk_blocks(
    blocks: list[Block],
    *,
    title: str,
    count_tokens: CountTokens,
    max_tokens: int = 256,
    overlap_tokens: int = 32,
) -> list[Chunk]:
    """Chunks of at most ``max_tokens`` word pieces (prefix and special tokens included), in paper order."""
    return Chunker(count_tokens, max_tokens=max_tokens, overlap_tokens=overlap_tokens).chunk(blocks, title=title)
