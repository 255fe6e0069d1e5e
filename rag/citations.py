"""Citations: the model cites evidence by number ([1], [2, 3]); the reader sees [2506.19850 §4.2 p.6].

Small local models copy a short number far more reliably than a long label, so the prompt numbers the
passages and we resolve the numbers. A number that names no passage of the prompt is dropped (and counted);
a full label the model wrote itself is kept only if it matches a passage that was in the prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.retrieval.retriever import Passage

_NUMBERED = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
_SECTION_NUMBER = re.compile(r"^((?:[A-Z]|\d+)(?:\.\d+)*)\.?\s")
# a label as we print it: [2506.19850 §4.2 p.6], [hep-th/9901001 §Intro p.2]
_LABEL = re.compile(r"\[((?:\d{4}\.\d{4,5})|(?:[a-z-]+(?:\.[A-Z]{2})?/\d{7})|(?:local:[0-9a-f]{12}))(?:v\d+)?"
                    r"(?:\s+§[^\]\s]+)?(?:\s+pp?\.\s*(\d+)(?:[-–]\d+)?)?\]")


def section_label(section: str) -> str:
    """'3 Model Architecture › 3.2 Attention' → '3.2'; unnumbered → the leaf's first words."""
    leaf = section.split("›")[-1].strip() if section else ""
    if not leaf:
        return ""
    m = _SECTION_NUMBER.match(leaf + " ")
    if m:
        return m.group(1)
    words = leaf.split()
    return "-".join(words[:2]) if words else ""


def citation_label(p: Passage) -> str:
    sec = section_label(p.section)
    parts = [p.arxiv_id]
    if sec:
        parts.append(f"§{sec}")
    parts.append(f"p.{p.page_start}")
    return "[" + " ".join(parts) + "]"


def abs_url(p: Passage) -> str:
    if p.arxiv_id.startswith("local:"):
        return ""
    return f"https://arxiv.org/abs/{p.arxiv_id}v{p.version}"


def pdf_url(p: Passage, page: int | None = None) -> str:
    if p.arxiv_id.startswith("local:"):
        return ""
    return f"https://arxiv.org/pdf/{p.arxiv_id}v{p.version}#page={page or p.page_start}"


@dataclass
class Resolved:
    text: str  # the answer with numbers replaced by labels
    cited: list[int] = field(default_factory=list)  # 1-based evidence numbers, first-cited order
    invalid: list[str] = field(default_factory=list)  # citations that point at nothing in the prompt


def resolve(text: str, evidence: list[Passage]) -> Resolved:
    """Replace [n] by the label of passage n; keep valid full labels; drop and record everything else."""
    out = Resolved(text="")
    labels = [citation_label(p) for p in evidence]

    def cite(n: int) -> str | None:
        if 1 <= n <= len(evidence):
            if n not in out.cited:
                out.cited.append(n)
            return labels[n - 1]
        out.invalid.append(f"[{n}]")
        return None

    def numbered(m: re.Match) -> str:
        found = [cite(int(x)) for x in re.split(r"\s*[,;]\s*", m.group(1))]
        return "".join(lab for lab in found if lab)

    def labelled(m: re.Match) -> str:
        arxiv_id, page = m.group(1), m.group(2)
        for i, p in enumerate(evidence, 1):
            if p.arxiv_id == arxiv_id and (page is None or p.page_start <= int(page) <= p.page_end):
                return cite(i) or ""
        out.invalid.append(m.group(0))
        return ""

    text = _LABEL.sub(labelled, text)
    out.text = _NUMBERED.sub(numbered, text)
    out.text = re.sub(r"[ \t]+([.,;:])", r"\1", out.text)  # "claim [9]." with [9] dropped → "claim."
    return out


class StreamingResolver:
    """Rewrites citations in a token stream: text is released as soon as no '[' is pending."""

    def __init__(self, evidence: list[Passage]):
        self.evidence = evidence
        self._buffer = ""
        self.raw = ""

    def feed(self, piece: str) -> str:
        self.raw += piece
        self._buffer += piece
        cut = self._buffer.rfind("[")
        if cut == -1 or "]" in self._buffer[cut:] or len(self._buffer) - cut > 80:
            ready, self._buffer = self._buffer, ""
        else:
            ready, self._buffer = self._buffer[:cut], self._buffer[cut:]
        return resolve(ready, self.evidence).text if ready else ""

    def flush(self) -> str:
        ready, self._buffer = self._buffer, ""
        return resolve(ready, self.evidence).text if ready else ""
