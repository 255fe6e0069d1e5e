"""Kill -9 during `paperrag daily --sample` (fake LLM backend) at 10 points — inside ingest, inside and between
LLM calls, while rendering, inside the atomic writes of a digest, its manifest and the Atom feed — then run it
again: the digest has the uninterrupted run's structure, no generated output is made twice, no LLM call is
made for finished work, and no half-written file is left.

The process stops itself at the exact point (tests/faults/daily_driver.py, SIGSTOP) and is then SIGKILLed: no
sleeps, no guessing."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from faults.harness import REPO, cli_env, run_cli, wait_stopped_at

DAY = "2025-01-20"
DEADLINE_S = 600
DRIVER = str(Path(__file__).with_name("daily_driver.py"))


def _env(home: Path, tmp: Path, **extra) -> dict:
    return cli_env(home, tmp, PAPERRAG_LLM__BACKEND="fake", **extra)


def _calls(home: Path) -> list[tuple]:
    with sqlite3.connect(home / "catalog.sqlite") as db:
        return db.execute("SELECT purpose, prompt_id, messages FROM llm_calls ORDER BY id").fetchall()


def _artifacts(home: Path) -> list[tuple]:
    with sqlite3.connect(home / "catalog.sqlite") as db:
        return sorted(db.execute("SELECT kind, subject, prompt, model, language FROM artifacts"))


def _structure(home: Path) -> dict:
    """Per written format: its headings and anchors, in order (what a reader navigates)."""
    out = {}
    for md in sorted((home / "digests" / DAY).glob("*.md")):
        if md.name == "run-report.md":
            continue
        text = md.read_text(encoding="utf-8")
        out[md.name] = [ln for ln in text.splitlines() if ln.startswith("#")] + re.findall(r"<a id='([^']+)'>", text)
    return out


def _assert_no_half_written(home: Path) -> None:
    digests = home / "digests"
    leftovers = [p for p in digests.rglob("*") if p.name.startswith(".") and p.is_file()]
    assert leftovers == [], leftovers
    for page in digests.rglob("*.html"):
        assert page.read_text(encoding="utf-8").rstrip().endswith("</html>"), page
    for manifest in digests.rglob("manifest.json"):
        json.loads(manifest.read_text())
    feed = ET.parse(digests / "feed.xml").getroot()
    ids = [e.findtext("{http://www.w3.org/2005/Atom}id") for e in feed.findall("{http://www.w3.org/2005/Atom}entry")]
    assert len(ids) == len(set(ids)) and ids


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A home with the sample day ingested (the template), and the uninterrupted daily run over a copy of it."""
    root = tmp_path_factory.mktemp("killdaily")
    template = root / "template"
    ingest = run_cli(["ingest", "--sample"], _env(template, root), timeout=DEADLINE_S)
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    clean = root / "clean"
    shutil.copytree(template, clean)
    daily = run_cli(["daily", "--sample"], _env(clean, root), timeout=DEADLINE_S)
    assert daily.returncode == 0, daily.stderr[-2000:]
    return {"root": root, "template": template, "clean": clean, "calls": _calls(clean),
            "artifacts": _artifacts(clean), "structure": _structure(clean)}


def _points(n_calls: int) -> list[tuple[str, dict]]:
    mid = max(1, n_calls // 2)
    return [
        ("inside ingest (vectors of paper 2 written)", {"PAPERRAG_FAULT_POINT": "after_vectors:2"}),
        ("inside the first LLM call", {"PAPERRAG_TEST_STOP": "llm:1"}),
        ("between LLM calls 1 and 2", {"PAPERRAG_TEST_STOP": "llm_done:1"}),
        (f"inside LLM call {mid}", {"PAPERRAG_TEST_STOP": f"llm:{mid}"}),
        (f"between LLM calls {mid} and {mid + 1}", {"PAPERRAG_TEST_STOP": f"llm_done:{mid}"}),
        (f"inside the last LLM call ({n_calls})", {"PAPERRAG_TEST_STOP": f"llm:{n_calls}"}),
        ("rendering the first HTML page", {"PAPERRAG_TEST_STOP": "render:1"}),
        ("writing report.md (before the rename)", {"PAPERRAG_TEST_STOP": "write:report.md:1"}),
        ("writing the day's manifest", {"PAPERRAG_TEST_STOP": "write:manifest.json:1"}),
        ("writing the Atom feed", {"PAPERRAG_TEST_STOP": "write:feed.xml:1"}),
    ]


POINTS = range(10)


@pytest.mark.parametrize("point", POINTS)
def test_kill_9_then_rerun_loses_and_repeats_nothing(runs, point, tmp_path):
    name, stop = _points(len(runs["calls"]))[point]
    home = tmp_path / "home"
    if "PAPERRAG_FAULT_POINT" in stop:
        env = _env(home, tmp_path)  # from nothing: the kill lands inside the sample day's ingest
    else:
        shutil.copytree(runs["template"], home)
        env = _env(home, tmp_path)
    marker = tmp_path / "stopped-at"
    proc = subprocess.Popen([sys.executable, DRIVER, "daily", "--sample"], cwd=REPO,
                            env={**env, **stop, "PAPERRAG_FAULT_MARKER": str(marker)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_stopped_at(proc, marker)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    before = _calls(home) if (home / "catalog.sqlite").exists() else []

    again = run_cli(["daily", "--sample"], env, timeout=DEADLINE_S)
    assert again.returncode == 0, f"{name}: {again.stderr[-2000:]}"
    assert f"digest of {DAY}: 3 papers" in again.stdout, again.stdout[-2000:]

    assert _structure(home) == runs["structure"], name
    assert _artifacts(home) == runs["artifacts"], name  # each output once (content differs only in timings)
    calls = _calls(home)
    # every call of the clean run was made, and none twice — except the one that had returned when the process
    # was killed, before its output was stored
    assert not Counter(runs["calls"]) - Counter(calls), name
    extra = Counter(calls) - Counter(runs["calls"])
    assert sum(extra.values()) == (1 if stop.get("PAPERRAG_TEST_STOP", "").startswith("llm_done") else 0), name
    assert not extra or next(iter(extra)) in before, name  # the repeated one is the interrupted one
    _assert_no_half_written(home)

    third = run_cli(["daily", "--sample"], env, timeout=DEADLINE_S)
    assert third.returncode == 0 and "already written" in third.stdout, third.stdout[-2000:]
    assert len(_calls(home)) == len(calls)  # a finished day makes no call at all
