from __future__ import annotations

import pytest

from ingest.filters import KeywordFilter, keyword_pattern
from paperrag.records import PaperMeta
from paperrag.settings import SourcesSettings


def meta(title="", abstract="", announce_type="new", categories=("cs.RO",)):
    return PaperMeta("2512.20276", 1, title=title, abstract=abstract, announce_type=announce_type,
                     categories=list(categories))


VLA_TITLE = "STARE-VLA: Progressive Stage-Aware Reinforcement for Fine-Tuning Vision-Language-Action Models"


@pytest.mark.parametrize(
    "keyword, text, hit",
    [
        ("vision language action", "Vision-Language-Action models", True),
        ("Vision-Language-Action", "vision language  action", True),
        ("vision language action", "vision\u2010language\u2013action", True),
        ("vision language action", "visionlanguageaction", False),
        ("vla", "frozen VLAs with attention", True),
        ("vla", "the VLA model", True),
        ("vla", "OpenVLA-7B model", False),
        ("vla", "evaluation of Vladimir", False),
        ("traffic prediction", "Traffic-Prediction benchmarks", True),
        ("spatio-temporal prediction", "a critical spatio-temporal prediction task", True),
        ("transformer", "Transformers are", True),
        ("c++", "written in C++ for speed", True),
        ("gpt-4", "we use GPT-4 and GPT 4o", True),
    ],
)
def test_keyword_pattern(keyword, text, hit):
    assert bool(keyword_pattern(keyword).search(text)) is hit


def test_keep_with_reason_naming_keyword_and_field():
    f = KeywordFilter(["vision-language-action", "traffic prediction"], [])
    d = f.decide(meta(title=VLA_TITLE))
    assert d.keep and d.reason == "kept: matched 'vision-language-action' in title"
    assert d.matched == ["vision-language-action"]
    d = f.decide(meta(title="Nowcasting", abstract="Better traffic-prediction for cities."))
    assert d.keep and d.reason == "kept: matched 'traffic prediction' in abstract"


def test_no_match():
    d = KeywordFilter(["vla"], []).decide(meta(title="Precipitation nowcasting", abstract="OpenVLA is not it"))
    assert not d.keep and d.reason == "no keyword match" and d.matched == []


def test_negative_keyword_vetoes():
    d = KeywordFilter(["vla"], ["survey"]).decide(meta(title="A Survey of VLA models"))
    assert not d.keep
    assert d.reason == "dropped: negative keyword 'survey' in title" and d.matched == ["survey"]


def test_no_keywords_keeps_everything():
    d = KeywordFilter([], []).decide(meta(title="Anything"))
    assert d.keep and "no keywords configured" in d.reason


def test_replacements_dropped_by_default():
    f = KeywordFilter(["vla"], [])
    for kind in ("replace", "replace-cross"):
        d = f.decide(meta(title="VLA", announce_type=kind))
        assert not d.keep and d.reason == f"replacement (announce_type={kind})"
    assert KeywordFilter(["vla"], [], include_replacements=True).decide(meta(title="VLA", announce_type="replace")).keep


def test_cross_lists():
    assert KeywordFilter([], []).decide(meta(announce_type="cross")).keep
    d = KeywordFilter([], [], include_cross=False).decide(meta(announce_type="cross"))
    assert not d.keep and d.reason == "cross-list (announce_type=cross)"


def test_categories_restrict():
    f = KeywordFilter([], [], categories=["cs.CL"])
    d = f.decide(meta(categories=["cs.RO", "cs.AI"]))
    assert not d.keep and "not in the configured categories" in d.reason
    assert f.decide(meta(categories=["cs.LG", "cs.CL"])).keep


def test_from_settings():
    s = SourcesSettings(keywords=["vla"], negative_keywords=["survey"], include_replacements=True)
    f = KeywordFilter.from_settings(s)
    assert f.keywords == ["vla"] and f.negative_keywords == ["survey"] and f.include_replacements
    assert f.categories == []
    assert KeywordFilter.from_settings(s, restrict_categories=True).categories == s.categories


def test_empty_keyword_rejected():
    with pytest.raises(ValueError):
        keyword_pattern(" - ")
