"""One error root for everything a user can be told: `PaperragError`.

`str(error)` is one line naming the thing that is wrong; `error.hint` says how to fix it (may be empty).
`user_message(exc)` is what the CLI prints after "error: " and what the web app shows, so both say the same.
Every room's user-facing errors derive from it (keeping their old bases, e.g. ValueError, for callers).
"""

from __future__ import annotations


class PaperragError(Exception):
    """A failure a person can act on: the message names the thing, `hint` the fix."""

    hint: str = ""

    def __init__(self, message: str = "", *, hint: str = ""):
        super().__init__(" ".join(str(message).split()))  # always one line
        if hint:
            self.hint = " ".join(hint.split())


class ConfigError(PaperragError, ValueError):
    """paperrag.toml or a PAPERRAG_* variable is invalid."""


class StoreError(PaperragError, RuntimeError):
    """The data home cannot be used: not writable, from a newer paperrag, damaged."""


class LibraryError(PaperragError, ValueError):
    """A request about the library's papers that cannot be met (unknown id, nothing to do)."""


class ReaderError(LibraryError):
    """A page the local reader cannot show (unknown paper, no such page, a resolution it does not render)."""


class PdfMissingError(ReaderError):
    """The paper is in the catalog but its PDF is not in the local cache (deleted by hand, or abstract only).
    `paper` is its catalog record; `restore` how `Library.restore_pdf` can put it back: "copy" (from `source`, its
    local file), "download" (from `source`, its arXiv URL) or "" (it cannot: delete the paper and add it again)."""

    def __init__(self, message: str = "", *, hint: str = "", paper=None, restore: str = "", source: str = ""):
        super().__init__(message, hint=hint)
        self.paper = paper
        self.restore = restore
        self.source = source


EMPTY_LIBRARY = "no papers indexed yet: add some with `paperrag ingest …` (or the Library tab)"


def user_message(exc: BaseException) -> str:
    """The one line a person reads for `exc`: a PaperragError's message (+ its hint), else its type and first line."""
    first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
    if is_disk_full(exc) and not isinstance(exc, PaperragError):
        where = getattr(exc, "filename", None)
        return (f"the disk is full{f' (writing {where})' if where else ''}: free some space, then run it again "
                "(what was stored before is kept; an interrupted step is redone)")
    if isinstance(exc, PaperragError):
        message = first or type(exc).__name__
        hint = getattr(exc, "hint", "")
        return f"{message} ({hint})" if hint and hint not in message else message
    if isinstance(exc, (FileNotFoundError, PermissionError)) and getattr(exc, "filename", None):
        return f"{exc.strerror or type(exc).__name__}: {exc.filename}"
    return f"unexpected {type(exc).__name__}: {first}" if first else f"unexpected {type(exc).__name__}"


def is_user_error(exc: BaseException) -> bool:
    """Known failures are shown as one line; anything else also gets its traceback logged."""
    return isinstance(exc, (PaperragError, FileNotFoundError, PermissionError)) or is_disk_full(exc)


_DISK_FULL = ("no space left on device", "database or disk is full", "disk is full", "disk quota exceeded")


def is_disk_full(exc: BaseException | None) -> bool:
    """A full disk, however it surfaced: OSError ENOSPC/EDQUOT, SQLite's "database or disk is full", a library
    that wrapped either (Chroma's Rust core says "No space left on device") — anywhere in the cause chain."""
    import errno

    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(s in str(exc).lower() for s in _DISK_FULL):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False
