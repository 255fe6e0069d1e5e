"""float16 vs float32 dense matrix: top-10 overlap and scan speed, measured side by side.

    python bench/dense_precision.py [--scifact /work/shared/eval/scifact] [--synthetic 100000]

For each query the exact top-10 by cosine over the float32 matrix is compared with the top-10 over the same
matrix stored as float16 (scored in float32 after conversion, as `dense.DenseCache` would). SciFact: MiniLM
embeddings of the 5,183 abstracts and the test queries (cached under --cache-dir). Synthetic: random unit vectors
with random unit queries (the hardest case: near-uniform scores). Also times one full scan of each matrix.
Ends with one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def overlap(docs: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    d16 = docs.astype(np.float16).astype(np.float32)
    hits = []
    for q in queries:
        a = np.argpartition(-(docs @ q), k)[:k]
        b = np.argpartition(-(d16 @ q), k)[:k]
        hits.append(len(set(a.tolist()) & set(b.tolist())) / k)
    return float(np.mean(hits))


def scan_ms(m: np.ndarray, q: np.ndarray, reps: int = 5) -> float:
    def once():
        return m.astype(np.float32, copy=False) @ q
    once()
    t = time.perf_counter()
    for _ in range(reps):
        once()
    return 1e3 * (time.perf_counter() - t) / reps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scifact", type=Path, default=Path(__file__).resolve().parents[2] / "shared/eval/scifact")
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/paperrag-eval-cache"))
    ap.add_argument("--synthetic", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300)
    args = ap.parse_args(argv)
    out: dict = {}
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((args.synthetic, 384)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    qs = rng.standard_normal((args.queries, 384)).astype(np.float32)
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)
    out["synthetic_overlap"] = overlap(docs, qs)
    out["synthetic_scan_f32_ms"] = scan_ms(docs, qs[0])
    out["synthetic_scan_f16_ms"] = scan_ms(docs.astype(np.float16), qs[0])
    print(f"synthetic {args.synthetic:,} x 384, {args.queries} queries: top-10 overlap f16/f32 "
          f"{out['synthetic_overlap']:.4f}; full scan f32 {out['synthetic_scan_f32_ms']:.1f} ms, "
          f"f16 {out['synthetic_scan_f16_ms']:.1f} ms", flush=True)
    if (args.scifact / "corpus.jsonl").exists():
        from indexes.embedder import Embedder
        from rag.eval.beir import _embeddings, load_beir

        data = load_beir(args.scifact)
        d, q = _embeddings(data, Embedder(), args.cache_dir)
        out["scifact_overlap"] = overlap(np.asarray(d, np.float32), np.asarray(q, np.float32))
        out["scifact_docs"], out["scifact_queries"] = int(d.shape[0]), int(q.shape[0])
        print(f"SciFact {d.shape[0]:,} abstracts, {q.shape[0]} queries: top-10 overlap f16/f32 "
              f"{out['scifact_overlap']:.4f}", flush=True)
    else:
        print(f"SciFact not found at {args.scifact}: skipped")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
