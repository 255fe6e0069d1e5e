"""arXiv identifiers: parse and normalise every spelling a user or a feed hands us.

New style (since 2007-04): YYMM.NNNN (until 2014) or YYMM.NNNNN (since 2015), optional vN.
Old style (before 2007-04): archive[.SUBJECT]/YYMMNNN, e.g. hep-th/9901001v2, math.GT/0309136. The subject
class is not part of the identifier (arXiv and its API answer for math/0309136), so it is dropped.

Accepted wrappers: "arXiv:", "oai:arXiv.org:", abs/pdf/html URLs of arxiv.org (any host prefix), ".pdf".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_NEW = r"(?P<new>(?P<yymm>\d{4})\.(?P<num>\d{4,5}))"
_OLD = r"(?P<old>(?P<archive>[a-zA-Z]+(?:-[a-zA-Z]+)*)(?:\.(?P<subject>[a-zA-Z]+(?:-[a-zA-Z]+)*))?/(?P<oldnum>\d{7}))"
_VERSION = r"(?:v(?P<version>\d+))?"
_CORE = rf"(?:{_NEW}|{_OLD}){_VERSION}"

_PREFIXES = re.compile(
    r"""^(?:
        (?:https?://)?(?:[\w-]+\.)*arxiv\.org/(?:abs|pdf|html|format|ps)/   # URL
      | oai:arxiv\.org:                                                   # OAI / RSS guid
      | arxiv:\s*                                                         # arXiv:2506.19850
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_CORE_RE = re.compile(rf"^{_CORE}$")
_SUFFIX = re.compile(r"(?:\.pdf)?/?(?:[?#].*)?$", re.IGNORECASE)


def _check_month(yymm: str, raw: str) -> None:
    month = int(yymm[2:])
    if not 1 <= month <= 12:
        raise ValueError(f"not an arXiv id: {raw!r} (month {yymm[2:]} in {yymm!r} is not 01-12)")


def parse_arxiv_id(text: str) -> tuple[str, int | None]:
    """'https://arxiv.org/abs/2506.19850v3' -> ('2506.19850', 3); 'math.GT/0309136' -> ('math/0309136', None).

    Raises ValueError naming the input when it is no arXiv id.
    """
    if not isinstance(text, str):
        raise ValueError(f"not an arXiv id: {text!r} (expected a string)")
    raw = text
    s = text.strip()
    s = _PREFIXES.sub("", s, count=1)
    s = _SUFFIX.sub("", s, count=1)
    m = _CORE_RE.match(s)
    if not m:
        raise ValueError(
            f"not an arXiv id: {raw!r} (expected e.g. 2506.19850, 2501.10120v2, hep-th/9901001 or an "
            "arxiv.org abs/pdf URL)"
        )
    version = int(m["version"]) if m["version"] else None
    if version is not None and version < 1:
        raise ValueError(f"not an arXiv id: {raw!r} (version must be >= 1)")
    if m["new"]:
        _check_month(m["yymm"], raw)
        return m["new"], version
    _check_month(m["oldnum"][:4], raw)
    return f"{m['archive'].lower()}/{m['oldnum']}", version


def normalize_id(text: str) -> str:
    """The id without version: 'arXiv:2501.10120v2' -> '2501.10120'."""
    return parse_arxiv_id(text)[0]


def format_id(arxiv_id: str, version: int | None = None) -> str:
    """('2506.19850', 3) -> '2506.19850v3'; no version -> '2506.19850'."""
    return f"{arxiv_id}v{version}" if version else arxiv_id


def is_arxiv_id(text: str) -> bool:
    try:
        parse_arxiv_id(text)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------------------ PDF stamp
@dataclass(frozen=True)
class ArxivStamp:
    """The vertical stamp arXiv prints on page 1: 'arXiv:1706.03762v7 [cs.CL] 6 Dec 2017'."""

    arxiv_id: str
    version: int | None
    category: str
    date: str  # ISO YYYY-MM-DD, "" when unreadable
    raw: str


_STAMP = re.compile(
    r"arXiv\s*:\s*(?P<id>(?:\d{4}\.\d{4,5}|[a-zA-Z]+(?:-[a-zA-Z]+)*(?:\.[a-zA-Z-]+)?/\d{7})(?:v\d+)?)"
    r"\s*\[\s*(?P<cat>[a-zA-Z-]+(?:\.[a-zA-Z-]+)?)\s*\]"
    r"\s*(?P<date>\d{1,2}\s+[A-Za-z]{3}[a-z]*\.?\s+\d{4})?"
)


def _stamp_date(text: str | None) -> str:
    if not text:
        return ""
    parts = text.replace(".", "").split()
    for fmt in ("%d %b %Y", "%d %B %Y"):
        try:
            return datetime.strptime(" ".join(parts), fmt).date().isoformat()
        except ValueError:
            continue
    return ""


def find_arxiv_stamp(text: str) -> ArxivStamp | None:
    """The first arXiv stamp in (PDF) text, or None. Whitespace inside the stamp may be odd (line breaks)."""
    for m in _STAMP.finditer(text or ""):
        try:
            arxiv_id, version = parse_arxiv_id(m["id"])
        except ValueError:
            continue
        raw = re.sub(r"\s+", " ", m.group(0)).strip()
        raw = re.sub(r"arXiv\s*:\s*", "arXiv:", raw)
        return ArxivStamp(arxiv_id, version, m["cat"], _stamp_date(m["date"]), raw)
    return None
