"""Turn what the user asked for (ids, paths, a query, today's feeds, the sample day) into a plan:
the papers to index and the decisions already taken (filtered out, unknown id, …) with their reasons.

Network is touched only for what is not already indexed: a re-run over a finished day asks arXiv for the
feeds and nothing else.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from indexes.catalog import Catalog
from ingest.arxiv_ids import find_arxiv_stamp, parse_arxiv_id
from ingest.pipeline import Candidate
from paperrag.progress import NullProgress, ProgressSink
from paperrag.records import Action, PaperMeta
from paperrag.settings import Settings

SAMPLE_DAY = Path(__file__).resolve().parent / "sample_day"


@dataclass
class Plan:
    command: str
    candidates: list[Candidate] = field(default_factory=list)
    pre_decisions: list[tuple[str, Action, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    offline: bool = False  # every remote source was unreachable
    feed_date: str = ""  # announcement day of the feeds, when read from feeds
    receipts: list[dict] = field(default_factory=list)  # per category and day: what each source said (see receipt())
    probes: int = 0  # HTTP attempts made to reach the feeds (an unreachable host: one, then offline)
    updates: dict[str, str] = field(default_factory=dict)  # new key -> the key of the version we already have


def sample_settings(settings: Settings) -> Settings:
    """The user's settings with the sample day's sources (categories, keywords)."""
    with open(SAMPLE_DAY / "paperrag.toml", "rb") as fh:
        sources = tomllib.load(fh)["sources"]
    return settings.model_copy(update={"sources": settings.sources.model_copy(update=sources)})


def plan(
    settings: Settings,
    *,
    inputs: list[str] = (),
    query: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    max_results: int = 100,
    feed: bool = False,
    sample: bool = False,
    categories: list[str] | None = None,
    progress: ProgressSink | None = None,
    api=None,
    feed_reader=None,
    catalog: Catalog,
) -> Plan:
    """Candidates and the decisions taken up front (bad inputs, filtered feed entries). `catalog` tells what is
    already indexed: nothing already there is fetched again."""
    progress = progress or NullProgress()
    words = ["ingest", *inputs]
    if query:
        words += ["--query", repr(query)]
    if feed or sample:
        words.append("--sample" if sample else "--feed")
    result = Plan(command=" ".join(words))

    ids: list[str] = []
    for raw in inputs:
        path = Path(raw).expanduser()
        if path.exists():
            _plan_local(result, path)
            continue
        try:
            parse_arxiv_id(raw)
            ids.append(raw)
        except ValueError:
            result.pre_decisions.append(
                (raw, Action.FAILED, f"not an arXiv id and no such file or folder: {raw}", ""))
    if ids:
        _plan_ids(result, settings, catalog, ids, api)
    if query:
        api = api or _api(settings)
        progress.start("query", total=None, description=f"Searching arXiv: {query}")
        try:
            metas = api.search(query, date_from=date_from, date_to=date_to, max_results=max_results)
        except Exception as exc:  # the API client already retried; say why and go on with the rest
            result.notes.append(f"arXiv search failed: {exc}")
            result.offline = True
            metas = []
        progress.stop("query")
        result.notes.append(f"query {query!r}: {len(metas)} papers")
        result.candidates += [Candidate(m) for m in metas]
    if sample:
        _plan_feeds(result, settings, catalog, categories, progress, api=None, feed_reader=None, sample=True)
    elif feed:
        _plan_feeds(result, settings, catalog, categories, progress, api, feed_reader)
    return result


# --------------------------------------------------------------------------- local PDFs
def _plan_local(result: Plan, path: Path) -> None:
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() == ".pdf" and p.is_file()) if path.is_dir() else [path]
    if path.is_dir() and not files:
        result.pre_decisions.append((str(path), Action.FAILED, f"no PDF files in folder {path}", ""))
    for file in files:
        result.candidates.append(Candidate(local_meta(file), local_path=file))


def local_meta(path: Path) -> PaperMeta:
    """Metadata of a local PDF: the arXiv id, version, category and date from its stamp when it has one."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    meta = PaperMeta(arxiv_id=f"local:{digest[:12]}", version=1, source="local", local_path=str(path))
    stamp = _read_stamp(path)
    if stamp is not None:
        meta.arxiv_id = stamp.arxiv_id
        meta.version = stamp.version or 1
        meta.primary_category = stamp.category
        meta.categories = [stamp.category] if stamp.category else []
        meta.published = meta.updated = stamp.date
        meta.abs_url = f"https://arxiv.org/abs/{stamp.arxiv_id}v{meta.version}"
        meta.pdf_url = f"https://arxiv.org/pdf/{stamp.arxiv_id}v{meta.version}"
    return meta


