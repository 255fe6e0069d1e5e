"""Local reader benchmark (offline): are cited quotes highlighted on their page, and how fast does a page open?

    python bench/reader.py [--pdfs ../shared/corpus/pdfs/classic] [--n 100] [--seed 14] [--home DIR]
                           [--no-app] [--no-browser] [--browser-n 30]

Data: the PDFs of `--pdfs` (23 classic papers), put into the PDF cache of a fresh temporary home, parsed
(`ingest.pdf_parse.parse_pdf`) and chunked (`ingest.chunking`, MiniLM's tokenizer) as the ingest does, the paper
and chunk rows written into its catalog (no vectors: the reader needs none). A *quote* is what an answer can
cite: a sentence of a stored chunk located on its page by `rag.quotes.passage_quotes` (the product's own path).
`--n` quotes are sampled at random (seeded) from every quote of every paper.

Measured:
- located: the share of quotes whose highlight `rag.reader` draws on their cited page (≥ 80 % of the quote's
  tokens matched to the page's word boxes); exact: all of its tokens in one run; the mean matched share.
- wrong page: each quote is also looked for on the next page (the previous one on a last page); a highlight drawn
  there is a false positive (must be ~0: a wrong highlight is worse than none).
- open time over HTTP (the real app, `ui.app.launch`, on 127.0.0.1): GET the reader page + GET its page image,
  cold (the page not rendered yet) and warm (the PNG cached on disk), p50/p90.
- open time in the browser (headless Chromium through Playwright, when /usr/bin/chromium is there): navigation
  start → the page image decoded and the highlight (or the note) in the DOM, cold, p50/p90.

The last line of the output is one JSON object with every number.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_PDFS = REPO.parent / "shared" / "corpus" / "pdfs" / "classic"
CHROMIUM = Path("/usr/bin/chromium")
_ARXIV_NAME = re.compile(r"^(\d{4}\.\d{4,5})$")


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


def build_home(pdfs: list[Path], home: Path, echo=print):
    """A data home with the PDFs cached, parsed and chunked into the catalog (no vectors)."""
    from transformers import AutoTokenizer

    from indexes.catalog import Catalog, chunk_id
    from indexes.embedder import resolve_model_path
    from ingest.chunking import chunk_blocks
    from ingest.download import PdfCache
    from ingest.pdf_parse import parse_pdf
    from paperrag.records import PARSER_VERSION, ChunkRecord, PaperRecord
    from paperrag.settings import Settings

    settings = Settings(home=home)
    home.mkdir(parents=True, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(resolve_model_path(settings.embed.model))

    def count_tokens(texts):
        return [len(ids) for ids in tok(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]]

    cache = PdfCache(settings.pdf_dir)
    catalog = Catalog(settings.catalog_path)
    papers, chunks = [], []
    t0 = time.perf_counter()
    for path in pdfs:
        m = _ARXIV_NAME.match(path.stem)
        cached = cache.add_local(path)
        arxiv_id = m[1] if m else f"local:{cached.sha256[:12]}"
        key = f"{arxiv_id}v1"
        parsed = parse_pdf(cached.path)
        title = parsed.title or path.stem
        cs = chunk_blocks(parsed.blocks, title=title, count_tokens=count_tokens, max_tokens=256, overlap_tokens=32)
        papers.append(PaperRecord(key=key, arxiv_id=arxiv_id, version=1, title=title, status="indexed",
                                  fulltext=True, content_sha256=cached.sha256, n_pages=parsed.page_count,
                                  n_chunks=len(cs), source="bench", parser=PARSER_VERSION))
        chunks += [ChunkRecord(chunk_id(key, c.ordinal), key, c.ordinal, c.section, c.page_start, c.page_end,
                               str(getattr(c.kind, "value", c.kind)), c.n_tokens, c.text) for c in cs]
    catalog.bulk_insert(papers, chunks)
    catalog.close()
    cache.close()
    echo(f"home: {len(papers)} papers, {len(chunks)} chunks parsed and chunked in {time.perf_counter() - t0:.1f} s")
    return settings


def all_quotes(lib):
    """Every quote an answer could cite: (paper key, page, sentence, chunk pages)."""
    from rag.quotes import PageTexts, passage_quotes
    from rag.retrieval.retriever import Passage  # noqa: F401  (the shape passage_quotes reads)

    texts = PageTexts(lib.catalog, lib.pdf_cache)
    out = []
    for paper in lib.papers("indexed"):
        for c in lib.catalog.chunks_of(paper.key):
            p = _P(paper.key, paper.arxiv_id, paper.version, paper.title, c.page_start, c.page_end, c.text)
            for _, q in passage_quotes(p, texts):
                out.append((q.paper_key, q.page, q.text, (c.page_start, c.page_end)))
    seen, uniq = set(), []
    for row in out:
        if (row[0], row[2]) not in seen:
            seen.add((row[0], row[2]))
            uniq.append(row)
    return uniq


class _P:
    def __init__(self, paper_key, arxiv_id, version, title, page_start, page_end, text):
        self.paper_key, self.arxiv_id, self.version, self.title = paper_key, arxiv_id, version, title
        self.page_start, self.page_end, self.text = page_start, page_end, text


def measure_located(lib, sample, echo=print):
    """Each quote on its cited page, and on a neighbouring page (where a highlight is a false positive unless
    that page's parsed text holds the sentence too: a repeated line such as a venue name)."""
    from rag.quotes import PageTexts
    from rag.reader import tokens

    texts = PageTexts(lib.catalog, lib.pdf_cache)
    reader = lib.reader
    rows = []
    t0 = time.perf_counter()
    for key, page, text, span in sample:
        view = reader.view(key, page, [text])
        h = view.highlights[0]
        other = page + 1 if page < view.n_pages else page - 1
        wrong = reader.view(key, other, [text]).highlights[0] if other >= 1 and other != page else None
        repeated = bool(wrong is not None and wrong.located
                        and " ".join(tokens(text)) in " ".join(tokens(texts.pages(key).get(other, ""))))
        rows.append({"paper": key, "page": page, "located": h.located, "share": h.share, "boxes": len(h.boxes),
                     "in_chunk_pages": span[0] <= page <= max(span),
                     "other_page_located": bool(wrong and wrong.located), "other_page_has_it": repeated,
                     "false_highlight": bool(wrong and wrong.located and not repeated), "quote": text})
    secs = time.perf_counter() - t0
    return rows, secs


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def measure_http(base: str, lib, sample) -> list[float]:
    """Seconds for reader page + its image, per quote."""
    out = []
    for key, page, text, _ in sample:
        url = base + lib.reader_url(key, page, [text])
        t0 = time.perf_counter()
        status, body = http_get(url)
        m = re.search(rb'<img[^>]+id="page-image"[^>]+src="([^"]+)"', body)
        assert status == 200 and m, (status, body[:300])
        src = urllib.parse.urljoin(url, m[1].decode().replace("&amp;", "&"))
        status2, png = http_get(src)
        assert status2 == 200 and png[:4] == b"\x89PNG", status2
        out.append(time.perf_counter() - t0)
    return out


def measure_browser(base: str, lib, sample) -> list[float]:
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        for key, pg, text, _ in sample:
            url = base + lib.reader_url(key, pg, [text])
            page.goto(url, wait_until="commit")
            page.wait_for_function(
                "() => { const i = document.getElementById('page-image');"
                " return i && i.complete && i.naturalWidth > 0 &&"
                " (document.querySelector('.hl') || document.querySelector('#reader-note')); }")
            ms = page.evaluate("() => performance.now() - performance.getEntriesByType('navigation')[0].startTime")
            out.append(ms / 1000)
        b.close()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--home", type=Path, default=None, help="keep the built home here (default: a temp dir)")
    ap.add_argument("--no-app", action="store_true", help="skip the HTTP and browser timings")
    ap.add_argument("--no-browser", action="store_true", help="skip the browser timing")
    ap.add_argument("--browser-n", type=int, default=30)
    ap.add_argument("--show-misses", action="store_true")
    args = ap.parse_args(argv)

    from paperrag.library import Library
    from paperrag.settings import Settings

    pdfs = sorted(args.pdfs.glob("*.pdf"))
    if not pdfs:
        print(f"no PDFs under {args.pdfs}", file=sys.stderr)
        return 1
    tmp = None
    home = args.home
    if home is None:
        tmp = Path(tempfile.mkdtemp(prefix="paperrag-bench-reader-"))
        home = tmp / "home"
    try:
        if (home / "catalog.sqlite").exists():
            settings = Settings(home=home)
        else:
            settings = build_home(pdfs, home)
        settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={"backend": "fake"})})
        lib = Library(settings)
        quotes = all_quotes(lib)
        rng = random.Random(args.seed)
        sample = rng.sample(quotes, min(args.n, len(quotes)))
        print(f"quotes: {len(quotes)} candidate sentences in {len(lib.papers('indexed'))} papers; "
              f"sampled {len(sample)} "
              f"(seed {args.seed})")

        rows, secs = measure_located(lib, sample)
        n = len(rows)
        located = sum(r["located"] for r in rows)
        exact = sum(r["share"] >= 0.999 for r in rows)
        wrong = sum(r["false_highlight"] for r in rows)
        repeats = sum(r["other_page_located"] and r["other_page_has_it"] for r in rows)
        in_pages = sum(r["in_chunk_pages"] for r in rows)
        result = {
            "pdfs": len(pdfs), "quotes_total": len(quotes), "n": n, "seed": args.seed,
            "located": located, "located_share": round(located / n, 4), "bar_located": 0.97,
            "all_tokens_matched": exact, "mean_matched_share": round(statistics.mean(r["share"] for r in rows), 4),
            "page_within_chunk_pages": in_pages,
            "false_highlights_on_other_page": wrong, "repeated_on_other_page": repeats,
            "locate_ms_per_quote": round(1000 * secs / (2 * n), 1),
        }
        print()
        print("| measure | value |")
        print("|---|---|")
        print(f"| quotes located and highlighted on their page | {located}/{n} = {located / n:.1%} (bar ≥ 97 %) |")
        print(f"| … every token matched | {exact}/{n} |")
        print(f"| mean share of a quote's tokens matched | {result['mean_matched_share']:.3f} |")
        print(f"| cited page within the chunk's pages | {in_pages}/{n} |")
        print(f"| highlight drawn on the neighbouring page, which does not hold the sentence's words | {wrong}/{n} |")
        print(f"| … drawn there because that page repeats the sentence's words (venue line, algorithm header) | "
              f"{repeats}/{n} |")
        print(f"| locate time per page (open + words + match) | {result['locate_ms_per_quote']} ms |")
        misses = [r for r in rows if not r["located"]]
        if misses and args.show_misses:
            print("\nnot located:")
            for r in misses:
                print(f"  {r['paper']} p.{r['page']} share {r['share']:.2f}: {r['quote'][:200]}")

        if not args.no_app:
            import socket

            from ui.app import launch

            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            demo = launch(lib, host="127.0.0.1", port=port, block=False, warm=False, quiet=True)
            base = f"http://127.0.0.1:{port}/"
            try:
                shutil.rmtree(settings.reader_dir, ignore_errors=True)  # cold: no page rendered yet
                cold = measure_http(base, lib, sample)
                warm = measure_http(base, lib, sample)
                timing = {"http_cold_p50_s": round(pct(cold, 0.5), 3), "http_cold_p90_s": round(pct(cold, 0.9), 3),
                          "http_cold_max_s": round(max(cold), 3),
                          "http_warm_p50_s": round(pct(warm, 0.5), 3), "http_warm_p90_s": round(pct(warm, 0.9), 3)}
                print(f"| open a cited page over HTTP (reader page + page image), cold: not rendered yet | "
                      f"p50 {timing['http_cold_p50_s']:.3f} s · p90 {timing['http_cold_p90_s']:.3f} s · "
                      f"max {timing['http_cold_max_s']:.3f} s |")
                print(f"| … warm: the page image cached on disk | p50 {timing['http_warm_p50_s']:.3f} s · "
                      f"p90 {timing['http_warm_p90_s']:.3f} s |")
                if not args.no_browser and CHROMIUM.exists():
                    shutil.rmtree(settings.reader_dir, ignore_errors=True)
                    chosen = sample[: args.browser_n]
                    seen = measure_browser(base, lib, chosen)
                    timing.update({"browser_n": len(seen), "browser_cold_p50_s": round(pct(seen, 0.5), 3),
                                   "browser_cold_p90_s": round(pct(seen, 0.9), 3),
                                   "browser_cold_max_s": round(max(seen), 3), "bar_open_s": 1.0})
                    print(f"| open a cited page in Chromium (navigation → image decoded + highlight or note), "
                          f"cold, {len(seen)} pages | p50 {timing['browser_cold_p50_s']:.3f} s · "
                          f"p90 {timing['browser_cold_p90_s']:.3f} s · max {timing['browser_cold_max_s']:.3f} s "
                          f"(bar ≤ 1 s) |")
                result.update(timing)
            finally:
                demo.close()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
