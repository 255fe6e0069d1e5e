"""The day's announcements per category from arXiv's RSS (or Atom) feeds.

`FeedReader.fetch(category)` never raises for a bad feed: it returns a `FeedResult` whose `status` is
"ok", "empty" (weekend/holiday: arXiv sends a channel without items, see <skipDays>) or "error" (HTTP error
after retries, malformed XML, not a feed), with a `reason` a person can read.

Item layout (docs/rss_specifications.md): <guid>oai:arXiv.org:2203.01250v3</guid>,
<description>arXiv:2203.01250v3 Announce Type: replace-cross Abstract: ...</description>,
<arxiv:announce_type>, <dc:creator>A, B</dc:creator>, <category>..., <dc:rights>, <arxiv:DOI>, <pubDate>.
Parsed with feedparser, HTML sanitising off: abstracts hold "x<y" and "$a<b$", which the sanitiser eats.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
import xml.sax
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

import feedparser
import httpx

from ingest.arxiv_ids import format_id, parse_arxiv_id
from ingest.http import (
    ACCEPT_FEED,
    ACCEPT_HTML,
    DEFAULT_USER_AGENT,
    Attempts,
    Pacer,
    describe_error,
    is_unreachable,
    make_client,
    send,
)
from ingest.text_clean import (
    clean_abstract,
    collapse_ws,
    extract_code_links,
    fix_text,
    split_rss_description,
)
from paperrag.records import PaperMeta

if TYPE_CHECKING:
    from paperrag.settings import FetchSettings

log = logging.getLogger(__name__)

EMPTY_REASON = "no announcements (arXiv publishes no feed on weekends/holidays: skipDays)"
ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross")
DEFAULT_RSS_URL = "https://rss.arxiv.org/rss/{category}"
DEFAULT_LISTING_URL = "https://arxiv.org/list/{category}/new"
DEFAULT_PDF_URL = "https://arxiv.org/pdf/{id}"


@dataclass
class FeedResult:
    category: str
    entries: list[PaperMeta] = field(default_factory=list)
    feed_date: str = ""  # ISO date of the announcement day (channel pubDate / Atom updated), "" if unknown
    status: Literal["ok", "empty", "error"] = "ok"
    reason: str = ""
    url: str = ""
    skipped: list[str] = field(default_factory=list)  # items that could not be read, with the reason
    unreachable: bool = False  # the host could not be reached at all (DNS, network, refused): go offline
    attempts: int = 0  # HTTP attempts made for this feed

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# ------------------------------------------------------------------------------------------ parsing
def _iso_date(raw: str | None, parsed: time.struct_time | None = None) -> str:
    """RFC 822 ('Fri, 23 Feb 2024 00:00:00 -0500') or ISO 8601; the date as written (feed's own zone)."""
    if raw:
        raw = raw.strip()
        try:
            return email.utils.parsedate_to_datetime(raw).date().isoformat()
        except (TypeError, ValueError, IndexError):
            pass
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).date().isoformat()
        except ValueError:
            pass
    if parsed:
        return date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday).isoformat()
    return ""


def split_authors(creator: str) -> list[str]:
    """'A, B, and C' / 'A and B' -> ['A', 'B', 'C']."""
    parts = re.split(r"\s*,\s*|\s+and\s+", collapse_ws(creator))
    out = []
    for p in parts:
        p = re.sub(r"^and\s+", "", p).strip()
        if p:
            out.append(p)
    return out


_LEGACY_TITLE_SUFFIX = re.compile(r"\s*\(arXiv:\S+\s*\[[^\]]*\][^)]*\)\s*$")


def _fatal_bozo(exc: BaseException | None) -> bool:
    """Encoding overrides and content-type notes are harmless; broken XML is not."""
    if exc is None:
        return False
    harmless = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
    return not isinstance(exc, harmless)


