"""The Gradio app's helpers without a browser: citation links, the sources panel, upload checks, digest pages,
progress, error messages, auth and the `paperrag ui` command (launch replaced, nothing served)."""

from __future__ import annotations

import re

import gradio as gr
import pytest
from fakes.pdfs import make_bad_pdfs, make_paper_pdf
from typer.testing import CliRunner

from ingest.uploads import check_upload
from paperrag.records import PaperMeta
from rag.digest.model import Digest, PaperEntry
from rag.digest.render import write_digest, write_run_report
from ui import app as ui_app
from ui import app_render as R


# ------------------------------------------------------------------------------------------ citations
def test_citations_link_the_arxiv_page_and_the_pdf_at_the_page():
    text = ("It keeps 64 keys [2405.00001 §4.2 p.5]. Old ids too [hep-th/9901001 §Intro p.2]; "
            "no section [2405.00002 p.1].")
    out = R.linkify(text, {"2405.00001": 3})
    assert ("\\[[2405.00001](https://arxiv.org/abs/2405.00001v3) "
            "[§4.2 p.5](https://arxiv.org/pdf/2405.00001v3#page=5)\\]") in out
    assert "[§Intro p.2](https://arxiv.org/pdf/hep-th/9901001#page=2)" in out  # version unknown: the latest
    assert "[p.1](https://arxiv.org/pdf/2405.00002#page=1)" in out
    assert R.linkify("no citation [here] (x)") == "no citation [here] (x)"


def test_local_pdf_citations_stay_plain_text():
    out = R.linkify("From my PDF [local:0123456789ab §2 p.3].")
    assert "http" not in out and "local:0123456789ab §2 p.3" in out


def test_sources_panel_lists_cited_sources_with_escaped_evidence_and_notes():
    sources = [{"n": 1, "label": "[2405.00001 §4 p.2]", "title": "A *bold* <b>title</b>", "section": "4 Sparse",
                "pages": [2, 2], "abs_url": "https://arxiv.org/abs/2405.00001v1",
                "pdf_url": "https://arxiv.org/pdf/2405.00001v1#page=2", "evidence": "keeps [64] keys\nper query"}]
    md = R.sources_markdown(sources, ["1 passages left out to fit the context"])
    assert "Cited sources (1)" in md and "[PDF p.2 on arXiv](https://arxiv.org/pdf/2405.00001v1#page=2)" in md
    assert "\\*bold\\*" in md and "\\<b\\>" in md and "keeps \\[64\\] keys per query" in md
    assert "*note: 1 passages left out" in md
    assert "no passage" in R.sources_markdown([])


# ------------------------------------------------------------------------------------------ uploads
def test_upload_checks_magic_bytes_and_size(tmp_path):
    good = make_paper_pdf(tmp_path / "good.pdf", title="A Good Paper", seed=1)
    sha, problem = check_upload(good, max_mb=50)
    assert problem is None and re.fullmatch(r"[0-9a-f]{64}", sha)
    bad = make_bad_pdfs(tmp_path / "bad")
    assert "it looks like an HTML page" in check_upload(bad["html"], 50)[1]
    assert "the file is empty" in check_upload(bad["zero-byte"], 50)[1]
    assert check_upload(bad["corrupt"], 50)[1] is None  # has the magic: the parser reports the rest
    over = check_upload(good, max_mb=good.stat().st_size / 1024 / 1024 / 2)[1]
    assert "over the" in over and "fetch.max_pdf_mb" in over
    renamed = tmp_path / "notes.pdf"
    renamed.write_bytes(b"PK\x03\x04 a zip file")
    assert "not a PDF" in check_upload(renamed, 50)[1]


# ------------------------------------------------------------------------------------------ digests
@pytest.fixture
def digest_dir(tmp_path):
    metas = [PaperMeta(arxiv_id=f"2405.0000{i}", version=1, title=f"Paper {i}", authors=["A. Author"],
                       abstract="An abstract.", categories=["cs.CL"], primary_category="cs.CL",
                       published="2024-01-15", pdf_url=f"https://arxiv.org/pdf/2405.0000{i}v1",
                       abs_url=f"https://arxiv.org/abs/2405.0000{i}v1") for i in (1, 2)]
    digest = Digest("2024-01-15", "en", ["cs.CL"], ["widgets"],
                    papers=[PaperEntry(n=i, meta=m) for i, m in enumerate(metas, 1)])
    out = tmp_path / "digests"
    write_digest(digest, "report", out)
    write_run_report(digest, out)
    (out / "not-a-day").mkdir()
    return out


def test_digest_listing_and_page(digest_dir):
    from rag.digest import stored as D

    assert D.digest_days(digest_dir) == ["2024-01-15"]
    day = digest_dir / "2024-01-15"
    assert D.digest_formats(day) == ["report", D.RUN_REPORT]
    html = D.digest_html(day, "report")
    assert html.startswith('<div class="paperrag-digest">') and "<head" not in html and "<style" not in html
    assert '<a id="2405.00001v1"></a>' in html and 'href="#2405.00001v1"' in html  # TOC → paper anchor
    assert re.search(r'<a href="https://arxiv\.org/abs/2405\.00001v1"[^>]*target="_blank"', html)
    assert 'href="#2405.00001v1" target' not in html  # in-page anchors stay in the page
    assert "Run report" in D.digest_html(day, D.RUN_REPORT)
    assert set(D.digest_files(day, "report")) == {"md", "html"}
    assert "No such digest" in D.digest_html(day, "monitor")
    assert D.digest_days(digest_dir / "missing") == []
    view = D.digest_view(digest_dir, "2024-01-15", "monitor")  # not written in that format: the first one
    assert view.fmt == "report" and view.formats == ["report", D.RUN_REPORT] and set(view.files) == {"md", "html"}
    assert D.digest_view(digest_dir, "2024-01-16", None) is None


