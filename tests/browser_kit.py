"""What the browser tests share: Debian's headless Chromium, the web app served on a free 127.0.0.1 port, and a
page of it that records its requests and keeps a screenshot when the test fails. The `browser` fixture is in
conftest.py; a module that only runs in a browser marks itself with `needs_chromium`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
OUT = Path(__file__).resolve().parent.parent / "test-output"
SHOTS = OUT / "screenshots"
ARXIV = re.compile(r"https?://([\w-]+\.)*arxiv\.org/.*")

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium")


@contextmanager
def served(lib, *, warm: bool = False) -> Iterator[tuple[object, str]]:
    """`ui.app.launch(lib)` on a free 127.0.0.1 port: (the app, its URL); closed afterwards. `warm`: load the
    models before the first request (`demo.paperrag.warm()`)."""
    from fakes.http_server import free_port

    from ui.app import launch

    port = free_port()
    demo = launch(lib, host="127.0.0.1", port=port, block=False, warm=False, quiet=True)
    try:
        if warm:
            demo.paperrag.warm()
        yield demo, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@contextmanager
def app_page(browser, url: str, request, *, tab: str, timeout_ms: int = 60_000, stub_arxiv: bool = False):
    """A new browser context on the app at `url`, open once its `tab` is visible. The page's `requests` lists every
    URL it asked for. `stub_arxiv`: arXiv links are answered by a stub (nothing leaves the machine, a click is still
    observable). When the test failed, every tab of the context is saved to test-output/ui-failures/."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    if stub_arxiv:
        context.route(ARXIV, lambda route: route.fulfill(status=200, content_type="text/html",
                                                         body="<p>arXiv stub</p>"))
    pg = context.new_page()
    pg.requests = []
    context.on("request", lambda r: pg.requests.append(r.url))
    pg.set_default_timeout(timeout_ms)
    failed_before = request.session.testsfailed
    try:
        pg.goto(url)
        expect(pg.get_by_role("tab", name=tab)).to_be_visible()
        yield pg
        if request.session.testsfailed > failed_before:  # keep what the pages looked like
            (OUT / "ui-failures").mkdir(parents=True, exist_ok=True)
            for n, shown in enumerate(context.pages):
                shown.screenshot(path=str(OUT / "ui-failures" / f"{request.node.name}-{n}.png"), full_page=True)
    finally:
        context.close()
