"""BEIR-style retrieval evaluation: nDCG@k and Recall@k for BM25, dense, RRF and the product's hybrid fusion.

A BEIR folder holds `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl` (`_id`, `text`) and
`qrels/{split}.tsv` (`query-id  corpus-id  score`, with a header line). Documents are embedded as
`title + " " + text` (as BEIR's sentence-transformers harness does) and BM25 sees the same string.

Metrics follow trec_eval / pytrec_eval as used by BEIR: nDCG gains are the qrels grades (linear), discount
1/log2(rank+1), ideal DCG from the query's qrels; Recall@k = relevant retrieved in the top k / relevant judged
(grade > 0). Queries without a relevant document are left out.

Embeddings are cached under `cache_dir` (keyed by model, corpus file size/mtime and document ids), so a corpus is
embedded once. The hybrid method is exactly `rag.retrieval.fusion.hybrid_fuse`, the fusion the product retriever
uses, over BM25 (`indexes.bm25_index`) and exact cosine scores.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexes.bm25_index import BM25Params, KeywordIndex
from rag.retrieval.fusion import FusionParams, hybrid_fuse, rrf_fuse

ALL_METHODS = ("bm25", "dense", "rrf", "hybrid", "product", "product_rerank")
DEFAULT_METHODS = ALL_METHODS[:5]  # product_rerank embeds the sentences of ~9k abstracts once: opt in
RERANK_DEPTH = 30  # "product_rerank": the product path + the sentence rerank `ask` uses (ask.rerank_depth)


@dataclass
class BeirData:
    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]  # query id -> doc id -> grade
    name: str


def load_beir(path: str | Path, split: str = "test") -> BeirData:
    path = Path(path)
    corpus_file, queries_file = path / "corpus.jsonl", path / "queries.jsonl"
    qrels_file = path / "qrels" / f"{split}.tsv"
    for f in (corpus_file, queries_file, qrels_file):
        if not f.exists():
            raise FileNotFoundError(f"not a BEIR folder: {f} is missing")
    doc_ids, doc_texts = [], []
    with corpus_file.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            doc_ids.append(str(row["_id"]))
            title, text = (row.get("title") or "").strip(), (row.get("text") or "").strip()
            doc_texts.append(f"{title} {text}".strip())
    qrels: dict[str, dict[str, int]] = {}
    with qrels_file.open(encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter="\t")
        for i, row in enumerate(reader):
            if not row or (i == 0 and not row[-1].strip().lstrip("-").isdigit()):
                continue  # header
            qid, did, grade = row[0], row[1], int(row[2])
            qrels.setdefault(qid, {})[did] = grade
    queries = {}
    with queries_file.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                queries[str(row["_id"])] = row["text"]
    query_ids = [q for q in queries if q in qrels and any(g > 0 for g in qrels[q].values())]
    return BeirData(doc_ids, doc_texts, query_ids, [queries[q] for q in query_ids], qrels, path.name)


# ---------------------------------------------------------------------------------------------- metrics


def ndcg_at_k(ranked: Sequence[str], qrels: Mapping[str, int], k: int = 10) -> float:
    """trec_eval nDCG@k: linear gains = grades, discount log2(rank + 1), ideal from all judged grades."""
    dcg = sum(qrels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if qrels.get(d, 0) > 0)
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], qrels: Mapping[str, int], k: int = 10) -> float:
    relevant = {d for d, g in qrels.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def score_run(run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]], k: int = 10) -> dict:
    """Mean nDCG@k and Recall@k (in %) over the queries of `run` that have relevant documents."""
    qids = [q for q in run if any(g > 0 for g in qrels.get(q, {}).values())]
    if not qids:
        return {f"ndcg@{k}": 0.0, f"recall@{k}": 0.0, "queries": 0}
    nd = float(np.mean([ndcg_at_k(run[q], qrels[q], k) for q in qids]))
    rc = float(np.mean([recall_at_k(run[q], qrels[q], k) for q in qids]))
    return {f"ndcg@{k}": round(100 * nd, 2), f"recall@{k}": round(100 * rc, 2), "queries": len(qids)}


# ---------------------------------------------------------------------------------------------- embeddings


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")[:40]


def cached_embeddings(texts: list[str], ids: list[str], *, embedder, cache_dir: Path | None, tag: str) -> np.ndarray:
    """Embed `texts` once; reuse `cache_dir/<tag>-<model>-<hash>.npy` when the same ids/texts were embedded before."""
    digest = hashlib.sha1()
    digest.update(embedder.name.encode())
    for i, t in zip(ids, texts, strict=True):
        digest.update(i.encode())
        digest.update(b"\0")
        digest.update(t.encode())
        digest.update(b"\1")
    path = None
    if cache_dir is not None:
        cache_dir = Path(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
        path = cache_dir / f"{tag}-{_slug(embedder.name)}-{digest.hexdigest()[:16]}.npy"
        if path.exists():
            arr = np.load(path)
            if arr.shape[0] == len(texts):
                return arr
    arr = embedder.embed(texts).astype(np.float32)
    if path is not None:
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, arr)
        tmp.replace(path)
    return arr


def _embeddings(data: BeirData, embedder, cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    docs = cached_embeddings(data.doc_texts, data.doc_ids, embedder=embedder, cache_dir=cache_dir,
                             tag=f"{data.name}-corpus")
    queries = cached_embeddings(data.query_texts, data.query_ids, embedder=embedder, cache_dir=cache_dir,
                                tag=f"{data.name}-queries")
    return docs, queries


# ---------------------------------------------------------------------------------------------- evaluation


def rank_all(
    data: BeirData,
    *,
    methods: Iterable[str] = ("bm25", "dense", "hybrid"),
    k: int = 10,
    embedder=None,
    cache_dir: Path | None = None,
    bm25_params: BM25Params | None = None,
    fusion: FusionParams | None = None,
    doc_emb: np.ndarray | None = None,
    query_emb: np.ndarray | None = None,
) -> dict[str, dict[str, list[str]]]:
    """Runs (query id -> ranked doc ids, top k) for each method."""
    methods = [m for m in methods if m not in ("product", "product_rerank")]
    unknown = set(methods) - set(ALL_METHODS)
    if unknown:
        raise ValueError(f"unknown method(s) {sorted(unknown)}; choose from {ALL_METHODS}")
    fusion = fusion or FusionParams()
    need_dense = any(m != "bm25" for m in methods)
    need_bm25 = any(m != "dense" for m in methods)
    if need_dense and (doc_emb is None or query_emb is None):
        if embedder is None:
            raise ValueError("dense/hybrid evaluation needs an embedder")
        doc_emb, query_emb = _embeddings(data, embedder, cache_dir)
    index = KeywordIndex.build(data.doc_texts, params=bm25_params) if need_bm25 else None

    runs: dict[str, dict[str, list[str]]] = {m: {} for m in methods}
    ids = np.asarray(data.doc_ids, dtype=object)
    depth = fusion.depth
    for qi, (qid, qtext) in enumerate(zip(data.query_ids, data.query_texts, strict=True)):
        bm = index.scores(qtext) if index is not None else None
        dn = doc_emb @ query_emb[qi] if need_dense else None
        if "bm25" in runs:
            runs["bm25"][qid] = list(ids[_topk(bm, k)])
        if "dense" in runs:
            runs["dense"][qid] = list(ids[_topk(dn, k)])
        if "rrf" in runs or "hybrid" in runs:
            bm_top = _topk(bm, depth, positive_only=True)
            dn_top = _topk(dn, depth)
            if "rrf" in runs:
                cand, fused = rrf_fuse([bm_top, dn_top], k=fusion.rrf_k)
                runs["rrf"][qid] = list(ids[cand[np.argsort(-fused, kind="stable")[:k]]])
            if "hybrid" in runs:
                cand = np.union1d(bm_top, dn_top)
                fused = hybrid_fuse(bm[cand], dn[cand], fusion)
                runs["hybrid"][qid] = list(ids[cand[np.argsort(-fused, kind="stable")[:k]]])
    return runs


def _topk(scores: np.ndarray, k: int, *, positive_only: bool = False) -> np.ndarray:
    """Indices of the k best scores, best first (ties broken by index)."""
    n = scores.shape[0]
    if positive_only:
        pos = np.flatnonzero(scores > 0)
        if pos.size <= k:
            return pos[np.argsort(-scores[pos], kind="stable")]
    k = min(k, n)
    part = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
    return part[np.argsort(-scores[part], kind="stable")]


def evaluate_beir(
    path: str | Path,
    *,
    methods: Sequence[str] = ("bm25", "dense", "rrf", "hybrid"),
    k: int = 10,
    embedder=None,
    cache_dir: str | Path | None = None,
    split: str = "test",
    bm25_params: BM25Params | None = None,
    fusion: FusionParams | None = None,
) -> dict[str, dict[str, float]]:
    """{method: {"ndcg@k": %, "recall@k": %, "queries": n}} on a BEIR folder's `split` queries."""
    data = load_beir(path, split)
    if embedder is None and any(m != "bm25" for m in methods):
        raise ValueError("dense methods need the embedder (the Library passes its own)")
    if cache_dir is None:
        if any(m != "bm25" for m in methods):
            raise ValueError("dense methods need cache_dir for their embeddings (the Library passes <home>/eval-cache)")
        import tempfile

        cache_dir = tempfile.mkdtemp(prefix="paperrag-beir-")  # BM25 alone caches nothing worth keeping
    runs = rank_all(data, methods=methods, k=k, embedder=embedder, cache_dir=Path(cache_dir),
                    bm25_params=bm25_params, fusion=fusion)
    if "product" in methods:
        runs["product"] = product_run(data, k=k, embedder=embedder, cache_dir=Path(cache_dir), fusion=fusion)
    if "product_rerank" in methods:
        runs["product_rerank"] = product_run(data, k=k, embedder=embedder, cache_dir=Path(cache_dir), fusion=fusion,
                                             rerank=RERANK_DEPTH)
    return {m: score_run(runs[m], data.qrels, k) for m in methods}


