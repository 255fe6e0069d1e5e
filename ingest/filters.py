"""Which announced papers we keep: categories, announce type, negative keywords, keywords.

Matching is case-insensitive on title + abstract, on word boundaries: "vla" matches "VLA" and "VLAs" but not
"OpenVLA" or "evaluation". A phrase matches across any whitespace / hyphen variation: "vision language
action" matches "Vision-Language-Action" and "vision-language  action". A trailing plural "s"/"es" is
allowed ("transformer" matches "transformers").

Order of the checks (the first that applies decides): categories, replacement, cross-list, negative
keywords (veto), keywords. No keywords configured = keep every paper of the categories.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from paperrag.records import PaperMeta

if TYPE_CHECKING:
    from paperrag.settings import SourcesSettings

_SEP = r"(?:\s*[-\u2010\u2011\u2012\u2013\u2014_/]\s*|\s+)"  # hyphen-ish, underscore, slash or whitespace
_HYPHENS = re.compile(r"[-\u2010\u2011\u2012\u2013\u2014_/\s]+")


@dataclass
class FilterDecision:
    keep: bool
    reason: str
    matched: list[str] = field(default_factory=list)


def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """Word-boundary, case-insensitive pattern for a keyword or phrase (see module doc)."""
    words = [w for w in _HYPHENS.split(keyword.strip()) if w]
    if not words:
        raise ValueError(f"empty keyword: {keyword!r}")
    body = _SEP.join(re.escape(w) for w in words)
    plural = r"(?:s|es)?" if words[-1][-1].isalpha() else ""
    return re.compile(rf"(?<!\w){body}{plural}(?!\w)", re.IGNORECASE)


class KeywordFilter:
    def __init__(
        self,
        keywords: Iterable[str] = (),
        negative_keywords: Iterable[str] = (),
        categories: Iterable[str] | None = None,
        include_cross: bool = True,
        include_replacements: bool = False,
    ):
        self.keywords = [k.strip() for k in keywords if k and k.strip()]
        self.negative_keywords = [k.strip() for k in negative_keywords if k and k.strip()]
        self.categories = [c.strip() for c in categories if c and c.strip()] if categories else []
        self.include_cross = include_cross
        self.include_replacements = include_replacements
        self._pos = [(k, keyword_pattern(k)) for k in self.keywords]
        self._neg = [(k, keyword_pattern(k)) for k in self.negative_keywords]

    @classmethod
    def from_settings(cls, sources: SourcesSettings, *, restrict_categories: bool = False) -> KeywordFilter:
        """From [sources]; categories only restrict when asked (the RSS feeds are per category anyway,
        while papers fetched by id or query may legitimately come from elsewhere)."""
        return cls(
            sources.keywords,
            sources.negative_keywords,
            sources.categories if restrict_categories else None,
            sources.include_cross,
            sources.include_replacements,
        )

    @staticmethod
    def _where(pattern: re.Pattern[str], meta: PaperMeta) -> str | None:
        if pattern.search(meta.title or ""):
            return "title"
        if pattern.search(meta.abstract or ""):
            return "abstract"
        return None

    def decide(self, meta: PaperMeta) -> FilterDecision:
        if self.categories:
            cats = set(meta.categories) | ({meta.primary_category} if meta.primary_category else set())
            if not cats & set(self.categories):
                shown = ", ".join(meta.categories) or "none"
                return FilterDecision(
                    False, f"not in the configured categories ({shown} vs {', '.join(self.categories)})"
                )

        announce = (meta.announce_type or "").lower()
        if announce.startswith("replace") and not self.include_replacements:
            return FilterDecision(False, f"replacement (announce_type={announce})")
        if "cross" in announce and not self.include_cross:
            return FilterDecision(False, f"cross-list (announce_type={announce})")

        for keyword, pattern in self._neg:
            where = self._where(pattern, meta)
            if where:
                return FilterDecision(False, f"dropped: negative keyword '{keyword}' in {where}", [keyword])

        if not self._pos:
            return FilterDecision(True, "kept: no keywords configured (every paper of the categories is kept)")

        hits: list[tuple[str, str]] = []
        for keyword, pattern in self._pos:
            where = self._where(pattern, meta)
            if where:
                hits.append((keyword, where))
        if not hits:
            return FilterDecision(False, "no keyword match")
        described = ", ".join(f"'{k}' in {w}" for k, w in hits)
        return FilterDecision(True, f"kept: matched {described}", [k for k, _ in hits])

    def filter(self, metas: Iterable[PaperMeta]) -> list[tuple[PaperMeta, FilterDecision]]:
        return [(m, self.decide(m)) for m in metas]
