"""A month of mornings against a 127.0.0.1 arXiv: the intake receipt of December 2025, and the time to the offline
fallback (the closing-note evidence of issue 13, "A daily intake you can trust").

    PYTHONPATH=.:tests python bench/intake_month.py [--seed 13] [--week] [--keep DIR]

Every calendar morning of the month (07:30 in Europe: arXiv's 20:00 US-Eastern announcement of the evening before
is out) a *fresh* `Library` over the same data home runs `Library.daily()`, the real product path, against
`MonthArxiv`: the tests' `ArxivStandIn` (tests/fakes/http_server.py) answering from a generated, seeded world of
papers instead of canned files:

* ``/rss/{cat}``: that morning's RSS feed (arXiv's RSS 2.0 layout, as in tests/fixtures/feeds); on a weekend or
  arXiv-holiday morning an empty channel (``<skipDays>``, the rss specification's "empty feed");
* ``/list/{cat}/new``: the listing page of the latest announcement (the layout of tests/fixtures/listing, which is
  constructed after arXiv's public page); on a weekend or holiday it still shows the last announcement day;
* ``/api/query``: ``id_list`` look-ups and the catch-up's ``cat:X AND submittedDate:[A TO B]`` searches, answered
  from the world (a paper's ``submittedDate`` is the submission of its v1; the API shows the latest version
  announced by that morning);
* ``/pdf/{id}vN``: a one-page PDF with the paper's title and abstract (so nothing is abstract-only because of a
  failed download, which the product would retry on a later day).

The world: two followed categories (cs.AI, cs.CL) with cross-lists between them and from cs.LG / cs.CV / cs.IR,
replacements of older papers we never had, and arXiv's calendar as it really is: announcements on Sunday–Thursday
evenings (listings dated Monday–Friday), none on arXiv's holidays (arXiv/arxiv-docs source/help/availability.md,
2025/2026 lists: Thanksgiving Thu 27 Nov, Thu 25 Dec, Tue 30 Dec 2025, Thu 1 Jan 2026; on a holiday there is no
14:00 ET deadline and no 20:00 ET announcement, so no listing dated Fri 26 Dec, Wed 31 Dec, Fri 2 Jan, and the
next announcement takes two days of submissions). Each paper is submitted inside the window of its announcement;
ids are numbered in the month of their announcement (2512.*, then 2601.* on Thu 1 Jan 2026). Titles, abstracts and
authors are real rows of ../shared/corpus/arxiv-api/metadata/arXiv_metadata.jsonl when that file is there
(assigned to the made-up ids), generated text otherwise (the world's shape is the same either way).

The scripted events of the default script (`MONTH_SCRIPT`, mornings Mon 1 Dec 2025 – Fri 2 Jan 2026): Tue 2 Dec
the cs.AI feed misses two ids the listing has; Wed 3 the cs.CL feed answers 406 (Retry-After: 1) then 200; Thu 4
the cs.CL feed is stale (yesterday's items under today's dates); Tue 9 a v2 of a paper stored on Mon 1
(cross-listed, so in both categories' replacements); the machine is off Wed 10 – Sun 14 (three announcement days;
a v2 of a stored paper is announced on Thu 11) and Mon 15 catches up; Wed 17 arXiv cannot be resolved (DNS
failure: one probe, then the bundled sample day) and Thu 18 catches up; Fri 19 the machine sleeps through the
morning and Sat 20 reads Friday's announcement from the listing (the Saturday feed is empty); the holiday mornings
(Fri 26, Wed 31 Dec, Fri 2 Jan) and the longer submission windows of Mon 29 Dec and Thu 1 Jan. Weekend mornings
run too (the feed is empty, the listing still shows Friday).

Output: one table row per morning, announcement day and category (what the receipt said), the month's totals
(papers per source, stale flags, catch-up days, papers ingested once each: asserted), the offline fallback's
timings, then ONE JSON object on the last line. LLM: the product's deterministic fake backend
(`llm.backend = "fake"`); digest format "table" only; the real all-MiniLM-L6-v2 embedder (offline).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
HERE = str(Path(__file__).resolve().parent)
if __name__ == "__main__":  # run as a script: bench/ itself is on the path and bench/ingest.py shadows `ingest`
    sys.path[:] = [p for p in sys.path if p not in (HERE, "")]
for _p in (REPO, REPO / "tests"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from fakes.http_server import ATOM, RSS, ArxivStandIn, Response

SHARED = Path(os.environ.get("PAPERRAG_SHARED", REPO.parent / "shared"))
METADATA = SHARED / "corpus" / "arxiv-api" / "metadata" / "arXiv_metadata.jsonl"
FOLLOWED = ("cs.AI", "cs.CL")
OTHERS = ("cs.LG", "cs.CV", "cs.IR")
NAMES = {"cs.AI": "Artificial Intelligence", "cs.CL": "Computation and Language", "cs.LG": "Machine Learning",
         "cs.CV": "Computer Vision and Pattern Recognition", "cs.IR": "Information Retrieval"}
# arXiv's holidays (arXiv/arxiv-docs source/help/availability.md, its 2025 and 2026 lists): on such a day there is
# no 14:00 ET submission deadline and no 20:00 ET announcement, so no listing dated the day after (arXiv's own
# notices word it so: "no new submission announcement at 20:00 Eastern Sunday 27 December", "papers submitted
# after 14:00 Eastern on Thursday 24 December and before 14:00 Eastern on Monday 28 December will be announced at
# 20:00 Eastern on Monday 28 December" — source/new/index.md, December 2020). This is the bench's own model of
# the truth, written apart from the product's.
ARXIV_HOLIDAYS = frozenset({"2025-11-27", "2025-12-25", "2025-12-30", "2026-01-01"})
HTML_TYPE = "text/html; charset=utf-8"


# ============================================================================ the calendar
def _d(day: str) -> date:
    return date.fromisoformat(day)


def _deadline_on_or_before(d: date) -> date:
    """The latest 14:00 ET submission deadline on or before `d` (Monday–Friday, not a holiday)."""
    while d.weekday() >= 5 or d.isoformat() in ARXIV_HOLIDAYS:
        d -= timedelta(days=1)
    return d


def _evening_before(evening: date) -> date:
    """The announcement evening before `evening` (Sunday–Thursday at 20:00 ET, not a holiday)."""
    d = evening - timedelta(days=1)
    while d.weekday() in (4, 5) or d.isoformat() in ARXIV_HOLIDAYS:
        d -= timedelta(days=1)
    return d


def _window_deadlines(day: str) -> tuple[date, date]:
    """The listing dated `day` is announced the evening before; it holds the submissions after the deadline the
    previous announcement closed on, up to the latest deadline before that evening."""
    evening = _d(day) - timedelta(days=1)
    return _deadline_on_or_before(_evening_before(evening)), _deadline_on_or_before(evening)


def is_announcement_day(day: str) -> bool:
    """A listing / RSS feed dated `day` exists: a weekday after an announcement evening with submissions."""
    d = _d(day)
    if d.weekday() >= 5 or (d - timedelta(days=1)).isoformat() in ARXIV_HOLIDAYS:
        return False
    start, end = _window_deadlines(day)
    return end > start


def previous_announcement_day(day: str) -> str:
    d = _d(day) - timedelta(days=1)
    while not is_announcement_day(d.isoformat()):
        d -= timedelta(days=1)
    return d.isoformat()


def latest_announcement(morning: str) -> str:
    """What the listing page shows on this morning: the latest announcement day up to it."""
    return morning if is_announcement_day(morning) else previous_announcement_day(morning)


def _cutoff_utc(d: date) -> datetime:
    from zoneinfo import ZoneInfo

    local = datetime(d.year, d.month, d.day, 14, 0, tzinfo=ZoneInfo("America/New_York"))
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def true_window(day: str) -> tuple[datetime, datetime]:
    """The submissions (UTC) arXiv announces in the listing dated `day`."""
    start, end = _window_deadlines(day)
    return _cutoff_utc(start), _cutoff_utc(end)


def mornings(start: str, end: str) -> list[str]:
    d, out = _d(start), []
    while d <= _d(end):
        out.append(d.isoformat())
        d += timedelta(days=1)
    return out


def short(day: str) -> str:
    return _d(day).strftime("%a %d %b")


# ============================================================================ the world
@dataclass
class Version:
    version: int
    day: str  # announcement day of this version
    title: str
    abstract: str
    comment: str = ""


@dataclass
class Paper:
    arxiv_id: str
    primary: str
    categories: list[str]  # primary first
    authors: list[str]
    submitted: datetime  # v1, UTC
    versions: list[Version] = field(default_factory=list)

    @property
    def announced(self) -> str:
        return self.versions[0].day

    def version_as_of(self, morning: str) -> Version | None:
        seen = [v for v in self.versions if v.day <= morning]
        return seen[-1] if seen else None

    def key(self, v: Version) -> str:
        return f"{self.arxiv_id}v{v.version}"


@dataclass
class Event:
    """What is special about one morning."""

    off: bool = False  # the machine is off: no run
    offline: str = ""  # "dns" | "refused": arXiv cannot be reached at all
    feed_misses: dict[str, int] = field(default_factory=dict)  # category -> ids the feed leaves out
    stale: tuple[str, ...] = ()  # categories whose feed serves the previous announcement's items
    feed_406: dict[str, float] = field(default_factory=dict)  # category -> Retry-After of one 406 first
    note: str = ""


@dataclass
class Script:
    start: str
    end: str
    events: dict[str, Event] = field(default_factory=dict)
    # (announcement day, stored paper picked from this earlier day, category, change) -> a v2 of a stored paper
    replacements: list[tuple[str, str, str, str]] = field(default_factory=list)
    new_per_category: tuple[int, int] = (3, 5)
    label: str = "month"


MONTH_SCRIPT = Script(
    start="2025-12-01", end="2026-01-02",
    events={
        "2025-12-02": Event(feed_misses={"cs.AI": 2}, note="cs.AI feed misses 2 ids the listing has"),
        "2025-12-03": Event(feed_406={"cs.CL": 1.0}, note="cs.CL feed: 406 (Retry-After 1) then 200"),
        "2025-12-04": Event(stale=("cs.CL",), note="cs.CL feed stale: yesterday's items, today's dates"),
        "2025-12-10": Event(off=True, note="machine off"),
        "2025-12-11": Event(off=True, note="machine off"),
        "2025-12-12": Event(off=True, note="machine off"),
        "2025-12-13": Event(off=True, note="machine off"),
        "2025-12-14": Event(off=True, note="machine off"),
        "2025-12-17": Event(offline="dns", note="arXiv cannot be resolved (DNS failure)"),
        "2025-12-19": Event(off=True, note="machine off (asleep at 07:30; opened on Saturday)"),
    },
    replacements=[("2025-12-09", "2025-12-01", "cs.AI", "title+abstract"),
                  ("2025-12-11", "2025-12-02", "cs.CL", "abstract+comments")],
)

WEEK_SCRIPT = Script(  # the test's short version: a stale feed, three days off, the catch-up, a v2
    start="2025-12-01", end="2025-12-08",
    events={
        "2025-12-02": Event(stale=("cs.CL",), feed_misses={"cs.AI": 1}, note="cs.CL stale; cs.AI feed misses 1"),
        "2025-12-03": Event(off=True), "2025-12-04": Event(off=True), "2025-12-05": Event(off=True),
        "2025-12-06": Event(off=True), "2025-12-07": Event(off=True),
    },
    replacements=[("2025-12-08", "2025-12-01", "cs.AI", "title+abstract")],
    new_per_category=(2, 3), label="week",
)


def _real_texts(rng: random.Random) -> list[dict]:
    """Distinct real (title, abstract, authors) rows of ../shared's arXiv metadata, shuffled; [] when absent."""
    if not METADATA.exists():
        return []
    rows, seen = [], set()
    with METADATA.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            pid = row.get("paper_id")
            if pid in seen or not row.get("title") or not row.get("abstract"):
                continue
            seen.add(pid)
            rows.append({"title": " ".join(row["title"].split()), "abstract": " ".join(row["abstract"].split()),
                         "authors": [a.strip() for a in re.split(r",\s*|\s+and\s+", row.get("authors") or "")
                                     if a.strip()][:6]})
    rng.shuffle(rows)
    return rows


