"""`paperrag ui` end to end: the real app on 127.0.0.1 over a real mini-index (real PDFs, MiniLM, Chroma), the
real `ollama` client against the Ollama-protocol test server, driven by Debian's Chromium (Playwright) and by
`gradio_client`. No sleeps: every wait is on page state (Playwright's expect / wait_for) or on the test server.

Screenshots: one per tab (a new user's view) into test-output/screenshots/; a failing test leaves a screenshot
of its page in test-output/ui-failures/. The 20-concurrent-questions latencies and the first-token overhead
are printed (and written to test-output/ui-latency.txt), never asserted.
"""

from __future__ import annotations

import json
import re
import sqlite3
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from browser_kit import OUT, app_page, needs_chromium, served
from fakes.corpus import Paper, build_corpus
from fakes.data import CRAWLER, SPARSE
from fakes.llm import ValidWriterLLM, writer_reply
from fakes.ollama_server import OllamaTestServer
from fakes.pdfs import make_bad_pdfs, make_paper_pdf

pytest.importorskip("playwright")
pytest.importorskip("gradio_client")

from playwright.sync_api import expect  # noqa: E402

from paperrag.library import Library

DAY = "2024-01-15"  # the papers are announced on this day; its digest is written by the fixture
LENSES = ("Gradient lenses rescale every layer's update by the inverse square root of its fan-in, which "
          "stabilises training of 48-layer widget encoders without warm-up.")
ANSWER = "Sparse widget attention keeps the 64 highest-scoring keys for every query [1]."
FOLLOW_UP = "How much attention memory does sparse widget attention save?"

pytestmark = needs_chromium


def reply(body: dict) -> str:
    """The test server's model: answers cite passage 1; follow-ups are condensed; digest prompts get outputs
    that pass the digest gates (fakes.llm.ValidWriterLLM, the fake backend's writer)."""
    messages = body.get("messages", [])
    system, user = messages[0]["content"], messages[-1]["content"]
    if "standalone question" in system:
        return FOLLOW_UP
    if "English search query" in system:
        return "sparse widget attention keys kept per query"
    if "numbered sentences you are given" in system:  # point at the sentence that holds the claim
        memory = "memory" in user.split("Question:")[-1]
        needle = "factor of eight" if memory else "64 highest-scoring"
        n = next(n for n, text in re.findall(r"^\[(\d+)\] (.+)$", user, re.MULTILINE) if needle in text)
        text = "It cuts the attention memory by a factor of eight [1]." if memory else ANSWER
        return text.replace("[1]", f"[{n}]")
    return writer_reply(messages)


@pytest.fixture(scope="module")
def app_env(tmp_path_factory, embedder):
    """Three real PDFs indexed, a digest written for DAY, the app served on a free 127.0.0.1 port."""
    from indexes.catalog import Catalog
    from paperrag.settings import Settings

    root = tmp_path_factory.mktemp("ui")
    srv = OllamaTestServer(models=["qwen2.5:7b-instruct"], reply=reply).start()
    base = Settings(home=root / "home")
    settings = base.model_copy(update={
        "llm": base.llm.model_copy(update={"backend": "ollama", "ollama_host": srv.url}),
        "digest": base.digest.model_copy(update={"formats": ["report", "table"], "language": "en"}),
    })
    build_corpus(root, embedder, [
        Paper("a", "Sparse Widget Attention", "2405.00001", seed=21, sections=[("4 Sparse attention", SPARSE)]),
        Paper("b", "Graph Crawlers for Citation Search", "2405.00002", seed=22, category="cs.IR",
              sections=[("4 Training the crawler", CRAWLER)]),
        Paper("c", "Gradient Lenses for Deep Encoders", "2405.00003", seed=23,
              sections=[("3 Gradient lenses", LENSES)]),
    ], settings=settings)
    catalog = Catalog(settings.catalog_path)
    catalog.db.execute("UPDATE papers SET announced=?", (DAY,))  # as if the three came in DAY's feed
    catalog.close()
    written = Library(settings, llm=ValidWriterLLM()).digest(DAY, formats=["report", "table"], language="en")
    assert len(written.digest.papers) == 3
    try:
        with served(Library(settings, embedder=embedder), warm=True) as (demo, url):
            yield {"url": url, "settings": settings, "srv": srv, "demo": demo, "ctx": demo.paperrag, "root": root}
    finally:
        srv.stop()


