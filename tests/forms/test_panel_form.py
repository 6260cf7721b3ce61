"""FormView: widgets for every type, inline messages, blocked submit, validated on_submit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import panel as pn
import pytest

from forms import Form, FormView
from studio.errors import StudioError
from tests.forms._helpers import one

WIDGETS = {
    "title": pn.widgets.TextInput,
    "notes": pn.widgets.TextAreaInput,
    "rows": pn.widgets.IntInput,
    "rate": pn.widgets.FloatInput,
    "region": pn.widgets.Select,
    "products": pn.widgets.MultiChoice,
    "size": pn.widgets.RadioBoxGroup,
    "data": pn.widgets.FileInput,
    "dry_run": pn.widgets.Checkbox,
    "day": pn.widgets.DatePicker,
    "at": pn.widgets.DatetimePicker,
    "extra": pn.widgets.TextAreaInput,
}


@pytest.fixture
def submitted() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def view(all_types: Form, submitted: list[dict[str, Any]]) -> FormView:
    return FormView(all_types, submitted.append)


def fill_required(view: FormView) -> None:
    view.widgets["title"].value = "Q3"
    view.widgets["region"].value = "s"


def test_widget_per_type(view: FormView) -> None:
    assert {name: type(w) for name, w in view.widgets.items()} == WIDGETS
    for name, widget in view.widgets.items():
        assert widget.css_classes == ["studio-field", f"studio-field-{name}"]
    assert view.submit_button.css_classes == ["studio-submit"]
    assert view.widgets["title"].label == "Title *"
    assert view.widgets["notes"].label == "Notes"
    assert view.widgets["title"].placeholder == "Q3 report"
    assert view.widgets["notes"].description == "free text"
    rows = view.widgets["rows"]
    assert (rows.value, rows.start, rows.end, rows.step) == (10, None, None, 1)   # no silent clamping
    assert "Between 1 and 100." in view._helps["rows"].object                     # the bounds, in words
    assert view.widgets["rate"].step == 0.05
    assert view.widgets["region"].options == {"—": None, "North": "n", "South": "s"}
    assert view.widgets["size"].value == 2
    assert view.widgets["products"].options == {"A": "a", "B": "b", "One": 1}
    view.__panel__().get_root()  # renders to Bokeh models without complaint


def test_help_and_error_panes(view: FormView) -> None:
    layout = view.__panel__()
    classes = [obj.css_classes for obj in layout.select(pn.pane.HTML)]
    assert ["studio-field-help"] in classes
    assert ["studio-field-error", "studio-field-error-rows"] in classes


def test_submit_blocked_until_required_filled(view: FormView, submitted: list[dict[str, Any]]) -> None:
    assert view.submit_button.disabled
    assert view.errors == {"title": "is required", "region": "is required"}
    assert view._messages["title"].visible is False  # untouched: no message yet
    assert view.submit() is None and submitted == []
    assert view._messages["title"].object == "is required"  # after a try: shown
    assert "Title" in view.status.object and "Region" in view.status.object
    fill_required(view)
    assert not view.submit_button.disabled
    assert view.errors == {}


def test_inline_message_on_change(view: FormView) -> None:
    fill_required(view)
    view.widgets["rows"].value = 500
    message = view._messages["rows"]
    assert message.visible and message.object == "must be at most 100 (got 500)"
    assert view.submit_button.disabled
    view.widgets["rows"].value = 50
    assert not message.visible and not view.submit_button.disabled


def test_invalid_json_blocks_submit(view: FormView, submitted: list[dict[str, Any]]) -> None:
    fill_required(view)
    view.widgets["extra"].value = "{not json"
    assert "is not valid JSON" in view.errors["extra"]
    assert view.submit_button.disabled
    assert view.submit() is None and submitted == []


def test_on_submit_receives_validated_values(view: FormView, submitted: list[dict[str, Any]]) -> None:
    fill_required(view)
    view.widgets["notes"].value = "line 1\nline 2"
    view.widgets["rate"].value = 0.25
    view.widgets["products"].value = ["b", 1]
    view.widgets["size"].value = 1
    view.widgets["data"].param.update(value=b"a,b\n1,2\n", filename="sales.csv")
    view.widgets["dry_run"].value = True
    view.widgets["day"].value = dt.date(2024, 3, 1)
    view.widgets["at"].value = dt.datetime(2024, 3, 1, 9, 30)
    view.widgets["extra"].value = '{"deep": [1, 2]}'
    view.submit_button.clicks += 1  # as a click in the browser does
    assert submitted == [{
        "title": "Q3", "notes": "line 1\nline 2", "rows": 10, "rate": 0.25, "region": "s",
        "products": ["b", 1], "size": 1, "data": {"filename": "sales.csv", "content": b"a,b\n1,2\n"},
        "dry_run": True, "day": "2024-03-01", "at": "2024-03-01T09:30:00", "extra": {"deep": [1, 2]},
    }]
    assert view.status.object == "Submitted."


def test_empty_optional_fields_are_left_out(view: FormView, submitted: list[dict[str, Any]]) -> None:
    fill_required(view)
    assert view.submit() == {"title": "Q3", "region": "s", "rows": 10, "products": [], "size": 2,
                             "dry_run": False}


def test_prefill_from_a_past_run(all_types: Form, submitted: list[dict[str, Any]]) -> None:
    past = {"title": "Q2", "region": "n", "rows": 20, "products": ["a"], "data": "artefacts/x.csv",
            "day": "2024-01-31", "at": "2024-01-31T08:00:00", "extra": [1, {"a": None}], "dropped": 1}
    view = FormView(all_types, submitted.append, values=past)
    assert view.widgets["day"].value == dt.date(2024, 1, 31)
    assert view.widgets["at"].value == dt.datetime(2024, 1, 31, 8)
    assert "current file: artefacts/x.csv" in view._helps["data"].object
    assert not view.submit_button.disabled
    got = view.submit()
    assert got is not None
    assert {k: got[k] for k in past if k != "dropped"} == {k: v for k, v in past.items() if k != "dropped"}
    view.prefill({"rows": 30})
    assert view.submit()["rows"] == 30  # type: ignore[index]


def test_prefill_with_a_value_no_longer_allowed(all_types: Form) -> None:
    view = FormView(all_types, lambda values: None, values={"title": "T", "region": "gone", "day": "31/01/2024"})
    assert view.errors["region"] == "'gone' is not one of the choices ('n', 's')"
    assert view.errors["day"].startswith("cannot show the saved value '31/01/2024'")
    assert view._messages["day"].visible
    assert view.submit_button.disabled
    view.widgets["region"].value = "n"
    view.widgets["day"].value = dt.date(2024, 1, 31)
    assert view.errors == {} and not view.submit_button.disabled


def test_studio_error_from_on_submit_is_shown() -> None:
    def refuse(values: dict[str, Any]) -> None:
        raise StudioError("service is inactive")

    view = FormView(one("int", default=1), refuse)
    assert view.submit() is None
    assert view.status.object == "service is inactive"


def test_required_select_with_default_has_no_empty_option() -> None:
    got: list[dict[str, Any]] = []
    form = one("select", choices=[{"title": "A", "value": "a"}], default="a", required=True)
    view = FormView(form, got.append)
    assert view.widgets["x"].options == {"A": "a"}  # required with a default: no empty option
    assert view.submit() == {"x": "a"}


def test_every_field_type_builds_with_help_text() -> None:
    """Regression: Checkbox and RadioBoxGroup take no ``description``; a form giving every
    field help text (as the forecast-form example does) must still build."""
    from forms import parse_form

    choices = [{"title": "A", "value": "a"}, {"title": "B", "value": "b"}]
    fields = []
    for kind in ("text", "textarea", "int", "float", "select", "multiselect", "radio", "file", "checkbox",
                 "date", "datetime", "json"):
        field: dict[str, Any] = {"name": f"f_{kind}", "type": kind, "label": kind, "description": f"help for {kind}"}
        if kind in ("select", "multiselect", "radio"):
            field["choices"] = choices
        fields.append(field)
    view = FormView(parse_form({"fields": fields}), on_submit=lambda values: None)
    assert set(view.widgets) == {f["name"] for f in fields}