def _read_stamp(path: Path):
    """The arXiv stamp of page 1 (vertical margin text), read without parsing the whole PDF."""
    try:
        import pymupdf

        with pymupdf.open(path) as doc:
            if doc.needs_pass or doc.page_count == 0:
                return None
            return find_arxiv_stamp(doc[0].get_text())
    except Exception:  # unreadable here: the pipeline reports the real reason when it parses the file
        return None


# --------------------------------------------------------------------------- ids
def _plan_ids(result: Plan, settings: Settings, catalog: Catalog, ids: list[str], api) -> None:
    to_fetch = []
    for raw in ids:
        arxiv_id, version = parse_arxiv_id(raw)
        if version is not None:
            row = catalog.get_paper(f"{arxiv_id}v{version}")
            if row is not None and row.status == "indexed":
                result.candidates.append(Candidate(row.meta))  # the pipeline says "already"
                continue
        to_fetch.append(raw)
    if not to_fetch:
        return
    api = api or _api(settings)
    try:
        metas, failures = api.by_ids(to_fetch)
    except Exception as exc:
        result.offline = True
        for raw in to_fetch:
            result.pre_decisions.append((raw, Action.FAILED, f"arXiv API unreachable: {exc}", ""))
        return
    result.candidates += [Candidate(m) for m in metas]
    for raw, reason in failures.items():
        result.pre_decisions.append((raw, Action.FAILED, reason, ""))


# --------------------------------------------------------------------------- feeds
def reason_bucket(reason: str) -> str:
    """A decision's reason without its details, to count reasons ('no keyword match', 'replacement', …)."""
    head = reason.split(" (")[0].split(": ")[-1] if reason.startswith("dropped: ") else reason.split(" (")[0]
    return head.split(" '")[0].strip() or "unknown"


def _stub_meta(arxiv_id: str, category: str, section: str, day: str, details: dict | None = None,
               pdf_url: str = "https://arxiv.org/pdf/{id}") -> PaperMeta:
    """What the listing page alone tells of a paper: its entry's title, authors, subjects, abstract (the API
    fills in the rest, the version included, when it answers)."""
    from ingest.text_clean import clean_abstract

    announce = {"new": "new", "cross": "cross", "replace": "replace"}.get(section or "", "new")
    d = details or {}
    categories = list(dict.fromkeys([*d.get("categories", []), category]))
    return PaperMeta(arxiv_id=arxiv_id, version=1, title=d.get("title", ""), authors=d.get("authors", []),
                     abstract=clean_abstract(d.get("abstract", "")), comment=d.get("comment", ""),
                     categories=categories, primary_category=categories[0] if announce == "new" else "",
                     announced=day, announce_type=announce, abs_url=f"https://arxiv.org/abs/{arxiv_id}",
                     pdf_url=pdf_url.format(id=arxiv_id), source="listing")


