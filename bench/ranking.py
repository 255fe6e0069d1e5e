"""Ranking benchmark (offline): does a day ranked from seeds and 👍/👎 beat the keyword-only order?

    python bench/ranking.py [--metadata ../shared/corpus/arxiv-api/metadata/arXiv_metadata.jsonl]
                            [--day-sizes 100,200] [--reps 3] [--max-ratings 5] [--seed 7] [--tune]

Data: the real arXiv metadata rows of ../shared (1,041 rows = 509 papers; the latest version of each: title,
abstract, categories). Their title + abstract vectors are embedded once, as the ingest writer stores them.

Simulated users. A hidden interest: a sub-category C plus a phrase P. A paper is relevant when it lists C or its
title/abstract contains P (word boundaries, as the keyword filter matches). The user told paperrag only the
keyword P (`sources.keywords`) and gave 5 seed papers (random papers of C, removed from the stream).

Days. A followed arXiv listing announces 100–300 papers a day, most of them outside the reader's sub-topic. The
main rows ("arXiv-size days") draw days of `--day-sizes` candidates from all 509 papers (an archive holds only
81–147 of them here, too few for one real day): the stream (shuffled, seeds removed) is cut into days; day 1 is
the rating day, the rest are scored (a short last day counts when it holds at least half a day); `--reps`
shuffles per user. The comparison row keeps the first benchmark's setting: days of 20 from the user's archive.
On the rating day the user rates, one at a time, the best-ranked paper not yet rated (👍 when relevant, 👎
otherwise), re-ranking after each; the scored days are ranked after 0, 1, …, `--max-ratings` ratings.

Orderings on every scored day: keyword-only (today's digest without a profile: papers matching a keyword first,
each group in feed order); ranked (rag/rank.py with the given weights). Metrics: precision@10 and nDCG@10 (binary
gains), mean over a user's scored days, then over users; "ideal" = min(relevant in the day, 10)/10, the best any
ordering can reach; "ratings to beat" = the fewest ratings after which the ranked p@10 is above keyword-only.

Users are split: TEST_USERS (the nine of the first benchmark) are the ones reported; DEV_USERS (other
sub-categories and phrases) are the only ones `--tune` looks at to choose the weights (grid: max share 0.5/0.75
× keyword 0.1/0.2/0.3 × category 0.1/0.2/0.3, 👎 0.5; the first day size, 2 shuffles; objective: mean p@10 over
0..5 ratings, ties by nDCG). `rag.rank.Weights`' defaults are its choice, so a run without --tune reproduces it. The previous model (v1: primary category only, weights
0.75/0.5/0.10/0.10) is reported next to the current one.

Timing: `Library.rank` of 500 candidates whose vectors the ingest stored, in a fresh Library (no model loaded),
next to the cost of embedding those 500 title + abstract texts (what the first ranking used to pay).

The last line of the output is one JSON object with every number.
"""

from __future__ import annotations

import argparse
import dataclasses
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

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_METADATA = REPO.parent / "shared" / "corpus" / "arxiv-api" / "metadata" / "arXiv_metadata.jsonl"

