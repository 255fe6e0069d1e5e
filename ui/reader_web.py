"""The local reader's web pages, served by the app next to the Gradio UI (`add_reader_routes(app, lib)`):

    GET  /reader/{paper}?page=N&q=QUOTE[&q=…][&cite=N][&zoom=Z]   one page: its image, the quotes' words boxed
    GET  /reader/{paper}/page/{N}.png?dpi=150                     that page rendered (PNG, cached on disk)
    POST /reader/{paper}/restore                                  download a PDF deleted from the cache again

`{paper}` is a paper key ("2405.00001v1") or an arXiv id of the catalog — it is looked up, never used as a path,
so "../../etc/passwd" is simply an unknown paper (404). Only the requested page is rendered: the browser gets one
image, never the PDF. A quote that cannot be located on the page is said so in `#reader-note`, and no box is
drawn. The boxes are `div.hl` positioned in percent of the page, so zoom (CSS width; a sharper image is fetched
past 1.5×) keeps them in place. Nothing is loaded from outside the app.
"""

from __future__ import annotations

import html
import json
import logging
from urllib.parse import quote as urlquote
from urllib.parse import urlencode

from fastapi import Request

from paperrag.errors import PdfMissingError, ReaderError, user_message
from paperrag.library import Library

log = logging.getLogger(__name__)

BASE_WIDTH_PX = 900  # the page's width on screen at 100 %
ZOOMS = (0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)
SHARP_DPI = {1.5: 150, 3.0: 220, 99: 300}  # zoom up to → dpi of the image fetched (150 dpi ≈ 1.4× of 900 px)

CSS = """
:root { color-scheme: light dark; --bar: #f4f4f5; --fg: #18181b; --line: #d4d4d8; --hl: rgba(255, 213, 0, .38);
  --hl-edge: rgba(230, 160, 0, .9); --note: #fff7ed; --note-edge: #fb923c; }
@media (prefers-color-scheme: dark) { :root { --bar: #27272a; --fg: #e4e4e7; --line: #3f3f46; --note: #3b2a1a; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 ui-sans-serif, system-ui, sans-serif; color: var(--fg); background: #71717a; }
#reader-bar { position: sticky; top: 0; z-index: 5; display: flex; flex-wrap: wrap; gap: .5rem 1rem;
  align-items: center; padding: .5rem 1rem; background: var(--bar); border-bottom: 1px solid var(--line); }
#reader-bar .title { font-weight: 600; max-width: 40rem; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
#reader-bar .group { display: flex; gap: .35rem; align-items: center; }
#reader-bar a, #reader-bar button { color: inherit; font: inherit; padding: .15rem .55rem;
  border: 1px solid var(--line); border-radius: 6px; background: transparent; text-decoration: none; cursor: pointer; }
#reader-bar a[aria-disabled=true] { opacity: .35; pointer-events: none; }
#reader-note, .reader-message { margin: .8rem auto; max-width: 58rem; padding: .6rem .9rem; background: var(--note);
  border-left: 4px solid var(--note-edge); border-radius: 4px; }
#reader-quote { margin: .6rem auto; max-width: 58rem; padding: .4rem .9rem; background: var(--bar);
  border-radius: 4px; font-size: 13px; }
main { padding: 1rem; overflow-x: auto; }
#sheet { position: relative; margin: 0 auto; background: white; box-shadow: 0 2px 12px rgba(0,0,0,.35); }
#page-image { display: block; width: 100%; height: auto; }
.hl { position: absolute; background: var(--hl); outline: 1px solid var(--hl-edge); border-radius: 2px;
  mix-blend-mode: multiply; pointer-events: none; }
.reader-message { background: var(--bar); border-left-color: #dc2626; }
.reader-message code { background: rgba(127,127,127,.18); padding: 0 .25rem; border-radius: 3px; }
"""