def _plan_feeds(result: Plan, settings: Settings, catalog: Catalog, categories, progress, api, feed_reader,
                *, sample: bool = False) -> None:
    from ingest.feeds import FeedResult, parse_feed
    from ingest.listing import cross_check

    categories = categories or settings.sources.categories
    progress.start("feeds", total=len(categories), description="Reading arXiv feeds")
    results: list[FeedResult] = []
    checks = []
    for i, category in enumerate(categories):
        listing = None
        if sample:
            path = SAMPLE_DAY / "rss" / f"{category}.xml"
            if not path.exists():
                result.notes.append(f"{category}: not part of the sample day")
                continue
            res = parse_feed(path.read_bytes(), category, url=str(path))
        else:
            feed_reader = feed_reader or _feed_reader(settings)
            res = feed_reader.fetch(category)
            result.probes += res.attempts
            if res.unreachable:  # DNS failure / network unreachable / refused: one probe, then offline at once
                rest = len(categories) - i - 1
                result.notes.append(f"arXiv unreachable ({res.reason}): one probe, no retries; "
                                    f"{rest} other categor{'y' if rest == 1 else 'ies'} not tried — going offline")
                result.offline = True
                progress.stop("feeds")
                return
            if getattr(feed_reader, "listing_url", "") and settings.fetch.listing_url:
                listing = feed_reader.fetch_listing(category)
                if listing.unreachable:
                    result.notes.append(f"{category}: listing page unreachable ({listing.reason}); the feed alone")
                    listing = None
        day = (listing.date if listing is not None and listing.date else "") or res.feed_date
        check = cross_check(res, listing, catalog.previous_intake_ids(category, day) if day and not sample else set())
        checks.append((res, listing, check))
        results.append(res)
        result.notes.append(f"{category}: {res.reason or res.status}" + (f"; {check.note}" if check.note else ""))
        if check.day:
            result.feed_date = max(result.feed_date, check.day)
        progress.advance("feeds")
    progress.stop("feeds")
    if results and all(r.status == "error" and c.verdict == "failed" for r, _, c in checks):
        result.offline = True
    _decide_entries(result, settings, catalog, checks, api, sample=sample)


def _decide_entries(result: Plan, settings: Settings, catalog: Catalog, checks, api, *, sample: bool = False) -> None:
    """From the checked sources of each category to candidates, decisions and receipts (one entry per paper)."""
    from ingest.feeds import FeedResult, merge_entries
    from ingest.filters import KeywordFilter

    # The entries of each category: the feed's (unless stale), plus what only the listing had (stubs).
    trusted_results = []
    for res, listing, check in checks:
        trusted = set(check.trusted)
        entries = [m for m in res.entries if m.arxiv_id in trusted]
        have = {m.arxiv_id for m in entries}
        for arxiv_id in check.trusted:
            if arxiv_id not in have:
                section = listing.section_of(arxiv_id) if listing is not None else None
                entries.append(_stub_meta(arxiv_id, res.category, section, check.day,
                                          listing.details.get(arxiv_id) if listing is not None else None,
                                          settings.fetch.pdf_url))
        trusted_results.append(FeedResult(res.category, entries, res.feed_date, res.status, res.reason, res.url))

    keyword_filter = KeywordFilter.from_settings(settings.sources)
    kept: list[PaperMeta] = []
    decided: dict[str, tuple[bool, str]] = {}
    merged = merge_entries(trusted_results)
    stubs = [m for m in merged if m.source == "listing"]
    enriched_stubs: dict[str, PaperMeta] = {}
    if stubs and not sample:  # titles and abstracts for what only the listing had, before filtering
        api = api or _api(settings)
        try:
            metas, _failures = api.by_ids([m.arxiv_id for m in stubs])
            enriched_stubs = {m.arxiv_id: m for m in metas}
        except Exception as exc:
            result.notes.append(f"arXiv API unreachable ({exc}); listing-only papers have no metadata")
    for meta in merged:
        if meta.source == "listing" and meta.arxiv_id in enriched_stubs:
            api_meta = enriched_stubs[meta.arxiv_id]
            api_meta.announced, api_meta.announce_type = meta.announced, meta.announce_type
            api_meta.categories = list(dict.fromkeys(api_meta.categories + meta.categories))
            api_meta.source = "listing"
            meta = api_meta
        have = None if sample else catalog.latest_indexed(meta.arxiv_id)
        if have is not None and meta.source == "listing" and meta.arxiv_id not in enriched_stubs:
            meta = have.meta  # the listing alone gives no version: the one we have (the pipeline says "already")
        if have is not None and have.version < meta.version:  # a paper we follow got a new version
            result.updates[meta.key] = have.key
            decided[meta.arxiv_id] = (True, "")
            kept.append(meta)
            continue
        decision = keyword_filter.decide(meta)
        if not decision.keep:
            result.pre_decisions.append((meta.key, Action.SKIPPED, decision.reason, meta.title))
            decided[meta.arxiv_id] = (False, decision.reason)
            continue
        limit = settings.sources.max_papers
        if limit and len(kept) >= limit:
            reason = f"over sources.max_papers={limit} for one run"
            result.pre_decisions.append((meta.key, Action.SKIPPED, reason, meta.title))
            decided[meta.arxiv_id] = (False, reason)
            continue
        decided[meta.arxiv_id] = (True, "")
        kept.append(meta)
    result.receipts = [receipt(res, listing, check, decided) for res, listing, check in checks]
    updated_ids = {parse_arxiv_id(k)[0] for k in result.updates}
    for r in result.receipts:
        r["updated"] = sorted(i for i in r["ids"] if i in updated_ids)

    if sample:
        for meta in kept:
            meta.source = "rss"
            pdf = SAMPLE_DAY / "pdfs" / f"{meta.key}.pdf"
            if pdf.exists():
                result.candidates.append(Candidate(meta, local_path=pdf))
            else:  # kept only because the sample day's own keywords were overridden
                result.pre_decisions.append(
                    (meta.key, Action.SKIPPED, "not part of the sample day (no bundled PDF)", meta.title))
        return

    # Metadata from the API for what is new to us (published date, comment, DOI); the feed's when unreachable.
    new = [m for m in kept if m.source not in ("listing", "api") and not _indexed(catalog, m.key)]
    enriched: dict[str, PaperMeta] = {}
    if new:
        api = api or _api(settings)
        try:
            metas, failures = api.by_ids([m.key for m in new])
            enriched = {m.key: m for m in metas}
            for key, reason in failures.items():
                result.notes.append(f"{key}: API metadata unavailable ({reason}); using the feed's")
        except Exception as exc:
            result.notes.append(f"arXiv API unreachable ({exc}); using the feeds' metadata")
    for meta in kept:
        api_meta = enriched.get(meta.key)
        if api_meta is not None:
            api_meta.announced, api_meta.announce_type, api_meta.source = (
                meta.announced, meta.announce_type, meta.source if meta.source == "listing" else "rss")
            api_meta.code_links = api_meta.code_links or meta.code_links
            meta = api_meta
        result.candidates.append(Candidate(meta))


