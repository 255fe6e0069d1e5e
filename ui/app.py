"""`paperrag ui`: the Gradio app — Ask, Digests, Compare, Library, Status.

    from ui.app import build_app, launch
    launch(Library(settings))              # http://127.0.0.1:7860, what `paperrag ui` runs
    demo = build_app(Library(settings))    # the gr.Blocks, e.g. to mount or test

The app holds no logic the CLI lacks: every button calls the Library use case its CLI command calls
(`Library.ask`, `.ingest`, `.delete`, `.digest`, `.compare`, `.status`, `.health`, `.doctor`).
Long operations run in Gradio's queue with their own concurrency limits (questions: 2 at once, ingest and
digest writing: 1), so the page never freezes; failures reach the user as one-line messages.
"""

from __future__ import annotations

import functools
import inspect
import ipaddress
import logging
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from paperrag.offline import apply_defaults

apply_defaults()  # gradio's analytics and the hub off, before gradio is imported

import gradio as gr  # noqa: E402

from paperrag.errors import PaperragError, is_user_error, user_message  # noqa: E402
from paperrag.library import Library  # noqa: E402
from ui import app_render as R  # noqa: E402
from ui.memory import tune_malloc  # noqa: E402
from ui.reader_web import add_reader_routes  # noqa: E402

log = logging.getLogger(__name__)

ASK_CONCURRENCY = 2  # questions answered at once (retrieval + LLM on a small CPU); more wait in the queue
INGEST_CONCURRENCY = 1  # one writer per home anyway (ingest/pipeline.py's lock)
DIGEST_CONCURRENCY = 1
DEFAULT_CONCURRENCY = 4  # listings and status pages
STREAM_MIN_INTERVAL_S = 0.05  # at most ~20 page updates per second per answer (the first piece goes at once)
LANGUAGES = ["auto", "en", "zh"]
STATUSES = ["all", "indexed", "failed", "superseded", "indexing"]
THEME_FONTS = dict(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])

CSS = """
.paperrag-digest { max-width: 62rem; line-height: 1.6; }
.paperrag-digest nav.toc { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: .6rem 1rem;
  margin-bottom: 1rem; background: var(--background-fill-secondary); }
.paperrag-digest nav.toc ul { margin: 0; padding-left: 1.2rem; }
.paperrag-digest table { border-collapse: collapse; margin: .8rem 0; display: block; overflow-x: auto; }
.paperrag-digest th, .paperrag-digest td { border: 1px solid var(--border-color-primary); padding: .3rem .55rem;
  vertical-align: top; }
.paperrag-digest h1 { font-size: 1.6rem; } .paperrag-digest h2 { font-size: 1.3rem; margin-top: 1.6rem; }
.paperrag-digest h3 { font-size: 1.1rem; }
.paperrag-digest img { max-width: 100%; height: auto; border: 1px solid var(--border-color-primary); }
.paperrag-digest blockquote { border-left: 3px solid var(--border-color-primary); margin-left: 0; padding-left: .8rem; }
.paperrag-digest :target, .paperrag-digest a[id]:target + h2 { scroll-margin-top: 1rem; }
#paperrag-sources { max-height: 640px; overflow-y: auto; }
"""


# ------------------------------------------------------------------------------------------- app state
class AppContext:
    """What one running app shares between sessions: the Library (its components are built once and shared),
    a folder for named download copies, and server-side answer timings (tests measure the UI overhead)."""

    def __init__(self, lib: Library):
        self.lib = lib
        self.settings = lib.settings
        self.download_dir = Path(tempfile.mkdtemp(prefix="paperrag-ui-"))  # named copies for download buttons
        self.ask_timings: list[dict] = []

    def warm(self) -> None:
        """Load the embedder and the search indexes, so the first question answers at once."""
        try:
            self.lib.warm()
        except Exception as exc:  # the first question will say what is wrong
            log.warning("warming the search indexes failed: %s", user_message(exc))


# ------------------------------------------------------------------------------------------- errors
def one_line(exc: BaseException) -> str:
    """The message a person reads: the same line the CLI prints after "error: "."""
    return user_message(exc)


def friendly(fn: Callable) -> Callable:
    """Event handler wrapper: any exception becomes a gr.Error with one readable line (never a traceback
    in the page; the traceback of an unexpected one goes to the server log)."""

    def convert(exc: BaseException) -> gr.Error:
        if isinstance(exc, gr.Error):
            return exc
        if not is_user_error(exc):
            log.exception("unexpected error in %s", fn.__name__)
        return gr.Error(one_line(exc), print_exception=False)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:
                raise convert(exc) from None

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise convert(exc) from None

    return wrapper