# ------------------------------------------------------------------------------------------ progress, errors
def test_ingest_progress_is_shown_through_gr_progress():
    calls = []
    sink = ui_app.GradioProgress(lambda value, desc=None: calls.append((value, desc)))
    sink.start("papers", total=2, description="Indexing papers")
    sink.update("papers", description="2405.00001v1 Sparse Widget Attention")
    sink.start("embed", total=10, description="Embedding 2405.00001v1")
    sink.advance("embed", 10)
    sink.stop("embed")
    sink.advance("papers")
    assert calls[0] == ((0, 2), "Indexing papers")
    assert calls[3] == ((10, 10), "2405.00001v1 Sparse Widget Attention (0/2) · Embedding 2405.00001v1")
    assert calls[-1] == ((1, 2), "2405.00001v1 Sparse Widget Attention")
    broken = ui_app.GradioProgress(lambda *a, **k: 1 / 0)
    broken.start("x", total=None)  # a failing progress display never breaks the work


def test_errors_become_one_readable_line():
    from indexes.bm25_index import EmptyIndexError
    from rag.llm.base import LLMUnavailable

    @ui_app.friendly
    def known():
        raise LLMUnavailable("Ollama not reachable at http://127.0.0.1:11434\n(`ollama serve`)")

    @ui_app.friendly
    def unexpected():
        raise KeyError("boom")

    @ui_app.friendly
    def streaming():
        yield 1
        raise EmptyIndexError()

    with pytest.raises(gr.Error) as err:
        known()
    assert err.value.message == "Ollama not reachable at http://127.0.0.1:11434 (`ollama serve`)"
    with pytest.raises(gr.Error) as err:
        unexpected()
    assert err.value.message == "unexpected KeyError: 'boom'"
    gen = streaming()
    assert next(gen) == 1
    with pytest.raises(gr.Error, match="no papers indexed yet: add some with `paperrag ingest …` \\(or the Library tab\\)"):
        next(gen)


# ------------------------------------------------------------------------------------------ auth, CLI
def test_auth_and_exposure_warning():
    assert ui_app.parse_auth("") is None and ui_app.parse_auth("me:s3:cret") == ("me", "s3:cret")
    for bad in ("nopassword", ":x", "x:"):
        with pytest.raises(ValueError, match="user:pass"):
            ui_app.parse_auth(bad)
    assert ui_app.exposure_warning("127.0.0.1", 7860, None) is None
    assert ui_app.exposure_warning("localhost", 7860, None) is None
    assert ui_app.exposure_warning("::1", 7860, None) is None
    assert ui_app.exposure_warning("0.0.0.0", 7860, ("u", "p")) is None
    assert "without auth" in ui_app.exposure_warning("0.0.0.0", 7860, None)


def test_ui_command_defaults_to_loopback_and_warns_beyond_it(home, monkeypatch):
    from ui.cli import app

    seen = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: seen.append({**kw, "app": self}))  # all but the server
    monkeypatch.setattr(ui_app.AppContext, "warm", lambda self: None)
    runner = CliRunner()
    result = runner.invoke(app, ["ui"])
    assert result.exit_code == 0, result.output
    assert (seen[-1]["server_name"], seen[-1]["server_port"], seen[-1]["auth"]) == ("127.0.0.1", 7860, None)
    assert "without auth" not in result.output and "http://127.0.0.1:7860" in result.output
    result = runner.invoke(app, ["ui", "--host", "0.0.0.0", "--port", "8080"])
    assert result.exit_code != 0 and len(seen) == 1  # refused: nothing served
    assert "refusing to serve on 0.0.0.0:8080 without auth" in ui_app.one_line(result.exception)
    assert "--insecure" in ui_app.one_line(result.exception)
    result = runner.invoke(app, ["ui", "--host", "0.0.0.0", "--port", "8080", "--insecure"])
    assert result.exit_code == 0 and "warning: serving on 0.0.0.0:8080 without auth" in result.output
    # digests the app rewrites cite its reader where it is served
    assert seen[-1]["app"].paperrag.lib.settings.ui.app_url == "http://127.0.0.1:8080/"
    result = runner.invoke(app, ["ui", "--host", "0.0.0.0", "--auth", "me:pw"])
    assert "without auth" not in result.output and seen[-1]["auth"] == ("me", "pw")
    assert seen[-1]["max_file_size"] == 50 * 1024 * 1024


def test_build_app_has_the_tabs_and_the_api(home):
    from paperrag.library import Library

    demo = ui_app.build_app(Library())
    labels = [b.label for b in demo.blocks.values() if isinstance(b, gr.Tab)]
    assert labels == ["Ask", "Digests", "Compare", "Library", "Status"]
    names = {d.api_name for d in demo.fns.values()}
    assert {"ask", "add_papers", "delete_paper", "regenerate", "status", "library"} <= names
    limits = {d.api_name: d.concurrency_limit for d in demo.fns.values()}
    assert limits["ask"] == ui_app.ASK_CONCURRENCY and limits["add_papers"] == ui_app.INGEST_CONCURRENCY == 1
