"""What the engines (ingest, ask, compare, digest) receive from the Library: the components, built once.

`Components` is a Protocol so the rooms depend on this kernel module, not on `paperrag.library` (which imports
them all). `paperrag.Library` is the one implementation; every property is built on first use, so `search`
never loads an LLM and a fully cached digest loads no model at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from indexes.artifacts import ArtifactCache
    from indexes.catalog import Catalog
    from indexes.embedder import Embedder
    from indexes.feedback import FeedbackStore
    from paperrag.settings import Settings
    from rag.llm.base import LLM
    from rag.retrieval.retriever import Retriever


class Components(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def embedder(self) -> Embedder: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def artifacts(self) -> ArtifactCache: ...

    @property
    def feedback(self) -> FeedbackStore: ...  # seeds, ratings, paper-level vectors (written at ingest)

    @property
    def collection(self): ...  # the Chroma collection the ingest writes to

    @property
    def pdf_cache(self): ...

    @property
    def retriever(self) -> Retriever: ...

    @property
    def llm(self) -> LLM: ...

    @property
    def loaded_llm(self) -> LLM | None: ...  # `llm` if it is built already (never builds it)

    @property
    def model_id(self) -> str: ...  # "backend:model" of `llm`, known without loading the model
