"""Papers chunked by an older parser are parsed again from the PDF cache (`PARSER_VERSION`)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from fakes.corpus import ingest as _ingest
from fakes.pdfs import make_paper_pdf
from typer.testing import CliRunner

from indexes.catalog import Catalog
from paperrag.records import PARSER_VERSION, Action
from paperrag.settings import Settings
from ui.cli import app

SENTINEL = "OLD PARSER CHUNK"
NO_PARSER = Path(__file__).parent / "fixtures" / "catalogs" / "main-9a9f3de-no-parser.sqlite"


def _make_old(settings, key: str) -> None:
    """What a catalog written by a paperrag before PARSER_VERSION looks like for this paper."""
    db = sqlite3.connect(settings.catalog_path)
    db.execute("UPDATE papers SET parser = 0 WHERE key = ?", (key,))
    db.execute("UPDATE chunks SET text = ? WHERE paper_key = ? AND ordinal = 0", (SENTINEL, key))
    db.commit()
    db.close()


def _paper(settings, key):
    cat = Catalog(settings.catalog_path)
    try:
        row = cat.get_paper(key)
        texts = [c.text for c in cat.chunks_of(key)]
        return row, texts
    finally:
        cat.close()


def test_an_old_catalog_gets_the_parser_column(tmp_path):
    path = tmp_path / "catalog.sqlite"
    shutil.copy(NO_PARSER, path)  # made by paperrag at 9a9f3de: one indexed full-text paper, no parser column
    db = sqlite3.connect(path)
    assert "parser" not in {r[1] for r in db.execute("PRAGMA table_info(papers)")}
    db.close()
    cat = Catalog(path)
    assert cat.get_paper("1706.03762v7").parser == 0
    assert [r.key for r in cat.outdated_papers()] == ["1706.03762v7"]
    cat.close()
    Catalog(path).close()  # opening it again changes nothing


def test_reindex_reparse_redoes_outdated_papers_from_the_cache(home, tmp_path, embedder):
    settings = Settings()
    pdf = make_paper_pdf(tmp_path / "in" / "p.pdf", title="Glyph Tokenizers", arxiv_id="2406.00007", seed=5)
    first = _ingest(settings, embedder, pdf)
    key = first.decisions[0].paper
    row, texts = _paper(settings, key)
    assert row.parser == PARSER_VERSION and SENTINEL not in texts
    assert _ingest(settings, embedder, pdf).decisions[0].action is Action.ALREADY  # current: nothing redone

    _make_old(settings, key)
    pdf.unlink()  # the user's file is gone: the content-addressed cache still has it
    status = CliRunner().invoke(app, ["status"])
    assert "1 papers were chunked by an older paperrag: `paperrag reindex --reparse`" in status.output

    result = CliRunner().invoke(app, ["reindex", "--reparse"])
    assert result.exit_code == 0, result.output
    assert "re-parsed 1 papers" in result.output
    row, texts = _paper(settings, key)
    assert row.parser == PARSER_VERSION and row.status == "indexed" and SENTINEL not in texts
    assert len(texts) == row.n_chunks > 0

    again = CliRunner().invoke(app, ["reindex", "--reparse"])
    assert again.exit_code == 0 and "nothing to do" in again.output


def test_a_reparse_that_fails_keeps_the_old_chunks(home, tmp_path, embedder):
    settings = Settings()
    pdf = make_paper_pdf(tmp_path / "in" / "p.pdf", title="Glyph Tokenizers", arxiv_id="2406.00008", seed=6)
    key = _ingest(settings, embedder, pdf).decisions[0].paper
    _make_old(settings, key)
    row, _ = _paper(settings, key)
    cached = settings.pdf_dir / row.content_sha256[:2] / f"{row.content_sha256}.pdf"
    assert cached.exists()
    cached.write_bytes(b"<html>not a pdf any more</html>")
    pdf.write_bytes(b"<html>not a pdf any more</html>")

    result = CliRunner().invoke(app, ["reindex", "--reparse"])
    assert result.exit_code == 1
    assert "failed and keep their old chunks" in result.output and key in result.output
    row, texts = _paper(settings, key)
    assert row.status == "indexed" and SENTINEL in texts  # untouched
