"""Intake: the Accept header, 406 handled like 429/503, an unreachable arXiv probed once then the offline path,
the listing page parsed and cross-checked with the RSS feed (disagreement, stale feed, broken parse vs empty
day), the run receipt. Everything against 127.0.0.1 fixtures."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from fakes.http_server import RSS, ArxivStandIn, Response

from indexes.catalog import Catalog
from ingest import sources
from ingest.arxiv_api import ArxivApi
from ingest.download import PdfCache
from ingest.feeds import FeedReader, parse_feed
from ingest.http import is_unreachable
from ingest.listing import cross_check, parse_listing
from paperrag.settings import Settings

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FEED = (FIXTURES / "feeds" / "rss_cs.AI_2025-12-25.xml").read_bytes()
LISTING = (FIXTURES / "listing" / "new_cs.AI_2025-12-25.html").read_text()
FEED_IDS = ["2512.20276", "2512.20014", "2512.20188", "2511.14396", "2512.21118", "2512.05107"]
HTML = "text/html; charset=utf-8"


def _settings(tmp_path, arxiv: ArxivStandIn | None, *, listing: bool = True, categories=("cs.AI",), **fetch):
    base = Settings(home=tmp_path / "home")
    f = {"delay_s": 0.0, "backoff_s": 0.0, "retries": 3}
    if arxiv is not None:
        f |= {"rss_url": arxiv.rss_url, "api_url": arxiv.api_url, "pdf_url": arxiv.pdf_url,
              "listing_url": arxiv.listing_url if listing else ""}
    f |= fetch
    return base.model_copy(update={
        "fetch": base.fetch.model_copy(update=f),
        "sources": base.sources.model_copy(update={"categories": list(categories), "keywords": [],
                                                   "negative_keywords": []})})


def _listing(arxiv: ArxivStandIn, category: str, html: str) -> None:
    arxiv.listing(category, html)


# ------------------------------------------------------------------------------------------ HTTP behaviour
def test_every_arxiv_request_names_what_it_accepts(arxiv_server, tmp_path):
    arxiv_server.feed("cs.AI", FEED)
    _listing(arxiv_server, "cs.AI", LISTING)
    arxiv_server.replay("id_1605.08386", keys=("id_list",))
    arxiv_server.pdf("1605.08386v1", b"%PDF-1.4\n" + b"x" * 2000 + b"\n%%EOF\n")
    with FeedReader(arxiv_server.rss_url, listing_url=arxiv_server.url + "/list/{category}/new", delay_s=0) as r:
        assert r.fetch("cs.AI").ok and r.fetch_listing("cs.AI").status == "ok"
    with ArxivApi(arxiv_server.api_url, delay_s=0) as api:
        api.by_ids(["1605.08386"])
    with PdfCache(tmp_path / "pdfs", delay_s=0) as cache:
        cache.fetch(arxiv_server.url + "/pdf/1605.08386v1")
    accepts = {r.path.split("/")[1]: r.headers.get("Accept", "") for r in arxiv_server.requests}
    assert accepts["rss"].startswith("application/rss+xml")
    assert accepts["list"].startswith("text/html")
    assert accepts["api"].startswith("application/atom+xml")
    assert accepts["pdf"].startswith("application/pdf")
    assert all(r.headers.get("Accept") not in (None, "*/*") for r in arxiv_server.requests)


def test_406_is_backed_off_like_429_honouring_retry_after(arxiv_server):
    arxiv_server.feed("cs.AI", [Response(406, "Not Acceptable", headers={"Retry-After": "7"}, content_type=HTML),
                                Response(200, FEED, content_type=RSS)])
    pauses: list[float] = []
    with FeedReader(arxiv_server.rss_url, delay_s=0, backoff_s=1, retries=3, sleep=pauses.append) as reader:
        result = reader.fetch("cs.AI")
    assert result.ok and result.attempts == 2 and len(result.entries) == 6
    assert arxiv_server.hits("/rss/cs.AI") == 2
    assert pauses and pauses[0] >= 7  # Retry-After wins over the 1 s backoff


def _refused_url() -> str:
    from fakes.http_server import free_port

    return f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused


def test_connection_refused_is_one_attempt_not_five():
    pauses: list[float] = []
    with FeedReader(_refused_url() + "/rss/{category}", delay_s=0, retries=5, backoff_s=3,
                    sleep=pauses.append) as reader:
        result = reader.fetch("cs.AI")
    assert result.status == "error" and result.unreachable and result.attempts == 1 and pauses == []
    assert "unreachable" in result.reason


def test_dns_failure_and_network_unreachable_count_as_unreachable_but_timeouts_do_not():
    assert is_unreachable(httpx.ConnectError("[Errno -2] Name or service not known"))
    assert is_unreachable(httpx.ConnectError("[Errno 101] Network is unreachable"))
    assert not is_unreachable(httpx.ConnectTimeout("timed out"))
    assert not is_unreachable(httpx.RemoteProtocolError("Server disconnected without sending a response."))


class _CountingTransport:
    """Counts every HTTP attempt paperrag makes (through httpx's transport), failing like `error` says."""

    def __init__(self, monkeypatch, error: Exception | None = None):
        self.calls: list[str] = []
        original = httpx.HTTPTransport.handle_request
        counter = self

        def handle(transport, request):
            counter.calls.append(str(request.url))
            if error is not None:
                raise error
            return original(transport, request)

        monkeypatch.setattr(httpx.HTTPTransport, "handle_request", handle)


@pytest.mark.parametrize("failure", ["refused", "dns"])
def test_daily_reaches_the_sample_day_after_one_probe(tmp_path, embedder, monkeypatch, failure):
    from fakes.llm import ValidWriterLLM

    from paperrag.library import Library

    if failure == "refused":
        base, error = _refused_url(), None
    else:  # getaddrinfo failing, as httpx reports it when the resolver cannot find arXiv
        base, error = "http://export.arxiv.invalid", httpx.ConnectError("[Errno -2] Name or service not known")
    settings = _settings(tmp_path, None, categories=("cs.RO", "cs.CV", "cs.AI"), retries=5, backoff_s=3.0,
                         rss_url=base + "/rss/{category}", api_url=base + "/api/query",
                         listing_url=base + "/list/{category}/new")
    counting = _CountingTransport(monkeypatch, error)
    started = time.perf_counter()
    plan = sources.plan(settings, feed=True, catalog=Catalog(settings.catalog_path))
    seconds = time.perf_counter() - started
    assert plan.offline and plan.probes == 1 and len(counting.calls) == 1
    assert sum("one probe" in n for n in plan.notes) == 1
    print(f"\n[{failure}] offline decided after {len(counting.calls)} request(s) in {seconds:.3f} s")

    counting.calls.clear()
    result = Library(settings, llm=ValidWriterLLM(), embedder=embedder).daily()
    assert result.sample and result.date == "2025-01-20" and len(result.digest.papers) == 3
    assert len(counting.calls) == 1, counting.calls  # one probe, no listing, no API, no other category
    assert any("one probe" in n for n in result.notes)


# ------------------------------------------------------------------------------------------ the listing page
def test_listing_page_sections_count_and_date():
    listing = parse_listing(LISTING, "cs.AI")
    assert listing.status == "ok" and listing.date == "2025-12-25" and listing.total == 7
    assert listing.sections == {"new": ["2512.20276", "2512.20999"],
                                "cross": ["2512.20014", "2512.20188", "2512.21118"],
                                "replace": ["2511.14396", "2512.05107"]}
    assert listing.declared == {"new": 2, "cross": 3, "replace": 2}


def test_listing_count_tells_a_broken_parse_from_an_empty_day():
    import re

    broken = re.sub(r"<dt>.*?</dt>", "<dt><span>entry</span></dt>", LISTING, flags=re.S)  # layout changed
    got = parse_listing(broken, "cs.AI")
    assert got.status == "error" and "says 7 entries" in got.reason
    empty = re.sub(r"<dl id='articles'>.*</dl>", "", LISTING, flags=re.S).replace("Total of 7", "Total of 0")
    got = parse_listing(empty, "cs.AI")
    assert got.status == "empty" and got.expected == 0
    assert parse_listing("<html><body><p>Service down</p></body></html>", "cs.AI").status == "error"


def test_feed_missing_an_id_the_listing_has_takes_the_union_and_says_which(arxiv_server, tmp_path):
    arxiv_server.feed("cs.AI", FEED)
    _listing(arxiv_server, "cs.AI", LISTING)
    settings = _settings(tmp_path, arxiv_server)
    plan = sources.plan(settings, feed=True, catalog=Catalog(settings.catalog_path))
    (r,) = plan.receipts
    assert r["sources"] == "disagree" and r["only_listing"] == ["2512.20999"] and r["only_feed"] == []
    assert r["feed"]["announced"] == 6 and r["listing"]["announced"] == 7 and r["listing"]["declared"] == 7
    assert r["types"] == {"new": 2, "cross": 3, "replace": 2}
    assert len(r["ids"]) == 7 and r["kept"] + sum(r["dropped"].values()) == 7
    assert plan.feed_date == "2025-12-25"
    assert any("only the listing had 1: 2512.20999" in n for n in plan.notes)
    keys = [c.meta.arxiv_id for c in plan.candidates] + [d[0].split("v")[0] for d in plan.pre_decisions]
    assert sorted(keys) == sorted(set(keys)), "nothing twice"
    assert "2512.20999" in keys


def test_agreeing_sources_are_complete():
    feed = parse_feed(FEED, "cs.AI")
    listing = parse_listing(LISTING.replace('id="2512.20999"', 'id="x"').replace("/abs/2512.20999", "/abs/2512.20276"),
                            "cs.AI")
    check = cross_check(feed, listing)
    assert check.verdict == "agree" and sorted(check.trusted) == sorted(FEED_IDS)


def test_stale_feed_is_flagged_and_not_trusted(arxiv_server, tmp_path):
    """The feed still serves yesterday's batch (the same ids as the previous announcement day stored in the
    catalog): flagged stale, its ids are not taken; the listing's are."""
    arxiv_server.feed("cs.AI", FEED.replace(b"25 Dec 2025", b"26 Dec 2025"))
    fresh = LISTING.replace("25 December 2025", "26 December 2025")
    for old in FEED_IDS + ["2512.20999"]:
        fresh = fresh.replace(old, "2512.3" + old[-4:])
    _listing(arxiv_server, "cs.AI", fresh)
    settings = _settings(tmp_path, arxiv_server)
    catalog = Catalog(settings.catalog_path)
    catalog.record_intake_day("cs.AI", "2025-12-25", run_id=None, feed_ids=FEED_IDS, listing_ids=FEED_IDS,
                              ids=FEED_IDS, verdict="complete", reason="", receipt={})
    plan = sources.plan(settings, feed=True, catalog=catalog)
    (r,) = plan.receipts
    assert r["sources"] == "stale feed" and len(r["stale_ids"]) == 6 and r["day"] == "2025-12-26"
    assert not set(r["ids"]) & set(FEED_IDS) and len(r["ids"]) == 7
    assert any("feed stale, not trusted" in n for n in plan.notes)
    assert not {c.meta.arxiv_id for c in plan.candidates} & set(FEED_IDS)

    # without a listing to fall back on, the stale feed brings nothing and the day is partial
    settings = _settings(tmp_path, arxiv_server, listing=False)
    plan = sources.plan(settings, feed=True, catalog=catalog)
    (r,) = plan.receipts
    assert r["sources"] == "stale feed" and r["ids"] == [] and plan.candidates == []
    assert sources.finish_receipts(plan.receipts, [])[0]["verdict"] == "partial"


def test_same_paper_cross_listed_in_two_followed_categories_is_one_candidate(arxiv_server, tmp_path):
    arxiv_server.feed("cs.AI", FEED)
    arxiv_server.feed("cs.RO", FEED.replace(b"cs.AI updates", b"cs.RO updates"))
    _listing(arxiv_server, "cs.AI", LISTING)
    _listing(arxiv_server, "cs.RO", LISTING.replace("Artificial Intelligence</h1>", "Robotics</h1>"))
    settings = _settings(tmp_path, arxiv_server, categories=("cs.AI", "cs.RO"))
    plan = sources.plan(settings, feed=True, catalog=Catalog(settings.catalog_path))
    ids = [c.meta.arxiv_id for c in plan.candidates] + [d[0].split("v")[0] for d in plan.pre_decisions]
    assert len(ids) == len(set(ids)) == 7, "one entry per paper across categories"
    assert [r["category"] for r in plan.receipts] == ["cs.AI", "cs.RO"]
    assert all(len(r["ids"]) == 7 for r in plan.receipts)


def test_run_receipt_in_the_run_report(tmp_path):
    from rag.digest.model import Digest
    from rag.digest.render import render_run_report

    feed = parse_feed(FEED, "cs.AI")
    listing = parse_listing(LISTING, "cs.AI")
    check = cross_check(feed, listing)
    decided = {i: (i != "2512.05107", "replacement (announce_type=replace)") for i in check.trusted}
    r = sources.finish_receipts([sources.receipt(feed, listing, check, decided)], [])[0]
    assert r["verdict"] == "complete" and r["kept"] == 6 and r["dropped"] == {"replacement": 1}
    digest = Digest("2025-12-25", "en", ["cs.AI"], [], receipts=[r])
    text = render_run_report(digest)
    assert "## Run receipt" in text and "| cs.AI | 2025-12-25 | 6 | 7 of 7 | 2 / 3 / 2 | 6 |" in text
    assert "only the listing had 2512.20999" in text


# ------------------------------------------------------------------------------------------ versions, days, receipt
def _day2_feed() -> bytes:
    """26 Dec: 2512.20276 again (cross-listed; already digested on the 25th), 2512.05107 in v3, four new ids."""
    text = FEED.replace(b"25 Dec 2025", b"26 Dec 2025").replace(b"2512.05107v2", b"2512.05107v3")
    for old in (b"2512.20014", b"2512.20188", b"2511.14396", b"2512.21118"):
        text = text.replace(old, b"2512.4" + old[-4:])
    return text.replace(b"2512.20276v1 Announce Type: new", b"2512.20276v1 Announce Type: cross").replace(
        b"<arxiv:announce_type>new</arxiv:announce_type>", b"<arxiv:announce_type>cross</arxiv:announce_type>", 1)


def test_daily_receipt_updates_and_no_paper_twice(arxiv_server, tmp_path, embedder):
    """Day 1: the feed misses an id the listing has (union), 2512.05107 comes as v2 while v1 is stored (shown as
    updated, re-indexed, not new). Day 2: v3 of it, and a paper already digested on day 1 (not analysed again)."""
    from fakes.llm import ValidWriterLLM

    from paperrag.library import Library
    from paperrag.records import PaperRecord

    arxiv_server.feed("cs.AI", [Response(200, FEED, content_type=RSS), Response(200, _day2_feed(), content_type=RSS)])
    _listing(arxiv_server, "cs.AI", LISTING)
    settings = _settings(tmp_path, arxiv_server)
    settings = settings.model_copy(update={"digest": settings.digest.model_copy(update={"formats": ["table"]})})
    Catalog(settings.catalog_path).bulk_insert([PaperRecord(
        key="2512.05107v1", arxiv_id="2512.05107", version=1, title="An older title", abstract="Old abstract.",
        categories=["cs.AI"], announced="2025-12-10", status="indexed")])
    lib = Library(settings, llm=ValidWriterLLM(), embedder=embedder)

    day1 = lib.daily()
    assert day1.date == "2025-12-25" and not day1.sample
    (r,) = day1.receipts
    assert r["feed"]["announced"] == 6 and r["listing"]["announced"] == 7 and r["only_listing"] == ["2512.20999"]
    assert r["types"] == {"new": 2, "cross": 3, "replace": 2} and r["updated"] == ["2512.05107"]
    assert r["kept"] + sum(r["dropped"].values()) == 7 and r["failed"] == 0 and r["verdict"] == "complete"
    (update,) = day1.updates
    assert update["text"].startswith("updated (v1 → v2)") and {"title", "abstract"} <= set(update["changed"])
    digest_keys = [e.meta.key for e in day1.digest.papers]
    assert "2512.05107v2" not in digest_keys and len(digest_keys) == len(set(digest_keys))
    catalog = lib.catalog
    assert catalog.get_paper("2512.05107v1").status == "superseded"
    assert catalog.get_paper("2512.05107v2").status == "indexed"
    table = day1.files["table.md"].read_text()
    assert "## Updated papers" in table and "2512.05107v2" in table and "updated (v1 → v2)" in table
    run_report = day1.files["run-report"].read_text()
    assert "## Run receipt" in run_report and "updated (v1 → v2)" in run_report
    assert lib.run_receipt(day1.run_id)[0]["only_listing"] == ["2512.20999"]

    settings2 = _settings(tmp_path, arxiv_server, listing=False)
    settings2 = settings2.model_copy(update={"digest": settings.digest})
    day2 = Library(settings2, llm=ValidWriterLLM(), embedder=embedder).daily()
    assert day2.date == "2025-12-26"
    (r2,) = day2.receipts
    assert r2["sources"] == "feed only" and r2["updated"] == ["2512.05107"]  # 2 of 6 ids seen yesterday: not stale
    keys2 = [e.meta.arxiv_id for e in day2.digest.papers]
    assert "2512.20276" not in keys2 and "2512.05107" not in keys2
    assert any("2512.20276v1: already in the digest of 2025-12-25" in n for n in day2.notes)
    assert day2.updates[0]["text"].startswith("updated (v2 → v3)")
    indexed = [p.key for p in Catalog(settings.catalog_path).papers("indexed")]
    assert len(indexed) == len({k.split("v")[0] for k in indexed}), "one indexed version per paper"


def test_status_run_and_the_web_status_show_the_receipt(arxiv_server, tmp_path, embedder, monkeypatch):
    from fakes.llm import ValidWriterLLM
    from typer.testing import CliRunner

    from paperrag.library import Library
    from ui import cli
    from ui.app import status_markdown

    arxiv_server.feed("cs.AI", FEED)
    _listing(arxiv_server, "cs.AI", LISTING)
    settings = _settings(tmp_path, arxiv_server)
    settings = settings.model_copy(update={"digest": settings.digest.model_copy(update={"formats": ["table"]}),
                                           "llm": settings.llm.model_copy(update={"backend": "fake"})})
    lib = Library(settings, llm=ValidWriterLLM(), embedder=embedder)
    result = lib.daily()
    line = lib.status(run=result.run_id).runs[0].receipt_lines()[0]
    assert line.startswith("cs.AI 2025-12-25: feed 6 · listing 7 of 7 · new 2 / cross 3 / repl. 2")
    assert "only the listing had 2512.20999" in line
    assert "Last run receipt" in status_markdown(lib) and "2512.20999" in status_markdown(lib)

    monkeypatch.setattr(cli, "_lib", lambda: lib)
    out = CliRunner().invoke(cli.app, ["status", "--run", str(result.run_id)])
    assert out.exit_code == 0, out.output
    assert "receipt: cs.AI 2025-12-25: feed 6 · listing 7 of 7" in out.output


def test_a_gap_of_three_announcement_days_is_caught_up(arxiv_server, tmp_path, embedder):
    """Last completed day Fri 19 Dec; today's feed is Thu 25 Dec: Mon 22, Tue 23, Wed 24 are fetched from the
    API (their submission windows, per category), each gets its digest, papers are marked with their
    announcement day, nothing is ingested twice, and the watermark ends on the 25th."""
    from fakes.http_server import ATOM, recorded
    from fakes.llm import ValidWriterLLM

    from paperrag.library import Library

    arxiv_server.feed("cs.AI", FEED)
    _listing(arxiv_server, "cs.AI", LISTING)
    bodies = {"2025-12-22": "id_1605.08386", "2025-12-23": "id_0808.05394_1707.08567", "2025-12-24": "id_1707.08567"}
    for day, name in bodies.items():
        arxiv_server.route("/api/query", Response(200, recorded(name)["body"], content_type=ATOM),
                           query={"search_query": sources.catch_up_query("cs.AI", day)})
    from fakes.pdfs import text_pages

    for key in ("1605.08386v1", "1707.08567v1"):  # full texts, so that a re-run has no failed download to retry
        arxiv_server.pdf(key, text_pages(2))
    assert sources.submission_window("2025-12-22") == ("202512181900", "202512191900")  # Thu → Fri 14:00 EST
    settings = _settings(tmp_path, arxiv_server)
    settings = settings.model_copy(update={"digest": settings.digest.model_copy(update={"formats": ["table"]})})
    lib = Library(settings, llm=ValidWriterLLM(), embedder=embedder)
    lib.catalog.set_watermark("cs.AI", "2025-12-19")

    result = lib.daily()
    assert [r.date for r in result.caught_up] == ["2025-12-22", "2025-12-23", "2025-12-24"]
    assert result.date == "2025-12-25"
    assert [len(r.digest.papers) for r in result.caught_up] == [1, 1, 0]  # 1707.08567 is not digested twice
    assert [r.receipts[0]["feed"]["announced"] for r in result.caught_up] == [1, 1, 1]
    assert all(r.receipts[0]["verdict"] == "complete" for r in result.caught_up)
    assert result.caught_up[2].receipts[0]["already"] == 1
    for r in result.caught_up:
        assert (settings.digests_dir / r.date / "table.md").exists()
    assert lib.catalog.get_paper("1605.08386v1").announced == "2025-12-22"
    assert lib.catalog.get_paper("1707.08567v1").announced == "2025-12-23"
    assert lib.watermarks() == {"cs.AI": "2025-12-25"}
    search_requests = [r for r in arxiv_server.requests_to("/api/query") if r.param("search_query")]
    assert len(search_requests) == 3, "one paced API query per category and missed day"

    import json
    before = json.loads((settings.digests_dir / "2025-12-25" / "manifest.json").read_text())
    again = Library(settings, llm=ValidWriterLLM(), embedder=embedder).daily()
    after = json.loads((settings.digests_dir / "2025-12-25" / "manifest.json").read_text())
    assert before == after, (before, after, again.notes)
    assert again.caught_up == [] and again.already_done  # nothing missed any more, today already written


def test_no_catch_up_leaves_the_gap_and_an_incomplete_day_holds_the_watermark(arxiv_server, tmp_path, embedder):
    from fakes.llm import ValidWriterLLM

    from paperrag.library import Library

    arxiv_server.feed("cs.AI", FEED)
    _listing(arxiv_server, "cs.AI", LISTING)  # no API route: the missed days fail
    settings = _settings(tmp_path, arxiv_server)
    settings = settings.model_copy(update={"digest": settings.digest.model_copy(update={"formats": ["table"]})})
    lib = Library(settings, llm=ValidWriterLLM(), embedder=embedder)
    lib.catalog.set_watermark("cs.AI", "2025-12-22")
    off = lib.daily(catch_up=False)
    assert off.caught_up == [] and lib.watermarks() == {"cs.AI": "2025-12-22"}  # the gap is not papered over

    lib2 = Library(settings, llm=ValidWriterLLM(), embedder=embedder)
    on = lib2.daily()
    assert [r.date for r in on.caught_up] == ["2025-12-23", "2025-12-24"]
    assert on.caught_up[0].receipts[0]["verdict"] == "empty" and on.caught_up[0].receipts[0]["sources"] == "failed"
    assert lib2.watermarks() == {"cs.AI": "2025-12-22"}, "a day that failed keeps the watermark"


def test_ingest_feed_records_the_receipt_like_daily(arxiv_server, tmp_path, embedder, monkeypatch):
    from typer.testing import CliRunner

    from paperrag.library import Library
    from ui import cli

    arxiv_server.feed("cs.AI", FEED)
    _listing(arxiv_server, "cs.AI", LISTING)
    settings = _settings(tmp_path, arxiv_server)
    lib = Library(settings, embedder=embedder)
    monkeypatch.setattr(cli, "_lib", lambda: lib)
    out = CliRunner().invoke(cli.app, ["ingest", "--feed"])
    assert out.exit_code == 0, out.output
    assert "receipt: cs.AI 2025-12-25: feed 6 · listing 7 of 7" in out.output
    run_id, receipts = lib.last_receipt()
    assert run_id is not None and receipts[0]["only_listing"] == ["2512.20999"]
    assert lib.catalog.previous_intake_ids("cs.AI", "2025-12-26")  # tomorrow's stale-feed check knows today


# ------------------------------------------------------------------------------------------ arXiv's calendar
def test_arxiv_holidays_leave_days_without_announcement_and_widen_the_next_window():
    """arXiv's 2025 holidays Thu 25 and Tue 30 Dec (and Thu 1 Jan 2026): no deadline and no 20:00 ET announcement
    that day, so no listing dated Fri 26 Dec, Wed 31 Dec, Fri 2 Jan; the next announcement takes the submissions
    of the skipped deadline too. A catch-up after the holiday fetches no phantom day."""
    assert sources.announcement_days("2025-12-24", "2026-01-05", limit=0) == [
        "2025-12-25", "2025-12-29", "2025-12-30", "2026-01-01"]
    assert sources.announcement_days("2025-12-25", "2025-12-29") == []  # nothing missed over Christmas
    assert not sources.is_announcement_day("2025-12-26") and not sources.is_announcement_day("2025-12-27")
    assert sources.submission_window("2025-12-25") == ("202512231900", "202512241900")  # an ordinary day
    assert sources.submission_window("2025-12-29") == ("202512241900", "202512261900")  # Wed 24 → Fri 26
    assert sources.submission_window("2026-01-01") == ("202512291900", "202512311900")  # Mon 29 → Wed 31
    assert sources.submission_window("2025-12-01") == ("202511261900", "202511281900")  # after Thanksgiving
    assert sources.submission_window("2025-12-22") == ("202512181900", "202512191900")  # unchanged
    # a holiday Friday (19 Jun 2026) has no deadline: the Monday after announces nothing, Tuesday takes it all
    assert not sources.is_announcement_day("2026-06-22")
    assert sources.submission_window("2026-06-23") == ("202606181800", "202606221800")


def test_a_weekend_feed_is_not_a_disagreement_with_the_last_listing(arxiv_server, tmp_path):
    """Saturday: the feed is empty (skipDays) and dated today, the listing still shows Thursday's announcement.
    The feed missed nothing: no 'sources disagree', no 'only the listing had', and the listing's day is complete."""
    weekend = (FIXTURES / "feeds" / "rss_weekend_empty.xml").read_bytes()  # Sat 27 Dec 2025, no items
    feed, listing = parse_feed(weekend, "cs.AI"), parse_listing(LISTING, "cs.AI")
    check = cross_check(feed, listing)
    assert check.verdict == "feed off day" and check.only_listing == [] and len(check.trusted) == 7
    assert check.day == "2025-12-25" and "weekend or holiday" in check.note

    arxiv_server.feed("cs.AI", weekend)
    _listing(arxiv_server, "cs.AI", LISTING)
    settings = _settings(tmp_path, arxiv_server)
    plan = sources.plan(settings, feed=True, catalog=Catalog(settings.catalog_path))
    (r,) = plan.receipts
    assert r["sources"] == "feed off day" and r["only_listing"] == [] and r["feed"]["announced"] == 0
    assert plan.feed_date == "2025-12-25" and not any("disagree" in n for n in plan.notes)
    assert sources.finish_receipts(plan.receipts, [])[0]["verdict"] == "complete"
    # an empty feed dated the listing's own day is still a disagreement (the feed lost that day's items)
    same_day = parse_feed(weekend.replace(b"27 Dec 2025", b"25 Dec 2025"), "cs.AI")
    assert cross_check(same_day, listing).verdict == "disagree"
