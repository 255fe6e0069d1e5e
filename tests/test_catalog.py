"""The SQLite catalog: states, atomic commits, runs and decisions."""

from __future__ import annotations

from indexes.catalog import Catalog, chunk_id, row_to_meta
from paperrag.records import (
    Action,
    Chunk,
    ChunkRecord,
    Decision,
    PaperMeta,
    PaperRecord,
)


def _meta(version=1):
    return PaperMeta(arxiv_id="2506.19850", version=version, title="A paper", authors=["A. Author", "B. Author"],
                     categories=["cs.CL", "cs.LG"], published="2025-06-24")


def _chunks(n):
    return [Chunk(f"A paper › 1 Intro\ntext {i}", "1 Intro", 1, 1, "body", 10, i) for i in range(n)]


def test_paper_lifecycle_and_corpus_version(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    meta = _meta()
    cat.mark_indexing(meta)
    assert cat.get_paper(meta.key).status == "indexing"
    assert [r.key for r in cat.interrupted_papers()] == [meta.key]
    v0 = cat.corpus_version()
    cat.commit_paper(meta.key, _chunks(3), content_sha256="ab" * 32, fulltext=True, n_pages=5, embedder="e")
    assert cat.corpus_version() == v0 + 1
    row = cat.get_paper(meta.key)
    assert (row.status, row.n_chunks, row.fulltext) == ("indexed", 3, True)
    assert cat.chunk_ids(meta.key) == [chunk_id(meta.key, i) for i in range(3)]
    assert row.meta.authors == row_to_meta(row).authors == ["A. Author", "B. Author"]
    assert row.meta == meta and row.categories == ["cs.CL", "cs.LG"] and row.error == ""
    assert [c.to_chunk() for c in cat.chunks_of(meta.key)] == _chunks(3)
    # re-committing replaces the chunk rows instead of adding to them
    cat.commit_paper(meta.key, _chunks(2), content_sha256="ab" * 32, fulltext=True, n_pages=5, embedder="e")
    assert cat.chunk_count(meta.key) == 2


def test_failure_never_damages_an_indexed_paper(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    meta = _meta()
    cat.mark_indexing(meta)
    cat.commit_paper(meta.key, _chunks(2), content_sha256="x", fulltext=True, n_pages=1, embedder="e")
    cat.mark_failed(meta, "download: timed out")
    assert cat.get_paper(meta.key).status == "indexed"
    assert cat.chunk_count(meta.key) == 2


def test_supersede_drops_chunks(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    old, new = _meta(1), _meta(2)
    for m in (old, new):
        cat.mark_indexing(m)
        cat.commit_paper(m.key, _chunks(2), content_sha256=m.key, fulltext=True, n_pages=1, embedder="e")
    cat.supersede(old.key)
    assert cat.get_paper(old.key).status == "superseded"
    assert cat.chunk_count(old.key) == 0
    assert cat.latest_indexed("2506.19850").version == 2


def test_runs_and_decisions(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    first = cat.start_run("ingest a")
    second = cat.start_run("ingest b")  # the first never finished: its process died
    assert cat.get_run(first).status == "interrupted" and cat.get_run(first + 99) is None
    cat.record(Decision(second, "2506.19850v1", Action.SKIPPED, "no keyword match", "T"))
    cat.record(Decision(second, "2506.19851v1", Action.FAILED, "parse: encrypted PDF", "U"))
    cat.finish_run(second, "done", {"counts": {"skipped": 1, "failed": 1}})
    assert cat.decision_counts(second) == {"skipped": 1, "failed": 1}
    assert [r.id for r in cat.last_runs(2)] == [second, first]
    run = cat.get_run(second)
    assert run.summary == {"counts": {"skipped": 1, "failed": 1}} and run.finished_at and run.command == "ingest b"
    assert [(d.paper, d.action, d.reason, d.title) for d in cat.decisions(second)] == [
        ("2506.19850v1", "skipped", "no keyword match", "T"), ("2506.19851v1", "failed", "parse: encrypted PDF", "U")]
    assert cat.get_run(first).summary == {}  # never finished


def test_typed_queries_and_bulk_insert(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    meta = _meta()
    meta.announced, meta.local_path = "2025-06-25", "/tmp/x.pdf"
    cat.mark_indexing(meta)
    cat.commit_paper(meta.key, _chunks(2), content_sha256="x", fulltext=True, n_pages=1, embedder="e", parser=2)
    cat.bulk_insert([PaperRecord("2506.00001v1", "2506.00001", 1, title="Bulk", published="2025-06-25",
                                 announced="", status="indexed", n_chunks=1)],
                    [ChunkRecord("2506.00001v1#0000", "2506.00001v1", 0, "", 1, 2, "body", 300, "Bulk\ntext")])
    assert cat.corpus_version() == 2
    assert [p.key for p in cat.papers_announced("2025-06-25")] == ["2506.00001v1", meta.key]
    assert cat.papers_announced("2025-06-24") == []  # announced day wins over the published one
    assert [p.key for p in cat.papers_with_local_path("/tmp/x.pdf")] == [meta.key]
    assert cat.fulltext_counts() == (1, 1) and cat.max_chunk_tokens() == 300
    bulk = cat.get_paper("2506.00001v1")
    assert (bulk.title, bulk.authors, bulk.fulltext, bulk.parser) == ("Bulk", [], False, 0)
    assert [c.id for c in cat.iter_chunks(["2506.00001v1"])] == ["2506.00001v1#0000"]
    assert [c.ordinal for c in cat.chunks_on_page("2506.00001v1", 2)] == [0]
    cat.set_embedder(meta.key, "other")
    assert cat.get_paper(meta.key).embedder == "other"
    cat.bump_corpus_version()
    assert cat.corpus_version() == 3
