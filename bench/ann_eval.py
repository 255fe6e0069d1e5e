"""Dense candidates of a large segment (`indexes.ann`: PQ fast scan + exact rescoring) against the exact scan.

    python bench/ann_eval.py [--rows 200000] [--queries 200] [--scifact /work/shared/eval/scifact] [--compare]

For the product's configuration (`indexes.ann`: 192×4-bit PQ fast scan, the best `max(k, ann.REFINE)` rows by PQ
score rescored with exact float32 cosines), measured side by side with the exact scan over the same vectors:
recall@10 and recall@200 (200 = the fusion depth) against the exact top k, query p50/p95 (one query at a time, one
thread, as a search does), index build seconds. Data: the bench/scale.py synthetic unit vectors with uniformly
random unit queries (the worst case: near-uniform scores, what bench/scale.py searches with) and with queries near
stored vectors; and SciFact (MiniLM embeddings of the 5,183 abstracts and the 300 test queries, cached under
--cache-dir; indexed with PQ although the product scans a segment that small exactly). `--compare` adds faiss
HNSW and IVF for reference. Ends with one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _timed(search, queries: np.ndarray) -> tuple[list[np.ndarray], float, float]:
    out, lat = [], []
    for q in queries:
        t = time.perf_counter()
        out.append(search(q))
        lat.append(1e3 * (time.perf_counter() - t))
    return out, float(np.percentile(lat, 50)), float(np.percentile(lat, 95))


def recall(got: list[np.ndarray], truth: list[np.ndarray]) -> float:
    return float(np.mean([len(set(g.tolist()) & set(t.tolist())) / len(t) for g, t in zip(got, truth, strict=True)]))


def exact_top(vecs: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    s = vecs @ q
    return np.argpartition(-s, k - 1)[:k]


def product_case(name: str, vecs: np.ndarray, queries: np.ndarray, res: dict, refine: int | None = None,
                 ks: tuple[int, ...] = (10, 200)) -> None:
    """PQ fast scan + exact rescoring as `dense.DenseCache.top_approximate` does it for one segment (`refine` rows
    rescored: `ann.REFINE` unless given)."""
    refine = refine or ann_refine()
    from indexes import ann

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        assert ann.build(vecs, Path(tmp) / "ann.faiss"), "faiss-cpu is needed (pip install faiss-cpu)"
        build = time.perf_counter() - t
        index = ann.load(Path(tmp) / "ann.faiss")
    for k in ks:
        truth, ep50, _ = _timed(lambda q: exact_top(vecs, q, k), queries)  # noqa: B023

        def approx(q, k=k):
            cand = np.sort(ann.candidates(index, q, max(k, refine)))
            s = vecs[cand] @ q
            return cand[np.argpartition(-s, k - 1)[:k]]

        got, p50, p95 = _timed(approx, queries)
        res[f"{name}_recall{k}"] = recall(got, truth)
        res[f"{name}_refine"] = refine
        if k == 10:
            res.update({f"{name}_exact_p50_ms": ep50, f"{name}_p50_ms": p50, f"{name}_p95_ms": p95,
                        f"{name}_build_s": build})
    print(f"{name}: {vecs.shape[0]:,} vectors, PQ build {build:.1f} s; exact scan p50 {res[f'{name}_exact_p50_ms']:.1f}"
          f" ms, PQ + rescoring p50 {res[f'{name}_p50_ms']:.1f} p95 {res[f'{name}_p95_ms']:.1f} ms; recall@10 "
          f"{res[f'{name}_recall10']:.3f}, recall@200 {res.get(f'{name}_recall200', float('nan')):.3f} "
          f"({refine} rows rescored)", flush=True)


def ann_refine() -> int:
    from indexes import ann

    return ann.REFINE


def compare_faiss(vecs: np.ndarray, queries: np.ndarray, res: dict) -> None:
    import faiss

    k = 10
    truth, _, _ = _timed(lambda q: exact_top(vecs, q, k), queries)
    dim, rows = vecs.shape[1], vecs.shape[0]
    rng = np.random.default_rng(5)
    hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 64
    nlist = int(4 * np.sqrt(rows))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    cases = [("hnsw32", hnsw, None, [64, 128]),
             (f"ivf{nlist}", ivf, vecs[rng.choice(rows, min(rows, 40 * nlist), replace=False)], [32, 64])]
    for name, index, train, knobs in cases:
        t = time.perf_counter()
        if train is not None:
            index.train(train)
        index.add(vecs)
        res[f"{name}_build_s"] = time.perf_counter() - t
        for knob in knobs:
            if name.startswith("hnsw"):
                index.hnsw.efSearch = knob
            else:
                index.nprobe = knob
            got, p50, p95 = _timed(lambda q: index.search(q[None, :], k)[1][0], queries)  # noqa: B023
            res[f"{name}_{knob}"] = {"p50_ms": p50, "p95_ms": p95, "recall10": recall(got, truth)}
            print(f"  {name} {knob}: p50 {p50:.2f} ms p95 {p95:.2f} ms recall@10 {recall(got, truth):.3f}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--scifact", type=Path, default=Path(__file__).resolve().parents[2] / "shared/eval/scifact")
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/paperrag-eval-cache"))
    ap.add_argument("--compare", action="store_true", help="also faiss HNSW and IVF (reference)")
    args = ap.parse_args(argv)

    from bench.scale import SyntheticVectors
    from indexes import ann

    ann._faiss()  # one thread, as in the product
    vecs = SyntheticVectors().vectors(np.arange(args.rows, dtype=np.int64)).astype(np.float32)
    rng = np.random.default_rng(5)
    uniform = rng.standard_normal((args.queries, vecs.shape[1])).astype(np.float32)
    uniform /= np.linalg.norm(uniform, axis=1, keepdims=True)
    near = vecs[rng.integers(0, args.rows, args.queries)] + 0.05 * rng.standard_normal((args.queries, vecs.shape[1]))
    near = (near / np.linalg.norm(near, axis=1, keepdims=True)).astype(np.float32)
    res: dict = {"rows": args.rows, "queries": args.queries, "refine": ann.REFINE}
    product_case("synthetic_uniform_queries", vecs, uniform, res)
    product_case("synthetic_near_queries", vecs, near, res)
    if (args.scifact / "corpus.jsonl").exists():
        from indexes.embedder import Embedder
        from rag.eval.beir import _embeddings, load_beir

        d, q = _embeddings(load_beir(args.scifact), Embedder(), args.cache_dir)
        d, q = np.ascontiguousarray(d, np.float32), np.ascontiguousarray(q, np.float32)
        product_case("scifact", d, q, res)
        # the same share of the rows rescored as REFINE of a 200k segment: the real vectors' recall at scale
        share = max(10, round(ann.REFINE * d.shape[0] / 200_000))
        product_case("scifact_same_share", d, q, res, refine=share, ks=(10,))
    else:
        print(f"SciFact not found at {args.scifact}: skipped")
    if args.compare:
        compare_faiss(vecs, near, res)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
