from __future__ import annotations

from typing import Any

from forms import Form, parse_form

CHOICES = [{"title": "North", "value": "n"}, {"title": "South", "value": "s"}]


def one(type_: str, **spec: Any) -> Form:
    """A form of a single field named ``x``."""
    return parse_form({"fields": [{"name": "x", "type": type_, "label": "X", **spec}]})


ALL_TYPES_SPEC: dict[str, Any] = {
    "fields": [
        {"name": "title", "type": "text", "label": "Title", "required": True, "placeholder": "Q3 report"},
        {"name": "notes", "type": "textarea", "label": "Notes", "description": "free text"},
        {"name": "rows", "type": "int", "label": "Rows", "min": 1, "max": 100, "step": 1, "default": 10},
        {"name": "rate", "type": "float", "label": "Rate", "min": 0, "max": 1, "step": 0.05},
        {"name": "region", "type": "select", "label": "Region", "required": True, "choices": CHOICES},
        {"name": "products", "type": "multiselect", "label": "Products",
         "choices": [{"title": "A", "value": "a"}, {"title": "B", "value": "b"}, {"title": "One", "value": 1}]},
        {"name": "size", "type": "radio", "label": "Size", "default": 2,
         "choices": [{"title": "Small", "value": 1}, {"title": "Large", "value": 2}]},
        {"name": "data", "type": "file", "label": "Data file"},
        {"name": "dry_run", "type": "checkbox", "label": "Dry run", "default": False},
        {"name": "day", "type": "date", "label": "Day"},
        {"name": "at", "type": "datetime", "label": "At"},
        {"name": "extra", "type": "json", "label": "Extra"},
    ]
}
