"""Checking one value against one field: the single rule set behind every entry point.

Form input, REST/CLI parameters and event data all go through :func:`check_value`, so a
value accepted in one place is accepted everywhere. Values come out JSON-able because
papermill writes them into a notebook cell: dates travel as ISO-8601 strings.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forms.model import Field

# CLI spellings of a boolean; anything else is refused rather than guessed.
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_INT_TEXT = re.compile(r"[+-]?\d+")
# A JSON number (plus a leading '+'): no '1_000', 'nan' or 'inf', which JSON cannot carry.
_FLOAT_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME_TEXT = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?"
)


class Refused(Exception):
    """A value does not fit its field; ``reason`` says why in the user's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def short(value: Any) -> str:
    """A value quoted for a message, cut so a huge input cannot flood the error."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def type_name(value: Any) -> str:
    return {
        bool: "a boolean", int: "an integer", float: "a number", str: "a string",
        list: "a list", dict: "an object", type(None): "null",
    }.get(type(value), type(value).__name__)


def same_value(a: Any, b: Any) -> bool:
    """JSON equality: True is not 1 (Python says it is), "1" is not 1, 1 is 1.0."""
    if isinstance(a, bool) != isinstance(b, bool) or isinstance(a, str) != isinstance(b, str):
        return False
    return bool(a == b)


def as_text(value: Any) -> str:
    """How a choice value is typed on a command line: true, 3, 2.5, north."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_value(field: Field, value: Any, *, coerce_strings: bool = False) -> Any:
    """Return ``value`` converted to ``field``'s type, or raise :class:`Refused`.

    ``value`` is never None here: a missing value is the caller's business (default or
    "is required"). With ``coerce_strings`` a ``str`` is read the way a CLI user types it.
    """
    checker = _CHECKERS[field.type]
    result = checker(field, value, coerce_strings)
    _check_bounds(field, result)
    return result


def _text(field: Field, value: Any, coerce: bool) -> str:
    if not isinstance(value, str):
        raise Refused(f"expected text, got {type_name(value)}")
    if field.required and not value.strip():
        raise Refused("is required")
    return value


def _int(field: Field, value: Any, coerce: bool) -> int:
    if coerce and isinstance(value, str):
        if not _INT_TEXT.fullmatch(value.strip()):
            raise Refused(f"expected a whole number, got {short(value)}")
        return int(value.strip())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Refused(f"expected a whole number, got {type_name(value)}")
    if isinstance(value, float):
        # JSON has one number type: 3.0 is the integer 3, 3.5 is not an integer at all.
        if not math.isfinite(value) or not value.is_integer():
            raise Refused(f"expected a whole number, got {short(value)}")
        return int(value)
    return value


def _float(field: Field, value: Any, coerce: bool) -> float:
    if coerce and isinstance(value, str):
        if not _FLOAT_TEXT.fullmatch(value.strip()):
            raise Refused(f"expected a number, got {short(value)}")
        value = float(value.strip())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Refused(f"expected a number, got {type_name(value)}")
    try:
        result = float(value)
    except OverflowError:
        raise Refused(f"number too large: {short(value)}") from None
    if not math.isfinite(result):
        raise Refused(f"expected a finite number, got {short(value)}")
    return result


def _checkbox(field: Field, value: Any, coerce: bool) -> bool:
    if coerce and isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise Refused(f"expected true/false, yes/no or 1/0, got {short(value)}")
    if not isinstance(value, bool):
        raise Refused(f"expected true or false, got {type_name(value)}")
    return value


def _choice(field: Field, value: Any, coerce: bool) -> Any:
    choices = field.choices or ()
    for choice in choices:
        if same_value(choice.value, value):
            return choice.value
    if coerce and isinstance(value, str):
        for choice in choices:
            if as_text(choice.value) == value.strip():
                return choice.value
    allowed = ", ".join(short(c.value) for c in choices)
    raise Refused(f"{short(value)} is not one of the choices ({allowed})")


