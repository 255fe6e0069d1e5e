"""HTML digests in a real browser (headless Chromium through Playwright): the sample day's digests and the same
day with LaTeX-laden titles, abstracts and findings show no raw LaTeX once the page is rendered (formulas are
MathML, drawn by the browser), load nothing but the page's own files (every request is intercepted: only
file: and data: URLs), and show each paper's key figure under its header.

The sample day runs as `paperrag daily --sample` does (stand-in cards, the fake writer, English).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_kit import needs_chromium
from fakes.cards import stand_in_card
from fakes.llm import ValidWriterLLM

from paperrag.latex import find_math
from paperrag.library import Library
from paperrag.settings import Settings
from rag.digest.model import Cited
from rag.digest.render import write_digest

pytest.importorskip("playwright")
pytestmark = needs_chromium

# abstracts as arXiv prints them, LaTeX and all
LATEX_TITLES = [r"$\alpha$-Crawler: Paper Search in $\mathcal{O}(\log n)$ Steps",
                r"Scaling \(k\)-NN Retrieval to $10^{9}$ Passages",
                r"A $\beta$-VAE View of Citation Graphs"]
LATEX_ABSTRACTS = [
    r"We train a crawler with reward $r_t = \mathbb{1}[p_t \in \mathcal{R}]$ and discount $\gamma = 0.99$; "
    r"its policy $\pi_\theta(a \mid s)$ maximises $$J(\theta) = \mathbb{E}_{\tau \sim \pi_\theta}"
    r"\left[\sum_{t=0}^{T} \gamma^t r_t\right].$$ It costs $5 and $10 a day to run.",
    r"Retrieval over $N = 10^9$ passages uses \(d = 768\)-dimensional vectors and the score "
    r"\[ s(q, p) = \frac{q^\top p}{\|q\| \, \|p\|} \] with recall@$k$ above $0.9$ for $k \geq 20$.",
    r"We bound the KL term $D_{\mathrm{KL}}(q_\phi(z \mid x) \,\|\, p(z)) \le \epsilon$ and find "
    r"$\beta \in [0.5, 4]$ works; the ELBO is $\log p(x) \geq \mathbb{E}[\log p(x \mid z)] - \beta D$.",
]
RAW_LATEX = re.compile(r"\\[A-Za-z]{2,}|\\\(|\\\)|\\\[|\\\]|\$\$")


@pytest.fixture(scope="module")
def sample_day(tmp_path_factory, embedder):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("rag.digest.writer.default_card_source", stand_in_card)
        base = Settings(home=tmp_path_factory.mktemp("browser") / "home")
        settings = base.model_copy(update={"digest": base.digest.model_copy(update={
            "formats": ["report", "monitor"], "language": "en"})})
        result = Library(settings, llm=ValidWriterLLM(), embedder=embedder).daily(sample=True)
    return settings, result


def raw_latex(text: str) -> list[str]:
    """LaTeX left as text: a span by the digest's own rules, a backslash command, a \\( \\[ $$ delimiter."""
    return [s.text for s in find_math(text)] + RAW_LATEX.findall(text)


def open_page(browser, path: Path) -> dict:
    """The page in Chromium: every request it made, its visible text, its formulas and its figures."""
    requests: list[str] = []
    page = browser.new_page(viewport={"width": 1100, "height": 900})

    def route(r):
        requests.append(r.request.url)
        if r.request.url.startswith(("file:", "data:")):
            r.continue_()
        else:
            r.abort()

    try:
        page.route("**/*", route)
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        out = {
            "requests": requests,
            "text": page.evaluate("document.querySelector('main').innerText"),
            "math": page.evaluate("[...document.querySelectorAll('main math')].map(m => "
                                  "[m.getBoundingClientRect().width, m.getBoundingClientRect().height])"),
            "figures": page.evaluate("[...document.querySelectorAll('main img')].map(i => "
                                     "[i.getAttribute('src'), i.naturalWidth, i.complete])"),
        }
        page.screenshot(path=str(path.with_suffix(".png")), full_page=False)
    finally:
        page.close()
    return out


def test_sample_day_html_digests_have_no_raw_latex_load_nothing_external_and_show_figures(sample_day, browser):
    settings, result = sample_day
    assert len(result.digest.papers) == 3
    with_figure = [e for e in result.digest.papers if e.figure is not None]
    assert with_figure, "PaSa (2501.10120) has its Figure 1"
    for entry in with_figure:
        assert (settings.digests_dir / result.date / entry.figure.path).is_file()
        assert entry.figure.number == 1 and entry.figure.caption.startswith("Figure 1")
    for fmt in ("report", "monitor"):
        md = result.files[f"{fmt}.md"].read_text(encoding="utf-8")
        for entry in with_figure:
            assert f"![Figure 1]({entry.figure.path})" in md
        shown = open_page(browser, result.files[f"{fmt}.html"])
        assert shown["requests"] and all(u.startswith(("file:", "data:")) for u in shown["requests"]), \
            shown["requests"]
        assert raw_latex(shown["text"]) == []
        assert sorted(src for src, _, _ in shown["figures"]) == sorted(e.figure.path for e in with_figure)
        assert all(width > 100 and complete for _, width, complete in shown["figures"]), shown["figures"]


def test_latex_in_titles_abstracts_and_findings_renders_as_math(sample_day, browser, tmp_path):
    settings, result = sample_day
    digest = result.digest
    spans = 0
    for entry, title, abstract in zip(digest.papers, LATEX_TITLES, LATEX_ABSTRACTS, strict=True):
        entry.meta.title, entry.meta.abstract = title, abstract
        entry.key_findings = [Cited(abstract.split(";")[0] + ".", [], "code")]
        spans += len(find_math(title)) + len(find_math(abstract))  # each shown at least once in both formats
    out = tmp_path / "digests"
    for fmt in ("report", "monitor"):
        files = write_digest(digest, fmt, out)
        md = files["md"].read_text(encoding="utf-8")
        for abstract in LATEX_ABSTRACTS:
            for s in find_math(abstract):
                assert s.text.replace("<", "\\lt ") in md  # the markdown keeps the LaTeX as written
        shown = open_page(browser, files["html"])
        assert all(u.startswith(("file:", "data:")) for u in shown["requests"]), shown["requests"]
        assert raw_latex(shown["text"]) == [], raw_latex(shown["text"])[:5]
        assert "It costs $5 and $10 a day to run." in shown["text"]  # dollars that are not math stay text
        assert len(shown["math"]) >= spans and all(w > 0 and h > 0 for w, h in shown["math"])
