"""Rebuild the vector index from the catalog's chunk rows with the configured embedder (`reindex_all`), or parse
the cached PDFs again where a newer parser makes better chunks (`reparse_outdated`).

The chunk text is kept in the catalog, so a model change never needs the PDFs again. Chunks were fitted to
the old model's window: a new model with a smaller window would truncate them, so that is refused.
"""

from __future__ import annotations

from indexes.vector_store import VectorIndexError, drop_collection, write_chunks
from paperrag.components import Components
from paperrag.progress import NullProgress, ProgressSink


def reindex_all(parts: Components, *, progress: ProgressSink | None = None) -> tuple[int, int]:
    """Drop the vector collection and write it again from the catalog's chunks with `parts.embedder`; the
    caller (`Library.reindex`) makes `parts.collection` open the new collection."""
    settings, embedder, catalog = parts.settings, parts.embedder, parts.catalog
    progress = progress or NullProgress()
    papers = catalog.papers("indexed")
    longest = catalog.max_chunk_tokens()
    if longest > embedder.max_tokens:
        raise VectorIndexError(
            f"{settings.embed.model} reads {embedder.max_tokens} word pieces but indexed chunks have up to "
            f"{longest}: re-ingest the papers (delete {settings.home}) so chunks are cut for the new model"
        )
    drop_collection(settings)
    collection = parts.collection
    progress.start("papers", total=len(papers), description="Re-embedding papers")
    n_chunks = 0
    for row in papers:
        meta = row.meta
        records = catalog.chunks_of(meta.key)
        chunks = [r.to_chunk() for r in records]
        vectors = embedder.embed([c.text for c in chunks])
        write_chunks(collection, [r.id for r in records], meta, chunks, vectors)
        catalog.set_embedder(meta.key, embedder.identity)
        n_chunks += len(chunks)
        progress.advance("papers")
    progress.stop("papers")
    catalog.bump_corpus_version()
    return len(papers), n_chunks


def reparse_outdated(parts: Components, *, progress: ProgressSink | None = None):
    """Parse, chunk and embed again every paper chunked by an older parser, from the PDF cache (a local paper
    from its file when the cache lost it; an arXiv paper is fetched again only when it is not cached). Runs as
    one ingest run: a paper that fails keeps its old chunks. Returns the RunReport (None when nothing is outdated)."""
    from pathlib import Path

    from ingest.pipeline import Candidate, Ingestor

    rows = parts.catalog.outdated_papers()
    if not rows:
        return None
    cache = parts.pdf_cache
    candidates = []
    for row in rows:
        local = None
        if not row.pdf_url or cache.get(row.key) is None:
            sha = row.content_sha256
            cached = cache.path_for(sha) if sha else None
            if cached is not None and cached.exists():
                local = cached
            elif row.local_path and Path(row.local_path).exists():
                local = Path(row.local_path)
        candidates.append(Candidate(row.meta, local))
    return Ingestor(parts, progress=progress).run("reindex --reparse", candidates)
