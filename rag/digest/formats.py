"""The fixed structure of each digest format, per language: the parts of an analysis and the card fields each part
is composed from, the executive summary's headings, the field labels and the basis labels.

Code renders all of it (headings, labels, links); the model only writes one short span per card field
(rag/digest/writer.py). One table, used by the writer, the renderer and the tests.
"""

from __future__ import annotations

from rag.cards import FIELD_LABELS

# Headings of the analysis parts, in order: the 7-part method analysis of reference reports 001/002 and the
# 5 parts of the full-text analyses of reference reports 003/004.
ANALYSIS_HEADINGS = {
    "report": {
        "zh": ["1. 摘要", "2. 方法动机分析", "3. 方法设计详解", "4. 方法对比分析", "5. 实验分析", "6. 实用指南", "7. 总结"],
        "en": ["1. Overview", "2. Motivation", "3. Method Design", "4. Comparison with Prior Methods",
               "5. Experiments", "6. Practical Guide", "7. Summary"],
    },
    "monitor": {
        "zh": ["1. 论文概要", "2. 研究动机", "3. 核心贡献与创新点", "4. 方法概述", "5. 实验说明"],
        "en": ["1. Overview", "2. Motivation", "3. Contributions and Novelty", "4. Method", "5. Experiments"],
    },
}

# The card fields each part is composed from (same order as the headings). "results" is the card's headline
# results, rendered by code (metric, value, benchmark, setting + page); "top_result" is only the first of them.
PART_FIELDS: dict[str, list[tuple[str, ...]]] = {
    "report": [("problem", "core_idea"), ("motivation",), ("method_steps",), ("baselines", "ablations"),
               ("data", "setup", "results"), ("code_data", "compute"), ("core_idea", "limitations")],
    "monitor": [("problem", "top_result"), ("motivation",), ("core_idea", "ablations"),
                ("method_steps",), ("data", "setup", "baselines", "results")],
}

FIELD_NAMES = {
    "en": dict(FIELD_LABELS),
    "zh": {"problem": "问题/任务", "motivation": "动机", "core_idea": "核心思想", "method_steps": "方法步骤",
           "data": "数据", "setup": "实验设置", "baselines": "对比基线", "ablations": "消融实验",
           "limitations": "局限性（作者所述）", "compute": "计算资源", "code_data": "代码/数据"},
}

# Executive summary of the `report` format (reference reports 001/002), in order. Part 3 lists what the
# authors say is left open: code can state that from the cards, not "emerging directions".
SUMMARY_HEADINGS = {
    "zh": ["1. 主要主题与趋势", "2. 亮点与创新", "3. 局限与待解决问题", "4. 建议阅读全文的论文"],
    "en": ["1. Themes and Trends", "2. Highlights", "3. Limitations and Open Problems", "4. Papers to Read in Full"],
}

# What an analysis was written from, as the reader is told (the card's basis).
BASIS_LABEL = {
    "zh": {"full text": "基于论文全文", "abstract only": "仅基于摘要（未获取到论文全文）"},
    "en": {"full text": "based on the full text", "abstract only": "based on the abstract only (no full text was available)"},
}