def _entry_to_meta(entry, category: str, pdf_url_template: str) -> PaperMeta:
    raw_desc = entry.get("summary", "") or ""
    prefix_id, prefix_type, _ = split_rss_description(raw_desc)

    arxiv_id, version = None, None
    for candidate in (entry.get("id"), prefix_id and f"arXiv:{prefix_id}", entry.get("link")):
        if not candidate:
            continue
        try:
            arxiv_id, version = parse_arxiv_id(candidate)
        except ValueError:
            continue
        if version is None and prefix_id:  # guid without version: the description still has one
            try:
                version = parse_arxiv_id(prefix_id)[1]
            except ValueError:
                pass
        break
    if arxiv_id is None:
        raise ValueError(f"no arXiv id in item (guid={entry.get('id')!r}, link={entry.get('link')!r})")
    version = version or 1

    announce_type = (entry.get("arxiv_announce_type") or prefix_type or "").strip().lower()
    categories = [t.get("term", "").strip() for t in entry.get("tags", []) if t.get("term")]
    creators = [a.get("name", "") for a in entry.get("authors", []) if a.get("name")] or [entry.get("author", "")]
    authors = [name for c in creators if c for name in split_authors(c)]
    abstract = clean_abstract(raw_desc)
    title = _LEGACY_TITLE_SUFFIX.sub("", collapse_ws(fix_text(entry.get("title", ""))))
    primary = category if announce_type in ("new", "replace") and category in categories else ""
    return PaperMeta(
        arxiv_id=arxiv_id,
        version=version,
        title=title,
        authors=authors,
        abstract=abstract,
        categories=categories,
        primary_category=primary,
        announced=_iso_date(entry.get("published"), entry.get("published_parsed")),
        announce_type=announce_type,
        pdf_url=pdf_url_template.format(id=format_id(arxiv_id, version)),
        abs_url=entry.get("link") or f"https://arxiv.org/abs/{arxiv_id}",
        code_links=extract_code_links(abstract),
        license=(entry.get("rights") or "").strip(),
        doi=(entry.get("arxiv_doi") or "").strip(),
        source="rss",
    )


