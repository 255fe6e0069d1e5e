"""glibc malloc settings for the long-running web app (`paperrag ui`).

Under load the app's resident memory grew while its live memory did not: tracemalloc saw the Python heap flat and
glibc's `mallinfo2` saw the bytes in use flat, but the *free* bytes glibc kept in its arenas grew run after run.
Each request's large transient buffers (embedding activations, float16→float32 sentence vectors, MuPDF page
parses, rendered digests) are malloc'd on whichever gradio worker thread runs it; glibc gives busy threads their
own arenas (up to 8 per core), raises its mmap threshold after the first large free (so later large buffers come
from those arenas instead of mmap), and returns an arena's free memory to the system only from its top.
Two settings, applied once before the server starts its threads, keep that bounded:

- `M_ARENA_MAX` 2: at most two arenas however many worker threads come and go;
- `M_MMAP_THRESHOLD` pinned at glibc's initial 128 KiB: buffers that large are mmap'd and unmapped on free.

A setting the person gave in the environment (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`) is left as given;
`PAPERRAG_MALLOC_TUNING=0` leaves glibc's defaults (the control of `bench/load.py --compare`). On a C library that
is not glibc nothing is changed."""

from __future__ import annotations

import ctypes
import logging
import os
import platform

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc malloc.h
M_ARENA_MAX = -8
ARENA_MAX = 2
MMAP_THRESHOLD = 128 * 1024

SETTINGS = (("MALLOC_ARENA_MAX", M_ARENA_MAX, ARENA_MAX), ("MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def glibc():
    """The process's glibc (ctypes), or None on another C library."""
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # pragma: no cover - glibc under another name
        return None


def tune_malloc(environ=os.environ) -> dict[str, int]:
    """Apply the bounded-memory settings; {environment name: value} of those applied (mallopt returns 1)."""
    libc = glibc()
    if libc is None or environ.get("PAPERRAG_MALLOC_TUNING", "1") == "0":
        return {}
    applied = {}
    for env_name, param, value in SETTINGS:
        if env_name in environ:
            continue
        if libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) == 1:
            applied[env_name] = value
        else:  # pragma: no cover - glibc refused a documented parameter
            log.warning("mallopt(%s, %d) was refused", env_name, value)
    return applied