def product_run(data: BeirData, *, k: int, embedder, cache_dir: Path, fusion: FusionParams | None = None,
                rerank: int = 0):
    """The BEIR corpus through the product path: a temporary catalog + Chroma collection (one paper and one body
    chunk per document, the cached embeddings written as the vectors) searched with `Retriever.search`
    (`rerank=N`: plus the sentence rerank of the top N, sentence vectors cached under `cache_dir`)."""
    import shutil
    import tempfile

    from indexes.catalog import Catalog
    from indexes.vector_store import WRITE_BATCH, open_collection
    from paperrag.records import ChunkRecord, PaperRecord
    from paperrag.settings import Settings
    from rag.retrieval.fusion import DEFAULT_FUSION
    from rag.retrieval.retriever import Retriever

    doc_emb, query_emb = _embeddings(data, embedder, cache_dir)
    tmp = Path(tempfile.mkdtemp(prefix="paperrag-beir-"))
    try:
        settings = Settings(home=tmp / "home")
        catalog = Catalog(settings.catalog_path)
        keys = [f"beir.{i:07d}v1" for i in range(len(data.doc_ids))]
        catalog.bulk_insert(  # a fresh catalog: corpus_version 1
            [PaperRecord(key, key[:-2], 1, status="indexed") for key in keys],
            [ChunkRecord(f"{key}#0000", key, 0, "", 1, 1, "body", 0, t)
             for key, t in zip(keys, data.doc_texts, strict=True)])
        catalog.close()
        collection = open_collection(settings, getattr(embedder, "identity", "beir"))
        for s in range(0, len(keys), WRITE_BATCH):
            collection.upsert(ids=[f"{key}#0000" for key in keys[s : s + WRITE_BATCH]],
                              embeddings=doc_emb[s : s + WRITE_BATCH])
        doc_of = {f"{key}#0000": did for key, did in zip(keys, data.doc_ids, strict=True)}
        retriever = Retriever(settings, embedder=embedder if rerank else None, fusion=fusion or DEFAULT_FUSION,
                              collection=collection)
        if rerank:
            from indexes.sentences import SentenceVectors

            retriever._sentences = SentenceVectors(Path(cache_dir) / "sentences.sqlite", embedder)
        run = {}
        for qi, (qid, qtext) in enumerate(zip(data.query_ids, data.query_texts, strict=True)):
            hits = retriever.search(qtext, k=k, query_embedding=query_emb[qi], rerank=rerank)
            run[qid] = [doc_of[h.chunk_id] for h in hits]
        retriever.close()
        return run
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def format_table(results: Mapping[str, Mapping[str, float]], k: int = 10) -> str:
    w = max([10, *(len(m) for m in results)])
    lines = [f"{'method':<{w}} {'nDCG@' + str(k):>9} {'Recall@' + str(k):>10} {'queries':>8}"]
    for m, r in results.items():
        lines.append(f"{m:<{w}} {r[f'ndcg@{k}']:>9.2f} {r[f'recall@{k}']:>10.2f} {r['queries']:>8}")
    return "\n".join(lines)


def run_eval(path: str | Path, *, k: int = 10, methods: Sequence[str] = DEFAULT_METHODS, embedder=None,
             cache_dir: str | Path | None = None, split: str = "test", echo=print) -> dict:
    """What `paperrag eval retrieval --beir PATH` calls: evaluate, print the table, return the results."""
    t0 = time.perf_counter()
    results = evaluate_beir(path, methods=methods, k=k, embedder=embedder, cache_dir=cache_dir, split=split)
    if echo:
        echo(f"BEIR {Path(path).name} ({split} split), {time.perf_counter() - t0:.1f} s")
        echo(format_table(results, k))
    return results


if __name__ == "__main__":  # python -m rag.eval.beir PATH [--split test] [--methods bm25,dense,rrf,hybrid]
    import argparse

    ap = argparse.ArgumentParser(description="nDCG@10 / Recall@10 of the retrieval methods on a BEIR folder")
    ap.add_argument("path")
    ap.add_argument("--split", default="test")
    ap.add_argument("--methods", default="bm25,dense,rrf,hybrid")
    ap.add_argument("--cache-dir", default=None)
    ns = ap.parse_args()
    run_eval(ns.path, methods=tuple(ns.methods.split(",")), split=ns.split, cache_dir=ns.cache_dir)
