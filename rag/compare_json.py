"""Getting a small JSON object out of a small local model's reply.

Models of 0.5–1.5B parameters often wrap the object in prose or a code fence, add a full stop after it, leave a
trailing comma, write Python literals or single quotes, or stop mid-string when they hit the output cap. We ask
them for tiny objects (one value, or at most three results) and repair what comes back before validating it:

    obj = repair_json(text)          # -> dict | list, or raises JsonRepairError with a one-line reason

Repairs, in order, each tried only when plain `json.loads` fails: strip code fences and any preamble before the
first `{`/`[`; cut anything after the matching closing bracket; normalise typographic quotes; Python literals
(None/True/False) → JSON; single-quoted strings → double-quoted; bare keys quoted; trailing commas dropped;
missing commas between adjacent values inserted; raw newlines inside strings escaped; and, for a reply cut off
by the token limit, the open string and brackets closed after dropping the incomplete last member.
"""

from __future__ import annotations

import json
import re
from typing import Any


class JsonRepairError(ValueError):
    """The reply holds no JSON object that the heuristics can recover; the message says why, in one line."""


_FENCE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)(?:```|$)", re.S)
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2018": "'", "\u2019": "'"})


def repair_json(text: str) -> Any:
    """The JSON value in `text` (usually a dict), repaired if needed; JsonRepairError when none is found."""
    if text is None or not str(text).strip():
        raise JsonRepairError("empty reply")
    raw = str(text).strip()
    try:
        return json.loads(raw)
    except ValueError:
        pass
    candidates = []
    for m in _FENCE.finditer(raw):  # ```json {...} ``` (possibly unterminated)
        candidates.append(m.group(1))
    candidates.append(raw)
    last_error = "no '{' or '[' in the reply"
    for cand in candidates:
        start = _first_open(cand)
        if start < 0:
            continue
        body, truncated = _balanced(cand, start)
        for attempt in _variants(body, truncated):
            try:
                return json.loads(attempt)
            except ValueError as exc:
                last_error = f"not JSON even after repair ({exc.msg} at char {exc.pos})"
    raise JsonRepairError(last_error)


def _first_open(s: str) -> int:
    idx = [i for i in (s.find("{"), s.find("[")) if i >= 0]
    return min(idx) if idx else -1


def _balanced(s: str, start: int) -> tuple[str, bool]:
    """s[start:] up to the bracket that closes s[start] (text after it dropped); truncated=True when it never
    closes. Strings in double or single quotes are skipped, with backslash escapes."""
    depth = 0
    quote = ""
    esc = False
    for i in range(start, len(s)):
        ch = s[i]
        if quote:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == quote and (quote == '"' or _closes_single_quote(s, i)):
                quote = ""
            continue
        if ch == '"':
            quote = ch
        elif ch == "'" and _opens_single_quote(s, i):
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return s[start:i + 1], False
    return s[start:], True


def _opens_single_quote(s: str, i: int) -> bool:
    """A ' that starts a string (after { [ , : or whitespace following them), not an apostrophe in a word."""
    j = i - 1
    while j >= 0 and s[j] in " \t\r\n":
        j -= 1
    return j >= 0 and s[j] in "{[,:"


def _closes_single_quote(s: str, j: int) -> bool:
    """A ' that ends a single-quoted string: followed by , } ] : or the end (else it is an apostrophe)."""
    k = j + 1
    while k < len(s) and s[k] in " \t\r\n":
        k += 1
    return k >= len(s) or s[k] in ",}]:"


def _variants(body: str, truncated: bool):
    yield body
    fixed = _fix_syntax(body.translate(_QUOTES))
    yield fixed
    if truncated:
        yield from _close_truncated(fixed)


def _fix_syntax(s: str) -> str:
    s = _requote_single(s)
    s = _escape_newlines_in_strings(s)
    out = _outside_strings(s, [
        (re.compile(r"\bNone\b"), "null"), (re.compile(r"\bTrue\b"), "true"), (re.compile(r"\bFalse\b"), "false"),
        (re.compile(r"([{,]\s*)([A-Za-z_][A-Za-z0-9_ -]*?)(\s*:)"), r'\1"\2"\3'),  # bare keys
        (re.compile(r",(\s*[}\]])"), r"\1"),  # trailing commas
        (re.compile(r'(["}\]\d]|true|false|null)(\s+)(?=["{\[])'), r"\1,\2"),  # missing commas between values
    ])
    return out


def _segments(s: str):
    """(is_string, text) pieces of s, strings with their double quotes."""
    i, n, start = 0, len(s), 0
    while i < n:
        if s[i] == '"':
            if start < i:
                yield False, s[start:i]
            j = i + 1
            while j < n:
                if s[j] == "\\":
                    j += 2
                    continue
                if s[j] == '"':
                    break
                j += 1
            yield True, s[i:j + 1]
            i = start = j + 1
        else:
            i += 1
    if start < n:
        yield False, s[start:]


def _outside_strings(s: str, subs) -> str:
    # Regexes that look across a string boundary (a comma before a key, a value before the next string) need
    # the string's quotes in view, so mask string contents instead of splitting on them.
    masked, strings = [], []
    for is_str, text in _segments(s):
        if is_str:
            strings.append(text)
            masked.append(f'"\x00{len(strings) - 1}\x00"')
        else:
            masked.append(text)
    out = "".join(masked)
    for pattern, repl in subs:
        out = pattern.sub(repl, out)
    return re.sub(r'"\x00(\d+)\x00"', lambda m: strings[int(m.group(1))], out)


def _requote_single(s: str) -> str:
    """'value' → "value" where a single quote opens a string (not apostrophes inside double-quoted text)."""
    out, i, n = [], 0, len(s)
    in_double = False
    while i < n:
        ch = s[i]
        if in_double:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(s[i + 1])
                i += 2
                continue
            if ch == '"':
                in_double = False
            i += 1
            continue
        if ch == '"':
            in_double = True
            out.append(ch)
            i += 1
            continue
        if ch == "'" and _opens_single_quote(s, i):
            j = i + 1
            buf = []
            while j < n and not (s[j] == "'" and _closes_single_quote(s, j)):
                if s[j] == "\\" and j + 1 < n:
                    buf.append(s[j:j + 2])
                    j += 2
                    continue
                buf.append('\\"' if s[j] == '"' else s[j])
                j += 1
            out.append('"' + "".join(buf) + ('"' if j < n else ""))
            i = j + 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _escape_newlines_in_strings(s: str) -> str:
    parts = []
    for is_str, text in _segments(s):
        parts.append(text.replace("\r", "").replace("\n", "\\n").replace("\t", " ") if is_str else text)
    return "".join(parts)


def _close_truncated(s: str):
    """Versions of a cut-off reply with the open string and brackets closed, dropping the incomplete last
    member step by step (at most a few steps back)."""
    s = s.rstrip()
    for _ in range(6):
        closed = _close(s)
        if closed is not None:
            yield closed
        cut = _last_top_comma(s)
        if cut is None:
            return
        s = s[:cut].rstrip()


def _close(s: str) -> str | None:
    stack: list[str] = []
    in_str = False
    esc = False
    for ch in s:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    if esc:
        s = s[:-1]
    if in_str:
        s += '"'
    s = s.rstrip()
    if s.endswith(":"):
        s += " null"
    s = s.rstrip(",")
    return s + "".join(reversed(stack)) if stack else None


def _last_top_comma(s: str) -> int | None:
    """Index of the last comma outside strings (where the incomplete member begins)."""
    last = None
    in_str = False
    esc = False
    for i, ch in enumerate(s):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch == ",":
            last = i
    return last
