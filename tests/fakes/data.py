"""Shared test data: texts with known facts for the generated papers, and a hand-built digest.

* `SPARSE`, `CRAWLER`: one known fact each, for the ask / UI mini-corpora (papers 2405.00001 / 2405.00002).
* `A_DATA` … `B_HW`: the training data, headline result and hardware of the two compare papers
  ("Sparse Widget Attention", "Graph Crawlers for Citation Search").
* `make_digest(lang, fmt, **overrides)`: a realistic digest of three papers (an RSS abstract with its prefix,
  a missing translation, a span that fell back to quotes, a failed analysis, code links with trailing dots) for
  the renderers; `HOSTILE` is markup that must come out escaped.
"""

from __future__ import annotations

from paperrag.records import PaperMeta
from rag.digest.formats import ANALYSIS_HEADINGS, SUMMARY_HEADINGS
from rag.digest.model import Analysis, Cited, Digest, Item, PaperEntry, Part
from rag.quotes import Quote

# ------------------------------------------------------------------------------------------ ask / UI facts
SPARSE = ("Sparse widget attention keeps only the 64 highest-scoring keys for every query, which cuts the "
          "attention memory by a factor of eight on sequences of 32k tokens.")
CRAWLER = ("The citation crawler is trained with proximal policy optimization, using a session-level reward "
           "of 0.1 for every relevant paper it finds within a budget of 300 expansions.")

# ------------------------------------------------------------------------------------------ compare facts
A_DATA = "We train the widget model on the WidgetCorpus collection of 1.2 million annotated widgets."
A_RESULT = ("On the WidgetBench benchmark our model reaches an accuracy of 87.3 percent, compared with 81.5 "
            "percent for the dense baseline.")
A_HW = "Training takes 14 hours on 4 NVIDIA A100 GPUs."
B_DATA = "The crawler is trained on 35,000 citation graphs from the OpenCite collection."
B_RESULT = "On the WidgetBench benchmark the crawler reaches an accuracy of 79.4 percent in the zero-shot setting."
B_HW = "All experiments run on a single RTX 3090 GPU for 6 hours."

# ------------------------------------------------------------------------------------------ a digest
HOSTILE = '<script>alert("x")</script>'


def _metas() -> list[PaperMeta]:
    return [
        PaperMeta(
            arxiv_id="2512.20276",
            version=1,
            title="ActionFlow: A Pipelined Action Acceleration for Vision Language Models on Edge",
            authors=["Yuntao Dai", "Hang Gu", "Teng Wang", "Qianyu Cheng"],
            # as the RSS feed delivers it: render must drop the prefix even if ingest did not
            abstract="arXiv:2512.20276v1 Announce Type: new  Abstract: Vision-Language-Action (VLA) models have "
            "emerged as a unified paradigm for robotic perception and control.\n    However, their deployment "
            "is severely hindered by high inference latency.",
            categories=["cs.AI", "cs.RO"],
            primary_category="cs.AI",
            published="2025-12-25",
            announce_type="new",
            pdf_url="https://arxiv.org/pdf/2512.20276v1",
            abs_url="https://arxiv.org/abs/2512.20276v1",
            code_links=["https://anonymous.4open.science/r/ActionFlow-1D47."],
            source="rss",
        ),
        PaperMeta(
            arxiv_id="2512.05693",
            version=1,
            title="HiMoE-VLA: Hierarchical Mixture-of-Experts for Generalist Vision-Language-Action Policies",
            authors=["Zhiying Du", "Bei Liu", "Yaobo Liang"],
            abstract="The development of foundation models for embodied intelligence critically depends on "
            "access to large-scale, high-quality robot demonstration data.",
            categories=["cs.RO", "cs.AI"],
            published="Mon, 08 Dec 2025 00:00:00 -0500",  # RSS date: shown as ISO
            code_links=["https://github.com/ZhiyingDu/HiMoE-VLA.", "https://github.com/ZhiyingDu/HiMoE-VLA"],
            source="rss",
        ),
        PaperMeta(
            arxiv_id="2512.21118",
            version=2,
            title="STLDM: Spatio-Temporal Latent Diffusion Model for Precipitation Nowcasting",
            authors=["Shi Quan Foo"],
            abstract="Precipitation nowcasting is a critical spatio-temporal prediction task.",
            categories=["cs.LG", "cs.AI", "cs.CV"],
            published="2025-12-24",
            updated="2025-12-25",
            source="api",
        ),
    ]


