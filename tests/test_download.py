from __future__ import annotations

import hashlib
import json

import pytest
from fakes.http_server import LocalHTTPServer, Response

from ingest.download import (
    HTML_INSTEAD_OF_PDF,
    DownloadError,
    NotAPdfError,
    PdfCache,
    TooLargeError,
    pdf_url,
)
from paperrag.settings import FetchSettings

PDF = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + b"x" * 5000 + b"\ntrailer\n%%EOF\n"
SHA = hashlib.sha256(PDF).hexdigest()


@pytest.fixture
def server():
    with LocalHTTPServer() as srv:
        yield srv


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def cache(tmp_path, sleeps):
    with PdfCache(tmp_path / "pdfs", backoff_s=1.0, sleep=sleeps.append) as c:
        yield c


def stored_files(cache: PdfCache) -> list[str]:
    """Everything under the cache dir except the index (temp files included)."""
    return sorted(str(p.relative_to(cache.dir)) for p in cache.dir.rglob("*") if p.is_file() and p.name != "index.json")


def test_fetch_stores_content_addressed_and_hits_cache(server, cache):
    server.route("/pdf/2506.19850v1", Response(200, PDF, content_type="application/pdf"))
    url = server.url + "/pdf/2506.19850v1"
    first = cache.fetch(url, key="2506.19850v1")
    assert not first.from_cache and first.sha256 == SHA and first.bytes == len(PDF)
    assert first.path == cache.dir / SHA[:2] / f"{SHA}.pdf" and first.path.read_bytes() == PDF
    again = cache.fetch(url, key="2506.19850v1")
    assert again.from_cache and again.path == first.path
    same_url_other_key = cache.fetch(url, key="paper-x")
    assert same_url_other_key.from_cache
    assert server.hits("/pdf/2506.19850v1") == 1  # never downloaded twice
    assert stored_files(cache) == [f"{SHA[:2]}/{SHA}.pdf"]
    index = json.loads((cache.dir / "index.json").read_text())
    assert index["keys"]["2506.19850v1"]["sha256"] == SHA and index["urls"][url] == SHA
    # a fresh instance reads the index
    with PdfCache(cache.dir) as other:
        assert other.fetch(url, key="2506.19850v1").from_cache
        assert other.get("paper-x").sha256 == SHA
    assert server.hits() == 1


def test_missing_file_is_downloaded_again(server, cache):
    server.route("/p.pdf", Response(200, PDF))
    got = cache.fetch(server.url + "/p.pdf", key="k")
    got.path.unlink()
    assert cache.get("k") is None
    assert not cache.fetch(server.url + "/p.pdf", key="k").from_cache and server.hits() == 2


def test_content_length_over_limit(server, cache):
    server.route("/big.pdf", Response(200, PDF))
    with pytest.raises(TooLargeError, match="Content-Length") as err:
        cache.fetch(server.url + "/big.pdf", key="big", max_bytes=1000)
    assert "PDF too large" in str(err.value) and server.url + "/big.pdf" in str(err.value)
    assert server.hits() == 1 and stored_files(cache) == [] and cache.get("big") is None


def test_streamed_size_limit_without_content_length(server, cache):
    server.route("/big.pdf", Response(200, PDF, chunked=True))
    with pytest.raises(TooLargeError, match="download aborted"):
        cache.fetch(server.url + "/big.pdf", key="big", max_bytes=2000)
    assert stored_files(cache) == []


def test_html_instead_of_pdf(server, cache):
    server.route("/pdf/1", Response(200, "<!DOCTYPE html><html><body>Access denied</body></html>", content_type="text/html"))
    with pytest.raises(NotAPdfError) as err:
        cache.fetch(server.url + "/pdf/1", key="1")
    assert str(err.value).startswith(HTML_INSTEAD_OF_PDF)
    assert HTML_INSTEAD_OF_PDF == "got an HTML page instead of a PDF (arXiv may be rate-limiting)"
    assert server.hits() == 1 and stored_files(cache) == []


