"""Digest benchmark: per paper, its card and one format's analysis composed from it, on the embedded model.

    python bench/digest.py                                   # the bundled 1.5B, report format, Chinese
    python bench/digest.py --gguf 0.5b --papers 10           # the 0.5B (a path to any GGUF works too)
    python bench/digest.py --format monitor --language en --home /tmp/bench-home   # reuse an ingested home

Papers: the bundled sample day (`ingest/sample_day`) and the first `--papers` PDFs of
`../shared/corpus/pdfs/classic` (or `--ids`), ingested into a temporary home (not timed). Then, per paper, one
`DigestWriter` call path as `paperrag daily` runs it: the card (through the writer's seam, by default
`rag.cards.build_card`) + the analysis of `--format` (`table`: the translated title and the card's cell), timed
from the first card call to the analysis, with its LLM calls and tokens from the call log (`llm_calls`: tokens in,
out, and "reused": prompt tokens llama.cpp kept from its KV cache because the call shared a prefix; the first
paper's time includes loading the model). For every published span of the analysis:

* **cited**: each sentence's quotes are verbatim on the cited page (`rag.quotes.PageTexts.verify`, an
  independent re-parse of the PDF) — the share of published sentences with a verified page citation;
* **unbacked**: sentences with a number not in their quotes (`rag.quotes.unbacked`, Chinese spaced first);
* **outcome**: `passed` (every span the model wrote passed its checks), `N fell back` (spans shown as labelled
  quotes), `failed` (no card); `basis`: what the card was read from.

A second pass with a fresh writer must make 0 LLM calls (the cache). The JSON also carries the machine's pace
over the run's calls (`prompt_tok_s`: uncached prompt tokens per second to the first token; `decode_tok_s`), so
two runs' times can be told apart from the machine's drift. Prints a table, then one JSON object on its
last line. `--card-source module:function` swaps the card seam (e.g. `fakes.cards:stand_in_card` from tests/,
for a run of the digest side alone).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import statistics
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

NUMBER = re.compile(r"^[-+]?\d")


def resolve_gguf(value: str, settings) -> str:
    """A GGUF path, or a bundled model's alias ("1.5b", "0.5b") resolved in the model cache."""
    from rag.llm import models as M

    if value.lower() in M.ALIASES:
        name = M.ALIASES[value.lower()]
        found = M.installed_models(settings.models_dir)
        if name not in found:
            sys.exit(f"{name} is not installed: {M.install_hint(small=name == M.SMALL_MODEL)}")
        return str(found[name])
    if not Path(value).expanduser().is_file():
        sys.exit(f"no GGUF at {value}")
    return str(Path(value).expanduser())


def load_callable(spec: str):
    """`module:function` (tests/ and the repository on the path) as a card source."""
    for p in (REPO, REPO / "tests"):
        if str(p) not in sys.path:
            sys.path.insert(0, str(p))
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def audit(spans, texts) -> dict:
    """Sentences of the published spans: how many, with a verified page citation, with unbacked numbers."""
    from rag.digest.validate import spaced, span_sentences
    from rag.quotes import unbacked

    sentences = cited = unbacked_n = not_stated = 0
    misses: list[str] = []
    for c in spans:
        if not c.claim:
            not_stated += 1
            continue
        ok = bool(c.quotes) and all(texts.verify(q) for q in c.quotes)
        units = [(q.text, [q]) for q in c.quotes] if c.kind == "quotes" else [(s, c.quotes) for s in
                                                                              span_sentences(c.text)]
        for sentence, quotes in units:
            sentences += 1
            cited += ok
            nums = [x for x in unbacked(spaced(sentence), quotes) if NUMBER.match(x)]
            if nums:
                unbacked_n += 1
                misses.append(f"{sentence[:80]} (numbers not in its quotes: {', '.join(nums)})")
            if not ok:
                misses.append(f"{sentence[:80]} (citation not verified)")
    return {"sentences": sentences, "cited": cited, "unbacked": unbacked_n, "not_stated": not_stated,
            "misses": misses}


