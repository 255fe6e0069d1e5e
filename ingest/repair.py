"""`paperrag doctor --repair`: rebuild what `indexes.integrity.check_stores` found broken, from the catalog's chunk
rows and the PDF cache. Nothing is downloaded: a paper whose chunks must be cut again and whose PDF is not cached
is named, with the command that fetches it.

Order: papers whose chunk rows are damaged are parsed again first (their new chunks are then in the catalog),
then the vector store (a new collection when it cannot be read, else only the named papers), then the derived
caches are deleted and rebuilt, because a dense cache would otherwise copy the old rows of a repaired paper.
Runs under the ingest writer lock, so it never races an ingest.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from indexes import integrity as I
from paperrag.components import Components
from paperrag.progress import NullProgress, ProgressSink


@dataclass
class RepairReport:
    done: list[str] = field(default_factory=list)  # one line per action taken
    left: list[str] = field(default_factory=list)  # what could not be repaired, with the command that can


def repair_stores(parts: Components, check: I.StoreCheck, *, progress: ProgressSink | None = None,
                  reopen=lambda: None) -> RepairReport:
    """Act on `check.problems`. `reopen()` tells the caller to forget its open collection (after a rebuild)."""
    from ingest.pipeline import WriterLock

    progress = progress or NullProgress()
    out = RepairReport()
    settings = parts.settings
    wants = {p.repair for p in check.problems}
    if I.RESTORE_CATALOG in wants:
        out.left.append(f"catalog.sqlite is damaged: {I.RESTORE_CATALOG}")
        return out
    with WriterLock(settings.home / ".ingest.lock"):
        reparse = sorted({k for p in check.problems if p.repair == I.REPARSE_PAPERS for k in p.papers})
        if reparse:
            _reparse(parts, reparse, out, progress)
        if I.REBUILD_VECTORS in wants:
            _rebuild_vectors(parts, out, progress, reopen)
        else:
            reembed = sorted({k for p in check.problems if p.repair == I.REEMBED_PAPERS for k in p.papers})
            if reembed:
                _reembed(parts, reembed, out, progress)
        if check.problems:
            _drop_derived(settings, parts.catalog, out)
    return out


def _reparse(parts: Components, keys: list[str], out: RepairReport, progress: ProgressSink) -> None:
    from ingest.pipeline import Candidate, Ingestor

    catalog, cache = parts.catalog, parts.pdf_cache
    candidates = []
    for key in keys:
        row = catalog.get_paper(key)
        cached = cache.path_for(row.content_sha256) if row and row.content_sha256 else None
        if cached is not None and cached.exists():
            local = cached
        elif row is not None and row.local_path and Path(row.local_path).exists():
            local = Path(row.local_path)
        else:
            out.left.append(f"{key}: its chunk rows are damaged and its PDF is not in the cache; "
                            f"`paperrag delete {key}` then `paperrag ingest {row.arxiv_id if row else key}` "
                            "fetches it again")
            continue
        catalog.mark_indexing(row.meta)  # the next step (or, if this is killed, the next ingest) redoes it
        candidates.append(Candidate(row.meta, local))
    if not candidates:
        return
    report = Ingestor(parts, progress=progress, lock=False).run("doctor --repair", candidates)
    for d in report.decisions:
        out.done.append(f"{d.paper}: parsed again from the PDF cache ({d.reason})")


def _rebuild_vectors(parts: Components, out: RepairReport, progress: ProgressSink, reopen) -> None:
    from ingest.reindex import reindex_all

    settings = parts.settings
    chroma = Path(settings.chroma_dir)
    reopen()
    if not settings.index.chroma_host and chroma.exists():
        try:
            from indexes.vector_store import drop_collection

            drop_collection(settings)
        except Exception:  # noqa: BLE001 - unreadable: set the whole directory aside, it is rebuilt below
            aside = chroma.with_name(f"chroma.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            chroma.rename(aside)
            out.done.append(f"moved the unreadable vector store to {aside} (delete it when you like)")
    n_papers, n_chunks = reindex_all(parts, progress=progress)
    reopen()
    out.done.append(f"vector store rebuilt from the catalog: {n_papers} papers, {n_chunks} chunks re-embedded")


def _reembed(parts: Components, keys: list[str], out: RepairReport, progress: ProgressSink) -> None:
    from indexes.vector_store import delete_paper_chunks, write_chunks

    catalog, embedder, collection = parts.catalog, parts.embedder, parts.collection
    progress.start("papers", total=len(keys), description="Re-embedding papers")
    for key in keys:
        delete_paper_chunks(collection, key)
        row = catalog.get_paper(key)
        if row is None or row.status != "indexed":
            out.done.append(f"{key}: removed vectors of a paper the catalog does not index")
        else:
            records = catalog.chunks_of(key)
            chunks = [r.to_chunk() for r in records]
            write_chunks(collection, [r.id for r in records], row.meta, chunks,
                         embedder.embed([c.text for c in chunks]))
            out.done.append(f"{key}: {len(chunks)} chunks re-embedded from the catalog")
        progress.advance("papers")
    progress.stop("papers")
    _remove_strays(collection, catalog)
    catalog.bump_corpus_version()


def _remove_strays(collection, catalog) -> None:
    """Vectors whose ids are not `paper#n` of a stored paper's chunks (a paper deleted from the catalog only)."""
    stray = []
    for got in I._iter_collection(collection, []):
        for cid in got["ids"]:
            key = cid.split("#")[0]
            row = catalog.get_paper(key)
            if row is None or row.status not in ("indexed", "indexing"):
                stray.append(cid)
    if stray:
        collection.delete(ids=stray)


def _drop_derived(settings, catalog, out: RepairReport) -> None:
    root = Path(settings.bm25_dir) / "segments"
    dropped = root.is_dir()
    if dropped:  # the whole segment tree: the next update is a full build from the catalog (+ the vector store)
        shutil.rmtree(root, ignore_errors=True)
        out.done.append("deleted the keyword index and dense cache segments; rebuilt from the catalog now")
    catalog.bump_corpus_version()  # a process that holds the old index in memory rebuilds it too
