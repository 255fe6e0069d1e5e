"""ui.memory: the web app's glibc malloc settings (bounded arenas, a pinned mmap threshold), each observed through
glibc itself in a fresh process (malloc_info's heaps, mallinfo2's mmapped bytes), with the untuned process as the
control that shows the check can fail."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.faults.harness import REPO
from ui.memory import ARENA_MAX, glibc, tune_malloc

pytestmark = pytest.mark.skipif(glibc() is None, reason="malloc tuning applies to glibc only")

PROBE = textwrap.dedent("""
    import ctypes, json, os, sys, tempfile, threading
    from ui.memory import tune_malloc
    applied = tune_malloc() if sys.argv[1] == "tuned" else {}
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]

    class MI2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
    libc.mallinfo2.restype = MI2

    # 8 threads alive at once, each allocating: glibc gives each new thread its own arena up to its limit
    barrier = threading.Barrier(8)
    def worker():
        p = libc.malloc(4096)
        barrier.wait()
        libc.free(p)
    threads = [threading.Thread(target=worker) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    fd, path = tempfile.mkstemp()
    os.close(fd)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    fp = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, fp)
    libc.fclose(fp)
    heaps = open(path).read().count("<heap nr=")
    os.unlink(path)

    # a 4 MiB buffer freed (glibc's dynamic threshold would rise to 4 MiB), then a 1 MiB one: mmapped or not?
    libc.free(libc.malloc(4 << 20))
    before = libc.mallinfo2().hblkhd
    p = libc.malloc(1 << 20)
    mmapped = libc.mallinfo2().hblkhd - before
    libc.free(p)
    print(json.dumps({"applied": applied, "heaps": heaps, "mmapped_bytes": mmapped}))
""")


def probe(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_tuned_process_keeps_at_most_two_arenas_and_mmaps_large_buffers_after_a_large_free():
    untuned, tuned = probe("untuned"), probe("tuned")
    assert untuned["heaps"] > ARENA_MAX  # the control: 8 threads at once get arenas of their own
    assert untuned["mmapped_bytes"] == 0  # … and the raised threshold puts 1 MiB in an arena
    assert tuned["applied"] == {"MALLOC_ARENA_MAX": 2, "MALLOC_MMAP_THRESHOLD_": 128 * 1024}
    assert tuned["heaps"] <= ARENA_MAX
    assert tuned["mmapped_bytes"] >= 1 << 20


def test_settings_given_in_the_environment_are_left_as_given():
    assert tune_malloc({"MALLOC_ARENA_MAX": "4", "MALLOC_MMAP_THRESHOLD_": "65536"}) == {}


def test_the_switch_off_leaves_glibc_defaults():
    assert tune_malloc({"PAPERRAG_MALLOC_TUNING": "0"}) == {}