@pytest.fixture
def page(browser, app_env, request):
    with app_page(browser, app_env["url"], request, tab="Ask", timeout_ms=30_000, stub_arxiv=True) as pg:
        yield pg


def idle(pg, elem_id: str):
    """Wait until the component's pending indicator is gone (its event finished)."""
    expect(pg.locator(f"#{elem_id} [data-testid=status-tracker]").first).to_have_class(re.compile(r"\bhide\b"))


def open_tab(pg, name: str):
    pg.get_by_role("tab", name=name).click()


# ------------------------------------------------------------------------------------------ screenshots
def test_screenshot_of_every_tab_for_a_new_user(page):
    shots = OUT / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    expect(page.locator("#paperrag-question textarea")).to_be_visible()
    page.screenshot(animations="disabled", path=str(shots / "ask.png"))
    open_tab(page, "Digests")
    expect(page.locator("#paperrag-digest-view nav.toc")).to_be_visible()
    idle(page, "paperrag-digest-view")
    page.screenshot(animations="disabled", path=str(shots / "digests.png"))
    open_tab(page, "Library")
    expect(page.locator("#paperrag-library")).to_contain_text("Gradient Lenses for Deep Encoders")
    idle(page, "paperrag-library")
    page.screenshot(animations="disabled", path=str(shots / "library.png"), full_page=True)
    open_tab(page, "Status")
    expect(page.locator("#paperrag-status")).to_contain_text("Index health")
    idle(page, "paperrag-status")
    page.screenshot(animations="disabled", path=str(shots / "status.png"), full_page=True)
    outside = {u for u in page.requests if not u.startswith(("http://127.0.0.1:", "data:", "blob:"))}
    assert not outside, f"the page loaded something from outside this machine: {sorted(outside)[:5]}"
    open_tab(page, "Compare")
    expect(page.locator("#paperrag-compare")).to_be_visible()
    page.screenshot(animations="disabled", path=str(shots / "compare.png"))


# ------------------------------------------------------------------------------------------ Ask
def test_ask_streams_a_cited_answer_with_links_sources_and_markdown(page, app_env):
    srv = app_env["srv"]
    srv.hold()  # the model does not answer until released: the page must stay live meanwhile
    page.locator("#paperrag-question textarea").fill("How many keys does sparse widget attention keep per query?")
    page.locator("#paperrag-ask").click()
    assert srv.waiting.wait(timeout=30), "the question never reached the model"
    expect(page.locator("#paperrag-chat [data-testid=user]")).to_contain_text("sparse widget attention")
    expect(page.locator("#paperrag-sources")).to_contain_text("Searching the papers")
    open_tab(page, "Library")  # the page is not frozen while the answer is pending
    expect(page.locator("#paperrag-library")).to_contain_text("Sparse Widget Attention")
    open_tab(page, "Ask")
    srv.release()

    bot = page.locator("#paperrag-chat [data-testid=bot]").last
    expect(bot).to_contain_text("64 highest-scoring keys")
    page_link = bot.locator('a[href*="reader/2405.00001v1?page="]').first  # the cited page, in the local reader
    abs_link = bot.locator('a[href*="arxiv.org/abs/2405.00001v1"]').first
    expect(page_link).to_be_visible()
    expect(abs_link).to_have_text("2405.00001")
    expect(page_link).to_have_text(re.compile(r"^p\.\d+$"))
    with page.context.expect_page() as opened:  # clickable: it opens the cached PDF at the page, the quote boxed
        page_link.click()
    assert re.search(r"127\.0\.0\.1:\d+/reader/2405\.00001v1\?page=\d+&q=", opened.value.url)
    opened.value.close()

    sources = page.locator("#paperrag-sources")
    expect(sources).to_contain_text("Cited sources (1)")
    expect(sources).to_contain_text("64 highest-scoring keys")  # the quoted evidence
    expect(sources.locator('a[href*="#page="]')).to_have_count(1)
    page.get_by_text("Copy the last answer as Markdown").click()
    code = page.locator("#paperrag-markdown")
    expect(code).to_contain_text("**Sources**")
    expect(code).to_contain_text("[2405.00001 p.")

    # a follow-up keeps the context: the model is asked to condense it with the first turn
    before = len(srv.chat_requests())
    page.locator("#paperrag-question textarea").fill("and how much memory does that save?")
    page.locator("#paperrag-question textarea").press("Enter")
    expect(page.locator("#paperrag-chat [data-testid=bot]")).to_have_count(2)
    expect(page.locator("#paperrag-chat [data-testid=bot]").last).to_contain_text("factor of eight")
    condense = [r for r in srv.chat_requests()[before:] if "standalone question" in r["messages"][0]["content"]]
    assert condense and "How many keys does sparse widget attention keep" in condense[0]["messages"][-1]["content"]


