from __future__ import annotations

import re

import pytest

from ingest.text_clean import (
    clean_abstract,
    extract_code_links,
    fix_text,
    split_rss_description,
)

# Real RSS descriptions as shown in ../shared/reference-reports/003_*.txt (shortened in the middle)
ACTIONFLOW = (
    "arXiv:2512.20276v1 Announce Type: new  Abstract: Vision-Language-Action (VLA) models have emerged as a "
    "unified paradigm for robotic perception and control, enabling emergent generalization and long-horizon task "
    "execution. [...] Experimental results demonstrate that ActionFlow achieves a 2.55x improvement in FPS on the "
    "OpenVLA-7B model without retraining, enabling real-time dy namic manipulation on edge hardware. Our work is "
    "available at https://anonymous.4open.science/r/ActionFlow-1D47."
)
STLDM = (
    "arXiv:2512.21118v1 Announce Type: new  Abstract: Precipitation nowcasting is a critical spatio-temporal "
    "prediction task for society to prevent severe damage owing to extreme weather events. [...] Experimental "
    "results on multiple radar datasets demonstrate that STLDM achieves superior performance compared to the "
    "state of the art, while also improving inference efficiency. The code is available in "
    "https://github.com/sqfoo/stldm_official."
)
CCOL = "arXiv:2511.14396v5 Announce Type: replace-cross  Abstract: Language-conditioned manipulation facilitates"


def test_clean_abstract_strips_rss_prefix():
    text = clean_abstract(ACTIONFLOW)
    assert text.startswith("Vision-Language-Action (VLA) models have emerged")
    assert "Announce Type" not in text and "arXiv:2512.20276v1" not in text
    assert clean_abstract(CCOL) == "Language-conditioned manipulation facilitates"


@pytest.mark.parametrize("kind", ["new", "cross", "replace", "replace-cross"])
def test_clean_abstract_any_announce_type_and_newline(kind):
    raw = f"arXiv:2203.01250v3 Announce Type: {kind} \nAbstract: We   consider\n first order problems."
    assert clean_abstract(raw) == "We consider first order problems."
    assert split_rss_description(raw)[:2] == ("2203.01250v3", kind)


def test_clean_abstract_without_prefix_and_empty():
    assert clean_abstract("  Plain\tabstract \n text ") == "Plain abstract text"
    assert clean_abstract("") == ""
    assert split_rss_description("no prefix") == ("", "", "no prefix")


@pytest.mark.parametrize(
    "raw, fixed",
    [
        ("recog- nition", "recognition"),
        ("recog-\nnition", "recognition"),
        ("recog-  \n  nition", "recognition"),
        ("state-of-the-art", "state-of-the-art"),
        ("state-of-the-\nart", "state-of-the-art"),
        ("Vision-Language-Action", "Vision-Language-Action"),
        ("Vision-Language-\nAction", "Vision-Language-Action"),
        ("self-\nsupervised", "self-supervised"),
        ("pre- and post-training", "pre- and post-training"),
        ("first-\nor second-order", "first- or second-order"),
        ("Imitation -> Preference", "Imitation -> Preference"),
        ("\ufb01ne-tuning e\ufb03cient \ufb02ow o\ufb00er ba\ufb04e \ufb05\ufb06", "fine-tuning efficient flow offer baffle stst"),
        ("soft\u00adhyphen", "softhyphen"),
        ("line one\nline two", "line one\nline two"),
    ],
)
def test_fix_text(raw, fixed):
    assert fix_text(raw) == fixed


def test_clean_abstract_repairs_hyphenation_and_ligatures():
    assert clean_abstract("The recog-\nnition of \ufb01gures") == "The recognition of figures"


def test_code_links_real_strings_trailing_period():
    assert extract_code_links(clean_abstract(STLDM)) == ["https://github.com/sqfoo/stldm_official"]
    assert extract_code_links(clean_abstract(ACTIONFLOW)) == ["https://anonymous.4open.science/r/ActionFlow-1D47"]


def test_code_links_punctuation_dedup_order_and_parentheses():
    text = (
        "Code (https://github.com/a/b), weights at https://huggingface.co/org/model; "
        "see [demo](https://github.com/a/b) and https://gitlab.com/g/p]. "
        "Project page: https://team.github.io/proj/: more at https://www.github.com/a/b/ "
        "and https://github.com/x/Foo_(bar). Data: https://doi.org/10.1/xyz, paper https://arxiv.org/abs/1706.03762."
    )
    assert extract_code_links(text) == [
        "https://github.com/a/b",
        "https://huggingface.co/org/model",
        "https://gitlab.com/g/p",
        "https://team.github.io/proj/",
        "https://github.com/x/Foo_(bar)",
    ]


def test_code_links_project_page_context_and_bare_domains():
    assert extract_code_links("Our project page is at https://example.org/vla-demo.") == ["https://example.org/vla-demo"]
    assert extract_code_links("Full resolution version at http://www.astronomy.ohio-state.edu/~gould/x.ps.gz") == []
    assert extract_code_links("code: github.com/foo/bar.") == ["https://github.com/foo/bar"]
    assert extract_code_links("see https://github.com and nothing else") == []
    assert extract_code_links("") == []


@pytest.mark.shared
def test_real_report_descriptions(shared_dir):
    """Every RSS description quoted in reference report 003 cleans to a prefix-free abstract."""
    report = next((shared_dir / "reference-reports").glob("003_*.txt")).read_text("utf-8")
    raws = re.findall(r"^\s+(arXiv:\S+ Announce Type: \S+  Abstract: .*)$", report, re.M)
    assert len(raws) == 6
    for raw in raws:
        text = clean_abstract(raw)
        assert not text.startswith("arXiv:") and "Announce Type" not in text
        assert text == text.strip() and "  " not in text
    links = [link for raw in raws for link in extract_code_links(clean_abstract(raw))]
    assert links == ["https://anonymous.4open.science/r/ActionFlow-1D47", "https://github.com/sqfoo/stldm_official"]