# ------------------------------------------------------------------------------------------- progress
class GradioProgress:
    """paperrag.progress.ProgressSink shown through gr.Progress: the innermost running task is displayed
    (e.g. "Embedding 2405.00001v1" while "Indexing papers 1/3" runs)."""

    def __init__(self, progress: gr.Progress | None):
        self.progress = progress
        self.tasks: dict[str, list] = {}  # task → [done, total, description]

    def _show(self) -> None:
        if self.progress is None or not self.tasks:
            return
        done, total, desc = self.tasks[next(reversed(self.tasks))]
        outer = self.tasks.get("papers")
        if outer is not None and next(reversed(self.tasks)) != "papers":
            desc = f"{outer[2]} ({outer[0]}/{outer[1]}) · {desc}"
        try:
            self.progress((done, total) if total else None, desc=desc[:120])
        except Exception:  # progress is cosmetic: never let it break the work
            pass

    def start(self, task: str, *, total: int | None, description: str = "") -> None:
        self.tasks.pop(task, None)
        self.tasks[task] = [0, total, description or task]
        self._show()

    def update(self, task: str, *, description: str) -> None:
        if task in self.tasks:
            self.tasks[task][2] = description
            self._show()

    def advance(self, task: str, n: int = 1) -> None:
        if task in self.tasks:
            self.tasks[task][0] += n
            self._show()

    def stop(self, task: str) -> None:
        self.tasks.pop(task, None)
        self._show()


# ------------------------------------------------------------------------------------------- the reader
class ReaderLinks:
    """Local-reader addresses for the quotes of one answer (a paper's PDF looked up once per answer)."""

    def __init__(self, lib: Library):
        self.lib = lib
        self._links: dict[tuple[str, int], str] = {}
        self._seen = -1

    def links(self, quotes) -> dict[tuple[str, int], str]:
        quotes = list(quotes or ())
        if len(quotes) != self._seen:  # new quotes were published since the last piece
            try:
                self._links = self.lib.reader_links(quotes)
            except Exception:  # a link to arXiv instead is no reason to break an answer
                log.exception("reader links")
                self._links = {}
            self._seen = len(quotes)
        return self._links

    def sources(self, result) -> list[dict]:
        """`AskResult.sources()` with `reader_url` on the sources whose PDF is cached."""
        links = self.links(result.quotes)
        out = []
        for s, q in zip(result.sources(), result.quotes):
            url = links.get((q.arxiv_id, q.page)) if not q.abstract_only else None
            out.append({**s, "reader_url": self.lib.reader_url(q.paper_key, q.page, [q.text]) if url else ""})
        return out


# ------------------------------------------------------------------------------------------- Compare
def _compare_tab(ctx: AppContext, paper_dropdowns: list) -> None:
    with gr.Tab("Compare", id="compare"):
        gr.Markdown("Compare papers of your library side by side: the paper-card fields, or the aspects you name. "
                    "Every cell cites the pages it came from: a page opens in the reader, the quote highlighted; "
                    "↗ opens it on arXiv.")
        with gr.Row():
            papers = gr.Dropdown(label="Papers (two or more)", multiselect=True, allow_custom_value=True, choices=[],
                                 scale=3, elem_id="paperrag-compare-papers")
            aspects = gr.Textbox(label="Aspects (comma-separated; empty = the paper-card fields)", scale=2,
                                 placeholder="training data, action representation, results")
        go = gr.Button("Compare", variant="primary", elem_id="paperrag-compare")
        out = gr.Markdown(elem_id="paperrag-compare-result", latex_delimiters=R.LATEX_DELIMITERS)
        with gr.Accordion("Copy as Markdown", open=False):
            as_markdown = gr.Code(language="markdown", buttons=["copy", "download"], interactive=False, lines=8)
        paper_dropdowns.append(papers)

        @friendly
        def run_compare(ids, aspects_text, progress=gr.Progress()):
            ids = [i for i in (ids or []) if i]
            if len(ids) < 2:
                raise gr.Error("pick at least two papers to compare", print_exception=False)
            result = ctx.lib.compare(ids, aspects_text or None, progress=GradioProgress(progress))
            # pages open the app's reader (relative here; absolute in the copy, which is read elsewhere)
            return result.to_markdown(reader=""), result.to_markdown(reader=ctx.settings.ui.app_url)

        go.click(run_compare, [papers, aspects], [out, as_markdown], concurrency_limit=1, concurrency_id="compare",
                 api_name="compare")


# ------------------------------------------------------------------------------------------- Ask
def _filters(date_from, date_to, categories, papers, digest_day):
    for label, value in (("From", date_from), ("To", date_to)):  # named as the fields are labelled here
        if value and value.strip():
            try:
                date.fromisoformat(value.strip())
            except ValueError:
                raise gr.Error(f"{label} date must be YYYY-MM-DD, got {value.strip()!r}",
                               print_exception=False) from None
    return Library.filters(since=(date_from or "").strip() or None, until=(date_to or "").strip() or None,
                           categories=categories or (), papers=papers or (), digest=digest_day or None)


