"""paperrag's kernel: the typed settings, the error root, the records and the Library (the public API).

    from paperrag import Library, Settings
    lib = Library(Settings())
    lib.ask("How does PaSa train its crawler?").consume().answer

Names are imported lazily: the rooms (`ingest/`, `indexes/`, `rag/`) import `paperrag.settings` and
`paperrag.records` without loading the Library, which sits above them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from paperrag.offline import apply_defaults

apply_defaults()  # before any library that would call home is imported

__all__ = ["Library", "PaperragError", "Settings"]

if TYPE_CHECKING:
    from paperrag.errors import PaperragError
    from paperrag.library import Library
    from paperrag.settings import Settings


def __getattr__(name: str) -> Any:
    if name == "Library":
        from paperrag.library import Library

        return Library
    if name == "Settings":
        from paperrag.settings import Settings

        return Settings
    if name == "PaperragError":
        from paperrag.errors import PaperragError

        return PaperragError
    raise AttributeError(f"module 'paperrag' has no attribute {name!r}")