def test_ask_errors_are_one_readable_line(page, app_env):
    page.get_by_text("Filters", exact=True).click()
    page.get_by_label("Published from").fill("last tuesday")
    page.locator("#paperrag-question textarea").fill("How is the citation crawler trained?")
    page.locator("#paperrag-ask").click()
    expect(page.get_by_text("From date must be YYYY-MM-DD, got 'last tuesday'").first).to_be_visible()
    expect(page.get_by_text("Traceback")).to_have_count(0)


def test_ask_filters_reach_the_retriever(app_env):
    from gradio_client import Client

    client = Client(app_env["url"], verbose=False)
    chat, sources, *_ = client.predict("How many keys does sparse widget attention keep?", "", "", [],
                                       ["2405.00002"], "", "auto", api_name="/ask")
    text = chat[-1]["content"][0]["text"] if isinstance(chat[-1]["content"], list) else chat[-1]["content"]
    assert "2405.00001" not in text and "2405.00001" not in sources  # only the picked paper can be cited


# ------------------------------------------------------------------------------------------ Digests
def test_digest_renders_with_working_anchors_downloads_and_regenerates(page, app_env):
    srv = app_env["srv"]
    open_tab(page, "Digests")
    view = page.locator("#paperrag-digest-view")
    expect(view.locator("nav.toc")).to_be_visible()
    expect(page.get_by_role("combobox", name="Day")).to_have_value(DAY)
    anchor = "2405.00003v1"
    links = view.locator(f'main a[href="#{anchor}"]')  # the executive summary and the key findings both link it
    expect(links.first).to_be_visible()
    link = links.first
    link.click()
    expect(page).to_have_url(re.compile(rf"#{re.escape(anchor)}$"))
    page.wait_for_function(  # the paper's section is scrolled to the top of the viewport
        "id => { const r = document.getElementById(id).getBoundingClientRect(); return r.top >= -2 && r.top < 120; }",
        arg=anchor)
    assert page.evaluate("window.scrollY") > 300

    with page.expect_download() as md:
        page.get_by_role("button", name="Download .md").click()
    assert md.value.suggested_filename == f"paperrag-{DAY}-report.md"
    assert "Gradient Lenses for Deep Encoders" in Path(md.value.path()).read_text()
    with page.expect_download() as html:
        page.get_by_role("button", name="Download .html").click()
    assert html.value.suggested_filename == f"paperrag-{DAY}-report.html"

    page.get_by_role("radio", name="run report").check()
    expect(view).to_contain_text("Run report")

    page.get_by_text("Regenerate this day's digest").click()
    srv.hold()  # the first LLM call of the rewrite waits: the progress must be on the page meanwhile
    page.locator("#paperrag-regenerate").click()
    assert srv.waiting.wait(timeout=60)
    # the paper and the card field being read, or the part being written
    expect(page.get_by_text(re.compile(r"(card|report): 2405\.0000\dv1|2405\.0000\dv1: \w")).first).to_be_visible()
    srv.release()
    expect(page.get_by_text(f"digest of {DAY} rewritten")).to_be_visible(timeout=120_000)
    expect(view.locator("nav.toc")).to_be_visible()


