"""Checks the dev QA set against the PDFs: every gold answer stands on verbatim quotes, every unanswerable
question is really unanswerable from its papers.

    python bench/devqa/verify.py [--set bench/devqa/devqa.jsonl] [--shared ../shared] [--no-minimums]

Per row: the schema (`rag.eval.devqa.row_problems`); each quote's PDF exists, is the PDF of its arXiv id in
MANIFEST.csv, and holds the quote verbatim on the given page (PyMuPDF page text normalised as the evaluator does:
NFKC, soft hyphens removed, line-end hyphens joined, whitespace-insensitive); each fact of an answerable question
has an accepted alternative in its quotes; each `absent` term occurs nowhere in the full text of the question's
papers (case-insensitive, as a whole term: "TPU" is not found in "output"). Then the set's size against the
issue's bars (>= 60 questions, >= 25 facts, >= 8 find-the-paper, >= 6 comparisons, >= 10 unanswerable, >= 10 in
Chinese; `--no-minimums` for other sets). Each failure is one line; the exit code is 1 on any failure; the last
line is one JSON object with the counts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rag.eval.devqa import (
    PdfPages,
    bare_id,
    fact_present,
    read_manifest,
    row_problems,
    term_in_text,
)

DEFAULT_SET = Path(__file__).resolve().parent / "devqa.jsonl"
MINIMUMS = {"questions": 60, "fact": 25, "find": 8, "compare": 6, "unanswerable": 10, "zh": 10}


def check_quotes(row: dict, shared_root: Path, pages: PdfPages, manifest_ids: dict[Path, str]) -> list[str]:
    out = []
    for q in row["quotes"]:
        pdf = shared_root / q["pdf"]
        if not pdf.is_file():
            out.append(f"no PDF {q['pdf']}")
            continue
        listed = manifest_ids.get(pdf.resolve())
        if listed is not None and listed != bare_id(q["arxiv_id"]):
            out.append(f"{q['pdf']} is {listed} in MANIFEST.csv, the quote says {q['arxiv_id']}")
        if not pages.holds(pdf, q["page"], q["text"]):
            elsewhere = pages.pages_holding(pdf, q["text"])
            out.append(f"quote not on page {q['page']} of {q['pdf']}"
                       + (f" (it is on page {', '.join(map(str, elsewhere))})" if elsewhere else "")
                       + f": {q['text'][:70]!r}")
    return out


def check_facts(row: dict) -> list[str]:
    quoted = " ".join(q["text"] for q in row["quotes"])
    return [f"fact {alts} is in none of its quotes" for alts in row["facts"] if not fact_present(alts, quoted)]


def check_absent(row: dict, pdf_of: dict[str, Path], pages: PdfPages) -> list[str]:
    out = []
    papers = row["papers"] or sorted(pdf_of)
    for paper in papers:
        pdf = pdf_of.get(paper)
        if pdf is None or not pdf.is_file():
            out.append(f"no PDF for {paper} to check the absent terms against")
            continue
        text = pages.full_text(pdf)
        out += [f"absent term {term!r} occurs in {paper}" for term in row["absent"] if term_in_text(term, text)]
    return out


def verify(rows: list[dict], shared_root: Path, *, minimums: dict[str, int] | None = MINIMUMS) -> tuple[list[str], dict]:
    """(failure lines, counts) for the rows of a set."""
    shared_root = Path(shared_root)
    pages = PdfPages()
    manifest = read_manifest(shared_root)
    manifest_ids = {pdf.resolve(): arxiv_id for arxiv_id, pdf in manifest.items()}
    pdf_of = dict(manifest)
    for row in rows:
        for q in row.get("quotes") or []:
            if isinstance(q, dict) and isinstance(q.get("pdf"), str) and isinstance(q.get("arxiv_id"), str):
                pdf_of[bare_id(q["arxiv_id"])] = shared_root / q["pdf"]

    failures, ids = [], Counter(str(r.get("id")) for r in rows)
    failures += [f"{i}: id used {n} times" for i, n in ids.items() if n > 1]
    for row in rows:
        problems = row_problems(row)
        if not problems:
            problems = check_quotes(row, shared_root, pages, manifest_ids)
            problems += check_facts(row) if row["type"] != "unanswerable" else check_absent(row, pdf_of, pages)
        failures += [f"{row.get('id')}: {p}" for p in problems]

    counts = {"rows": len(rows),
              "by_type": dict(Counter(r.get("type") for r in rows)),
              "by_language": dict(Counter(r.get("language") for r in rows)),
              "by_type_language": dict(Counter(f"{r.get('type')}/{r.get('language')}" for r in rows)),
              "papers": len({p for r in rows for p in (r.get("papers") or [])}),
              "quotes": sum(len(r.get("quotes") or []) for r in rows),
              "absent_terms": sum(len(r.get("absent") or []) for r in rows)}
    if minimums:
        have = {"questions": len(rows), **counts["by_type"], **counts["by_language"]}
        failures += [f"set: {k} = {have.get(k, 0)}, the bar is {n}" for k, n in minimums.items()
                     if have.get(k, 0) < n]
    counts["failures"] = len(failures)
    counts["ok"] = not failures
    return failures, counts


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Check the dev QA set against its PDFs")
    ap.add_argument("--set", type=Path, default=DEFAULT_SET, help="the set (jsonl)")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared",
                    help="folder the quotes' `pdf` paths are relative to (default: ../shared)")
    ap.add_argument("--no-minimums", action="store_true", help="do not check the set's size against the bars")
    ns = ap.parse_args(argv)
    try:
        rows = read_rows(ns.set)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"cannot read {ns.set}: {exc}")
        print(json.dumps({"rows": 0, "failures": 1, "ok": False}))
        return 1
    failures, counts = verify(rows, ns.shared, minimums=None if ns.no_minimums else MINIMUMS)
    for line in failures:
        print(line)
    print(json.dumps(counts, ensure_ascii=False))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
