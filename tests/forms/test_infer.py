"""infer_form: a form from a notebook's `parameters` cell, through papermill's inspection."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from forms import infer_form

PARAMETERS = '''\
region = "north"  # sales region
rows: int = 3
rate = 0.5
dry_run = True
products = [
    "a",
    "b",
]  # which products
options = {"deep": 1}
when = date.today()
limit: Optional[float] = None
mystery = None
'''


def notebook(tmp_path: Path, source: str | None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells.append(nbformat.v4.new_markdown_cell("# Report"))
    if source is not None:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells.append(nbformat.v4.new_code_cell("print(region)"))
    path = tmp_path / "report.ipynb"
    nbformat.write(nb, path)
    return path


def test_infers_fields(tmp_path: Path) -> None:
    form = infer_form(notebook(tmp_path, PARAMETERS))
    assert form is not None
    got = {f.name: (f.type, f.default, f.description) for f in form.fields}
    assert got == {
        "region": ("text", "north", "sales region"),
        "rows": ("int", 3, None),
        "rate": ("float", 0.5, None),
        "dry_run": ("checkbox", True, None),
        "products": ("json", ["a", "b"], "which products"),
        "options": ("json", {"deep": 1}, None),
        "when": ("json", None, None),  # not a literal: the notebook keeps its own default
        "limit": ("float", None, None),
        "mystery": ("json", None, None),
    }
    assert not any(f.required for f in form.fields)
    assert form.field("dry_run").title == "Dry run"
    assert form.validate({"rows": "7"}, coerce_strings=True)["rows"] == 7
    assert form.file.endswith("report.ipynb")


def test_no_parameters_cell_gives_none(tmp_path: Path) -> None:
    assert infer_form(notebook(tmp_path, None)) is None


def test_empty_parameters_cell_gives_empty_form(tmp_path: Path) -> None:
    form = infer_form(notebook(tmp_path, "# nothing yet\n"))
    assert form is not None and form.fields == ()


@pytest.mark.parametrize(
    ("line", "kind", "default"),
    [
        ("x: float = 1", "float", 1.0),
        ("x: int = 2.5", "int", None),  # default does not fit the annotation: left out
        ("x: str = 'a'", "text", "a"),
        ("x: bool = False", "checkbox", False),
        ("x: list[int] = [1]", "json", [1]),
        ("x: dict = {}", "json", {}),
        ("x: Optional[int] = None", "int", None),  # papermill does not parse `int | None`
        ("x = (1, 2)", "json", [1, 2]),
        ("x = {1, 2}", "json", None),
        ("x = -4", "int", -4),
    ],
)
def test_types_from_annotation_and_value(tmp_path: Path, line: str, kind: str, default: object) -> None:
    form = infer_form(notebook(tmp_path, line + "\n"))
    assert form is not None
    [f] = form.fields
    assert (f.type, f.default) == (kind, default)
