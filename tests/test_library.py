"""The Library is the one way in: every CLI command and every web tab call its use cases; both print the same
line for each user-facing error; the data home and the shared model cache are found as documented."""

from __future__ import annotations

import functools
import socket
import threading

import pytest
from fakes.pdfs import make_paper_pdf
from typer.testing import CliRunner

from paperrag import Library, PaperragError, Settings
from paperrag.errors import StoreError, user_message

FACT_A = ("The widget tokenizer splits every formula into 17 glyph classes before the encoder reads it, which "
          "doubles the accuracy on handwritten equations.")
FACT_B = ("The citation crawler is trained with proximal policy optimisation on 35,000 citation graphs and "
          "reaches a recall of 0.81 on the OpenCite benchmark.")

USE_CASES = ("ingest", "add", "status", "papers", "health", "search", "ask", "compare", "compare_topic",
             "daily", "digest", "delete", "reindex", "reparse", "doctor", "warm")


@pytest.fixture
def spy(monkeypatch):
    """Records every Library use case called (from any thread), still running the real method."""
    seen: list[str] = []
    lock = threading.Lock()
    for name in USE_CASES:
        real = getattr(Library, name)

        @functools.wraps(real)
        def wrapper(self, *a, __real=real, __name=name, **kw):
            with lock:
                seen.append(__name)
            return __real(self, *a, **kw)

        monkeypatch.setattr(Library, name, wrapper)
    return seen


@pytest.fixture
def fake_home(home, tmp_path, monkeypatch):
    """A fresh home whose LLM is the deterministic fake backend, with two generated papers ready to add."""
    monkeypatch.setenv("PAPERRAG_LLM__BACKEND", "fake")
    pdfs = tmp_path / "pdfs"
    make_paper_pdf(pdfs / "a.pdf", title="Glyph Tokenizers", arxiv_id="2406.00007", seed=31,
                   extra_sections=[("5 Tokenizer", FACT_A)])
    make_paper_pdf(pdfs / "b.pdf", title="Graph Crawlers for Citation Search", arxiv_id="2406.00008", seed=32,
                   category="cs.IR", extra_sections=[("4 Training the crawler", FACT_B)])
    return pdfs


def cli(*args: str):
    from ui.cli import app

    result = CliRunner().invoke(app, list(args))
    return result


def test_every_use_case_runs_through_the_library_with_the_fake_backend(fake_home, embedder):
    with Library(Settings(), embedder=embedder) as lib:
        assert lib.model_id == "fake:scripted"
        report = lib.ingest([str(fake_home)]).report
        assert report.counts == {"kept": 2}
        st = lib.status()
        assert st.counts == {"indexed": 2} and st.fulltext == 2 and st.runs[0].run.status == "done"
        assert {p.key for p in lib.papers("indexed")} == {"2406.00007v1", "2406.00008v1"}
        health = lib.health()
        assert health.vectors == health.catalog_chunks > 0 and health.keyword_index_version == health.corpus_version
        hits = lib.search("how many glyph classes does the tokenizer use", k=3)
        assert hits[0].arxiv_id == "2406.00007" and "17 glyph classes" in hits[0].text
        answer = lib.ask("How many glyph classes does the widget tokenizer use?").consume()
        assert not answer.abstained and "[2406.00007" in answer.answer and answer.sources()
        cmp = lib.compare(["2406.00007", "2406.00008"], "training data")
        assert [p.arxiv_id for p in cmp.papers] == ["2406.00007", "2406.00008"] and cmp.llm_calls > 0
        again = lib.compare(["2406.00007", "2406.00008"], ["training data"])
        assert again.llm_calls == 0 and again.to_markdown() == cmp.to_markdown()  # cached, same LLM identity
        assert lib.reparse() is None  # every paper already has the current parser's chunks
        assert lib.reindex() == (2, health.catalog_chunks)
        assert lib.search("glyph classes", k=1)[0].arxiv_id == "2406.00007"  # the new collection is read
        assert lib.delete("2406.00008") == ["2406.00008v1"]
        assert lib.status().counts == {"indexed": 1}
        doctor = lib.doctor(measure=False)
        assert doctor.backend == "fake"


def test_the_daily_job_and_digests_run_offline_through_the_library(fake_home, embedder):
    with Library(Settings(), embedder=embedder) as lib:
        first = lib.daily(sample=True)
        assert first.sample and len(first.digest.papers) == 3 and first.llm_calls > 0
        assert first.files["report.md"].exists() and first.files["run-report"].exists()
        again = lib.daily(sample=True)
        assert again.already_done and again.llm_calls == 0
        table = lib.digest(first.date, formats=["table"], language="en")
        assert table.files["table.md"].exists() and len(table.digest.papers) == 3
        assert lib.digest_days() == [first.date]