# --------------------------------------------------------------------------- catch-up (missed announcement days)
CATCH_UP_MAX_DAYS = 7
_CUTOFF_ET = (14, 0)  # arXiv's daily submission deadline, 14:00 US Eastern
# arXiv's holidays, as its availability page lists them (https://info.arxiv.org/help/availability.html, source
# arXiv/arxiv-docs source/help/availability.md): on such a day there is no 14:00 ET deadline and no 20:00 ET
# announcement, so no listing/feed is dated the day after, and the submissions wait for the next announcement
# (arXiv's wording, December 2020: "no new submission announcement at 20:00 Eastern Sunday 27 December. Papers
# submitted after 14:00 Eastern on Thursday 24 December and before 14:00 Eastern on Monday 28 December will be
# announced at 20:00 Eastern on Monday 28 December"). To be extended when arXiv publishes a new year's list; a
# holiday missing here makes the catch-up fetch a day arXiv never announced (its papers then show up a day early).
ARXIV_HOLIDAYS = frozenset({
    "2025-01-01", "2025-01-20", "2025-06-19", "2025-07-06", "2025-09-01", "2025-11-27", "2025-12-25", "2025-12-30",
    "2026-01-01", "2026-01-19", "2026-06-19", "2026-07-03", "2026-09-07", "2026-11-26", "2026-12-25", "2026-12-29",
    "2026-12-31",
})


def _deadline_on_or_before(d):
    """The latest submission deadline (Monday–Friday 14:00 ET, not on a holiday) on or before the date `d`."""
    from datetime import timedelta

    while d.weekday() >= 5 or d.isoformat() in ARXIV_HOLIDAYS:
        d -= timedelta(days=1)
    return d


def _window_deadlines(day: str):
    """The deadlines (dates) that open and close the submissions announced in the listing dated `day`: it is
    announced the evening before (Sunday–Thursday 20:00 ET) and holds what came in after the deadline the
    previous announcement evening closed on, up to the latest deadline before its own evening."""
    from datetime import date, timedelta

    evening = date.fromisoformat(day) - timedelta(days=1)
    previous = evening - timedelta(days=1)
    while previous.weekday() in (4, 5) or previous.isoformat() in ARXIV_HOLIDAYS:  # no Fri/Sat announcements
        previous -= timedelta(days=1)
    return _deadline_on_or_before(previous), _deadline_on_or_before(evening)


