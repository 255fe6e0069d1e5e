"""Mini-corpora for tests: generated PDFs ingested through the real pipeline (PyMuPDF, MiniLM, Chroma), or
papers written straight into the catalog and the vector store when the test is about retrieval only.

    corpus = build_corpus(tmp_path_factory.mktemp("ask"), embedder, [
        Paper("a", "Sparse Widget Attention", "2405.00001", seed=21, sections=[("4 Sparse attention", SPARSE)]),
        Paper("b", "Graph Crawlers for Citation Search", "2405.00002", seed=22, category="cs.IR"),
    ])
    corpus.settings, corpus.keys  # Settings(home=root/"home"), ["2405.00001v1", "2405.00002v1"]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakes.pdfs import make_paper_pdf


@dataclass(frozen=True)
class Paper:
    """One generated paper: `make_paper_pdf` arguments; `sections` are (heading, text) with real sentences."""

    name: str  # file stem of its PDF
    title: str
    arxiv_id: str
    seed: int = 0
    category: str = "cs.CL"
    sections: Sequence[tuple[str, str]] = ()
    version: int = 1

    @property
    def key(self) -> str:
        return f"{self.arxiv_id}v{self.version}"

    def write(self, folder: Path) -> Path:
        return make_paper_pdf(folder / f"{self.name}.pdf", title=self.title, arxiv_id=self.arxiv_id,
                              version=self.version, category=self.category, seed=self.seed,
                              extra_sections=list(self.sections))


@dataclass
class MiniCorpus:
    settings: Any  # paperrag.settings.Settings
    keys: list[str]  # paper keys, in the order the papers were given
    pdfs: list[Path]
    report: Any  # ingest.pipeline.RunReport
    root: Path = field(default=Path("."))


def ingest_paths(settings, embedder, *paths: Path):
    """(library, run report) of ingesting local PDFs / folders as `paperrag ingest PATH…` does; the Library
    is closed again afterwards (its components reopen on use)."""
    from paperrag.library import Library

    with Library(settings, embedder=embedder) as lib:
        return lib, lib.ingest([str(p) for p in paths]).report


def ingest(settings, embedder, *paths: Path):
    """The run report of ingesting local PDFs / folders."""
    return ingest_paths(settings, embedder, *paths)[1]


def build_corpus(root: Path, embedder, papers: Sequence[Paper], *, settings=None, check: bool = True) -> MiniCorpus:
    """Write `papers` as PDFs under root/pdfs and ingest them into `settings` (default: a fresh home at
    root/home). With `check`, every paper must have been kept."""
    if settings is None:
        from paperrag.settings import Settings

        settings = Settings(home=root / "home")
    pdfs = [p.write(root / "pdfs") for p in papers]
    report = ingest(settings, embedder, root / "pdfs")
    if check:
        assert report.counts == {"kept": len(papers)}, [(d.paper, d.reason) for d in report.decisions]
    return MiniCorpus(settings, [p.key for p in papers], pdfs, report, root)


def index_state(settings, embedder) -> dict:
    """Everything a reader sees: catalog chunk rows and the Chroma records, keyed by chunk id."""
    from indexes.catalog import Catalog
    from indexes.vector_store import open_collection

    catalog = Catalog(settings.catalog_path)
    try:
        rows = {c.id: (c.text, c.page_start, c.page_end, c.section) for c in catalog.iter_chunks()}
        papers = {r.key: r.status for r in catalog.papers()}
    finally:
        catalog.close()
    collection = open_collection(settings, embedder.identity)
    got = collection.get(include=["documents"])
    vectors = dict(zip(got["ids"], got["documents"], strict=True))
    return {"rows": rows, "vectors": vectors, "papers": papers}


def page_text(settings, key: str, page: int) -> str:
    """Every chunk text of `page` (the chunks whose page range covers it), straight from the catalog."""
    from indexes.catalog import Catalog

    cat = Catalog(settings.catalog_path)
    try:
        return "\n".join(c.text for c in cat.chunks_on_page(key, page))
    finally:
        cat.close()


# ------------------------------------------------------------------------------------------ without the pipeline
def section_chunks(title: str, sections) -> list:
    """One chunk per (section, kind, body), on pages 1, 2, …, with the `title › section` prefix."""
    from paperrag.records import Chunk

    return [Chunk(text=f"{title} › {sec}\n{body}", section=sec, page_start=o + 1, page_end=o + 1, kind=kind,
                  n_tokens=len(body.split()), ordinal=o) for o, (sec, kind, body) in enumerate(sections)]


def add_paper(settings, embedder, catalog, collection, arxiv_id, title, cats, published, sections,
              version: int = 1) -> str:
    """Write a paper of (section, kind, body) chunks into `catalog` and `collection`; its key."""
    from indexes.catalog import chunk_id
    from indexes.vector_store import write_chunks
    from paperrag.records import PaperMeta

    meta = PaperMeta(arxiv_id=arxiv_id, version=version, title=title, categories=cats, primary_category=cats[0],
                     published=published, announced=published, abstract=sections[0][2][:120])
    chunks = section_chunks(title, sections)
    catalog.mark_indexing(meta)
    ids = [chunk_id(meta.key, c.ordinal) for c in chunks]
    write_chunks(collection, ids, meta, chunks, embedder.embed([c.text for c in chunks]))
    catalog.commit_paper(meta.key, chunks, content_sha256="x", fulltext=True, n_pages=len(chunks),
                         embedder=embedder.identity)
    return meta.key


def add_abstract_only(settings, embedder, arxiv_id: str, abstract: str, *, title: str = "Tiny Widget Nets",
                      category: str = "cs.LG", published: str = "2024-06-20") -> str:
    """A paper whose PDF could not be fetched: its abstract is its only chunk (as the pipeline stores it after a
    404). Returns its key."""
    from indexes.catalog import Catalog, chunk_id
    from indexes.vector_store import open_collection, write_chunks
    from paperrag.records import Chunk, PaperMeta

    meta = PaperMeta(arxiv_id=arxiv_id, version=1, title=title, abstract=abstract, categories=[category],
                     primary_category=category, published=published)
    chunks = [Chunk(text=f"{meta.title} › Abstract\n{abstract}", section="Abstract", page_start=1, page_end=1,
                    kind="body", n_tokens=30, ordinal=0)]
    catalog = Catalog(settings.catalog_path)
    catalog.mark_indexing(meta)
    write_chunks(open_collection(settings, embedder.identity), [chunk_id(meta.key, 0)], meta, chunks,
                 embedder.embed([c.text for c in chunks]))
    catalog.commit_paper(meta.key, chunks, content_sha256="", fulltext=False, n_pages=0,
                         embedder=embedder.identity, error="download: HTTP 404")
    catalog.close()
    return meta.key
