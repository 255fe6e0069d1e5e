"""Search indexes at scale: build from scratch, a daily update against a full rebuild, hybrid search latency, RSS.

    python bench/scale.py --chunks 1000000 [--update 2000] [--queries 200] [--home DIR] [--chroma MODE]

A synthetic catalog (papers of 40 chunks of 150–250 Zipf-distributed words, 1–2 categories, dates over two years)
is written straight into catalog.sqlite. Vectors are random-looking unit vectors derived from each chunk's number
and served by an in-process stand-in for the Chroma collection (`SyntheticVectors`: `get(ids)` as Chroma answers
it), so the figures are the indexes' own cost, with no embedding and no Chroma (`--chroma none`, the default). With
`--chroma embedded` or `--chroma server` the same vectors are first written into a real Chroma collection, the
embedded PersistentClient under the home or a `chroma run` server on 127.0.0.1 that the bench starts (product path:
`vector_store.write_chunks` per paper, as ingest does, after deleting the paper's old chunks), and every phase reads
them back from it (`index.chroma_host` set for the server). Each phase runs in its own process, one after another,
so its peak RSS is its own:

0. (Chroma modes) write: every chunk's vector, metadata and text into the collection; time, vectors/s, peak RSS
   (of the writer, and of the server process);
1. build: the search indexes from every chunk (BM25 segments + dense matrices), time and peak RSS;
2. update: a day's papers written to the catalog (new papers plus new versions that supersede old ones, `--update`
   chunks added; in the Chroma modes also to Chroma, timed apart, with the superseded papers' vectors deleted),
   then the writer's incremental update until searchable (BM25 segment + tombstones + dense vectors of the new
   chunks), and a fresh reader's load time;
3. search: a reader process (what the web app holds) times hybrid search, unfiltered and filtered (one category
   and a date range), with precomputed query vectors: wall and CPU ms per query (CPU: the searching thread's time,
   what a query costs whatever else a shared box runs); its RSS after the queries;
4. rebuild: the same corpus rebuilt from scratch (what every write cost before segments): the baseline.

Unfiltered dense search takes the product's path: above the retriever's `exact_max_rows` every segment of at least
`indexes.ann.MIN_ROWS` rows gets a faiss PQ fast-scan index (built by the writer in phases 1/2) whose candidates are
rescored exactly; smaller segments are scanned exactly. Filtered search is exact over the catalog's pre-selected
rows, as in the product. The search phase also times the exact scan in the same process as the reference and
reports dense recall@10 and hybrid top-10 overlap against it. Ends with one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.retrieval_latency import CATS, CHUNKS_PER_PAPER, DIM, _vocab, _zipf_ids  # noqa: E402

_PRIMES = (1009, 997, 991)


class SyntheticVectors:
    """Stands in for the Chroma collection: `get(ids=..., include=["embeddings"])` answers like Chroma, with a
    unit vector per chunk derived from its number (distinct for < 10^9 chunks, no storage)."""

    id = "synthetic"
    metadata = {"paperrag_embedder": f"synthetic|dim={DIM}"}

    def __init__(self):
        rng = np.random.default_rng(7)
        self.bases = [rng.standard_normal((p, DIM)).astype(np.float32) for p in _PRIMES]

    @staticmethod
    def number(cid: str) -> int:
        key, ordinal = cid.split("#")
        aid, version = key.split("v")
        yymm, seq = aid.split(".")
        return ((int(yymm) - 2300) * 10000 + int(seq)) * CHUNKS_PER_PAPER * 4 + (int(version) - 1) * 64 + int(ordinal)

    def vectors(self, numbers: np.ndarray) -> np.ndarray:
        v = sum(b[numbers % p] for b, p in zip(self.bases, _PRIMES, strict=True))
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def get(self, ids, include=None):
        nums = np.fromiter((self.number(c) for c in ids), dtype=np.int64, count=len(ids))
        return {"ids": list(ids), "embeddings": self.vectors(nums)}


def _paper(rng, vocab, p: int, version: int = 1):
    cats = list(rng.choice(CATS, size=int(rng.integers(1, 3)), replace=False))
    pub = (date(2023, 1, 1) + timedelta(days=int(rng.integers(0, 730)))).isoformat()
    aid = f"{2300 + p // 10000:04d}.{p % 10000:05d}"
    title = " ".join(vocab[_zipf_ids(rng, 8, len(vocab))])
    return aid, version, title, cats, pub


def write_papers(catalog, rng, vocab, numbers: range, version: int = 1, supersede: bool = False) -> int:
    """Papers `numbers` (version `version`, 40 chunks each) into the catalog in one transaction; returns chunks."""
    from paperrag.records import ChunkRecord, PaperRecord

    papers, chunks = [], []
    for p in numbers:
        aid, v, title, cats, pub = _paper(rng, vocab, p, version)
        key = f"{aid}v{v}"
        papers.append(PaperRecord(key, aid, v, title=title, abstract=" ".join(vocab[_zipf_ids(rng, 150, len(vocab))]),
                                  categories=cats, primary_category=cats[0], published=pub, announced=pub,
                                  status="indexed", fulltext=True, n_chunks=CHUNKS_PER_PAPER))
        for o in range(CHUNKS_PER_PAPER):
            body = " ".join(vocab[_zipf_ids(rng, int(rng.integers(150, 251)), len(vocab))])
            sec = f"{o // 5 + 1} Section"
            chunks.append(ChunkRecord(f"{key}#{o:04d}", key, o, sec, o // 3 + 1, o // 3 + 1,
                                      "references" if o == CHUNKS_PER_PAPER - 1 else "body", 200,
                                      f"{title} › {sec}\n{body}"))
    if supersede:
        for p in numbers:
            catalog.supersede(f"{2300 + p // 10000:04d}.{p % 10000:05d}v{version - 1}")
    catalog.bulk_insert(papers, chunks)
    return len(chunks)


def build_catalog(home: Path, n_chunks: int, progress=print) -> None:
    from indexes.catalog import Catalog
    from paperrag.settings import Settings

    settings = Settings(home=home)
    rng = np.random.default_rng(0)
    vocab = _vocab(rng, 30000)
    catalog = Catalog(settings.catalog_path)
    n_papers = max(1, n_chunks // CHUNKS_PER_PAPER)
    step = 2500
    for s in range(0, n_papers, step):
        write_papers(catalog, rng, vocab, range(s, min(n_papers, s + step)))
        progress(f"  catalog: {min(n_papers, s + step) * CHUNKS_PER_PAPER:,} / {n_chunks:,} chunks")
    catalog.close()


def _rss_gb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in GB (from /proc; Linux)."""
    vals = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            vals[line.split(":")[0]] = int(line.split()[1]) / 1024**2
    return vals.get("VmRSS", 0.0), vals.get("VmHWM", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2)