def _ask_tab(ctx: AppContext, paper_dropdowns: list, category_dropdowns: list, digest_dropdowns: list):
    with gr.Tab("Ask", id="ask"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="Answers cite paper, section and page", height=520, elem_id="paperrag-chat",
                                     buttons=["copy"], feedback_options=None, latex_delimiters=R.LATEX_DELIMITERS,
                                     placeholder="Ask anything about the indexed papers — in English or 中文. "
                                                 "Answers cite `[arXiv id §section p.page]`; follow-up questions "
                                                 "keep the context.")
                with gr.Row():
                    question = gr.Textbox(show_label=False, placeholder="e.g. How does PaSa train its crawler?",
                                          lines=1, max_lines=6, scale=5, elem_id="paperrag-question", autofocus=True)
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="paperrag-ask")
                with gr.Row():
                    stop = gr.Button("Stop", size="sm", variant="stop", scale=0)
                    clear = gr.Button("New conversation", size="sm", scale=0)
                    lang = gr.Radio(LANGUAGES, value="auto", label="Answer language", scale=2,
                                    elem_id="paperrag-lang")
                with gr.Accordion("Filters", open=False):
                    with gr.Row():
                        date_from = gr.Textbox(label="Published from", placeholder="YYYY-MM-DD", scale=1)
                        date_to = gr.Textbox(label="Published to", placeholder="YYYY-MM-DD", scale=1)
                        digest_day = gr.Dropdown(label="Only the papers of the digest of", choices=[("any day", "")],
                                                 value="", allow_custom_value=True, scale=1)
                    with gr.Row():
                        categories = gr.Dropdown(label="Categories", multiselect=True, allow_custom_value=True,
                                                 choices=[], info="e.g. cs.CL, or a whole archive: cs")
                        papers = gr.Dropdown(label="Only these papers", multiselect=True, allow_custom_value=True,
                                             choices=[])
            with gr.Column(scale=2):
                sources = gr.Markdown("*The sources an answer cites appear here, with the quoted evidence.*",
                                      elem_id="paperrag-sources", container=True, padding=True,
                                      latex_delimiters=R.LATEX_DELIMITERS)
                with gr.Accordion("Copy the last answer as Markdown", open=False):
                    as_markdown = gr.Code(language="markdown", label="Answer with citations and sources",
                                          buttons=["copy", "download"], interactive=False, lines=8, wrap_lines=True,
                                          elem_id="paperrag-markdown")
        paper_dropdowns.append(papers)
        category_dropdowns.append(categories)
        digest_dropdowns.append(digest_day)
        messages = gr.State([])
        turns = gr.State([])

        def ask(q, msgs, history, d_from, d_to, cats, pids, digest, language):
            t_start = time.time()
            q = (q or "").strip()
            if not q:
                gr.Warning("Type a question first.")
                yield gr.skip(), gr.skip(), gr.skip(), msgs, history, gr.skip()
                return
            msgs = list(msgs or []) + [{"role": "user", "content": q}]
            history = list(history or [])
            yield msgs, "*Searching the papers…*", "", msgs, history, ""
            timing = {"t_start": t_start, "t_first_piece": None, "t_end": None}
            text = ""
            try:
                filters = _filters(d_from, d_to, cats, pids, digest)
                stream = ctx.lib.ask(q, filters=filters, history=history,
                                     lang=None if language in (None, "", "auto") else language)
                versions = R.versions_of(stream.result.evidence)
                reader = ReaderLinks(ctx.lib)
                last = 0.0
                for piece in stream:
                    if not piece:
                        continue
                    text += piece
                    now = time.time()
                    if timing["t_first_piece"] is None:
                        timing["t_first_piece"] = now
                    elif now - last < STREAM_MIN_INTERVAL_S:
                        continue
                    last = now
                    links = reader.links(stream.result.quotes)
                    yield (msgs + [{"role": "assistant", "content": R.linkify(text, versions, links)}],
                           gr.skip(), gr.skip(), msgs, history, gr.skip())
                result = stream.result
            except Exception as exc:  # say it in the chat and as a toast; the conversation goes on
                ctx.lib.recover(exc)
                message = exc.message if isinstance(exc, gr.Error) else one_line(exc)
                if not isinstance(exc, gr.Error) and not is_user_error(exc):
                    log.exception("ask failed")
                gr.Warning(message)
                shown = (R.linkify(text) + "\n\n" if text else "") + f"⚠ {R.md_escape(message)}"
                msgs = msgs + [{"role": "assistant", "content": shown}]
                yield msgs, f"⚠ {R.md_escape(message)}", "", msgs, history, gr.skip()
                return
            finally:
                timing["t_end"] = time.time()
                ctx.ask_timings.append(timing)
                del ctx.ask_timings[:-200]
            versions = R.versions_of(result.evidence)
            links = reader.links(result.quotes)
            final = R.linkify(result.answer, versions, links)
            msgs = msgs + [{"role": "assistant", "content": final}]
            history = history + [(q, result.answer)]
            panel = R.sources_markdown(reader.sources(result), result.notes)
            if result.abstained and not result.sources():
                panel = "*No indexed passage answers this question.*" + (
                    "\n\n" + "\n".join(f"*note: {R.md_escape(n)}*  " for n in result.notes) if result.notes else "")
            yield msgs, panel, result.to_markdown(), msgs, history, gr.skip()

        def reset():
            return [], "*The sources an answer cites appear here, with the quoted evidence.*", "", [], [], ""

        inputs = [question, messages, turns, date_from, date_to, categories, papers, digest_day, lang]
        outputs = [chatbot, sources, as_markdown, messages, turns, question]
        ev1 = question.submit(ask, inputs, outputs, concurrency_limit=ASK_CONCURRENCY, concurrency_id="ask",
                              api_name="ask", show_progress="minimal")
        ev2 = send.click(ask, inputs, outputs, concurrency_limit=ASK_CONCURRENCY, concurrency_id="ask",
                         api_visibility="undocumented", api_name="ask_button", show_progress="minimal")
        stop.click(None, None, None, cancels=[ev1, ev2], api_visibility="private", api_name="ask_stop")
        clear.click(reset, None, outputs, cancels=[ev1, ev2], queue=False, api_visibility="private",
                    api_name="ask_clear")
        chatbot.clear(reset, None, outputs, cancels=[ev1, ev2], queue=False, api_visibility="private",
                      api_name="ask_trash")


