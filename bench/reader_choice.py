"""Why the local reader shows page images: PyMuPDF page images vs PDF.js, measured on the same cited pages.

    npm install --prefix /tmp/pdfjs pdfjs-dist@4.10.38          # only for this measurement; not shipped
    python bench/reader_choice.py --pdfjs /tmp/pdfjs/node_modules/pdfjs-dist [--home DIR] [--n 30] [--seed 14]

Same data as bench/reader.py (the 23 classic PDFs parsed and chunked into a temporary home, quotes sampled with
the same seed). For each sampled cited page, in headless Chromium (one browser context, its HTTP cache on, one
warm-up open per method first):
- (a) images: the app's reader page `/reader/KEY?page=N&q=…` — the page rendered by PyMuPDF to a PNG (cold: not
  rendered before) and the quote's boxes as positioned divs; done = image decoded and the highlight (or the note)
  in the DOM;
- (b) PDF.js: a minimal viewer served locally (pdfjs-dist's `pdf.min.mjs` + worker, the cached PDF served with
  HTTP Range support, `disableAutoFetch` + `disableStream` so only the needed byte ranges are fetched): done =
  page N rendered to a canvas at 1.5× (about the same pixels as the 150-dpi image). The highlight boxes would still
  come from PyMuPDF (PDF.js has no fuzzy quote locator), so they are not part of (b)'s cost.
Reported: open time p50/p90/max and bytes the browser received per open (all requests, workers included), and
the largest PDF's numbers. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import reader as bench_reader  # noqa: E402  (bench/reader.py: the home, the quotes, the percentiles)

VIEWER = """<!doctype html><html><head><meta charset="utf-8"><title>pdf.js</title></head>
<body style="margin:0;background:#71717a"><canvas id="c" style="display:block;margin:1rem auto"></canvas>
<script type="module">
import * as pdfjs from '/pdfjs/build/pdf.min.mjs';
pdfjs.GlobalWorkerOptions.workerSrc = '/pdfjs/build/pdf.worker.min.mjs';
const q = new URLSearchParams(location.search);
const doc = await pdfjs.getDocument({url: q.get('file'), disableAutoFetch: true, disableStream: true,
                                     rangeChunkSize: 65536}).promise;
