"""Form.validate: every type and constraint, accepted and refused, every bad field named."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from forms import Form
from studio.errors import ValidationFailed
from tests.forms._helpers import CHOICES, one


def refused(form: Form, values: dict[str, Any], **kw: Any) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as info:
        form.validate(values, **kw)
    return {e.field: e.reason for e in info.value.errors}


NUMS = [{"title": "One", "value": 1}, {"title": "Yes", "value": True}, {"title": "Half", "value": 0.5}]

ACCEPTED = [
    ("text", {}, "hello", "hello"),
    ("text", {}, "", ""),
    ("textarea", {}, "a\nb", "a\nb"),
    ("int", {}, 3, 3),
    ("int", {}, -7, -7),
    ("int", {}, 3.0, 3),  # JSON has one number type
    ("int", {"min": 1, "max": 3}, 1, 1),
    ("int", {"min": 1, "max": 3}, 3, 3),
    ("float", {}, 2.5, 2.5),
    ("float", {}, 2, 2.0),
    ("float", {"min": 0, "max": 1}, 1, 1.0),
    ("checkbox", {}, True, True),
    ("checkbox", {}, False, False),
    ("select", {"choices": CHOICES}, "s", "s"),
    ("radio", {"choices": NUMS}, 1, 1),
    ("radio", {"choices": NUMS}, 1.0, 1),
    ("radio", {"choices": NUMS}, True, True),
    ("multiselect", {"choices": CHOICES}, ["s", "n"], ["s", "n"]),
    ("multiselect", {"choices": CHOICES}, [], []),
    ("multiselect", {"choices": NUMS}, (True, 1), [True, 1]),
    ("date", {}, "2024-02-29", "2024-02-29"),
    ("date", {}, dt.date(2024, 1, 2), "2024-01-02"),
    ("datetime", {}, "2024-01-02T03:04:05", "2024-01-02T03:04:05"),
    ("datetime", {}, "2024-01-02 03:04", "2024-01-02T03:04:00"),
    ("datetime", {}, "2024-01-02T03:04:05Z", "2024-01-02T03:04:05+00:00"),
    ("datetime", {}, "2024-01-02T03:04:05.25+02:00", "2024-01-02T03:04:05.250000+02:00"),
    ("datetime", {}, dt.datetime(2024, 1, 2, 3, 4), "2024-01-02T03:04:00"),
    ("json", {}, {"a": [1, None, "x"]}, {"a": [1, None, "x"]}),
    ("json", {}, "just text", "just text"),
    ("json", {}, (1, 2), [1, 2]),
    ("file", {}, "inputs/sales.csv", "inputs/sales.csv"),
    ("file", {}, {"filename": "a.csv", "content": b"x,y"}, {"filename": "a.csv", "content": b"x,y"}),
]


@pytest.mark.parametrize(("type_", "spec", "value", "expected"), ACCEPTED)
def test_accepted(type_: str, spec: dict[str, Any], value: Any, expected: Any) -> None:
    result = one(type_, **spec).validate({"x": value})["x"]
    assert result == expected
    assert type(result) is type(expected)


REFUSED = [
    ("text", {}, 3, "expected text"),
    ("text", {"required": True}, "  ", "is required"),
    ("int", {}, "3", "expected a whole number"),
    ("int", {}, 3.5, "expected a whole number, got 3.5"),
    ("int", {}, True, "expected a whole number"),
    ("int", {}, float("inf"), "whole number"),
    ("int", {"min": 1}, 0, "must be at least 1 (got 0)"),
    ("int", {"max": 3}, 4, "must be at most 3 (got 4)"),
    ("float", {}, "2.5", "expected a number"),
    ("float", {}, False, "expected a number"),
    ("float", {}, float("nan"), "finite"),
    ("float", {"min": 0.5}, 0.4, "at least 0.5"),
    ("float", {"max": 1}, 1.01, "at most 1"),
    ("checkbox", {}, 1, "expected true or false"),
    ("checkbox", {}, "true", "expected true or false"),
    ("select", {"choices": CHOICES}, "w", "'w' is not one of the choices ('n', 's')"),
    ("radio", {"choices": NUMS}, "1", "not one of the choices"),
    ("radio", {"choices": [{"title": "One", "value": 1}]}, True, "not one of the choices"),
    ("multiselect", {"choices": CHOICES}, "n", "expected a list"),
    ("multiselect", {"choices": CHOICES}, ["n", "w", "z"], "'w', 'z' not among the choices"),
    ("multiselect", {"choices": CHOICES}, ["n", "n"], "more than once"),
    ("multiselect", {"choices": CHOICES, "required": True}, [], "choose at least one"),
    ("date", {}, "2024-02-30", "YYYY-MM-DD"),
    ("date", {}, "20240201", "YYYY-MM-DD"),
    ("date", {}, "yesterday", "YYYY-MM-DD"),
    ("date", {}, 20240201, "expected a date"),
    ("date", {}, dt.datetime(2024, 1, 1), "got a date and time"),
    ("datetime", {}, "2024-01-02", "expected a date and time"),
    ("datetime", {}, "2024-01-02T25:00", "expected a date and time"),
    ("json", {}, {1: "a"}, "non-text key"),
    ("json", {}, {"a": {1, 2}}, "a: set cannot be written as JSON"),
    ("json", {}, [float("inf")], "[0]: inf cannot"),
    ("file", {}, 3, "expected a file path"),
    ("file", {}, "", "empty"),
    ("file", {"required": True}, "", "is required"),
    ("file", {}, {"filename": "a", "content": "text"}, "must be bytes"),
    ("file", {}, {"filename": "", "content": b""}, "no file name"),
]


@pytest.mark.parametrize(("type_", "spec", "value", "reason"), REFUSED)
def test_refused(type_: str, spec: dict[str, Any], value: Any, reason: str) -> None:
    assert reason in refused(one(type_, **spec), {"x": value})["x"]


def test_missing_required_and_defaults(all_types: Form) -> None:
    assert refused(all_types, {}) == {"title": "is required", "region": "is required"}
    got = all_types.validate({"title": "Q3", "region": "n"})
    # defaults filled in, fields with neither value nor default left to the notebook
    assert got == {"title": "Q3", "region": "n", "rows": 10, "size": 2, "dry_run": False}


def test_none_means_not_given(all_types: Form) -> None:
    got = all_types.validate({"title": "Q3", "region": "n", "rows": None, "rate": None})
    assert got["rows"] == 10 and "rate" not in got


def test_required_with_default_is_filled() -> None:
    form = one("int", required=True, default=4)
    assert form.validate({}) == {"x": 4}


def test_every_offending_field_is_listed(all_types: Form) -> None:
    found = refused(all_types, {
        "title": "", "rows": 0, "rate": 2, "region": "w", "products": ["z"], "size": 3,
        "data": 5, "dry_run": "no", "day": "2024-99-01", "at": "soon", "extra": {1: 2},
        "typo": 1, "other": 2,
    })
    assert set(found) == {
        "title", "rows", "rate", "region", "products", "size", "data", "dry_run", "day",
        "at", "extra", "typo", "other",
    }
    assert found["typo"].startswith("unknown field; this form has: title, notes, rows")


def test_error_message_names_field_and_reason(all_types: Form) -> None:
    with pytest.raises(ValidationFailed) as info:
        all_types.validate({"title": "Q", "region": "n", "rows": 500})
    assert str(info.value) == "invalid parameters: rows: must be at most 100 (got 500)"
    assert info.value.errors[0].as_dict() == {"field": "rows", "reason": "must be at most 100 (got 500)"}


def test_values_must_be_an_object(all_types: Form) -> None:
    assert "expected an object" in refused(all_types, ["title"])["*"]  # type: ignore[arg-type]


def test_validate_field(all_types: Form) -> None:
    assert all_types.validate_field("rows", 5) == 5
    assert all_types.validate_field("rows", None) == 10
    with pytest.raises(ValidationFailed, match="rows: must be at least 1"):
        all_types.validate_field("rows", 0)
    with pytest.raises(ValidationFailed, match="nope: unknown field"):
        all_types.validate_field("nope", 1)


def test_output_is_a_new_structure() -> None:
    value = {"a": [1, 2]}
    got = one("json").validate({"x": value})["x"]
    got["a"].append(3)
    assert value == {"a": [1, 2]}


# -- coerce_strings: what a CLI `-p name value` hands over --------------------------------

COERCED = [
    ("int", {}, "3", 3),
    ("int", {}, " -12 ", -12),
    ("float", {}, "2.5", 2.5),
    ("float", {}, "3", 3.0),
    ("float", {}, "1e3", 1000.0),
    ("float", {}, ".5", 0.5),
    *[("checkbox", {}, word, True) for word in ("true", "True", "1", "yes", "on")],
    *[("checkbox", {}, word, False) for word in ("false", "FALSE", "0", "no", "off")],
    ("select", {"choices": CHOICES}, "s", "s"),
    ("radio", {"choices": NUMS}, "1", 1),
    ("radio", {"choices": NUMS}, "true", True),
    ("radio", {"choices": NUMS}, "0.5", 0.5),
    ("multiselect", {"choices": CHOICES}, "n,s", ["n", "s"]),
    ("multiselect", {"choices": CHOICES}, " s , n ", ["s", "n"]),
    ("multiselect", {"choices": CHOICES}, '["s"]', ["s"]),
    ("multiselect", {"choices": NUMS}, "1,true", [1, True]),
    ("multiselect", {"choices": CHOICES}, "", []),
    ("json", {}, '{"a": [1, 2]}', {"a": [1, 2]}),
    ("json", {}, '"text"', "text"),
    ("json", {}, "3", 3),
    ("text", {}, "3", "3"),
    ("date", {}, "2024-01-02", "2024-01-02"),
    ("file", {}, "x.csv", "x.csv"),
]


@pytest.mark.parametrize(("type_", "spec", "text", "expected"), COERCED)
def test_coerce_strings(type_: str, spec: dict[str, Any], text: str, expected: Any) -> None:
    got = one(type_, **spec).validate({"x": text}, coerce_strings=True)["x"]
    assert got == expected
    assert type(got) is type(expected)


NOT_COERCED = [
    ("int", "3.5", "expected a whole number, got '3.5'"),
    ("int", "3.0", "whole number"),
    ("int", "1_000", "whole number"),
    ("int", "three", "whole number"),
    ("int", "", "whole number"),
    ("float", "nan", "expected a number"),
    ("float", "inf", "expected a number"),
    ("float", "1,5", "expected a number"),
    ("checkbox", "maybe", "expected true/false"),
    ("checkbox", "", "expected true/false"),
    ("json", "{a: 1}", "is not valid JSON"),
    ("json", "NaN", "cannot be written as JSON"),
]


@pytest.mark.parametrize(("type_", "text", "reason"), NOT_COERCED)
def test_lossy_or_unclear_strings_are_refused(type_: str, text: str, reason: str) -> None:
    assert reason in refused(one(type_), {"x": text}, coerce_strings=True)["x"]


def test_coerce_multiselect_refuses_unknown_and_bad_json() -> None:
    form = one("multiselect", choices=CHOICES)
    assert "'w' not among" in refused(form, {"x": "n,w"}, coerce_strings=True)["x"]
    assert "valid JSON list" in refused(form, {"x": "[n"}, coerce_strings=True)["x"]
    assert "not one of" in refused(one("select", choices=CHOICES), {"x": "w"}, coerce_strings=True)["x"]


def test_coercion_leaves_non_strings_alone() -> None:
    assert one("int").validate({"x": 4}, coerce_strings=True) == {"x": 4}
    assert "whole number" in refused(one("int"), {"x": 4.5}, coerce_strings=True)["x"]
