"""Corruption: damaged stores are found by `paperrag doctor --check` and rebuilt by `--repair` from the catalog and
the PDF cache, with no download; afterwards search answers as it did before the damage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fakes.corpus import index_state

from faults.harness import cli_env, run_cli
from indexes import integrity as I
from paperrag.library import Library
from paperrag.settings import Settings

QUESTION = "how many citations does the crawler follow"


def _only_dir(path: Path) -> Path:
    found = [d for d in path.iterdir() if d.is_dir()]
    assert len(found) == 1, found
    return found[0]


def _truncate(path: Path, size: int = 64) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(size)


# each: what is damaged, how, and the repair the check must name
def _delete_chroma(s: Settings, lib) -> None:
    shutil.rmtree(s.chroma_dir)


def _truncate_chroma_sqlite(s: Settings, lib) -> None:
    _truncate(Path(s.chroma_dir) / "chroma.sqlite3", 4096)


def _segment(s: Settings) -> Path:
    return next(p for p in (Path(s.bm25_dir) / "segments").glob("seg-*") if p.is_dir() and ".tmp-" not in p.name)


def _dense_file(s: Settings) -> Path:
    return next(p for p in _segment(s).glob("dense-*.npy") if not p.name.endswith(".present.npy"))


def _truncate_keyword_index(s: Settings, lib) -> None:
    _truncate(_segment(s) / "ids.json", 10)


def _garble_keyword_index(s: Settings, lib) -> None:
    victim = max((p for p in _segment(s).glob("c.*.npy")), key=lambda p: p.stat().st_size)
    victim.write_bytes(b"\x00garbage" * 8)


def _truncate_dense(s: Settings, lib) -> None:
    _truncate(_dense_file(s), 200)


def _garble_dense(s: Settings, lib) -> None:
    """Valid header, wrong numbers: loads fine, scores wrong (only a read-back against Chroma can tell)."""
    path = _dense_file(s)
    m = np.load(path, mmap_mode="r+")
    m[:] = np.random.default_rng(0).standard_normal(m.shape).astype(np.float32)
    m.flush()


def _drop_some_vectors(s: Settings, lib) -> None:
    cat = lib.catalog
    ids = cat.chunk_ids("2405.00002v1")[:3]
    lib.collection.delete(ids=ids)


def _swap_a_vector(s: Settings, lib) -> None:
    """One chunk's vector replaced by another paper's chunk's: same ids, same texts, wrong embedding."""
    a, b = lib.catalog.chunk_ids("2405.00001v1")[0], lib.catalog.chunk_ids("2405.00002v1")[0]
    got = lib.collection.get(ids=[b], include=["embeddings"])
    lib.collection.update(ids=[a], embeddings=[list(got["embeddings"][0])])


def _stray_vectors(s: Settings, lib) -> None:
    """Vectors of a paper the catalog does not hold (deleted from the catalog only)."""
    got = lib.collection.get(ids=[lib.catalog.chunk_ids("2405.00001v1")[0]], include=["embeddings", "documents",
                                                                                       "metadatas"])
    meta = dict(got["metadatas"][0], paper_key="2499.99999v1")
    lib.collection.add(ids=["2499.99999v1#0000"], embeddings=[list(got["embeddings"][0])],
                       documents=got["documents"], metadatas=[meta])


def _lose_chunk_rows(s: Settings, lib) -> None:
    with lib.catalog.transaction() as db:
        db.execute("DELETE FROM chunks WHERE paper_key='2405.00002v1' AND ordinal >= 2")


CASES = {
    "chroma directory deleted": (_delete_chroma, "vector store", I.REBUILD_VECTORS),
    "chroma.sqlite3 truncated": (_truncate_chroma_sqlite, "vector store", I.REBUILD_VECTORS),
    "keyword index ids truncated": (_truncate_keyword_index, "keyword index", I.DROP_DERIVED),
    "keyword index postings garbled": (_garble_keyword_index, "keyword index", I.DROP_DERIVED),
    "dense cache truncated": (_truncate_dense, "dense cache", I.DROP_DERIVED),
    "dense cache numbers garbled": (_garble_dense, "dense cache", I.DROP_DERIVED),
    "vectors missing for chunks": (_drop_some_vectors, "vector store", I.REEMBED_PAPERS),
    "a vector of another chunk": (_swap_a_vector, "vector store", I.REEMBED_PAPERS),
    "vectors of no catalog paper": (_stray_vectors, "vector store", I.REEMBED_PAPERS),
    "catalog chunk rows lost": (_lose_chunk_rows, "catalog", I.REPARSE_PAPERS),
}