_WORDS = ("retrieval", "alignment", "reasoning", "agents", "benchmark", "distillation", "tokenizer", "planning",
          "summarization", "translation", "grounding", "evaluation", "sparse", "attention", "curriculum", "memory")


def _generated_text(rng: random.Random, n: int) -> dict:
    a, b, c = rng.sample(_WORDS, 3)
    return {"title": f"{a.title()} and {b} for {c}: study {n}",
            "abstract": f"We study {a} with {b} in {c}. Experiments on {rng.randint(3, 9)} benchmarks show "
                        f"gains of {rng.randint(1, 9)}.{rng.randint(0, 9)} points over strong baselines.",
            "authors": [f"Author {n}-{i}" for i in range(1, rng.randint(2, 4))]}


class World:
    """Every paper announced in the followed categories over the script's days, deterministic for a seed."""

    def __init__(self, script: Script, seed: int = 13):
        self.script, self.seed = script, seed
        rng = random.Random(seed)
        self.rng = rng
        texts = _real_texts(random.Random(seed))
        self.text_source = "real rows of ../shared arXiv metadata" if texts else "generated"
        self._texts = iter(texts)
        self._n = 0
        self.papers: dict[str, Paper] = {}
        days = [m for m in mornings(script.start, script.end) if is_announcement_day(m)]
        self.days = days
        for day in days:
            self._announce_day(day, 1 + 1200 * (_d(day).day - 1), rng)
        for rday, from_day, category, change in script.replacements:
            self._replace(rday, from_day, category, change)

    # ------------------------------------------------------------------ generation
    def _text(self) -> dict:
        self._n += 1
        # generated text draws from its own generator: the world's shape is the same with or without ../shared
        return next(self._texts, None) or _generated_text(random.Random(self.seed * 100_003 + self._n), self._n)

    def _submitted(self, day: str, rng: random.Random) -> datetime:
        start, end = true_window(day)
        return start + timedelta(seconds=rng.randint(60, int((end - start).total_seconds()) - 60))

    def _add(self, arxiv_id: str, primary: str, cats: list[str], day: str, rng: random.Random,
             submitted: datetime | None = None, version: int = 1) -> Paper:
        t = self._text()
        p = Paper(arxiv_id, primary, list(dict.fromkeys([primary, *cats])), t["authors"] or ["A. Author"],
                  submitted or self._submitted(day, rng))
        p.versions.append(Version(version, day, t["title"], t["abstract"], f"{rng.randint(6, 14)} pages"))
        self.papers[arxiv_id] = p
        return p

    def _announce_day(self, day: str, base: int, rng: random.Random) -> None:
        lo, hi = self.script.new_per_category
        plan: list[tuple[str, list[str]]] = []
        for cat in FOLLOWED:
            other = next(c for c in FOLLOWED if c != cat)
            for k in range(rng.randint(lo, hi)):
                cats = []
                if rng.random() < 0.35 or (k == 0 and cat == "cs.AI"):  # cross-listed in the other followed one
                    cats.append(other)
                if rng.random() < 0.3:
                    cats.append(rng.choice(OTHERS))
                plan.append((cat, cats))
            for _ in range(rng.randint(0, 2)):  # cross-lists into this category from one we do not follow
                plan.append((rng.choice(OTHERS), [cat] + ([other] if rng.random() < 0.2 else [])))
        numbers = sorted(rng.sample(range(base, base + 1100), len(plan)))
        for (primary, cats), n in zip(plan, numbers):
            self._add(f"{_d(day):%y%m}.{n:05d}", primary, cats, day, rng)
        for cat in FOLLOWED:  # a replacement of an older paper we never had (dropped: include_replacements=false)
            if rng.random() < 0.7:
                n = rng.randint(1, 29999)
                while f"2511.{n:05d}" in self.papers:
                    n = rng.randint(1, 29999)
                old = self._add(f"2511.{n:05d}", cat, [], day, rng,
                                submitted=datetime(2025, 11, rng.randint(1, 25), 12, 0), version=2)
                old.versions[0].comment = "v2: minor revision"

    def _replace(self, rday: str, from_day: str, category: str, change: str) -> None:
        """A v2 (announced `rday`) of a paper first announced on `from_day` in `category`, cross-listed in both
        followed categories when one is (so it is a replacement in both listings)."""
        pick = [p for p in self.papers.values() if p.announced == from_day and p.primary == category
                and len(p.versions) == 1 and not p.arxiv_id.startswith("2511.")]
        both = [p for p in pick if all(c in p.categories for c in FOLLOWED)]
        paper = (both or pick)[0]
        v1 = paper.versions[-1]
        title = v1.title + (" (revised)" if "title" in change else "")
        abstract = v1.abstract + (" In this version we add an ablation and correct Table 2." if "abstract" in change
                                  else "")
        comment = "v2: 14 pages, corrected experiments" if "comment" in change else v1.comment
        paper.versions.append(Version(v1.version + 1, rday, title, abstract, comment))

    # ------------------------------------------------------------------ what arXiv shows
    def announcements(self, day: str, category: str) -> dict[str, list[tuple[Paper, Version]]]:
        """The listing of `category` for announcement day `day`: new / cross / replace (with the version)."""
        out: dict[str, list[tuple[Paper, Version]]] = {"new": [], "cross": [], "replace": []}
        for p in sorted(self.papers.values(), key=lambda p: p.arxiv_id):
            if category not in p.categories:
                continue
            for v in p.versions:
                if v.day != day:
                    continue
                if v is p.versions[0] and not p.arxiv_id.startswith("2511."):
                    out["new" if p.primary == category else "cross"].append((p, v))
                else:
                    out["replace"].append((p, v))
        return out

    def truth(self, category: str, upto: str) -> list[str]:
        """Ids first announced (new or cross) in `category` on the script's days up to `upto`."""
        return sorted({p.arxiv_id for d in self.days if d <= upto
                       for s in ("new", "cross") for p, _ in self.announcements(d, category)[s]})

    def pdf(self, key: str) -> bytes | None:
        import pymupdf

        m = re.fullmatch(r"(\d{4}\.\d{5})v(\d+)", key)
        paper = self.papers.get(m.group(1)) if m else None
        version = next((v for v in paper.versions if v.version == int(m.group(2))), None) if paper else None
        if version is None:
            return None
        doc = pymupdf.open()
        page = doc.new_page(width=595, height=842)
        page.insert_textbox(pymupdf.Rect(60, 60, 535, 140), version.title, fontsize=14)
        body = f"Abstract\n{version.abstract}\n\n1 Introduction\n{version.abstract}\n\n2 Method\n{version.abstract}"
        page.insert_textbox(pymupdf.Rect(60, 150, 535, 800), body, fontsize=9)
        doc.set_metadata({})
        return doc.tobytes(no_new_id=True)