# ------------------------------------------------------------------------------------------ Library
def test_upload_a_pdf_and_see_it_in_the_library_then_delete_it(page, app_env, tmp_path):
    pdf = make_paper_pdf(tmp_path / "Quantum Widget Routing (final) .pdf", title="Quantum Widget Routing",
                         arxiv_id="2405.00004", category="cs.NI", seed=24)
    open_tab(page, "Library")
    expect(page.locator("#paperrag-library")).to_contain_text("Sparse Widget Attention")
    page.locator("#paperrag-upload input[type=file]").set_input_files(str(pdf))
    expect(page.locator("#paperrag-upload")).to_contain_text("Quantum Widget Routing")  # the upload finished
    page.locator("#paperrag-add").click()
    expect(page.locator("#paperrag-add-result")).to_contain_text("added", timeout=120_000)
    expect(page.locator("#paperrag-library")).to_contain_text("Quantum Widget Routing")
    expect(page.locator("#paperrag-library")).to_contain_text("cs.NI")
    uploads = list((app_env["settings"].home / "uploads").iterdir())
    assert any(re.fullmatch(r"[0-9a-f]{20}\.pdf", p.name) for p in uploads)  # stored under a safe name
    assert not any("Quantum" in p.name for p in uploads)

    page.on("dialog", lambda d: d.accept())
    pick = page.locator("#paperrag-delete-pick input")
    pick.fill("2405.00004")
    pick.press("Enter")
    page.locator("#paperrag-delete").click()
    expect(page.get_by_text("deleted 2405.00004v1").first).to_be_visible()
    expect(page.locator("#paperrag-library")).not_to_contain_text("Quantum Widget Routing")


def test_bad_upload_shows_an_error_message(page, tmp_path):
    bad = make_bad_pdfs(tmp_path / "bad")["html"]  # an HTML page saved as .pdf
    open_tab(page, "Library")
    page.locator("#paperrag-upload input[type=file]").set_input_files(str(bad))
    expect(page.locator("#paperrag-upload")).to_contain_text("saved-page")
    page.locator("#paperrag-add").click()
    expect(page.get_by_text("saved-page.pdf: not a PDF (no %PDF- header; it looks like an HTML page)").first) \
        .to_be_visible()
    expect(page.get_by_text("Traceback")).to_have_count(0)


# ------------------------------------------------------------------------------------------ Status
def test_status_says_which_backend_is_live_and_whether_the_index_is_healthy(page, app_env):
    open_tab(page, "Status")
    status = page.locator("#paperrag-status")
    expect(status).to_contain_text("In use: ollama")
    expect(status).to_contain_text("reachable: yes")
    expect(status).to_contain_text(re.compile(r"vectors in Chroma: \d+ — ✓ in step with the catalog"))
    expect(status).to_contain_text(f"latest digest: {DAY}")


# ------------------------------------------------------------------------------------------ load
def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _report(lines: list[str], capsys) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "ui-latency.txt", "a") as fh:
        fh.write("\n".join(lines) + "\n")
    with capsys.disabled():
        print("\n" + "\n".join(lines))


