"""CloudEvents 1.0 (JSON structured mode) with the studio's extensions."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from studio.errors import FieldError, ValidationFailed

SPECVERSION = "1.0"
# Platform event types. Manual and scheduled runs are events too, so every execution has one.
MANUAL_TRIGGER = "studio.manual.trigger"
SCHEDULE_FIRED = "studio.schedule.fired"
WEBHOOK_INCOMING = "studio.webhook.incoming"
FILE_UPLOADED = "studio.file.uploaded"
NOTIFICATION_REQUEST = "studio.notification.request"
EXECUTION_STARTED = "studio.execution.started"
EXECUTION_COMPLETED = "studio.execution.completed"
EXECUTION_FAILED = "studio.execution.failed"
EXECUTION_CANCELLED = "studio.execution.cancelled"


class CloudEvent(BaseModel):
    model_config = ConfigDict(extra="allow")   # other extensions are kept as they came

    specversion: str
    id: str = Field(min_length=1, max_length=255)
    source: str = Field(min_length=1, max_length=255)
    type: str = Field(min_length=1, max_length=255)
    time: datetime | None = None
    datacontenttype: str = "application/json"
    subject: str | None = Field(None, max_length=255)
    data: Any = None
    correlationid: str | None = Field(None, max_length=64)
    executionid: str | None = Field(None, max_length=32)

    @field_validator("specversion")
    @classmethod
    def _known_version(cls, value: str) -> str:
        if value != SPECVERSION:
            raise ValueError(f"unknown specversion {value!r}; this studio speaks CloudEvents {SPECVERSION!r}")
        return value


def parse_cloudevent(body: Any) -> CloudEvent:
    """Validate a structured-mode CloudEvent; every problem is named in the error."""
    if not isinstance(body, dict):
        raise ValidationFailed([FieldError("(body)", "a CloudEvent must be a JSON object")], what="CloudEvent")
    try:
        return CloudEvent.model_validate(body)
    except ValidationError as exc:
        errors = [FieldError(".".join(str(p) for p in e["loc"]) or "(body)",
                             "missing (required by CloudEvents 1.0)" if e["type"] == "missing" else e["msg"])
                  for e in exc.errors()]
        raise ValidationFailed(errors, what="CloudEvent") from None


def new_event(type: str, data: Any = None, source: str = "studio", subject: str | None = None,
              correlationid: str | None = None, executionid: str | None = None) -> CloudEvent:
    return CloudEvent(
        specversion=SPECVERSION, id=str(uuid.uuid4()), source=source, type=type,
        time=datetime.now(timezone.utc), subject=subject, data=data,
        correlationid=correlationid, executionid=executionid,
    )