# ============================================================================ the stand-in
def _rfc822(day: str, hh: str = "00:00:00", tz: str = "-0500") -> str:
    return _d(day).strftime("%a, %d %b %Y ") + f"{hh} {tz}"


def rss_feed(world: World, category: str, day: str, items: list[tuple[Paper, Version, str]]) -> str:
    """arXiv's RSS 2.0 layout (rss_specifications.md, tests/fixtures/feeds/rss_cs.AI_2025-12-25.xml)."""
    out = []
    for p, v, kind in items:
        out.append(f"""    <item>
      <title>{escape(v.title)}</title>
      <link>https://arxiv.org/abs/{p.arxiv_id}</link>
      <description>arXiv:{p.key(v)} Announce Type: {kind} 
Abstract: {escape(v.abstract)}</description>
      <guid isPermaLink="false">oai:arXiv.org:{p.key(v)}</guid>
{chr(10).join(f'      <category>{c}</category>' for c in p.categories)}
      <pubDate>{_rfc822(day)}</pubDate>
      <arxiv:announce_type>{kind}</arxiv:announce_type>
      <dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
      <dc:creator>{escape(", ".join(p.authors))}</dc:creator>
    </item>""")
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/" version="2.0">
  <channel>
    <title>{category} updates on arXiv.org</title>
    <link>http://rss.arxiv.org/rss/{category}</link>
    <description>{category} updates on the arXiv.org e-print archive.</description>
    <atom:link href="http://rss.arxiv.org/rss/{category}" rel="self" type="application/rss+xml"/>
    <docs>http://www.rssboard.org/rss-specification</docs>
    <language>en-us</language>
    <lastBuildDate>{_rfc822(day, "05:00:12", "+0000")}</lastBuildDate>
    <managingEditor>rss-help@arxiv.org</managingEditor>
    <pubDate>{_rfc822(day)}</pubDate>
    <skipDays>
      <day>Sunday</day>
      <day>Saturday</day>
    </skipDays>
{chr(10).join(out)}
  </channel>