# ------------------------------------------------------------------------------------------- Digests
def _digests_tab(ctx: AppContext, digest_dropdowns: list):
    settings = ctx.settings
    with gr.Tab("Digests", id="digests") as tab:
        with gr.Row():
            day = gr.Dropdown(label="Day", choices=[], allow_custom_value=False, scale=2, elem_id="paperrag-day")
            fmt = gr.Radio(label="Format", choices=[], scale=3, elem_id="paperrag-format")
            refresh = gr.Button("↻ Refresh", size="sm", scale=0)
        with gr.Row():
            dl_md = gr.DownloadButton("Download .md", visible=False, size="sm", scale=0)
            dl_html = gr.DownloadButton("Download .html", visible=False, size="sm", scale=0)
        view = gr.HTML("<p>No digest yet: run <code>paperrag daily</code>, or regenerate a day below.</p>",
                       elem_id="paperrag-digest-view", padding=True)
        with gr.Accordion("Regenerate this day's digest", open=False):
            gr.Markdown("Rebuilds the digest from what is stored (`paperrag digest`): cached analyses make it "
                        "instant; a new format or language asks the LLM.")
            with gr.Row():
                regen_formats = gr.CheckboxGroup(list(R.FORMATS), value=list(settings.digest.formats),
                                                 label="Formats")
                regen_lang = gr.Radio(["zh", "en"], value=settings.digest.language, label="Language")
                regen_day = gr.Textbox(label="Day (YYYY-MM-DD)", placeholder="the day picked above")
            regen = gr.Button("Regenerate", variant="primary", elem_id="paperrag-regenerate")
            regen_out = gr.Markdown()
        digest_dropdowns.append(day)

        def show(day_name, fmt_name):
            view = ctx.lib.digest_view(day_name, fmt_name) if day_name else None
            if view is None:
                return (gr.update(), "<p>No digest for this day.</p>", gr.update(visible=False),
                        gr.update(visible=False))
            if view.fmt is None:
                return gr.update(choices=[], value=None), view.html, gr.update(visible=False), \
                    gr.update(visible=False)
            # self-contained copies: the .html with its figures inlined, the .md with its figures as a .zip
            folder = ctx.download_dir / day_name
            out = []
            for kind in ("md", "html"):
                copy = ctx.lib.digest_download(day_name, view.fmt, kind, folder) if kind in view.files else None
                label = f"Download .{kind}" + (" + figures (.zip)" if copy and copy.suffix == ".zip" else "")
                out.append(gr.update(value=str(copy), label=label, visible=True) if copy else
                           gr.update(visible=False))
            return gr.update(choices=view.formats, value=view.fmt), view.html, *out

        def list_days(current=None):
            days = ctx.lib.digest_days()
            value = current if current in days else (days[0] if days else None)
            return gr.update(choices=days, value=value)

        @friendly
        def do_regenerate(day_name, manual_day, formats, language, progress=gr.Progress()):
            target = (manual_day or "").strip() or day_name
            if not target:
                raise gr.Error("pick a day above or type one (YYYY-MM-DD)", print_exception=False)
            if not formats:
                raise gr.Error("pick at least one format", print_exception=False)
            started = time.perf_counter()
            result = ctx.lib.digest(target, formats=list(formats), language=language,
                                    progress=GradioProgress(progress))
            written = ", ".join(sorted(k for k in result.files if "." in k))
            summary = (f"✓ digest of **{target}** rewritten: {len(result.digest.papers)} papers, "
                       f"{result.llm_calls} LLM calls, {time.perf_counter() - started:.1f} s — {written}")
            first = next((f for f in R.FORMATS if f in formats), None)
            return (summary, list_days(target), *show(target, first))

        view_outputs = [fmt, view, dl_md, dl_html]
        day.change(show, [day, fmt], view_outputs, api_visibility="private", api_name="digest_show")
        fmt.input(show, [day, fmt], view_outputs, api_visibility="private", api_name="digest_format")
        refresh.click(list_days, day, day, api_visibility="private", api_name="digest_days")
        tab.select(list_days, day, day, api_visibility="private", api_name="digest_tab")
        regen.click(do_regenerate, [day, regen_day, regen_formats, regen_lang], [regen_out, day, *view_outputs],
                    concurrency_limit=DIGEST_CONCURRENCY, concurrency_id="digest", api_name="regenerate")


