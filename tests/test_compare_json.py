"""Repairing and validating small models' JSON: real malformed replies (tests/fixtures/bad_json/) and one case
per repair heuristic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from rag.cards import clean_value, parse_results, parse_value
from rag.compare_json import JsonRepairError, repair_json

BAD = Path(__file__).resolve().parent / "fixtures" / "bad_json"
CASES = {k: v for k, v in json.loads((BAD / "cases.json").read_text()).items() if not k.startswith("_")}


def test_every_fixture_is_listed_and_really_malformed():
    assert sorted(CASES) == sorted(p.name for p in BAD.glob("*.txt"))
    for name in CASES:
        with pytest.raises(ValueError):
            json.loads((BAD / name).read_text())


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_malformed_replies_are_repaired_and_validated(name):
    case, text = CASES[name], (BAD / name).read_text()
    expect = case["expect"]
    if case["kind"] == "results":
        got = parse_results(text).results
        assert [(r.metric, r.value, r.benchmark) for r in got] == [tuple(x) for x in expect["results"]]
        return
    value = parse_value(text).value
    if "equals" in expect:
        assert value == expect["equals"]
    else:
        assert value.startswith(expect["startswith"]), value
        assert len(value.split()) <= expect["max_words"]
        assert "authors state" not in value.lower() and "[10]" not in value


@pytest.mark.parametrize("text, expected", [
    ('```json\n{"value": "8 GPUs"}\n```', {"value": "8 GPUs"}),  # code fence
    ('Here is the JSON you asked for:\n{"value": "8 GPUs"}\nHope this helps!', {"value": "8 GPUs"}),  # prose
    ('{"value": "8 GPUs"}.', {"value": "8 GPUs"}),  # trailing full stop
    ('{"value": "8 GPUs",}', {"value": "8 GPUs"}),  # trailing comma
    ('{"results": [{"value": "1"}, {"value": "2"},]}', {"results": [{"value": "1"}, {"value": "2"}]}),
    ("{'value': 'the model's size', 'n': None}", {"value": "the model's size", "n": None}),  # single quotes
    ('{value: "x", passage: 2}', {"value": "x", "passage": 2}),  # bare keys
    ('{"value": "x" "passage": 2}', {"value": "x", "passage": 2}),  # missing comma
    ('{"value": “curly quotes”}', {"value": "curly quotes"}),
    ('{"value": "two\nlines"}', {"value": "two\nlines"}),  # raw newline inside a string
    ('{"ok": True, "no": False}', {"ok": True, "no": False}),  # Python literals
    ('{"results": [{"metric": "BLEU", "value": "28.4"}, {"metric": "F1", "val', {"results": [{"metric": "BLEU", "value": "28.4"}, {"metric": "F1"}]}),
    ('{"a": {"b": [1, 2, {"c": "d', {"a": {"b": [1, 2, {"c": "d"}]}}),  # cut off deep inside
    ('{"value": "ends with a key", "pass', {"value": "ends with a key"}),
    ('```json\n{"value": "unterminated fence"', {"value": "unterminated fence"}),
])
def test_repair_heuristics(text, expected):
    assert repair_json(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "Sorry, I cannot help with that.", "The answer is 42"])
def test_unrepairable_replies_raise_one_line(text):
    with pytest.raises(JsonRepairError) as err:
        repair_json(text)
    assert "\n" not in str(err.value)


def test_schema_validation_and_coercion():
    assert parse_value('{"answer": "WMT 2014"}').value == "WMT 2014"  # the model renamed the key
    assert parse_value('{"value": 28.4}').value == "28.4"
    assert parse_value('{"value": ["SQuAD", "NQ"]}').value == "SQuAD, NQ"
    assert parse_value('{"value": null}').value == "not stated"
    assert parse_value('"just a string"').value == "Just a string"
    with pytest.raises(ValidationError):
        parse_value('{"value": {"nested": 1}, "other": {"x": 2}}')
    long = parse_value(json.dumps({"value": " ".join(f"w{i}" for i in range(90))})).value  # way over 25 words: cut
    assert len(long.split()) == 41 and long.endswith("…")
    got = parse_results('[{"metric": "EM", "value": 44.5, "benchmark": "NQ"}]').results  # a bare list
    assert [(r.metric, r.value) for r in got] == [("EM", "44.5")]
    got = parse_results('{"results": [{"metric": "EM", "value": "44.5"}, {"metric": "F1"}, "prose"]}').results
    assert [r.value for r in got] == ["44.5"]  # members without a value are dropped
    assert parse_results("None.").results == []
    with pytest.raises(JsonRepairError):
        parse_results("The paper reports many results.")


def test_clean_value():
    assert clean_value("SQuAD [12], NQ [3], SQuAD [12], NQ, SQuAD") == "SQuAD, NQ"
    assert clean_value("The authors state that it fails on long inputs.") == "It fails on long inputs."
    assert clean_value("Not stated.") == "not stated"
    long = " ".join(f"w{i}" for i in range(60)) + " end."
    assert len(clean_value(long).split()) <= 41 and clean_value(long).endswith("…")
    loop = "It uses attention in three ways: in the first way, it uses attention in three ways: in the second"
    assert clean_value(loop) == "It uses attention in three ways: in the first way …"
