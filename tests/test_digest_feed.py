"""The Atom feed of written digests: valid XML that feedparser reads, newest first, stable ids across rewrites."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import feedparser
import pytest
from fakes.data import HOSTILE, make_digest

from rag.digest.feed import FEED_FILE, collect_entries, entry_id, write_feed
from rag.digest.io import TEMP_PREFIX
from rag.digest.render import write_digest

ATOM = "{http://www.w3.org/2005/Atom}"


def _write_days(root):
    write_digest(make_digest("zh", "report", date="2025-12-25"), "report", root)
    write_digest(make_digest("zh", "monitor", date="2025-12-25"), "monitor", root)
    write_digest(make_digest("en", "table", date="2025-12-26"), "table", root)
    write_digest(make_digest("en", "monitor", date="2025-12-27", papers=[], empty_reason="weekend"), "monitor", root)


def test_feed_parses_newest_first_with_one_entry_per_digest(tmp_path):
    _write_days(tmp_path)
    path = write_feed(tmp_path)
    assert path == tmp_path / FEED_FILE
    fp = feedparser.parse(path.read_bytes())
    assert not fp.bozo, fp.get("bozo_exception")
    assert fp.version == "atom10"
    assert fp.feed.title == "paperrag digests"
    ids = [e.id for e in fp.entries]
    assert ids == [
        entry_id("2025-12-27", "monitor"),
        entry_id("2025-12-26", "table"),
        entry_id("2025-12-25", "report"),
        entry_id("2025-12-25", "monitor"),
    ]
    assert all(i.startswith("tag:paperrag,") for i in ids)
    by_id = {e.id: e for e in fp.entries}
    rep = by_id[entry_id("2025-12-25", "report")]
    assert rep.title.startswith("Arxiv Robotics Papers - 2025-12-25")
    assert rep.title_detail.language == "zh"
    assert {t.term for t in rep.tags} == {"report", "zh"}
    assert rep.summary.startswith("3 篇论文")  # paper count, then the executive summary
    assert "本期共 3 篇论文" in rep.summary
    assert rep.published.startswith("2025-12-25")
    empty = by_id[entry_id("2025-12-27", "monitor")]
    assert "weekends" in empty.summary and empty.title_detail.language == "en"
    table = by_id[entry_id("2025-12-26", "table")]
    assert table.summary.startswith("3 papers")
    # file:// links by default, to the .html pages that exist
    raw = ET.parse(path).getroot()
    hrefs = [ln.get("href") for ln in raw.iter(f"{ATOM}link")]
    assert hrefs[0] == (tmp_path / "2025-12-27" / "monitor.html").resolve().as_uri()
    assert all(h.startswith("file:///") and h.endswith(".html") for h in hrefs)


def test_feed_links_with_base_url(tmp_path):
    _write_days(tmp_path)
    fp = feedparser.parse(write_feed(tmp_path, base_url="https://me.example/digests/", title="My digests").read_bytes())
    assert not fp.bozo
    assert fp.feed.title == "My digests"
    assert fp.entries[0].link == "https://me.example/digests/2025-12-27/monitor.html"
    assert fp.feed.id == "https://me.example/digests/feed.xml"
    assert any(ln.rel == "self" for ln in fp.feed.links)


def test_feed_ids_stable_across_rewrites(tmp_path):
    _write_days(tmp_path)
    first = feedparser.parse(write_feed(tmp_path).read_bytes())
    # the same day rewritten (different content) and the feed rebuilt: same ids, no duplicates
    d = make_digest("zh", "report", date="2025-12-25")
    d.papers = d.papers[:1]
    write_digest(d, "report", tmp_path)
    write_digest(make_digest("en", "report", date="2025-12-28"), "report", tmp_path)  # a new day on top
    second = feedparser.parse(write_feed(tmp_path).read_bytes())
    assert first.feed.id == second.feed.id
    old = [e.id for e in first.entries]
    new = [e.id for e in second.entries]
    assert new == [entry_id("2025-12-28", "report"), *old]
    assert len(set(new)) == len(new)
    rewritten = {e.id: e for e in second.entries}[entry_id("2025-12-25", "report")]
    assert rewritten.summary.startswith("1 篇论文")


def test_feed_is_valid_xml_with_hostile_text_and_written_atomically(tmp_path):
    d = make_digest("en", "monitor")
    d.papers[0].meta.title = f"{HOSTILE} & <![CDATA[ x ]]> \x0b control"
    write_digest(d, "monitor", tmp_path)
    path = write_feed(tmp_path)
    root = ET.parse(path).getroot()  # well-formed
    assert root.tag == f"{ATOM}feed"
    summary = root.find(f"{ATOM}entry/{ATOM}summary").text
    assert HOSTILE in summary  # kept as text, escaped by the serializer
    assert not feedparser.parse(path.read_bytes()).bozo
    write_feed(tmp_path)
    assert not list(tmp_path.rglob(f"{TEMP_PREFIX}*"))
    assert sorted(os.listdir(tmp_path)) == ["2025-12-26", FEED_FILE]


def test_feed_of_an_empty_or_missing_folder(tmp_path):
    fp = feedparser.parse(write_feed(tmp_path).read_bytes())
    assert not fp.bozo and fp.entries == []
    assert collect_entries(tmp_path / "missing") == []


def test_feed_ignores_unrelated_files(tmp_path):
    _write_days(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "report.html").write_text("<html></html>")
    (tmp_path / "2025-12-25" / "draft.html").write_text("<html></html>")
    assert len(collect_entries(tmp_path)) == 4


@pytest.mark.parametrize("fmt", ["table", "report", "monitor"])
def test_feed_entry_per_format(tmp_path, fmt):
    write_digest(make_digest("zh", fmt), fmt, tmp_path)
    (e,) = collect_entries(tmp_path)
    assert (e.date, e.fmt, e.language, e.papers) == ("2025-12-26", fmt, "zh", 3)
