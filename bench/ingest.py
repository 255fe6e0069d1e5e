"""Ingest benchmark: paperrag's pipeline vs its own embedding floor vs a stock LlamaIndex pipeline, one run.

    python bench/ingest.py [--pdfs ../shared/corpus/pdfs/classic] [--skip-stock] [--edge ../shared/corpus/pdfs/edge-cases]

Reports, for the same PDFs in the same process:
- parse pages/s (PyMuPDF, ours), chunking time, embedding-only chunks/s for exactly the chunks we index;
- end-to-end wall time of `Ingestor.run` (parse → chunk → embed → Chroma + catalog) and its ratio to the
  embedding-only floor (target ≤ 1.15);
- stock LlamaIndex (SimpleDirectoryReader + SentenceSplitter + HuggingFaceEmbedding + Chroma) with the splitter
  set so no chunk exceeds MiniLM's window (equal coverage), wall time and speed ratio (target ≥ 1.3×);
- share of chunks over the model window for ours, the equal-coverage stock run and stock defaults;
- the edge-case corpus result (n indexed / n reported, crashes).
The embedding model is loaded once before any timing; model load time is excluded everywhere.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

logging.getLogger("pypdf").setLevel(logging.ERROR)  # the stock reader's font warnings drown the report
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from indexes.embedder import Embedder  # noqa: E402
from ingest.chunking import chunk_blocks  # noqa: E402
from ingest.pdf_parse import PdfError, parse_pdf  # noqa: E402
from paperrag.library import Library  # noqa: E402


def ours(pdfs: list[Path], embedder: Embedder) -> dict:
    from ingest import sources
    from ingest.pipeline import Ingestor
    from paperrag.settings import Settings

    # 1. stage by stage, to see where time goes
    t0 = time.perf_counter()
    parsed = [parse_pdf(p) for p in pdfs]
    t_parse = time.perf_counter() - t0
    pages = sum(p.page_count for p in parsed)
    t0 = time.perf_counter()
    chunks = []
    for p, path in zip(parsed, pdfs):
        chunks += chunk_blocks(p.blocks, title=p.title or path.stem, count_tokens=embedder.count_tokens,
                               max_tokens=embedder.max_tokens)
    t_chunk = time.perf_counter() - t0
    texts = [c.text for c in chunks]
    t0 = time.perf_counter()
    embedder.embed(texts)
    t_embed = time.perf_counter() - t0

    # 2. the real pipeline, end to end, into a fresh home
    home = Path(tempfile.mkdtemp(prefix="paperrag-bench-"))
    try:
        lib = Library(Settings(home=home), embedder=embedder)
        plan = sources.plan(lib.settings, inputs=[str(p) for p in pdfs], catalog=lib.catalog)
        t0 = time.perf_counter()
        report = Ingestor(lib).run("bench", plan.candidates, plan.pre_decisions)  # the pipeline, without the warm-up
        t_e2e = time.perf_counter() - t0
        n_indexed = lib.catalog.chunk_count()
        lib.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    over = sum(1 for n in embedder.count_tokens(texts) if n > embedder.max_tokens)
    return {
        "pdfs": len(pdfs), "pages": pages, "chunks": len(chunks), "indexed_chunks": n_indexed,
        "parse_s": t_parse, "pages_per_s": pages / t_parse, "chunk_s": t_chunk, "embed_s": t_embed,
        "chunks_per_s": len(chunks) / t_embed, "e2e_s": t_e2e, "ratio_to_floor": t_e2e / t_embed,
        "over_window": over, "report": report.counts,
    }


def stock(pdfs: list[Path], embedder: Embedder, *, window: int) -> dict:
    import chromadb
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import MetadataMode
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    tok = embedder.tokenizer

    def minilm_tokens(text: str) -> list[int]:
        return tok.encode(text, add_special_tokens=False)

    t0 = time.perf_counter()
    docs = SimpleDirectoryReader(input_files=[str(p) for p in pdfs]).load_data()
    t_read = time.perf_counter() - t0

    # stock defaults (1024 tiktoken tokens): only measured for coverage, never embedded
    default_nodes = SentenceSplitter().get_nodes_from_documents(docs)
    default_texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in default_nodes]
    default_counts = embedder.count_tokens(default_texts)
    default_over = sum(1 for n in default_counts if n > window)
    lost = sum(max(0, n - window) for n in default_counts) / max(1, sum(default_counts))

    # equal coverage: the splitter counts MiniLM word pieces and leaves room for [CLS]/[SEP]
    splitter = SentenceSplitter(chunk_size=window - 2, chunk_overlap=32, tokenizer=minilm_tokens)
    embed_model = HuggingFaceEmbedding(model_name=embedder.path, device="cpu")
    home = Path(tempfile.mkdtemp(prefix="paperrag-bench-stock-"))
    try:
        client = chromadb.PersistentClient(path=str(home))
        store = ChromaVectorStore(chroma_collection=client.get_or_create_collection("stock"))
        t0 = time.perf_counter()
        docs = SimpleDirectoryReader(input_files=[str(p) for p in pdfs]).load_data()
        nodes = splitter.get_nodes_from_documents(docs)
        VectorStoreIndex(nodes, storage_context=StorageContext.from_defaults(vector_store=store),
                         embed_model=embed_model)
        t_e2e = time.perf_counter() - t0
    finally:
        shutil.rmtree(home, ignore_errors=True)
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    over = sum(1 for n in embedder.count_tokens(texts) if n > window)
    return {
        "read_s": t_read, "e2e_s": t_e2e, "chunks": len(nodes), "over_window": over,
        "default_chunks": len(default_nodes), "default_over_window": default_over,
        "default_text_lost": lost,
    }


def edge_cases(folder: Path) -> dict:
    ok, reported, crashed = [], [], []
    for pdf in sorted(folder.glob("*.pdf")):
        try:
            parse_pdf(pdf)
            ok.append(pdf.name)
        except PdfError as exc:
            reported.append(f"{pdf.name}: {exc}")
        except Exception as exc:  # a crash: exactly what must never happen
            crashed.append(f"{pdf.name}: {type(exc).__name__}: {exc}")
    return {"ok": ok, "reported": reported, "crashed": crashed}


def main() -> None:
    shared = REPO.parent / "shared" / "corpus" / "pdfs"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pdfs", type=Path, default=shared / "classic")
    ap.add_argument("--edge", type=Path, default=shared / "edge-cases")
    ap.add_argument("--skip-stock", action="store_true")
    args = ap.parse_args()
    pdfs = sorted(args.pdfs.glob("*.pdf"))
    if not pdfs:
        sys.exit(f"no PDFs under {args.pdfs} (is ../shared beside the repo?)")
    import torch

    embedder = Embedder("all-MiniLM-L6-v2")
    embedder.embed(["warm up"] * 8)
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__} threads={torch.get_num_threads()}")
    r = ours(pdfs, embedder)
    print(f"\n== paperrag on {r['pdfs']} PDFs, {r['pages']} pages")
    print(f"parse            {r['parse_s']:7.2f} s   {r['pages_per_s']:7.1f} pages/s")
    print(f"chunk            {r['chunk_s']:7.2f} s   {r['chunks']} chunks, {r['over_window']} over the window")
    print(f"embed only       {r['embed_s']:7.2f} s   {r['chunks_per_s']:7.1f} chunks/s  (the floor)")
    print(f"end to end       {r['e2e_s']:7.2f} s   ratio to floor {r['ratio_to_floor']:.3f} (target <= 1.15)")
    print(f"decisions        {r['report']}, chunks in catalog {r['indexed_chunks']}")
    if not args.skip_stock:
        s = stock(pdfs, embedder, window=embedder.max_tokens)
        print("\n== stock LlamaIndex (SimpleDirectoryReader + SentenceSplitter + HuggingFaceEmbedding + Chroma)")
        print(f"reader alone     {s['read_s']:7.2f} s")
        print(f"defaults         {s['default_chunks']} chunks, {s['default_over_window']} "
              f"({s['default_over_window'] / max(1, s['default_chunks']):.0%}) over the window, "
              f"{s['default_text_lost']:.0%} of word pieces never embedded")
        print(f"equal coverage   {s['e2e_s']:7.2f} s   {s['chunks']} chunks, {s['over_window']} over the window")
        print(f"speed ratio      {s['e2e_s'] / r['e2e_s']:.2f}x faster than stock at equal coverage (target >= 1.3)")
    if args.edge.is_dir():
        e = edge_cases(args.edge)
        print(f"\n== edge cases ({args.edge}): {len(e['ok'])} ok, {len(e['reported'])} reported, "
              f"{len(e['crashed'])} crashes")
        for line in e["reported"] + e["crashed"]:
            print("  " + line)


if __name__ == "__main__":
    main()