def quote(meta: PaperMeta, page: int, text: str) -> Quote:
    return Quote(meta.key, meta.arxiv_id, meta.version, page, text, meta.title)


def _analysis(fmt: str, lang: str, meta: PaperMeta, *, fallback: bool = False) -> list[Part]:
    """One item per part, the first span written by the model, the second part's fallen back to quotes."""
    heads = ANALYSIS_HEADINGS[fmt][lang]
    body = "内容：该方法的要点。" if lang == "zh" else "Content: the method's key point."
    parts = []
    for i, h in enumerate(heads, 1):
        q = quote(meta, i + 1, f"Sentence {i} of {meta.title[:12]} on page {i + 1}.")
        cited = Cited("", [q], "quotes") if fallback and i == 2 else Cited(f"{body} ({meta.title[:12]})", [q])
        parts.append(Part(h, [Item("要点" if lang == "zh" else "Point", [cited])]))
    return parts


def make_digest(lang: str = "zh", fmt: str = "report", **kw) -> Digest:
    metas = _metas()
    fmt_a = "monitor" if fmt == "table" else fmt
    papers = [
        PaperEntry(
            n=1, meta=metas[0], matched_keywords=["vla"], fulltext=True,
            title_translated="ActionFlow：面向边缘端视觉语言模型的流水线式动作加速" if lang == "zh" else "",
            summary=[Item("核心思想" if lang == "zh" else "Core idea", [Cited(
                "视觉-语言-动作（VLA）模型已成为机器人感知与控制的统一范式。" if lang == "zh" else
                "VLA models are a unified paradigm for robotic perception and control.",
                [quote(metas[0], 1, "VLA models have emerged as a unified paradigm.")])])],
            analysis=Analysis(_analysis(fmt_a, lang, metas[0]), "full text", "first try"),
            key_findings=["ActionFlow achieves a 2.55x improvement in FPS on OpenVLA-7B without retraining."],
        ),
        PaperEntry(
            n=2, meta=metas[1], matched_keywords=["Vision-Language-Action", "vla"], fulltext=False,
            title_translated="",  # translation missing: original shown and marked
            summary=[],  # no card: the original abstract, marked
            analysis=Analysis(_analysis(fmt_a, lang, metas[1], fallback=True), "abstract only", "fallback",
                              reason="motivation, try 1: span is not in Chinese (0% CJK)", rejected=1),
            key_findings=["HiMoE adaptively handles heterogeneity across layers.", "Consistent gains over VLA baselines."],
        ),
        PaperEntry(
            n=3, meta=metas[2], matched_keywords=["spatio-temporal prediction"], fulltext=True,
            title_translated="STLDM：用于降水临近预报的时空潜在扩散模型" if lang == "zh" else "",
            summary=[Item("问题/任务" if lang == "zh" else "Problem / task", [Cited(
                "降水临近预报是一项关键的时空预测任务。" if lang == "zh" else "Precipitation nowcasting.",
                [quote(metas[2], 1, "Precipitation nowcasting is a critical spatio-temporal prediction task.")])])],
            analysis=Analysis([], "full text", "failed", reason="card extraction failed: model timed out twice"),
            key_findings=[],
        ),
    ]
    values = dict(
        date="2025-12-26", language=lang, categories=["cs.AI", "cs.LG", "cs.RO", "cs.CV"],
        keywords=["Vision Language Action", "vla", "Vision-Language-Action", "spatio-temporal prediction"],
        papers=papers,
        executive_summary=[
            Part(SUMMARY_HEADINGS[lang][0], [Item("", [Cited(
                "本期共 3 篇论文。" if lang == "zh" else "3 papers in this issue.", [], "code")])]),
            Part(SUMMARY_HEADINGS[lang][3], [Item("论文 1" if lang == "zh" else "Paper 1", [], anchor="2512.20276v1")]),
        ],
        decisions=[
            ("2512.20276v1", "kept", "matched keyword 'vla'"),
            ("2512.05693v1", "kept", "matched keywords 'Vision-Language-Action', 'vla'"),
            ("2512.21118v2", "kept", "matched keyword 'spatio-temporal prediction'"),
            ("2512.20001v1", "dropped", "no keyword match"),
            ("2511.11111v3", "dropped", "replacement of an already announced paper"),
            ("2512.20999v1", "failed", "PDF download failed: HTTP 404"),
        ],
        title="Arxiv Robotics Papers" if fmt == "report" else "",
    )
    values.update(kw)
    return Digest(**values)