</rss>
"""


def listing_page(world: World, category: str, day: str) -> str:
    """The `/list/{category}/new` page of `day` (the constructed layout of tests/fixtures/listing)."""
    sections = world.announcements(day, category)
    heads = {"new": "New submissions", "cross": "Cross submissions", "replace": "Replacement submissions"}
    total = sum(len(v) for v in sections.values())
    parts, n = [], 0
    for s in ("new", "cross", "replace"):
        rows = sections[s]
        if not rows:
            continue
        parts.append(f"<dl id='articles'>\n<h3>{heads[s]} (showing {len(rows)} of {len(rows)} entries)</h3>")
        for p, v in rows:
            n += 1
            tail = (" (replaced)" if s == "replace" else f" (cross-list from {p.primary})" if s == "cross" else "")
            subjects = "; ".join(
                (f'<span class="primary-subject">{NAMES.get(c, c)} ({c})</span>' if c == p.primary
                 else f"{NAMES.get(c, c)} ({c})") for c in p.categories)
            parts.append(f"""<dt>
  <a name='item{n}'>[{n}]</a>
  <a href ="/abs/{p.arxiv_id}" title="Abstract" id="{p.arxiv_id}">
    arXiv:{p.arxiv_id}
  </a>{tail}
  [<a href="/pdf/{p.arxiv_id}" title="Download PDF" id="pdf-{p.arxiv_id}">pdf</a>]
</dt>
<dd>
  <div class='meta'>
    <div class='list-title mathjax'><span class='descriptor'>Title:</span>
      {html.escape(v.title)}
    </div>
    <div class='list-comments mathjax'><span class='descriptor'>Comments:</span>
      {html.escape(v.comment)}
    </div>
    <div class='list-authors'>{", ".join(f'<a href="https://arxiv.org/a/x">{html.escape(a)}</a>' for a in p.authors)}</div>
    <div class='list-subjects'><span class='descriptor'>Subjects:</span>
      {subjects}
    </div>
    <p class='mathjax'>
      {html.escape(v.abstract)}
    </p>
  </div>
</dd>""")
        parts.append("</dl>")
    when = _d(day).strftime("%A, %d %B %Y").replace(", 0", ", ")
    return f"""<!DOCTYPE html>