def spans_of(result) -> list:
    items = [i for part in result.parts for i in part.items] if hasattr(result, "parts") else list(result)
    return [c for i in items for c in i.spans]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", default="1.5b", help="GGUF path, or 1.5b / 0.5b (the bundled models); default 1.5b; "
                                                   "'fake': the scripted backend (a smoke test of the bench itself)")
    ap.add_argument("--papers", type=int, default=10, help="PDFs of --pdfs besides the sample day (default 10)")
    ap.add_argument("--pdfs", default=str(REPO.parent / "shared" / "corpus" / "pdfs" / "classic"))
    ap.add_argument("--ids", default="", help="comma-separated PDF stems of --pdfs instead of the first --papers")
    ap.add_argument("--no-sample", action="store_true", help="leave the sample day out")
    ap.add_argument("--only", default="", help="comma-separated paper keys of the home to run (default: all)")
    ap.add_argument("--format", default="report", choices=["report", "monitor", "table"])
    ap.add_argument("--language", default="zh", choices=["zh", "en"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--context", type=int, default=4096)
    ap.add_argument("--home", default=None, help="reuse this home (ingest skipped for papers already there)")
    ap.add_argument("--card-source", default="", help="module:function replacing rag.cards.build_card")
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--show", action="store_true", help="print each paper's rendered analysis")
    args = ap.parse_args()

    from indexes.call_log import (
        call_speeds,
        call_stats,
        count_calls,
        ensure_table,
        last_call_id,
    )
    from paperrag.library import Library
    from paperrag.settings import Settings
    from rag.digest import render
    from rag.digest.model import Digest, PaperEntry
    from rag.digest.writer import DigestWriter
    from rag.gated import Outcome
    from rag.quotes import PageTexts

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="paperrag-bench-digest-"))
    base = Settings(home=home)
    staging = home / "_pdfs"
    staging.mkdir(parents=True, exist_ok=True)
    pdfs = sorted(Path(args.pdfs).glob("*.pdf"))
    if args.ids:
        want = [i.strip() for i in args.ids.split(",") if i.strip()]
        pdfs = [Path(args.pdfs) / f"{i}.pdf" for i in want]
    else:
        pdfs = pdfs[: args.papers]
    for src in pdfs:
        if not src.exists():
            sys.exit(f"missing {src}")
        shutil.copy(src, staging / src.name)
    t0 = time.perf_counter()
    ingest_lib = Library(base)
    embedder = ingest_lib.embedder
    if not args.no_sample:
        ingest_lib.ingest(sample=True)
    if pdfs:
        ingest_lib.ingest([str(staging)])
    keys = [p.key for p in ingest_lib.catalog.papers() if p.status == "indexed"]
    if args.only:
        only = {k.strip() for k in args.only.split(",")}
        keys = [k for k in keys if k in only]
    ingest_lib.close()
    print(f"ingest: {len(keys)} papers in {time.perf_counter() - t0:.1f} s (not part of the figures)", flush=True)

    fake = args.gguf == "fake"
    gguf = "fake" if fake else resolve_gguf(args.gguf, base)
    llm = {"backend": "fake"} if fake else {"backend": "llamacpp", "gguf_path": gguf, "context_tokens": args.context,
                                             "threads": args.threads, "temperature": 0.0}
    settings = base.model_copy(update={
        "llm": base.llm.model_copy(update=llm),
        "digest": base.digest.model_copy(update={"language": args.language, "formats": [args.format]})})
    ensure_table(settings.catalog_path)
    card_source = load_callable(args.card_source) if args.card_source else None
    lib = Library(settings, embedder=embedder)
    writer = DigestWriter(lib, card_source=card_source)
    texts = PageTexts(lib.catalog, lib.pdf_cache)

    rows = []
    run_start = last_call_id(settings.catalog_path)
    for key in keys:
        meta = lib.catalog.get_paper(key).meta
        first = last_call_id(settings.catalog_path)
        t = time.perf_counter()
        card = writer.card(meta)
        t_card = time.perf_counter() - t
        if args.format == "table":
            writer.title(meta, args.language)
            result = writer.table_summary(meta, args.language)
            outcome = "failed" if card is None else (
                "passed" if not any(c.kind == "quotes" for c in spans_of(result)) else "fell back")
            rejected = sum(c.kind == "quotes" for c in spans_of(result))
        else:
            result = writer.analysis(meta, args.format, args.language)
            rejected = result.rejected
            outcome = ("failed" if result.outcome == Outcome.FAILED else
                       f"{result.rejected} fell back" if result.rejected else "passed")
        seconds = time.perf_counter() - t
        s = call_stats(settings.catalog_path, after_id=first)
        a = audit(spans_of(result), texts)
        row = {"paper": key, "title": meta.title[:60], "basis": card.basis if card else "—", "outcome": outcome,
               "rejected_spans": rejected, "seconds": round(seconds, 1), "card_seconds": round(t_card, 1),
               "calls": int(s["calls"]), "tokens_in": round(s["calls"] * s["tokens_in"]),
               "tokens_out": round(s["calls"] * s["tokens_out"]),
               "tokens_cached": round(s["calls"] * s["tokens_cached"]), **a,
               "reason": ("" if card is not None else writer.card_errors.get(key, "")) or getattr(result, "reason", "")}
        rows.append(row)
        print(f"{key:<16} {row['basis']:<13} {outcome:<13} {row['seconds']:>7.1f}s {row['calls']:>4} calls "
              f"{row['tokens_in']:>6}/{row['tokens_out']:<5} tok ({row['tokens_cached']} reused)  cited {a['cited']}/{a['sentences']}  "
              f"unbacked {a['unbacked']}", flush=True)
        if args.show and args.format != "table":
            entry = PaperEntry(n=1, meta=meta, analysis=result)
            d = Digest("2025-01-20", args.language, [], [], papers=[entry])
            print(render.render_markdown(d, args.format).split("**Analysis:**")[-1][:4000])

    speeds = call_speeds(settings.catalog_path, after_id=run_start)  # the machine's pace in this run
    # the cache: a fresh writer over the same papers makes no call
    before = count_calls(settings.catalog_path)
    again = DigestWriter(Library(settings, embedder=embedder), card_source=card_source)
    for key in keys:
        meta = lib.catalog.get_paper(key).meta
        if args.format == "table":
            again.title(meta, args.language)
            again.table_summary(meta, args.language)
        else:
            again.analysis(meta, args.format, args.language)
    cached_calls = count_calls(settings.catalog_path) - before

    print()
    header = "| paper | basis | outcome | s | calls | tok in/out | reused | cited | unbacked |"
    print(header + "\n|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['paper']} {r['title'][:40]} | {r['basis']} | {r['outcome']} | {r['seconds']} | {r['calls']} | "
              f"{r['tokens_in']}/{r['tokens_out']} | {r['tokens_cached']} | {r['cited']}/{r['sentences']} | {r['unbacked']} |")
    for r in rows:
        for m in r["misses"][:5]:
            print(f"  {r['paper']}: {m}")
    n = len(rows)
    sentences = sum(r["sentences"] for r in rows)
    figures = {
        "model": Path(gguf).stem, "format": args.format, "language": args.language, "papers": n,
        "threads": args.threads, "cpu_cores": os.cpu_count(), "home": str(home),
        "median_s": round(statistics.median(r["seconds"] for r in rows), 1) if rows else None,
        "max_s": max((r["seconds"] for r in rows), default=None),
        "full_text_passed_share": round(sum(r["basis"] == "full text" and r["outcome"] == "passed" for r in rows)
                                        / n, 3) if n else None,
        "full_text_share": round(sum(r["basis"] == "full text" for r in rows) / n, 3) if n else None,
        "fell_back_papers": sum("fell back" in r["outcome"] for r in rows),
        "failed_papers": sum(r["outcome"] == "failed" for r in rows),
        "sentences": sentences,
        "cited_share": round(sum(r["cited"] for r in rows) / sentences, 4) if sentences else None,
        "unbacked_sentences": sum(r["unbacked"] for r in rows),
        "calls": sum(r["calls"] for r in rows), "tokens_in": sum(r["tokens_in"] for r in rows),
        "tokens_out": sum(r["tokens_out"] for r in rows), "cached_calls": cached_calls,
        "tokens_reused": sum(r["tokens_cached"] for r in rows), **speeds,
        "per_paper": [{k: v for k, v in r.items() if k != "misses"} for r in rows],
    }
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1, ensure_ascii=False))
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