def _multiselect(field: Field, value: Any, coerce: bool) -> list[Any]:
    if coerce and isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise Refused(f"is not a valid JSON list: {exc}") from None
        else:  # "a,b" on a command line
            value = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)):
        raise Refused(f"expected a list of choices, got {type_name(value)}")
    result: list[Any] = []
    bad: list[str] = []
    for item in value:
        try:
            picked = _choice(field, item, coerce)
        except Refused:
            bad.append(short(item))
            continue
        if any(same_value(picked, seen) for seen in result):
            raise Refused(f"{short(picked)} is chosen more than once")
        result.append(picked)
    if bad:
        allowed = ", ".join(short(c.value) for c in field.choices or ())
        raise Refused(f"{', '.join(bad)} not among the choices ({allowed})")
    if field.required and not result:
        raise Refused("is required: choose at least one")
    return result


def _date(field: Field, value: Any, coerce: bool) -> str:
    if isinstance(value, dt.datetime):  # a datetime is a date in Python; not here
        raise Refused("expected a date, got a date and time")
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        raise Refused(f"expected a date (YYYY-MM-DD), got {type_name(value)}")
    text = value.strip()
    try:
        if not _DATE_TEXT.fullmatch(text):
            raise ValueError
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise Refused(f"expected a date as YYYY-MM-DD, got {short(value)}") from None


def _datetime(field: Field, value: Any, coerce: bool) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if not isinstance(value, str):
        raise Refused(f"expected a date and time (ISO 8601), got {type_name(value)}")
    text = value.strip()
    try:
        if not _DATETIME_TEXT.fullmatch(text):
            raise ValueError
        return dt.datetime.fromisoformat(text).isoformat()
    except ValueError:
        raise Refused(
            f"expected a date and time as YYYY-MM-DDTHH:MM[:SS][+HH:MM], got {short(value)}"
        ) from None


def _json(field: Field, value: Any, coerce: bool) -> Any:
    if coerce and isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise Refused(f"is not valid JSON: {exc}") from None
    return _plain_json(value, "")


def _plain_json(value: Any, where: str) -> Any:
    """A deep copy made of JSON types only; refuse what JSON cannot carry."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Refused(f"{where or 'value'}: {value} cannot be written as JSON")
        return value
    if isinstance(value, (list, tuple)):
        return [_plain_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise Refused(f"{where or 'object'} has a non-text key {short(key)}")
            out[key] = _plain_json(item, f"{where}.{key}" if where else key)
        return out
    raise Refused(f"{where or 'value'}: {type_name(value)} cannot be written as JSON")


def _file(field: Field, value: Any, coerce: bool) -> Any:
    # A path (from the CLI, the API or a past run) or an upload straight from the form,
    # which the studio stores in its artefact store and replaces by a path before running.
    if isinstance(value, str):
        if not value.strip():
            if field.required:
                raise Refused("is required")
            raise Refused("expected a file path, got an empty text")
        return value
    if isinstance(value, dict) and set(value) == {"filename", "content"}:
        if not isinstance(value["filename"], str) or not value["filename"]:
            raise Refused("upload has no file name")
        if not isinstance(value["content"], bytes):
            raise Refused("upload content must be bytes")
        return {"filename": value["filename"], "content": value["content"]}
    raise Refused(
        f"expected a file path or an upload {{'filename', 'content'}}, got {type_name(value)}"
    )


def _check_bounds(field: Field, value: Any) -> None:
    if field.type not in ("int", "float"):
        return
    if field.min is not None and value < field.min:
        raise Refused(f"must be at least {field.min} (got {short(value)})")
    if field.max is not None and value > field.max:
        raise Refused(f"must be at most {field.max} (got {short(value)})")


_CHECKERS = {
    "text": _text,
    "textarea": _text,
    "int": _int,
    "float": _float,
    "checkbox": _checkbox,
    "select": _choice,
    "radio": _choice,
    "multiselect": _multiselect,
    "date": _date,
    "datetime": _datetime,
    "json": _json,
    "file": _file,
}
