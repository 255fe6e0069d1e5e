"""`paperrag ARGS` in this process, stopped (SIGSTOP) at one exact point so that a test can SIGKILL it there.

PAPERRAG_TEST_STOP picks the point (the count is 1-based):
    llm:N            inside the N-th LLM call, before the backend answers (nothing of it logged or cached)
    llm_done:N       right after the N-th LLM chat call returned and was logged, before its output is used
    render:N         inside the N-th HTML rendering of a digest format
    write:NAME:N     inside the N-th atomic write of a file called NAME: its temporary file is complete and
                     fsynced, the rename over NAME has not happened
Ingest's own steps use PAPERRAG_FAULT_POINT (ingest/pipeline.py). Without PAPERRAG_TEST_STOP this is plain
`paperrag`.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter

COUNTS: Counter = Counter()


def _stop() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    if marker := os.environ.get("PAPERRAG_FAULT_MARKER"):  # this stop is ours, not a stray SIGSTOP
        with open(marker, "w") as fh:
            fh.write(os.environ.get("PAPERRAG_TEST_STOP", ""))
    os.kill(os.getpid(), signal.SIGSTOP)


def _reached(key: str, n: int) -> bool:
    COUNTS[key] += 1
    return COUNTS[key] == n


def install(spec: str) -> None:
    kind, _, rest = spec.partition(":")
    if kind in ("llm", "llm_done"):
        _stop_at_llm(kind, int(rest))
    elif kind == "render":
        import rag.digest.render as R

        real = R.render_html

        def render_html(*a, **kw):
            if _reached("render", int(rest)):
                _stop()
            return real(*a, **kw)

        R.render_html = render_html
    elif kind == "write":
        name, _, n = rest.rpartition(":")
        real_replace = os.replace

        def replace(src, dst, *a, **kw):
            if os.path.basename(os.fspath(dst)) == name and _reached("write", int(n)):
                _stop()
            return real_replace(src, dst, *a, **kw)

        os.replace = replace
    else:
        raise SystemExit(f"unknown PAPERRAG_TEST_STOP {spec!r}")


def _stop_at_llm(kind: str, n: int) -> None:
    from rag.llm.logged import LoggedLLM

    for method in ("chat", "stream"):
        real = getattr(LoggedLLM, method)

        def wrapped(self, *a, _real=real, _method=method, **kw):
            if kind == "llm" and _reached("llm", n):
                _stop()
            out = _real(self, *a, **kw)
            if kind == "llm_done" and _method == "chat" and _reached("llm_done", n):
                _stop()
            return out

        setattr(LoggedLLM, method, wrapped)


if __name__ == "__main__":
    spec = os.environ.get("PAPERRAG_TEST_STOP")
    if spec:
        install(spec)
    from ui.cli import main

    sys.argv = ["paperrag", *sys.argv[1:]]
    main()
