"""parameters.json definitions: good ones load, broken ones report every problem with file/key/reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import forms
from forms import FormError, load_form, parse_form
from studio.errors import ManifestError
from tests.forms._helpers import ALL_TYPES_SPEC, CHOICES


def problems(data: Any, file: str = "parameters.json") -> dict[str, str]:
    with pytest.raises(FormError) as info:
        parse_form(data, file=file)
    assert all(p.file == file for p in info.value.problems)
    return {p.key: p.reason for p in info.value.problems}


def field(**spec: Any) -> dict[str, Any]:
    return {"fields": [{"name": "x", "label": "X", **spec}]}


def test_public_api_is_all() -> None:
    assert sorted(forms.__all__) == sorted(
        ["FIELD_TYPES", "Choice", "Field", "FieldType", "Form", "FormError", "FormView",
         "infer_form", "load_form", "parse_form"]
    )
    for name in forms.__all__:
        assert getattr(forms, name) is not None


def test_form_error_is_a_manifest_error() -> None:
    assert issubclass(FormError, ManifestError)


def test_every_type_loads(all_types: forms.Form) -> None:
    assert {f.type for f in all_types.fields} == set(forms.FIELD_TYPES)
    assert all_types.field("rows").default == 10
    assert all_types.defaults() == {"rows": 10, "size": 2, "dry_run": False}


def test_label_falls_back_to_readable_name() -> None:
    form = parse_form({"fields": [{"name": "max_rows", "type": "int"}]})
    assert form.field("max_rows").title == "Max rows"


def test_float_default_is_held_as_float() -> None:
    form = parse_form(field(type="float", default=3))
    assert form.field("x").default == 3.0 and isinstance(form.field("x").default, float)


def test_load_form_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "parameters.json"
    path.write_text(json.dumps(ALL_TYPES_SPEC))
    form = load_form(path)
    assert form.file == str(path)
    assert len(form.fields) == 12


def test_load_form_not_json(tmp_path: Path) -> None:
    path = tmp_path / "parameters.json"
    path.write_text("{fields: ")
    with pytest.raises(FormError) as info:
        load_form(path)
    [problem] = info.value.problems
    assert problem.file == str(path) and "not valid JSON" in problem.reason


def test_load_form_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FormError, match="cannot read"):
        load_form(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("data", "key", "reason"),
    [
        ([], "", "expected an object"),
        ({}, "fields", "missing"),
        ({"fields": {}}, "fields", "must be a list"),
        ({"fields": [], "title": "x"}, "title", "unknown key"),
        ({"fields": ["x"]}, "fields[0]", "must be an object"),
        (field(type="colour"), "fields[0].type", "unknown type 'colour'"),
        ({"fields": [{"label": "X", "type": "int"}]}, "fields[0].name", "missing"),
        ({"fields": [{"name": "x", "label": "X"}]}, "fields[0].type", "missing"),
        (field(type="int", colour="red"), "fields[0].colour", "unknown key"),
        (field(type="int", label=3), "fields[0].label", "valid string"),
        (field(type="int", required="yes"), "fields[0].required", "valid boolean"),
        (field(type="int", description=["a"]), "fields[0].description", "valid string"),
        ({"fields": [{"name": "2x", "type": "int"}]}, "fields[0].name", "not usable"),
        ({"fields": [{"name": "my-field", "type": "int"}]}, "fields[0].name", "not usable"),
        ({"fields": [{"name": "class", "type": "int"}]}, "fields[0].name", "keyword"),
        ({"fields": [{"name": 7, "type": "int"}]}, "fields[0].name", "valid string"),
        (field(type="int", min=5, max=1), "fields[0].min", "greater than max"),
        (field(type="int", min=0, max=10, default=11), "fields[0].default", "at most 10"),
        (field(type="float", min=0.5, default=0.1), "fields[0].default", "at least 0.5"),
        (field(type="int", default="3"), "fields[0].default", "whole number"),
        (field(type="int", default=2.5), "fields[0].default", "whole number"),
        (field(type="int", min=0.5), "fields[0].min", "whole number"),
        (field(type="float", max="10"), "fields[0].max", "must be a number"),
        (field(type="float", min=True), "fields[0].min", "must be a number"),
        (field(type="float", step=0), "fields[0].step", "greater than 0"),
        (field(type="text", min=1), "fields[0].min", "only int and float"),
        (field(type="select"), "fields[0].choices", "needs a non-empty choices"),
        (field(type="multiselect", choices=[]), "fields[0].choices", "needs a non-empty choices"),
        (field(type="radio"), "fields[0].choices", "needs a non-empty choices"),
        (field(type="text", choices=CHOICES), "fields[0].choices", "only select"),
        (field(type="select", choices=CHOICES, default="w"), "fields[0].default", "not one of the choices"),
        (field(type="multiselect", choices=CHOICES, default=["n", "w"]), "fields[0].default", "'w' not among"),
        (field(type="select", choices=[{"title": "A"}]), "fields[0].choices[0].value", "missing"),
        (field(type="select", choices=[{"title": "A", "value": 1, "x": 2}]), "fields[0].choices[0].x", "unknown key"),
        (field(type="select", choices=[{"title": "A", "value": [1]}]), "fields[0].choices[0].value", "must be text"),
        (field(type="select", choices=[{"title": "A", "value": 1}, {"title": "B", "value": 1.0}]),
         "fields[0].choices[1].value", "duplicate choice"),
        (field(type="select", choices="a,b"), "fields[0].choices", "valid list"),
        (field(type="date", default="2024-13-01"), "fields[0].default", "YYYY-MM-DD"),
        (field(type="checkbox", default="true"), "fields[0].default", "true or false"),
        (field(type="json", default={"a": float("nan")}), "fields[0].default", "cannot be written as JSON"),
    ],
)
def test_broken_definition(data: Any, key: str, reason: str) -> None:
    found = problems(data)
    assert key in found, found
    assert reason in found[key]


def test_all_problems_are_reported_at_once() -> None:
    data = {
        "fields": [
            {"name": "a", "type": "int", "label": "A", "min": 5, "max": 1},
            {"name": "a", "type": "wat", "label": "A"},
            {"name": "class", "type": "select", "label": 3},
            {"name": "n", "type": "int", "label": "N", "max": 10, "default": 11, "zzz": 1},
            "oops",
        ],
        "extra": 1,
    }
    found = problems(data, file="svc/parameters.json")
    assert set(found) == {
        "extra", "fields[0].min", "fields[1].name", "fields[1].type", "fields[2].name",
        "fields[2].label", "fields[3].zzz", "fields[3].default", "fields[4]",
    }
    assert "duplicate name 'a'" in found["fields[1].name"]
    with pytest.raises(FormError) as info:
        parse_form(data, file="svc/parameters.json")
    message = str(info.value)
    assert "svc/parameters.json: fields[3].default: must be at most 10" in message