# (archive followed, hidden sub-category, hidden phrase = the one keyword the user configured)
TEST_USERS = [
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
DEV_USERS = [  # held out: only --tune sees them
    ("quant-ph", "quant-ph", "entanglement"),
    ("gr-qc", "gr-qc", "black hole"),
    ("cond-mat", "cond-mat.mes-hall", "graphene"),
    ("astro-ph", "astro-ph.CO", "cosmological"),
    ("math", "math.DG", "manifold"),
    ("cond-mat", "cond-mat.mtrl-sci", "films"),
    ("nucl", "nucl-th", "nuclear"),
    ("math", "math.PR", "random"),
    ("cond-mat", "cond-mat.stat-mech", "phase transition"),
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


def keyword_order(day: list, matched: dict) -> list[str]:
    hits = [m.key for m in day if matched[m.key]]
    return hits + [m.key for m in day if not matched[m.key]]


def in_archive(m, archive: str) -> bool:
    return any(c == archive or c.startswith((archive + ".", archive + "-")) for c in m.categories)


def mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else 0.0


def run_user(user, papers, vec, weights, *, day_size: int, corpus_days: bool, reps: int, max_ratings: int,
             seed: int, example: list | None = None) -> dict:
    """One simulated user over `reps` shuffles: the mean metrics of its scored days."""
    from ingest.filters import KeywordFilter
    from paperrag.settings import SourcesSettings
    from rag import rank as R

    archive, sub, phrase = user
    kw = KeywordFilter.from_settings(SourcesSettings(keywords=[phrase], negative_keywords=[]))
    pat = phrase_re(phrase)
    pool = papers if corpus_days else [m for m in papers if in_archive(m, archive)]
    relevant = {m.key for m in pool if sub in m.categories or pat.search(f"{m.title} {m.abstract}")}
    matched = {m.key: kw.decide(m).matched for m in pool}
    vectors = lambda items: np.stack([vec[k] for k, _ in items])  # noqa: E731  (stored at ingest)
    min_day = max(10, day_size // 2)
    ideal, kw_p, kw_n, rel = [], [], [], []
    curve = [[] for _ in range(max_ratings + 1)]
    for rep in range(reps):
        rng = random.Random(f"{seed}/{sub}/{phrase}/{rep}/{day_size}/{corpus_days}")
        seeds = rng.sample(sorted(m.key for m in pool if sub in m.categories), 5)
        stream = [m for m in pool if m.key not in seeds]
        rng.shuffle(stream)
        days = [stream[i:i + day_size] for i in range(0, len(stream), day_size)]
        days = [d for d in days if len(d) >= min_day]
        rating_day, scored = days[0], days[1:]
        by_key = {m.key: m for m in pool}
        profile = R.Profile([R.Anchor("seed", by_key[k].title, k, "", categories=list(by_key[k].categories))
                             for k in seeds])
        for d in scored:
            keys = {m.key for m in d}
            ideal.append(min(10, len(relevant & keys)) / 10)
            rel.append(len(relevant & keys))
            order = keyword_order(d, matched)
            kw_p.append(precision_at(order, relevant))
            kw_n.append(ndcg_at(order, relevant))
        rated: set[str] = set()
        for n in range(max_ratings + 1):
            if n:
                nxt = next(r.key for r in R.rank(rating_day, profile, vectors, keyword_match=lambda m: matched[m.key],
                                                  weights=weights) if r.key not in rated)
                rated.add(nxt)
                m = by_key[nxt]
                a = R.Anchor("👍" if nxt in relevant else "👎", m.title, nxt, "", categories=list(m.categories))
                (profile.positives if nxt in relevant else profile.negatives).append(a)
            for d in scored:
                order = [r.key for r in R.rank(d, profile, vectors, keyword_match=lambda m: matched[m.key],
                                               weights=weights)]
                curve[n].append((precision_at(order, relevant), ndcg_at(order, relevant)))
            if example is not None and not example and n == max_ratings and rep == 0:
                for r in R.rank(scored[0], profile, vectors, keyword_match=lambda m: matched[m.key],
                                weights=weights)[:10]:
                    m = by_key[r.key]
                    example.append(f"{'✓' if r.key in relevant else '✗'} {r.score:.2f}"
                                   f"{' MUST READ' if r.must_read else ''}  {r.key} [{m.primary_category}] "
                                   f"{m.title[:60]}\n      {r.reason}")
                example.insert(0, f"example: {sub} + '{phrase}', a day of {len(scored[0])}, after {n} ratings "
                                  f"(✓ relevant):")
    kp = mean(kw_p)
    rp = [mean(p for p, _ in c) for c in curve]
    return {"user": f"{sub} + '{phrase}'", "pool": len(pool), "relevant": len(relevant), "days": len(kw_p),
            "relevant_per_day": round(mean(rel), 1), "ideal_p10": round(mean(ideal), 3),
            "keyword_p10": round(kp, 3), "keyword_ndcg10": round(mean(kw_n), 3),
            "ranked_p10": [round(x, 3) for x in rp], "ranked_ndcg10": [round(mean(x for _, x in c), 3) for c in curve],
            "ratings_to_beat_keyword": next((n for n, p in enumerate(rp) if p > kp), None)}


def summarise(per_user: list[dict], max_ratings: int) -> dict:
    agg = {k: round(mean(u[k] for u in per_user), 3) for k in ("ideal_p10", "keyword_p10", "keyword_ndcg10")}
    agg["ranked_p10_by_ratings"] = [round(mean(u["ranked_p10"][i] for u in per_user), 3)
                                    for i in range(max_ratings + 1)]
    agg["ranked_ndcg10_by_ratings"] = [round(mean(u["ranked_ndcg10"][i] for u in per_user), 3)
                                       for i in range(max_ratings + 1)]
    agg["ratings_to_beat_keyword"] = next((i for i, p in enumerate(agg["ranked_p10_by_ratings"])
                                           if p > agg["keyword_p10"]), None)
    return agg


def print_table(title: str, per_user: list[dict], agg: dict, max_ratings: int) -> None:
    print(f"\n{title}")
    head = (f"{'user (hidden interest)':34} {'rel/day':>7} {'ideal':>6} {'kw p@10':>8} {'kw nDCG':>8} "
            + " ".join(f"{f'{i}r p@10':>8}" for i in range(max_ratings + 1))
            + f" {f'{max_ratings}r nDCG':>8} {'to beat':>7}")
    print(head)
    print("-" * len(head))
    rows = [(u["user"][:34], u["relevant_per_day"], u) for u in per_user] + [("mean", "", None)]
    for name, rel, u in rows:
        d = u or {"ideal_p10": agg["ideal_p10"], "keyword_p10": agg["keyword_p10"],
                  "keyword_ndcg10": agg["keyword_ndcg10"], "ranked_p10": agg["ranked_p10_by_ratings"],
                  "ranked_ndcg10": agg["ranked_ndcg10_by_ratings"], "ratings_to_beat_keyword":
                  agg["ratings_to_beat_keyword"]}
        if u is None:
            print("-" * len(head))
        print(f"{name:34} {rel!s:>7} {d['ideal_p10']:>6.3f} {d['keyword_p10']:>8.3f} {d['keyword_ndcg10']:>8.3f} "
              + " ".join(f"{x:>8.3f}" for x in d["ranked_p10"])
              + f" {d['ranked_ndcg10'][-1]:>8.3f} {str(d['ratings_to_beat_keyword']):>7}")


def evaluate(users, papers, vec, weights, *, day_size, corpus_days, reps, max_ratings, seed, example=None):
    per_user = [run_user(u, papers, vec, weights, day_size=day_size, corpus_days=corpus_days, reps=reps,
                         max_ratings=max_ratings, seed=seed, example=example) for u in users]
    return per_user, summarise(per_user, max_ratings)


def tune(papers, vec, *, day_size, reps, max_ratings, seed) -> tuple:
    """Grid search on DEV_USERS only: mean p@10 over 0..max_ratings ratings (ties: mean nDCG)."""
    import itertools

    from rag.rank import Weights

    results = []
    t0 = time.perf_counter()
    for pos_max, neg, kw, cat in itertools.product((0.5, 0.75), (0.5,), (0.1, 0.2, 0.3), (0.1, 0.2, 0.3)):
        w = Weights(pos_max=pos_max, neg=neg, kw=kw, cat=cat)
        _, agg = evaluate(DEV_USERS, papers, vec, w, day_size=day_size, corpus_days=True, reps=reps,
                          max_ratings=max_ratings, seed=seed)
        results.append((mean(agg["ranked_p10_by_ratings"]), mean(agg["ranked_ndcg10_by_ratings"]), w))
        print(f"  tune {len(results)}/18: {results[-1][0]:.3f} {w} ({time.perf_counter() - t0:.0f} s)", flush=True)
    results.sort(key=lambda r: (-r[0], -r[1]))
    return results[0][2], results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--metadata", type=Path, default=DEFAULT_METADATA)
    ap.add_argument("--day-sizes", default="100,200", help="arXiv-size days (comma-separated); 20 from the "
                                                            "archive is always added as the comparison row")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--max-ratings", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--tune", action="store_true", help="choose the weights on DEV_USERS first")
    args = ap.parse_args()
    if not args.metadata.exists():
        sys.exit(f"no metadata at {args.metadata} (this benchmark needs ../shared)")

    from indexes.embedder import Embedder
    from indexes.feedback import paper_text, text_sha
    from paperrag.library import Library
    from paperrag.settings import Settings
    from rag.rank import DEFAULT_WEIGHTS, Weights

    papers = load_papers(args.metadata)
    home = Path(tempfile.mkdtemp(prefix="paperrag-bench-ranking-"))
    base = Settings(home=home)
    embedder = Embedder(base.embed.model)
    texts = [paper_text(m.title, m.abstract) for m in papers]
    embedder.embed(texts[:8])  # load the model outside the timing
    t = time.perf_counter()
    mat = embedder.embed(texts)
    embed_s = time.perf_counter() - t
    vec = {m.key: v for m, v in zip(papers, mat, strict=True)}

    # ---- timing: the catalog and paper vectors as the ingest writer leaves them, then rank() in a fresh Library
    with Library(base, embedder=embedder) as lib:
        for m in papers:
            lib.catalog.mark_indexing(m)
            lib.catalog.commit_paper(m.key, [], content_sha256="", fulltext=False, n_pages=0,
                                     embedder=embedder.identity)
        lib.feedback.put_vectors([(m.key, text_sha(t), vec[m.key]) for m, t in zip(papers, texts, strict=True)],
                                 embedder.identity)
        lib.seeds_add([papers[0].arxiv_id, papers[1].arxiv_id])
    day500 = papers[:500]
    with Library(base) as fresh:  # no embedder given: loading the model would show in the time
        t = time.perf_counter()
        first = fresh.rank(day500)
        fresh_s = time.perf_counter() - t
        model_loaded = fresh._embedder is not None and "model" in fresh._embedder.__dict__
        warm = []
        for _ in range(5):
            t = time.perf_counter()
            fresh.rank(day500)
            warm.append(time.perf_counter() - t)
    warm_s = sorted(warm)[len(warm) // 2]
    assert first[0].score is not None
    shutil.rmtree(home, ignore_errors=True)

    weights, tuned = DEFAULT_WEIGHTS, []
    sizes = [int(x) for x in args.day_sizes.split(",") if x.strip()]
    if args.tune:
        weights, tuned = tune(papers, vec, day_size=sizes[0], reps=min(2, args.reps), max_ratings=args.max_ratings,
                              seed=args.seed)
    v1 = Weights(pos_max=0.75, neg=0.5, kw=0.10, cat=0.10, cat_any=False)

    print(f"ranking benchmark: {len(papers)} papers, {len(TEST_USERS)} test users (weights chosen on "
          f"{len(DEV_USERS)} dev users), 5 seeds each, {args.reps} shuffles per user")
    if tuned:
        print("\n--tune on DEV_USERS (mean p@10 over 0..%d ratings, mean nDCG), best 5:" % args.max_ratings)
        for p, n, w in tuned[:5]:
            print(f"  {p:.3f} {n:.3f}  {w}")
    print(f"weights: {weights}")
    settings_rows = [(f"arXiv-size days of {s} from all {len(papers)} papers", s, True, args.reps) for s in sizes]
    settings_rows.append(("comparison: days of 20 from the user's archive (first benchmark)", 20, False, 1))
    results, example = [], []
    for title, size, corpus_days, reps in settings_rows:
        per_user, agg = evaluate(TEST_USERS, papers, vec, weights, day_size=size, corpus_days=corpus_days, reps=reps,
                                 max_ratings=args.max_ratings, seed=args.seed,
                                 example=example if size == sizes[0] and corpus_days else None)
        _, agg_v1 = evaluate(TEST_USERS, papers, vec, v1, day_size=size, corpus_days=corpus_days, reps=reps,
                             max_ratings=args.max_ratings, seed=args.seed)
        print_table(title, per_user, agg, args.max_ratings)
        print(f"{'previous model (v1), mean':34} {'':>7} {'':>6} {'':>8} {'':>8} "
              + " ".join(f"{x:>8.3f}" for x in agg_v1["ranked_p10_by_ratings"])
              + f" {agg_v1['ranked_ndcg10_by_ratings'][-1]:>8.3f} {str(agg_v1['ratings_to_beat_keyword']):>7}")
        results.append({"setting": title, "day_size": size, "corpus_days": corpus_days, "reps": reps, **agg,
                        "target_met": bool(agg["ranked_p10_by_ratings"][-1] >= 0.7
                                           and agg["ranked_p10_by_ratings"][-1] > agg["keyword_p10"]),
                        "v1_ranked_p10_by_ratings": agg_v1["ranked_p10_by_ratings"],
                        "v1_ranked_ndcg10_by_ratings": agg_v1["ranked_ndcg10_by_ratings"], "per_user": per_user})
    print("\n" + "\n".join(example))
    print(f"\nrank() of 500 candidates after ingest (vectors stored by the writer), fresh Library: "
          f"{fresh_s * 1000:.0f} ms the first call (model loaded: {model_loaded}), {warm_s * 1000:.0f} ms after "
          f"(median of 5); embedding 509 title+abstract texts (the first ranking's cost before): {embed_s:.1f} s")
    out = {"papers": len(papers), "test_users": len(TEST_USERS), "dev_users": len(DEV_USERS),
           "weights": dataclasses.asdict(weights), "tuned": bool(tuned), "settings": results,
           "rank_500_after_ingest_first_s": round(fresh_s, 4), "rank_500_after_ingest_s": round(warm_s, 4),
           "rank_loaded_model": model_loaded, "embed_509_s": round(embed_s, 2)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
