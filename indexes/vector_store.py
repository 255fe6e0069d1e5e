"""Chroma: embedded PersistentClient under home, or a Chroma server (HttpClient) when index.chroma_host is set.

Several processes share the embedded store safely this way: one writer at a time (`ingest.pipeline.WriterLock`,
which opens the collection afresh once it holds the lock), and every `open_client` reads the directory afresh,
so a reader that reopens after a corpus-version change sees what the writer committed.

One collection; its metadata records the embedder identity so two models never mix in one index.
Chroma is always given embeddings: the collection has no embedding function of its own.
"""

from __future__ import annotations

import os

import numpy as np

from paperrag.errors import PaperragError
from paperrag.records import Chunk, PaperMeta
from paperrag.settings import Settings

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

EMBEDDER_KEY = "paperrag_embedder"
# Chroma caps the records per call (max_batch_size); stay well below it.
WRITE_BATCH = 2000


class VectorIndexError(PaperragError, RuntimeError):
    """A problem with the vector index that the user must act on (message says how)."""


class EmbedderMismatch(VectorIndexError):
    pass


def open_client(settings: Settings):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.index.chroma_host:
        try:
            client = chromadb.HttpClient(
                host=settings.index.chroma_host, port=settings.index.chroma_port, settings=chroma_settings
            )
            client.heartbeat()
        except Exception as exc:
            raise VectorIndexError(
                f"Chroma server at {settings.index.chroma_host}:{settings.index.chroma_port} is not reachable "
                f"({type(exc).__name__}); start it with `chroma run --path DIR --port {settings.index.chroma_port}` "
                "or clear index.chroma_host to use the embedded index"
            ) from exc
        return client
    settings.chroma_dir.mkdir(parents=True, exist_ok=True)
    _forget_loaded(str(settings.chroma_dir))
    return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)


def _forget_loaded(path: str) -> None:
    """Make the next embedded client read the directory afresh. Chroma keeps one client per path per process
    with the index it loaded in memory; after another process wrote (a cron `paperrag ingest` while the web app
    is open) that client cannot find the new ids ("Error finding id"). Clients already handed out keep working."""
    from chromadb.api.client import SharedSystemClient

    with SharedSystemClient._refcount_lock:
        SharedSystemClient._identifier_to_system.pop(path, None)
        SharedSystemClient._identifier_to_refcount.pop(path, None)


def open_collection(settings: Settings, embedder_identity: str, *, client=None, create: bool = True):
    """The paper collection, refusing to mix embedders."""
    client = client or open_client(settings)
    name = settings.index.collection
    existing = {c.name if hasattr(c, "name") else str(c) for c in client.list_collections()}
    if name not in existing:
        if not create:
            return None
        return client.create_collection(
            name,
            metadata={EMBEDDER_KEY: embedder_identity},
            configuration={"hnsw": {"space": "cosine"}},
            embedding_function=None,
        )
    collection = client.get_collection(name, embedding_function=None)
    stored = (collection.metadata or {}).get(EMBEDDER_KEY, "")
    if stored and stored != embedder_identity:
        raise EmbedderMismatch(
            f"the index was built with embedder {stored!r} but embed.model is now {embedder_identity!r}: "
            "run `paperrag reindex` to re-embed every paper with the new model, or set embed.model back"
        )
    return collection


def count_vectors(settings: Settings) -> int:
    """Vectors in the paper collection (0 when it does not exist yet); loads no embedding model."""
    client = open_client(settings)
    names = {c.name if hasattr(c, "name") else str(c) for c in client.list_collections()}
    if settings.index.collection not in names:
        return 0
    return client.get_collection(settings.index.collection, embedding_function=None).count()


def drop_collection(settings: Settings) -> None:
    """Remove the paper collection (before `paperrag reindex` writes it again with another embedder)."""
    client = open_client(settings)
    if settings.index.collection in {c.name if hasattr(c, "name") else str(c) for c in client.list_collections()}:
        client.delete_collection(settings.index.collection)


def chunk_metadata(meta: PaperMeta, chunk: Chunk) -> dict:
    published = int(meta.published.replace("-", "")[:8]) if meta.published[:4].isdigit() else 0
    return {
        "arxiv_id": meta.arxiv_id,
        "version": meta.version,
        "paper_key": meta.key,
        "title": meta.title[:500],
        "section": chunk.section[:500],
        "page_start": chunk.page_start,
        "page_end": chunk.page_end,
        "kind": chunk.kind,
        "published": published,
        "primary_category": meta.primary_category,
        "categories": " " + " ".join(meta.categories) + " ",
        "ordinal": chunk.ordinal,
    }


def write_chunks(collection, ids: list[str], meta: PaperMeta, chunks: list[Chunk], vectors: np.ndarray) -> None:
    """Write through LlamaIndex's ChromaVectorStore: a paper is a LlamaIndex document (ref_doc_id = paper
    key), its chunks are nodes, so `VectorStoreIndex.from_vector_store(...)` works on our collection too."""
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

    store = _llama_store(collection)
    source = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id=meta.key)}
    for start in range(0, len(ids), WRITE_BATCH):
        end = start + WRITE_BATCH
        store.add([
            TextNode(id_=cid, text=chunk.text, embedding=vec.tolist(), metadata=chunk_metadata(meta, chunk),
                     relationships=source)
            for cid, chunk, vec in zip(ids[start:end], chunks[start:end], vectors[start:end], strict=True)
        ])


def delete_paper_chunks(collection, paper_key: str) -> None:
    _llama_store(collection).delete(ref_doc_id=paper_key)


def _llama_store(collection):
    from llama_index.vector_stores.chroma import ChromaVectorStore

    return ChromaVectorStore(chroma_collection=collection)
