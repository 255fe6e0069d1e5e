"""feeds.py end to end over a local HTTP server, with constructed fixtures (see the comment in each)."""

from __future__ import annotations

import pytest
from fakes.http_server import FEEDS, RSS, LocalHTTPServer, Response

from ingest.feeds import (
    EMPTY_REASON,
    FeedReader,
    fetch_feed,
    merge_entries,
    parse_feed,
    split_authors,
)
from ingest.filters import KeywordFilter
from paperrag.settings import FetchSettings

NORMAL = (FEEDS / "rss_cs.AI_2025-12-25.xml").read_bytes()


@pytest.fixture
def server():
    with LocalHTTPServer() as srv:
        yield srv


def reader(srv: LocalHTTPServer, sleeps: list[float] | None = None, **kw) -> FeedReader:
    rec = sleeps if sleeps is not None else []
    return FeedReader(
        srv.url + "/rss/{category}", srv.url + "/pdf/{id}", delay_s=0, backoff_s=1.0, timeout_s=5,
        sleep=rec.append, **kw
    )


def test_normal_day_end_to_end(server):
    server.route("/rss/cs.AI", Response(200, NORMAL, content_type=RSS))
    with reader(server) as r:
        res = r.fetch("cs.AI")
    assert res.status == "ok" and res.category == "cs.AI" and res.feed_date == "2025-12-25"
    assert [(m.arxiv_id, m.version, m.announce_type) for m in res.entries] == [
        ("2512.20276", 1, "new"),
        ("2512.20014", 1, "cross"),
        ("2512.20188", 1, "cross"),
        ("2511.14396", 5, "replace-cross"),
        ("2512.21118", 1, "cross"),
        ("2512.05107", 2, "replace"),
    ]
    first = res.entries[0]
    assert first.title == "ActionFlow: A Pipelined Action Acceleration for Vision Language Models on Edge"
    assert first.authors[:2] == ["Yuntao Dai", "Hang Gu"] and len(first.authors) == 9
    assert first.categories == ["cs.AI", "cs.RO"] and first.primary_category == "cs.AI"
    assert first.abstract.startswith("Vision-Language-Action (VLA) models have emerged")
    assert "Announce Type" not in first.abstract and "\n" not in first.abstract
    assert first.announced == "2025-12-25"
    assert first.abs_url == "https://arxiv.org/abs/2512.20276"
    assert first.pdf_url == server.url + "/pdf/2512.20276v1"
    assert first.code_links == ["https://anonymous.4open.science/r/ActionFlow-1D47"]
    assert first.license == "http://creativecommons.org/licenses/by/4.0/"
    assert first.source == "rss"
    stldm = res.entries[4]
    assert stldm.code_links == ["https://github.com/sqfoo/stldm_official"]
    assert stldm.primary_category == ""  # a cross-list: the feed's category is not its primary
    stare = res.entries[5]
    assert stare.doi == "10.0000/example.2512.05107" and stare.pdf_url.endswith("/pdf/2512.05107v2")
    assert server.requests[0].headers["User-Agent"].startswith("paperrag/")


def test_announce_types_through_the_filter(server):
    server.route("/rss/cs.AI", Response(200, NORMAL, content_type=RSS))
    with reader(server) as r:
        entries = r.fetch("cs.AI").entries
    decisions = {m.arxiv_id: KeywordFilter(["vision language action"], []).decide(m) for m in entries}
    assert decisions["2512.20276"].keep  # new, abstract says Vision-Language-Action
    assert decisions["2512.20014"].keep and decisions["2512.20014"].reason == (
        "kept: matched 'vision language action' in title"
    )
    assert decisions["2511.14396"].reason == "replacement (announce_type=replace-cross)"
    assert decisions["2512.05107"].reason == "replacement (announce_type=replace)"
    assert decisions["2512.21118"].reason == "no keyword match"
    no_cross = KeywordFilter([], [], include_cross=False)
    kept = [m.arxiv_id for m in entries if no_cross.decide(m).keep]
    assert kept == ["2512.20276"]


def test_weekend_empty_feed(server):
    server.route("/rss/cs.AI", Response(200, (FEEDS / "rss_weekend_empty.xml").read_bytes(), content_type=RSS))
    with reader(server) as r:
        res = r.fetch("cs.AI")
    assert res.status == "empty" and res.entries == []
    assert res.reason == EMPTY_REASON == "no announcements (arXiv publishes no feed on weekends/holidays: skipDays)"
    assert res.feed_date == "2025-12-27"


def test_malformed_xml(server):
    server.route("/rss/cs.AI", Response(200, (FEEDS / "rss_malformed.xml").read_bytes(), content_type=RSS))
    with reader(server) as r:
        res = r.fetch("cs.AI")
    assert res.status == "error" and res.entries == []
    assert res.reason.startswith("malformed feed XML: ")
    assert "line" in res.reason


def test_http_400_is_an_error_not_retried(server):
    body = (FEEDS / "rss_http400.html").read_bytes()
    server.route("/rss/cs.XX", Response(400, body, content_type="text/html"))
    sleeps: list[float] = []
    with reader(server, sleeps) as r:
        res = r.fetch("cs.XX")
    assert res.status == "error" and res.reason.startswith("HTTP 400 Bad Request from ")
    assert "Invalid category: cs.XX" in res.reason
    assert server.hits("/rss/cs.XX") == 1 and sleeps == []