# ------------------------------------------------------------------------------------------- Library
def _library_tab(ctx: AppContext, refresh_choices: Callable, choice_outputs: Callable, paper_dropdowns: list):
    settings = ctx.settings
    with gr.Tab("Library", id="library") as tab:
        counts = gr.Markdown()
        with gr.Row():
            query = gr.Textbox(label="Search the library", placeholder="title, id, category, author…", scale=4,
                               elem_id="paperrag-lib-search")
            status = gr.Dropdown(STATUSES, value="all", label="Status", scale=1)
            refresh = gr.Button("↻ Refresh", scale=0, size="sm")
        table = gr.Dataframe(headers=R.LIBRARY_COLUMNS, datatype="str", interactive=False, wrap=True,
                             max_height=420, elem_id="paperrag-library", show_search="none",
                             column_widths=["9%", "31%", "8%", "10%", "7%", "8%", "5%", "22%"])
        with gr.Row(equal_height=False):
            with gr.Column():
                gr.Markdown("### Add papers")
                ids = gr.Textbox(label="arXiv ids or URLs", lines=2,
                                 placeholder="2501.10120  https://arxiv.org/abs/2506.19850v2 …")
                files = gr.File(label=f"…or upload PDFs (at most {settings.fetch.max_pdf_mb:g} MB each)",
                                file_count="multiple", file_types=[".pdf"], type="filepath",
                                elem_id="paperrag-upload")
                add = gr.Button("Add to library", variant="primary", elem_id="paperrag-add")
                result = gr.Markdown(elem_id="paperrag-add-result")
            with gr.Column():
                gr.Markdown("### Remove a paper")
                victim = gr.Dropdown(label="Paper (id removes every version; a key like 2501.10120v2 one version)",
                                     choices=[], allow_custom_value=True, elem_id="paperrag-delete-pick")
                delete = gr.Button("Delete from the library", variant="stop", elem_id="paperrag-delete")
                deleted = gr.Markdown()
                gr.Markdown("### Rate a paper (ranks your digests)")
                rate_pick = gr.Dropdown(label="Paper", choices=[], allow_custom_value=True,
                                        elem_id="paperrag-rate-pick")
                with gr.Row():
                    thumbs_up = gr.Button("👍", size="sm", elem_id="paperrag-rate-up")
                    thumbs_down = gr.Button("👎", size="sm", elem_id="paperrag-rate-down")
                    not_interested = gr.Button("Not interested", size="sm", elem_id="paperrag-rate-0")
                    unrate = gr.Button("Clear rating", size="sm", elem_id="paperrag-rate-clear")
                rated = gr.Markdown(elem_id="paperrag-rate-result")
                gr.Markdown("### Recent runs")
                runs = gr.Markdown(elem_id="paperrag-runs")
        with gr.Accordion("Your reading profile: seeds and ratings that rank your digests", open=True,
                          elem_id="paperrag-profile-box"):
            with gr.Row(equal_height=False):
                with gr.Column():
                    seed_ids = gr.Textbox(label="Seed papers: arXiv ids", lines=1, elem_id="paperrag-seed-ids",
                                          placeholder="2303.04137 2501.10120 …")
                    seed_files = gr.File(label="…or a reading list: BibTeX (.bib), RIS (.ris), Zotero CSL-JSON "
                                               "(.json) or RDF (.rdf), or PDFs", file_count="multiple",
                                         type="filepath", file_types=[".bib", ".ris", ".json", ".rdf", ".pdf"],
                                         elem_id="paperrag-seed-upload")
                    seed_add = gr.Button("Add seeds", variant="primary", elem_id="paperrag-seed-add")
                    seed_result = gr.Markdown(elem_id="paperrag-seed-result")
                    seed_pick = gr.Dropdown(label="Remove a seed", choices=[], allow_custom_value=True,
                                            elem_id="paperrag-seed-pick")
                    with gr.Row():
                        seed_remove = gr.Button("Remove seed", size="sm", elem_id="paperrag-seed-remove")
                        reset = gr.Button("Reset profile (forget seeds and ratings)", size="sm", variant="stop",
                                          elem_id="paperrag-profile-reset")
                with gr.Column():
                    profile_md = gr.Markdown(elem_id="paperrag-profile")
        paper_dropdowns.append(victim)
        paper_dropdowns.append(rate_pick)
        choice_outputs = choice_outputs()

        def listing(q, st):
            status = ctx.lib.status(runs=5)
            if not status.exists:
                return ("**No papers yet.** Add some below: arXiv ids or URLs, or PDF files "
                        "(or run `paperrag daily`).", [], R.runs_markdown([]))
            rows, n = R.library_rows(ctx.lib.papers(), q, st)
            c = status.counts
            head = (f"**{sum(c.values())} papers** · indexed {c.get('indexed', 0)} (full text {status.fulltext}, "
                    f"abstract only {status.abstract_only}) · failed {c.get('failed', 0)}"
                    + (f" · showing {len(rows)} of {n}" if n > len(rows) else "")
                    + (f" · {n} match" if (q or st != "all") else ""))
            return head, rows, R.runs_markdown(status.runs)

        @friendly
        def add_papers(text, uploads, q, st, progress=gr.Progress()):
            uploads = [uploads] if isinstance(uploads, str) else list(uploads or [])
            outcome = ctx.lib.add(text or "", uploads=uploads, progress=GradioProgress(progress))
            for p in outcome.problems:
                gr.Warning(p)
            report = outcome.report
            failed = {d.paper for d in report.decisions if d.action.value == "failed"}
            if failed:
                gr.Warning(f"{len(failed)} paper(s) could not be added: see the reasons below")
            summary = R.decisions_markdown(report.decisions, [*outcome.notes, *report.notes], outcome.problems)
            summary += f"\n\n{report.chunks_written} chunks written in {report.seconds:.1f} s (run {report.run_id})"
            return (summary, *listing(q, st), None, "", *refresh_choices())

        @friendly
        def delete_paper(key, q, st):
            key = (key or "").strip()
            if not key:
                return gr.skip(), *listing(q, st), *refresh_choices()
            removed = ctx.lib.delete(key)
            gr.Info(f"deleted {', '.join(removed)}")
            return f"✓ deleted {', '.join(removed)}", *listing(q, st), *refresh_choices()

        for button, value, name in ((thumbs_up, "+1", "rate_up"), (thumbs_down, "-1", "rate_down"),
                                    (not_interested, "0", "rate_not_interested"), (unrate, None, "rate_clear")):
            button.click(friendly(lambda key, v=value: rate_markdown(ctx.lib, key, v)), [rate_pick], [rated],
                         api_name=name)

        def profile_state(message=""):
            seeds = ctx.lib.seeds()
            choices = [f"{x.id}: {x.title or x.arxiv_id or x.doi}" for x in seeds]
            return message, profile_markdown(ctx.lib), gr.update(choices=choices, value=None)

        @friendly
        def add_seeds(text, uploads):
            uploads = [uploads] if isinstance(uploads, str) else list(uploads or [])
            inputs = (text or "").split() + [str(u) for u in uploads]
            r = ctx.lib.seeds_add(inputs)
            for line in r.problems:
                gr.Warning(f"skipped: {line}")
            lines = [f"✓ {r.added} seed(s) added, {r.updated} updated, {len(r.matched)} matched in the library, "
                     f"{len(r.problems)} skipped"]
            lines += [f"- matched {R.md_escape(x)}" for x in r.matched]
            lines += [f"- kept with its own text: {R.md_escape(x)}" for x in r.unmatched]
            lines += [f"- skipped: {R.md_escape(x)}" for x in r.problems]
            return (*profile_state("\n".join(lines)), "", None)

        @friendly
        def remove_seed(pick):
            pick = (pick or "").strip()
            if not pick:
                return profile_state("Pick a seed to remove.")
            gone = ctx.lib.seeds_remove([pick.split(":", 1)[0].strip()])
            return profile_state("✓ removed " + ", ".join(R.md_escape(x.title or x.arxiv_id) for x in gone))

        @friendly
        def reset_profile(ok):
            if not ok:
                return profile_state()
            n_seeds, n_ratings = ctx.lib.profile_reset()
            return profile_state(f"✓ removed {n_seeds} seed(s) and {n_ratings} rating(s): digests keep the "
                                 "feed's order")

        profile_outs = [seed_result, profile_md, seed_pick]
        seed_add.click(add_seeds, [seed_ids, seed_files], [*profile_outs, seed_ids, seed_files],
                       concurrency_limit=INGEST_CONCURRENCY, concurrency_id="ingest", api_name="seeds_add")
        seed_remove.click(remove_seed, [seed_pick], profile_outs, api_name="seeds_remove")
        reset.click(reset_profile, [reset], profile_outs, api_name="profile_reset",
                    js="() => [confirm('Forget every seed and rating? Digests go back to the feed order.')]")
        tab.select(lambda: profile_state(), None, profile_outs, api_visibility="private", api_name="profile")
        rated.change(lambda: profile_markdown(ctx.lib), None, [profile_md], api_visibility="private",
                     api_name="profile_after_rating")  # a 👍/👎 shows in the profile at once

        lists = [counts, table, runs]
        query.submit(listing, [query, status], lists, api_name="library")
        status.change(listing, [query, status], lists, api_visibility="private", api_name="library_status")
        refresh.click(listing, [query, status], lists, api_visibility="private", api_name="library_refresh")
        tab.select(listing, [query, status], lists, api_visibility="private", api_name="library_tab")
        add.click(add_papers, [ids, files, query, status], [result, *lists, files, ids, *choice_outputs],
                  concurrency_limit=INGEST_CONCURRENCY, concurrency_id="ingest", api_name="add_papers")
        delete.click(delete_paper, [victim, query, status], [deleted, *lists, *choice_outputs],
                     concurrency_limit=INGEST_CONCURRENCY, concurrency_id="ingest", api_name="delete_paper",
                     js="(key, q, st) => [key && confirm('Delete ' + key + ' from the library? Its vectors and "
                        "chunks are removed (the cached PDF stays).') ? key : '', q, st]")