<!-- generated by bench/intake_month.py after the constructed layout of tests/fixtures/listing -->
<html lang="en"><head><title>{NAMES[category]} authors/titles "new"</title></head>
<body><div id="content"><div id='content-inner'><div id='dlpage'>
  <h1>{NAMES[category]}</h1>
  <div class='list-dateline'>Showing new listings for {when}</div>
  <div class='paging'>Total of {total} entries</div>
{chr(10).join(parts)}
</div></div></div></body></html>
"""


def _atom_entry(p: Paper, v: Version) -> str:
    cats = "\n".join(f'    <category term="{c}" scheme="http://arxiv.org/schemas/atom"/>' for c in p.categories)
    authors = "\n".join(f"    <author><name>{escape(a)}</name></author>" for a in p.authors)
    updated = f"{v.day}T00:00:00Z" if v.version > 1 else p.submitted.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"""  <entry>
    <id>http://arxiv.org/abs/{p.key(v)}</id>
    <title>{escape(v.title)}</title>
    <updated>{updated}</updated>
    <link href="https://arxiv.org/abs/{p.key(v)}" rel="alternate" type="text/html"/>
    <link href="https://arxiv.org/pdf/{p.key(v)}" rel="related" type="application/pdf" title="pdf"/>
    <summary>{escape(v.abstract)}</summary>
{cats}
    <published>{p.submitted.strftime("%Y-%m-%dT%H:%M:%SZ")}</published>
    <arxiv:comment>{escape(v.comment)}</arxiv:comment>
    <arxiv:primary_category term="{p.primary}"/>
{authors}
  </entry>"""


def atom_feed(entries: list[str], total: int, start: int) -> str:
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/api/bench</id>
  <title>arXiv Query</title>
  <updated>2025-12-31T00:00:00Z</updated>
  <opensearch:itemsPerPage>{len(entries)}</opensearch:itemsPerPage>
  <opensearch:totalResults>{total}</opensearch:totalResults>
  <opensearch:startIndex>{start}</opensearch:startIndex>
{chr(10).join(entries)}
</feed>
"""


_WINDOW = re.compile(r"cat:(\S+)\s+AND\s+submittedDate:\[(\d{12})\s+TO\s+(\d{12})\]")


class MonthArxiv(ArxivStandIn):
    """The arXiv stand-in answering from a `World` as of `morning`; `script` holds one-off responses per path
    (taken first, in order: a 406 before the feed, …)."""

    def __init__(self, world: World):
        super().__init__()
        self.world = world
        self.morning = world.script.start
        self.event = Event()
        self.script: dict[str, list[Response]] = {}
        self._mlock = threading.Lock()
        self.pdf_cache: dict[str, bytes] = {}
        self.served: list[tuple[str, str, int]] = []  # (morning, path, HTTP status) of every answer

    def set_morning(self, morning: str, event: Event) -> None:
        with self._mlock:
            self.morning, self.event = morning, event
            self.script = {f"/rss/{c}": [Response(406, "<html><body>Not Acceptable</body></html>",
                                                  headers={"Retry-After": f"{s:g}"}, content_type=HTML_TYPE)]
                           for c, s in event.feed_406.items()}

    def feed_items(self, category: str, morning: str) -> list[tuple[Paper, Version, str]]:
        """The items of the morning's feed, with the scripted faults (missing ids, stale) applied."""
        if not is_announcement_day(morning):
            return []
        day = previous_announcement_day(morning) if category in self.event.stale else morning
        sections = self.world.announcements(day, category)
        items = []
        for s, rows in sections.items():
            for p, v in rows:
                kind = s if s != "replace" else ("replace" if p.primary == category else "replace-cross")
                items.append((p, v, kind))
        drop = self.event.feed_misses.get(category, 0)
        if drop and category not in self.event.stale:
            news = [i for i, (_, _, k) in enumerate(items) if k == "new"]
            gone = set(news[-drop:])
            items = [it for i, it in enumerate(items) if i not in gone]
        return items

    def _pick(self, method, path, query):
        resp = self._answer(method, path, query)
        with self._mlock:
            self.served.append((self.morning, path, resp.status if resp is not None else 404))
        return resp

    def _answer(self, method, path, query):
        with self._mlock:
            queue = self.script.get(path)
            if queue:
                return queue.pop(0)
            morning = self.morning
        m = re.fullmatch(r"/rss/([\w.\-]+)", path)
        if m:
            return Response(200, rss_feed(self.world, m.group(1), morning, self.feed_items(m.group(1), morning)),
                            content_type=RSS)
        m = re.fullmatch(r"/list/([\w.\-]+)/new", path)
        if m and m.group(1) in NAMES:
            return Response(200, listing_page(self.world, m.group(1), latest_announcement(morning)),
                            content_type=HTML_TYPE)
        if path == "/api/query":
            return Response(200, self._api(query, morning), content_type=ATOM)
        m = re.fullmatch(r"/pdf/(.+)", path)
        if m:
            key = m.group(1)
            with self._mlock:
                data = self.pdf_cache.get(key)
            if data is None:
                data = self.world.pdf(key)
                if data is None:
                    return Response(404, "no such paper", content_type="text/plain")
                with self._mlock:
                    self.pdf_cache[key] = data
            return Response(200, data, content_type="application/pdf")
        return super()._pick(method, path, query)

    def _api(self, query: dict, morning: str) -> str:
        start = int((query.get("start") or ["0"])[0])
        size = int((query.get("max_results") or ["100"])[0])
        found: list[tuple[Paper, Version]] = []
        ids = [i for i in (query.get("id_list") or [""])[0].split(",") if i]
        if ids:
            for raw in ids:
                m = re.fullmatch(r"(\d{4}\.\d{5})(?:v(\d+))?", raw)
                p = self.world.papers.get(m.group(1)) if m else None
                if p is None:
                    continue
                v = (next((x for x in p.versions if x.version == int(m.group(2)) and x.day <= morning), None)
                     if m.group(2) else p.version_as_of(morning))
                if v is not None:
                    found.append((p, v))
        else:
            m = _WINDOW.search((query.get("search_query") or [""])[0])
            if m:
                cat = m.group(1)
                lo, hi = (datetime.strptime(x, "%Y%m%d%H%M") for x in (m.group(2), m.group(3)))
                for p in sorted(self.world.papers.values(), key=lambda p: p.submitted):
                    v = p.version_as_of(morning)
                    if v is not None and cat in p.categories and lo <= p.submitted < hi:
                        found.append((p, v))
        page = found[start:start + size]
        return atom_feed([_atom_entry(p, v) for p, v in page], len(found), start)


