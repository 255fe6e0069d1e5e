"""The ingest pipeline end to end: real PDFs, real PyMuPDF, real MiniLM, real Chroma on a temp dir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fakes.corpus import index_state, ingest_paths
from fakes.pdfs import make_bad_pdfs, make_paper_pdf

from indexes.catalog import Catalog
from indexes.vector_store import EmbedderMismatch, open_collection
from paperrag.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SAMPLE_PDFS = REPO / "ingest" / "sample_day" / "pdfs"


class CountingEmbedder:
    """The real embedder, counting how many texts it was asked to embed."""

    def __init__(self, inner):
        self._inner = inner
        self.texts_embedded = 0

    def embed(self, texts, **kw):
        self.texts_embedded += len(texts)
        return self._inner.embed(texts, **kw)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_sample_pdfs_ingest_once_and_rerun_touches_nothing(home, embedder):
    settings = Settings()
    counting = CountingEmbedder(embedder)
    ingestor, first = ingest_paths(settings, counting, SAMPLE_PDFS)
    assert first.counts == {"kept": 3}, [d.reason for d in first.decisions]
    state = index_state(settings, embedder)
    assert len(state["rows"]) == len(state["vectors"]) > 30
    assert set(state["rows"]) == set(state["vectors"])
    # every chunk fits the embedder's window, carries the title › section prefix and a page range
    longest = max(embedder.count_tokens([text for text, *_ in state["rows"].values()]))
    assert longest <= embedder.max_tokens
    assert all(text.split("\n", 1)[0] for text, *_ in state["rows"].values())
    assert all(1 <= p0 <= p1 for _, p0, p1, _ in state["rows"].values())
    embedded = counting.texts_embedded

    ingestor, second = ingest_paths(settings, counting, SAMPLE_PDFS)
    assert second.counts == {"already": 3}
    assert counting.texts_embedded == embedded, "a re-run must not embed anything"
    assert index_state(settings, embedder) == state


def test_newer_version_replaces_older_chunks(home, tmp_path, embedder):
    settings = Settings()
    v1 = make_paper_pdf(tmp_path / "v1.pdf", title="Versioned Paper", arxiv_id="2401.00001", version=1, seed=1)
    v2 = make_paper_pdf(tmp_path / "v2.pdf", title="Versioned Paper", arxiv_id="2401.00001", version=2, seed=2)
    _, first = ingest_paths(settings, embedder, v1)
    assert [d.paper for d in first.decisions] == ["2401.00001v1"]
    _, second = ingest_paths(settings, embedder, v2)
    assert second.decisions[0].action.value == "replaced"
    assert "2401.00001v1" in second.decisions[0].reason
    state = index_state(settings, embedder)
    assert state["papers"] == {"2401.00001v1": "superseded", "2401.00001v2": "indexed"}
    assert state["vectors"] and all(cid.startswith("2401.00001v2#") for cid in state["vectors"])
    # an older version offered again is not allowed to come back
    _, third = ingest_paths(settings, embedder, v1)
    assert third.decisions[0].action.value == "skipped"
    assert "newer version v2" in third.decisions[0].reason


def test_bad_pdfs_are_reported_and_the_run_goes_on(home, tmp_path, embedder):
    settings = Settings()
    good = make_paper_pdf(tmp_path / "in" / "good.pdf", title="A Good Paper", seed=3)
    bad = make_bad_pdfs(tmp_path / "in")
    _, report = ingest_paths(settings, embedder, tmp_path / "in")
    by_path = {}
    catalog = Catalog(settings.catalog_path)
    for d in report.decisions:
        row = catalog.get_paper(d.paper)
        by_path[Path(row.local_path).name] = d
    assert by_path[good.name].action.value == "kept"
    for kind, path in bad.items():
        decision = by_path[path.name]
        assert decision.action.value == "failed", (kind, decision.reason)
        assert decision.reason and "Traceback" not in decision.reason
    assert "encrypt" in by_path["locked.pdf"].reason.lower()
    assert "html" in by_path["saved-page.pdf"].reason.lower()
    assert "empty" in by_path["zero.pdf"].reason.lower() or "zero" in by_path["zero.pdf"].reason.lower()
    # the failures damaged nothing: the good paper is fully indexed
    state = index_state(settings, embedder)
    assert len(state["vectors"]) == len(state["rows"]) > 0


def test_unknown_inputs_get_a_named_reason(home, embedder):
    settings = Settings()
    _, report = ingest_paths(settings, embedder, Path("/nonexistent/paper.pdf"))
    assert report.decisions[0].action.value == "failed"
    assert "no such file" in report.decisions[0].reason


def test_collection_refuses_a_different_embedder(home, tmp_path, embedder):
    settings = Settings()
    ingest_paths(settings, embedder, make_paper_pdf(tmp_path / "p.pdf", title="Some Paper", seed=4))
    with pytest.raises(EmbedderMismatch, match="paperrag reindex"):
        open_collection(settings, "another-model|dim=768|max_tokens=512")


def test_reindex_rebuilds_the_same_vectors_from_the_catalog(home, tmp_path, embedder):
    from paperrag.library import Library

    settings = Settings()
    ingest_paths(settings, embedder, make_paper_pdf(tmp_path / "p.pdf", title="Reindexed Paper", seed=5))
    before = index_state(settings, embedder)
    with Library(settings, embedder=embedder) as lib:
        n_papers, n_chunks = lib.reindex()
    assert (n_papers, n_chunks) == (1, len(before["rows"]))
    assert index_state(settings, embedder) == before


def _run_cli(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ui.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("fault", ["after_vectors:2", "before_vectors:2"])
def test_sigkill_mid_run_then_resume_equals_a_clean_run(tmp_path, embedder, fault):
    folder = tmp_path / "pdfs"
    for i in range(3):
        make_paper_pdf(folder / f"p{i}.pdf", title=f"Crash Test Paper {i}", arxiv_id=f"2402.0000{i}", seed=10 + i)
    killed_home, clean_home = tmp_path / "killed", tmp_path / "clean"
    env = {**os.environ, "PAPERRAG_HOME": str(killed_home), "PAPERRAG_CONFIG": str(tmp_path / "none.toml"),
           "PAPERRAG_FAULT_POINT": fault, "HF_HUB_OFFLINE": "1"}
    proc = _run_cli(["ingest", str(folder)], env)
    # The fault point stops the process (SIGSTOP) at exactly that step; wait for it, then kill it hard.
    _, status = os.waitpid(proc.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status), proc.stderr.read().decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = Settings(home=killed_home)
    catalog = Catalog(killed.catalog_path)
    assert catalog.status_counts().get("indexing") == 1, "the killed run left its paper half-done"
    assert catalog.last_runs(1)[0].status == "running"

    env.pop("PAPERRAG_FAULT_POINT")
    resumed = _run_cli(["ingest", str(folder)], env)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err.decode()[-2000:]
    assert catalog.last_runs(2)[1].status == "interrupted"

    clean = Settings(home=clean_home)
    ingest_paths(clean, embedder, folder)
    assert index_state(killed, embedder) == index_state(clean, embedder)
    assert Catalog(killed.catalog_path).status_counts() == {"indexed": 3}


def test_collection_is_readable_as_a_llamaindex_vector_store(home, tmp_path, embedder):
    from llama_index.core.vector_stores.types import VectorStoreQuery
    from llama_index.vector_stores.chroma import ChromaVectorStore

    settings = Settings()
    fact = "The lattice sampler converges after exactly 4096 proposal steps on every benchmark graph."
    ingest_paths(settings, embedder, make_paper_pdf(tmp_path / "p.pdf", title="Lattice Samplers",
                                                    arxiv_id="2404.00009", seed=6,
                                                    extra_sections=[("5 Convergence", fact)]))
    store = ChromaVectorStore(chroma_collection=open_collection(settings, embedder.identity))
    found = store.query(VectorStoreQuery(query_embedding=embedder.embed_query(
        "how many proposal steps until the sampler converges").tolist(), similarity_top_k=2))
    top = found.nodes[0]
    assert "4096 proposal steps" in top.get_content()
    assert top.metadata["paper_key"] == "2404.00009v1" and top.ref_doc_id == "2404.00009v1"


def test_delete_removes_vectors_chunks_and_catalog_rows(home, tmp_path, embedder):
    from paperrag.errors import LibraryError
    from paperrag.library import Library

    settings = Settings()
    keep = make_paper_pdf(tmp_path / "keep.pdf", title="Kept Paper", arxiv_id="2407.00001", seed=41)
    gone = make_paper_pdf(tmp_path / "gone.pdf", title="Deleted Paper", arxiv_id="2407.00002", seed=42)
    ingest_paths(settings, embedder, keep, gone)
    lib = Library(settings, embedder=embedder)
    assert lib.delete("2407.00002") == ["2407.00002v1"]
    state = index_state(settings, embedder)
    assert state["papers"] == {"2407.00001v1": "indexed"}
    assert state["vectors"] and all(cid.startswith("2407.00001v1#") for cid in state["vectors"])
    assert set(state["rows"]) == set(state["vectors"])
    with pytest.raises(LibraryError, match="no paper"):
        lib.delete("2407.00002")


def test_a_failed_reindex_keeps_the_indexed_copy(home, tmp_path, embedder):
    from paperrag.settings import ParseSettings

    settings = Settings()
    pdf = make_paper_pdf(tmp_path / "p.pdf", title="Stable Paper", arxiv_id="2408.00001", seed=51)
    ingest_paths(settings, embedder, pdf)
    before = index_state(settings, embedder)
    # same id and version, new content that this time cannot be parsed (too many pages for the limit)
    make_paper_pdf(pdf, title="Stable Paper", arxiv_id="2408.00001", seed=52, sections=14, words_per_section=500)
    strict = Settings(parse=ParseSettings(max_pages=2))
    _, report = ingest_paths(strict, embedder, pdf)
    assert report.decisions[0].paper == "2408.00001v1" and report.decisions[0].action.value == "failed"
    assert "parse.max_pages" in report.decisions[0].reason
    assert index_state(settings, embedder) == before, "a failed re-index must not damage what is stored"