def _no_download(monkeypatch) -> list:
    calls: list = []

    def refuse(self, url, **kw):
        calls.append(url)
        raise AssertionError(f"repair tried to download {url}")

    monkeypatch.setattr("ingest.download.PdfCache.fetch", refuse)
    return calls


def _pdf_files(home: Path) -> dict[str, int]:
    return {str(p.relative_to(home)): p.stat().st_size for p in (home / "pdfs").rglob("*.pdf")}


def test_a_sound_home_checks_clean(ingested_home, embedder):
    found = Library(Settings(home=ingested_home), embedder=embedder).check_stores()
    assert found.ok, found.render()
    assert any(f.startswith("vector store:") and "sampled re-embedded" in f for f in found.facts)
    assert any(f.startswith("dense cache") for f in found.facts)


@pytest.mark.parametrize("case", list(CASES))
def test_damage_is_found_and_repaired_without_download(case, ingested_home, pristine_home, embedder, monkeypatch):
    damage, store, repair = CASES[case]
    settings = Settings(home=ingested_home)
    before_state = index_state(Settings(home=pristine_home), embedder)
    pdfs = _pdf_files(ingested_home)
    with Library(settings, embedder=embedder) as lib:
        damage(settings, lib)
    downloads = _no_download(monkeypatch)

    with Library(settings, embedder=embedder) as lib:
        found = lib.check_stores()
        assert [(p.store, p.repair) for p in found.problems] == [(store, repair)], found.render()
        before, done, after = lib.repair_stores()
        assert after.ok, (after.render(), done)
        assert done.done and not done.left
        hits = lib.search(QUESTION, k=3)
        assert hits and hits[0].paper_key == "2405.00002v1"
    assert downloads == []
    assert _pdf_files(ingested_home) == pdfs  # the PDF cache was only read
    state = index_state(settings, embedder)
    assert state["rows"] == before_state["rows"] and state["vectors"] == before_state["vectors"]
    assert state["papers"] == before_state["papers"]


def test_damaged_keyword_index_does_not_break_search_before_repair(ingested_home, embedder):
    """A reader meeting a damaged cache rebuilds it in memory instead of failing every search."""
    settings = Settings(home=ingested_home)
    _garble_keyword_index(settings, None)
    with Library(settings, embedder=embedder) as lib:
        assert lib.search(QUESTION, k=3)[0].paper_key == "2405.00002v1"


def test_a_damaged_catalog_is_named_and_not_touched(ingested_home, embedder):
    settings = Settings(home=ingested_home)
    path = Path(settings.catalog_path)
    for extra in ("-wal", "-shm"):
        Path(str(path) + extra).unlink(missing_ok=True)
    raw = bytearray(path.read_bytes())
    raw[4096 * 2: 4096 * 4] = b"\xff" * 8192  # pages of b-trees overwritten
    path.write_bytes(bytes(raw))
    found = I.check_stores(settings)
    assert [p.repair for p in found.problems] == [I.RESTORE_CATALOG], found.render()
    assert path.read_bytes() == bytes(raw)


def test_cli_check_exits_1_and_repair_restores(ingested_home, tmp_path):
    """The commands a person types, each in its own process."""
    _truncate_chroma_sqlite(Settings(home=ingested_home), None)
    env = cli_env(ingested_home, tmp_path)
    check = run_cli(["doctor", "--check"], env)
    assert check.returncode == 1, check.stderr[-2000:]
    assert "vector store: cannot be read" in check.stdout and "paperrag doctor --repair" in check.stdout

    repaired = run_cli(["doctor", "--repair", "--json"], env)
    assert repaired.returncode == 0, repaired.stderr[-2000:]
    report = json.loads(repaired.stdout)
    assert report["before"]["problems"][0]["repair"] == I.REBUILD_VECTORS and report["after"]["ok"]
    again = run_cli(["doctor", "--check"], env)
    assert again.returncode == 0 and "stores: all consistent" in again.stdout
    found = run_cli(["search", QUESTION, "-k", "1"], env)
    assert found.returncode == 0 and "2405.00002" in found.stdout, found.stderr[-2000:]