def _proc_rss_gb(pid: int) -> tuple[float, float]:
    """(current, peak) RSS in GB of another process (the Chroma server)."""
    vals = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            vals[line.split(":")[0]] = int(line.split()[1]) / 1024**2
    return vals.get("VmRSS", 0.0), vals.get("VmHWM", 0.0)


def start_server(path: Path, deadline_s: float = 120.0):
    """`chroma run` on a free 127.0.0.1 port, polled until its heartbeat answers; (process, port)."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    chroma = Path(sys.executable).with_name("chroma")
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=(path / "server.log").open("w"))
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"chroma run exited ({proc.returncode}); see {path / 'server.log'}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2):
                return proc, port
        except OSError:
            time.sleep(0.2)  # polling the server's start with a deadline
    proc.kill()
    raise SystemExit(f"chroma run did not answer on 127.0.0.1:{port} within {deadline_s:.0f} s")


def _settings(args):
    from paperrag.settings import Settings

    if args.chroma == "server":
        return Settings(home=args.home, index={"chroma_host": "127.0.0.1", "chroma_port": args.port})
    return Settings(home=args.home)


def _vectors(settings, args):
    """Where the writer and the reader get chunk vectors: the stand-in, or the real Chroma collection."""
    if args.chroma == "none":
        return SyntheticVectors()
    from indexes import dense

    collection = dense.open_collection(settings)
    if collection is None:
        raise SystemExit(f"no Chroma collection {settings.index.collection!r}: the write phase did not run")
    return collection


def write_chroma(settings, keys: list[str] | None = None) -> tuple[int, float]:
    """Each paper (`keys`, default every indexed one) with its chunks' synthetic vectors into Chroma through the
    product's path (delete the paper's chunks, then `write_chunks`); (chunks written, seconds)."""
    import sqlite3

    from indexes.vector_store import delete_paper_chunks, open_collection, write_chunks
    from paperrag.records import Chunk, PaperMeta

    collection = open_collection(settings, SyntheticVectors.metadata["paperrag_embedder"])
    synth = SyntheticVectors()
    conn = sqlite3.connect(settings.catalog_path)
    if keys is None:
        keys = [k for (k,) in conn.execute("SELECT key FROM papers WHERE status = 'indexed' ORDER BY key")]
    t0, n = time.perf_counter(), 0
    for key in keys:
        aid, version, title, cats, prim, pub = conn.execute(
            "SELECT arxiv_id, version, title, categories, primary_category, published FROM papers WHERE key = ?",
            (key,)).fetchone()
        meta = PaperMeta(aid, version, title=title, categories=json.loads(cats), primary_category=prim,
                         published=pub)
        rows = conn.execute("SELECT id, ordinal, section, page_start, page_end, kind, n_tokens, text FROM chunks "
                            "WHERE paper_key = ? ORDER BY ordinal", (key,)).fetchall()
        ids = [r[0] for r in rows]
        chunks = [Chunk(r[7], r[2], r[3], r[4], r[5], r[6], r[1]) for r in rows]
        vectors = synth.get(ids)["embeddings"]
        delete_paper_chunks(collection, key)
        write_chunks(collection, ids, meta, chunks, vectors)
        n += len(ids)
    conn.close()
    return n, time.perf_counter() - t0


def phase_write(settings, args) -> dict:
    n, secs = write_chroma(settings)
    return {"written": n, "write_s": secs, "peak_rss_gb": _rss_gb()[1]}


def _writer(settings, vectors, **kw) -> dict:
    """The writer's job (what `Library.warm` does at the end of an ingest), timed."""
    from indexes import bm25_index, dense

    t0 = time.perf_counter()
    report = bm25_index.update(settings, **kw)
    t_bm25 = time.perf_counter() - t0
    index = bm25_index.load_or_build(settings)
    cache = dense.load_or_build(settings, index, vectors)
    total = time.perf_counter() - t0
    return {"mode": report.mode, "added": report.added_chunks, "removed": report.removed_chunks,
            "merged_segments": report.merged_segments, "bm25_s": t_bm25, "total_s": total,
            "dense_fetched": cache.fetched, "segments": len(index.segments), "rows": index.n_rows,
            "live": index.n_live}