JS = """
(() => {
  const zooms = %(zooms)s, sharp = %(sharp)s, base = %(base)d;
  const sheet = document.getElementById('sheet'), img = document.getElementById('page-image');
  const label = document.getElementById('zoom-level');
  let zoom = %(zoom)s;
  const dpiFor = z => {
    for (const [upTo, dpi] of sharp) { if (z <= upTo) return dpi; }
    return sharp[sharp.length - 1][1];
  };
  function apply() {
    sheet.style.width = Math.round(base * zoom) + 'px';
    label.textContent = Math.round(zoom * 100) + '%%';
    const want = dpiFor(zoom);
    if (Number(img.dataset.dpi) < want) {  // past 1.5x: a sharper image of the same page
      img.dataset.dpi = want;
      img.src = img.dataset.src.replace(/dpi=\\d+/, 'dpi=' + want);
    }
    const u = new URL(location.href);
    u.searchParams.set('zoom', String(zoom));
    history.replaceState(null, '', u);
  }
  const step = d => {
    const i = zooms.findIndex(z => z >= zoom - 1e-6);
    zoom = zooms[Math.max(0, Math.min(zooms.length - 1, (i < 0 ? zooms.length - 1 : i) + d))];
    apply();
  };
  document.getElementById('zoom-in').onclick = () => step(1);
  document.getElementById('zoom-out').onclick = () => step(-1);
  document.getElementById('zoom-fit').onclick = () => {
    zoom = Math.max(0.5, Math.min(3, (document.documentElement.clientWidth - 48) / base));
    apply();
  };
  document.addEventListener('keydown', e => {
    if (e.target.closest('input, textarea')) return;
    const go = id => {
      const a = document.getElementById(id);
      if (a && a.getAttribute('aria-disabled') !== 'true') location.href = a.href;
    };
    if (e.key === 'ArrowLeft') go('prev-page'); else if (e.key === 'ArrowRight') go('next-page');
    else if (e.key === '+' || e.key === '=') step(1); else if (e.key === '-') step(-1);
  });
  if (zoom !== 1) apply();
  const first = document.querySelector('.hl');
  if (first) first.scrollIntoView({block: 'center'});
})();
"""


def _e(text: object) -> str:
    return html.escape(str(text or ""), quote=True)


def page_href(paper: str, page: int, quotes, cite: int | None, zoom: float | None = None) -> str:
    """The reader's address of `page`, relative to /reader/ (the quotes and the cited page carried along)."""
    href = Library.reader_url(paper, page, quotes, cite=cite).removeprefix("reader/")
    return href + (f"&zoom={zoom:g}" if zoom and zoom != 1 else "")


def image_src(paper: str, page: int, dpi: int) -> str:
    return f"{urlquote(paper, safe='')}/page/{int(page)}.png?{urlencode({'dpi': dpi})}"


def _dpi_for(zoom: float) -> int:
    return next(dpi for up_to, dpi in sorted(SHARP_DPI.items()) if zoom <= up_to)


def _doc(title: str, body: str, script: str = "") -> str:
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n"
            + (f"<script>{script}</script>" if script else "") + "</body></html>\n")


