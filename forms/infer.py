"""A form for a notebook with no parameters.json, read from its `parameters` cell.

Papermill's own inspection parses the cell (so we see exactly what papermill will
override); we only turn its (name, annotation, default source, help comment) into fields.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from forms._values import Refused, check_value
from forms.model import Field, Form, parse_form

# Python type (from an annotation or the default's value) -> field type.
_TYPES = {
    "bool": "checkbox", "int": "int", "float": "float", "str": "text",
    "list": "json", "tuple": "json", "dict": "json",
}
_OPTIONAL = re.compile(r"^(?:typing\.)?Optional\[(.*)\]$|^(.*?)\s*\|\s*None$|^None\s*\|\s*(.*)$")


def infer_form(notebook_path: str | Path) -> Form | None:
    """The form of a notebook's `parameters` cell; None when it has no such cell.

    Every field is optional (the notebook has its own default) and typed from the
    annotation, else from the default's value; a default that is not a literal
    (``date.today()``) is left to the notebook. Inline ``# comments`` become descriptions.
    """
    import nbformat  # imported here: `import forms` stays cheap for the API and kernels

    path = str(notebook_path)
    nb = nbformat.read(path, as_version=4)
    if not any("parameters" in cell.get("metadata", {}).get("tags", []) for cell in nb.cells):
        return None
    import papermill

    inspected = papermill.inspect_notebook(path)
    fields = [_field(p) for p in inspected.values()]
    return parse_form({"fields": [f for f in fields if f is not None]}, file=path)


def _field(param: dict[str, Any]) -> dict[str, Any] | None:
    name = param["name"]
    if not name.isidentifier():
        return None
    try:
        default = ast.literal_eval(param["default"])
        has_default = True
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        default, has_default = None, False
    kind = _type_from_annotation(param.get("inferred_type_name") or "None")
    if kind is None:
        kind = _TYPES.get(type(default).__name__, "json") if has_default and default is not None else "json"
    spec: dict[str, Any] = {"name": name, "type": kind}
    if param.get("help"):
        spec["description"] = param["help"]
    if has_default and default is not None:
        try:
            spec["default"] = check_value(Field(name=name, type=kind), default)
        except Refused:
            # e.g. `x: int = 2.5` or a set: keep the field, leave the default to the notebook.
            pass
    return spec


def _type_from_annotation(annotation: str) -> str | None:
    text = annotation.strip().strip("'\"")
    if text in ("None", ""):
        return None
    match = _OPTIONAL.match(text)
    if match:
        text = next(g for g in match.groups() if g is not None).strip()
    base = text.split("[", 1)[0].rsplit(".", 1)[-1].lower()
    return _TYPES.get(base, "json" if base in ("any", "sequence", "mapping") else None)
