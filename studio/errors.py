"""The studio's exceptions. Every message says what is wrong and, where it helps, what to do.

    StudioError
     ├── ConfigError            settings or workspace problems
     ├── NotFound               unknown service, execution, project, event, secret name ...
     ├── InvalidName            a service/project/parameter name that is not allowed
     ├── ManifestError          manifest.json with file, key and reason
     ├── ValidationFailed       parameter values that do not fit parameters.json (all field errors)
     ├── StepError              a step file that is missing or of an unknown type
     ├── Forbidden              the authorization check said no
     └── Conflict               an operation that does not fit the current state (cancel a finished run)
"""

from __future__ import annotations

from dataclasses import dataclass


class StudioError(Exception):
    """Base class of every error the studio raises on purpose."""

    # HTTP status the REST API answers with; the CLI exits with 1 for all of them.
    status_code = 400


class ConfigError(StudioError):
    status_code = 500


class NotFound(StudioError):
    status_code = 404

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} {name!r} not found")
        self.kind = kind
        self.name = name


class InvalidName(StudioError):
    status_code = 422


class Forbidden(StudioError):
    status_code = 403


class Conflict(StudioError):
    status_code = 409


class StepError(StudioError):
    status_code = 422


@dataclass
class Problem:
    """One thing wrong in a file: where, which key, and why."""

    file: str
    key: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.reason}"


class ManifestError(StudioError):
    status_code = 422

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass
class FieldError:
    field: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


class ValidationFailed(StudioError):
    """Parameter values that do not fit; carries every offending field."""

    status_code = 422

    def __init__(self, errors: list[FieldError], what: str = "parameters") -> None:
        self.errors = errors
        detail = "; ".join(f"{e.field}: {e.reason}" for e in errors)
        super().__init__(f"invalid {what}: {detail}")


__all__ = [
    "StudioError", "ConfigError", "NotFound", "InvalidName", "Forbidden", "Conflict",
    "StepError", "Problem", "ManifestError", "FieldError", "ValidationFailed",
]
