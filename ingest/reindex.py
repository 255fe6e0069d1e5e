"""Rebuild the vector index from the catalog's chunk rows with the configured embedder (`reindex_all`), or parse
the cached PDFs again where a newer parser makes better chunks (`reparse_outdated`).

The chunk text is kept in the catalog, so a model change never needs the PDFs again. Chunks were fitted to
the old model's window: a new model with a smaller window would truncate them, so that is refused.
"""

from __future__ import annotations

from ingest.catalog import Catalog, row_to_meta
from ingest.embedder import Embedder
from ingest.progress import NullProgress, ProgressSink
from ingest.records import Chunk
from ingest.settings import Settings
from ingest.vector_store import VectorIndexError, open_client, open_collection, write_chunks


def reindex_all(settings: Settings, *, embedder: Embedder | None = None,
                progress: ProgressSink | None = None) -> tuple[int, int]:
    embedder = embedder or Embedder(settings.embed.model, device=settings.embed.device,
                                    batch_size=settings.embed.batch_size)
    progress = progress or NullProgress()
    catalog = Catalog(settings.catalog_path)
    papers = catalog.papers("indexed")
    longest = catalog.db.execute("SELECT MAX(n_tokens) FROM chunks").fetchone()[0] or 0
    if longest > embedder.max_tokens:
        raise VectorIndexError(
            f"{settings.embed.model} reads {embedder.max_tokens} word pieces but indexed chunks have up to "
            f"{longest}: re-ingest the papers (delete {settings.home}) so chunks are cut for the new model"
        )
    client = open_client(settings)
    if settings.index.collection in {c.name for c in client.list_collections()}:
        client.delete_collection(settings.index.collection)
    collection = open_collection(settings, embedder.identity, client=client)
    progress.start("papers", total=len(papers), description="Re-embedding papers")
    n_chunks = 0
    for row in papers:
        meta = row_to_meta(row)
        rows = catalog.db.execute(
            "SELECT * FROM chunks WHERE paper_key=? ORDER BY ordinal", (meta.key,)).fetchall()
        chunks = [Chunk(r["text"], r["section"], r["page_start"], r["page_end"], r["kind"], r["n_tokens"],
                        r["ordinal"]) for r in rows]
        vectors = embedder.embed([c.text for c in chunks])
        write_chunks(collection, [r["id"] for r in rows], meta, chunks, vectors)
        catalog.db.execute("UPDATE papers SET embedder=? WHERE key=?", (embedder.identity, meta.key))
        n_chunks += len(chunks)
        progress.advance("papers")
    progress.stop("papers")
    with catalog.transaction():
        catalog._bump_corpus_version()
    return len(papers), n_chunks


def reparse_outdated(settings: Settings, *, embedder: Embedder | None = None, progress: ProgressSink | None = None):
    """Parse, chunk and embed again every paper chunked by an older parser, from the PDF cache (a local paper
    from its file when the cache lost it; an arXiv paper is fetched again only when it is not cached). Runs as
    one ingest run: a paper that fails keeps its old chunks. Returns the RunReport (None when nothing is outdated)."""
    from pathlib import Path

    from ingest.download import PdfCache
    from ingest.pipeline import Candidate, Ingestor

    catalog = Catalog(settings.catalog_path)
    try:
        rows = catalog.outdated_papers()
    finally:
        catalog.close()
    if not rows:
        return None
    cache = PdfCache.from_settings(settings.pdf_dir, settings.fetch)
    candidates = []
    for row in rows:
        local = None
        if not row["pdf_url"] or cache.get(row["key"]) is None:
            sha = row["content_sha256"] or ""
            cached = cache.path_for(sha) if sha else None
            if cached is not None and cached.exists():
                local = cached
            elif row["local_path"] and Path(row["local_path"]).exists():
                local = Path(row["local_path"])
        candidates.append(Candidate(row_to_meta(row), local))
    ingestor = Ingestor(settings, embedder=embedder, progress=progress)
    try:
        return ingestor.run("reindex --reparse", candidates)
    finally:
        ingestor.catalog.close()
