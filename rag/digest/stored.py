"""The digests already written, as the web app shows them: which days and formats exist, their files, and a
day's page as a sanitised HTML fragment (`Library.digest_view`)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path

DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FORMATS = ("report", "monitor", "table")
RUN_REPORT = "run report"


@dataclass
class DigestView:
    day: str
    formats: list[str]  # written for the day (report, monitor, table), then "run report" when present
    fmt: str | None  # the one shown (the asked one when written, else the first)
    html: str  # the page as an HTML fragment
    files: dict[str, Path] = field(default_factory=dict)  # {"md": …, "html": …} of `fmt`


def digest_days(digests_dir: Path) -> list[str]:
    """Days that have a digest folder with at least one rendered file, newest first."""
    if not Path(digests_dir).is_dir():
        return []
    days = [d.name for d in Path(digests_dir).iterdir()
            if d.is_dir() and DAY_RE.match(d.name) and any(d.glob("*.md"))]
    return sorted(days, reverse=True)


def digest_formats(day_dir: Path) -> list[str]:
    """Formats written for a day (report, monitor, table), then the run report when present."""
    found = [f for f in FORMATS if (day_dir / f"{f}.md").exists() or (day_dir / f"{f}.html").exists()]
    if (day_dir / "run-report.md").exists():
        found.append(RUN_REPORT)
    return found


def digest_files(day_dir: Path, fmt: str) -> dict[str, Path]:
    """{"md": path, "html": path} of a day's format, only those that exist."""
    if fmt == RUN_REPORT:
        files = {"md": day_dir / "run-report.md"}
    else:
        files = {"md": day_dir / f"{fmt}.md", "html": day_dir / f"{fmt}.html"}
    return {k: v for k, v in files.items() if v.exists()}


_PAGE = re.compile(r'<div class="page">(?P<inner>.*)</div>\s*</body>', re.S)
_EXTERNAL = re.compile(r'<a href="(https?://[^"]*)"(?![^>]*\btarget=)')
_FIGURE = re.compile(r'<img (?P<pre>[^>]*?)src="(?P<src>figures/[A-Za-z0-9][A-Za-z0-9._-]*\.png)"')
FIGURE_MAX_BYTES = 4_000_000
_FOOTER = re.compile(r'<footer class="reader-note">.*?</footer>\s*', re.S)


def inline_figures(inner: str, day_dir: Path) -> str:
    """The key figures of a digest page (`<img src="figures/x.png">`, next to the page) as data: URLs, so the
    page shown inside the app (which does not serve the digest folder) has them; a missing one is dropped."""
    def one(m: re.Match) -> str:
        path = day_dir / m["src"]
        try:
            data = path.read_bytes() if path.stat().st_size <= FIGURE_MAX_BYTES else b""
        except OSError:
            data = b""
        if not data.startswith(b"\x89PNG"):
            return f'<img {m["pre"]}src=""'
        return f'<img {m["pre"]}src="data:image/png;base64,{base64.b64encode(data).decode()}"'

    return _FIGURE.sub(one, inner)


_LOOPBACK_READER = r"https?://(?:127\.0\.0\.1|localhost|\[::1\]):\d+/reader/"


def relative_reader_links(inner: str, app_url: str = "") -> str:
    """Page citations of a digest page (absolute links to the web app's reader, on `app_url` or on a loopback
    address the app had when the page was written) made relative to the app that shows the page, in a new tab."""
    targets = [_LOOPBACK_READER] + ([re.escape(app_url.rstrip("/") + "/reader/")] if app_url else [])
    return re.sub(r'<a href="(?:' + "|".join(targets) + ")", '<a target="_blank" href="reader/', inner)


def digest_html(day_dir: Path, fmt: str, app_url: str = "") -> str:
    """The stored digest as an HTML fragment for the page: the rendered `.html` (already sanitised by
    rag.digest.render, TOC and paper anchors included) without its <head>; the run report (markdown only)
    goes through the same sanitising converter. In-page anchors stay as they are, so the TOC scrolls to the
    paper; page citations open the app's own reader (`app_url`: the address they were written with) and links
    to other sites, in a new tab."""
    files = digest_files(day_dir, fmt)
    if "html" in files:
        page = files["html"].read_text(encoding="utf-8")
        m = _PAGE.search(page)
        inner = relative_reader_links(inline_figures(m["inner"] if m else page, day_dir), app_url)
        inner = _FOOTER.sub("", inner)  # "page citations need the app": said to readers of the file only
    elif "md" in files:
        from rag.digest.render import (
            markdown_to_html,  # the run report is markdown only
        )

        body, _toc = markdown_to_html(files["md"].read_text(encoding="utf-8"))
        inner = f"<main>{body}</main>"
    else:
        return '<div class="paperrag-digest"><p>No such digest.</p></div>'
    inner = _EXTERNAL.sub(r'<a href="\1" target="_blank"', inner)
    return f'<div class="paperrag-digest">{inner}</div>'




_MD_FIGURE = re.compile(r"!\[[^\]\n]*\]\((?P<src>figures/[A-Za-z0-9][A-Za-z0-9._-]*\.png)\)")


def download_copy(day_dir: Path, fmt: str, kind: str, folder: Path) -> Path | None:
    """A copy of a day's `fmt` digest (`kind` "md" or "html") that stands on its own, named
    `paperrag-DAY-FMT.ext` in `folder`: the .html with its key figures as data: URLs (one file; the page's CSP
    allows data: images); the .md as it is, or, when it shows key figures (`figures/x.png`, relative to it),
    a .zip of the .md and those figures in the same layout. None when the file was not written."""
    day_dir = Path(day_dir)
    source = digest_files(day_dir, fmt).get(kind)
    if source is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"paperrag-{day_dir.name}-{source.stem}"
    text = source.read_text(encoding="utf-8")
    if kind == "html":
        target = folder / f"{stem}.html"
        target.write_text(inline_figures(text, day_dir), encoding="utf-8")
        return target
    figures = [src for src in dict.fromkeys(m["src"] for m in _MD_FIGURE.finditer(text))
               if (day_dir / src).is_file()]
    if not figures:
        target = folder / f"{stem}.md"
        target.write_text(text, encoding="utf-8")
        return target
    import zipfile

    target = folder / f"{stem}.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{stem}/{source.name}", text)
        for src in figures:
            z.write(day_dir / src, f"{stem}/{src}")
    return target


def digest_view(digests_dir: Path, day: str, fmt: str | None, *, app_url: str = "") -> DigestView | None:
    """A written day's digest in `fmt` (or its first format); None when the day has no digest."""
    if day not in digest_days(digests_dir):
        return None
    day_dir = Path(digests_dir) / day
    formats = digest_formats(day_dir)
    if fmt not in formats:
        fmt = formats[0] if formats else None
    if fmt is None:
        return DigestView(day, [], None, "<p>No files for this day.</p>")
    return DigestView(day, formats, fmt, digest_html(day_dir, fmt, app_url), digest_files(day_dir, fmt))
