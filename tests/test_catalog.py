"""The SQLite catalog: states, atomic commits, runs and decisions."""

from __future__ import annotations

from ingest.catalog import Catalog, chunk_id, row_to_meta
from ingest.records import Action, Chunk, Decision, PaperMeta


def _meta(version=1):
    return PaperMeta(arxiv_id="2506.19850", version=version, title="A paper", authors=["A. Author", "B. Author"],
                     categories=["cs.CL", "cs.LG"], published="2025-06-24")


def _chunks(n):
    return [Chunk(f"A paper › 1 Intro\ntext {i}", "1 Intro", 1, 1, "body", 10, i) for i in range(n)]


def test_paper_lifecycle_and_corpus_version(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    meta = _meta()
    cat.mark_indexing(meta)
    assert cat.get_paper(meta.key)["status"] == "indexing"
    assert [r["key"] for r in cat.interrupted_papers()] == [meta.key]
    v0 = cat.corpus_version()
    cat.commit_paper(meta.key, _chunks(3), content_sha256="ab" * 32, fulltext=True, n_pages=5, embedder="e")
    assert cat.corpus_version() == v0 + 1
    row = cat.get_paper(meta.key)
    assert (row["status"], row["n_chunks"], row["fulltext"]) == ("indexed", 3, 1)
    assert cat.chunk_ids(meta.key) == [chunk_id(meta.key, i) for i in range(3)]
    assert row_to_meta(row).authors == ["A. Author", "B. Author"]
    # re-committing replaces the chunk rows instead of adding to them
    cat.commit_paper(meta.key, _chunks(2), content_sha256="ab" * 32, fulltext=True, n_pages=5, embedder="e")
    assert cat.chunk_count(meta.key) == 2


def test_failure_never_damages_an_indexed_paper(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    meta = _meta()
    cat.mark_indexing(meta)
    cat.commit_paper(meta.key, _chunks(2), content_sha256="x", fulltext=True, n_pages=1, embedder="e")
    cat.mark_failed(meta, "download: timed out")
    assert cat.get_paper(meta.key)["status"] == "indexed"
    assert cat.chunk_count(meta.key) == 2


def test_supersede_drops_chunks(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    old, new = _meta(1), _meta(2)
    for m in (old, new):
        cat.mark_indexing(m)
        cat.commit_paper(m.key, _chunks(2), content_sha256=m.key, fulltext=True, n_pages=1, embedder="e")
    cat.supersede(old.key)
    assert cat.get_paper(old.key)["status"] == "superseded"
    assert cat.chunk_count(old.key) == 0
    assert cat.latest_indexed("2506.19850")["version"] == 2


def test_runs_and_decisions(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    first = cat.start_run("ingest a")
    second = cat.start_run("ingest b")  # the first never finished: its process died
    assert cat.db.execute("SELECT status FROM runs WHERE id=?", (first,)).fetchone()[0] == "interrupted"
    cat.record(Decision(second, "2506.19850v1", Action.SKIPPED, "no keyword match", "T"))
    cat.record(Decision(second, "2506.19851v1", Action.FAILED, "parse: encrypted PDF", "U"))
    cat.finish_run(second, "done", {"counts": {"skipped": 1, "failed": 1}})
    assert cat.decision_counts(second) == {"skipped": 1, "failed": 1}
    assert [r["id"] for r in cat.last_runs(2)] == [second, first]