def reader_html(view, quotes, *, cite: int | None = None, zoom: float = 1.0) -> str:
    """The reader page of a `PageView`."""
    cite = cite or view.page
    here = view.page == cite
    key = view.paper_key
    prev_ = page_href(key, view.page - 1, quotes, cite, zoom) if view.page > 1 else "#"
    next_ = page_href(key, view.page + 1, quotes, cite, zoom) if view.page < view.n_pages else "#"
    links = []
    if view.arxiv_url:
        links.append(f'<a id="arxiv-link" href="{_e(view.arxiv_url)}" target="_blank" rel="noopener">arXiv ↗</a>')
        links.append(f'<a id="arxiv-pdf-link" href="{_e(view.pdf_url)}" target="_blank" rel="noopener">'
                     f"PDF p.{view.page} on arXiv ↗</a>")
    first, last = str(view.page <= 1).lower(), str(view.page >= view.n_pages).lower()
    bar = f"""<header id="reader-bar">
  <span class="title" title="{_e(view.title)}">{_e(view.arxiv_id)} · {_e(view.title)}</span>
  <span class="group">
    <a id="prev-page" href="{_e(prev_)}" aria-disabled="{first}" title="previous page (←)">←</a>
    <span id="page-label">p. {view.page} / {view.n_pages}</span>
    <a id="next-page" href="{_e(next_)}" aria-disabled="{last}" title="next page (→)">→</a>
  </span>
  <span class="group">
    <button id="zoom-out" type="button" title="zoom out (-)">−</button>
    <span id="zoom-level">{round(zoom * 100)}%</span>
    <button id="zoom-in" type="button" title="zoom in (+)">+</button>
    <button id="zoom-fit" type="button">fit width</button>
  </span>
  <span class="group">{' '.join(links)}</span>
</header>"""
    parts = [bar]
    if quotes and not here:
        parts.append(f'<div class="reader-message" id="reader-elsewhere">The cited passage is on '
                     f'<a href="{_e(page_href(key, cite, quotes, cite, zoom))}">page {cite}</a>.</div>')
    if here:
        for note in view.notes:
            parts.append(f'<div id="reader-note" role="status">⚠ {_e(note)}: the page is shown without a '
                         f"highlight.</div>")
        if quotes:
            shown = " … ".join(f"“{_e(q)}”" for q in quotes)
            parts.append(f'<details id="reader-quote"><summary>Quoted on this page</summary>{shown}</details>')
    boxes = []
    for n, h in enumerate(view.highlights if here else []):
        if not h.located:
            continue
        for x0, y0, x1, y1 in h.boxes:
            boxes.append(f'<div class="hl" data-quote="{n}" style="left:{100 * x0:.3f}%;top:{100 * y0:.3f}%;'
                         f'width:{100 * (x1 - x0):.3f}%;height:{100 * (y1 - y0):.3f}%"></div>')
    dpi = _dpi_for(zoom)
    src = image_src(key, view.page, dpi)
    aspect = view.height / view.width if view.width else 1.294
    w = round(BASE_WIDTH_PX * zoom)
    parts.append(f"""<main><div id="sheet" style="width:{w}px">
<img id="page-image" src="{_e(src)}" data-src="{_e(src)}" data-dpi="{dpi}" width="{BASE_WIDTH_PX}"
 height="{round(BASE_WIDTH_PX * aspect)}" alt="page {view.page} of {_e(view.title or view.arxiv_id)}">
{''.join(boxes)}
</div></main>""")
    script = JS % {"zooms": json.dumps(ZOOMS), "sharp": json.dumps(sorted(SHARP_DPI.items())),
                   "base": BASE_WIDTH_PX, "zoom": json.dumps(zoom)}
    return _doc(f"p.{view.page} · {view.title or view.arxiv_id} — paperrag reader", "\n".join(parts), script)


def missing_pdf_html(exc: PdfMissingError, paper: str, *, restore_error: str = "") -> str:
    rec = exc.paper
    key = getattr(rec, "key", paper)
    arxiv_id = getattr(rec, "arxiv_id", paper)
    local = str(arxiv_id).startswith("local:")
    label = {"download": "Download the PDF again from arXiv",
             "copy": f"Copy it back from {exc.source}"}.get(exc.restore, "")
    offer = (f'<form method="post" action="{_e(urlquote(key, safe=""))}/restore">'
             f'<button id="reader-restore" type="submit">{_e(label)}</button></form>' if label else "")
    cli = (f"<code>paperrag open {_e(key)} --download</code>" if label
           else f"<code>paperrag delete {_e(key)}</code>, then add the file again (Library tab → upload, or "
                "<code>paperrag ingest PATH</code>)")
    failed = f'<p id="reader-restore-error">⚠ {_e(restore_error)}</p>' if restore_error else ""
    abs_url = f"https://arxiv.org/abs/{arxiv_id}v{getattr(rec, 'version', '')}"
    online = (f'<p>Or read it on arXiv: <a href="{_e(abs_url)}" target="_blank" rel="noopener">'
              f"arxiv.org/abs/{_e(arxiv_id)}</a></p>" if not local else "")
    or_button = ", or the button below" if label else ""
    body = f"""<div class="reader-message" id="reader-missing" role="alert">
<h2>The PDF of {_e(key)} is not in the local cache</h2>
<p>{_e(str(exc)[:1].upper() + str(exc)[1:])}. Its chunks and quotes are still in the library; only the file to
show is gone (deleted by hand, or never downloaded). To read it here again: {cli}{or_button}.</p>
{offer}{failed}{online}
</div>"""
    return _doc(f"{key}: PDF missing — paperrag reader", body)


def error_html(message: str, title: str = "Not found") -> str:
    body = (f'<div class="reader-message" id="reader-error" role="alert"><h2>{_e(title)}</h2><p>{_e(message)}</p>'
            f'<p><a href="../">Back to paperrag</a></p></div>')
    return _doc(f"{title} — paperrag reader", body)


