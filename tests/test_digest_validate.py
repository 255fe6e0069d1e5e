"""rag/digest/validate.py on real bad outputs (tests/fixtures/bad_outputs/, excerpts of the reference reports)
and on English equivalents built by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.digest import formats
from rag.digest.validate import (
    Verdict,
    check_abstract_clean,
    check_analysis,
    check_summary,
    check_translation,
    clean_code_link,
    clean_code_links,
    find_dates,
    strip_chatter,
    titles_match,
)

BAD = Path(__file__).resolve().parent / "fixtures" / "bad_outputs"
PYRATOK = "PyraTok: Language-Aligned Pyramidal Tokenizer for Video Understanding and Generation"


def read(name: str) -> str:
    return (BAD / name).read_text(encoding="utf-8")


def titles(name: str) -> list[str]:
    return read(name).strip().split("\n")


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


# ============================================================================================ check_analysis: real
def test_001_paper1_asks_for_the_paper_is_a_retryable_refusal():
    raw = read("001_p1_refusal.md")
    assert "请提供您希望我分析的论文" in raw
    v = check_analysis(raw, fmt="report", language="zh")
    assert not v.ok and v.retryable and v.kind == "refusal"
    assert v.problems == ["refusal: asks for the paper text"]


@pytest.mark.parametrize("text", ["作为一个AI，我没有办法读取PDF文件。", "抱歉，我无法访问该论文的链接。",
                                  "请提供论文全文，以便我进行分析。", "作为一个AI语言模型，我不能浏览网页。"])
def test_chinese_refusals(text):
    v = check_analysis(text, fmt="monitor", language="zh")
    assert (v.kind, v.retryable) == ("refusal", True) and v.problems[0].startswith("refusal: ")


def test_001_paper4_pyratok_refusal():
    v = check_analysis(read("001_p4_refusal.md"), fmt="report", language="zh",
                       source_title=PYRATOK)
    assert (v.ok, v.kind, v.retryable) == (False, "refusal", True)


def test_003_actionflow_truncated_without_5th_heading():
    raw = read("003_p1_actionflow_monitor.md")
    v = check_analysis(raw, fmt="monitor", language="zh",
                       source_title="ActionFlow: A Pipelined Action Acceleration for Vision Language Models on Edge")
    assert not v.ok and v.retryable and v.kind == "truncated"
    assert "stops after '4. 方法概述': missing '5. 实验说明'" in v.problems
    assert "ends mid-sentence: '通过这一系列设计'" in v.problems
    assert v.text.endswith("通过这一系列设计")


def test_003_stare_complete_sentence_but_missing_final_heading():
    v = check_analysis(read("003_p6_stare_monitor.md"), fmt="monitor", language="zh")
    assert v.kind == "truncated" and v.problems == ["stops after '4. 方法概述': missing '5. 实验说明'"]


def test_finish_reason_length_means_truncated_even_when_the_text_looks_complete():
    good = read("001_p2_campilot_report.md")
    v = check_analysis(good, fmt="report", language="zh", finish_reason="length")
    assert v.kind == "truncated" and "stopped at the token limit (finish_reason=length)" in v.problems


def test_good_7_part_analysis_from_001_passes():
    v = check_analysis(read("001_p2_campilot_report.md"), fmt="report", language="zh", finish_reason="stop",
                       source_title="CamPilot: Improving Camera Control in Video Diffusion Model with Efficient "
                                    "Camera Reward Feedback")
    assert v.ok, v.problems
    assert v.kind == "ok" and not v.retryable and v.problems == []
    assert v.text.startswith("## 论文方法分析与总结：CamPilot") and v.text.endswith("微调扩散模型以提高相机控制。")


def test_good_5_part_analysis_from_004_passes_and_its_cut_6th_part_is_caught():
    raw = read("004_p6_evo1_monitor.md")
    complete = raw[: raw.index("#### **6. 改进建议")].rstrip()  # Evo-1: all 5 required parts, complete
    v = check_analysis(complete, fmt="monitor", language="zh",
                       source_title="Evo-1: Lightweight Vision-Language-Action Model with Preserved Semantic Alignment")
    assert v.ok, v.problems
    full = check_analysis(raw, fmt="monitor", language="zh")  # as published: an extra part cut mid-sentence
    assert full.kind == "truncated" and full.problems == ["ends mid-sentence: '动作表示：当前模型输出低维连续动作向量。对于需要更高自由度或'"]


def test_abstract_only_analysis_in_another_format_misses_every_heading():
    v = check_analysis(read("001_p6_ivra_abstract_format.md"), fmt="report", language="zh")
    assert v.kind == "headings" and v.retryable
    assert v.problems == ["none of the 7 required headings ('1. 摘要翻译' … '7. 总结')"]


def test_analysis_of_another_paper_is_caught():
    v = check_analysis(read("001_p2_campilot_report.md"), fmt="report", language="zh",
                       source_title=PYRATOK)
    assert v.kind == "wrong_paper" and v.problems[0].startswith("analysis names another paper: 'CamPilot")


# ============================================================================================ check_analysis: English
def en_report(**override: str) -> str:
    sections = {
        "1. Abstract": "The paper proposes CamPilot, a reward-feedback method that improves camera control in video "
                       "diffusion models by decoding latents into 3D Gaussians.",
        "2. Motivation": "Existing reward models cannot judge video-camera alignment, and decoding to RGB is costly.",
        "3. Method Design": "A camera-aware 3D decoder renders novel views; a visibility mask restricts the pixel "
                            "reward to deterministic regions.\n\n```python\nloss = mse(render, gt)[mask].mean()\n```",
        "4. Comparison with Prior Methods": "Unlike VADER, the reward is computed on 3D renderings, not RGB frames.",
        "5. Experiments": "On RealEstate10K and WorldScore, rotation and translation errors drop against the "
                          "baselines.",
        "6. Practical Guide": "Start from CogVideoX-5B-I2V and a ControlNet branch; tune the visibility tolerance.",
        "7. Summary": "Render 3D, reward only what is visible, and camera control gets tighter.",
    }
    sections.update(override)
    return "\n\n".join(f"### {h}\n\n{body}" for h, body in sections.items() if body is not None)


def test_english_report_passes_with_decorated_headings():
    assert formats.ANALYSIS_HEADINGS["report"]["en"][0] == "1. Abstract"
    assert check_analysis(en_report(), fmt="report", language="en").ok
    decorated = en_report().replace("### 2. Motivation", "**2) Motivation:**").replace("### 5. Experiments",
                                                                                     "#### 5 Experiments")
    v = check_analysis("Sure! Here is the analysis:\n\n" + decorated + "\n\nI hope this helps!", fmt="report",
                       language="en")
    assert v.ok, v.problems
    assert v.text.startswith("### 1. Abstract") and v.text.endswith("camera control gets tighter.")


def test_english_refusals():
    for text in (
        "I'm sorry, but I cannot access external links. Please provide the paper text and I will analyse it.",
        "Please provide the full text of the paper you would like me to analyze.",
        "As an AI language model, I don't have access to the PDF.",
        "",
        "OK.",
    ):
        v = check_analysis(text, fmt="report", language="en")
        assert (v.ok, v.kind, v.retryable) == (False, "refusal", True), text


def test_english_truncations():
    cut = en_report()[: en_report().index("### 7. Summary")] + "### 7. Summary\n\nRender 3D, reward only what"
    v = check_analysis(cut, fmt="report", language="en")
    assert v.kind == "truncated" and v.problems == ["ends mid-sentence: 'Render 3D, reward only what'"]
    no_last = en_report(**{"7. Summary": None})
    v = check_analysis(no_last, fmt="report", language="en")
    assert v.kind == "truncated" and v.problems == ["stops after '6. Practical Guide': missing '7. Summary'"]
    open_fence = en_report(**{"7. Summary": "Code:\n\n```python\nloss = mse(a, b"})
    assert "unclosed code block at the end" in check_analysis(open_fence, fmt="report", language="en").problems
    dangling = en_report(**{"7. Summary": "Three steps:\n\n1. Render.\n2."})
    assert check_analysis(dangling, fmt="report", language="en").problems == ["ends with an empty list item: '2.'"]
    bold = en_report(**{"7. Summary": "The **core idea is rendering"})
    assert check_analysis(bold, fmt="report", language="en").problems[0].startswith("ends inside an unclosed '**'")


def test_english_headings_missing_out_of_order_and_empty():
    swapped = en_report().replace("### 2. Motivation", "### X").replace("### 3. Method Design", "### 2. Motivation")
    swapped = swapped.replace("### X", "### 3. Method Design")
    v = check_analysis(swapped, fmt="report", language="en")
    assert v.kind == "headings" and "heading '3. Method Design' out of order" in v.problems
    v = check_analysis(en_report(**{"4. Comparison with Prior Methods": None}), fmt="report", language="en")
    assert v.problems == ["missing heading '4. Comparison with Prior Methods'"]
    v = check_analysis(en_report(**{"6. Practical Guide": "N/A"}), fmt="report", language="en")
    assert v.kind == "empty_section" and v.problems == ["section '6. Practical Guide' is nearly empty: 'N/A'"]
    # "Abstractions" is not the heading "Abstract"
    v = check_analysis(en_report().replace("### 1. Abstract", "**Abstractions**"), fmt="report", language="en")
    assert v.problems == ["missing heading '1. Abstract'"]


def test_language_checks():
    en_text = en_report()
    v = check_analysis(en_text, fmt="report", language="zh")  # English answer to a zh digest
    assert "language" in v.kinds and "headings" in v.kinds
    zh = read("001_p2_campilot_report.md")
    v = check_analysis(zh, fmt="report", language="en")
    assert v.kinds[0] == "headings" and "language" in v.kinds
    # one section switched to English in a zh analysis
    mixed = zh.replace("*   **核心思想**：**3D高斯渲染与可见性奖励，提升视频扩散模型相机控制精度。**",
                       "The core idea is rendering the latent as 3D Gaussians and rewarding only visible pixels, "
                       "which improves the camera control of video diffusion models considerably in all tests.")
    mixed = mixed[: mixed.index("*   **速记版pipeline**")].rstrip()
    v = check_analysis(mixed, fmt="report", language="zh")
    assert v.kind == "language" and v.problems[0].startswith("section '7. 总结' is not in Chinese")


def test_small_model_loop_is_caught():
    loop = "\n".join(["- The method uses a camera-aware decoder for rewards."] * 4)
    v = check_analysis(en_report(**{"7. Summary": loop}), fmt="report", language="en")
    assert v.kind == "repetition" and v.retryable
    assert v.problems == ["repeats 'The method uses a camera-aware decoder f…' 4 times"]
    v = check_translation("本文提出了一种新方法。" * 3, language="zh")
    assert v.kind == "repetition"


def test_zh_heading_variants_are_tolerated():
    zh = read("003_p1_actionflow_monitor.md")
    body = zh[: zh.index("通过这一系列设计")] + "通过这一系列设计，系统消除了流水线气泡。\n\n"
    for heading in ("### 5. 实验说明", "**5、实验说明：**", "#### **5．实验说明**", "### ５ 实验说明", "### **实验说明**"):
        text = body + heading + "\n\n在OpenVLA-7B上FPS提升2.55倍，任务成功率不变。"
        assert check_analysis(text, fmt="monitor", language="zh").ok, heading
    # a plain unnumbered line is prose, not a heading
    v = check_analysis(body + "实验说明\n\n在OpenVLA-7B上FPS提升2.55倍。", fmt="monitor", language="zh")
    assert v.kind == "truncated"


def test_refusal_words_inside_a_full_analysis_are_content():
    zh = read("001_p2_campilot_report.md").replace("相机位姿不仅作为输入", "学生路径无法访问未来帧，相机位姿不仅作为输入")
    assert check_analysis(zh, fmt="report", language="zh").ok


# ============================================================================================ check_summary
def test_001_summary_dated_2026_01_21_in_digest_of_2026_01_23_is_rejected():
    v = check_summary(read("001_summary.md"), date="2026-01-23", language="zh", paper_titles=titles("001_titles.txt"))
    assert not v.ok and v.retryable and v.kind == "date"
    assert v.problems == ["dated '2026-01-21', but the digest is of 2026-01-23"]
    assert v.text.startswith("**执行摘要") and "希望这份" not in v.text


def test_001_summary_passes_once_its_date_is_right():
    text = read("001_summary.md").replace("2026-01-21", "2026-01-23")
    v = check_summary(text, date="2026-01-23", language="zh", paper_titles=titles("001_titles.txt"))
    assert v.ok, v.problems


def test_001_summary_papers_must_exist_in_the_digest():
    text = read("001_summary.md").replace("2026-01-21", "2026-01-23")
    v = check_summary(text, date="2026-01-23", language="zh", paper_titles=titles("001_titles.txt")[:8])
    assert v.kind == "papers"
    assert "mentions paper 10, the digest has 8" in v.problems
    # "**PyraTok** (论文 4)" must name paper 4
    swapped = text.replace("**PyraTok** (论文 4)", "**PyraTok** (论文 3)")
    v = check_summary(swapped, date="2026-01-23", language="zh", paper_titles=titles("001_titles.txt"))
    assert v.problems == [
        "calls 'PyraTok' paper 3, but paper 3 is 'Point Bridge: 3D Representations for Cross Domain…'"
    ]


def test_002_summary_chinese_date_and_headings():
    v = check_summary(read("002_summary.md"), date="2026-02-11", language="zh", paper_titles=titles("002_titles.txt"))
    assert v.kind == "headings"
    assert "missing heading '2. 亮点与创新'" in v.problems  # it wrote "亮点论文与创新"
    assert "dated '2026年2月10日', but the digest is of 2026-02-11" in v.problems


def test_summary_with_an_invented_title():
    text = read("001_summary.md").replace("2026-01-21", "2026-01-23").replace(
        "**论文 8: 360Anything: Geometry-Free Lifting of Images and Videos to 360°**",
        "**OmniLift: Panoramic Lifting Without Geometry**")
    v = check_summary(text, date="2026-01-23", language="zh", paper_titles=titles("001_titles.txt"))
    assert v.problems == ["mentions a paper not in the digest: 'OmniLift: Panoramic Lifting Without Geometry'"]


EN_SUMMARY = """Here's the executive summary for 2026-01-23:

