"""Compare benchmark: cold and cached wall time, page-check of every filled cell, "not stated" counts.

    python bench/compare.py [--pdfs ../shared/corpus/pdfs/classic] [--ids 1706.03762,2005.11401,2205.14135]
                            [--gguf PATH ...] [--threads 2] [--aspects "..."] [--home DIR] [--json OUT]

The PDFs are ingested as local files into a fresh temporary home (not timed). Then, per GGUF model:
1. cold: `compare(settings, ids)` with the default method-card rows (model load included), LLM calls counted in
   the call log (`llm_calls`);
2. cached: the same call again; it must make 0 LLM calls (checked in the call log, not by the library's count);
3. page check, independent of the library's own verification: for every filled cell (each headline result
   counted as one cell), the numbers in its value are string-matched against the chunk texts of its cited
   page(s) in the catalog. Reported: the share of filled cells with numbers whose numbers are all there, and the
   share of all filled cells that pass (cells without numbers: at least half their content words on the page);
4. counts of "not stated" cells (model said so or no support was found) and failed cells.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_IDS = "1706.03762,2005.11401,2205.14135"
DEFAULT_GGUF = Path(tempfile.gettempdir()) / "paperrag-test-models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
_NUM = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")
_STOP = {"the", "and", "for", "with", "from", "this", "that", "into", "are", "was", "were", "their", "its", "our",
         "not", "stated", "uses", "using", "used", "model", "paper", "method", "which", "such", "each"}


def page_text(catalog, key: str, pages: list[int]) -> str:
    return "\n".join(c.text for p in pages for c in catalog.chunks_on_page(key, p))


def check_value(value: str, text: str) -> tuple[bool, bool]:
    """(has numbers, supported): numbers string-matched; without numbers, ≥ half the content words present."""
    flat = text.replace(",", "")
    nums = _NUM.findall(value.replace(",", ""))
    if nums:
        ok = all(re.search(rf"(?<![\d.]){re.escape(n)}(?![\d])", flat) for n in nums)
        return True, ok
    words = {w.lower() for w in re.findall(r"[A-Za-z]{3,}", value)} - _STOP
    low = text.lower()
    return False, bool(words) and sum(w in low for w in words) >= max(1, len(words) / 2)


def audit(catalog, cmp) -> dict:
    filled = with_numbers = numbers_ok = all_ok = 0
    not_stated = failed = unsupported = 0
    misses = []
    for row in cmp.rows:
        if row.field == "numbers":  # aligned rows repeat the headline results
            continue
        for paper, cell in zip(cmp.papers, row.cells, strict=True):
            if cell.status == "failed":
                failed += 1
                continue
            if cell.status != "found":
                not_stated += 1
                unsupported += cell.status == "unsupported"
                continue
            for item in (cell.results or [cell]):
                filled += 1
                if cell.abstract_only:
                    continue
                has_num, ok = check_value(item.value, page_text(catalog, paper.key, item.pages))
                with_numbers += has_num
                numbers_ok += has_num and ok
                all_ok += ok
                if not ok:
                    misses.append(f"{paper.key} {row.aspect}: {item.value!r} pages {item.pages}")
    cells = sum(len(r.cells) for r in cmp.rows if r.field != "numbers")
    return {
        "cells": cells, "filled_values": filled, "not_stated": not_stated,
        "not_stated_after_page_check": unsupported, "failed": failed,
        "values_with_numbers": with_numbers, "numbers_on_cited_page": numbers_ok,
        "numbers_on_cited_page_share": round(numbers_ok / with_numbers, 3) if with_numbers else None,
        "filled_supported_share": round(all_ok / filled, 3) if filled else None, "misses": misses,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pdfs", default=str(REPO.parent / "shared" / "corpus" / "pdfs" / "classic"))
    ap.add_argument("--ids", default=DEFAULT_IDS)
    ap.add_argument("--gguf", action="append", help=f"GGUF model (repeatable); default {DEFAULT_GGUF}")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--context", type=int, default=4096)
    ap.add_argument("--aspects", default=None, help="comma-separated rows; default: the method-card fields")
    ap.add_argument("--home", default=None, help="reuse this home (ingest skipped for papers already there)")
    ap.add_argument("--json", default=None, help="write the figures here")
    ap.add_argument("--show", action="store_true", help="print each comparison table")
    args = ap.parse_args()

    from indexes.call_log import call_stats, count_calls, ensure_table, last_call_id
    from paperrag.library import Library
    from paperrag.settings import Settings
    from rag.compare import parse_aspects

    ids = [i.strip() for i in args.ids.split(",") if i.strip()]
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="paperrag-bench-compare-"))
    staging = home / "_pdfs"
    staging.mkdir(parents=True, exist_ok=True)
    for pid in ids:
        src = Path(args.pdfs) / f"{pid}.pdf"
        if not src.exists():
            sys.exit(f"missing {src}")
        shutil.copy(src, staging / src.name)
    base = Settings(home=home)
    t0 = time.perf_counter()
    base_lib = Library(base)
    embedder = base_lib.embedder  # one model, shared by the Library of each GGUF below
    report = base_lib.ingest([str(staging)]).report
    print(f"ingest: {report.counts} in {time.perf_counter() - t0:.1f} s (not part of the figures)", flush=True)

    figures = {"ids": ids, "home": str(home), "threads": args.threads, "cpu_cores": os.cpu_count(),
               "load_avg_start": os.getloadavg(), "models": []}
    for gguf in args.gguf or [str(DEFAULT_GGUF)]:
        settings = base.model_copy(update={"llm": base.llm.model_copy(update={
            "backend": "llamacpp", "gguf_path": gguf, "context_tokens": args.context, "threads": args.threads,
            "temperature": 0.0})})
        aspects = parse_aspects(args.aspects)
        ensure_table(settings.catalog_path)
        before = count_calls(settings.catalog_path)
        first_id = last_call_id(settings.catalog_path)
        t0 = time.perf_counter()
        lib = Library(settings, embedder=embedder)
        cold = lib.compare(ids, aspects)
        t_cold = time.perf_counter() - t0
        cold_calls = count_calls(settings.catalog_path) - before
        t0 = time.perf_counter()
        warm = lib.compare(ids, aspects)
        t_warm = time.perf_counter() - t0
        warm_calls = count_calls(settings.catalog_path) - before - cold_calls
        stats = call_stats(settings.catalog_path, after_id=first_id)
        mean_lat, tin, tout = stats["latency_s"], stats["tokens_in"], stats["tokens_out"]
        fig = {"model": Path(gguf).stem, "cold_s": round(t_cold, 1), "cold_llm_calls": cold_calls,
               "cached_s": round(t_warm, 2), "cached_llm_calls": warm_calls,
               "mean_call_s": round(mean_lat or 0, 1), "mean_tokens_in": round(tin or 0),
               "mean_tokens_out": round(tout or 0), "synthesis": cold.synthesis_status,
               "same_output_cached": warm.to_markdown() == cold.to_markdown(), **audit(lib.catalog, cold)}
        lib.close()
        figures["models"].append(fig)
        print(json.dumps({k: v for k, v in fig.items() if k != "misses"}, indent=1), flush=True)
        for m in fig["misses"]:
            print("  page-check miss:", m)
        if args.show:
            print(cold.to_markdown())
    figures["load_avg_end"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