# ============================================================================ the month
class _Clock:
    """A progress sink that notes when each step starts and stops (the offline decision is the first stop of
    'feeds'; the fallback's sample day starts 'feeds' again)."""

    def __init__(self):
        self.t0 = time.perf_counter()
        self.events: list[tuple[float, str, str]] = []

    def _note(self, what: str, task: str) -> None:
        self.events.append((time.perf_counter() - self.t0, what, task))

    def start(self, task, *, total=None, description=""):
        self._note("start", task)

    def update(self, task, *, description=""):
        pass

    def advance(self, task, n=1):
        pass

    def stop(self, task):
        self._note("stop", task)

    def first(self, what: str, task: str, nth: int = 1) -> float | None:
        hits = [t for t, w, k in self.events if w == what and k == task]
        return hits[nth - 1] if len(hits) >= nth else None


@dataclass
class Row:
    morning: str
    day: str
    category: str
    verdict: str
    feed: str
    listing: str
    only_one: str
    stale: str
    types: str
    kept_dropped: str
    already: int | str
    caught_up: str
    updated: str
    why: str = ""
    raw: dict = field(default_factory=dict)  # the receipt as the product recorded it


@dataclass
class MonthReceipt:
    rows: list[Row] = field(default_factory=list)
    totals: dict = field(default_factory=dict)
    mornings: list[dict] = field(default_factory=list)


def settings_for(home: Path, server: MonthArxiv, event: Event):
    from paperrag.settings import Settings

    base = Settings(home=home)
    if event.offline == "dns":  # a name no resolver knows (RFC 2606 .invalid): getaddrinfo fails at once
        rss, api, listing, pdf = ("http://rss.arxiv.invalid/rss/{category}", "http://export.arxiv.invalid/api/query",
                                  "http://arxiv.invalid/list/{category}/new", "http://arxiv.invalid/pdf/{id}")
    elif event.offline == "refused":
        from fakes.http_server import free_port

        dead = f"http://127.0.0.1:{free_port()}"
        rss, api, listing, pdf = (dead + "/rss/{category}", dead + "/api/query", dead + "/list/{category}/new",
                                  dead + "/pdf/{id}")
    else:
        rss, api, listing, pdf = server.rss_url, server.api_url, server.listing_url, server.pdf_url
    # the defaults a user has (retries 5, backoff 3 s, 3 s between API calls) would make a month of mornings
    # slow without changing a decision: pacing and backoff are off here (Retry-After is still honoured)
    fetch = {"rss_url": rss, "api_url": api, "listing_url": listing, "pdf_url": pdf}
    if not event.offline:  # offline mornings keep the user's defaults (retries 5, backoff 3 s, pacing 3 s)
        fetch |= {"delay_s": 0.0, "backoff_s": 0.0, "retries": 3}
    return base.model_copy(update={
        "fetch": base.fetch.model_copy(update=fetch),
        "sources": base.sources.model_copy(update={"categories": list(FOLLOWED), "keywords": [],
                                                   "negative_keywords": []}),
        "digest": base.digest.model_copy(update={"formats": ["table"], "language": "en"}),
        "llm": base.llm.model_copy(update={"backend": "fake"}),
    })


def _receipt_row(morning: str, r: dict, caught: str) -> Row:
    feed = r["feed"]
    listing = r.get("listing")
    api = "API" in (r.get("source") or "")
    feed_txt = (f"API {feed['announced']}" if api else
                f"{feed['announced']}" + ("" if feed["status"] == "ok" else f" ({feed['status']})"))
    list_txt = "—" if not listing else (f"{listing['announced']}/{listing['declared']}"
                                        if listing.get("declared") is not None else str(listing["announced"]))
    if listing and listing["status"] != "ok":
        list_txt += f" ({listing['status']})"
    one = ["listing (feed: no announcement today)"] if r.get("sources") == "feed off day" else []
    if r.get("only_listing"):
        one.append(f"listing +{len(r['only_listing'])}")
    if r.get("only_feed"):
        one.append(f"feed +{len(r['only_feed'])}")
    t = r.get("types", {})
    dropped = r.get("dropped", {})
    kd = f"{r.get('kept', 0)}/{sum(dropped.values())}" + (
        f" ({', '.join(f'{k} {v}' for k, v in sorted(dropped.items()))})" if dropped else "")
    upd = ", ".join(r.get("updated") or []) or "—"
    return Row(morning, r.get("day") or "?", r["category"], r.get("verdict") or "?", feed_txt, list_txt,
               ", ".join(one) or "—", f"STALE ({len(r.get('stale_ids') or [])} of {feed['announced']})"
               if r.get("sources") == "stale feed" else "—",
               f"{t.get('new', 0)}/{t.get('cross', 0)}/{t.get('replace', 0)}", kd, r.get("already", 0), caught, upd,
               r.get("why") or "", raw=r)


