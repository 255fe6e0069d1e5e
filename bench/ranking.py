"""Ranking benchmark (offline): does a day ranked from seeds and 👍/👎 beat the keyword-only order?

    python bench/ranking.py [--metadata ../shared/corpus/arxiv-api/metadata/arXiv_metadata.jsonl]
                            [--day-size 20] [--max-ratings 8] [--seed 7] [--home DIR]

Data: the real arXiv metadata rows of ../shared (latest version of each paper: title, abstract, categories),
written into the catalog of a fresh temporary home (no PDFs, no LLM).

Simulated users. Each follows one arXiv archive (its feed = that archive's papers) and has a hidden interest:
a sub-category C plus a phrase P. A paper is relevant when it lists C or its title/abstract contains P (word
boundaries, as the keyword filter matches). The user told paperrag only the keyword P (`sources.keywords`) and
gave 5 seed papers (random relevant papers of C, by arXiv id; removed from the stream). The feed, shuffled with
a fixed seed, is cut into days of `--day-size` papers (a shorter last day counts when it has at least 10). Day 1 is the rating day: the user rates, one at a time,
the best-ranked paper not yet rated (👍 when relevant, 👎 otherwise), re-ranking after each rating. Days 2… are
scored after 0, 1, …, `--max-ratings` ratings.

Orderings compared on every scored day:
- keyword-only (today's digest without a profile): papers matching a keyword first, each group in feed order;
- ranked: `Library.rank` (rag/rank.py: seeds + ratings + keyword and category priors).
Metrics: precision@10 and nDCG@10 (binary gains), averaged over users' scored days ("ideal": the p@10 of a
perfect ordering, min(relevant in the day, 10)/10 — the ceiling when a day has fewer than 10 relevant papers); "ratings to beat" = the
fewest ratings after which the mean ranked p@10 of a user is above its keyword-only p@10 (0 = the seeds alone).

Timing: `Library.rank` over 500 candidates with their vectors stored (the daily cost) and with none stored yet
(first sight: the title + abstract embeddings are computed once and stored).

The last line of the output is one JSON object with every number.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_METADATA = REPO.parent / "shared" / "corpus" / "arxiv-api" / "metadata" / "arXiv_metadata.jsonl"

# (archive followed, hidden sub-category, hidden phrase = the one keyword the user configured)
USERS = [
    ("astro-ph", "astro-ph.EP", "planet"),
    ("astro-ph", "astro-ph.SR", "solar"),
    ("cond-mat", "cond-mat.supr-con", "superconductivity"),
    ("cond-mat", "cond-mat.str-el", "spin"),
    ("math", "math.AP", "equation"),
    ("math", "math.NT", "prime"),
    ("math", "math.AG", "varieties"),
    ("hep", "hep-ph", "dark matter"),
    ("hep", "hep-th", "string"),
]


def load_papers(path: Path) -> list:
    """PaperMeta of the latest version of every paper in the metadata file."""
    from paperrag.records import PaperMeta

    latest: dict[str, dict] = {}
    with path.open() as fh:
        for line in fh:
            r = json.loads(line)
            if r["paper_id"] not in latest or r["version"] > latest[r["paper_id"]]["version"]:
                latest[r["paper_id"]] = r
    metas = []
    for r in latest.values():
        cats = (r.get("abs_categories") or "").split()
        metas.append(PaperMeta(arxiv_id=r["paper_id"], version=int(r["version"]), title=" ".join(r["title"].split()),
                               abstract=" ".join((r["abstract"] or "").split()), categories=cats,
                               primary_category=cats[0] if cats else "", published=(r.get("created") or "")[:10],
                               authors=[a.strip() for a in re.split(r",| and ", r.get("authors") or "") if a.strip()],
                               doi=r.get("doi") or "", source="api"))
    return sorted(metas, key=lambda m: m.arxiv_id)


def phrase_re(phrase: str) -> re.Pattern:
    return re.compile(r"\b" + re.escape(phrase) + r"s?\b", re.I)


def precision_at(order: list[str], relevant: set[str], k: int = 10) -> float:
    return sum(key in relevant for key in order[:k]) / k


def ndcg_at(order: list[str], relevant: set[str], k: int = 10) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, key in enumerate(order[:k]) if key in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(k, len(relevant & set(order)))))
    return dcg / ideal if ideal else 0.0


def keyword_order(day: list, kw) -> list[str]:
    hits = [m.key for m in day if kw.decide(m).matched]
    return hits + [m.key for m in day if m.key not in set(hits)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--metadata", type=Path, default=DEFAULT_METADATA)
    ap.add_argument("--day-size", type=int, default=20)
    ap.add_argument("--max-ratings", type=int, default=8)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--home", type=Path, default=None, help="data home to use (default: a temporary one)")
    args = ap.parse_args()
    if not args.metadata.exists():
        sys.exit(f"no metadata at {args.metadata} (this benchmark needs ../shared)")

    from indexes.embedder import Embedder
    from ingest.filters import KeywordFilter
    from paperrag.library import Library
    from paperrag.settings import Settings

    home = args.home or Path(tempfile.mkdtemp(prefix="paperrag-bench-ranking-"))
    papers = load_papers(args.metadata)
    by_key = {m.key: m for m in papers}
    embedder = Embedder(Settings(home=home).embed.model)
    base = Settings(home=home)
    with Library(base, embedder=embedder) as lib:
        for m in papers:
            lib.catalog.mark_indexing(m)
            lib.catalog.commit_paper(m.key, [], content_sha256="", fulltext=False, n_pages=0, embedder="bench")

        # ---- timing: 500 candidates, vectors not stored yet (cold), then stored (warm)
        lib.seeds_add([papers[0].arxiv_id])
        day500 = papers[:500]
        t = time.perf_counter()
        lib.rank(day500)
        cold_s = time.perf_counter() - t
        warm = []
        for _ in range(5):
            t = time.perf_counter()
            lib.rank(day500)
            warm.append(time.perf_counter() - t)
        warm_s = sorted(warm)[len(warm) // 2]
        lib.profile_reset()

    per_user, examples = [], []
    rng_master = random.Random(args.seed)
    for archive, sub, phrase in USERS:
        rng = random.Random(rng_master.random())
        settings = base.model_copy(update={"sources": base.sources.model_copy(update={"keywords": [phrase],
                                                                                       "negative_keywords": []})})
        pat = phrase_re(phrase)
        feed = [m for m in papers if any(c == archive or c.startswith(archive + ".") or c.startswith(archive + "-")
                                         for c in m.categories)]
        relevant = {m.key for m in feed if sub in m.categories or pat.search(f"{m.title} {m.abstract}")}
        seeds = rng.sample(sorted(m.key for m in feed if sub in m.categories), 5)
        stream = [m for m in feed if m.key not in seeds]
        rng.shuffle(stream)
        days = [stream[i:i + args.day_size] for i in range(0, len(stream), args.day_size)]
        days = [d for d in days if len(d) >= min(args.day_size, 10)]  # a short last day counts when it has ≥ 10
        rating_day, scored = days[0], days[1:]
        with Library(settings, embedder=embedder) as lib:
            lib.profile_reset()
            lib.seeds_add([by_key[k].arxiv_id for k in seeds])
            kw = KeywordFilter.from_settings(settings.sources)
            kw_p = sum(precision_at(keyword_order(d, kw), relevant) for d in scored) / len(scored)
            kw_n = sum(ndcg_at(keyword_order(d, kw), relevant) for d in scored) / len(scored)
            ideal_p = sum(min(10, len(relevant & {m.key for m in d})) / 10 for d in scored) / len(scored)
            curve = []
            rated: set[str] = set()
            for n in range(args.max_ratings + 1):
                if n:
                    nxt = next(r.key for r in lib.rank(rating_day) if r.key not in rated)
                    rated.add(nxt)
                    lib.rate(nxt, "+1" if nxt in relevant else "-1")
                ranked = [[r.key for r in lib.rank(d)] for d in scored]
                if n == min(5, args.max_ratings) and not examples:
                    example_day = scored[0]
                    for r in lib.rank(example_day)[:10]:
                        m = by_key[r.key]
                        examples.append(f"{'✓' if r.key in relevant else '✗'} {r.score:.2f}"
                                        f"{' MUST READ' if r.must_read else ''}  {r.key} [{m.primary_category}] "
                                        f"{m.title[:60]}\n      {r.reason}")
                    examples.insert(0, f"example: {sub} + '{phrase}', first scored day, after {n} ratings "
                                       f"(✓ relevant):")
                curve.append((sum(precision_at(o, relevant) for o in ranked) / len(scored),
                              sum(ndcg_at(o, relevant) for o in ranked) / len(scored)))
            lib.profile_reset()
        beat = next((n for n, (p, _) in enumerate(curve) if p > kw_p), None)
        rel_per_day = sum(len(relevant & {m.key for m in d}) for d in scored) / len(scored)
        per_user.append({"user": f"{sub} + '{phrase}'", "feed": len(feed), "relevant": len(relevant),
                         "days": len(scored), "relevant_per_day": round(rel_per_day, 1),
                         "ideal_p10": round(ideal_p, 3),
                         "keyword_p10": round(kw_p, 3), "keyword_ndcg10": round(kw_n, 3),
                         "ranked_p10": [round(p, 3) for p, _ in curve], "ranked_ndcg10": [round(x, 3) for _, x in curve],
                         "ratings_to_beat_keyword": beat})

    n = len(per_user)
    mean = lambda xs: round(sum(xs) / len(xs), 3)  # noqa: E731
    agg = {"ideal_p10": mean([u["ideal_p10"] for u in per_user]),
           "keyword_p10": mean([u["keyword_p10"] for u in per_user]),
           "keyword_ndcg10": mean([u["keyword_ndcg10"] for u in per_user]),
           "ranked_p10_by_ratings": [mean([u["ranked_p10"][i] for u in per_user]) for i in range(args.max_ratings + 1)],
           "ranked_ndcg10_by_ratings": [mean([u["ranked_ndcg10"][i] for u in per_user])
                                        for i in range(args.max_ratings + 1)]}
    agg["ratings_to_beat_keyword"] = next((i for i, p in enumerate(agg["ranked_p10_by_ratings"])
                                           if p > agg["keyword_p10"]), None)

    print(f"ranking benchmark: {len(papers)} papers, {n} simulated users, days of {args.day_size}, 5 seeds each\n")
    head = f"{'user (hidden interest)':34} {'rel/day':>7} {'ideal':>6} {'kw p@10':>8} {'kw nDCG':>8} {'0 r p@10':>9} {'5 r p@10':>9} " \
           f"{'5 r nDCG':>9} {'to beat':>7}"
    print(head)
    print("-" * len(head))
    k5 = min(5, args.max_ratings)
    for u in per_user:
        print(f"{u['user'][:34]:34} {u['relevant_per_day']:>7} {u['ideal_p10']:>6.3f} {u['keyword_p10']:>8.3f} {u['keyword_ndcg10']:>8.3f} "
              f"{u['ranked_p10'][0]:>9.3f} {u['ranked_p10'][k5]:>9.3f} {u['ranked_ndcg10'][k5]:>9.3f} "
              f"{str(u['ratings_to_beat_keyword']):>7}")
    print("-" * len(head))
    print(f"{'mean':34} {'':>7} {agg['ideal_p10']:>6.3f} {agg['keyword_p10']:>8.3f} {agg['keyword_ndcg10']:>8.3f} "
          f"{agg['ranked_p10_by_ratings'][0]:>9.3f} {agg['ranked_p10_by_ratings'][k5]:>9.3f} "
          f"{agg['ranked_ndcg10_by_ratings'][k5]:>9.3f} {str(agg['ratings_to_beat_keyword']):>7}")
    print("\nmean p@10 by number of ratings:  " + "  ".join(f"{i}:{p:.3f}" for i, p in
                                                           enumerate(agg["ranked_p10_by_ratings"])))
    print("mean nDCG@10 by number of ratings: " + "  ".join(f"{i}:{p:.3f}" for i, p in
                                                            enumerate(agg["ranked_ndcg10_by_ratings"])))
    print("\n" + "\n".join(examples))
    print(f"\nrank() of 500 candidates: {warm_s * 1000:.0f} ms with stored vectors (median of 5); "
          f"{cold_s:.1f} s the first time (embeds and stores 500 title+abstract vectors)")
    out = {"papers": len(papers), "users": n, "day_size": args.day_size, **agg,
           "target_met": bool(agg["ranked_p10_by_ratings"][k5] >= 0.7 and agg["ranked_p10_by_ratings"][k5] >
                              agg["keyword_p10"]),
           "rank_500_warm_s": round(warm_s, 4), "rank_500_cold_s": round(cold_s, 2), "per_user": per_user}
    if args.home is None:
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