const page = await doc.getPage(Number(q.get('page')));
const vp = page.getViewport({scale: 1.5});
const c = document.getElementById('c'); c.width = vp.width; c.height = vp.height;
await page.render({canvasContext: c.getContext('2d'), viewport: vp}).promise;
window.__done = performance.now();
</script></body></html>"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pdfjs_server(pdfjs: Path, lib) -> tuple[str, object]:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import FileResponse, HTMLResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    def pdf(request):
        key = request.path_params["key"]
        try:
            return FileResponse(lib.reader.pdf_path(lib.reader.paper(key)), media_type="application/pdf")
        except Exception:
            return Response(status_code=404)

    app = Starlette(routes=[
        Route("/viewer.html", lambda r: HTMLResponse(VIEWER)),
        Route("/pdf/{key:path}", pdf),
        Mount("/pdfjs", StaticFiles(directory=str(pdfjs))),
    ])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def open_timed(page, url: str, done_js: str) -> tuple[float, int]:
    """(seconds from navigation start to done, bytes received by every request of this open)."""
    received: list[int] = []

    def on_finished(req):
        try:
            received.append(req.sizes()["responseBodySize"])
        except Exception:
            pass

    page.context.on("requestfinished", on_finished)
    try:
        page.goto(url, wait_until="commit")
        page.wait_for_function(done_js, timeout=60_000)
        ms = page.evaluate("() => (window.__done || performance.now())"
                           " - performance.getEntriesByType('navigation')[0].startTime")
        page.wait_for_load_state("networkidle")
    finally:
        page.context.remove_listener("requestfinished", on_finished)
    return ms / 1000, sum(received)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pdfjs", type=Path, required=True, help="the pdfjs-dist folder (npm)")
    ap.add_argument("--pdfs", type=Path, default=bench_reader.DEFAULT_PDFS)
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--seed", type=int, default=14)
    args = ap.parse_args(argv)
    if not (args.pdfjs / "build" / "pdf.min.mjs").exists():
        print(f"no pdfjs-dist build under {args.pdfjs}", file=sys.stderr)
        return 1

    from playwright.sync_api import sync_playwright

    from paperrag.library import Library
    from paperrag.settings import Settings
    from ui.app import launch

    tmp = None
    home = args.home
    if home is None:
        tmp = Path(tempfile.mkdtemp(prefix="paperrag-bench-choice-"))
        home = tmp / "home"
    try:
        settings = Settings(home=home) if (home / "catalog.sqlite").exists() else bench_reader.build_home(
            sorted(args.pdfs.glob("*.pdf")), home)
        settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={"backend": "fake"})})
        lib = Library(settings)
        quotes = bench_reader.all_quotes(lib)
        sample = random.Random(args.seed).sample(quotes, min(100, len(quotes)))[: args.n]
        sizes = {k: lib.reader.pdf_path(lib.reader.paper(k)).stat().st_size for k, *_ in sample}

        port = free_port()
        demo = launch(lib, host="127.0.0.1", port=port, block=False, warm=False, quiet=True)
        app_url = f"http://127.0.0.1:{port}/"
        pdfjs_url, server = pdfjs_server(args.pdfjs, lib)
        images_done = ("() => { const i = document.getElementById('page-image'); return i && i.complete &&"
                       " i.naturalWidth > 0 && (document.querySelector('.hl')"
                       " || document.getElementById('reader-note')); }")
        pdfjs_done = "() => window.__done !== undefined"
        rows = {"images": [], "pdfjs": []}
        try:
            shutil.rmtree(settings.reader_dir, ignore_errors=True)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(bench_reader.CHROMIUM),
                                            args=["--headless", "--no-sandbox", "--disable-gpu"])
                ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = ctx.new_page()
                warm_key, warm_page, warm_text, _ = quotes[0]  # one warm-up open per method (scripts cached)
                open_timed(page, app_url + lib.reader_url(warm_key, warm_page, [warm_text]), images_done)
                open_timed(page, f"{pdfjs_url}/viewer.html?file=/pdf/{warm_key}&page={warm_page}", pdfjs_done)
                for key, pg, text, _ in sample:
                    rows["images"].append((key, *open_timed(page, app_url + lib.reader_url(key, pg, [text]),
                                                            images_done)))
                    rows["pdfjs"].append((key, *open_timed(page, f"{pdfjs_url}/viewer.html?file=/pdf/{key}&page={pg}",
                                                           pdfjs_done)))
                browser.close()
        finally:
            demo.close()
            server.should_exit = True

        pct = bench_reader.pct
        out = {"n": len(sample), "seed": args.seed}
        print("| method | open p50 | p90 | max | KB received p50 | p90 | on the largest PDF |")
        print("|---|---|---|---|---|---|---|")
        big = max(sizes, key=sizes.get)
        for name, label in (("images", "(a) PyMuPDF page image + boxes"), ("pdfjs", "(b) PDF.js, range requests")):
            secs = [r[1] for r in rows[name]]
            kb = [r[2] / 1024 for r in rows[name]]
            on_big = [r for r in rows[name] if r[0] == big]
            out[name] = {"p50_s": round(pct(secs, .5), 3), "p90_s": round(pct(secs, .9), 3),
                         "max_s": round(max(secs), 3), "kb_p50": round(pct(kb, .5)), "kb_p90": round(pct(kb, .9)),
                         "largest_pdf": big, "largest_pdf_kb": round(sizes[big] / 1024),
                         "largest_pdf_open_s": round(on_big[0][1], 3) if on_big else None,
                         "largest_pdf_received_kb": round(on_big[0][2] / 1024) if on_big else None}
            o = out[name]
            print(f"| {label} | {o['p50_s']:.3f} s | {o['p90_s']:.3f} s | {o['max_s']:.3f} s | {o['kb_p50']} | "
                  f"{o['kb_p90']} | {big} ({o['largest_pdf_kb']} KB): {o['largest_pdf_open_s']} s, "
                  f"{o['largest_pdf_received_kb']} KB |")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
