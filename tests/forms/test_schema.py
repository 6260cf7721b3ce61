"""Form.json_schema: its shape, and agreement with Form.validate (checked with hypothesis)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forms import Form, parse_form
from studio.errors import ValidationFailed
from tests.forms._helpers import one

VALIDATOR = jsonschema.Draft202012Validator


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: True is not 1, 1 is 1.0."""
    return (type(a) is bool) == (type(b) is bool) and (type(a) is str) == (type(b) is str) and a == b


def schema_accepts(schema: dict[str, Any], values: Any) -> bool:
    return VALIDATOR(schema, format_checker=VALIDATOR.FORMAT_CHECKER).is_valid(values)


def test_schema_shape(all_types: Form) -> None:
    schema = all_types.json_schema(title="Sales report")
    VALIDATOR.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "Sales report"
    assert schema["required"] == ["title", "region"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["title"] == {"title": "Title", "type": "string", "pattern": r"\S", "examples": ["Q3 report"]}
    assert props["notes"] == {"title": "Notes", "description": "free text", "type": "string"}
    assert props["rows"] == {
        "title": "Rows", "type": "integer", "minimum": 1, "maximum": 100, "x-step": 1, "default": 10,
    }
    assert props["rate"]["type"] == "number" and props["rate"]["maximum"] == 1
    assert props["region"]["enum"] == ["n", "s"]
    assert props["products"] == {
        "title": "Products", "type": "array", "items": {"enum": ["a", "b", 1]}, "uniqueItems": True,
    }
    assert props["size"] == {"title": "Size", "enum": [1, 2], "default": 2}
    assert props["data"]["type"] == "string"
    assert props["dry_run"]["type"] == "boolean"
    assert props["day"]["format"] == "date"
    assert props["at"]["format"] == "date-time"
    assert props["extra"] == {"title": "Extra"}


def test_schema_and_validate_agree_on_examples(all_types: Form) -> None:
    schema = all_types.json_schema()
    good = {"title": "Q3", "region": "s", "rows": 5, "products": ["a", 1], "day": "2024-01-02",
            "at": "2024-01-02T03:04:05Z", "extra": {"k": [1]}}
    assert schema_accepts(schema, good)
    all_types.validate(good)
    for bad in ({"region": "s"}, {**good, "rows": 0}, {**good, "region": "w"}, {**good, "nope": 1},
                {**good, "products": ["a", "a"]}, {**good, "day": "2024-02-30"}, {**good, "title": " "}):
        assert not schema_accepts(schema, bad)
        with pytest.raises(ValidationFailed):
            all_types.validate(bad)


# -- property-based: the schema and the validator are one rule set --------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=10,
)
SCALARS = st.one_of(st.text(max_size=8), st.integers(-5, 5), st.booleans(),
                    st.floats(-5, 5, allow_nan=False).filter(lambda x: not x.is_integer()))
NUMBER = st.integers(-1000, 1000) | st.floats(-1000, 1000, allow_nan=False)


@st.composite
def fields(draw: st.DrawFn) -> dict[str, Any]:
    """A random, valid field definition of a JSON-native type."""
    kind = draw(st.sampled_from(["text", "textarea", "int", "float", "checkbox", "select", "radio",
                                 "multiselect", "json"]))
    spec: dict[str, Any] = {"name": "x", "type": kind, "required": draw(st.booleans())}
    if kind in ("int", "float"):
        bound = st.integers(-100, 100) if kind == "int" else NUMBER
        lo, hi = draw(st.none() | bound), draw(st.none() | bound)
        if lo is not None and hi is not None and lo > hi:
            lo, hi = hi, lo
        spec.update({k: v for k, v in (("min", lo), ("max", hi)) if v is not None})
    if kind in ("select", "radio", "multiselect"):
        values = draw(st.lists(SCALARS, min_size=1, max_size=5))
        kept: list[Any] = []
        for v in values:  # 1 and 1.0 are one JSON value; keep the first
            if not any(json_equal(v, k) for k in kept):
                kept.append(v)
        spec["choices"] = [{"title": f"c{i}", "value": v} for i, v in enumerate(kept)]
    return spec


def candidates(spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values near the field's rules: in and out of range, choices and non-choices, junk."""
    near: list[st.SearchStrategy[Any]] = [JSON, st.sampled_from(["", " ", "\n", "a", 0, [], {}])]
    if spec["type"] in ("int", "float"):
        near.append(NUMBER)
        near += [st.just(spec[k]) for k in ("min", "max") if k in spec]
    choices = [c["value"] for c in spec.get("choices", [])]
    if choices:
        near.append(st.sampled_from(choices))
        near.append(st.lists(st.sampled_from(choices), max_size=4))
    return st.one_of(near)


COMMON = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@COMMON
@given(data=st.data())
def test_schema_accepts_exactly_what_validate_accepts(data: st.DataObject) -> None:
    spec = data.draw(fields())
    form = parse_form({"fields": [spec]})
    schema = form.json_schema()
    value = data.draw(candidates(spec))
    if value is None:
        return  # None means "not given" to validate; it is not a JSON value of the field
    values = {"x": value}
    accepted_by_schema = schema_accepts(schema, values)
    try:
        got = form.validate(values)
    except ValidationFailed as exc:
        assert not accepted_by_schema, (spec, value, exc.errors)
        return
    assert accepted_by_schema, (spec, value, got)
    assert got == values  # JSON-native types come out unchanged (3.0 == 3 included)


@COMMON
@given(data=st.data())
def test_out_of_range_numbers_are_refused(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["int", "float"]))
    lo = data.draw(st.integers(-100, 100))
    hi = data.draw(st.integers(lo, lo + 100))
    form = one(kind, min=lo, max=hi)
    below = data.draw(st.integers(max_value=lo - 1) | st.floats(max_value=lo - 1e-6, allow_nan=False, allow_infinity=False).filter(lambda v: kind == "float" or v.is_integer()))
    above = data.draw(st.integers(min_value=hi + 1))
    for value, reason in ((below, "at least"), (above, "at most")):
        with pytest.raises(ValidationFailed) as info:
            form.validate({"x": value})
        assert reason in info.value.errors[0].reason
        assert not schema_accepts(form.json_schema(), {"x": value})
    inside = data.draw(st.integers(lo, hi))
    assert form.validate({"x": inside}) == {"x": inside}


@COMMON
@given(spec=fields().filter(lambda s: s["type"] in ("select", "radio")), value=SCALARS)
def test_non_choices_are_refused(spec: dict[str, Any], value: Any) -> None:
    form = parse_form({"fields": [spec]})
    choices = [c["value"] for c in spec["choices"]]
    if any(json_equal(value, c) for c in choices):
        assert form.validate({"x": value}) == {"x": value}
    else:
        with pytest.raises(ValidationFailed, match="not one of the choices"):
            form.validate({"x": value})


@COMMON
@given(day=st.dates(min_value=dt.date(1, 1, 1)), moment=st.datetimes(), kind=st.sampled_from(["int", "float"]),
       number=st.integers(-10**6, 10**6))
def test_string_forms_round_trip(day: dt.date, moment: dt.datetime, kind: str, number: int) -> None:
    assert one("date").validate({"x": day.isoformat()}) == {"x": day.isoformat()}
    assert one("datetime").validate({"x": moment.isoformat()}) == {"x": moment.isoformat()}
    assert one(kind).validate({"x": str(number)}, coerce_strings=True) == {"x": number}
