"""Chroma server mode: `chroma run` started by the test on 127.0.0.1, paperrag writing through HttpClient."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes.corpus import index_state, ingest_paths
from fakes.http_server import free_port as _free_port
from fakes.pdfs import make_paper_pdf

from indexes.vector_store import VectorIndexError, open_client
from paperrag.settings import IndexSettings, Settings


@pytest.fixture
def chroma_server(tmp_path):
    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    port = _free_port()
    proc = subprocess.Popen([exe, "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import chromadb

    deadline = time.monotonic() + 60
    while True:  # poll the server's own readiness signal, bounded
        try:
            chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
            break
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"chroma run did not start: {proc.stderr.read().decode()[-1000:]}")
            time.sleep(0.2)
    yield port
    proc.terminate()
    proc.wait(timeout=30)


def test_ingest_into_a_chroma_server(home, tmp_path, embedder, chroma_server):
    settings = Settings(index=IndexSettings(chroma_host="127.0.0.1", chroma_port=chroma_server))
    pdf = make_paper_pdf(tmp_path / "p.pdf", title="Served Paper", arxiv_id="2403.00001", seed=7)
    _, report = ingest_paths(settings, embedder, pdf)
    assert report.counts == {"kept": 1}
    state = index_state(settings, embedder)
    assert set(state["vectors"]) == set(state["rows"]) and state["vectors"]
    assert not (home / "chroma").exists(), "server mode must not write an embedded index"
    _, again = ingest_paths(settings, embedder, pdf)
    assert again.counts == {"already": 1}


def test_unreachable_server_is_a_clear_error(home):
    settings = Settings(index=IndexSettings(chroma_host="127.0.0.1", chroma_port=_free_port()))
    with pytest.raises(VectorIndexError, match="chroma run"):
        open_client(settings)
