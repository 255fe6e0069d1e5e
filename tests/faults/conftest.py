"""Shared by the fault-injection suite: one small ingested home built once per session and copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fakes.corpus import Paper, build_corpus

PAPERS = [
    Paper("a", "Sparse Widget Attention", "2405.00001", seed=21,
          sections=[("4 Sparse attention", "Sparse widget attention keeps 12 of 64 heads and loses 0.3 BLEU.")]),
    Paper("b", "Graph Crawlers for Citation Search", "2405.00002", seed=22, category="cs.IR",
          sections=[("3 Crawling", "The crawler follows 40 citations per paper and finds 91 percent of them.")]),
]


@pytest.fixture(scope="session")
def pristine_home(tmp_path_factory, embedder) -> Path:
    """A data home holding PAPERS ingested through the real pipeline, searched once (keyword + dense caches)."""
    from paperrag.library import Library

    root = tmp_path_factory.mktemp("pristine")
    corpus = build_corpus(root, embedder, PAPERS)
    with Library(corpus.settings, embedder=embedder) as lib:
        lib.warm()
    return corpus.settings.home


@pytest.fixture
def ingested_home(pristine_home, tmp_path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(pristine_home, home)
    return home
