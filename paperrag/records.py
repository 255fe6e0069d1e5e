"""The records every room shares (see DESIGN.md › Records): what flows through ingest, and the typed records the
catalog returns.

Plain dataclasses: cheap to build in hot loops, easy to serialise into the SQLite catalog and Chroma metadata.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Literal

ChunkKind = Literal["body", "caption", "references", "appendix"]

# Version of what parsing + chunking make of a PDF. Bump it when a change gives better chunks for PDFs already
# indexed: papers stored with an older version are parsed again when next ingested, or all at once with
# `paperrag reindex --reparse`. 2: table cells hang on their caption instead of sitting inside paragraphs.
PARSER_VERSION = 2


class Action(str, Enum):
    """What ingest decided about one candidate paper in one run."""

    KEPT = "kept"  # new or changed: indexed (or about to be)
    SKIPPED = "skipped"  # not wanted: no keyword match, replacement, negative keyword, ...
    ALREADY = "already"  # same id+version+content already indexed: nothing touched
    REPLACED = "replaced"  # a newer version replaced the older one's chunks
    FAILED = "failed"  # could not be ingested; the reason says why


@dataclass
class PaperMeta:
    """Everything known about a paper before its full text is read."""

    arxiv_id: str  # without version: "2506.19850" or "hep-th/9901001"; local PDFs: "local:<sha12>"
    version: int = 1
    title: str = ""
    authors: list[str] = field(default_factory=list)
    abstract: str = ""  # clean: no RSS prefix, hyphenation and ligatures repaired
    categories: list[str] = field(default_factory=list)
    primary_category: str = ""
    published: str = ""  # ISO date (YYYY-MM-DD) of v1
    updated: str = ""  # ISO date of this version
    announced: str = ""  # ISO date of the RSS announcement, when known
    announce_type: str = ""  # new / cross / replace / replace-cross (RSS only)
    pdf_url: str = ""
    abs_url: str = ""
    code_links: list[str] = field(default_factory=list)
    license: str = ""
    doi: str = ""
    comment: str = ""
    source: Literal["rss", "api", "local", "ids", "query"] = "api"
    local_path: str = ""  # for local PDFs

    @property
    def key(self) -> str:
        return f"{self.arxiv_id}v{self.version}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Block:
    """A run of text on one page: paragraph, heading or caption, in reading order."""

    text: str
    page: int  # 1-based
    section: str  # section path, e.g. "3 Method › 3.2 Attention"; "" before the first heading
    kind: ChunkKind = "body"


@dataclass
class ParsedPdf:
    blocks: list[Block]
    page_count: int
    title: str = ""
    arxiv_stamp: str = ""  # e.g. "arXiv:1706.03762v7 [cs.CL] 6 Dec 2017", when the PDF carries one
    text_chars: int = 0


@dataclass
class Chunk:
    """One embeddable unit: fits the embedder's window, never crosses a section."""

    text: str  # as indexed and embedded, starting with the "title › section" prefix
    section: str
    page_start: int
    page_end: int
    kind: ChunkKind
    n_tokens: int  # word pieces incl. special tokens, as the embedder counts them
    ordinal: int = 0  # position in the paper


@dataclass
class Decision:
    run_id: int
    paper: str  # paper key (id + version) or the raw input that failed (URL, path, id)
    action: Action
    reason: str  # a sentence a person can read
    title: str = ""


# --- stored records: what the catalog returns (typed, never raw sqlite rows) ---
@dataclass
class PaperRecord:
    """A row of `papers`: the metadata plus where the paper stands in the index."""

    key: str
    arxiv_id: str
    version: int
    title: str = ""
    authors: list[str] = field(default_factory=list)
    abstract: str = ""
    categories: list[str] = field(default_factory=list)
    primary_category: str = ""
    published: str = ""
    updated: str = ""
    announced: str = ""
    announce_type: str = ""
    pdf_url: str = ""
    abs_url: str = ""
    code_links: list[str] = field(default_factory=list)
    license: str = ""
    doi: str = ""
    comment: str = ""
    source: str = ""
    local_path: str = ""
    content_sha256: str = ""  # of the PDF the chunks came from ("" = abstract only)
    status: str = "indexing"  # indexing | indexed | failed | superseded
    fulltext: bool = False
    n_pages: int = 0
    n_chunks: int = 0
    embedder: str = ""
    error: str = ""
    created_at: str = ""
    updated_at: str = ""
    parser: int = 0  # PARSER_VERSION the chunks came from (0 = abstract only or older)

    @property
    def meta(self) -> PaperMeta:
        names = PaperMeta.__dataclass_fields__
        return PaperMeta(**{k: v for k, v in asdict(self).items() if k in names})


@dataclass
class ChunkRecord:
    """A row of `chunks`: one embedded unit of a paper."""

    id: str  # paper key + '#' + ordinal
    paper_key: str
    ordinal: int
    section: str
    page_start: int
    page_end: int
    kind: str
    n_tokens: int
    text: str  # as embedded: starts with the `title › section` line

    def to_chunk(self) -> Chunk:
        return Chunk(self.text, self.section, self.page_start, self.page_end, self.kind, self.n_tokens,  # type: ignore[arg-type]
                     self.ordinal)


@dataclass
class RunRecord:
    """A row of `runs`: one ingest/daily run."""

    id: int
    command: str
    started_at: str
    finished_at: str
    status: str  # running | done | failed | interrupted
    summary: dict = field(default_factory=dict)  # counts, notes, seconds, chunks_written


@dataclass
class DecisionRecord:
    """A row of `decisions`: what a run decided about one candidate, with a reason a person can read."""

    id: int
    run_id: int
    paper: str
    action: str
    reason: str
    title: str = ""
    ts: str = ""


@dataclass
class SeedRecord:
    """A row of `seeds`: one paper of the reading list that drives the ranking (`paperrag seeds add`)."""

    id: int
    ident: str  # arxiv:<id> | doi:<doi> | title:<normalised title>: what makes two seeds the same
    arxiv_id: str = ""
    doi: str = ""
    title: str = ""
    abstract: str = ""
    paper_key: str = ""  # the catalog paper it matched ("" = kept with its own text)
    source: str = ""  # the file or input it came from
    added_at: str = ""

    @property
    def text(self) -> str:
        """What is embedded for it: title + abstract."""
        return f"{self.title}. {self.abstract}".strip(". ") if self.abstract else self.title


@dataclass
class RatingRecord:
    """A row of `ratings`: a person's 👍 (+1) or 👎 / not interested (-1) on a paper; the latest wins."""

    arxiv_id: str
    value: int  # +1 or -1
    label: str = ""  # "up" | "down" | "not interested"
    title: str = ""
    rated_at: str = ""  # ISO UTC