def test_not_a_pdf(server, cache):
    server.route("/x", Response(200, b"PK\x03\x04zipfile"))
    with pytest.raises(NotAPdfError, match="no %PDF- header"):
        cache.fetch(server.url + "/x", key="x")


def test_interrupted_download_leaves_no_file_and_is_retried(server, cache, sleeps):
    server.route("/cut.pdf", [Response(200, PDF, cut_after=2000), Response(200, PDF)])
    got = cache.fetch(server.url + "/cut.pdf", key="cut")
    assert got.sha256 == SHA and server.hits() == 2 and sleeps == [1.0]
    assert stored_files(cache) == [f"{SHA[:2]}/{SHA}.pdf"]


def test_interrupted_every_time_raises_and_leaves_nothing(server, cache, sleeps):
    server.route("/cut.pdf", Response(200, PDF, cut_after=2000))
    with pytest.raises(DownloadError, match="after 3 attempts") as err:
        cache.fetch(server.url + "/cut.pdf", key="cut", retries=3)
    assert "/cut.pdf" in str(err.value)
    assert stored_files(cache) == [] and cache.get("cut") is None and sleeps == [1.0, 2.0]


def test_truncated_without_length_detected_by_missing_eof(server, cache):
    server.route("/t.pdf", [Response(200, PDF[:3000], chunked=True), Response(200, PDF)])
    assert cache.fetch(server.url + "/t.pdf", key="t").sha256 == SHA and server.hits() == 2


def test_429_503_then_ok(server, cache, sleeps):
    server.route("/r.pdf", [Response(429, headers={"Retry-After": "4"}), Response(503), Response(200, PDF)])
    got = cache.fetch(server.url + "/r.pdf", key="r")
    assert not got.from_cache and server.hits() == 3 and sleeps == [4.0, 2.0]


def test_timeout_is_retried(server, tmp_path, sleeps):
    server.route("/slow.pdf", [Response(hang=True), Response(200, PDF)])
    with PdfCache(tmp_path / "c", backoff_s=0.5, sleep=sleeps.append) as c:
        got = c.fetch(server.url + "/slow.pdf", key="s", timeout_s=0.2)
    assert got.sha256 == SHA and sleeps == [0.5]


def test_404_is_not_retried(server, cache, sleeps):
    with pytest.raises(DownloadError, match="HTTP 404"):
        cache.fetch(server.url + "/nope.pdf", key="n")
    assert server.hits() == 1 and sleeps == []


def test_add_local(tmp_path, cache):
    src = tmp_path / "paper.pdf"
    src.write_bytes(PDF)
    got = cache.add_local(src)
    assert got.sha256 == SHA and got.key == f"local:{SHA[:12]}" and not got.from_cache
    assert got.path.read_bytes() == PDF and got.path != src
    assert cache.add_local(src).from_cache
    assert cache.get(f"local:{SHA[:12]}").path == got.path
    bad = tmp_path / "notes.pdf"
    bad.write_text("hello")
    with pytest.raises(NotAPdfError):
        cache.add_local(bad)
    with pytest.raises(DownloadError, match="no such PDF"):
        cache.add_local(tmp_path / "missing.pdf")


def test_pdf_url_template():
    assert pdf_url("2506.19850", 2) == "https://arxiv.org/pdf/2506.19850v2"
    assert pdf_url("arXiv:2506.19850v3") == "https://arxiv.org/pdf/2506.19850v3"
    assert pdf_url("hep-th/9901001", 1, "http://127.0.0.1:9/pdf/{id}.pdf") == "http://127.0.0.1:9/pdf/hep-th/9901001v1.pdf"
    assert pdf_url("2506.19850", None, FetchSettings().pdf_url) == "https://arxiv.org/pdf/2506.19850"


def test_from_settings_user_agent(server, tmp_path):
    server.route("/a.pdf", Response(200, PDF))
    fetch = FetchSettings(user_agent="paperrag-test/2", delay_s=0)
    with PdfCache.from_settings(tmp_path / "c", fetch) as c:
        c.fetch(server.url + "/a.pdf", key="a")
    assert server.requests[0].headers["User-Agent"] == "paperrag-test/2"
