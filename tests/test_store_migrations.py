"""catalog.sqlite through the migration ledger: older catalogs are adopted in place, newer ones refused untouched,
an unusable data home is one StoreError line (indexes.db, indexes.migrations)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from indexes import db as sqlite_db
from indexes import migrations
from indexes.artifacts import ArtifactCache
from indexes.call_log import count_calls, log_call, recent_calls
from indexes.catalog import Catalog
from paperrag.errors import StoreError, user_message
from paperrag.records import (
    PARSER_VERSION,
    ChunkRecord,
    DecisionRecord,
    PaperRecord,
    RunRecord,
)

FIXTURES = Path(__file__).parent / "fixtures" / "catalogs"
OLD_CATALOGS = {"main-0835521": 2, "main-9a9f3de-no-parser": 0}  # fixture -> parser of its indexed paper
TABLES = {"papers", "chunks", "runs", "decisions", "meta", "llm_calls", "artifacts"}


def _copy(name: str, tmp_path: Path) -> Path:
    path = tmp_path / "home" / "catalog.sqlite"
    path.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / f"{name}.sqlite", path)
    return path


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path)


def _ledger(path: Path) -> list[tuple[str, str]]:
    con = _raw(path)
    try:
        return [tuple(r) for r in con.execute("SELECT name, applied_at FROM _migrations ORDER BY rowid")]
    finally:
        con.close()


def _pragma(path: Path, name: str):
    con = _raw(path)
    try:
        return con.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        con.close()


def _columns(path: Path) -> dict[str, list[str]]:
    con = _raw(path)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: [r[1] for r in con.execute(f"PRAGMA table_info({t})")] for t in names}
    finally:
        con.close()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", sorted(OLD_CATALOGS))
def test_an_older_catalog_is_migrated_in_place_once(name, tmp_path):
    path = _copy(name, tmp_path)
    assert _pragma(path, "user_version") == 0
    with pytest.raises(sqlite3.OperationalError):
        _ledger(path)  # made before the ledger existed

    cat = Catalog(path)
    ledger = _ledger(path)
    assert [n for n, _ in ledger] == migrations.known()
    assert _pragma(path, "user_version") == migrations.schema_version() == len(migrations.known())
    assert _pragma(path, "journal_mode") == "wal"
    assert "parser" in _columns(path)["papers"]
    assert migrations.migrate(cat.db) == []  # nothing left to apply
    cat.close()

    # a second open (catalog, artifact cache, call log) applies nothing: the ledger is unchanged
    cat = Catalog(path)
    ArtifactCache(path).db.close()
    assert count_calls(path) == 1
    assert _ledger(path) == ledger

    # every row is still there, as typed records
    paper = cat.get_paper("1706.03762v7")
    assert isinstance(paper, PaperRecord)
    assert (paper.title, paper.authors, paper.categories, paper.code_links) == (
        "Attention Is All You Need", ["Ashish Vaswani", "Noam Shazeer"], ["cs.CL", "cs.LG"], [])
    assert (paper.status, paper.fulltext, paper.n_pages, paper.n_chunks, paper.parser) == (
        "indexed", True, 15, 2, OLD_CATALOGS[name])
    assert paper.content_sha256 == "ab" * 32 and paper.embedder.startswith("all-MiniLM-L6-v2")
    assert (paper.meta.key, paper.meta.announced, paper.meta.source) == ("1706.03762v7", "2017-06-13", "ids")
    failed = cat.get_paper("2501.00001v1")
    assert (failed.status, failed.fulltext, failed.error) == ("failed", False, "download: HTTP 404")
    assert (failed.content_sha256, failed.embedder) == ("", "")  # NULLs read as ""
    assert [p.key for p in cat.papers()] == ["1706.03762v7", "2501.00001v1"]
    assert [p.key for p in cat.versions_of("1706.03762")] == ["1706.03762v7"]
    assert cat.latest_indexed("1706.03762").key == "1706.03762v7"
    assert [p.key for p in cat.outdated_papers()] == (["1706.03762v7"] if OLD_CATALOGS[name] < PARSER_VERSION
                                                      else [])
    assert cat.fulltext_counts() == (1, 0) and cat.corpus_version() == 1

    chunks = cat.chunks_of("1706.03762v7")
    assert all(isinstance(c, ChunkRecord) for c in chunks)
    assert [(c.id, c.ordinal, c.section, c.page_start, c.page_end, c.kind, c.n_tokens) for c in chunks] == [
        ("1706.03762v7#0000", 0, "Abstract", 1, 1, "body", 24),
        ("1706.03762v7#0001", 1, "3 Model Architecture", 3, 3, "body", 25)]
    assert chunks[1].to_chunk().text.startswith("Attention Is All You Need › 3 Model Architecture\n")
    assert list(cat.iter_chunks()) == chunks and [c.id for c in cat.chunks_on_page("1706.03762v7", 3)] == [
        "1706.03762v7#0001"]

    run = cat.get_run(1)
    assert isinstance(run, RunRecord) and cat.last_runs(5) == [run]
    assert (run.command, run.status) == ("ingest 1706.03762", "done")
    assert run.summary == {"counts": {"kept": 1, "failed": 1}, "notes": [], "seconds": 1.0, "chunks_written": 2}
    decisions = cat.decisions(1)
    assert all(isinstance(d, DecisionRecord) for d in decisions)
    assert [(d.paper, d.action, d.reason, d.title) for d in decisions] == [
        ("1706.03762v7", "kept", "indexed 2 chunks from 15 pages", "Attention Is All You Need"),
        ("2501.00001v1", "failed", "download: HTTP 404", "A failed paper")]

    call = recent_calls(path)[0]
    assert (call["backend"], call["model"], call["purpose"], call["messages"], call["response"]) == (
        "llamacpp", "qwen2.5-coder-1.5b-instruct", "answer", [{"role": "user", "content": "hi"}], "hello")
    art = ArtifactCache(path).get("analysis:report", "1706.03762v7", "analysis_report@3", "llamacpp:x", "zh")
    assert art is not None and (art.content, art.outcome, art.extra) == ("内容", "first try", {})

    # and it is writable as usual
    assert cat.start_run("ingest again") == 2
    assert log_call(path, backend="b", model="m", messages=[], outcome="ok") == 2
    cat.close()
    assert _ledger(path) == ledger


def test_a_migrated_catalog_has_the_schema_of_a_fresh_one(tmp_path):
    fresh = tmp_path / "fresh" / "catalog.sqlite"
    Catalog(fresh).close()
    for name in OLD_CATALOGS:
        old = _copy(name, tmp_path / name)
        Catalog(old).close()
        assert _columns(old) == _columns(fresh), name


def test_a_fresh_catalog_has_every_table(tmp_path):
    path = tmp_path / "new home" / "catalog.sqlite"  # the folder is made; a space in the path is fine
    cat = Catalog(path)
    cols = _columns(path)
    assert TABLES | {migrations.LEDGER} <= set(cols)
    assert cols["papers"][-1] == "parser"
    assert [n for n, _ in _ledger(path)] == migrations.known()
    assert _pragma(path, "user_version") == migrations.schema_version()
    assert cat.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert cat.db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert cat.db.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    assert cat.papers() == [] and cat.last_runs() == [] and cat.get_run(1) is None
    cat.close()


def _from_the_future(path: Path, *, ledger: bool = True) -> None:
    """What a newer paperrag leaves: a migration this code does not know, and a higher schema version."""
    con = _raw(path)
    if ledger:
        con.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        con.executemany("INSERT INTO _migrations VALUES(?, '2030-01-01T00:00:00+00:00')",
                        [(n,) for n in [*migrations.known(), "m999_from_the_future"]])
    con.execute(f"PRAGMA user_version = {migrations.schema_version() + 1}")
    con.commit()
    con.close()


@pytest.mark.parametrize("ledger", [True, False], ids=["unknown-migration", "higher-user-version"])
def test_a_catalog_from_a_newer_paperrag_is_refused_untouched(tmp_path, ledger):
    path = _copy("main-0835521", tmp_path)
    _from_the_future(path, ledger=ledger)
    before, files = _sha(path), sorted(p.name for p in path.parent.iterdir())
    n, m = migrations.schema_version() + 1, migrations.schema_version()
    for opener in (Catalog, ArtifactCache, lambda p: log_call(p, backend="b", model="m", messages=[], outcome="ok")):
        with pytest.raises(StoreError) as err:
            opener(path)
        assert str(err.value) == f"{path} was written by a newer paperrag (schema {n}, this one knows {m})"
        assert err.value.hint == "upgrade paperrag, or point PAPERRAG_HOME at another folder"
    assert "upgrade paperrag" in user_message(err.value) and "\n" not in user_message(err.value)
    assert _sha(path) == before and sorted(p.name for p in path.parent.iterdir()) == files
    assert _pragma(path, "journal_mode") == "delete"  # not even switched to WAL
    # readers still read it (they never write)
    assert count_calls(path) == 1


def test_a_home_that_cannot_be_written_is_one_store_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data home's parent should be")
    home = blocker / "home"
    with pytest.raises(StoreError) as err:
        Catalog(home / "catalog.sqlite")
    assert str(err.value) == f"cannot write to {home}: not a directory"
    assert err.value.hint == "set PAPERRAG_HOME to a writable folder"
    assert user_message(err.value) == f"cannot write to {home}: not a directory (set PAPERRAG_HOME to a writable folder)"
    with pytest.raises(StoreError, match="cannot write to"):
        ArtifactCache(home / "catalog.sqlite")
    assert blocker.read_text().startswith("a file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod 0o500; the regular-file parent case covers it")
def test_a_read_only_home_is_one_store_error(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o500)
    try:
        with pytest.raises(StoreError) as err:
            Catalog(home / "catalog.sqlite")
        assert str(home) in str(err.value) and "permission denied" in str(err.value)
        assert err.value.hint == "set PAPERRAG_HOME to a writable folder"
    finally:
        home.chmod(0o700)


def test_a_file_that_is_not_a_database_is_one_store_error(tmp_path):
    path = tmp_path / "catalog.sqlite"
    path.write_bytes(b"this is not a SQLite database at all, just some text " * 40)
    before = _sha(path)
    with pytest.raises(StoreError, match="is damaged or not a paperrag catalog") as err:
        Catalog(path)
    assert str(path) in str(err.value) and "PAPERRAG_HOME" in err.value.hint
    assert _sha(path) == before


def test_the_recipe_for_other_files_and_read_only_connections(tmp_path):
    other = tmp_path / "bm25" / "sentences.sqlite"
    con = sqlite_db.connect(other)  # any SQLite file: the recipe without the catalog's ledger
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT name FROM sqlite_master").fetchall() == []
    con.execute("CREATE TABLE t (x)")
    with pytest.raises(RuntimeError), sqlite_db.transaction(con):
        con.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("boom")
    with sqlite_db.transaction(con):
        con.execute("INSERT INTO t VALUES (2)")
    con.close()

    ro = sqlite_db.connect(other, readonly=True)
    assert [r["x"] for r in ro.execute("SELECT x FROM t")] == [2]  # rolled back, then committed
    with pytest.raises(sqlite3.OperationalError):
        ro.execute("INSERT INTO t VALUES (3)")
    ro.close()
    missing = tmp_path / "nope" / "catalog.sqlite"
    with pytest.raises(sqlite3.OperationalError):
        sqlite_db.connect(missing, readonly=True)
    assert not missing.parent.exists()  # a read-only open creates nothing