def rate_markdown(lib: Library, key: str, value: str | None) -> str:
    """👍 / 👎 / not interested / clear on a paper (through `Library.rate`), and what it did, in one line."""
    key = (key or "").strip()
    if not key:
        return "Pick a paper to rate."
    record = lib.rate(key, value, clear=value is None)
    if record is None:
        return f"✓ rating of {key} cleared"
    mark = {"up": "👍", "down": "👎"}.get(record.label, "not interested")
    return f"✓ {record.arxiv_id} rated {mark}: later digests rank papers like it " + (
        "higher" if record.value > 0 else "lower")


def profile_markdown(lib: Library) -> str:
    """What drives the ranking now (`Library.profile`, what `paperrag profile show` prints), as markdown."""
    p = lib.profile()
    if not p.active:
        return ("**No seeds and no ratings**: digests keep the feed's order. Add seed papers (ids or a BibTeX / "
                "RIS / CSL-JSON export), or rate papers 👍 / 👎, and later digests rank papers like them first.")
    out = [f"**What ranks your digests:** {len(p.seeds)} seed(s), {len(p.ratings)} rating(s); keywords "
           f"{', '.join(p.keywords) or '—'} (a prior)."]
    if p.seeds:
        out.append("\n**Seeds**\n")
        out += [f"- {R.md_escape(s.title or s.arxiv_id or s.doi)} *({s.paper_key or 'own text'})*" for s in p.seeds]
    if p.ratings:
        out.append("\n**Ratings** (a rating fades with its age)\n")
        for r in p.ratings:
            mark = {"up": "👍", "down": "👎"}.get(r.label, "not interested")
            out.append(f"- {mark} {R.md_escape(r.arxiv_id)} {R.md_escape(r.title)} (weight {p.weights[r.arxiv_id]:.2f})")
    out.append(f"\n<details><summary>The scoring model</summary>\n\n```\n{p.model}\n```\n</details>")
    return "\n".join(out)


