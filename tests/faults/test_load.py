"""Load, short: bench/load.py with 20 concurrent Ask sessions of 6 questions each (bounded by request count, not by
time) plus its digest regeneration loop, against `paperrag ui` in its own process with the fake LLM backend.
No error reaches any session, the server logs no traceback, and its resident memory after warm-up (the first
30% of the questions) stays flat: it grows by less than RSS_TOLERANCE_MB by the end, and its least-squares slope
over the answers is under SLOPE_MB_PER_100_ANSWERS. Without the app's malloc settings (ui/memory.py: two arenas,
mmap threshold pinned) glibc kept the freed buffers of each request in per-thread arenas and the slope was
~175 MB per 100 answers. The 10-minute run is `python bench/load.py` (`--compare` for the side-by-side)."""

from __future__ import annotations

import json
import subprocess
import sys

from faults.harness import REPO

SESSIONS, PER_SESSION = 20, 6
RSS_TOLERANCE_MB = 80
SLOPE_MB_PER_100_ANSWERS = 40


def test_twenty_sessions_and_a_regeneration_loop_reach_no_error_and_memory_stays_flat():
    done = subprocess.run([sys.executable, str(REPO / "bench" / "load.py"), "--sessions", str(SESSIONS),
                           "--requests", str(PER_SESSION)], cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    print(done.stdout)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["asks"] == SESSIONS * PER_SESSION and out["ask_errors"] == 0, out["errors_sample"]
    assert out["regenerations"] >= 1 and out["regen_errors"] == 0, out["errors_sample"]
    assert out["server_tracebacks"] == 0
    progress = out["rss_by_progress"]
    warm = [m for f, m in progress if f >= 0.3]
    assert len(warm) >= 5, progress
    assert max(warm) - warm[0] < RSS_TOLERANCE_MB, progress
    assert out["rss_slope_mb_per_100_answers_after_warmup"] < SLOPE_MB_PER_100_ANSWERS, out
