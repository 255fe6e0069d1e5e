"""An Atom 1.0 feed of the written digests: `digests_dir/feed.xml`, one entry per DATE/{fmt}.html.

The entries are read back from the pages `render.write_digest` wrote (their <meta name="paperrag:*"> tags,
<title>, <html lang> and description), so the feed can be rebuilt at any time from the folder alone.
Entry ids are tag URIs of (date, format): rewriting a digest or the feed updates an entry, never duplicates it.
Built with ElementTree (no string concatenation), written atomically.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree as ET

from rag.digest.io import atomic_write_bytes
from rag.digest.render import FORMATS

ATOM_NS = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
FEED_FILE = "feed.xml"
TAG_AUTHORITY = "tag:paperrag,2025:"
_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # not allowed in XML 1.0


def entry_id(date: str, fmt: str) -> str:
    """Stable id of the entry for the digest of `date` in format `fmt`."""
    return f"{TAG_AUTHORITY}digest/{date}/{fmt}"


class _HeadReader(HTMLParser):
    """The bits of a digest page the feed needs: <html lang>, <title>, <meta name=... content=...>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang = ""
        self.title = ""
        self.meta: dict[str, str] = {}
        self._in_title = False
        self.done = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang") or ""
        elif tag == "title":
            self._in_title = True
        elif tag == "meta" and a.get("name"):
            self.meta[a["name"].lower()] = a.get("content") or ""
        elif tag == "body":
            self.done = True

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


@dataclass
class FeedEntry:
    date: str
    fmt: str
    path: Path
    title: str
    language: str
    papers: int | None
    summary: str
    updated: datetime


def _read_head(path: Path) -> _HeadReader:
    reader = _HeadReader()
    text = path.read_text(encoding="utf-8", errors="replace")
    head, sep, _ = text.partition("<body")
    reader.feed(head if sep else text)
    reader.close()
    return reader


def collect_entries(digests_dir: str | Path) -> list[FeedEntry]:
    """Every DATE/{fmt}.html under `digests_dir`, newest date first (formats in FORMATS order)."""
    root = Path(digests_dir)
    entries: list[FeedEntry] = []
    if not root.is_dir():
        return entries
    for day in root.iterdir():
        if not (day.is_dir() and _DATE_DIR.match(day.name)):
            continue
        for fmt in FORMATS:
            page = day / f"{fmt}.html"
            if not page.is_file():
                continue
            head = _read_head(page)
            meta = head.meta
            language = meta.get("paperrag:language") or head.lang.split("-")[0] or ""
            try:
                papers: int | None = int(meta.get("paperrag:papers", ""))
            except ValueError:
                papers = None
            entries.append(FeedEntry(
                date=day.name,
                fmt=fmt,
                path=page,
                title=" ".join(head.title.split()) or f"{fmt} {day.name}",
                language=language,
                papers=papers,
                summary=" ".join(meta.get("description", "").split()),
                updated=datetime.fromtimestamp(page.stat().st_mtime, tz=timezone.utc).replace(microsecond=0),
            ))
    entries.sort(key=lambda e: (e.date, -FORMATS.index(e.fmt)), reverse=True)
    return entries


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(s: str) -> str:
    return _CONTROL.sub("", s)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: _text(v) for k, v in attrs.items()})
    if text is not None:
        el.text = _text(text)
    return el


def _link_for(entry: FeedEntry, base_url: str | None) -> str:
    if base_url:
        return f"{base_url.rstrip('/')}/{entry.date}/{entry.fmt}.html"
    return entry.path.resolve().as_uri()


def build_feed(digests_dir: str | Path, *, base_url: str | None = None, title: str = "paperrag digests") -> bytes:
    """The Atom document (UTF-8 bytes) for the digests under `digests_dir`."""
    root_dir = Path(digests_dir)
    entries = collect_entries(root_dir)
    # plain names + an xmlns attribute: ElementTree's default_namespace rejects unqualified attributes
    feed = ET.Element("feed", {"xmlns": ATOM_NS})
    _sub(feed, "id", f"{base_url.rstrip('/')}/{FEED_FILE}" if base_url else (root_dir.resolve() / FEED_FILE).as_uri())
    _sub(feed, "title", title)
    _sub(feed, "subtitle", "Daily arXiv digests written by paperrag")
    updated = max((e.updated for e in entries), default=datetime.now(timezone.utc).replace(microsecond=0))
    _sub(feed, "updated", _iso(updated))
    author = _sub(feed, "author")
    _sub(author, "name", "paperrag")
    _sub(feed, "generator", "paperrag")
    if base_url:
        _sub(feed, "link", rel="self", type="application/atom+xml", href=f"{base_url.rstrip('/')}/{FEED_FILE}")
        _sub(feed, "link", rel="alternate", type="text/html", href=base_url.rstrip("/") + "/")
    for e in entries:
        item = _sub(feed, "entry")
        if e.language:
            item.set(XML_LANG, e.language)
        _sub(item, "id", entry_id(e.date, e.fmt))
        _sub(item, "title", f"{e.title} [{e.fmt}]")
        _sub(item, "published", f"{e.date}T00:00:00Z")
        _sub(item, "updated", _iso(e.updated))
        _sub(item, "link", rel="alternate", type="text/html", href=_link_for(e, base_url))
        _sub(item, "category", term=e.fmt, scheme=f"{TAG_AUTHORITY}format", label=f"format: {e.fmt}")
        if e.language:
            _sub(item, "category", term=e.language, scheme=f"{TAG_AUTHORITY}language", label=f"language: {e.language}")
        summary = e.summary
        if e.papers is not None and not summary:
            summary = f"{e.papers} papers"
        _sub(item, "summary", summary or e.title, type="text")
    ET.indent(feed)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def write_feed(digests_dir: str | Path, *, base_url: str | None = None, title: str = "paperrag digests") -> Path:
    """Write `digests_dir/feed.xml` (Atom 1.0), atomically; returns its path.

    Links point at `base_url/DATE/fmt.html` when a base URL is given, else at the files as file:// URLs.
    """
    data = build_feed(digests_dir, base_url=base_url, title=title)
    return atomic_write_bytes(Path(digests_dir) / FEED_FILE, data + b"\n")