def test_twenty_concurrent_questions_through_gradio_client(app_env, capsys):
    from gradio_client import Client

    from ui.app import ASK_CONCURRENCY

    ctx = app_env["ctx"]
    questions = [f"How many keys does sparse widget attention keep per query (user {i})?" for i in range(20)]
    clients = [Client(app_env["url"], verbose=False) for _ in questions]  # 20 users, 20 sessions
    already = len(ctx.ask_timings)

    def one(i):
        t0 = time.perf_counter()
        job = clients[i].submit(questions[i], "", "", [], [], "", "auto", api_name="/ask")
        chat, sources, markdown, _ = job.result(timeout=300)
        return time.perf_counter() - t0, chat, sources, markdown, job

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(20)))
    latencies = [r[0] for r in results]
    for _, chat, sources, markdown, job in results:
        assert chat[-1]["role"] == "assistant"
        assert "reader/2405.00001v1?page=" in json.dumps(chat)
        assert "Cited sources (1)" in sources and "[2405.00001 p." in markdown
        assert len(job.outputs()) >= 2  # streamed: the question, then the answer
    spans = [(t["t_start"], t["t_end"]) for t in ctx.ask_timings[already:]]
    assert len(spans) == 20
    most = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert most <= ASK_CONCURRENCY, f"{most} answers ran at once (limit {ASK_CONCURRENCY})"
    _report([f"20 concurrent questions via gradio_client (ask concurrency_limit={ASK_CONCURRENCY}, instant model): "
             f"p50 {statistics.median(latencies):.2f} s · p95 {_percentile(latencies, 0.95):.2f} s · "
             f"max {max(latencies):.2f} s · max answers at once {most}"], capsys)


FIRST_TOKEN_DEADLINE_MS = 120_000  # page.evaluate itself has no timeout: the promise gives up on its own
FIRST_TOKEN_JS = """
ms => new Promise((resolve, reject) => {
  const chat = document.querySelector('#paperrag-chat');
  const before = chat.querySelectorAll('[data-testid=bot]').length;
  const timer = setTimeout(() => {
    obs.disconnect();
    reject(new Error(`no answer text in #paperrag-chat ${ms / 1000} s after clicking Ask (bot messages: ${before} ` +
                     `before the click, ${chat.querySelectorAll('[data-testid=bot]').length} now)`));
  }, ms);
  const obs = new MutationObserver(() => {
    const bots = chat.querySelectorAll('[data-testid=bot]');
    if (bots.length > before && bots[bots.length - 1].textContent.trim().length > 0) {
      obs.disconnect(); clearTimeout(timer); resolve(Date.now());
    }
  });
  obs.observe(chat, {childList: true, subtree: true, characterData: true});
  window.__paperrag_click = Date.now();
  document.querySelector('#paperrag-ask').click();
})
"""


def test_first_token_overhead_of_the_ui(page, app_env, capsys):
    """Browser: click → first answer text on the page. Server: handler start → first piece (retrieval +
    the model's first token). The difference is what the UI adds (queue, transport, rendering)."""
    ctx = app_env["ctx"]
    db = sqlite3.connect(app_env["settings"].catalog_path)
    load = page.evaluate("() => performance.getEntriesByType('navigation')[0].duration / 1000")
    rows = []
    for i in range(8):
        page.get_by_role("button", name="New conversation").click()
        expect(page.locator("#paperrag-chat [data-testid=bot]")).to_have_count(0)
        page.locator("#paperrag-question textarea").fill(f"How many keys does sparse widget attention keep? ({i})")
        first = page.evaluate(FIRST_TOKEN_JS, FIRST_TOKEN_DEADLINE_MS) / 1000
        click = page.evaluate("window.__paperrag_click") / 1000
        expect(page.locator("#paperrag-sources")).to_contain_text("Cited sources")  # the answer is complete
        t = ctx.ask_timings[-1]
        llm_ttft = db.execute("SELECT first_token_s FROM llm_calls WHERE purpose='ask' ORDER BY id DESC LIMIT 1"
                              ).fetchone()[0]
        server = t["t_first_piece"] - t["t_start"]
        rows.append((first - click, server, llm_ttft or 0.0, (first - click) - server))
    db.close()
    browser_ttft, server_ttft, llm_ttft, overhead = (statistics.median(col) for col in zip(*rows))
    _report([
        f"page load (navigation): {load:.2f} s",
        f"first token, median of {len(rows)}: browser click→text {browser_ttft:.3f} s · "
        f"server handler→first piece {server_ttft:.3f} s (of which the model's own first token {llm_ttft:.3f} s) · UI overhead "
        f"{overhead:.3f} s (target ≤ 0.3 s: {'met' if overhead <= 0.3 else 'NOT met'})",
    ], capsys)
