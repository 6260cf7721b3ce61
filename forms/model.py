"""parameters.json as a typed model: :class:`Form` of :class:`Field` s.

    StudioError
     └── ManifestError
          └── FormError        a broken parameters.json: every problem, with file, key, reason
     └── ValidationFailed      values that do not fit a Form: every offending field

A definition is read in two passes so that *all* problems are reported at once: pydantic
checks shapes (key types, unknown keys) field by field, then :func:`_field_problems` checks
what pydantic cannot (names, bounds, choices, defaults) on every field that had a sane shape.
"""

from __future__ import annotations

import json
import keyword
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, ValidationError

from forms._values import Refused, check_value, same_value, short
from studio.errors import FieldError, ManifestError, Problem, ValidationFailed

FieldType = Literal[
    "text", "textarea", "int", "float", "select", "multiselect", "radio", "file",
    "checkbox", "date", "datetime", "json",
]
FIELD_TYPES: tuple[str, ...] = get_args(FieldType)
CHOICE_TYPES = ("select", "multiselect", "radio")
NUMBER_TYPES = ("int", "float")
DEFAULT_FILE = "parameters.json"
_BAD_NAME = "{name!r} is not usable as a notebook variable: letters, digits and _, not starting with a digit, not a Python keyword"


class FormError(ManifestError):
    """A parameters.json that cannot be used; ``problems`` lists every problem found."""


class Choice(BaseModel):
    """One option of a select, multiselect or radio field."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    title: str
    # A JSON scalar; checked by hand so the reason reads better than a union error.
    value: Any


class Field(BaseModel):
    """One entry of ``fields`` in parameters.json."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str
    type: FieldType
    label: str | None = None
    required: bool = False
    description: str | None = None
    default: Any = None
    placeholder: str | None = None
    # Numbers, checked by hand: only int/float fields take bounds.
    min: Any = None
    max: Any = None
    step: Any = None
    choices: list[Choice] | None = None

    @property
    def title(self) -> str:
        """The label shown to people; the name, readable, when parameters.json has none."""
        return self.label or self.name.replace("_", " ").strip().capitalize() or self.name


@dataclass(frozen=True)
class Form:
    """A checked parameters.json. Build it with :func:`parse_form` or :func:`load_form`."""

    fields: tuple[Field, ...]
    file: str = DEFAULT_FILE

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        """The default of every field that has one, as :meth:`validate` fills it in."""
        return {f.name: f.default for f in self.fields if f.default is not None}

    def validate_field(self, name: str, value: Any, *, coerce_strings: bool = False) -> Any:
        """Check one field's value alone (the form checks each field as it changes).

        Returns the converted value (the default, or None when absent and not required);
        raises :class:`ValidationFailed` naming the field otherwise.
        """
        try:
            f = self.field(name)
        except KeyError:
            raise ValidationFailed([FieldError(name, self._unknown_reason())]) from None
        try:
            return self._one(f, value, coerce_strings)
        except Refused as exc:
            raise ValidationFailed([FieldError(name, exc.reason)]) from None

    def validate(self, values: dict[str, Any], *, coerce_strings: bool = False) -> dict[str, Any]:
        """Return ``values`` converted to the declared types, defaults filled in.

        None counts as "not given". A field not given, with no default and not required, is
        left out, so the notebook keeps its own default. Raises :class:`ValidationFailed`
        listing every unknown, missing or unfitting field, in definition order.
        """
        if not isinstance(values, dict):
            raise ValidationFailed(
                [FieldError("*", f"expected an object of field values, got {type(values).__name__}")]
            )
        errors: list[FieldError] = []
        result: dict[str, Any] = {}
        for f in self.fields:
            try:
                value = self._one(f, values.get(f.name), coerce_strings)
            except Refused as exc:
                errors.append(FieldError(f.name, exc.reason))
                continue
            if value is not None:
                result[f.name] = value
        known = set(self.names)
        for name in values:
            if name not in known:
                errors.append(FieldError(str(name), self._unknown_reason()))
        if errors:
            raise ValidationFailed(errors)
        return result

    def _one(self, f: Field, value: Any, coerce_strings: bool) -> Any:
        if value is None:
            if f.default is not None:
                return f.default
            if f.required:
                raise Refused("is required")
            return None
        return check_value(f, value, coerce_strings=coerce_strings)

    def _unknown_reason(self) -> str:
        known = ", ".join(self.names) or "none"
        return f"unknown field; this form has: {known}"

    def json_schema(self, title: str | None = None) -> dict[str, Any]:
        """The JSON Schema (draft 2020-12) of the values :meth:`validate` accepts."""
        from forms._schema import form_schema

        return form_schema(self, title)


