"""The intake bench (bench/intake_month.py) on its short script: one week of mornings through `Library.daily()`
against the generated 127.0.0.1 arXiv — a feed missing an id, a stale feed, three announcement days with the
machine off, the catch-up, a v2 of a stored paper — and the receipt's numbers checked against the world it
was generated from. No wall-time asserts, no sleeps (the bench's own HTTP script has no Retry-After here)."""

from __future__ import annotations

import pytest

from bench.intake_month import FOLLOWED, WEEK_SCRIPT, World, run_month, summary, table


@pytest.fixture(scope="module")
def week(tmp_path_factory, embedder):
    return run_month(tmp_path_factory.mktemp("month") / "home", WEEK_SCRIPT, seed=13, embedder=embedder)


def _receipts(week, morning, day=None):
    return {r.raw["category"]: r.raw for r in week.rows
            if r.raw and r.morning == morning and (day is None or r.raw["day"] == day)}


def test_the_week_is_run_as_scripted(week):
    t = week.totals
    assert t["mornings"] == 8 and t["runs"] == 3  # Mon 1, Tue 2, Mon 8; Wed 3 – Sun 7 off
    assert [r.morning for r in week.rows if r.verdict == "machine off"] == [
        "2025-12-03", "2025-12-04", "2025-12-05", "2025-12-06", "2025-12-07"]
    assert t["catch_up"] == {"2025-12-08": ["2025-12-03", "2025-12-04", "2025-12-05"]}
    assert t["watermarks"] == {"cs.AI": "2025-12-08", "cs.CL": "2025-12-08"}
    assert t["verdicts"] == {"complete": 12, "machine off": 5}
    assert t["offline"] == {}


def test_each_receipt_matches_what_arxiv_announced(week):
    world = World(WEEK_SCRIPT, 13)
    for day in ("2025-12-01", "2025-12-02", "2025-12-08"):
        got = _receipts(week, day, day)
        assert sorted(got) == list(FOLLOWED)
        for cat, r in got.items():
            listed = world.announcements(day, cat)
            ids = sorted(p.arxiv_id for rows in listed.values() for p, _ in rows)
            assert r["listing"]["announced"] == r["listing"]["declared"] == len(ids)
            assert sorted(r["ids"]) == ids, "the day's ids are the listing's"
            assert r["types"] == {k: len(v) for k, v in listed.items()}
            assert r["kept"] + sum(r["dropped"].values()) == len(ids)
            assert r["failed"] == 0 and r["verdict"] == "complete"

    tue = _receipts(week, "2025-12-02")
    ai, cl = tue["cs.AI"], tue["cs.CL"]
    assert ai["sources"] == "disagree" and len(ai["only_listing"]) == 1 and ai["only_feed"] == []
    assert ai["feed"]["announced"] == ai["listing"]["announced"] - 1
    mon_cl = world.announcements("2025-12-01", "cs.CL")  # Tuesday's cs.CL feed served Monday's items
    assert cl["sources"] == "stale feed" and len(cl["stale_ids"]) == sum(len(v) for v in mon_cl.values())
    assert not set(cl["ids"]) & set(cl["stale_ids"]), "the stale feed's ids are not taken"
    assert week.totals["stale_flags"] == ["2025-12-02 cs.CL"]
    assert week.totals["only_listing"] == 1 and week.totals["only_feed"] == 0


def test_the_missed_days_come_from_the_api_with_every_paper(week):
    world = World(WEEK_SCRIPT, 13)
    for day in ("2025-12-03", "2025-12-04", "2025-12-05"):
        got = _receipts(week, "2025-12-08", day)
        for cat, r in got.items():
            truth = sorted(p.arxiv_id for s in ("new", "cross") for p, _ in world.announcements(day, cat)[s])
            assert r["source"] == "arXiv API (catch-up)" and r["listing"] is None
            assert sorted(r["ids"]) == truth and r["feed"]["announced"] == len(truth)
            assert r["verdict"] == "complete"
    rows = [r for r in week.rows if r.caught_up.startswith("yes")]
    assert len(rows) == 6 and all(r.caught_up == "yes (Mon 08 Dec)" for r in rows)
    assert week.totals["per_source"]["api_catch_up"] == sum(r.raw["feed"]["announced"] for r in rows)


def test_nothing_is_missed_or_ingested_twice_and_the_v2_is_an_update(week):
    t = week.totals
    world = World(WEEK_SCRIPT, 13)
    assert t["missed"] == [] and t["ingested_twice"] == {} and t["digested_twice"] == {}
    assert t["announced_papers"] == len(set(world.truth("cs.AI", "2025-12-08")) | set(world.truth("cs.CL", "2025-12-08")))
    assert t["ingested_keys"] == t["announced_papers"] + 1  # every paper once, and the v2
    assert t["stale_versions"] == []
    (update,) = t["updated"]
    assert update.startswith("2025-12-08: updated (v1 → v2)") and "title" in update
    mon = _receipts(week, "2025-12-08", "2025-12-08")
    replaced = [p.arxiv_id for p in world.papers.values() if len(p.versions) == 2 and p.versions[0].version == 1]
    assert mon["cs.AI"]["updated"] == replaced


def test_the_table_and_the_summary_print(week):
    text = table(week)
    assert text.splitlines()[0].startswith("| morning | day | cat | verdict | feed | listing |")
    assert "| Tue 02 Dec | Tue 02 Dec | cs.CL | complete |" in text and "STALE" in text
    assert "yes (Mon 08 Dec)" in text and "machine off" in text
    s = summary(week)
    assert "catch-up: Mon 08 Dec fetched Wed 03 Dec, Thu 04 Dec, Fri 05 Dec" in s
    assert "stale flags: 2025-12-02 cs.CL" in s and "ingested twice: 0" in s