def test_every_cli_command_calls_the_library(fake_home, embedder, spy, monkeypatch):
    import gradio as gr

    monkeypatch.setattr("indexes.embedder.Embedder.model", embedder.model)  # the session's model, loaded once
    steps = [
        (["ingest", str(fake_home)], "ingest"),
        (["status"], "status"),
        (["search", "glyph classes", "--json"], "search"),
        (["ask", "How many glyph classes does the widget tokenizer use?"], "ask"),
        (["compare", "2406.00007", "2406.00008", "--aspects", "training data"], "compare"),
        (["compare", "--topic", "glyph tokenizer citation crawler", "-n", "2", "--aspects", "compute"],
         "compare_topic"),
        (["reindex", "--reparse"], "reparse"),
        (["reindex", "--yes"], "reindex"),
        (["doctor", "--no-measure"], "doctor"),
        (["daily", "--sample"], "daily"),
        (["digest", "--date", "2025-01-20", "--format", "table", "--lang", "en"], "digest"),
        (["delete", "2406.00008", "--yes"], "delete"),
    ]
    for args, use_case in steps:
        before = len(spy)
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)
        assert use_case in spy[before:], (args, spy[before:])
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: None)
    monkeypatch.setattr("ui.app.AppContext.warm", lambda self: None)
    assert cli("ui").exit_code == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def web(fake_home, embedder):
    from gradio_client import Client

    from ui.app import launch

    port = _free_port()
    demo = launch(Library(Settings(), embedder=embedder), host="127.0.0.1", port=port, block=False, warm=False,
                  quiet=True)
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        demo.close()


def _chat_text(chat) -> str:
    last = chat[-1]["content"]
    return last[0]["text"] if isinstance(last, list) else last


def test_every_web_tab_calls_the_library(web, fake_home, spy):
    from gradio_client import handle_file

    calls = [
        (lambda: web.predict("", [handle_file(str(fake_home / "a.pdf")), handle_file(str(fake_home / "b.pdf"))],
                             "", "all", api_name="/add_papers"), "add"),
        (lambda: web.predict("", "all", api_name="/library"), "status"),
        (lambda: web.predict("How many glyph classes does the widget tokenizer use?", "", "", [], [], "", "auto",
                             api_name="/ask"), "ask"),
        (lambda: web.predict(["2406.00007", "2406.00008"], "training data", api_name="/compare"), "compare"),
        (lambda: web.predict(api_name="/status"), "health"),
        (lambda: web.predict(None, "2025-01-20", ["table"], "en", api_name="/regenerate"), "digest"),
    ]
    for call, use_case in calls:
        before = len(spy)
        try:
            out = call()
        except Exception as exc:  # regenerate of a day with no papers: still the Library's answer
            assert use_case == "digest" and "no indexed papers announced on 2025-01-20" in str(exc), exc
            out = None
        assert use_case in spy[before:], (use_case, spy[before:])
        if use_case == "ask":
            assert "[2406.00007" in _chat_text(out[0])
    before = len(spy)
    web.predict("2406.00008", "", "all", api_name="/delete_paper")
    assert "delete" in spy[before:]


# ------------------------------------------------------------------------------------------ one message
def _cli_error(capsys, monkeypatch, *args: str) -> str:
    """What `paperrag ARGS` prints after "error: " (through the real entry point)."""
    import sys

    from ui import cli as cli_mod

    monkeypatch.setattr(sys, "argv", ["paperrag", *args])
    with pytest.raises(SystemExit) as exit_:
        cli_mod.main()
    assert exit_.value.code == 1
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, lines
    return lines[0].removeprefix("error: ")


def _web_error(call) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as err:
        call()
    return str(err.value).strip()


def test_cli_and_web_say_the_same_line_for_each_user_facing_error(web, fake_home, capsys, monkeypatch):
    cases = [
        (("delete", "9999.99999", "--yes"), lambda: web.predict("9999.99999", "", "all", api_name="/delete_paper")),
        (("digest", "--date", "2025-13-45"), lambda: web.predict(None, "2025-13-45", ["report"], "en",
                                                                 api_name="/regenerate")),
        (("digest", "--date", "2024-02-02"), lambda: web.predict(None, "2024-02-02", ["report"], "en",
                                                                 api_name="/regenerate")),
        (("compare", "9999.99998", "9999.99999"), lambda: web.predict(["9999.99998", "9999.99999"], "",
                                                                      api_name="/compare")),
    ]
    for args, web_call in cases:
        line = _cli_error(capsys, monkeypatch, *args)
        assert line == _web_error(web_call), args
        assert not line.startswith("unexpected"), line
    # the empty library: the CLI's search error is the line the web app shows in the chat
    line = _cli_error(capsys, monkeypatch, "search", "anything")
    chat, *_ = web.predict("anything at all?", "", "", [], [], "", "auto", api_name="/ask")
    assert _chat_text(chat) == f"⚠ {line}".replace("`", "\\`").replace("(", "\\(").replace(")", "\\)") \
        or line in _chat_text(chat).replace("\\", "")


