from __future__ import annotations

import pytest

from ingest.arxiv_ids import (
    find_arxiv_stamp,
    format_id,
    is_arxiv_id,
    normalize_id,
    parse_arxiv_id,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2506.19850", ("2506.19850", None)),
        ("2501.10120v2", ("2501.10120", 2)),
        ("arXiv:2506.19850", ("2506.19850", None)),
        ("arxiv: 2506.19850v4", ("2506.19850", 4)),
        ("https://arxiv.org/abs/2506.19850v3", ("2506.19850", 3)),
        ("http://export.arxiv.org/abs/2506.19850", ("2506.19850", None)),
        ("https://arxiv.org/pdf/2506.19850v1.pdf", ("2506.19850", 1)),
        ("https://arxiv.org/pdf/2506.19850v1", ("2506.19850", 1)),
        ("https://arxiv.org/abs/2506.19850/", ("2506.19850", None)),
        ("oai:arXiv.org:2512.20276v1", ("2512.20276", 1)),
        ("0704.0001", ("0704.0001", None)),
        ("hep-th/9901001v2", ("hep-th/9901001", 2)),
        ("math.GT/0309136", ("math/0309136", None)),
        ("https://arxiv.org/abs/quant-ph/0201082v1", ("quant-ph/0201082", 1)),
        ("cond-mat.mes-hall/0102536", ("cond-mat/0102536", None)),
        ("  2506.19850v3\n", ("2506.19850", 3)),
    ],
)
def test_parse_arxiv_id(text, expected):
    assert parse_arxiv_id(text) == expected


@pytest.mark.parametrize(
    "bad", ["", "abc", "2506.198", "2506.1985012", "1234.12345", "0000.0000", "2506.19850v0", "hep-th/99010", "https://example.org/abs/2506.19850"]
)
def test_bad_ids_raise_naming_the_input(bad):
    with pytest.raises(ValueError) as err:
        parse_arxiv_id(bad)
    assert repr(bad) in str(err.value)
    assert not is_arxiv_id(bad)


def test_helpers():
    assert normalize_id("https://arxiv.org/pdf/2501.10120v2.pdf") == "2501.10120"
    assert format_id("2501.10120", 2) == "2501.10120v2"
    assert format_id("hep-th/9901001", None) == "hep-th/9901001"


def test_find_arxiv_stamp():
    text = "Attention Is All You Need\narXiv:1706.03762v7  [cs.CL]  6 Dec 2017\nAshish Vaswani"
    stamp = find_arxiv_stamp(text)
    assert stamp is not None
    assert (stamp.arxiv_id, stamp.version, stamp.category, stamp.date) == ("1706.03762", 7, "cs.CL", "2017-12-06")
    assert stamp.raw == "arXiv:1706.03762v7 [cs.CL] 6 Dec 2017"


def test_find_arxiv_stamp_old_style_and_line_breaks():
    stamp = find_arxiv_stamp("x\narXiv:hep-th/9901001v2\n[hep-th]\n12 Jan 1999\n")
    assert stamp is not None
    assert (stamp.arxiv_id, stamp.version, stamp.category, stamp.date) == ("hep-th/9901001", 2, "hep-th", "1999-01-12")


def test_no_stamp():
    assert find_arxiv_stamp("we cite arXiv preprints a lot") is None
    assert find_arxiv_stamp("") is None
