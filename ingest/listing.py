"""arXiv's listing page of a category's announcements (`/list/{category}/new`), read next to the RSS feed.

The page (HTML, parsed with selectolax) gives what the feed cannot:
* the announcement date ("Showing new listings for Friday, 23 February 2024"),
* the sections: New submissions / Cross submissions (cross-lists) / Replacement submissions, each headed
  "… (showing X of Y entries)",
* a total ("Total of N entries").
The declared counts tell a broken parse (the page says 40 entries, we read 0) from an empty day (the page says 0).

`cross_check(feed, listing, previous_ids)` compares the two sources of one category and day: agreement, the ids
only one source had (the union is taken), a stale feed (its ids are mostly yesterday's batch, or its date is
older than the listing's) that is not trusted, and a weekend/holiday morning (the feed is empty and dated after
the listing, which still shows the last announcement: not a disagreement).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from selectolax.lexbor import LexborHTMLParser as HTMLParser

from ingest.arxiv_ids import parse_arxiv_id

SECTIONS = ("new", "cross", "replace")
_SHOWING = re.compile(r"showing\s+(?:first\s+)?(\d+)\s+of\s+(\d+)\s+entr", re.I)
_TOTAL = re.compile(r"total\s+of\s+(\d+)\s+entr", re.I)
_DATELINE = re.compile(r"(?:listings?\s+for|for)\s+(?:\w+,\s+)?(\d{1,2}\s+\w+\s+\d{4})", re.I)
STALE_SHARE = 0.5  # a feed whose ids are more than this share of yesterday's batch is stale


def _section_of(heading: str) -> str | None:
    h = heading.lower()
    if h.startswith("new submission"):
        return "new"
    if h.startswith("cross"):
        return "cross"
    if h.startswith("replacement"):
        return "replace"
    return None


@dataclass
class Listing:
    category: str
    url: str = ""
    status: Literal["ok", "empty", "error"] = "ok"
    reason: str = ""
    date: str = ""  # ISO announcement day
    sections: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in SECTIONS})  # arXiv ids
    declared: dict[str, int] = field(default_factory=dict)  # section -> "of Y entries" on the page
    total: int | None = None  # "Total of N entries", when the page says it
    unreachable: bool = False
    details: dict[str, dict] = field(default_factory=dict)  # id -> title, authors, subjects, abstract (the <dd>)

    @property
    def ids(self) -> list[str]:
        return [i for s in SECTIONS for i in self.sections[s]]

    @property
    def expected(self) -> int | None:
        """How many entries the page says it lists (total, else the sum of the sections' counts)."""
        if self.total is not None:
            return self.total
        return sum(self.declared.values()) if self.declared else None

    def section_of(self, arxiv_id: str) -> str | None:
        return next((s for s in SECTIONS if arxiv_id in self.sections[s]), None)


def _iso_day(text: str) -> str:
    m = _DATELINE.search(text)
    if not m:
        return ""
    try:
        return datetime.strptime(m.group(1), "%d %B %Y").date().isoformat()
    except ValueError:
        try:
            return datetime.strptime(m.group(1), "%d %b %Y").date().isoformat()
        except ValueError:
            return ""


def _id_of(dt) -> str | None:
    for a in dt.css("a"):
        href = a.attributes.get("href") or ""
        title = (a.attributes.get("title") or "").lower()
        if "/abs/" in href or title == "abstract":
            try:
                return parse_arxiv_id(href.split("/abs/")[-1] if "/abs/" in href else a.text(strip=True))[0]
            except ValueError:
                continue
    text = dt.text(separator=" ", strip=True)
    m = re.search(r"arXiv:(\S+)", text)
    if m:
        try:
            return parse_arxiv_id(m.group(1))[0]
        except ValueError:
            return None
    return None


def _field(dd, selector: str) -> str:
    node = dd.css_first(selector)
    if node is None:
        return ""
    text = node.text(separator=" ", strip=True)
    return re.sub(r"^(Title|Authors|Comments|Subjects):\s*", "", re.sub(r"\s+", " ", text)).strip()


def _details(dd) -> dict:
    """Title, authors, comments, subjects (codes) and abstract of one entry's <dd>."""
    subjects = _field(dd, ".list-subjects")
    return {
        "title": _field(dd, ".list-title"),
        "authors": [a.text(strip=True) for a in dd.css(".list-authors a")],
        "comment": _field(dd, ".list-comments"),
        "categories": re.findall(r"\(([a-z\-]+(?:\.[A-Za-z\-]+)?)\)", subjects),
        "abstract": _field(dd, "p.mathjax"),
    }


def parse_listing(html: str | bytes, category: str, *, url: str = "") -> Listing:
    """Parse one `/list/{category}/new` page; never raises."""
    if isinstance(html, bytes):
        html = html.decode("utf-8", "replace")
    result = Listing(category, url=url)
    if not html.strip():
        result.status, result.reason = "error", "empty response instead of a listing page"
        return result
    tree = HTMLParser(html)
    root = tree.css_first("#dlpage") or tree.body
    if root is None:
        result.status, result.reason = "error", "not a listing page (no body)"
        return result
    page_text = root.text(separator=" ", strip=True)
    dateline = tree.css_first(".list-dateline")
    result.date = _iso_day(dateline.text(separator=" ", strip=True) if dateline else "") or _iso_day(page_text[:400])
    m = _TOTAL.search(page_text)
    if m:
        result.total = int(m.group(1))

    section: str | None = None
    headings = 0
    for node in root.traverse(include_text=False):
        if node.tag == "h3":
            text = node.text(separator=" ", strip=True)
            section = _section_of(text)
            if section is not None:
                headings += 1
                shown = _SHOWING.search(text)
                if shown:
                    result.declared[section] = result.declared.get(section, 0) + int(shown.group(2))
        elif node.tag == "dt" and section is not None:
            arxiv_id = _id_of(node)
            if arxiv_id and arxiv_id not in result.sections[section]:
                result.sections[section].append(arxiv_id)
                dd = node.next
                while dd is not None and dd.tag not in ("dd", "dt", "h3"):
                    dd = dd.next
                if dd is not None and dd.tag == "dd":
                    result.details[arxiv_id] = _details(dd)

    read = len(result.ids)
    expected = result.expected
    counts = ", ".join(f"{s} {len(result.sections[s])}" for s in SECTIONS)
    if read == 0:
        if expected:
            result.status = "error"
            result.reason = f"listing parse broken: the page says {expected} entries, none could be read"
        elif expected == 0 or "no updates" in page_text.lower() or headings:
            result.status, result.reason = "empty", "the listing announces nothing for this day"
        else:
            result.status = "error"
            result.reason = "not a listing page (no sections, no entry count)"
        return result
    result.status = "ok"
    result.reason = f"{read} listed ({counts})"
    if expected is not None and expected != read:
        result.reason += f"; the page says {expected} entries (partial parse or truncated page)"
    return result


# ------------------------------------------------------------------------------------------ cross-check
@dataclass
class SourceCheck:
    """What the feed and the listing of one category and day say, side by side."""

    category: str
    day: str
    feed_ids: list[str]
    listing_ids: list[str]
    verdict: Literal["agree", "disagree", "feed only", "listing only", "feed off day", "stale feed", "empty", "failed"]
    only_feed: list[str] = field(default_factory=list)
    only_listing: list[str] = field(default_factory=list)
    stale_ids: list[str] = field(default_factory=list)  # feed ids that were yesterday's batch
    trusted: list[str] = field(default_factory=list)  # the ids taken for the day (union of trusted sources)
    note: str = ""


def cross_check(feed, listing: Listing | None, previous_ids: set[str] | None = None) -> SourceCheck:
    """Compare a `FeedResult` with a `Listing` (None: the listing is not read)."""
    category = feed.category
    feed_ids = list(dict.fromkeys(m.arxiv_id for m in feed.entries))
    listing_ids = list(listing.ids) if listing is not None and listing.status == "ok" else []
    day = (listing.date if listing is not None and listing.date else "") or feed.feed_date
    previous_ids = previous_ids or set()
    stale_ids = [i for i in feed_ids if i in previous_ids]
    stale = bool(feed_ids) and len(stale_ids) > STALE_SHARE * len(feed_ids)
    older = bool(listing is not None and listing.date and feed.feed_date and feed.feed_date < listing.date)
    if feed_ids and (stale or older):
        why = (f"{len(stale_ids)} of its {len(feed_ids)} ids were already announced the day before"
               if stale else f"its date {feed.feed_date} is older than the listing's {listing.date}")
        check = SourceCheck(category, day, feed_ids, listing_ids, "stale feed", stale_ids=stale_ids,
                            trusted=listing_ids, note=f"feed stale, not trusted: {why}")
        if not listing_ids:
            check.note += "; no listing to fall back on"
        return check
    listing_ok = listing is not None and listing.status in ("ok", "empty")
    if (not feed_ids and feed.status == "empty" and listing is not None and listing.status == "ok"
            and listing.date and feed.feed_date and feed.feed_date > listing.date):
        # a weekend or holiday: the feed is dated today and empty (<skipDays>), the listing still shows the last
        # announcement; the feed did not miss its ids, it is about another day
        return SourceCheck(category, day, [], listing_ids, "feed off day", trusted=listing_ids,
                           note=f"no feed for {listing.date}: the feed of {feed.feed_date} is empty (no announcement "
                                "that day: weekend or holiday); the listing's ids taken")
    if not feed.ok and feed.status != "empty":
        if listing is not None and listing.status == "ok":
            return SourceCheck(category, day, [], listing_ids, "listing only", only_listing=listing_ids,
                               trusted=listing_ids, note=f"feed failed ({feed.reason}); the listing's ids taken")
        return SourceCheck(category, day, [], listing_ids, "failed",
                           note=f"feed failed ({feed.reason})"
                           + (f"; listing failed ({listing.reason})" if listing is not None else ""))
    if listing is None or not listing_ok:
        note = "" if listing is None else f"listing unusable ({listing.reason}); the feed alone"
        verdict = "empty" if not feed_ids else "feed only"
        return SourceCheck(category, day, feed_ids, [], verdict, trusted=feed_ids, note=note)
    only_feed = [i for i in feed_ids if i not in set(listing_ids)]
    only_listing = [i for i in listing_ids if i not in set(feed_ids)]
    union = list(dict.fromkeys(feed_ids + listing_ids))
    if not union:
        return SourceCheck(category, day, [], [], "empty", note="both sources announce nothing")
    if not only_feed and not only_listing:
        return SourceCheck(category, day, feed_ids, listing_ids, "agree", trusted=union)
    parts = []
    if only_listing:
        parts.append(f"only the listing had {len(only_listing)}: {', '.join(only_listing[:10])}")
    if only_feed:
        parts.append(f"only the feed had {len(only_feed)}: {', '.join(only_feed[:10])}")
    return SourceCheck(category, day, feed_ids, listing_ids, "disagree", only_feed=only_feed,
                       only_listing=only_listing, trusted=union, note="sources disagree, union taken; " + "; ".join(parts))