def test_a_bad_config_file_is_one_line_naming_the_file(home, tmp_path, capsys, monkeypatch):
    (tmp_path / "paperrag.toml").write_text("[llm]\nbackend = \"gpt-9\"\n")
    line = _cli_error(capsys, monkeypatch, "status")
    assert "setting llm.backend" in line and "paperrag.toml" in line and "config show --docs" in line
    with pytest.raises(PaperragError) as err:
        Library()
    assert user_message(err.value) == line


# ------------------------------------------------------------------------------------------ homes and models
def test_a_home_without_models_finds_the_shared_model_cache(tmp_path, monkeypatch):
    from rag.llm import models as M
    from rag.llm.select import choose_backend

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # nothing listens there
    settings = Settings(home=tmp_path / "another-home")
    assert settings.models_dir == tmp_path / "cache" / "paperrag" / "models"
    assert not (settings.home / "models").exists()
    with pytest.raises(PaperragError) as err:  # nothing installed yet: one line naming the cache and the fix
        choose_backend(settings)
    assert str(settings.models_dir) in str(err.value) and "paperrag models install" in str(err.value)

    gguf = settings.models_dir / M.MODELS[M.SMALL_MODEL].filename  # as `paperrag models install --small` leaves it
    gguf.parent.mkdir(parents=True)
    gguf.write_bytes(b"GGUF")
    for home in ("another-home", "yet-another-home"):
        other = Settings(home=tmp_path / home)
        assert M.default_gguf(other) == gguf
        sel = choose_backend(other)
        assert sel.backend == "llamacpp" and sel.gguf == gguf
    legacy = Settings(home=tmp_path / "old-home")  # paperrag < 0.2 installed models inside the home: still found
    gguf.unlink()
    old = legacy.home / "models" / M.MODELS[M.DEFAULT_MODEL].filename
    old.parent.mkdir(parents=True)
    old.write_bytes(b"GGUF")
    assert M.default_gguf(legacy) == old


def test_install_joins_into_the_shared_cache_not_the_home(tmp_path, monkeypatch):
    from rag.llm import models as M

    if not M.parts_installed(M.SMALL_MODEL):
        pytest.skip("the 0.5B model's part packages are not installed (scripts/setup.sh installs them)")
    settings = Settings(home=tmp_path / "home", llm={"model_cache": str(tmp_path / "cache")})
    path = Library(settings).install_model(small=True)
    assert path.parent == tmp_path / "cache" and M.verify_gguf(path)
    assert not (settings.home / "models").exists()


def test_the_data_home_defaults_to_the_user_data_dir_and_finds_an_old_checkout_home(tmp_path, monkeypatch):
    from paperrag import settings as S

    monkeypatch.delenv("PAPERRAG_HOME", raising=False)
    monkeypatch.setenv("PAPERRAG_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setattr(S, "LEGACY_HOME", tmp_path / "checkout" / "indexes")
    assert Settings().home == tmp_path / "data" / "paperrag" and Settings().home_note() == ""
    (tmp_path / "checkout" / "indexes").mkdir(parents=True)
    (tmp_path / "checkout" / "indexes" / "catalog.sqlite").write_bytes(b"")
    used = Settings()
    assert used.home == tmp_path / "checkout" / "indexes"
    assert "found in the checkout" in used.home_note() and str(tmp_path / "data" / "paperrag") in used.home_note()
    result = cli("status")
    assert "note: using the data home found in the checkout" in result.output


def test_an_unwritable_data_home_is_one_line(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("PAPERRAG_HOME", str(blocker / "home"))
    monkeypatch.setenv("PAPERRAG_CONFIG", str(tmp_path / "none.toml"))
    (blocker.parent / "x").mkdir()
    with pytest.raises(StoreError, match="cannot create the data home"):
        Library().catalog  # noqa: B018
    line = _cli_error(capsys, monkeypatch, "ingest", str(tmp_path / "x"))
    assert line.startswith(f"cannot create the data home {blocker / 'home'}") and "PAPERRAG_HOME" in line