def is_announcement_day(day: str) -> bool:
    """arXiv dates a listing and a feed `day`: a weekday whose evening before was an announcement (not a
    holiday) with submissions to announce (a holiday Friday leaves the next Monday without one)."""
    from datetime import date, timedelta

    d = date.fromisoformat(day)
    if d.weekday() >= 5 or (d - timedelta(days=1)).isoformat() in ARXIV_HOLIDAYS:
        return False
    opened, closed = _window_deadlines(day)
    return closed > opened


def announcement_days(after: str, before: str, *, limit: int = CATCH_UP_MAX_DAYS) -> list[str]:
    """The announcement days strictly between `after` and `before` (Monday–Friday, less the days arXiv's holidays
    leave without an announcement), the latest `limit` of them."""
    from datetime import date, timedelta

    start, end = date.fromisoformat(after), date.fromisoformat(before)
    days = []
    d = start + timedelta(days=1)
    while d < end:
        if is_announcement_day(d.isoformat()):
            days.append(d.isoformat())
        d += timedelta(days=1)
    return days[-limit:] if limit else days


def submission_window(day: str) -> tuple[str, str]:
    """The submittedDate window (GMT, YYYYMMDDHHMM) of the papers announced on `day`: from the deadline that closed
    the previous announcement to the latest deadline before `day`'s announcement evening (14:00 US Eastern), so
    normally from two business days before to the business day before, longer after a holiday."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    eastern, utc = ZoneInfo("America/New_York"), ZoneInfo("UTC")

    def cutoff(d) -> str:
        local = datetime(d.year, d.month, d.day, *_CUTOFF_ET, tzinfo=eastern)
        return local.astimezone(utc).strftime("%Y%m%d%H%M")

    opened, closed = _window_deadlines(day)
    return cutoff(opened), cutoff(closed)


def catch_up_query(category: str, day: str) -> str:
    start, end = submission_window(day)
    return f"cat:{category} AND submittedDate:[{start} TO {end}]"


def plan_catch_up(settings: Settings, day: str, *, catalog: Catalog, categories=None, api=None,
                  progress: ProgressSink | None = None) -> Plan:
    """A missed announcement day from the arXiv API (its submission window per category, paced by the API
    client), each paper marked with that announcement day; receipts like a feed day's (source: the API)."""
    from ingest.feeds import FeedResult
    from ingest.listing import SourceCheck

    progress = progress or NullProgress()
    categories = list(categories or settings.sources.categories)
    result = Plan(command=f"daily --catch-up {day}", feed_date=day)
    api = api or _api(settings)
    checks = []
    progress.start("catch-up", total=len(categories), description=f"Catching up {day}")
    for category in categories:
        query = catch_up_query(category, day)
        try:
            metas = api.search(query, max_results=settings.sources.catch_up_max_papers or None,
                               sort_by="submittedDate", sort_order="ascending")
            res = FeedResult(category, status="ok" if metas else "empty",
                             reason=f"{len(metas)} papers from the arXiv API ({query})", url=query)
        except Exception as exc:  # say why and leave the day open (the watermark stays)
            metas = []
            res = FeedResult(category, status="error", reason=f"arXiv API: {exc}", url=query)
        for meta in metas:
            meta.announced = day
            meta.announce_type = "new" if meta.primary_category in ("", category) else "cross"
            meta.categories = list(dict.fromkeys([*meta.categories, category]))
            meta.source = "api"
        res.entries, res.feed_date = metas, day
        ids = list(dict.fromkeys(m.arxiv_id for m in metas))
        verdict = "failed" if res.status == "error" else ("api" if ids else "empty")
        check = SourceCheck(category, day, ids, [], verdict, trusted=ids,
                            note=res.reason if res.status == "error" else "")
        checks.append((res, None, check))
        result.notes.append(f"{category} {day}: {res.reason}")
        progress.advance("catch-up")
    progress.stop("catch-up")
    _decide_entries(result, settings, catalog, checks, api)
    for r in result.receipts:
        r["source"] = "arXiv API (catch-up)"
    return result