def phase_build(settings, args) -> dict:
    out = _writer(settings, _vectors(settings, args))
    out["peak_rss_gb"] = _rss_gb()[1]
    return out


def phase_update(settings, args) -> dict:
    from indexes import bm25_index, dense
    from indexes.catalog import Catalog

    catalog = Catalog(settings.catalog_path)
    n_papers = args.chunks // CHUNKS_PER_PAPER
    per_day = max(1, args.update // CHUNKS_PER_PAPER)
    revised = max(1, per_day // 5)  # a fifth of the day's papers are new versions of stored ones
    rng = np.random.default_rng(123)
    vocab = _vocab(np.random.default_rng(0), 30000)
    before = catalog.db.execute("SELECT max(rowid) FROM papers").fetchone()[0]
    t0 = time.perf_counter()
    added = write_papers(catalog, rng, vocab, range(n_papers, n_papers + per_day - revised))
    added += write_papers(catalog, rng, vocab, range(0, revised), version=2, supersede=True)
    t_catalog = time.perf_counter() - t0
    new_keys = [k for (k,) in catalog.db.execute(
        "SELECT key FROM papers WHERE status = 'indexed' AND rowid > ? ORDER BY key", (before,))]
    catalog.close()
    t_chroma, superseded = 0.0, 0
    if args.chroma != "none":  # ingest's order: the vectors, then (here: already) the catalog, then the old versions
        from indexes.vector_store import delete_paper_chunks

        _, t_chroma = write_chroma(settings, new_keys)
        t0 = time.perf_counter()
        collection = _vectors(settings, args)
        for p in range(0, revised):
            delete_paper_chunks(collection, f"{2300 + p // 10000:04d}.{p % 10000:05d}v1")
            superseded += 1
        t_chroma += time.perf_counter() - t0
    vectors = _vectors(settings, args)
    out = _writer(settings, vectors)
    out.update(catalog_s=t_catalog, written_chunks=added, chroma_s=t_chroma, new_papers=len(new_keys),
               chroma_superseded=superseded)
    bm25_index._LOADED.clear()  # a fresh reader: loads the new generation from disk
    dense._LOADED.clear()
    t0 = time.perf_counter()
    index = bm25_index.load_or_build(settings)
    dense.load_or_build(settings, index, _vectors(settings, args))
    out["reader_load_s"] = time.perf_counter() - t0
    return out


def phase_rebuild(settings, args) -> dict:
    return _writer(settings, _vectors(settings, args), force_full=True)


def phase_search(settings, args) -> dict:
    from rag.retrieval.filters import SearchFilters
    from rag.retrieval.retriever import Retriever

    t0 = time.perf_counter()
    # the Chroma modes: the reader opens the collection itself, as the web app does
    r = Retriever(settings, embedder=None, collection=SyntheticVectors() if args.chroma == "none" else None)
    st = r.refresh()
    load_s = time.perf_counter() - t0
    vocab = _vocab(np.random.default_rng(0), 30000)
    rng = np.random.default_rng(1)
    queries = [" ".join(vocab[np.minimum(rng.zipf(1.3, size=int(rng.integers(3, 9))) + 20, len(vocab) - 1)])
               for _ in range(args.queries)]
    qvecs = rng.standard_normal((args.queries, DIM)).astype(np.float32)
    qvecs /= np.linalg.norm(qvecs, axis=1, keepdims=True)
    flt = SearchFilters(categories=["cs.IR"], date_from="2023-07-01", date_to="2024-01-31")
    share = r._allowed(st, flt).size / st.index.n_live

    def timed(filters, warm=5):
        for i in range(warm):  # the first pass warms every query's passages in SQLite's pages for both passes
            r.search(queries[i], k=10, filters=filters, query_embedding=qvecs[i])
        lat, cpu, parts, hits = [], [], [], []
        for q, v in zip(queries, qvecs, strict=True):
            t, c = time.perf_counter(), time.thread_time()
            hits.append([p.chunk_id for p in r.search(q, k=10, filters=filters, query_embedding=v)])
            lat.append(1e3 * (time.perf_counter() - t))
            cpu.append(1e3 * (time.thread_time() - c))
            parts.append(dict(r.last_timings))
        mean = {k: float(np.mean([p.get(k, 0.0) for p in parts])) for k in ("bm25_ms", "dense_ms", "hydrate_ms")}
        # CPU time of the searching thread: what a query costs whatever else the shared box runs
        mean.update(cpu_p50_ms=float(np.percentile(cpu, 50)), cpu_p95_ms=float(np.percentile(cpu, 95)))
        return float(np.percentile(lat, 50)), float(np.percentile(lat, 95)), mean, hits

    p50, p95, m, hits = timed(None, warm=len(queries))
    fp50, fp95, fm, fhits = timed(flt, warm=len(queries))
    rss, peak = _rss_gb()
    has_ann = st.dense is not None and st.dense.has_ann
    # the reference in the same process: an exact dense scan (what search did before)
    r.exact_max_rows = 10**12
    xp50, xp95, xm, xhits = timed(None)
    xfp50, xfp95, xfm, xfhits = timed(flt)
    # dense recall@10 of the PQ candidates + exact rescoring against the exact scan
    recall = [len(set(st.dense.top_approximate(v, 10)[0].tolist()) & set(st.dense.top(v, 10)[0].tolist())) / 10
              for v in qvecs[:50]] if has_ann else [1.0]
    r.close()

    def same(a, b):
        return float(np.mean([len(set(x) & set(y)) / max(len(y), 1) for x, y in zip(a, b, strict=True)]))

    return {"load_s": load_s, "p50_ms": p50, "p95_ms": p95, "parts": m, "filtered_p50_ms": fp50,
            "filtered_p95_ms": fp95, "filtered_parts": fm, "filtered_share": share, "rss_gb": rss,
            "peak_rss_gb": peak, "segments": len(st.index.segments), "dead_rows": int(st.index.dead_rows.size),
            "ann_segments": sum(a is not None for a in st.dense.anns) if st.dense is not None else 0,
            "exact_p50_ms": xp50, "exact_p95_ms": xp95, "exact_parts": xm, "exact_filtered_p50_ms": xfp50,
            "exact_filtered_p95_ms": xfp95, "exact_filtered_parts": xfm, "dense_recall10": float(np.mean(recall)),
            "top10_same": same(hits, xhits), "filtered_top10_same": same(fhits, xfhits)}


PHASES = {"write": phase_write, "build": phase_build, "update": phase_update, "search": phase_search,
          "rebuild": phase_rebuild}


def _run_phase(name: str, home: Path, args) -> dict:
    cmd = [sys.executable, __file__, "--phase", name, "--home", str(home), "--chunks", str(args.chunks),
           "--update", str(args.update), "--queries", str(args.queries), "--chroma", args.chroma,
           "--port", str(args.port)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"phase {name} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--update", type=int, default=2000, help="chunks written by the daily update")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--home", type=Path, help="data home to build in (default: a temp dir, removed afterwards)")
    ap.add_argument("--chroma", choices=("none", "embedded", "server"), default="none",
                    help="where the vectors come from: the in-process stand-in (none), Chroma's embedded "
                    "PersistentClient, or a `chroma run` server on 127.0.0.1 started by the bench")
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.phase:
        print(json.dumps(PHASES[args.phase](_settings(args), args)))
        return 0

    tmp = None
    home = args.home
    if home is None:
        tmp = Path(tempfile.mkdtemp(prefix="paperrag-scale-"))
        home = tmp / "home"
    args.home = home
    server = None
    try:
        if (home / "catalog.sqlite").exists():
            raise SystemExit(f"{home} already holds a catalog: give an empty --home (the bench writes its own)")
        t0 = time.perf_counter()
        print(f"writing a synthetic catalog of {args.chunks:,} chunks under {home} …", flush=True)
        build_catalog(home, args.chunks, progress=lambda m: print(m, flush=True))
        t_catalog = time.perf_counter() - t0
        print(f"  catalog {t_catalog:.0f} s", flush=True)
        write = None
        if args.chroma != "none":
            if args.chroma == "server":
                server, args.port = start_server(home / "chroma-server")
                print(f"chroma run on 127.0.0.1:{args.port} (pid {server.pid})", flush=True)
            print(f"writing {args.chunks:,} vectors into Chroma ({args.chroma}) …", flush=True)
            write = _run_phase("write", home, args)
            write["rate"] = write["written"] / max(write["write_s"], 1e-9)
            print(f"  {write['write_s']:.0f} s ({write['rate']:.0f} vectors/s), writer peak RSS "
                  f"{write['peak_rss_gb']:.2f} GB" + (f", server peak RSS {_proc_rss_gb(server.pid)[1]:.2f} GB"
                                                      if server else ""), flush=True)
        print("build from scratch …", flush=True)
        build = _run_phase("build", home, args)
        print(f"  {build['total_s']:.1f} s (BM25 {build['bm25_s']:.1f} s), {build['segments']} segments, "
              f"peak RSS {build['peak_rss_gb']:.2f} GB", flush=True)
        print(f"daily update of {args.update:,} chunks …", flush=True)
        upd = _run_phase("update", home, args)
        if write is not None:
            print(f"  Chroma: {upd['new_papers']} papers written, {upd['chroma_superseded']} superseded deleted in "
                  f"{upd['chroma_s']:.2f} s", flush=True)
        print(f"  until searchable {upd['total_s']:.2f} s (BM25 {upd['bm25_s']:.2f} s; +{upd['added']} −"
              f"{upd['removed']} chunks, {upd['merged_segments']} segments merged); a fresh reader loads it in "
              f"{upd['reader_load_s']:.2f} s", flush=True)
        print("hybrid search in a reader process …", flush=True)
        srch = _run_phase("search", home, args)
        print("full rebuild (the baseline: what every write cost before) …", flush=True)
        full = _run_phase("rebuild", home, args)
        print()
        print(f"corpus: {upd['live']:,} live chunks in {srch['segments']} segments ({srch['dead_rows']:,} tombstoned "
              f"rows); {args.queries} queries, k=10; synthetic text and vectors, dense PQ + exact rescoring")
        print(f"{'':<44} {'seconds':>9}")
        print(f"{'build from scratch':<44} {build['total_s']:>9.1f}   peak RSS {build['peak_rss_gb']:.2f} GB")
        print(f"{'daily update (incremental), until searchable':<44} {upd['total_s']:>9.2f}")
        print(f"{'full rebuild (baseline)':<44} {full['total_s']:>9.1f}   "
              f"ratio {full['total_s'] / max(upd['total_s'], 1e-9):.0f}×")
        print(f"{'reader load after the update':<44} {upd['reader_load_s']:>9.2f}")
        print(f"{'case':<44} {'p50 ms':>9} {'p95 ms':>8}   mean: bm25 / dense / hydrate ms; CPU p50 / p95 ms")
        fshare = f"{srch['filtered_share']:.1%} of chunks"
        for label, a, b, m in (
                ("hybrid unfiltered", srch["p50_ms"], srch["p95_ms"], srch["parts"]),
                (f"hybrid filtered ({fshare})", srch["filtered_p50_ms"], srch["filtered_p95_ms"],
                 srch["filtered_parts"]),
                ("  reference: exact dense scan", srch["exact_p50_ms"], srch["exact_p95_ms"],
                 srch["exact_parts"]),
                ("  reference, filtered", srch["exact_filtered_p50_ms"], srch["exact_filtered_p95_ms"],
                 srch["exact_filtered_parts"])):
            print(f"{label:<44} {a:>9.1f} {b:>8.1f}   {m['bm25_ms']:.1f} / {m['dense_ms']:.1f} / "
                  f"{m['hydrate_ms']:.1f}; {m['cpu_p50_ms']:.1f} / {m['cpu_p95_ms']:.1f}")
        print(f"segments with a PQ index {srch['ann_segments']} of {srch['segments']}; dense recall@10 vs exact "
              f"{srch['dense_recall10']:.3f}; hybrid top 10 same as the reference {srch['top10_same']:.3f} "
              f"(filtered {srch['filtered_top10_same']:.3f})")
        print(f"reader RSS {srch['rss_gb']:.2f} GB (peak {srch['peak_rss_gb']:.2f} GB)")
        server_rss = _proc_rss_gb(server.pid) if server else None
        if write is not None:
            print(f"Chroma ({args.chroma}): write {write['write_s']:.1f} s ({write['rate']:.0f} vectors/s), the "
                  f"day's update {upd['chroma_s']:.2f} s; writer peak RSS {write['peak_rss_gb']:.2f} GB"
                  + (f"; server RSS {server_rss[0]:.2f} GB (peak {server_rss[1]:.2f} GB)" if server_rss else ""))
        result = {"chunks": args.chunks, "build_s": round(build["total_s"], 2), "update_s": round(upd["total_s"], 3),
                  "full_rebuild_s": round(full["total_s"], 2), "p50_ms": round(srch["p50_ms"], 2),
                  "p95_ms": round(srch["p95_ms"], 2), "filtered_p50_ms": round(srch["filtered_p50_ms"], 2),
                  "filtered_p95_ms": round(srch["filtered_p95_ms"], 2), "rss_gb": round(srch["rss_gb"], 3),
                  "build_peak_rss_gb": round(build["peak_rss_gb"], 3), "update_bm25_s": round(upd["bm25_s"], 3),
                  "reader_load_s": round(upd["reader_load_s"], 3), "catalog_s": round(t_catalog, 1),
                  "segments": srch["segments"], "ann_segments": srch["ann_segments"],
                  "dense_recall10": round(srch["dense_recall10"], 4), "top10_same": round(srch["top10_same"], 4),
                  "filtered_top10_same": round(srch["filtered_top10_same"], 4),
                  "exact_p50_ms": round(srch["exact_p50_ms"], 2), "exact_p95_ms": round(srch["exact_p95_ms"], 2),
                  "exact_filtered_p50_ms": round(srch["exact_filtered_p50_ms"], 2),
                  "exact_filtered_p95_ms": round(srch["exact_filtered_p95_ms"], 2), "chroma": args.chroma,
                  "cpu_p50_ms": round(srch["parts"]["cpu_p50_ms"], 2),
                  "cpu_p95_ms": round(srch["parts"]["cpu_p95_ms"], 2),
                  "filtered_cpu_p50_ms": round(srch["filtered_parts"]["cpu_p50_ms"], 2),
                  "filtered_cpu_p95_ms": round(srch["filtered_parts"]["cpu_p95_ms"], 2),
                  "update_catalog_s": round(upd["catalog_s"], 3)}
        if write is not None:
            result.update(chroma_write_s=round(write["write_s"], 1), chroma_vectors_per_s=round(write["rate"], 1),
                          chroma_writer_peak_rss_gb=round(write["peak_rss_gb"], 3),
                          update_chroma_s=round(upd["chroma_s"], 3), search_load_s=round(srch["load_s"], 3))
        if server_rss:
            result.update(server_rss_gb=round(server_rss[0], 3), server_peak_rss_gb=round(server_rss[1], 3))
        print(json.dumps(result))
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
