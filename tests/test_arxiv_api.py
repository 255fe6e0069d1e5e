"""ArxivApi against recorded arXiv API responses replayed by a local HTTP server (no network)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
from fakes.http_server import ATOM, LocalHTTPServer, Response, recorded, replay

from ingest.arxiv_api import ArxivApi, ArxivApiError, build_query
from ingest.http import BackoffWait, Pacer, parse_retry_after
from paperrag.settings import FetchSettings


@pytest.fixture
def server():
    with LocalHTTPServer() as srv:
        yield srv


@pytest.fixture
def sleeps():
    return []


def api(srv: LocalHTTPServer, sleeps: list[float], **kw) -> ArxivApi:
    kw.setdefault("batch_size", 100)
    return ArxivApi(srv.url + "/api/query", delay_s=0, retries=kw.pop("retries", 4), backoff_s=1.0, timeout_s=5,
                    sleep=sleeps.append, **kw)


# ------------------------------------------------------------------------------------------ by_ids
def test_by_ids_parses_fields(server, sleeps):
    replay(server, "id_1605.08386")
    with api(server, sleeps) as a:
        metas, failed = a.by_ids(["arXiv:1605.08386"])
    assert failed == {}
    (m,) = metas
    assert (m.arxiv_id, m.version, m.key) == ("1605.08386", 1, "1605.08386v1")
    assert m.title == "Heat-bath random walks with Markov bases"
    assert m.authors == ["Caprice Stanley", "Tobias Windisch"]
    assert m.categories == ["math.CO", "math.ST"] and m.primary_category == "math.CO"
    assert (m.published, m.updated) == ("2016-05-26", "2016-05-26")
    assert m.abstract.startswith("Graphs on lattice points are studied") and "\n" not in m.abstract
    assert m.comment == "20 pages, 3 figures"
    assert m.pdf_url == "https://arxiv.org/pdf/1605.08386v1"
    assert m.abs_url == "https://arxiv.org/abs/1605.08386v1"
    assert m.source == "api"
    (req,) = server.requests
    assert req.param("id_list") == "1605.08386" and req.param("max_results") == "100"
    assert req.headers["User-Agent"].startswith("paperrag/")


def test_versioned_and_old_style_ids(server, sleeps):
    replay(server, "id_2104.12255v1")
    replay(server, "id_quant-ph_0201082v1")
    replay(server, "id_astro-ph_0601001")
    ids = ["https://arxiv.org/abs/2104.12255v1", "quant-ph/0201082v1", "astro-ph/0601001"]
    with api(server, sleeps, pdf_url_template=server.url + "/pdf/{id}") as a:
        metas, failed = [], {}
        for i in ids:  # one request each, as recorded
            got, bad = a.by_ids([i])
            metas += got
            failed |= bad
    assert failed == {}
    assert [(m.arxiv_id, m.version) for m in metas] == [
        ("2104.12255", 1), ("quant-ph/0201082", 1), ("astro-ph/0601001", 1)
    ]
    assert metas[0].title == "0"
    assert metas[1].categories == ["quant-ph", "cs.PL"] and metas[1].published == "2002-01-18"
    astro = metas[2]
    assert astro.authors == ["Andrew Gould", "Susan Dorsher", "B. Scott Gaudi", "Andrzej Udalski"]
    assert astro.pdf_url == server.url + "/pdf/astro-ph/0601001v1"
    assert astro.code_links == []  # "Full resolution version at http://www.astronomy..." is no code link
    assert [r.param("id_list") for r in server.requests] == ["2104.12255v1", "quant-ph/0201082v1", "astro-ph/0601001"]


def test_unknown_id_in_a_batch_gets_a_reason(server, sleeps):
    replay(server, "id_0808.05394_1707.08567")
    with api(server, sleeps) as a:
        metas, failed = a.by_ids(["0808.05394", "1707.08567"])
    assert [m.arxiv_id for m in metas] == ["1707.08567"]
    assert len(metas[0].authors) == 34
    assert failed == {"0808.05394": "not found on arXiv (the API returned no entry for 0808.05394)"}
    assert server.hits() == 1


def test_empty_result(server, sleeps):
    replay(server, "id_0808.05394")
    with api(server, sleeps) as a:
        metas, failed = a.by_ids(["0808.05394"])
    assert metas == [] and "not found on arXiv" in failed["0808.05394"]


def test_malformed_ids_rejected_locally_without_a_request(server, sleeps):
    with api(server, sleeps) as a:
        metas, failed = a.by_ids(["abc", "0000.0000", ""])
    assert metas == [] and set(failed) == {"abc", "0000.0000"}
    assert failed["abc"].startswith("malformed arXiv id: not an arXiv id: 'abc'")
    assert "month 00" in failed["0000.0000"]
    assert server.hits() == 0


def test_http_400_error_feed_gives_arxivs_reason(server, sleeps):
    replay(server, "id_abc")
    with api(server, sleeps) as a:
        metas, failed = a.by_ids(["abc"], validate=False)
    assert metas == []
    assert failed == {"abc": "arXiv rejected the id: incorrect id format for abc"}
    assert server.hits() == 1 and sleeps == []  # a 400 is an answer, not retried


def test_400_names_one_id_the_others_are_asked_again(server, sleeps):
    bad = recorded("id_abc")
    server.route("/api/query", Response(400, bad["body"], content_type=ATOM), query={"id_list": "1605.08386,abc"})
    replay(server, "id_1605.08386")
    with api(server, sleeps) as a:
        metas, failed = a.by_ids(["1605.08386", "abc"], validate=False)
    assert [m.arxiv_id for m in metas] == ["1605.08386"]
    assert failed == {"abc": "arXiv rejected the id: incorrect id format for abc"}
    assert [r.param("id_list") for r in server.requests] == ["1605.08386,abc", "1605.08386"]


def test_batches_of_batch_size(server, sleeps):
    replay(server, "id_0808.05394_1707.08567", keys=("id_list",))
    replay(server, "id_1605.08386", keys=("id_list",))
    with api(server, sleeps, batch_size=2) as a:
        metas, failed = a.by_ids(["0808.05394", "1707.08567", "1605.08386", "1707.08567"])
    assert [m.arxiv_id for m in metas] == ["1707.08567", "1605.08386"]
    assert failed == {"0808.05394": "not found on arXiv (the API returned no entry for 0808.05394)"}
    assert [r.param("id_list") for r in server.requests] == ["0808.05394,1707.08567", "1605.08386"]
    assert {r.param("max_results") for r in server.requests} == {"2"}


def test_non_atom_error_response(server, sleeps):
    server.route("/api/query", Response(404, "<html><body>Not Found</body></html>", content_type="text/html"))
    with api(server, sleeps) as a:
        metas, failed = a.by_ids(["1605.08386"])
    assert metas == [] and failed == {"1605.08386": "arXiv API error: Not Found"}


def test_batches_are_split_and_ordered(server, sleeps):
    for name in ("id_1605.08386", "id_1707.08567", "id_2104.12255v1"):
        replay(server, name, keys=("id_list",))
    with api(server, sleeps, batch_size=1) as a:
        metas, failed = a.by_ids(["1707.08567", "1605.08386", "2104.12255v1"])
    assert failed == {}
    assert [m.arxiv_id for m in metas] == ["1707.08567", "1605.08386", "2104.12255"]
    assert [r.param("max_results") for r in server.requests] == ["1", "1", "1"]


def test_429_503_then_success_is_retried(server, sleeps):
    replay(server, "id_1605.08386", before=[Response(429, "rate limited", headers={"Retry-After": "5"}), Response(503)])
    with api(server, sleeps) as a:
        metas, failed = a.by_ids(["1605.08386"])
    assert failed == {} and [m.arxiv_id for m in metas] == ["1605.08386"]
    assert server.hits() == 3
    assert sleeps == [5.0, 2.0]  # Retry-After 5 s > backoff 1 s; then backoff doubled


def test_retries_exhausted_reason(server, sleeps):
    replay(server, "id_1605.08386", before=[Response(503)] * 5)
    with api(server, sleeps, retries=3) as a:
        metas, failed = a.by_ids(["1605.08386"])
    assert metas == []
    assert failed["1605.08386"].startswith("arXiv API request failed: HTTP 503")
    assert failed["1605.08386"].endswith("after 3 attempts")
    assert server.hits() == 3 and sleeps == [1.0, 2.0]


def test_truncated_200_is_retried(server, sleeps):
    good = recorded("id_1605.08386")
    replay(server, "id_1605.08386", before=[Response(200, good["body"][:700], content_type=ATOM)])
    with api(server, sleeps) as a:
        metas, failed = a.by_ids(["1605.08386"])
    assert failed == {} and len(metas) == 1 and server.hits() == 2


def test_html_with_200_is_retried_then_reported(server, sleeps):
    server.route("/api/query", Response(200, "<html><body>Rate exceeded.</body></html>", content_type="text/html"))
    with api(server, sleeps, retries=2) as a:
        metas, failed = a.by_ids(["1605.08386"])
    assert metas == [] and server.hits() == 2
    assert failed["1605.08386"] == (
        "arXiv API request failed: the arXiv API answered with <html>, not an Atom feed after 2 attempts"
    )


def test_timeout_is_retried(server, sleeps):
    replay(server, "id_1605.08386", before=[Response(hang=True)])
    a = ArxivApi(server.url + "/api/query", delay_s=0, retries=3, backoff_s=0.25, timeout_s=0.2, sleep=sleeps.append)
    with a:
        metas, failed = a.by_ids(["1605.08386"])
    assert failed == {} and len(metas) == 1 and sleeps == [0.25]


# ------------------------------------------------------------------------------------------ search
PAGES = ["q_testing_s0_m10", "q_testing_s10_m10", "q_testing_s20_m10"]


def test_search_pages_through_results(server, sleeps):
    import re

    expected_ids = []
    for name in PAGES:
        rec = replay(server, name)
        expected_ids += re.findall(r"<id>http://arxiv.org/abs/([^<]+?)v\d+</id>", rec["body"])
    with api(server, sleeps, batch_size=10) as a:
        metas = a.search("testing", max_results=25)
    assert [r.param("start") for r in server.requests] == ["0", "10", "20"]
    assert {r.param("max_results") for r in server.requests} == {"10"}
    assert {r.param("search_query") for r in server.requests} == {"testing"}
    assert len(metas) == 25
    assert [m.arxiv_id for m in metas] == expected_ids[:25]
    first = metas[0]
    assert first.arxiv_id == "2202.12139" and first.title and first.authors and first.published
    assert any(m.doi for m in metas)


def test_search_stops_at_total_results(server, sleeps):
    replay(server, "id_1605.08386", keys=("start",))  # totalResults 1
    with api(server, sleeps, batch_size=10) as a:
        metas = a.search("heat bath", max_results=50)
    assert len(metas) == 1 and server.hits() == 1


def test_search_date_range_query(server, sleeps):
    server.route("/api/query", Response(200, recorded("id_0808.05394")["body"], content_type=ATOM))
    with api(server, sleeps) as a:
        assert a.search("ti:vla", date_from="2025-01-01", date_to="2025-01-31") == []
    assert server.requests[0].param("search_query") == "ti:vla AND submittedDate:[202501010000 TO 202501312359]"


def test_build_query():
    assert build_query("testing") == "testing"
    assert build_query("", "20250101", "20250102") == "submittedDate:[202501010000 TO 202501022359]"
    assert build_query("ti:a OR ti:b", "2025-01-01", "2025-01-01") == (
        "(ti:a OR ti:b) AND submittedDate:[202501010000 TO 202501012359]"
    )
    with pytest.raises(ValueError):
        build_query("")
    with pytest.raises(ValueError):
        build_query("x", "2025-02-01", "2025-01-01")
    with pytest.raises(ValueError):
        build_query("x", "01/02/2025")


def test_search_error_feed_raises(server, sleeps):
    server.route("/api/query", Response(400, recorded("id_abc")["body"], content_type=ATOM))
    with api(server, sleeps) as a, pytest.raises(ArxivApiError, match="incorrect id format for abc"):
        a.search("testing")


def test_search_unexpected_empty_page_is_retried(server, sleeps):
    empty_page = recorded("q_testing_s10_m10")["body"]
    import re

    empty_page = re.sub(r"<entry>.*</entry>", "", empty_page, flags=re.S)
    replay(server, "q_testing_s0_m10")
    replay(server, "q_testing_s10_m10", before=[Response(200, empty_page, content_type=ATOM)])
    with api(server, sleeps, batch_size=10) as a:
        metas = a.search("testing", max_results=20)
    assert len(metas) == 20 and server.hits() == 3


def test_from_settings(server, sleeps):
    replay(server, "id_1605.08386")
    fetch = FetchSettings(api_url=server.url + "/api/query", delay_s=0, pdf_url=server.url + "/pdf/{id}")
    with ArxivApi.from_settings(fetch, sleep=sleeps.append) as a:
        metas, _ = a.by_ids(["1605.08386"])
    assert a.batch_size == 100 and metas[0].pdf_url == server.url + "/pdf/1605.08386v1"


# ------------------------------------------------------------------------------------------ pacing
class FakeClock:
    def __init__(self, start: float = 1000.0):
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def test_pacer_with_fake_clock():
    clock = FakeClock()
    pacer = Pacer(3.0, clock=clock, sleep=clock.sleep)
    assert pacer.wait() == 0 and clock.sleeps == []  # first request: no wait
    pacer.wait()  # immediately after: full delay
    assert clock.sleeps == [3.0]
    clock.now += 1.0
    pacer.wait()  # 1 s later: the remaining 2 s
    assert clock.sleeps == [3.0, 2.0]
    clock.now += 10.0
    pacer.wait()  # long after: nothing
    assert clock.sleeps == [3.0, 2.0]
    with pytest.raises(ValueError):
        Pacer(-1)


def test_pacer_between_api_requests(server):
    for name in ("id_1605.08386", "id_1707.08567"):
        replay(server, name, keys=("id_list",))
    clock = FakeClock()
    a = ArxivApi(server.url + "/api/query", batch_size=1, pacer=Pacer(3.0, clock=clock, sleep=clock.sleep),
                 sleep=clock.sleep)
    with a:
        metas, _ = a.by_ids(["1605.08386", "1707.08567"])
    assert len(metas) == 2 and clock.sleeps == [3.0]


def test_pacer_counts_retries_and_backoff_satisfies_it(server):
    replay(server, "id_1605.08386", before=[Response(503)])
    clock = FakeClock()
    a = ArxivApi(server.url + "/api/query", backoff_s=5.0, pacer=Pacer(3.0, clock=clock, sleep=clock.sleep),
                 sleep=clock.sleep)
    with a:
        a.by_ids(["1605.08386"])
    assert clock.sleeps == [5.0]  # the 5 s backoff already spaced the retry >= 3 s: no extra pacer sleep


def test_parse_retry_after_and_backoff():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after("99999") == 600.0  # clamped
    wait = BackoffWait(3.0, 60.0)
    assert [wait.delay(n) for n in range(1, 7)] == [3.0, 6.0, 12.0, 24.0, 48.0, 60.0]
    assert wait.delay(1, retry_after=10.0) == 10.0 and wait.delay(3, retry_after=1.0) == 12.0


@pytest.mark.shared
def test_every_recorded_response_replays(shared_dir, sleeps):
    """All of ../shared's recorded API responses (incl. the 100-entry page) parse through ArxivApi."""
    import re

    files = sorted((shared_dir / "corpus" / "arxiv-api" / "recorded").glob("*.json"))
    assert len(files) >= 20
    with LocalHTTPServer() as srv, api(srv, sleeps) as a:
        for f in files:
            rec = json.loads(f.read_text("utf-8"))
            params = dict(parse_qsl(urlsplit(rec["url"]).query, keep_blank_values=True))
            srv.route("/api/query", Response(rec["status_code"], rec["body"], content_type=ATOM), query=params)
            page = a._get_page(params)
            entries = re.findall(r"<entry>", rec["body"])
            if rec["status_code"] == 200:
                assert not page.error and len(page.results) == len(entries), f.name
                for result in page.results:
                    meta = a.to_meta(result)
                    assert meta.arxiv_id and meta.title and meta.authors and meta.published, f.name
            else:
                assert page.error == "incorrect id format for abc"
