"""The user's library: list and delete papers (the CLI and the Gradio app call these)."""

from __future__ import annotations

from ingest.catalog import Catalog
from ingest.settings import Settings


class LibraryError(ValueError):
    pass


def resolve_keys(catalog: Catalog, paper: str) -> list[str]:
    """Paper keys for "2501.10120v2" (that version) or "2501.10120" (every stored version)."""
    from ingest.arxiv_ids import parse_arxiv_id

    if catalog.get_paper(paper) is not None:
        return [paper]
    try:
        arxiv_id, version = parse_arxiv_id(paper)
    except ValueError:
        raise LibraryError(f"not an arXiv id or paper key: {paper!r}") from None
    rows = catalog.versions_of(arxiv_id)
    keys = [r["key"] for r in rows if version is None or r["version"] == version]
    if not keys:
        raise LibraryError(f"no paper {paper} in the library (see `paperrag status`)")
    return keys


def delete_paper(settings: Settings, paper: str, *, embedder_identity: str | None = None) -> list[str]:
    """Remove a paper (all its versions when no version is given): vectors, chunk rows and catalog row.
    The cached PDF stays in the content-addressed cache, so re-adding it needs no download."""
    from ingest.vector_store import delete_paper_chunks, open_client

    catalog = Catalog(settings.catalog_path)
    keys = resolve_keys(catalog, paper)
    client = open_client(settings)
    collection = None
    if settings.index.collection in {c.name for c in client.list_collections()}:
        collection = client.get_collection(settings.index.collection, embedding_function=None)
    for key in keys:
        if collection is not None:
            delete_paper_chunks(collection, key)
        catalog.delete_paper(key)
    return keys