def load_form(path: str | Path) -> Form:
    """Read and check a parameters.json file; raises :class:`FormError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FormError([Problem(str(path), "", f"cannot read: {exc.strerror or exc}")]) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise FormError([Problem(str(path), "", f"not valid JSON: {exc}")]) from None
    return parse_form(data, file=str(path))


def parse_form(data: Any, file: str = DEFAULT_FILE) -> Form:
    """Check a parsed parameters.json (``{"fields": [...]}``); raises :class:`FormError`."""
    problems: list[Problem] = []

    def problem(key: str, reason: str) -> None:
        problems.append(Problem(file, key, reason))

    if not isinstance(data, dict):
        raise FormError([Problem(file, "", 'expected an object like {"fields": [...]}')])
    for key in data:
        if key != "fields":
            problem(str(key), 'unknown key; parameters.json has only "fields"')
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, list):
        problem("fields", "missing" if raw_fields is None else "must be a list of fields")
        raise FormError(problems)

    fields: list[Field] = []
    first_index: dict[str, int] = {}
    for i, raw in enumerate(raw_fields):
        where = f"fields[{i}]"
        if not isinstance(raw, dict):
            problem(where, "must be an object with name, type and label")
            continue
        name = raw.get("name")
        if isinstance(name, str):
            if not name.isidentifier() or keyword.iskeyword(name):
                problem(f"{where}.name", _BAD_NAME.format(name=name))
            if name in first_index:
                problem(f"{where}.name", f"duplicate name {name!r} (first used by fields[{first_index[name]}])")
            else:
                first_index[name] = i
        # Unknown keys are reported here and dropped, so the rest is still checked.
        for key in raw:
            if key not in Field.model_fields:
                problem(f"{where}.{key}", f"unknown key; a field takes: {', '.join(Field.model_fields)}")
        try:
            f = Field.model_validate({k: v for k, v in raw.items() if k in Field.model_fields})
        except ValidationError as exc:
            for err in exc.errors():
                problem(where + _loc(err["loc"]), _pydantic_reason(err))
            continue
        for key, reason in _field_problems(f):
            problem(f"{where}.{key}" if key else where, reason)
        fields.append(f)
    if problems:
        raise FormError(problems)
    return Form(tuple(_converted_default(f) for f in fields), file)


def _loc(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def _pydantic_reason(err: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing"
    if kind == "literal_error":
        return f"unknown type {short(err['input'])}; expected one of: {', '.join(FIELD_TYPES)}"
    return f"{err['msg']}, got {short(err['input'])}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _field_problems(f: Field) -> list[tuple[str, str]]:
    """What the shape check cannot see: (key inside the field, reason) pairs."""
    out: list[tuple[str, str]] = []

    for key in ("min", "max", "step"):
        value = getattr(f, key)
        if value is None:
            continue
        if f.type not in NUMBER_TYPES:
            out.append((key, f"only int and float fields take {key}"))
        elif not _is_number(value):
            out.append((key, f"must be a number, got {short(value)}"))
        elif f.type == "int" and not float(value).is_integer():
            out.append((key, f"must be a whole number for an int field, got {short(value)}"))
        elif key == "step" and value <= 0:
            out.append((key, f"must be greater than 0, got {short(value)}"))
    if _is_number(f.min) and _is_number(f.max) and f.min > f.max:
        out.append(("min", f"min {f.min} is greater than max {f.max}"))

    if f.type in CHOICE_TYPES:
        if not f.choices:
            out.append(("choices", f"a {f.type} field needs a non-empty choices list"))
        for j, choice in enumerate(f.choices or ()):
            v = choice.value
            if not (isinstance(v, (str, bool)) or _is_number(v)):
                out.append((f"choices[{j}].value", f"must be text, a number or true/false, got {short(v)}"))
            elif any(same_value(v, c.value) for c in (f.choices or ())[:j]):
                out.append((f"choices[{j}].value", f"duplicate choice value {short(v)}"))
    elif f.choices is not None:
        out.append(("choices", f"only select, multiselect and radio fields take choices, not {f.type}"))

    if f.default is not None and not any(key in ("min", "max", "choices") or key.startswith("choices[") for key, _ in out):
        try:
            check_value(f, f.default)
        except Refused as exc:
            out.append(("default", exc.reason))
    return out


def _converted_default(f: Field) -> Field:
    """The field with its default as :meth:`Form.validate` hands it out (3 -> 3.0 for float)."""
    if f.default is None:
        return f
    return f.model_copy(update={"default": check_value(f, f.default)})