def parse_feed(
    content: bytes | str, category: str, *, pdf_url_template: str = DEFAULT_PDF_URL, url: str = ""
) -> FeedResult:
    """Parse one RSS 2.0 or Atom document of rss.arxiv.org; never raises."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    result = FeedResult(category=category, url=url)
    if not content.strip():
        result.status, result.reason = "error", "empty response instead of a feed"
        return result
    parsed = feedparser.parse(content, sanitize_html=False, resolve_relative_uris=False)
    exc = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if _fatal_bozo(exc):
        where = ""
        if isinstance(exc, xml.sax.SAXParseException):
            where = f" at line {exc.getLineNumber()}, column {exc.getColumnNumber()}"
        msg = exc.getMessage() if isinstance(exc, xml.sax.SAXParseException) else str(exc)
        result.status, result.reason = "error", f"malformed feed XML: {msg}{where}"
        return result
    if not parsed.get("version"):
        snippet = collapse_ws(re.sub(r"<[^>]+>", " ", content[:300].decode("utf-8", "replace")))[:120]
        result.status, result.reason = "error", f"not an RSS/Atom feed (starts with {snippet!r})"
        return result

    feed = parsed.get("feed", {})
    result.feed_date = _iso_date(feed.get("published"), feed.get("published_parsed")) or _iso_date(
        feed.get("updated"), feed.get("updated_parsed")
    )
    for entry in parsed.get("entries", []):
        try:
            meta = _entry_to_meta(entry, category, pdf_url_template)
        except ValueError as err:
            result.skipped.append(str(err))
            log.warning("%s: skipping feed item: %s", category, err)
            continue
        if not meta.announced:
            meta.announced = result.feed_date
        result.entries.append(meta)
    if not result.entries:
        if result.skipped:
            result.status = "error"
            result.reason = f"no readable items ({len(result.skipped)} skipped: {result.skipped[0]})"
        else:
            result.status, result.reason = "empty", EMPTY_REASON
    else:
        result.status = "ok"
        result.reason = f"{len(result.entries)} announcements"
        if result.skipped:
            result.reason += f" ({len(result.skipped)} items skipped)"
    return result


def merge_entries(results: Iterable[FeedResult]) -> list[PaperMeta]:
    """All entries of several feeds, one per arXiv id: a paper cross-listed in two of our categories is
    announced twice; the non-cross announcement wins and the categories are merged."""
    by_id: dict[str, PaperMeta] = {}
    for res in results:
        for meta in res.entries:
            have = by_id.get(meta.arxiv_id)
            if have is None:
                by_id[meta.arxiv_id] = meta
                continue
            if "cross" in have.announce_type and "cross" not in meta.announce_type:
                meta.categories = list(dict.fromkeys(meta.categories + have.categories))
                by_id[meta.arxiv_id] = meta
            else:
                have.categories = list(dict.fromkeys(have.categories + meta.categories))
    return list(by_id.values())


# ------------------------------------------------------------------------------------------ fetching
class FeedReader:
    """Fetches feeds over HTTP with our User-Agent, pacing and retry policy (429/5xx/timeouts)."""

    def __init__(
        self,
        rss_url: str = DEFAULT_RSS_URL,
        pdf_url: str = DEFAULT_PDF_URL,
        *,
        listing_url: str = DEFAULT_LISTING_URL,
        delay_s: float = 3.0,
        retries: int = 5,
        backoff_s: float = 3.0,
        timeout_s: float = 30.0,
        user_agent: str = DEFAULT_USER_AGENT,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        pacer: Pacer | None = None,
    ):
        self.rss_url = rss_url
        self.listing_url = listing_url
        self.pdf_url = pdf_url
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self._own_client = client is None
        self.client = client or make_client(user_agent, timeout_s, accept=ACCEPT_FEED)
        self.sleep = sleep
        self.pacer = pacer or Pacer(delay_s, sleep=sleep)

    @classmethod
    def from_settings(cls, fetch: FetchSettings, **kwargs) -> FeedReader:
        return cls(
            fetch.rss_url,
            fetch.pdf_url,
            listing_url=fetch.listing_url,
            delay_s=fetch.delay_s,
            retries=fetch.retries,
            backoff_s=fetch.backoff_s,
            timeout_s=fetch.timeout_s,
            user_agent=fetch.user_agent,
            **kwargs,
        )

    def url_for(self, category: str) -> str:
        return self.rss_url.format(category=category)

    def fetch(self, category: str) -> FeedResult:
        url = self.url_for(category)
        attempts = Attempts()
        try:
            response = send(
                self.client,
                url,
                retries=self.retries,
                backoff_s=self.backoff_s,
                pacer=self.pacer,
                sleep=self.sleep,
                attempts=attempts,
                accept=ACCEPT_FEED,
            )
        except Exception as err:  # noqa: BLE001 - a bad feed must never raise
            return FeedResult(category, status="error", reason=describe_error(err, attempts.count), url=url,
                              unreachable=is_unreachable(err), attempts=attempts.count)
        if response.status_code != 200:
            reason = f"HTTP {response.status_code} {response.reason_phrase} from {url}".rstrip()
            body = collapse_ws(re.sub(r"<[^>]+>", " ", response.text[:500]))[:160]
            if body:
                reason += f": {body}"
            return FeedResult(category, status="error", reason=reason, url=url, attempts=attempts.count)
        result = parse_feed(response.content, category, pdf_url_template=self.pdf_url, url=url)
        result.attempts = attempts.count
        return result

    def fetch_listing(self, category: str):
        """The listing page `/list/{category}/new` parsed (`ingest.listing.Listing`); never raises."""
        from ingest.listing import Listing, parse_listing

        url = self.listing_url.format(category=category)
        attempts = Attempts()
        try:
            response = send(self.client, url, retries=self.retries, backoff_s=self.backoff_s, pacer=self.pacer,
                            sleep=self.sleep, attempts=attempts, accept=ACCEPT_HTML)
        except Exception as err:  # noqa: BLE001 - a bad page must never raise
            return Listing(category, url=url, status="error", reason=describe_error(err, attempts.count),
                           unreachable=is_unreachable(err))
        if response.status_code != 200:
            return Listing(category, url=url, status="error",
                           reason=f"HTTP {response.status_code} {response.reason_phrase} from {url}".rstrip())
        return parse_listing(response.text, category, url=url)

    def fetch_all(self, categories: Iterable[str]) -> list[FeedResult]:
        return [self.fetch(c) for c in categories]

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def __enter__(self) -> FeedReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def fetch_feed(category: str, fetch: FetchSettings, **kwargs) -> FeedResult:
    """One-shot convenience: `FeedReader.from_settings(fetch).fetch(category)`."""
    with FeedReader.from_settings(fetch, **kwargs) as reader:
        return reader.fetch(category)