def test_429_503_then_ok_is_retried_with_backoff_and_retry_after(server):
    server.route(
        "/rss/cs.AI",
        [
            Response(429, "slow down", headers={"Retry-After": "7"}),
            Response(503, "busy"),
            Response(200, NORMAL, content_type=RSS),
        ],
    )
    sleeps: list[float] = []
    with reader(server, sleeps) as r:
        res = r.fetch("cs.AI")
    assert res.status == "ok" and len(res.entries) == 6
    assert server.hits("/rss/cs.AI") == 3
    assert sleeps == [7.0, 2.0]  # Retry-After beats the first backoff (1 s); then 1 s doubled


def test_retries_exhausted_gives_error_status(server):
    server.route("/rss/cs.AI", Response(503, "down"))
    sleeps: list[float] = []
    with reader(server, sleeps, retries=3) as r:
        res = r.fetch("cs.AI")
    assert res.status == "error" and "HTTP 503" in res.reason and "after 3 attempts" in res.reason
    assert server.hits("/rss/cs.AI") == 3 and sleeps == [1.0, 2.0]


def test_timeout_is_retried(server):
    server.route("/rss/cs.AI", [Response(hang=True), Response(200, NORMAL, content_type=RSS)])
    sleeps: list[float] = []
    r = FeedReader(server.url + "/rss/{category}", delay_s=0, backoff_s=0.5, timeout_s=0.2, sleep=sleeps.append)
    with r:
        res = r.fetch("cs.AI")
    assert res.status == "ok" and server.hits("/rss/cs.AI") == 2 and sleeps == [0.5]


def test_html_page_with_200_is_not_a_feed(server):
    server.route("/rss/cs.AI", Response(200, "<html><body>Please wait</body></html>", content_type="text/html"))
    with reader(server) as r:
        res = r.fetch("cs.AI")
    assert res.status == "error"
    assert res.reason.startswith(("malformed feed XML", "not an RSS/Atom feed"))


def test_atom_variant():
    res = parse_feed((FEEDS / "atom_math.OC_2024-08-23.xml").read_bytes(), "math.OC")
    assert res.status == "ok" and res.feed_date == "2024-08-23"
    spec, made_up = res.entries
    assert (spec.arxiv_id, spec.version, spec.announce_type) == ("2203.01250", 3, "replace-cross")
    assert spec.authors == ["Antonin Monteil", "Paul Pegon"] and spec.categories == ["math.AP", "math.OC"]
    assert spec.doi == "10.5802/jep.257" and spec.announced == "2024-08-23"
    assert spec.abstract.startswith("We consider first order local minimization problems")
    assert spec.pdf_url == "https://arxiv.org/pdf/2203.01250v3"
    # "<" inside formulas survives (feedparser's HTML sanitiser would eat "<y and ...>")
    assert made_up.title == "A made-up convex program with $x<y$ constraints"
    assert "$x<y$ and $y > 0$ with an efficient solver" in made_up.abstract
    assert made_up.code_links == ["https://github.com/example/convex-lt"]
    assert made_up.primary_category == "math.OC"


def test_fetch_feed_from_settings(server):
    server.route("/rss/cs.AI", Response(200, NORMAL, content_type=RSS))
    fetch = FetchSettings(rss_url=server.url + "/rss/{category}", delay_s=0, user_agent="paperrag-test/1")
    res = fetch_feed("cs.AI", fetch)
    assert res.status == "ok" and res.url == server.url + "/rss/cs.AI"
    assert server.requests[0].headers["User-Agent"] == "paperrag-test/1"


def test_merge_entries_prefers_primary_announcement():
    a = parse_feed(NORMAL, "cs.AI")
    b = parse_feed(NORMAL.replace(b"<arxiv:announce_type>cross</arxiv:announce_type>",
                                  b"<arxiv:announce_type>new</arxiv:announce_type>"), "cs.RO")
    merged = merge_entries([a, b])
    assert len(merged) == 6
    cup = next(m for m in merged if m.arxiv_id == "2512.20014")
    assert cup.announce_type == "new"


def test_split_authors():
    assert split_authors("A. One, B. Two, and C. Three") == ["A. One", "B. Two", "C. Three"]
    assert split_authors("Solo Author") == ["Solo Author"]
    assert split_authors("") == []


def test_pacer_between_feed_requests(server):
    server.route("/rss/cs.AI", Response(200, NORMAL, content_type=RSS))
    server.route("/rss/cs.RO", Response(200, NORMAL, content_type=RSS))
    now = [100.0]
    sleeps: list[float] = []

    def fake_sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    from ingest.http import Pacer

    r = FeedReader(server.url + "/rss/{category}", pacer=Pacer(3.0, clock=lambda: now[0], sleep=fake_sleep))
    with r:
        results = r.fetch_all(["cs.AI", "cs.RO"])
    assert [x.status for x in results] == ["ok", "ok"]
    assert sleeps == [3.0]
