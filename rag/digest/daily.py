"""The digest of a day: build it from the catalog, compose the written parts from the papers' cards, render md +
html, the run report and the Atom feed. `Library.daily` / `Library.digest` orchestrate (feeds → ingest → this).

A day already done exits fast: its manifest records the papers, prompts and model it was written with; when
all match and the files exist, nothing is ingested, generated or written again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from indexes.catalog import Catalog
from paperrag.errors import LibraryError
from paperrag.progress import NullProgress, ProgressSink
from rag.digest.key_findings import key_findings
from rag.digest.model import Digest, PaperEntry
from rag.digest.writer import DigestWriter
from rag.prompts import load_prompt

log = logging.getLogger(__name__)

PROMPTS_BY_FORMAT = {"table": ["translate_title", "digest_span"], "report": ["digest_span"],
                     "monitor": ["digest_span"]}


@dataclass
class DailyResult:
    date: str
    digest: Digest
    files: dict[str, Path] = field(default_factory=dict)
    llm_calls: int = 0
    seconds: float = 0.0
    already_done: bool = False
    sample: bool = False
    outcomes: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    receipts: list[dict] = field(default_factory=list)  # per category and day (ingest.sources.receipt)
    run_id: int | None = None
    updates: list[dict] = field(default_factory=list)  # papers we had that got a new version (update_records)
    caught_up: list[DailyResult] = field(default_factory=list)  # missed announcement days written first


def empty_digest(settings, day: str) -> Digest:
    return Digest(day, settings.digest.language, settings.sources.categories, settings.sources.keywords)


def build_digest(settings, catalog: Catalog, day: str, keys: list[str], *, decisions=(), empty_reason: str = "",
                 language: str | None = None, ranking=None) -> Digest:
    """The day's digest of `keys` in their order; `ranking` ({key: rag.rank.Ranked}) adds score, reason and the
    "must read" label to each entry."""
    from ingest.filters import KeywordFilter

    keyword_filter = KeywordFilter.from_settings(settings.sources)
    digest = Digest(day, language or settings.digest.language, list(settings.sources.categories),
                    list(settings.sources.keywords), decisions=list(decisions), empty_reason=empty_reason)
    for key in keys:
        row = catalog.get_paper(key)
        if row is None or row.status != "indexed":
            continue
        meta = row.meta
        digest.papers.append(PaperEntry(
            n=len(digest.papers) + 1, meta=meta, matched_keywords=keyword_filter.decide(meta).matched,
            fulltext=row.fulltext, key_findings=key_findings(meta.abstract)))
        ranked = (ranking or {}).get(key)
        if ranked is not None and ranked.score is not None:
            entry = digest.papers[-1]
            entry.score, entry.reason, entry.must_read = ranked.score, ranked.reason, ranked.must_read
    return digest


def write_day(settings, digest: Digest, writer: DigestWriter, *, formats=None,
              progress: ProgressSink | None = None) -> DailyResult:
    """Fill the written parts (cached) for the formats from the papers' cards, render, write; the run report and
    feed too. Each paper's card is read once (the writer keeps it); every format composes from it."""
    from rag.digest.feed import write_feed
    from rag.digest.render import write_digest, write_run_report

    progress = progress or NullProgress()
    writer.progress = progress
    formats = list(formats or settings.digest.formats)
    language = digest.language
    steps = len(digest.papers) * (1 + len(formats)) + ("report" in formats)
    progress.start("digest", total=steps, description=f"Writing the digest of {digest.date}")
    for entry in digest.papers:
        progress.update("digest", description=f"card: {entry.meta.key} {entry.meta.title[:40]}")
        writer.card(entry.meta)
        progress.advance("digest")
    analyses: dict[str, dict[str, object]] = {}
    for fmt in formats:
        for entry in digest.papers:
            progress.update("digest", description=f"{fmt}: {entry.meta.key} {entry.meta.title[:40]}")
            if fmt == "table":
                entry.title_translated, _ = writer.title(entry.meta, language)
                entry.summary = writer.table_summary(entry.meta, language)
            else:
                analyses.setdefault(fmt, {})[entry.meta.key] = writer.analysis(entry.meta, fmt, language)
            progress.advance("digest")
    for entry in digest.papers:
        entry.key_findings = writer.key_findings(entry.meta, language) or entry.key_findings
    if "report" in formats and digest.papers:
        progress.update("digest", description="executive summary")
        digest.executive_summary = writer.executive_summary(digest)
        progress.advance("digest")
    progress.stop("digest")

    files: dict[str, Path] = {}
    out_root = settings.digests_dir
    if getattr(settings.digest, "figures", True):
        for entry in digest.papers:
            try:
                entry.figure = writer.key_figure(entry.meta, out_root / digest.date)
            except Exception:  # noqa: BLE001 - a figure is an extra: the digest is written without it
                log.warning("%s: key figure failed", entry.meta.key, exc_info=True)
                entry.figure = None
    for fmt in formats:
        for entry in digest.papers:
            entry.analysis = analyses.get(fmt, {}).get(entry.meta.key)
        for kind, path in write_digest(digest, fmt, out_root, reader=settings.ui.app_url).items():
            files[f"{fmt}.{kind}"] = path
    files["run-report"] = write_run_report(digest, out_root)
    files["feed"] = write_feed(out_root)
    return DailyResult(digest.date, digest, files=files, llm_calls=writer.stats.llm_calls,
                       outcomes=dict(writer.stats.outcomes))


