"""`paperrag doctor --check`: each store of the data home read back and compared with the catalog.

The catalog (papers + chunk rows) is the source of truth; the vector store, the keyword index and the dense
cache are derived from it, and the PDF cache is what a paper's chunks can be cut from again. `check_stores`
reads them all (no model is loaded unless `embedder` is given, which also re-embeds a sample of chunks to
catch vectors that belong to another text) and returns `StoreProblem`s, each naming what `--repair` does about
it (`ingest.repair`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FETCH_BATCH = 2000
SAMPLE = 64  # chunks re-embedded / self-queried per check
COSINE_MIN = 0.99  # a stored vector and its chunk's fresh embedding (float32 noise is ~1e-6)

# what `--repair` does, by kind of problem (`ingest.repair.repair_stores` acts on these)
REBUILD_VECTORS = "re-embed every paper from the catalog's chunks into a new vector collection"
REEMBED_PAPERS = "re-embed the named papers from the catalog's chunks"
REPARSE_PAPERS = "parse the named papers again from the PDF cache"
DROP_DERIVED = "delete the keyword index and dense cache (rebuilt from the catalog on the next search)"
RESTORE_CATALOG = "cannot repair: restore catalog.sqlite from a backup, or move it away and ingest again"


@dataclass(frozen=True)
class StoreProblem:
    store: str  # catalog | vector store | keyword index | dense cache
    problem: str  # one line a person reads
    repair: str  # one of the constants above
    papers: tuple[str, ...] = ()  # paper keys concerned (REEMBED_PAPERS, REPARSE_PAPERS)

    def line(self) -> str:
        return f"{self.store}: {self.problem} → --repair will {self.repair}"


@dataclass
class StoreCheck:
    problems: list[StoreProblem] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)  # what was found sound, one line each

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {"ok": self.ok, "facts": self.facts,
                "problems": [{"store": p.store, "problem": p.problem, "repair": p.repair, "papers": list(p.papers)}
                             for p in self.problems]}

    def render(self) -> str:
        lines = [f"ok  {f}" for f in self.facts]
        lines += [f"BAD {p.line()}" for p in self.problems]
        lines.append("stores: all consistent" if self.ok else
                     f"stores: {len(self.problems)} problem(s); run `paperrag doctor --repair`")
        return "\n".join(lines)


def check_stores(settings, embedder=None) -> StoreCheck:
    out = StoreCheck()
    if not Path(settings.catalog_path).exists():
        out.facts.append(f"no catalog at {settings.catalog_path} yet (nothing ingested)")
        return out
    try:
        chunks = _catalog_chunks(settings, out)
    except sqlite3.DatabaseError as exc:
        out.problems.append(StoreProblem("catalog", f"{settings.catalog_path} cannot be read ({exc})", RESTORE_CATALOG))
        return out
    if chunks is None:
        return out
    vectors = _check_vectors(settings, chunks, out, embedder)
    if any(p.store == "vector store" for p in out.problems):
        vectors = None  # the dense cache is then compared with nothing: the repair rebuilds it anyway
    _check_derived(settings, chunks, vectors, out)
    return out


@dataclass
class _Chunks:
    version: str
    text: dict[str, str]  # chunk id -> text as embedded, for every indexed paper
    paper_of: dict[str, str]
    interrupted: set[str]  # papers left `indexing` by a killed run (the next ingest redoes them)
    damaged: set[str]  # papers whose chunk rows are damaged: reported once, as the catalog's problem

    @property
    def skipped(self) -> set[str]:
        return self.interrupted | self.damaged

    def sound(self, ids) -> set[str]:
        """The ids that are not chunks of an interrupted or damaged paper."""
        return {c for c in ids if c.split("#")[0] not in self.skipped}


def _catalog_chunks(settings, out: StoreCheck) -> _Chunks | None:
    from indexes.db import connect

    conn = connect(settings.catalog_path, readonly=True)
    try:
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            out.problems.append(StoreProblem("catalog", f"SQLite integrity check failed: {verdict}", RESTORE_CATALOG))
            return None
        version = str(conn.execute("SELECT value FROM meta WHERE key='corpus_version'").fetchone()[0])
        indexed = {k: n for k, n in conn.execute("SELECT key, n_chunks FROM papers WHERE status='indexed'")}
        interrupted = {k for (k,) in conn.execute("SELECT key FROM papers WHERE status='indexing'")}
        text, paper_of, count = {}, {}, dict.fromkeys(indexed, 0)
        for cid, key, body in conn.execute("SELECT id, paper_key, text FROM chunks"):
            if key in indexed:
                text[cid], paper_of[cid] = body, key
                count[key] += 1
    finally:
        conn.close()
    short = sorted(k for k, n in indexed.items() if count[k] != n)
    if short:
        out.problems.append(StoreProblem(
            "catalog", f"{len(short)} paper(s) whose chunk rows do not match their chunk count: {_few(short)}",
            REPARSE_PAPERS, tuple(short)))
    out.facts.append(f"catalog: {len(indexed)} indexed papers, {len(text)} chunks, corpus version {version}")
    return _Chunks(version, text, paper_of, interrupted, set(short))


def _iter_collection(collection, include: list[str]) -> Iterator[dict]:
    offset = 0
    while True:
        got = collection.get(include=include, limit=FETCH_BATCH, offset=offset)
        if not got["ids"]:
            return
        yield got
        offset += len(got["ids"])


def _check_vectors(settings, chunks: _Chunks, out: StoreCheck, embedder) -> dict[str, np.ndarray] | None:
    """The vector store against the catalog: every chunk has one vector of its own text and nothing else is there.
    Returns the vectors by chunk id (None when the store cannot be read)."""
    from indexes.vector_store import EMBEDDER_KEY, open_client

    store = "vector store"
    if not settings.index.chroma_host and not Path(settings.chroma_dir).exists():
        if chunks.text:
            out.problems.append(StoreProblem(store, f"{settings.chroma_dir} is missing", REBUILD_VECTORS))
        return None if chunks.text else {}
    try:
        collection = open_client(settings).get_collection(settings.index.collection, embedding_function=None)
        vectors: dict[str, np.ndarray] = {}
        documents: dict[str, str] = {}
        for got in _iter_collection(collection, ["embeddings", "documents"]):
            for cid, emb, doc in zip(got["ids"], got["embeddings"], got["documents"], strict=True):
                vectors[cid] = np.asarray(emb, dtype=np.float32)
                documents[cid] = doc or ""
    except Exception as exc:  # noqa: BLE001 - chromadb raises its own types for a damaged or missing store
        if not chunks.text:
            return {}
        first = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
        out.problems.append(StoreProblem(store, f"cannot be read ({type(exc).__name__}: {first[:200]})",
                                         REBUILD_VECTORS))
        return None
    mine = set(chunks.text)
    missing = chunks.sound(mine - vectors.keys())
    extra = chunks.sound(vectors.keys() - mine)
    wrong_text = {c for c in mine & vectors.keys() if documents[c] and documents[c] != chunks.text[c]}
    dims = {v.shape[0] for v in vectors.values()}
    stored_model = (collection.metadata or {}).get(EMBEDDER_KEY, "")
    if len(dims) > 1:
        out.problems.append(StoreProblem(store, f"vectors of {len(dims)} different sizes {sorted(dims)}",
                                         REBUILD_VECTORS))
        return vectors
    bad_papers = {chunks.paper_of[c] for c in missing | wrong_text}
    if missing:
        out.problems.append(StoreProblem(store, f"{len(missing)} chunk(s) have no vector: {_few(missing)}",
                                         REEMBED_PAPERS, tuple(sorted({chunks.paper_of[c] for c in missing}))))
    if wrong_text:
        out.problems.append(StoreProblem(store, f"{len(wrong_text)} vector(s) stored for another text than "
                                                f"their chunk's: {_few(wrong_text)}", REEMBED_PAPERS,
                                         tuple(sorted({chunks.paper_of[c] for c in wrong_text}))))
    if extra:
        out.problems.append(StoreProblem(store, f"{len(extra)} vector(s) of no catalog chunk: {_few(extra)}",
                                         REEMBED_PAPERS, tuple(sorted({c.split('#')[0] for c in extra}))))
    sample = _sample(sorted(mine & vectors.keys() - {c for c in mine if chunks.paper_of[c] in bad_papers}))
    if embedder is not None and sample:
        if stored_model and stored_model != embedder.identity:
            out.problems.append(StoreProblem(store, f"built with {stored_model!r}, embed.model is "
                                                    f"{embedder.identity!r}", REBUILD_VECTORS))
            return vectors
        fresh = embedder.embed([chunks.text[c] for c in sample])
        off = [c for c, f in zip(sample, fresh, strict=True) if _cos(vectors[c], f) < COSINE_MIN]
        if off:
            out.problems.append(StoreProblem(
                store, f"{len(off)} of {len(sample)} sampled vector(s) are not their chunk's embedding: {_few(off)}",
                REEMBED_PAPERS, tuple(sorted({chunks.paper_of[c] for c in off}))))
    if sample:  # the approximate index finds a stored vector's own chunk
        q = np.stack([vectors[c] for c in sample])
        res = collection.query(query_embeddings=q.tolist(), n_results=1, include=["distances"])
        lost = [c for c, ids in zip(sample, res["ids"], strict=True) if not ids or
                not np.allclose(vectors.get(ids[0], np.zeros(1)), vectors[c], atol=1e-5)]
        if lost:
            out.problems.append(StoreProblem(store, f"its search index does not find {len(lost)} of {len(sample)} "
                                                    f"stored vectors: {_few(lost)}", REBUILD_VECTORS))
    if not any(p.store == store for p in out.problems):
        out.facts.append(f"vector store: {len(vectors)} vectors, one per chunk, "
                         + (f"{len(sample)} sampled re-embedded" if embedder is not None else "not re-embedded"))
    return vectors


def _check_derived(settings, chunks: _Chunks, vectors: dict[str, np.ndarray] | None, out: StoreCheck) -> None:
    """The search indexes' current generation (`indexes.segments`: keyword postings and dense vectors per segment),
    when there is one (absent = built on the next search, not a problem). Every segment is read from disk afresh:
    a file that cannot be loaded, live rows that are not the catalog's chunks, vectors unlike the vector store's."""
    from indexes import segments

    root = Path(settings.bm25_dir) / "segments"
    if not (root / "CURRENT").exists():
        return
    gen = segments.read_generation(root)
    if gen is None:
        out.problems.append(StoreProblem("keyword index", "its current generation cannot be read", DROP_DERIVED))
        return
    live: list[str] = []
    dense_rows = 0
    differ: list[str] = []
    for name in gen.segments:
        d = root / name
        try:
            ids = json.loads((d / "ids.json").read_text())["chunk_ids"]
            rows = np.load(d / "rows.npz")
            if not (rows["paper_idx"].shape[0] == rows["kind"].shape[0] == len(ids)):
                raise ValueError("row arrays and ids differ in length")
            for prefix in ("c", "p"):
                post = segments.Postings(*(np.load(d / f"{prefix}.{n}.npy") for n in segments.Postings.NAMES))
                if prefix == "c" and post.n != len(ids):
                    raise ValueError("postings and ids differ in length")
        except Exception as exc:  # noqa: BLE001 - numpy and json each raise their own on a damaged file
            out.problems.append(StoreProblem("keyword index", f"segment {name} cannot be read ({_why(exc)})",
                                             DROP_DERIVED))
            return
        dead = set(int(i) for i in gen.dead_chunks.get(name, np.zeros(0, np.int64)))
        keep = [i for i in range(len(ids)) if i not in dead]
        live += [ids[i] for i in keep]
        for emb in sorted(d.glob("dense-*.npy")):
            if emb.name.endswith(".present.npy"):
                continue
            try:
                matrix = np.load(emb)
                present = np.load(emb.with_name(emb.name[:-4] + ".present.npy"))
                if matrix.shape[0] != len(ids) or present.shape != (len(ids),):
                    raise ValueError(f"{matrix.shape[0]} rows for {len(ids)} chunks")
                if not np.isfinite(matrix).all():
                    raise ValueError("non-finite numbers in the matrix")
            except Exception as exc:  # noqa: BLE001
                out.problems.append(StoreProblem("dense cache", f"segment {name} cannot be read ({_why(exc)})",
                                                 DROP_DERIVED))
                return
            dense_rows += len(keep)
            if vectors is not None:
                differ += [ids[i] for i in keep if ids[i] in vectors and
                           (not present[i] or _cos(matrix[i], vectors[ids[i]]) < COSINE_MIN)]
    if gen.corpus_version == chunks.version and chunks.sound(live) != chunks.sound(chunks.text):
        out.problems.append(StoreProblem("keyword index", "its live rows are other chunks than the catalog's",
                                         DROP_DERIVED))
        return
    out.facts.append(f"keyword index generation {gen.number}: {len(live)} live chunks in {len(gen.segments)} "
                     f"segment(s), readable" + ("" if gen.corpus_version == chunks.version else
                                                "; behind the catalog (brought up to date by the next write "
                                                "or search)"))
    if differ:
        out.problems.append(StoreProblem("dense cache", f"{len(differ)} row(s) differ from the vector store: "
                                                        f"{_few(differ)}", DROP_DERIVED))
    elif dense_rows:
        out.facts.append(f"dense cache: {dense_rows} live rows" + (", equal to the vector store"
                                                                  if vectors is not None else ""))


def _sample(ids: list[str]) -> list[str]:
    if len(ids) <= SAMPLE:
        return ids
    # deterministic and spread over the corpus: by hash, so every run checks the same chunks
    return sorted(ids, key=lambda c: hashlib.sha1(c.encode()).hexdigest())[:SAMPLE]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return -1.0
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na and nb else -1.0


def _few(items, n: int = 3) -> str:
    items = sorted(items)
    return ", ".join(items[:n]) + (f" … (+{len(items) - n})" if len(items) > n else "")


def _why(exc: BaseException) -> str:
    first = next((ln for ln in str(exc).splitlines() if ln.strip()), "")
    return f"{type(exc).__name__}: {first[:160]}" if first else type(exc).__name__
