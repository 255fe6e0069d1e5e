"""Key-figure benchmark (offline): is each paper's Figure 1 (or its method figure) found and cut with its caption?

    python bench/figures.py [--pdfs ../shared/corpus/pdfs/classic] [--out test-output/figures]

For every PDF of `--pdfs` (the 23 classic papers), `ingest.figures.key_figure` runs as the digest runs it (cache
by the PDF's sha256 in `--out/cache`, emptied first so every cut is made anew), and the PNG is copied to
`--out/<paper>.png` for a person to look at.

Printed per paper: found or not, the figure number and how it was chosen (figure 1 / method figure), the page,
the caption's start, the region's bbox (points) and the PNG's path and size; or why none was found. Then a
summary line and, last, one JSON object with every number: `found` / `papers`, the share, the papers without a
figure and their reasons, the time per paper.

Whether a cut is *right* (the whole figure, nothing else) is judged by a person looking at the PNGs; the closing
note of issue 14 lists that spot check.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ingest.figures import key_figure  # noqa: E402

DEFAULT_PDFS = REPO.parent / "shared" / "corpus" / "pdfs" / "classic"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS)
    ap.add_argument("--out", type=Path, default=REPO / "test-output" / "figures")
    args = ap.parse_args(argv)
    pdfs = sorted(args.pdfs.glob("*.pdf"))
    if not pdfs:
        print(f"no PDFs in {args.pdfs}", file=sys.stderr)
        return 2
    cache = args.out / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, times = [], []
    for pdf in pdfs:
        t0 = time.perf_counter()
        fig = key_figure(pdf, cache)
        times.append(time.perf_counter() - t0)
        row = {"paper": pdf.stem, "found": fig.found, "number": fig.number, "chosen": fig.chosen,
               "page": fig.page, "caption": fig.caption[:70], "bbox": list(fig.bbox), "png": "",
               "size": list(fig.size), "reason": fig.reason, "seconds": round(times[-1], 3)}
        if fig.found:
            dest = args.out / f"{pdf.stem}.png"
            shutil.copyfile(fig.png, dest)
            row["png"] = str(dest)
            print(f"{pdf.stem:16} found  Figure {fig.number} ({fig.chosen}) p.{fig.page} "
                  f"bbox={tuple(round(v) for v in fig.bbox)} {fig.size[0]}x{fig.size[1]}px  “{fig.caption[:60]}…”  "
                  f"-> {dest}")
        else:
            print(f"{pdf.stem:16} none   {fig.reason}  (captions: {', '.join(fig.candidates[:4]) or 'none'})")
        rows.append(row)
    found = sum(r["found"] for r in rows)
    fig1 = sum(r["found"] and r["number"] == 1 for r in rows)
    share = found / len(rows)
    print(f"\nsummary: key figure found for {found}/{len(rows)} papers ({share:.1%}), Figure 1 for {fig1}; "
          f"{statistics.mean(times) * 1000:.0f} ms a paper (p. max {max(times) * 1000:.0f} ms)")
    print(json.dumps({"bench": "figures", "papers": len(rows), "found": found, "share": round(share, 4),
                      "figure_1": fig1, "ms_mean": round(statistics.mean(times) * 1000, 1),
                      "ms_max": round(max(times) * 1000, 1),
                      "none": {r["paper"]: r["reason"] for r in rows if not r["found"]}, "rows": rows},
                     ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
