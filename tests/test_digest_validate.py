"""rag/digest/validate.py on real bad outputs (tests/fixtures/bad_outputs/, excerpts of the reference reports),
on the short spans the digest's model writes (one card field each) and on English equivalents built by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.digest.validate import (
    Verdict,
    check_abstract_clean,
    check_span,
    check_title,
    check_translation,
    clean_code_link,
    clean_code_links,
    strip_chatter,
)
from rag.prompts import load_prompt
from rag.quotes import Quote

BAD = Path(__file__).resolve().parent / "fixtures" / "bad_outputs"


def read(name: str) -> str:
    return (BAD / name).read_text(encoding="utf-8")


# ============================================================================================ strip_chatter
def test_strips_001_summary_preamble_and_closing():
    raw = read("001_summary.md")
    assert raw.startswith("好的，作为一名专注于计算机视觉")
    v = strip_chatter(raw, "zh")
    assert v.ok
    assert v.text.startswith("**执行摘要：Arxiv 计算机视觉论文精选 (2026-01-21)**")
    assert v.text.endswith("该论文提供了前沿的生成技术。")  # the last real line; closing and both rules gone
    assert "好的" not in v.text and "希望这份执行摘要" not in v.text and not v.text.endswith("---")
    assert any(f.startswith("removed preamble '好的，作为一名专注于计算机视觉") for f in v.fixes)
    assert any(f.startswith("removed closing '希望这份执行摘要") for f in v.fixes)


def test_strips_002_closing_that_says_what_the_summary_is_for():
    v = strip_chatter(read("002_summary.md"), "zh")
    assert v.text.startswith("**执行摘要：2026年2月10日")
    assert "这份摘要旨在帮助您" not in v.text


@pytest.mark.parametrize(
    "name, first_line",
    [
        ("003_p1_actionflow_monitor.md", "### **论文总结报告**"),
        ("001_p2_campilot_report.md", "## 论文方法分析与总结：CamPilot: Improving Camera Control"),
    ],
)
def test_strips_analysis_preamble_and_dangling_rule(name, first_line):
    raw = read(name)
    assert raw.startswith("好的，")
    v = strip_chatter(raw, "zh")
    assert v.text.startswith(first_line)  # "***" / "---" under the preamble went with it


def test_strip_keeps_content_that_only_looks_like_chatter():
    # a translated abstract that starts with "好的" / "这是", a summary that ends with "希望" in the middle
    for text in (
        "好的表征是生成模型的关键。本文提出一种新方法。",
        "这是首个面向无人机全景数据的仿真平台，我们采集了6万组样本。",
        "Here we address this problem from both data and model perspectives.",
        "Sure-footed locomotion remains hard. We propose X.",
        "Great progress has been made in video generation.",
        "这是一种新的分析方法，它在三个基准上取得了最好的结果。",
        "以下是本文的三个主要发现（按重要性排序）",
    ):
        assert strip_chatter(text, "zh").text == text
    last = "## 7. 总结\n\n本文方法简单有效。\n\n希望本方法能为后续的机器人研究提供新的思路。"
    assert strip_chatter(last, "zh").text == last  # a closing thought, not addressed to the reader
    middle = "## 1. 概要\n\n本文提出A。\n\n希望这份摘要对您有帮助。\n\n## 2. 方法\n\n方法B。"
    assert strip_chatter(middle, "zh").text == middle  # only leading / trailing paragraphs are touched


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Sure, here is the summary:\n\n## 1. Overview\n\nWe study X.", "## 1. Overview\n\nWe study X."),
        ("Certainly! Below is the analysis you asked for.\n\n---\n\nBody text.", "Body text."),
        ("Here's a summary of the paper:\n\nBody text.\n\nI hope this helps! Let me know if you need more.",
         "Body text."),
        ("Body text.\n\nLet me know if you have any questions.", "Body text."),
        ("以下是翻译：\n高效流：面向具身AI的高效等变流策略学习", "高效流：面向具身AI的高效等变流策略学习"),
        ("好的，这是翻译：生成式建模在视觉运动策略学习领域近期展现出显著潜力。", "生成式建模在视觉运动策略学习领域近期展现出显著潜力。"),
        ("```markdown\n## 1. 概要\n\n内容。\n```", "## 1. 概要\n\n内容。"),
        ("好的，作为一名AI研究分析师，我将根据您提供的论文 ActionFlow: A Pipelined Action Acceleration 生成总结。\n\n## 1. 概要",
         "## 1. 概要"),
        ("Sure! Here is the translation: Efficient flow for embodied AI.", "Efficient flow for embodied AI."),
        ("好的，以下是分析：\n\n```markdown\n## 1. 概要\n\n内容。\n```\n\n希望对您有所帮助！", "## 1. 概要\n\n内容。"),
        ("内容。\n\n---\n\n如果您还有其他问题，欢迎继续提问。\n\n---", "内容。"),
    ],
)
def test_strip_chatter_cases(raw, expected):
    assert strip_chatter(raw, "en").text == expected


def test_strip_think_block_of_reasoning_models():
    v = strip_chatter("<think>\nThe user wants a summary. Let me see.\n</think>\n\nBody text.", "en")
    assert v.text == "Body text." and v.fixes == ["removed the <think> block"]
    assert strip_chatter("<think>\nStill thinking when the tokens ran out", "en").text == ""


def test_strip_keeps_a_real_code_block():
    text = "```python\nprint(1)\n```"
    assert strip_chatter(text, "en").text == text


def test_strip_chatter_result_is_the_cleaned_string():
    v = strip_chatter("Sure! Here is the translation:\n\nTITLE: 高效流\nABSTRACT: 生成式建模……。", "zh")
    assert isinstance(v, str) and v == "TITLE: 高效流\nABSTRACT: 生成式建模……。" == v.text
    assert v.strip().splitlines()[0] == "TITLE: 高效流" and v.ok and v.fixes


def test_strip_nothing_left_is_not_ok():
    v = strip_chatter("好的，我将为您分析这篇论文。", "zh")
    assert not v.ok and v.text == "" and v.kind == "refusal" and v.retryable


# ============================================================================================ check_span
# one card field of a (generated) paper: its quotes are what a span may state
CORE = "Sparse widget attention keeps only the 64 highest-scoring keys for every query, which cuts the attention " \
       "memory by a factor of eight on sequences of 32k tokens."
RESULT = "On the WidgetBench benchmark our model reaches an accuracy of 87.3 percent, compared with 81.5 percent " \
         "for the dense baseline."
QUOTES = [Quote("2405.30001v1", "2405.30001", 1, 4, CORE, "Sparse Widget Attention"),
          Quote("2405.30001v1", "2405.30001", 1, 6, RESULT, "Sparse Widget Attention")]
SYSTEM = load_prompt("digest_span").messages(language_name="Simplified Chinese (简体中文)", title="T",
                                             quotes=[], label="Core idea", value="v", ask="")[0]["content"]


def span(text: str, language: str = "zh", **kw) -> Verdict:
    return check_span(text, language=language, quotes=QUOTES, also="Sparse Widget Attention",
                      instructions=SYSTEM, **kw)


def test_a_good_chinese_span_passes_and_keeps_its_numbers():
    v = span("稀疏小部件注意力只为每个查询保留得分最高的 64 个键，使注意力内存减少为原来的八分之一。")
    assert v.ok, v.problems
    # numbers glued to Chinese characters are numbers all the same, and must be in the quotes
    assert span("在WidgetBench基准上，该模型的准确率为87.3%，而密集基线为81.5%。").ok
    v = span("在WidgetBench基准上，该模型的准确率为88.3%。")
    assert (v.ok, v.kind, v.retryable) == (False, "unbacked", True)
    assert v.problems == ['not in the paper\'s sentences: 88.3 (in "该模型的准确率为88.3%")']  # the clause at fault


def test_a_number_or_name_not_in_the_quotes_is_rejected():
    v = span("该方法在 ImageNet 上把准确率提高了 5.2 个百分点。")
    assert v.kind == "unbacked" and "5.2" in v.reason
    v = span("该方法优于 GPT-4 和 BERT。")
    assert v.kind == "unbacked" and "gpt-4" in v.reason and "bert" in v.reason
    assert span("Sparse Widget Attention 只保留 64 个键。").ok  # the paper's own name is fine


def test_english_in_a_chinese_span_is_rejected_and_chinese_in_english():
    v = span("Sparse widget attention keeps only the 64 highest-scoring keys for every query.")
    assert v.kind == "language" and v.problems == ["span is not in Chinese (0% CJK)"]
    v = span("稀疏注意力只保留 64 个键。", language="en")
    assert v.kind == "language"


@pytest.mark.parametrize("text, kind", [
    ("稀疏注意力只保留 64 个键。稀疏注意力只保留 64 个键。", "repetition"),
    ("该方法的方法的方法的方法的方法的方法的方法很好。", "repetition"),
    ("稀疏注意力只保留 64 个键，从而", "truncated"),
    ("Paper: Sparse Widget Attention\n稀疏注意力只保留 64 个键。", "echo"),
    ("Reply with the sentences only: no heading, no list, no label.", "echo"),
    ("- Copy every number exactly as it is written there. Use no other number.", "echo"),
    ("### 核心思想\n稀疏注意力只保留 64 个键。", "format"),
    ("- 稀疏注意力只保留 64 个键。\n- 内存减少为八分之一。", "format"),
    ("抱歉，我无法访问该论文的链接。", "refusal"),
    ("", "refusal"),
    ("第一句。第二句话。第三句话。第四句话。", "format"),
])
def test_bad_spans(text, kind):
    v = span(text)
    assert not v.ok and v.kind == kind, v.problems


@pytest.mark.parametrize("name", ["001_p1_refusal.md", "001_p4_refusal.md"])
def test_real_refusals_are_rejected_spans(name):
    v = span(read(name))
    assert (v.ok, v.kind, v.retryable) == (False, "refusal", True)
    assert v.problems == ["refusal: asks for the paper text"]


def test_span_cleanups_are_fixes_not_problems():
    v = span("好的，以下是翻译：\n\n答案：稀疏注意力只保留得分最高的 64 个键 [1]（第4页）。")
    assert v.ok, v.problems
    assert v.text == "稀疏注意力只保留得分最高的 64 个键。"  # no typed citation: code cites the pages
    assert span("稀疏注意力只保留 64 个键。", finish_reason="length").kind == "truncated"
    for labelled in ("Fact (Core idea): 稀疏注意力只保留 64 个键。", "核心思想：稀疏注意力只保留 64 个键。",
                     "Core idea: 稀疏注意力只保留 64 个键。"):
        v = span(labelled)
        assert v.ok and v.text == "稀疏注意力只保留 64 个键。", labelled


def test_translated_title():
    assert check_title("注意力就是你所需要的一切", language="zh", source="Attention Is All You Need").ok
    v = check_title("GPT-5：注意力就是你所需要的一切", language="zh", source="Attention Is All You Need")
    assert v.kind == "unbacked" and "gpt-5" in v.reason
    assert check_title("Attention Is All You Need", language="zh", source="Attention Is All You Need").kind == "language"


# ============================================================================================ check_translation
def test_real_translations_from_000_pass():
    for row in json.loads(read("000_translations.json")):
        assert check_translation(row["title_zh"], language="zh", part="title").ok
        assert check_translation(row["abstract_zh"], language="zh").ok


def test_translation_part_is_guessed_when_not_given():
    row = json.loads(read("000_translations.json"))[0]
    assert check_translation(row["title_zh"], language="zh").ok  # a title needs no final "。"
    assert check_translation(row["abstract_zh"][:60], language="zh").kind == "truncated"
    assert check_translation("高效流：面向具身AI的高效等变流", language="zh", source="x " * 200).kind == "truncated"


def test_translation_chatter_labels_and_headings():
    row = json.loads(read("000_translations.json"))[0]
    v = check_translation("好的，以下是翻译：\n\n摘要：" + row["abstract_zh"] + "\n\n希望对您有所帮助！", language="zh")
    assert v.ok and v.text == row["abstract_zh"]
    assert any("摘要：" in f for f in v.fixes)
    v = check_translation("以下是翻译：" + row["title_zh"], language="zh", part="title")
    assert v.ok and v.text == row["title_zh"]
    v = check_translation("## 摘要翻译\n\n" + row["abstract_zh"], language="zh")
    assert v.ok and v.text == row["abstract_zh"]
    v = check_translation(row["abstract_zh"] + "\n\n## 方法\n\n本文方法如下。", language="zh")
    assert v.kind == "format" and v.problems == ["contains a markdown heading: '## 方法'"]
    v = check_translation("标题：高效流\n摘要：" + row["abstract_zh"], language="zh")
    assert v.kind == "format"


def test_translation_failures():
    row = json.loads(read("000_translations.json"))[0]
    assert check_translation("", language="zh").kind == "refusal"
    assert check_translation("抱歉，我无法翻译这段内容。", language="zh").kind == "refusal"
    english = "Generative modeling has recently shown great promise in visuomotor policy learning."
    assert check_translation(english, language="zh").kind == "language"
    cut = row["abstract_zh"][:60]
    v = check_translation(cut, language="zh")
    assert v.kind == "truncated" and v.problems[0].startswith("ends mid-sentence")
    assert check_translation(row["abstract_zh"], language="zh", finish_reason="length").kind == "truncated"
    v = check_translation("Sure! Here is the translation: Efficient flow for embodied AI.", language="en")
    assert v.ok and v.text == "Efficient flow for embodied AI."


def test_translation_with_refusal_words_as_content():
    text = "这类数据在常规实践中无法获取，尤其是负样本。我们构建了一个融合真实与虚拟数据的混合流程。"
    assert check_translation(text, language="zh").ok
    assert check_translation("抱歉，我无法访问该论文。", language="zh").kind == "refusal"


def test_translation_much_shorter_than_source():
    source = " ".join(["word"] * 200) + "."
    v = check_translation("本文提出了一种方法。", language="zh", source=source)
    assert v.kind == "truncated" and "much shorter than the source" in v.problems[0]


# ============================================================================================ abstracts, links
def test_announce_type_abstract_is_flagged_and_repaired():
    raw = read("003_actionflow_rss_abstract.txt")
    v = check_abstract_clean(raw)
    assert not v.ok and not v.retryable and v.kind == "abstract"
    assert v.problems == ["starts with the RSS prefix 'arXiv:2512.20276v1 Announce Type: new Abstract:'"]
    assert v.text.startswith("Vision-Language-Action (VLA) models have emerged")
    assert check_abstract_clean(v.text).ok
    assert check_abstract_clean("<p>We propose X.</p>").problems == ["contains HTML tags"]
    assert check_abstract_clean("Abstract: We propose X.").text == "We propose X."


def test_code_links_with_a_trailing_dot_are_cleaned():
    links = read("code_links.txt").split()
    assert clean_code_link("https://anonymous.4open.science/r/ActionFlow-1D47.") == \
        "https://anonymous.4open.science/r/ActionFlow-1D47"
    assert clean_code_links(links) == [
        "https://github.com/sqfoo/stldm_official",
        "https://github.com/zhiyingdu/himoe-vla",
        "https://anonymous.4open.science/r/ActionFlow-1D47",
    ]
    assert clean_code_link("https://research.nvidia.com/labs/dir/cosmos-policy/.") == \
        "https://research.nvidia.com/labs/dir/cosmos-policy/"
    assert clean_code_link("(https://github.com/a/b_(c)).") == "https://github.com/a/b_(c)"
    assert clean_code_link("no link here") == ""


def test_verdict_reason_is_one_line():
    v = span("The method improves accuracy by 12.5 points.")
    assert isinstance(v, Verdict)
    assert v.reason == ("span is not in Chinese (0% CJK); not in the paper's sentences: 12.5 "
                        '(in "The method improves accuracy by 12.5 points.")')