# ------------------------------------------------------------------------------------------- Status
def status_markdown(lib: Library, *, measure: bool = False) -> str:
    doctor = lib.doctor(measure=measure)
    llm = doctor.render().replace("# LLM doctor", "## LLM backend", 1)
    parts = [f"*home: `{lib.settings.home}`*", llm, R.health_markdown(lib.health()),
             R.last_daily_markdown(lib.settings.digests_dir, lib.digest_days())]
    run_id, receipts = lib.last_receipt()
    if receipts:
        lines = "\n".join(f"- {R.md_escape(line)}" for line in lib.receipt_lines(receipts))
        parts.append(f"## Last run receipt (run {run_id})\n\n{lines}")
    return "\n\n".join(parts)


def _status_tab(ctx: AppContext):
    with gr.Tab("Status", id="status") as tab:
        with gr.Row():
            refresh = gr.Button("↻ Refresh", size="sm", scale=0)
            measure = gr.Button("Measure LLM speed (one short generation)", size="sm", scale=0)
        page = gr.Markdown("*Loading…*", elem_id="paperrag-status")

        @friendly
        def show(measure_speed=False):
            return status_markdown(ctx.lib, measure=measure_speed)

        tab.select(show, None, page, api_name="status")
        refresh.click(show, None, page, api_visibility="private", api_name="status_refresh")
        measure.click(lambda: show(True), None, page, concurrency_limit=1, concurrency_id="measure",
                      api_visibility="private", api_name="status_measure")


