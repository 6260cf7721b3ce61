"""Form -> JSON Schema (draft 2020-12), for the REST API, the event catalog and other tools.

The schema describes what :meth:`forms.Form.validate` accepts from JSON: anything the
schema accepts, ``validate`` accepts too (tested with hypothesis). ``validate`` is a little
wider: None means "not given", naive date-times are allowed, and a form upload may stand
in for a file path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forms.model import Field, Form

DIALECT = "https://json-schema.org/draft/2020-12/schema"

_BASE: dict[str, dict[str, Any]] = {
    "text": {"type": "string"},
    "textarea": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "checkbox": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "file": {"type": "string", "contentMediaType": "application/octet-stream"},
    "json": {},
}


def field_schema(f: Field) -> dict[str, Any]:
    schema: dict[str, Any] = {"title": f.title}
    if f.description:
        schema["description"] = f.description
    if f.type in ("select", "radio"):
        schema["enum"] = [c.value for c in f.choices or ()]
    elif f.type == "multiselect":
        schema.update(
            type="array", items={"enum": [c.value for c in f.choices or ()]}, uniqueItems=True
        )
        if f.required:
            schema["minItems"] = 1
    else:
        schema.update(_BASE[f.type])
    if f.type in ("text", "textarea", "file") and f.required:
        # validate() refuses blank text for a required field; say so to other tools.
        schema["pattern"] = r"\S"
    if f.min is not None:
        schema["minimum"] = f.min
    if f.max is not None:
        schema["maximum"] = f.max
    if f.step is not None:
        schema["x-step"] = f.step  # a UI hint, not a constraint: not multipleOf
    if f.placeholder and f.type in ("text", "textarea"):
        schema["examples"] = [f.placeholder]
    if f.default is not None:
        schema["default"] = f.default
    return schema


def form_schema(form: Form, title: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"$schema": DIALECT}
    if title:
        schema["title"] = title
    schema.update(
        type="object",
        properties={f.name: field_schema(f) for f in form.fields},
        # A required field with a default may be left out: validate() fills it in.
        required=[f.name for f in form.fields if f.required and f.default is None],
        additionalProperties=False,
    )
    return schema