def run_month(home: Path, script: Script = MONTH_SCRIPT, *, seed: int = 13, embedder=None, echo=None) -> MonthReceipt:
    """Every morning of `script` through `Library.daily()` against `MonthArxiv`; the receipt of the month."""
    from paperrag.library import Library

    if embedder is None:
        from indexes.embedder import Embedder

        embedder = Embedder("all-MiniLM-L6-v2")
    world = World(script, seed)
    out = MonthReceipt()
    ingested: dict[str, list[str]] = {}  # paper key -> mornings that indexed it (kept / replaced)
    analysed: dict[str, list[str]] = {}  # arXiv id -> digest days that list it
    catch_up_days: dict[str, list[str]] = {}
    stale_flags: list[str] = []
    offline: dict = {}
    updates: list[str] = []
    off_days: list[str] = []  # mornings with no new announcement (weekend, holiday) on which the machine ran
    off_day_notes: list[str] = []  # what the product said about the categories on those mornings
    wall = time.perf_counter()
    with MonthArxiv(world) as server:
        for morning in mornings(script.start, script.end):
            event = script.events.get(morning, Event())
            info = {"morning": morning, "event": event.note}
            if event.off:
                out.rows.append(Row(morning, "—", "—", "machine off", "", "", "", "", "", "", "", "", "", ""))
                info["run"] = "off"
                out.mornings.append(info)
                continue
            server.set_morning(morning, event)
            settings = settings_for(home, server, event)
            lib = Library(settings, embedder=embedder)
            clock = _Clock()
            try:
                result = lib.daily(progress=clock)
            finally:
                seconds = time.perf_counter() - clock.t0
            info.update(day=result.date, seconds=round(seconds, 2), sample=result.sample,
                        already_done=result.already_done, watermarks=lib.watermarks())
            results = [*result.caught_up, result]
            if result.caught_up:
                catch_up_days[morning] = [r.date for r in result.caught_up]
            http = {}
            for c in FOLLOWED:
                codes = [st for m, p, st in server.served if m == morning and p == f"/rss/{c}"]
                if any(st != 200 for st in codes):
                    http[c] = "→".join(str(st) for st in codes)
            if not is_announcement_day(morning):
                off_days.append(morning)
                off_day_notes += [n for r in results for n in r.notes if n.startswith(FOLLOWED)]
            for r in results:
                caught = f"yes ({short(morning)})" if r is not result else "—"
                if r.sample:
                    probe = next((n for n in r.notes if "one probe" in n), "")
                    offline = {"morning": morning, "kind": event.offline,
                               "decided_s": clock.first("stop", "feeds"),
                               "sample_started_s": clock.first("start", "feeds", 2),
                               "sample_indexed_s": clock.first("stop", "papers"),
                               "digest_started_s": clock.first("start", "digest"),
                               "daily_s": seconds, "note": probe, "sample_day": r.date,
                               "sample_papers": len(r.digest.papers)}
                    out.rows.append(Row(morning, r.date, "—", "offline → sample day", "", "", "", "", "", "",
                                        "", "", "", probe[:120]))
                    continue
                if r.already_done and not r.receipts:
                    out.rows.append(Row(morning, r.date, "both", "already written", "", "", "", "", "", "", "",
                                        caught, "", "no new announcement (weekend/holiday): "
                                        "the listing still shows this day"))
                for rc in r.receipts:
                    row = _receipt_row(morning, rc, caught)
                    if r is result and rc["category"] in http:
                        row.feed += f" (HTTP {http[rc['category']]})"
                    out.rows.append(row)
                    if rc.get("sources") == "stale feed":
                        stale_flags.append(f"{rc['day']} {rc['category']}")
                for u in r.updates:
                    updates.append(f"{r.date}: {u.get('text', '')}")
                if r.run_id is not None:
                    for d in lib.catalog.decisions(r.run_id):
                        if d.action in ("kept", "replaced"):
                            ingested.setdefault(d.paper, []).append(morning)
                for e in r.digest.papers:
                    analysed.setdefault(e.meta.arxiv_id, []).append(r.date)
            info["notes"] = [n for r in results for n in r.notes][:40]
            out.mornings.append(info)
            if echo:
                echo(f"{short(morning)}: day {result.date}{' (sample)' if result.sample else ''}"
                     f"{' already written' if result.already_done else ''}"
                     f"{' · caught up ' + ', '.join(catch_up_days[morning]) if morning in catch_up_days else ''}"
                     f" · {seconds:.1f} s")
            lib.close()
        final = Library(settings_for(home, server, Event()), embedder=embedder)
        indexed = {p.key for p in final.catalog.papers("indexed")}
        marks = final.watermarks()
        final.close()
    wall = time.perf_counter() - wall

    raws = [r.raw for r in out.rows if r.raw]
    api_raws = [r for r in raws if "API" in (r.get("source") or "")]
    feed_total = sum(r["feed"]["announced"] for r in raws if r not in api_raws)
    api_total = sum(r["feed"]["announced"] for r in api_raws)
    listing_total = sum((r.get("listing") or {}).get("announced", 0) for r in raws)
    twice = {k: v for k, v in ingested.items() if len(v) > 1}
    digested_twice = {k: v for k, v in analysed.items() if len(v) > 1}
    # what arXiv announced (new + cross) in the followed categories on the month's days: all indexed?
    last = script.end
    announced = sorted(set(world.truth("cs.AI", last)) | set(world.truth("cs.CL", last)))
    indexed_ids = {k.split("v")[0] for k in indexed}
    missed = [i for i in announced if i not in indexed_ids]
    expected_versions = {}
    for i in announced:
        v = world.papers[i].version_as_of(last)
        expected_versions[i] = v.version
    stale_version = sorted(f"{i}: have v{max(int(k.split('v')[1]) for k in indexed if k.startswith(i + 'v'))}, "
                           f"arXiv has v{v}" for i, v in expected_versions.items()
                           if i in indexed_ids and f"{i}v{v}" not in indexed)
    out.totals = {
        "script": script.label, "seed": seed, "texts": world.text_source,
        "mornings": len(mornings(script.start, script.end)),
        "runs": sum(1 for m in out.mornings if m.get("run") != "off"),
        "announcement_days": len(world.days),
        "holiday_weekdays": [m for m in mornings(script.start, script.end)
                             if _d(m).weekday() < 5 and not is_announcement_day(m)],
        "announced_papers": len(announced),
        "per_source": {"feed": feed_total, "listing": listing_total, "api_catch_up": api_total},
        "only_listing": sum(len(r.get("only_listing") or []) for r in raws),
        "only_feed": sum(len(r.get("only_feed") or []) for r in raws),
        "stale_flags": stale_flags,
        "catch_up": catch_up_days,
        "updated": updates,
        "ingested_keys": len(ingested),
        "ingested_twice": twice,
        "digested_twice": digested_twice,
        "missed": missed,
        "stale_versions": stale_version,
        "verdicts": _count(r.verdict for r in out.rows),
        "off_day_mornings": len(off_days),
        "off_day_disagree_notes": sum("disagree" in n for n in off_day_notes),
        "off_day_note": off_day_notes[0][:160] if off_day_notes else "",
        "watermarks": marks,
        "offline": offline,
        "wall_s": round(wall, 1),
    }
    return out


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


