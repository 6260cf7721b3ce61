"""manifest.json: the typed description of a service. Every key is optional."""

from __future__ import annotations

import json
import keyword
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from studio.errors import InvalidName, ManifestError, Problem

SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
STEP_SUFFIXES = (".ipynb", ".py", ".sql")


def check_name(name: str, what: str = "service") -> str:
    """Service and project names: lowercase letters, digits, '_' and '-' (no '..', '/', spaces)."""
    if not isinstance(name, str) or not SERVICE_NAME.match(name):
        raise InvalidName(
            f"invalid {what} name {name!r}: use lowercase letters, digits, '_' and '-', "
            f"starting with a letter or digit (no spaces, '/', '..'), at most 100 characters"
        )
    return name


def check_parameter_name(name: str) -> str:
    if not isinstance(name, str) or not IDENTIFIER.match(name) or keyword.iskeyword(name):
        raise InvalidName(f"invalid parameter name {name!r}: it must be a Python identifier")
    return name


class Manifest(BaseModel):
    """The keys of manifest.json (see docs/formats.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    description: str = ""
    entrypoint: str | None = None
    execution_order: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    trigger_events: list[str] = Field(default_factory=list)
    output_events: list[str] = Field(default_factory=list)
    schedule: str | None = None
    allow_manual_triggering: bool = True
    active: bool = True
    timezone: str = "UTC"
    timeout: float | None = Field(None, gt=0)
    retries: int = Field(0, ge=0, le=100)
    priority: int = 0
    kernel: str | None = None
    # The secret holding the connection URL .sql steps run on.
    connection: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (use an IANA name such as 'Europe/Paris')")
        return value

    @field_validator("entrypoint")
    @classmethod
    def _plain_file(cls, value: str | None) -> str | None:
        if value is not None and ("/" in value or "\\" in value or value.startswith(".")):
            raise ValueError(f"{value!r} must be a file name inside the service folder")
        return value

    @field_validator("execution_order")
    @classmethod
    def _plain_files(cls, values: list[str]) -> list[str]:
        for value in values:
            cls._plain_file(value)
        return values


def parse_manifest(data: Any, file: str = "manifest.json") -> Manifest:
    """Validate manifest data; every problem is reported with file, key and reason."""
    if not isinstance(data, dict):
        raise ManifestError([Problem(file, "", "must be a JSON object")])
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(root)"
            reason = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(Problem(file, key, reason))
        raise ManifestError(problems) from None


def load_manifest(folder: Path) -> Manifest:
    path = folder / "manifest.json"
    if not path.exists():
        return Manifest()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError([Problem(str(path), "", f"not valid JSON: {exc}")]) from None
    return parse_manifest(data, str(path))
