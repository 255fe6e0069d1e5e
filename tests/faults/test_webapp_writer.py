"""The web app (`paperrag ui`, its own process) answering questions while `paperrag ingest` writes the same data home
in another process: no error reaches the user, and a paper is answered from only once it is whole. The writer
is held at an exact step (PAPERRAG_FAULT_POINT, it stops itself), never timed with a sleep."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from fakes.pdfs import make_paper_pdf

from faults.harness import REPO, cli_env
from faults.test_concurrency import FACT, FACT_QUERY, _resume, _stopped_writer
from faults.webapp import WebApp, ask

ERROR_MARKS = ("⚠", "Traceback")  # how the Ask tab shows a failure (an exception in predict would raise)


@pytest.fixture
def webapp(ingested_home, tmp_path):
    app = WebApp(cli_env(ingested_home, tmp_path, PAPERRAG_LLM__BACKEND="fake"))
    yield app
    app.close()


def _clean(answer: str, sources: str) -> bool:
    return bool(answer.strip()) and not any(m in answer + sources for m in ERROR_MARKS)


def test_a_paper_is_answered_from_only_once_whole(webapp, ingested_home, tmp_path):
    client = webapp.client()
    new = make_paper_pdf(tmp_path / "new" / "lattice.pdf", title="Lattice Samplers", arxiv_id="2404.00009", seed=6,
                         extra_sections=[("5 Convergence", FACT)])
    before = ask(client, FACT_QUERY)
    assert _clean(*before) and "2404.00009" not in before[1], before

    writer = _stopped_writer(["ingest", str(new.parent)], cli_env(ingested_home, tmp_path), "after_vectors:1")
    during = ask(client, FACT_QUERY)  # its vectors are in Chroma, its chunks not committed
    assert _clean(*during) and "2404.00009" not in during[0] + during[1], during

    rc, err = _resume(writer)
    assert rc == 0, err[-2000:]
    after = ask(client, FACT_QUERY)
    assert _clean(*after), after
    assert "2404.00009" in after[1] and "4096" in after[0], after  # the whole paper, at once


def test_questions_asked_all_through_an_ingest_reach_no_error(webapp, ingested_home, tmp_path):
    folder = tmp_path / "more"
    for i in range(3):
        make_paper_pdf(folder / f"p{i}.pdf", title=f"Concurrent Paper {i}", arxiv_id=f"2406.0000{i}", seed=60 + i,
                       extra_sections=[("2 Result", f"Method {i} reaches {70 + i} percent on the widget benchmark.")])
    clients = [webapp.client() for _ in range(4)]
    writer = subprocess.Popen([sys.executable, "-m", "ui.cli", "ingest", str(folder)], cwd=REPO,
                              env=cli_env(ingested_home, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)

    def session(i: int) -> list[tuple[str, str]]:
        out = []
        while writer.poll() is None or not out:  # ask back to back for as long as the writer runs
            out.append(ask(clients[i], f"what percent does each method reach on the widget benchmark ({i})?"))
        return out

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        answers = [a for got in pool.map(session, range(len(clients))) for a in got]
    _, err = writer.communicate(timeout=600)
    assert writer.returncode == 0, err[-2000:]
    bad = [a for a in answers if not _clean(*a)]
    print(f"{len(answers)} questions answered through the ingest of 3 papers; {len(bad)} errors")
    assert bad == [] and len(answers) >= len(clients)
    assert "Traceback" not in webapp.output(), webapp.output()[-3000:]
    final = ask(clients[0], "what percent does method 2 reach on the widget benchmark?")
    assert "2406.00002" in final[1], final  # the new papers are answered from once written