def refused_probe_seconds(home: Path) -> tuple[float, int]:
    """The plan step alone against a port nothing listens on (connection refused): seconds and HTTP attempts."""
    from indexes.catalog import Catalog
    from ingest import sources

    settings = settings_for(home, None, Event(offline="refused"))  # type: ignore[arg-type]
    started = time.perf_counter()
    plan = sources.plan(settings, feed=True, catalog=Catalog(settings.catalog_path))
    return time.perf_counter() - started, plan.probes


# ============================================================================ printing
COLUMNS = ("morning", "day", "cat", "verdict", "feed", "listing", "only one source", "stale", "new/cross/repl",
           "kept/dropped", "already", "caught up", "updated (v1→v2)")


def table(receipt: MonthReceipt) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in receipt.rows:
        cells = (short(r.morning), short(r.day) if r.day[:1].isdigit() else r.day, r.category, r.verdict, r.feed,
                 r.listing, r.only_one, r.stale, r.types, r.kept_dropped, str(r.already), r.caught_up, r.updated)
        lines.append("| " + " | ".join(c if c != "" else " " for c in cells) + " |")
    return "\n".join(lines)


def summary(receipt: MonthReceipt) -> str:
    t = receipt.totals
    s = t["per_source"]
    off = t.get("offline") or {}
    lines = [
        (f"mornings {t['mornings']} · runs {t['runs']} · announcement days {t['announcement_days']} · weekdays "
         f"without one (arXiv holidays): {', '.join(short(d) for d in t['holiday_weekdays']) or 'none'} · texts: "
         f"{t['texts']}"),
        (f"papers per source: feed {s['feed']} · listing {s['listing']} · arXiv API (catch-up) {s['api_catch_up']} "
         f"· only the listing had {t['only_listing']} · only the feed had {t['only_feed']}"),
        f"stale flags: {', '.join(t['stale_flags']) or 'none'}",
        "catch-up: " + ("; ".join(f"{short(m)} fetched {', '.join(short(d) for d in ds)}"
                                  for m, ds in t["catch_up"].items()) or "none"),
        f"updated: {'; '.join(t['updated']) or 'none'}",
        (f"announced in cs.AI/cs.CL (new + cross, world truth): {t['announced_papers']} · paper versions indexed "
         f"by the arXiv runs {t['ingested_keys']} · ingested twice: {len(t['ingested_twice'])} · digested twice: "
         f"{len(t['digested_twice'])} · missed: {len(t['missed'])}"
         + (f" ({', '.join(t['missed'][:8])})" if t["missed"] else "")),
        f"versions behind arXiv at the end: {'; '.join(t['stale_versions']) or 'none'}",
        (f"weekend/holiday mornings run: {t['off_day_mornings']} · category notes calling the sources in "
         f"disagreement on them: {t['off_day_disagree_notes']} · e.g. {t['off_day_note']!r}"),
        f"watermarks at the end: {t['watermarks']}",
    ]
    if off:
        lines.append(f"offline fallback ({short(off['morning'])}, {off['kind']}): offline decided after "
                     f"{off['decided_s']:.3f} s (1 probe), sample day started at {off['sample_started_s']:.3f} s, "
                     f"its 3 bundled PDFs indexed at {off['sample_indexed_s']:.1f} s, digest started at "
                     f"{off['digest_started_s']:.1f} s, daily() returned the sample day at {off['daily_s']:.1f} s "
                     f"— “{off['note']}”")
    if "refused_probe_s" in t:
        lines.append(f"connection refused (plan only): offline after {t['refused_probe_s']:.3f} s, "
                     f"{t['refused_probes']} probe(s)")
    lines.append(f"wall time {t['wall_s']} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--week", action="store_true", help="the short script (the test's) instead of the month")
    ap.add_argument("--keep", type=Path, help="keep the data home here (default: a temporary folder)")
    args = ap.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.ERROR)
    for name in ("bm25s", "httpx", "chromadb"):
        logging.getLogger(name).setLevel(logging.WARNING)
    home = args.keep or Path(tempfile.mkdtemp(prefix="paperrag-month-")) / "home"
    script = WEEK_SCRIPT if args.week else MONTH_SCRIPT
    try:
        receipt = run_month(home, script, seed=args.seed, echo=lambda s: print(s, file=sys.stderr, flush=True))
        secs, probes = refused_probe_seconds(home.parent / "refused-home")
        receipt.totals["refused_probe_s"], receipt.totals["refused_probes"] = round(secs, 3), probes
        print(table(receipt))
        print()
        print(summary(receipt))
        t = receipt.totals
        assert not t["ingested_twice"], f"a paper was ingested twice: {t['ingested_twice']}"
        assert not t["digested_twice"], f"a paper was in two digests: {t['digested_twice']}"
        print(json.dumps({"bench": "intake_month", **{k: v for k, v in t.items()}}, ensure_ascii=False,
                         default=str))
    finally:
        if args.keep is None:
            shutil.rmtree(home.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
