"""parameters.json -> typed model -> validation, JSON Schema and a Panel form.

    form = load_form("svc/parameters.json")        # or parse_form(dict), infer_form(notebook)
    values = form.validate({"region": "north"})    # ValidationFailed lists every bad field
    schema = form.json_schema()                    # draft 2020-12
    view = FormView(form, on_submit=run)           # Panel; imported lazily (no Panel in kernels)

Errors: FormError (a broken parameters.json, a ManifestError with file/key/reason problems)
and studio.errors.ValidationFailed (values that do not fit, with one FieldError per field).
"""

from __future__ import annotations

from typing import Any

from forms.infer import infer_form
from forms.model import FIELD_TYPES, Choice, Field, FieldType, Form, FormError, load_form, parse_form

__all__ = [
    "FIELD_TYPES", "Choice", "Field", "FieldType", "Form", "FormError", "FormView",
    "infer_form", "load_form", "parse_form",
]


def __getattr__(name: str) -> Any:  # Panel is heavy; executors and kernels never need it
    if name == "FormView":
        from forms.panel_form import FormView

        return FormView
    raise AttributeError(f"module 'forms' has no attribute {name!r}")
