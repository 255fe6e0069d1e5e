"""LaTeX math in paper and model text, shared by every room: where the spans are, how they are kept away from a
model and put back byte-identical, and the check that a model's output kept them.

* `find_math(text)` finds the math spans: display `$$…$$` and `\\[…\\]`, inline `\\(…\\)` and `$…$`. A `$…$`
  span follows pandoc's rules, so prices stay text: the opening `$` is not followed by a space, the closing one
  not preceded by a space or a backslash, neither is an escaped `\\$`, and a span that holds only a number is
  not math when a digit follows ("$5-$10"). Spans are at most `MAX_INLINE` / `MAX_DISPLAY` characters long and
  never cross a blank line.
* `MathTable.protect(text)` replaces every span by a placeholder (`[M1]`, `[M2]`, … the same span always gets the
  same one), `restore(text)` puts the spans back, accepting the bracket shapes a model turns them into
  (`[M1]`, `【M1】`, `⟦M1⟧`, `[[M1]]`).
* `math_problems(output, required=, allowed=)` is the check on a model's output (after `restore`): every
  `required` span is there byte-identical as often as it was given, no span is there that was not given
  (changed or made up), no placeholder is left over. A non-empty list rejects the output (rag.gated retries
  it, then falls back).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

MAX_INLINE = 400  # characters of a `$…$` / `\(…\)` span, delimiters included
MAX_DISPLAY = 2000

_SPAN = re.compile(
    r"(?<![\\$])\$\$(?P<dd>[^$]+?)(?<!\\)\$\$"  # $$ … $$
    r"|(?<!\\)\\\[(?P<db>.+?)(?<!\\)\\\]"  # \[ … \]   (not "\\[2pt]", a LaTeX line break)
    r"|(?<!\\)\\\((?P<ip>.+?)(?<!\\)\\\)"  # \( … \)
    r"|(?<![\\$])\$(?P<id>[^\s$](?:[^$]*?[^\s$\\])?)\$(?!\$)",  # $ … $ (pandoc's rules)
    re.S,
)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_NUMERIC = re.compile(r"^[\d.,\s+\-–]*$")
# what a model makes of a placeholder: [M1], [ M1 ], 【M1】, ⟦M1⟧, [[M1]], (M1) is not taken (too common)
_PLACEHOLDER = re.compile(r"\[\[\s*{p}(\d+)\s*\]\]|[\[【⟦]\s*{p}(\d+)\s*[\]】⟧]")


@dataclass(frozen=True)
class MathSpan:
    start: int
    end: int
    text: str  # the span as written, delimiters included
    tex: str  # what is between the delimiters
    display: bool


def find_math(text: str) -> list[MathSpan]:
    """The math spans of `text`, in order, not overlapping (see the module docstring for the rules)."""
    text = text or ""
    out: list[MathSpan] = []
    pos = 0
    while True:
        m = _SPAN.search(text, pos)
        if m is None:
            return out
        kind = m.lastgroup or ""
        tex = m.group(kind)
        display = kind in ("dd", "db")
        ok = bool(tex.strip()) and len(m.group(0)) <= (MAX_DISPLAY if display else MAX_INLINE) \
            and not _BLANK_LINE.search(tex)
        if ok and kind == "id" and m.end() < len(text) and text[m.end()].isdigit() and _NUMERIC.match(tex):
            ok = False  # "$5-$10": two prices, not a formula
        if ok:
            out.append(MathSpan(m.start(), m.end(), m.group(0), tex, display))
            pos = m.end()
        else:
            pos = m.start() + 1


def split_math(text: str) -> list[tuple[str, MathSpan | None]]:
    """`text` cut into (plain text, None) and (span text, span) pieces, in order; joined they give `text`."""
    text = text or ""
    out: list[tuple[str, MathSpan | None]] = []
    pos = 0
    for s in find_math(text):
        if s.start > pos:
            out.append((text[pos:s.start], None))
        out.append((s.text, s))
        pos = s.end
    if pos < len(text):
        out.append((text[pos:], None))
    return out


def math_spans(text: str) -> list[str]:
    """The spans of `text` as written (delimiters included)."""
    return [s.text for s in find_math(text)]


def has_math(text: str) -> bool:
    return bool(find_math(text))


@dataclass
class MathTable:
    """Placeholders for the math spans of one or more texts that go to a model together.

        table = MathTable.for_texts([value, *quotes])
        prompt_value = table.protect(value)            # "… costs [M1] per layer"
        answer = table.restore(model_output)           # "… 代价为 $O(n^2)$ …"
        problems = math_problems(answer, required=math_spans(value), allowed=table.spans)
    """

    prefix: str = "M"
    spans: list[str] = field(default_factory=list)  # placeholder n (1-based) -> spans[n - 1]

    @classmethod
    def for_texts(cls, texts: Iterable[str]) -> MathTable:
        """A table whose placeholder prefix appears in none of `texts` (a literal "[M1]" stays text)."""
        texts = [t or "" for t in texts]
        prefix = "M"
        while any(re.search(r"[\[【⟦]\s*" + prefix + r"\d", t) for t in texts):
            prefix = "MATH" if prefix == "M" else prefix + "X"
        table = cls(prefix)
        for t in texts:
            table.protect(t)
        return table

    def placeholder(self, span: str) -> str:
        if span not in self.spans:
            self.spans.append(span)
        return f"[{self.prefix}{self.spans.index(span) + 1}]"

    def protect(self, text: str) -> str:
        """`text` with each math span replaced by its placeholder."""
        return "".join(self.placeholder(piece) if span else piece for piece, span in split_math(text or ""))

    def _pattern(self) -> re.Pattern:
        return re.compile(_PLACEHOLDER.pattern.format(p=re.escape(self.prefix)))

    def restore(self, text: str) -> str:
        """`text` with every known placeholder replaced by its span (unknown ones are left for the check)."""
        if not self.spans:
            return text or ""

        def one(m: re.Match) -> str:
            n = int(m.group(1) or m.group(2))
            return self.spans[n - 1] if 1 <= n <= len(self.spans) else m.group(0)

        return self._pattern().sub(one, text or "")

    def leftover(self, text: str) -> list[str]:
        """Placeholders still in `text` (after `restore`: ones the table never gave)."""
        return [m.group(0) for m in self._pattern().finditer(text or "")]

    @property
    def active(self) -> bool:
        return bool(self.spans)


def _short(span: str, n: int = 40) -> str:
    return span if len(span) <= n else span[: n - 1] + "…"


def math_problems(output: str, *, required: Sequence[str] = (), allowed: Iterable[str] = (),
                  table: MathTable | None = None) -> list[str]:
    """What is wrong with the LaTeX of a model's `output` (already restored): a `required` span missing or
    altered, a span that is in neither `required` nor `allowed` (changed or made up), a placeholder left over.
    [] when the output kept every formula byte-identical."""
    problems: list[str] = []
    if table is not None:
        left = table.leftover(output)
        if left:
            problems.append(f"unknown formula placeholder {', '.join(dict.fromkeys(left))}: copy the given "
                            "placeholders exactly")
    got = Counter(math_spans(output))
    need = Counter(required)
    for span, n in need.items():
        if got[span] < n:
            problems.append(f"lost the formula {_short(span)}: keep every placeholder ([M1] …) exactly once, "
                            "as it is")
    known = set(need) | set(allowed) | set(table.spans if table is not None else ())
    for span in got:
        if span not in known:
            problems.append(f"changed or made up the formula {_short(span)}: copy formulas exactly")
    return problems


__all__ = ["MAX_DISPLAY", "MAX_INLINE", "MathSpan", "MathTable", "find_math", "has_math", "math_problems",
           "math_spans", "split_math"]
