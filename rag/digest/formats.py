"""The required headings of each LLM-written section, per format and language, in order.

Validators check them, prompts ask for them, renderers print them: one list, used by all three.
"""

from __future__ import annotations

ANALYSIS_HEADINGS = {
    # 7-part method analysis of reference reports 001/002
    "report": {
        "zh": ["1. 摘要翻译", "2. 方法动机分析", "3. 方法设计详解", "4. 方法对比分析", "5. 实验分析", "6. 实用指南", "7. 总结"],
        "en": ["1. Abstract", "2. Motivation", "3. Method Design", "4. Comparison with Prior Methods",
               "5. Experiments", "6. Practical Guide", "7. Summary"],
    },
    # 5 headings of the full-text analyses of reference reports 003/004
    "monitor": {
        "zh": ["1. 论文概要", "2. 研究动机", "3. 核心贡献与创新点", "4. 方法概述", "5. 实验说明"],
        "en": ["1. Overview", "2. Motivation", "3. Contributions and Novelty", "4. Method", "5. Experiments"],
    },
}

# Executive summary of the `report` format (reference reports 001/002), in order.
SUMMARY_HEADINGS = {
    "zh": ["1. 主要主题与趋势", "2. 亮点与创新", "3. 新兴研究方向与技术", "4. 建议阅读全文的论文"],
    "en": ["1. Themes and Trends", "2. Highlights", "3. Emerging Directions", "4. Papers to Read in Full"],
}

# Label printed above an analysis so a reader knows what it was written from.
BASIS_LABEL = {
    "zh": {"full text": "基于论文全文", "abstract only": "仅基于摘要（未能获取全文）"},
    "en": {"full text": "based on the full text", "abstract only": "based on the abstract only (full text unavailable)"},
}