# ------------------------------------------------------------------------------------------- the app
def build_app(lib: Library | None = None) -> gr.Blocks:
    """The Gradio app over a Library (default: `Library()`, the effective settings)."""
    lib = lib if lib is not None else Library()
    ctx = AppContext(lib)
    paper_dropdowns: list = []
    category_dropdowns: list = []
    digest_dropdowns: list = []

    with gr.Blocks(title="paperrag", analytics_enabled=False, fill_width=True) as demo:
        gr.Markdown("## paperrag · your local arXiv reader", elem_id="paperrag-title")
        with gr.Tabs(elem_id="paperrag-tabs"):
            _ask_tab(ctx, paper_dropdowns, category_dropdowns, digest_dropdowns)
            _digests_tab(ctx, digest_dropdowns)
            _compare_tab(ctx, paper_dropdowns)
            ask_digest = digest_dropdowns[0]

            def choice_outputs() -> list:
                """The pickers refresh_choices() updates, in its order (read once every picker exists)."""
                return [*paper_dropdowns, *category_dropdowns, ask_digest]

            def refresh_choices():
                """New choices for the paper / category / digest-day pickers (after an ingest or a delete)."""
                papers, cats = [], set()
                for p in lib.papers("indexed"):
                    papers.append((f"{p.arxiv_id} — {R.shorten(p.title, 70)}", p.arxiv_id))
                    cats.update(p.categories)
                today = date.today().isoformat()
                days = [("any day", ""), (f"today ({today})", today)] + [
                    (d, d) for d in lib.digest_days() if d != today]
                return ([gr.update(choices=papers) for _ in paper_dropdowns]
                        + [gr.update(choices=sorted(cats)) for _ in category_dropdowns]
                        + [gr.update(choices=days)])

            _library_tab(ctx, refresh_choices, choice_outputs, paper_dropdowns)
            _status_tab(ctx)
        demo.load(refresh_choices, None, choice_outputs(), api_visibility="private", api_name="choices")
        digest_day_picker = digest_dropdowns[1]
        demo.load(lambda: gr.update(choices=lib.digest_days(),
                                    value=next(iter(lib.digest_days()), None)),
                  None, digest_day_picker, api_visibility="private", api_name="days")
    demo.paperrag = ctx  # for tests
    return demo


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """"user:pass" → ("user", "pass"); empty → None."""
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise ValueError("auth must be user:pass (ui.auth or --auth)")
    return user, password


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, port: int, credentials) -> str | None:
    """The warning printed when the app is reachable beyond this machine without a password."""
    if is_loopback(host) or credentials:
        return None
    return (f"warning: serving on {host}:{port} without auth: anyone who can reach this address can read and change "
            "your library; set --auth user:pass (ui.auth) or bind 127.0.0.1")


class ExposureError(PaperragError):
    """Serving beyond loopback without a password, and without --insecure."""


def check_exposure(host: str, port: int, credentials, insecure: bool) -> str | None:
    """None on loopback or with auth; the warning when `insecure` accepts the risk; else ExposureError."""
    warning = exposure_warning(host, port, credentials)
    if warning and not insecure:
        raise ExposureError(f"refusing to serve on {host}:{port} without auth: anyone who can reach this address "
                            "could read and change your library",
                            hint="set --auth user:pass (ui.auth), bind 127.0.0.1, or pass --insecure to accept it")
    return warning


def launch(lib: Library | None = None, host: str | None = None, port: int | None = None, auth: str | None = None, *,
           block: bool = True, warm: bool = True, quiet: bool = False, insecure: bool = False) -> gr.Blocks:
    """Serve the app (default: ui.host / ui.port / ui.auth, i.e. 127.0.0.1:7860 without auth). Warns on stderr
    when bound beyond loopback without auth. `block=False` returns at once with the server running."""
    tune_malloc()  # before the server's worker threads exist: bounded arenas (ui.memory)
    lib = lib if lib is not None else Library()
    settings = lib.settings
    host = host or settings.ui.host
    port = int(port or settings.ui.port)
    credentials = parse_auth(settings.ui.auth if auth is None else auth)
    warning = check_exposure(host, port, credentials, insecure)
    if warning:
        sys.stderr.write(warning + "\n")
    demo = build_app(lib)
    if warm:
        threading.Thread(target=demo.paperrag.warm, name="paperrag-warm", daemon=True).start()
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY, max_size=256)
    demo.launch(
        server_name=host, server_port=port, auth=credentials, auth_message="paperrag", prevent_thread_lock=True,
        show_error=False, quiet=quiet, inbrowser=False, ssr_mode=False, mcp_server=False,
        max_file_size=int(settings.fetch.max_pdf_mb * 1024 * 1024), footer_links=["api", "settings"],
        theme=gr.themes.Soft(**THEME_FONTS), css=CSS,
    )
    # the local reader (/reader/…) is served by the same FastAPI app, behind the same login
    add_reader_routes(demo.app, lib)
    if block:
        demo.block_thread()
    return demo
