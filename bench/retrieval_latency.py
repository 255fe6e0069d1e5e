"""Retrieval latency at scale: a synthetic corpus written straight into the catalog and Chroma, then timed searches.

    python bench/retrieval_latency.py --chunks 100000

Chunks get synthetic text (150–250 Zipf-distributed words) and random normalised 384-d embeddings (nothing is
embedded with the model except the timed query embeddings). Papers have 40 chunks, 1–2 categories and a
published date over two years. The filtered case selects one category and a date range (~5–10 % of chunks).
`search` is timed with a precomputed query embedding; the embedding time is measured separately.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

CATS = ["cs.CL", "cs.LG", "cs.IR", "cs.CV", "stat.ML", "cs.AI", "q-bio.QM", "eess.AS"]
CHUNKS_PER_PAPER = 40
DIM = 384


def _vocab(rng: np.random.Generator, n: int) -> np.ndarray:
    syll = ["ka", "lo", "mi", "ne", "ru", "ta", "vi", "zo", "pe", "sa", "do", "fi", "gu", "ha", "ji", "be", "co", "xu"]
    words = set()
    while len(words) < n:
        k = int(rng.integers(2, 5))
        words.add("".join(rng.choice(syll, size=k)))
    return np.asarray(sorted(words))


def _zipf_ids(rng, size, n_vocab):
    ids = rng.zipf(1.1, size=size) - 1
    return np.where(ids < n_vocab, ids, rng.integers(0, n_vocab, size=size))


def build_corpus(home: Path, n_chunks: int, seed: int = 0, documents: bool = True) -> dict:
    from indexes.catalog import Catalog
    from indexes.vector_store import WRITE_BATCH, open_collection
    from paperrag.records import ChunkRecord, PaperRecord
    from paperrag.settings import Settings

    rng = np.random.default_rng(seed)
    settings = Settings(home=home)
    vocab = _vocab(rng, 30000)
    n_papers = max(1, n_chunks // CHUNKS_PER_PAPER)
    t0 = time.perf_counter()
    catalog = Catalog(settings.catalog_path)
    start = date(2023, 1, 1)
    papers, chunk_rows = [], []
    for p in range(n_papers):
        cats = list(rng.choice(CATS, size=int(rng.integers(1, 3)), replace=False))
        pub = (start + timedelta(days=int(rng.integers(0, 730)))).isoformat()
        aid = f"{2300 + p // 10000:04d}.{p % 10000:05d}"
        title = " ".join(vocab[_zipf_ids(rng, 8, len(vocab))])
        papers.append((f"{aid}v1", aid, 1, title, "[]", " ".join(vocab[_zipf_ids(rng, 150, len(vocab))]),
                       json.dumps(cats), cats[0], pub, pub, "indexed", 1, CHUNKS_PER_PAPER))
    for c in range(n_chunks):
        p = min(c // CHUNKS_PER_PAPER, n_papers - 1)
        key, title = papers[p][0], papers[p][3]
        o = c - p * CHUNKS_PER_PAPER
        body = " ".join(vocab[_zipf_ids(rng, int(rng.integers(150, 251)), len(vocab))])
        kind = "references" if o == CHUNKS_PER_PAPER - 1 else "body"
        sec = f"{o // 5 + 1} Section"
        text = f"{title} › {sec}\n{body}"
        chunk_rows.append((f"{key}#{o:04d}", key, o, sec, o // 3 + 1, o // 3 + 1, kind, 200, text))
    catalog.bulk_insert(  # bumps corpus_version
        [PaperRecord(p[0], p[1], p[2], title=p[3], abstract=p[5], categories=json.loads(p[6]), primary_category=p[7],
                     published=p[8], announced=p[9], status=p[10], fulltext=bool(p[11]), n_chunks=p[12])
         for p in papers],
        (ChunkRecord(*r) for r in chunk_rows))
    t_catalog = time.perf_counter() - t0

    t0 = time.perf_counter()
    collection = open_collection(settings, f"synthetic|dim={DIM}|max_tokens=256")
    paper_meta = {p[0]: p for p in papers}
    for s in range(0, n_chunks, WRITE_BATCH):
        rows = chunk_rows[s : s + WRITE_BATCH]
        emb = rng.standard_normal((len(rows), DIM)).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        metas = []
        for r in rows:
            pm = paper_meta[r[1]]
            metas.append({"arxiv_id": pm[1], "version": 1, "paper_key": r[1], "title": pm[3], "section": r[3],
                          "page_start": r[4], "page_end": r[5], "kind": r[6], "published": int(pm[8].replace("-", "")),
                          "primary_category": pm[7], "categories": " " + " ".join(json.loads(pm[6])) + " ",
                          "ordinal": r[2]})
        collection.upsert(ids=[r[0] for r in rows], embeddings=emb, metadatas=metas,
                          documents=[r[8] for r in rows] if documents else None)
    t_chroma = time.perf_counter() - t0
    catalog.close()
    return {"settings": settings, "vocab": vocab, "papers": n_papers, "catalog_s": t_catalog, "chroma_s": t_chroma}


def pct(xs, q):
    return float(np.percentile(np.asarray(xs), q))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--home", type=Path, help="data home to build in (default: a temp dir, removed afterwards)")
    ap.add_argument("--no-documents", action="store_true", help="do not store chunk text in Chroma (faster build)")
    ap.add_argument("--no-embed", action="store_true", help="skip timing the query embedding (no model load)")
    args = ap.parse_args(argv)

    from indexes import bm25_index, dense
    from rag.retrieval.filters import SearchFilters
    from rag.retrieval.retriever import Retriever

    tmp = None
    home = args.home
    if home is None:
        tmp = Path(tempfile.mkdtemp(prefix="paperrag-bench-"))
        home = tmp / "home"
    try:
        fresh = not (home / "catalog.sqlite").exists()
        if fresh:
            print(f"building a synthetic corpus of {args.chunks:,} chunks under {home} …", flush=True)
            info = build_corpus(home, args.chunks, documents=not args.no_documents)
            print(f"  catalog {info['catalog_s']:.1f} s, Chroma {info['chroma_s']:.1f} s", flush=True)
            settings, vocab = info["settings"], info["vocab"]
        else:
            from paperrag.settings import Settings

            settings = Settings(home=home)
            vocab = _vocab(np.random.default_rng(0), 30000)

        r = Retriever(settings, embedder=None)
        t0 = time.perf_counter()
        st = r.refresh()
        t_first = time.perf_counter() - t0
        n_rows = st.index.n_rows
        bm25_index._LOADED.clear()
        dense._LOADED.clear()
        t0 = time.perf_counter()
        r2 = Retriever(settings, embedder=None)
        r2.refresh()
        t_reload = time.perf_counter() - t0
        r2.close()
        print(f"  first index build (BM25 + dense cache) {t_first:.1f} s, reload from disk {t_reload * 1e3:.0f} ms",
              flush=True)

        rng = np.random.default_rng(1)
        queries = []
        for _ in range(args.queries):
            n = int(rng.integers(3, 9))
            words = vocab[np.minimum(rng.zipf(1.3, size=n) + 20, len(vocab) - 1)]  # mid-frequency words
            queries.append(" ".join(words))
        qvecs = rng.standard_normal((args.queries, DIM)).astype(np.float32)
        qvecs /= np.linalg.norm(qvecs, axis=1, keepdims=True)
        flt = SearchFilters(categories=["cs.IR"], date_from="2023-07-01", date_to="2024-01-31")
        allowed = r._allowed(st, flt)
        share = allowed.size / n_rows

        def timed(label, fn):
            for i in range(5):  # warm-up
                fn(queries[i], qvecs[i])
            lat, parts = [], []
            for q, v in zip(queries, qvecs, strict=True):
                t = time.perf_counter()
                fn(q, v)
                lat.append(1e3 * (time.perf_counter() - t))
                parts.append(dict(r.last_timings))
            keys = ("bm25_ms", "dense_ms", "fuse_ms", "filter_ms", "hydrate_ms")
            mean = {k: float(np.mean([p.get(k, 0.0) for p in parts])) for k in keys}
            return label, pct(lat, 50), pct(lat, 95), mean

        rows = [
            timed(f"search unfiltered ({'Chroma ANN' if n_rows > r.exact_max_rows else 'exact scan'})",
                  lambda q, v: r.search(q, k=10, query_embedding=v)),
            timed(f"search filtered ({share:.1%} of chunks)",
                  lambda q, v: r.search(q, k=10, filters=flt, query_embedding=v)),
        ]
        default_exact = r.exact_max_rows
        alt_ann = n_rows <= default_exact  # time the other unfiltered dense mode too
        r.exact_max_rows = 0 if alt_ann else 10**9
        rows.append(timed(f"search unfiltered ({'Chroma ANN' if alt_ann else 'exact scan'} instead)",
                          lambda q, v: r.search(q, k=10, query_embedding=v)))
        r.exact_max_rows = default_exact
        rows.append(timed("search_papers unfiltered", lambda q, v: r.search_papers(q, k=10, query_embedding=v)))
        rows.append(timed("search_two_stage (5 papers, cap 3)",
                          lambda q, v: r.search_two_stage(q, k=10, query_embedding=v)))

        embed_line = None
        if not args.no_embed:
            from indexes.embedder import Embedder

            emb = Embedder()
            emb.embed_query("warm up")
            texts = ["how does retrieval-augmented generation use a dense index of wikipedia passages"] * 3 + [
                "BM25 parameters", "sinusoidal positional encodings in transformers",
                "effect of label smoothing and dropout on machine translation quality"] * 5
            et = []
            for t in texts:
                t0 = time.perf_counter()
                emb.embed_query(t)
                et.append(1e3 * (time.perf_counter() - t0))
            embed_line = (pct(et, 50), pct(et, 95))

        print()
        print(f"corpus: {n_rows:,} chunks, {len(st.index.paper_keys):,} papers; {args.queries} queries, k=10")
        print(f"{'case':<42} {'p50 ms':>8} {'p95 ms':>8}   mean: bm25 / dense / fuse / filter / hydrate ms")
        for label, p50, p95, m in rows:
            print(f"{label:<42} {p50:>8.1f} {p95:>8.1f}   {m['bm25_ms']:.1f} / {m['dense_ms']:.1f} / {m['fuse_ms']:.1f}"
                  f" / {m['filter_ms']:.2f} / {m['hydrate_ms']:.1f}")
        if embed_line:
            print(f"{'query embedding (MiniLM, CPU)':<42} {embed_line[0]:>8.1f} {embed_line[1]:>8.1f}")
        r.close()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
