"""A small threaded HTTP server on 127.0.0.1 for offline tests: canned responses, scripted sequences, a log.

    from fakes.http_server import LocalHTTPServer, Response

    with LocalHTTPServer() as srv:
        srv.route("/api/query", Response(200, body), query={"id_list": "1605.08386"})
        srv.route("/pdf/1", [Response(503), Response(429, headers={"Retry-After": "0"}), Response(200, pdf)])
        httpx.get(srv.url + "/api/query?id_list=1605.08386")
        assert srv.hits("/pdf/1") == 0
        srv.requests[-1].query  # {"id_list": ["1605.08386"]}

Routes match on method + exact path, and optionally a subset of query parameters (`query={name: value}`);
the route naming the most query parameters wins, later routes win ties. A list is a script: each request
takes the next response, the last one repeats. Unmatched requests get 404 "no route" (and are logged).

Special responses: `Response(hang=True)` waits (until the server stops, at most `hang_s`) without
answering, for client timeouts; `Response(200, body, cut_after=N)` declares the full Content-Length but
sends N bytes and closes the connection (an interrupted download); `chunked=True` sends no Content-Length.

`ArxivStandIn` is that server dressed as arXiv (RSS, API, PDFs; `fetch_env()` points paperrag at it) and
`replay(srv, name)` serves a recorded arXiv API response from tests/fixtures/arxiv_api.

Also the pytest fixtures `local_http_server` and `arxiv_server` (registered by tests/conftest.py, usable in
every test module).
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlsplit

try:
    import pytest
except ImportError:  # pragma: no cover - usable outside pytest
    pytest = None


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (nothing listens on it until someone binds it)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """Clients that hang up (timeouts, aborted downloads) are part of the tests, not errors."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


@dataclass
class Response:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    cut_after: int | None = None  # send only this many body bytes, then close (Content-Length stays full)
    chunked: bool = False  # no Content-Length; the body ends when the connection closes
    hang: bool = False  # never answer (until the server stops or hang_s elapses)
    hang_s: float = 10.0

    def body_bytes(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else bytes(self.body)


@dataclass
class Request:
    method: str
    path: str
    raw_query: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""

    @property
    def target(self) -> str:
        return f"{self.path}?{self.raw_query}" if self.raw_query else self.path

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class _Route:
    method: str
    path: str
    query: dict[str, str]
    responses: list[Response]
    served: int = 0

    def matches(self, method: str, path: str, query: dict[str, list[str]]) -> bool:
        if method != self.method or path != self.path:
            return False
        return all(query.get(k, [None])[0] == v for k, v in self.query.items())

    def next_response(self) -> Response:
        resp = self.responses[min(self.served, len(self.responses) - 1)]
        self.served += 1
        return resp


class LocalHTTPServer:
    def __init__(self) -> None:
        self._routes: list[_Route] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.requests: list[Request] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ routes
    def route(
        self,
        path: str,
        responses: Response | list[Response],
        *,
        query: dict[str, str] | None = None,
        method: str = "GET",
    ) -> LocalHTTPServer:
        if isinstance(responses, Response):
            responses = [responses]
        if not responses:
            raise ValueError("a route needs at least one response")
        with self._lock:
            self._routes.append(_Route(method.upper(), path, dict(query or {}), list(responses)))
        return self

    def _pick(self, method: str, path: str, query: dict[str, list[str]]) -> Response | None:
        with self._lock:
            best: _Route | None = None
            for r in self._routes:  # later routes win ties
                if r.matches(method, path, query) and (best is None or len(r.query) >= len(best.query)):
                    best = r
            return best.next_response() if best else None

    # ------------------------------------------------------------------ log
    def hits(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalHTTPServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query, keep_blank_values=True)
                length = int(self.headers.get("Content-Length") or 0)
                payload = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items()}
                req = Request(self.command, parts.path, parts.query, query, headers, payload)
                with server._lock:
                    server.requests.append(req)
                resp = server._pick(self.command, parts.path, query)
                if resp is None:
                    resp = Response(404, f"no route for {self.command} {req.target}", content_type="text/plain")
                if resp.hang:
                    server._stop.wait(resp.hang_s)
                    self.close_connection = True
                    return
                body = resp.body_bytes()
                self.send_response(resp.status)
                ctype = resp.content_type or resp.headers.get("Content-Type") or "application/octet-stream"
                self.send_header("Content-Type", ctype)
                for k, v in resp.headers.items():
                    if k.lower() != "content-type":
                        self.send_header(k, v)
                own_length = "content-length" in {k.lower() for k in resp.headers}
                if not resp.chunked and not own_length:
                    self.send_header("Content-Length", str(len(body)))  # the full length, even when cut
                if resp.chunked or resp.cut_after is not None:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if self.command == "HEAD":
                    return
                try:
                    self.wfile.write(body if resp.cut_after is None else body[: resp.cut_after])
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_HEAD = _handle

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="local-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalHTTPServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ------------------------------------------------------------------------------------------ the arXiv stand-in
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RECORDED = FIXTURES / "arxiv_api"  # recorded arXiv API responses: {"url", "status_code", "body"} per file
FEEDS = FIXTURES / "feeds"  # constructed RSS/Atom feeds (see the comment in each)
ATOM = "application/atom+xml; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"


