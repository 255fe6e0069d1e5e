"""ANN candidates for unfiltered dense search beyond the exact scan's reach, measured side by side with it.

    PYTHONPATH=<dir with faiss-cpu> python bench/ann_eval.py --rows 200000 [--queries 200]

faiss-cpu is not a paperrag dependency: this bench measures whether it should become one. For each index over
the same unit vectors (the bench/scale.py synthetic vectors, or `--scifact` MiniLM embeddings): build seconds,
query p50/p95 (one query at a time, one thread, as a search does), recall@10 against the exact top 10, and the
cost of adding 2,000 vectors (a daily update). Ends with one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _timed_queries(search, queries: np.ndarray) -> tuple[list[np.ndarray], float, float]:
    out, lat = [], []
    for q in queries:
        t = time.perf_counter()
        out.append(search(q))
        lat.append(1e3 * (time.perf_counter() - t))
    return out, float(np.percentile(lat, 50)), float(np.percentile(lat, 95))


def recall(got: list[np.ndarray], truth: list[np.ndarray]) -> float:
    return float(np.mean([len(set(g.tolist()) & set(t.tolist())) / len(t) for g, t in zip(got, truth, strict=True)]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args(argv)
    import faiss

    from bench.scale import SyntheticVectors

    faiss.omp_set_num_threads(1)
    vecs = SyntheticVectors().vectors(np.arange(args.rows, dtype=np.int64)).astype(np.float32)
    rng = np.random.default_rng(5)
    # queries near stored vectors (a real query resembles some passages), not uniform noise
    queries = vecs[rng.integers(0, args.rows, args.queries)] + 0.05 * rng.standard_normal((args.queries, vecs.shape[1]))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    extra = SyntheticVectors().vectors(np.arange(args.rows, args.rows + 2000, dtype=np.int64)).astype(np.float32)
    k = 10
    every = np.vstack([vecs, extra])  # the indexes hold both once the update is added
    truth, p50, p95 = _timed_queries(lambda q: np.argpartition(-(every @ q), k)[:k], queries)
    res = {"rows": args.rows, "exact_p50_ms": p50, "exact_p95_ms": p95}
    print(f"{args.rows:,} vectors × {vecs.shape[1]}; exact scan p50 {p50:.1f} ms p95 {p95:.1f} ms", flush=True)
    dim = vecs.shape[1]
    cases = []
    hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 64
    cases.append(("hnsw32", hnsw, None, [32, 64, 128]))
    nlist = int(4 * np.sqrt(args.rows))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    cases.append((f"ivf{nlist}", ivf, vecs[rng.choice(args.rows, min(args.rows, 40 * nlist), replace=False)],
                  [8, 32, 64]))
    for name, index, train, knobs in cases:
        t = time.perf_counter()
        if train is not None:
            index.train(train)
        faiss.omp_set_num_threads(2)
        index.add(vecs)
        faiss.omp_set_num_threads(1)
        build = time.perf_counter() - t
        t = time.perf_counter()
        index.add(extra)
        add = time.perf_counter() - t
        res[f"{name}_build_s"], res[f"{name}_add2000_s"] = build, add
        print(f"{name}: build {build:.1f} s, +2,000 vectors {add:.2f} s", flush=True)
        for knob in knobs:
            if name.startswith("hnsw"):
                index.hnsw.efSearch = knob
            else:
                index.nprobe = knob
            got, p50, p95 = _timed_queries(lambda q: index.search(q[None, :], k)[1][0], queries)
            rec = recall(got, truth)
            res[f"{name}_{knob}"] = {"p50_ms": p50, "p95_ms": p95, "recall10": rec}
            print(f"  {'efSearch' if name.startswith('hnsw') else 'nprobe'} {knob}: p50 {p50:.2f} ms p95 {p95:.2f} ms"
                  f" recall@10 {rec:.3f}", flush=True)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