def _authorised(request) -> bool:
    """The Gradio app's own login (ui.auth / --auth) guards the reader too: its session cookie must be valid."""
    app = request.app
    if getattr(app, "auth", None) is None and getattr(app, "auth_dependency", None) is None:
        return True
    if getattr(app, "auth_dependency", None) is not None:
        try:
            return app.auth_dependency(request) is not None
        except Exception:
            return False
    cookie_id = getattr(app, "cookie_id", "")
    token = request.cookies.get(f"access-token-{cookie_id}") or request.cookies.get(
        f"access-token-unsecure-{cookie_id}")
    return bool(token) and app.tokens.get(token) is not None


def _int(value, default: int | None, lo: int = 1, hi: int = 100_000) -> int | None:
    if value in (None, ""):
        return default
    n = int(str(value).strip())  # ValueError → 400
    if not lo <= n <= hi:
        raise ValueError(value)
    return n


def add_reader_routes(app, lib: Library) -> None:
    """Serve the reader on a FastAPI app: Gradio's (`demo.app` after launch) or the one it is mounted on."""
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'; "
                                          "script-src 'unsafe-inline'; frame-ancestors 'self'"}

    def page(body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(body, status_code=status, headers=headers)

    async def image(request: Request, key: str, n: int):
        if not _authorised(request):
            return page(error_html("log in to the app first", "Not authenticated"), 401)
        try:
            dpi = _int(request.query_params.get("dpi"), None, 1, 1000)
        except ValueError:
            return page(error_html("dpi must be a number", "Bad request"), 400)
        try:
            path = await run_in_threadpool(lib.page_image, key, n, dpi)
        except PdfMissingError as exc:
            return page(error_html(user_message(exc), "PDF missing"), 404)
        except ReaderError as exc:
            bad = "dpi" in str(exc)
            return page(error_html(user_message(exc), "Bad request" if bad else "Not found"), 400 if bad else 404)
        return FileResponse(path, media_type="image/png",
                            headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"})

    async def reader(request: Request, key: str):
        if not _authorised(request):
            return page(error_html("log in to the app first", "Not authenticated"), 401)
        qp = request.query_params
        try:
            n = _int(qp.get("page"), 1)
            cite = _int(qp.get("cite"), None)
            zoom = float(qp.get("zoom") or 1.0)
            if not 0.25 <= zoom <= 4:
                raise ValueError(zoom)
        except ValueError:
            return page(error_html("page and cite must be page numbers, zoom a factor between 0.25 and 4",
                                   "Bad request"), 400)
        quotes = [q for q in qp.getlist("q") if q.strip()]
        cite = cite or n
        try:
            view = await run_in_threadpool(lib.page_view, key, n, quotes if cite == n else ())
        except PdfMissingError as exc:
            return page(missing_pdf_html(exc, key), 404)
        except ReaderError as exc:
            return page(error_html(user_message(exc)), 404)
        return page(reader_html(view, quotes, cite=cite, zoom=zoom))

    async def restore(request: Request, key: str):
        if not _authorised(request):
            return page(error_html("log in to the app first", "Not authenticated"), 401)
        origin = request.headers.get("origin")
        if origin and origin.rstrip("/") != f"{request.url.scheme}://{request.url.netloc}":
            return page(error_html("cross-site request refused", "Forbidden"), 403)
        try:
            rec = await run_in_threadpool(lib.reader.paper, key)
            await run_in_threadpool(lib.restore_pdf, rec.key)
        except PdfMissingError as exc:
            return page(missing_pdf_html(exc, key), 404)
        except ReaderError as exc:
            return page(error_html(user_message(exc)), 404)
        except Exception as exc:  # the download failed (offline, arXiv refused): say so on the same page
            try:
                lib.reader.pdf_path(rec)
            except PdfMissingError as missing:
                return page(missing_pdf_html(missing, key, restore_error=user_message(exc)), 502)
            raise
        return RedirectResponse(f"../{urlquote(rec.key, safe='')}?page=1", status_code=303)

    # the image route first: "{key:path}" would otherwise take ".../page/3.png" as a paper key
    app.add_api_route("/reader/{key:path}/page/{n:int}.png", image, methods=["GET"], include_in_schema=False)
    app.add_api_route("/reader/{key:path}/restore", restore, methods=["POST"], include_in_schema=False)
    app.add_api_route("/reader/{key:path}", reader, methods=["GET"], include_in_schema=False)