def recorded(name: str) -> dict:
    """'id_1605.08386' (= ..._s0_m100) or 'q_testing_s10_m10': the recording without its hash suffix."""
    (path,) = [p for p in RECORDED.glob("*.json") if p.stem.rsplit("_", 1)[0] in (name, f"{name}_s0_m100")]
    return json.loads(path.read_text("utf-8"))


def replay(srv: LocalHTTPServer, name: str, *, keys: tuple[str, ...] | None = None, before=()) -> dict:
    """Serve a recorded body at its recorded path, matching its query (all params, or only `keys`);
    `before` are responses served first (a script: 503, 429, ... then the recording)."""
    rec = recorded(name)
    parts = urlsplit(rec["url"])
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if keys is not None:
        query = {k: query[k] for k in keys}
    srv.route(parts.path, [*before, Response(rec["status_code"], rec["body"], content_type=ATOM)], query=query)
    return rec


class ArxivStandIn(LocalHTTPServer):
    """arXiv on 127.0.0.1: RSS feeds at /rss/{category}, listing pages at /list/{category}/new, the API at
    /api/query, PDFs at /pdf/{id}.

        with ArxivStandIn() as arxiv:
            for name, value in arxiv.fetch_env().items():   # point paperrag's fetch settings here
                monkeypatch.setenv(name, value)
            arxiv.feed("cs.CL", (SAMPLE / "rss" / "cs.CL.xml").read_bytes())
            arxiv.replay("id_1605.08386", keys=("id_list",))
            arxiv.pdf("1605.08386v1", pdf_bytes)
    """

    @property
    def rss_url(self) -> str:
        return self.url + "/rss/{category}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/query"

    @property
    def listing_url(self) -> str:
        return self.url + "/list/{category}/new"

    @property
    def pdf_url(self) -> str:
        return self.url + "/pdf/{id}"

    def fetch_env(self, *, retries: int = 3) -> dict[str, str]:
        """PAPERRAG_FETCH__* variables that send paperrag here, with no pacing and no backoff waits."""
        return {
            "PAPERRAG_FETCH__RSS_URL": self.rss_url,
            "PAPERRAG_FETCH__API_URL": self.api_url,
            "PAPERRAG_FETCH__PDF_URL": self.pdf_url,
            "PAPERRAG_FETCH__LISTING_URL": self.listing_url,
            "PAPERRAG_FETCH__DELAY_S": "0",
            "PAPERRAG_FETCH__BACKOFF_S": "0",
            "PAPERRAG_FETCH__RETRIES": str(retries),
        }

    def feed(self, category: str, responses: bytes | str | Response | list[Response]) -> ArxivStandIn:
        """The RSS feed of `category`: a body (served 200 as RSS) or scripted responses."""
        if isinstance(responses, (bytes, str)):
            responses = Response(200, responses, content_type=RSS)
        return self.route(f"/rss/{category}", responses)

    def listing(self, category: str, responses: bytes | str | Response | list[Response]) -> ArxivStandIn:
        """The listing page `/list/{category}/new`: an HTML body (served 200) or scripted responses."""
        if isinstance(responses, (bytes, str)):
            responses = Response(200, responses, content_type="text/html; charset=utf-8")
        return self.route(f"/list/{category}/new", responses)

    def pdf(self, paper_id: str, data: bytes | Response | list[Response]) -> ArxivStandIn:
        if isinstance(data, (bytes, bytearray)):
            data = Response(200, bytes(data), content_type="application/pdf")
        return self.route(f"/pdf/{paper_id}", data)

    def replay(self, name: str, *, keys: tuple[str, ...] | None = None, before=()) -> dict:
        return replay(self, name, keys=keys, before=before)

    def __enter__(self) -> ArxivStandIn:
        return self.start()  # type: ignore[return-value]


if pytest is not None:

    @pytest.fixture
    def local_http_server():
        """A started LocalHTTPServer, stopped after the test."""
        with LocalHTTPServer() as srv:
            yield srv

    @pytest.fixture
    def arxiv_server():
        """A started ArxivStandIn (no settings touched), stopped after the test."""
        with ArxivStandIn() as srv:
            yield srv
