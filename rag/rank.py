"""Relevance of the day's papers to a person: seeds and 👍/👎 ratings, no LLM call.

The model (DESIGN.md › Ranking), for a candidate paper c with unit vector v(c) of its "title. abstract":

    pos(c)  = 0.5 · max_i w_i·cos(c, p_i) + 0.5 · Σ_i w_i·cos(c, p_i) / Σ_i w_i      p_i: seeds and 👍 papers
    neg(c)  = max_j w_j·cos(c, n_j)                                                    n_j: 👎 / not interested
    kw(c)   = 0.30 · min(3, keywords of `sources.keywords` matched by c)
    cat(c)  = 0.30 · max over c's categories k of (Σ w of the positives listing k − Σ w of the 👎 listing k)
                     / Σ w of the positives with known categories          (negative: a category you turn down)
    score   = pos − 0.25 · neg + kw + cat

The weights (`Weights`) were chosen by `python bench/ranking.py --tune` on held-out simulated users (DEV_USERS),
not on the users the benchmark reports (v1 was 0.75 / 0.10 / 0.10 with the primary category only; v2 was
0.5 · neg and only the positives counted in cat).

Weights: a seed weighs 1; a rating weighs 0.5 ** (age in days / `digest.rating_half_life_days`), so old
ratings fade. Sorting is stable: equal scores keep the feed's order. With no seeds and no ratings nothing is
scored and the order is the feed's, exactly as before ranking existed. The top `digest.must_read` papers whose
score is at least `digest.must_read_min` are labelled "must read".

Paper vectors are embedded once per (paper key, embedder identity) and stored in `paper_vectors`
(`indexes.feedback`); ranking a day of cached papers is a matrix product.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from indexes.feedback import paper_text, text_sha  # noqa: F401  (paper_text: the one recipe, re-exported)


@dataclass(frozen=True)
class Weights:
    """The model's weights. The defaults were chosen by `python bench/ranking.py --tune` on held-out simulated
    users (the dev users), never on the users the benchmark reports."""

    pos_max: float = 0.5  # share of the closest positive in pos (the rest: the mean over positives)
    neg: float = 0.25
    kw: float = 0.30  # per keyword matched, up to KW_CAP
    cat: float = 0.30
    cat_any: bool = True  # match any category the candidate lists (v1: its primary category only)
    cat_neg: bool = True  # a 👎 paper's categories count against them (v2: only the positives counted)


KW_CAP = 3
DEFAULT_WEIGHTS = Weights()
NEG_SHOWN = 0.5  # a 👎 at least this close (cosine) is named in the reason


@dataclass
class Anchor:
    """One thing the ranking is pulled towards (a seed, a 👍) or pushed from (a 👎)."""

    kind: str  # "seed" | "👍" | "👎"
    title: str
    key: str  # vector cache key: a paper key, or "seed:<ident>" for a seed that matched nothing
    text: str
    weight: float = 1.0
    categories: list[str] = field(default_factory=list)
    label: str = ""  # ratings: "up" | "down" | "not interested"
    at: str = ""  # ratings: when


@dataclass
class Profile:
    positives: list[Anchor] = field(default_factory=list)
    negatives: list[Anchor] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.positives or self.negatives)


@dataclass
class Ranked:
    key: str
    score: float | None = None  # None: no profile, the feed's order
    reason: str = ""
    must_read: bool = False
    parts: dict[str, float] = field(default_factory=dict)  # pos, neg, kw, cat


def decay(at: str, half_life_days: float, now: datetime | None = None) -> float:
    if not at or half_life_days <= 0:
        return 1.0
    try:
        t = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return 1.0
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    age = max(0.0, ((now or datetime.now(UTC)) - t).total_seconds() / 86400)
    return float(0.5 ** (age / half_life_days))


def _short(title: str, n: int = 70) -> str:
    title = " ".join((title or "").split())
    return title if len(title) <= n else title[: n - 1].rstrip() + "…"


def rank(candidates: Sequence, profile: Profile, vectors: Callable[[list[tuple[str, str]]], np.ndarray], *,
         keyword_match: Callable | None = None, must_read: int = 3, must_read_min: float = 0.45,
         weights: Weights = DEFAULT_WEIGHTS) -> list[Ranked]:
    """`candidates`: PaperMeta (key, title, abstract, categories, primary_category) in the feed's order.
    `vectors([(key, text), …])`: unit vectors, one row each (cached by key). Returns them best first."""
    if not profile.active or not candidates:
        return [Ranked(c.key) for c in candidates]
    cand = vectors([(c.key, paper_text(c.title, c.abstract)) for c in candidates])
    anchors = profile.positives + profile.negatives
    av = vectors([(a.key, a.text) for a in anchors]) if anchors else np.zeros((0, cand.shape[1]), np.float32)
    npos = len(profile.positives)
    P, N = av[:npos], av[npos:]
    wp = np.array([a.weight for a in profile.positives], np.float32)
    wn = np.array([a.weight for a in profile.negatives], np.float32)
    sp = cand @ P.T if npos else np.zeros((len(candidates), 0), np.float32)  # (c, p)
    sn = cand @ N.T if len(wn) else np.zeros((len(candidates), 0), np.float32)
    with_cats = [(a, w) for a, w in zip(profile.positives, wp, strict=True) if a.categories]
    cats_total = float(sum(w for _, w in with_cats))
    against = [(a, w) for a, w in zip(profile.negatives, wn, strict=True) if a.categories] if weights.cat_neg else []
    out: list[Ranked] = []
    for i, c in enumerate(candidates):
        parts: dict[str, float] = {}
        reasons: list[str] = []
        if npos:
            weighted = sp[i] * wp
            j = int(np.argmax(weighted))
            pos = (weights.pos_max * float(weighted[j])
                   + (1 - weights.pos_max) * float(weighted.sum() / max(wp.sum(), 1e-9)))
            parts["pos"] = pos
            a = profile.positives[j]
            mark = "👍 " if a.kind == "👍" else ""
            reasons.append(f"close to {mark}“{_short(a.title)}” ({float(sp[i, j]):.2f})")
        else:
            pos = 0.0
        neg = 0.0
        if len(wn):
            weighted = sn[i] * wn
            j = int(np.argmax(weighted))
            neg = float(weighted[j])
            parts["neg"] = neg
        kw = 0.0
        if keyword_match is not None:
            matched = list(keyword_match(c) or [])
            if matched:
                kw = weights.kw * min(KW_CAP, len(matched))
                parts["kw"] = kw
                reasons.append("keyword " + ", ".join(f"'{m}'" for m in matched[:KW_CAP]))
        cat = 0.0
        if with_cats:
            # the candidate's category (any it lists) that most of the positives list too (less the 👎 listing it)
            mine = (c.categories or [c.primary_category]) if weights.cat_any else \
                [c.primary_category or (c.categories[0] if c.categories else "")]
            shares = {k: sum(float(w) for a, w in with_cats if k in a.categories)
                      - sum(float(w) for a, w in against if k in a.categories) for k in mine if k}
            best = max(shares, key=lambda k: shares[k], default="")
            if best and shares[best]:
                cat = weights.cat * shares[best] / cats_total
                parts["cat"] = cat
                if cat > 0:
                    n_cat = sum(best in a.categories for a, _ in with_cats)
                    reasons.append(f"category {best} ({n_cat} of {len(with_cats)} seeds/👍)")
                else:
                    reasons.append(f"category {best} (more 👎 than seeds/👍), ranked down")
        if len(wn):
            j = int(np.argmax(sn[i] * wn))
            a = profile.negatives[j]
            if float(sn[i, j]) >= NEG_SHOWN:
                what = "not interested" if a.label == "not interested" else "👎"
                reasons.append(f"resembles {what} “{_short(a.title)}” ({float(sn[i, j]):.2f}), ranked down")
        score = pos - weights.neg * neg + kw + cat
        out.append(Ranked(c.key, round(score, 4), "; ".join(reasons) or "no seed or rating is close", parts=parts))
    order = sorted(range(len(out)), key=lambda k: -out[k].score)  # stable: ties keep the feed's order
    ranked = [out[k] for k in order]
    for r in ranked[:must_read]:
        if r.score is not None and r.score >= must_read_min:
            r.must_read = True
    return ranked


class PaperVectors:
    """Unit vectors of papers' title + abstract. The ingest writer stores one per paper (`ingest.pipeline`); what is
    missing (a seed, a paper from before that) is embedded here once and stored. When every vector asked for is
    stored, the embedding model is not even loaded (the lookup is by the model's name)."""

    def __init__(self, store, embedder):
        self.store, self.embedder = store, embedder
        self.embedded = 0  # texts embedded by this object (the rest came from the store)

    def __call__(self, items: list[tuple[str, str]]) -> np.ndarray:
        if not items:
            return np.zeros((0, self.embedder.dimension), np.float32)
        have = self.store.vectors([k for k, _ in items], self.embedder.name, by_name=True)
        if any(k not in have or have[k][0] != text_sha(t) for k, t in items) or \
                len({v.shape for _, v in have.values()}) > 1:
            have = self._fill(items)
        return np.stack([have[k][1] for k, _ in items])

    def _fill(self, items: list[tuple[str, str]]) -> dict:
        ident = self.embedder.identity
        have = self.store.vectors([k for k, _ in items], ident)
        missing = [(k, t) for k, t in items if k not in have or have[k][0] != text_sha(t)]
        if missing:
            uniq = dict(missing)
            vecs = np.asarray(self.embedder.embed(list(uniq.values())), dtype=np.float32)
            vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)
            rows = [(k, text_sha(t), v) for (k, t), v in zip(uniq.items(), vecs, strict=True)]
            self.store.put_vectors(rows, ident)
            self.embedded += len(rows)
            for k, sha, v in rows:
                have[k] = (sha, v)
        return have