def receipt(feed, listing, check, decided: dict[str, tuple[bool, str]]) -> dict:
    """The receipt of one category and day, before the ingest run (`finish_receipts` adds what the run did)."""
    types = {"new": 0, "cross": 0, "replace": 0}
    by_id = {m.arxiv_id: m for m in feed.entries}
    for arxiv_id in check.trusted:
        section = listing.section_of(arxiv_id) if listing is not None and listing.status == "ok" else None
        if section is None:
            announce = by_id[arxiv_id].announce_type if arxiv_id in by_id else "new"
            section = "replace" if announce.startswith("replace") else "cross" if "cross" in announce else "new"
        types[section] += 1
    dropped: dict[str, int] = {}
    kept = []
    for arxiv_id in check.trusted:
        keep, reason = decided.get(arxiv_id, (False, "not decided"))
        if keep:
            kept.append(arxiv_id)
        else:
            dropped[reason_bucket(reason)] = dropped.get(reason_bucket(reason), 0) + 1
    listing_part = None
    if listing is not None:
        listing_part = {"status": listing.status, "announced": len(listing.ids), "declared": listing.expected,
                        "reason": listing.reason, "date": listing.date}
    return {
        "category": feed.category, "day": check.day,
        "feed": {"status": feed.status, "announced": len(check.feed_ids), "reason": feed.reason,
                 "date": feed.feed_date},
        "listing": listing_part,
        "sources": check.verdict, "sources_note": check.note,
        "only_feed": check.only_feed, "only_listing": check.only_listing, "stale_ids": check.stale_ids,
        "ids": list(check.trusted), "types": types, "kept_ids": kept, "kept": len(kept), "dropped": dropped,
        "already": 0, "failed": 0, "indexed": 0, "verdict": "", "why": "",
    }


def finish_receipts(receipts: list[dict], decisions) -> list[dict]:
    """Fill each receipt with what the ingest run did (indexed / already known / failed) and its verdict."""
    by_id: dict[str, str] = {}
    for d in decisions:
        action = d.action.value if hasattr(d.action, "value") else str(d.action)
        try:
            by_id[parse_arxiv_id(d.paper)[0]] = action
        except ValueError:
            pass
    for r in receipts:
        kept = r["kept_ids"]
        r["already"] = sum(1 for i in kept if by_id.get(i) == "already")
        r["failed"] = sum(1 for i in kept if by_id.get(i) == "failed")
        r["indexed"] = sum(1 for i in kept if by_id.get(i) in ("kept", "replaced"))
        r["verdict"], r["why"] = _verdict(r)
    return receipts


def day_completed(receipts: list[dict]) -> bool:
    """Every category of the day is complete, or empty because arXiv announced nothing (not because a fetch
    failed): the watermark may move past that day."""
    return bool(receipts) and all(
        r["verdict"] == "complete" or (r["verdict"] == "empty" and r["sources"] != "failed") for r in receipts)


def _verdict(r: dict) -> tuple[str, str]:
    listing = r.get("listing") or {}
    if r["sources"] == "failed":
        return "empty", f"nothing could be read: {r['sources_note']}"
    if not r["ids"]:
        if r["sources"] == "stale feed":
            return "partial", r["sources_note"]
        if r["sources"] == "empty" and r["feed"]["status"] == "empty" and "API" in r["feed"]["reason"]:
            return "empty", "the arXiv API has no submission for this announcement day (holiday?)"
        return "empty", "arXiv announced nothing (weekend/holiday: " + (
            "the listing confirms it)" if listing.get("status") == "empty" else "the feed is empty)")
    why, notes = [], []
    if r["sources"] == "listing only" or (r["sources"] == "stale feed" and not r["listing"]):
        why.append(r["sources_note"])
    elif r["sources"] in ("disagree", "stale feed", "feed off day"):
        notes.append(r["sources_note"])
    if listing and listing.get("status") == "error":
        why.append(f"listing unusable: {listing.get('reason')}")
    if listing and listing.get("declared") is not None and listing.get("status") == "ok" \
            and listing["declared"] != listing["announced"]:
        why.append(f"the listing says {listing['declared']} entries, {listing['announced']} read")
    if r["failed"]:
        why.append(f"{r['failed']} paper(s) failed")
    return ("partial", "; ".join(why + notes)) if why else ("complete", "; ".join(notes))


def _indexed(catalog: Catalog, key: str) -> bool:
    row = catalog.get_paper(key)
    return row is not None and row.status == "indexed"


def _api(settings: Settings):
    from ingest.arxiv_api import ArxivApi

    return ArxivApi.from_settings(settings.fetch)


def _feed_reader(settings: Settings):
    from ingest.feeds import FeedReader

    return FeedReader.from_settings(settings.fetch)