**Executive summary - January 23, 2026**

### 1. Themes and Trends
Video generation with camera control and 3D representations for robot policies dominate today's papers.

### 2. Highlights
- **CamPilot** (Paper 2) rewards camera alignment through 3D Gaussian renderings.
- **Point Bridge: 3D Representations for Cross Domain Policy Learning** transfers policies from simulation.

### 3. Emerging Directions
Reward feedback for controllable generation; point-based representations for sim-to-real transfer.

### 4. Papers to Read in Full
- Paper 2: CamPilot, for anyone working on controllable video generation.
- Paper 3: Point Bridge, for robot learning from synthetic data.

Let me know if you would like more detail on any paper."""


def test_english_summary():
    t = titles("001_titles.txt")
    v = check_summary(EN_SUMMARY, date="2026-01-23", language="en", paper_titles=t)
    assert v.ok, v.problems
    assert v.text.startswith("**Executive summary") and v.text.endswith("robot learning from synthetic data.")
    v = check_summary(EN_SUMMARY.replace("January 23, 2026", "January 21, 2026"), date="2026-01-23", language="en",
                      paper_titles=t)
    assert v.problems == ["dated 'January 21, 2026', but the digest is of 2026-01-23"]
    v = check_summary(EN_SUMMARY.replace("Paper 3:", "Paper 12:"), date="2026-01-23", language="en", paper_titles=t)
    assert v.problems == ["mentions paper 12, the digest has 10"]
    cut = EN_SUMMARY[: EN_SUMMARY.index("### 4.")]
    v = check_summary(cut, date="2026-01-23", language="en", paper_titles=t)
    assert v.kind == "truncated"
    assert v.problems == ["stops after '3. Emerging Directions': missing '4. Papers to Read in Full'"]
    v = check_summary("I'm sorry, I cannot summarize papers I have not seen.", date="2026-01-23", language="en",
                      paper_titles=t)
    assert v.kind == "refusal"


def test_paper_numbers_are_not_read_from_words_like_3d():
    text = EN_SUMMARY.replace("transfers policies from simulation", "lifts paper 12D points from simulation")
    assert check_summary(text, date="2026-01-23", language="en", paper_titles=titles("001_titles.txt")).ok


def test_find_dates():
    assert find_dates("2026-01-21, 2026年2月10日, 1月23日, Jan 5, 2026, 3 March 2025, arXiv 2601.16214") == [
        ("2026-01-21", 2026, 1, 21),
        ("2026年2月10日", 2026, 2, 10),
        ("1月23日", None, 1, 23),
        ("Jan 5, 2026", 2026, 1, 5),
        ("3 March 2025", 2025, 3, 3),
    ]
    assert find_dates("models may 3 times outperform") == []


def test_titles_match():
    t = "CamPilot: Improving Camera Control in Video Diffusion Model with Efficient Camera Reward Feedback"
    assert titles_match("CamPilot", t)
    assert titles_match("CAMPILOT: IMPROVING CAMERA CONTROL IN VIDEO DIFFUSION MODEL WITH EFFICIENT CAMERA REWARD "
                        "FEEDBACK", t)
    assert titles_match("CamPilot: Improving Camera Control in Video Diffusion Models", t)
    assert not titles_match("PyraTok", t)
    assert not titles_match("Camera Control", t)


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
    v = check_analysis(read("003_p1_actionflow_monitor.md"), fmt="monitor", language="zh")
    assert isinstance(v, Verdict)
    assert v.reason == "stops after '4. 方法概述': missing '5. 实验说明'; ends mid-sentence: '通过这一系列设计'"
