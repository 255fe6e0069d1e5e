"""Concurrent use: a long-lived reader process (the web app's Library) searching while `paperrag ingest` writes in
another process, and two ingests started together. Every process is real; the writer is held at an exact step
with PAPERRAG_FAULT_POINT (it stops itself with SIGSTOP), never by sleeping."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fakes.pdfs import make_paper_pdf

from faults.harness import REPO, cli_env, run_cli, wait_stopped_at
from indexes.catalog import Catalog
from indexes.integrity import check_stores
from paperrag.settings import Settings

DEADLINE_S = 300
FACT = "The lattice sampler converges after exactly 4096 proposal steps on every benchmark graph."
FACT_QUERY = "how many proposal steps until the lattice sampler converges"


class Reader:
    """tests/faults/reader_proc.py in its own process; `send` waits for its one-line answer with a deadline."""

    def __init__(self, env: dict):
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("reader_proc.py"))], cwd=REPO,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        assert self._next().get("ready")

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _next(self) -> dict:
        line = self.lines.get(timeout=DEADLINE_S)
        assert line is not None, f"the reader died: {self.proc.stderr.read()[-3000:]}"
        return json.loads(line)

    def send(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._next()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=DEADLINE_S)


def _stopped_writer(args: list[str], env: dict, fault: str) -> subprocess.Popen:
    """`paperrag ARGS` run up to the fault point, where it stops itself (SIGSTOP); returned stopped."""
    marker = Path(env["PAPERRAG_HOME"]).parent / f"stopped-{fault}"
    marker.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "ui.cli", *args], cwd=REPO,
                            env={**env, "PAPERRAG_FAULT_POINT": fault, "PAPERRAG_FAULT_MARKER": str(marker)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_stopped_at(proc, marker)
    return proc


def _resume(proc: subprocess.Popen) -> tuple[int, str]:
    os.kill(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=DEADLINE_S)
    return proc.returncode, err


@pytest.fixture
def reader(ingested_home, tmp_path):
    r = Reader(cli_env(ingested_home, tmp_path))
    yield r
    r.close()


def test_reader_sees_no_half_written_paper_and_every_committed_one(reader, ingested_home, tmp_path):
    first = reader.send(f"search {FACT_QUERY}")
    assert first["ok"] and set(first["chunks"]) == {"2405.00001v1", "2405.00002v1"}
    assert first["present"] == first["rows"]
    new = make_paper_pdf(tmp_path / "new" / "lattice.pdf", title="Lattice Samplers", arxiv_id="2404.00009", seed=6,
                         extra_sections=[("5 Convergence", FACT)])
    env = cli_env(ingested_home, tmp_path)

    writer = _stopped_writer(["ingest", str(new.parent)], env, "after_vectors:1")  # vectors in, catalog not yet
    during = reader.send(f"search {FACT_QUERY}")
    assert during["ok"], during
    assert "2404.00009v1" not in during["chunks"] and during["present"] == during["rows"]

    rc, err = _resume(writer)
    assert rc == 0, err[-2000:]
    after = reader.send(f"search {FACT_QUERY}")
    assert after["ok"], after  # the reader's Chroma view is reopened: the writer's new ids are found
    assert after["papers"][0] == "2404.00009v1" and after["present"] == after["rows"]
    n_new = Catalog(Settings(home=ingested_home).catalog_path).get_paper("2404.00009v1").n_chunks
    assert after["chunks"]["2404.00009v1"] == n_new


def test_searching_all_through_an_ingest_never_fails(reader, ingested_home, tmp_path):
    folder = tmp_path / "more"
    for i in range(3):
        make_paper_pdf(folder / f"p{i}.pdf", title=f"Concurrent Paper {i}", arxiv_id=f"2406.0000{i}", seed=60 + i,
                       extra_sections=[("2 Result", f"Method {i} reaches {70 + i} percent on the widget benchmark.")])
    writer = subprocess.Popen([sys.executable, "-m", "ui.cli", "ingest", str(folder)], cwd=REPO,
                              env=cli_env(ingested_home, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    rounds = []
    while writer.poll() is None:  # search back to back for as long as the writer runs
        rounds.append(reader.send("loop 5 widget benchmark percent"))
    _, err = writer.communicate(timeout=DEADLINE_S)
    assert writer.returncode == 0, err[-2000:]
    rounds.append(reader.send("loop 1 widget benchmark percent"))
    assert all(r["ok"] for r in rounds) and [e for r in rounds for e in r["errors"]] == []
    final = {p.key: p.n_chunks for p in Catalog(Settings(home=ingested_home).catalog_path).papers("indexed")}
    seen = {tuple(pair) for r in rounds for pair in r["seen"]}
    assert {k for k, _ in seen} == set(final)  # the last round saw every paper
    assert [(k, n) for k, n in seen if final[k] != n] == []  # no paper was ever seen with part of its chunks
    assert sum(r["searches"] for r in rounds) > 1


def test_two_ingests_started_together_the_second_says_why(ingested_home, tmp_path):
    a = make_paper_pdf(tmp_path / "a" / "a.pdf", title="First Writer Paper", arxiv_id="2407.00001", seed=71)
    b = make_paper_pdf(tmp_path / "b" / "b.pdf", title="Second Writer Paper", arxiv_id="2407.00002", seed=72)
    env = cli_env(ingested_home, tmp_path)
    first = _stopped_writer(["ingest", str(a)], env, "before_vectors:1")  # holds the writer lock
    second = run_cli(["ingest", str(b)], env, timeout=DEADLINE_S)
    assert second.returncode == 1
    errors = [ln for ln in second.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "another paperrag ingest is running" in errors[0], second.stderr[-2000:]
    assert "database is locked" not in second.stderr + second.stdout
    rc, err = _resume(first)
    assert rc == 0, err[-2000:]
    again = run_cli(["ingest", str(b)], env, timeout=DEADLINE_S)
    assert again.returncode == 0, again.stderr[-2000:]
    settings = Settings(home=ingested_home)
    assert Catalog(settings.catalog_path).status_counts() == {"indexed": 4}
    found = check_stores(settings)
    assert found.ok, found.render()


def test_a_delete_while_an_ingest_writes_is_refused_with_the_reason(ingested_home, tmp_path):
    a = make_paper_pdf(tmp_path / "a" / "a.pdf", title="Writer Paper", arxiv_id="2407.00003", seed=73)
    env = cli_env(ingested_home, tmp_path)
    writer = _stopped_writer(["ingest", str(a)], env, "after_vectors:1")
    deleted = run_cli(["delete", "--yes", "2405.00001"], env, timeout=DEADLINE_S)
    rc, err = _resume(writer)
    assert rc == 0, err[-2000:]
    assert deleted.returncode == 1 and "another paperrag ingest is running" in deleted.stderr, deleted.stderr[-2000:]
    assert Catalog(Settings(home=ingested_home).catalog_path).status_counts() == {"indexed": 3}
