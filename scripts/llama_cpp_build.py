#!/usr/bin/env python3
"""The llama-cpp-python build for THIS CPU: its instruction-set flags, and the wheel built for exactly them.

    python3 scripts/llama_cpp_build.py args       # CMAKE_ARGS for this CPU
    python3 scripts/llama_cpp_build.py tag        # short name of the flag set, e.g. x86-avx512-vbmi-vnni-bf16
    python3 scripts/llama_cpp_build.py wheel-dir  # where its wheel is kept: ~/.cache/paperrag/llama-wheels/<ver>-<tag>

Why not `GGML_NATIVE=ON`: it turns on ggml's AMX path where the CPU has AMX, and that path segfaulted loading the
bundled GGUF on the VMs this was measured on; and a native wheel put in pip's wheel cache would be reused on a
CPU without those instructions (pip keys its cache by the sdist, not by CMAKE_ARGS). So the flags are read from
/proc/cpuinfo, AMX is left out on purpose, and the wheel lives in a folder named after its flag set: another
CPU gets another folder and its own build. `GGML_CPU_ALL_VARIANTS` (every x86 variant, picked at run time)
would build 13 CPU backends (too slow a set-up on two cores) and would pick the AMX variant here.
No dependencies: runs with the system python before the virtual environment exists.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

VERSION = "0.3.36"
# ggml option → /proc/cpuinfo flag(s) it needs, in the order ggml's own x86 variants add them
X86_OPTIONS = (
    ("GGML_SSE42", ("sse4_2",)),
    ("GGML_AVX", ("avx",)),
    ("GGML_F16C", ("f16c",)),
    ("GGML_FMA", ("fma",)),
    ("GGML_AVX2", ("avx2",)),
    ("GGML_BMI2", ("bmi2",)),
    ("GGML_AVX_VNNI", ("avx_vnni",)),
    ("GGML_AVX512", ("avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd")),
    ("GGML_AVX512_VBMI", ("avx512vbmi",)),
    ("GGML_AVX512_VNNI", ("avx512_vnni",)),
    ("GGML_AVX512_BF16", ("avx512_bf16",)),
)
SHORT = {"GGML_AVX512": "avx512", "GGML_AVX512_VBMI": "vbmi", "GGML_AVX512_VNNI": "vnni", "GGML_AVX512_BF16": "bf16",
         "GGML_AVX_VNNI": "avxvnni", "GGML_AVX2": "avx2"}
PORTABLE = "-DGGML_NATIVE=OFF"  # ggml's default x86 set: AVX2 + FMA + F16C (+ BMI2); what older set-ups built


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def enabled(flags: set[str]) -> list[str]:
    """The ggml options this CPU supports (a later option only when the earlier ones it builds on are there)."""
    if platform.machine() not in ("x86_64", "AMD64") or not flags:
        return []
    on = []
    for option, needs in X86_OPTIONS:
        if all(f in flags for f in needs):
            on.append(option)
    if "GGML_AVX512" not in on:
        on = [o for o in on if not o.startswith("GGML_AVX512")]
    return on


def cmake_args(flags: set[str]) -> str:
    on = enabled(flags)
    if "GGML_AVX2" not in on:  # an old or unknown CPU: ggml's portable build (and its own dispatch)
        return PORTABLE
    off = [o for o, _ in X86_OPTIONS if o not in on]
    return " ".join(["-DGGML_NATIVE=OFF", *(f"-D{o}=ON" for o in on), *(f"-D{o}=OFF" for o in off),
                     "-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"])


def tag(flags: set[str]) -> str:
    on = enabled(flags)
    if "GGML_AVX2" not in on:
        return "portable"
    return "x86-" + "-".join(SHORT[o] for o in on if o in SHORT)


def wheel_dir(flags: set[str]) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "paperrag" / "llama-wheels" / f"{VERSION}-{tag(flags)}"


def main(argv: list[str]) -> int:
    flags = cpu_flags()
    what = argv[1] if len(argv) > 1 else "args"
    out = {"args": lambda: cmake_args(flags), "tag": lambda: tag(flags), "wheel-dir": lambda: str(wheel_dir(flags)),
           "version": lambda: VERSION}.get(what)
    if out is None:
        print("usage: llama_cpp_build.py args|tag|wheel-dir|version", file=sys.stderr)
        return 2
    print(out())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