def regenerate(settings, catalog: Catalog, day: str, writer: DigestWriter, *, formats=None,
               language: str | None = None, progress: ProgressSink | None = None, rank=None) -> DailyResult:
    """`paperrag digest`: the digest of a day from what is stored (cache hits make it instant). `rank`: the
    Library's ranking (keys → rag.rank.Ranked list, best first); the day is ordered by it."""
    manifest_path = settings.digests_dir / day / "manifest.json"
    keys = [p.key for p in catalog.papers_announced(day)]
    decisions = []
    if manifest_path.exists():
        stored = json.loads(manifest_path.read_text())
        keys = [k for k in stored.get("papers", []) if k in set(keys)] or keys
    if not keys:
        raise LibraryError(f"no indexed papers announced on {day}",
                           hint="run `paperrag daily` (or ingest that day) first")
    ranking = None
    if rank is not None:
        ranked = rank(keys)
        keys, ranking = [r.key for r in ranked], {r.key: r for r in ranked}
    digest = build_digest(settings, catalog, day, keys[: settings.digest.max_papers or None], decisions=decisions,
                          language=language, ranking=ranking)
    return write_day(settings, digest, writer, formats=formats, progress=progress)


# ------------------------------------------------------------------ versions and earlier days
def _arxiv_id(key: str) -> str:
    from ingest.arxiv_ids import parse_arxiv_id

    try:
        return parse_arxiv_id(key)[0]
    except ValueError:
        return key


def digested_before(digests_dir: Path, day: str) -> dict[str, str]:
    """arXiv id -> the earlier day whose digest already has it (from the days' manifests)."""
    seen: dict[str, str] = {}
    if not digests_dir.exists():
        return seen
    for path in sorted(digests_dir.glob("*/manifest.json")):
        earlier = path.parent.name
        if earlier >= day:
            continue
        try:
            keys = json.loads(path.read_text()).get("papers", [])
        except (OSError, ValueError):
            continue
        for key in keys:
            seen.setdefault(_arxiv_id(key), earlier)
    return seen


def update_records(catalog: Catalog, updates: dict[str, str]) -> list[dict]:
    """For each paper we had that came with a new version: 'updated (v1 → v2)' and what changed."""
    out = []
    for new_key, old_key in updates.items():
        new, old = catalog.get_paper(new_key), catalog.get_paper(old_key)
        if new is None or old is None:
            continue
        changed = [name for name, a, b in (
            ("title", old.title, new.title), ("abstract", old.abstract, new.abstract),
            ("comments", old.comment, new.comment), ("PDF", old.content_sha256, new.content_sha256)) if a != b]
        out.append({"key": new_key, "previous": old_key, "arxiv_id": new.arxiv_id, "title": new.title,
                    "from": old.version, "to": new.version, "status": new.status, "changed": changed,
                    "text": f"updated (v{old.version} → v{new.version})"
                            + (f": {', '.join(changed)} changed" if changed else ": nothing visible changed")})
    return out


# ------------------------------------------------------------------ the day's manifest
def manifest(settings, keys: list[str], writer: DigestWriter) -> dict:
    from rag.cards import CARD_FORMAT

    prompts = sorted({load_prompt(n).key for f in settings.digest.formats for n in PROMPTS_BY_FORMAT[f]})
    return {"papers": keys, "formats": sorted(settings.digest.formats), "language": settings.digest.language,
            "prompts": prompts, "card": CARD_FORMAT, "model": writer.model_id if keys else ""}


def already_done(out_dir: Path, manifest: dict, formats) -> bool:
    path = out_dir / "manifest.json"
    if not path.exists() or not manifest["papers"]:
        return False
    if json.loads(path.read_text()) != manifest:
        return False
    return all((out_dir / f"{fmt}.md").exists() and (out_dir / f"{fmt}.html").exists() for fmt in formats)


def write_manifest(out_dir: Path, manifest: dict) -> None:
    from rag.digest.io import atomic_write_text

    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))


def existing_files(out_dir: Path, settings) -> dict[str, Path]:
    files = {f"{fmt}.{ext}": out_dir / f"{fmt}.{ext}" for fmt in settings.digest.formats for ext in ("md", "html")}
    files["run-report"] = out_dir / "run-report.md"
    return {k: v for k, v in files.items() if v.exists()}


def empty_reason(plan, keys: list[str]) -> str:
    if keys:
        return ""
    notes = "; ".join(plan.notes)
    if plan.offline:
        return f"fetching the feeds failed: {notes}"
    if any("weekend" in n or "no announcements" in n for n in plan.notes):
        return f"arXiv announced nothing today (weekends and holidays have no feed): {notes}"
    if plan.pre_decisions:
        return "no announced paper matched the configured keywords and categories"
    return f"no papers: {notes}"
