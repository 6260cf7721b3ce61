"""CloudEvents 1.0 (JSON structured mode) with the studio's extensions."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from studio.errors import FieldError, StudioError, ValidationFailed

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


# HTTP bindings ------------------------------------------------------------------------

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


class PayloadTooLarge(StudioError):
    """A body over ``max_event_bytes``: refused before it is parsed, nothing stored."""

    status_code = 413


def check_size(body: bytes, max_bytes: int | None) -> None:
    if max_bytes is not None and len(body) > max_bytes:
        raise PayloadTooLarge(f"the body is {len(body)} bytes; the limit is {max_bytes} bytes "
                              f"(setting max_event_bytes). Put big data in a file and send its location")


def parse_json_body(body: bytes, what: str = "CloudEvent") -> Any:
    """The JSON in ``body``, or a ValidationFailed saying why it is not JSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed([FieldError("(body)", f"not UTF-8 text: {exc.reason} at byte {exc.start}")],
                               what=what) from None
    if not text.strip():
        raise ValidationFailed([FieldError("(body)", "empty body; send a JSON document")], what=what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed([FieldError("(body)", f"not valid JSON: {exc.msg} at line {exc.lineno} "
                                                     f"column {exc.colno}")], what=what) from None


def from_http(headers: Mapping[str, str], body: bytes, max_bytes: int | None = None) -> CloudEvent:
    """A CloudEvent from an HTTP request, in either content mode of the CloudEvents HTTP binding.

    Structured mode: ``Content-Type: application/cloudevents+json`` (or plain JSON with no
    ``ce-`` headers), the whole event in the body. Binary mode: attributes in ``ce-*`` headers,
    the data in the body (JSON, or text for ``text/*``).
    """
    check_size(body, max_bytes)
    lowered = {k.lower(): v for k, v in headers.items()}
    content_type = lowered.get("content-type", "").split(";")[0].strip().lower()
    if content_type == BATCH:
        raise ValidationFailed([FieldError("content-type", "batched CloudEvents are not supported; "
                                                           "send one event per request")], what="CloudEvent")
    binary = {k[3:]: unquote(v) for k, v in lowered.items() if k.startswith("ce-")}
    if content_type == STRUCTURED or not binary:
        return parse_cloudevent(parse_json_body(body))
    attributes: dict[str, Any] = dict(binary)
    if content_type:
        attributes["datacontenttype"] = content_type
    if not body:
        attributes["data"] = None
    elif not content_type or content_type == "application/json" or content_type.endswith("+json"):
        attributes["data"] = parse_json_body(body, what="CloudEvent data")
    elif content_type.startswith("text/"):
        try:
            attributes["data"] = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed([FieldError("data", "text data that is not UTF-8")], what="CloudEvent") from None
    else:
        raise ValidationFailed([FieldError("datacontenttype", f"data of type {content_type!r} cannot be stored; "
                                                              f"send JSON or text")], what="CloudEvent")
    return parse_cloudevent(attributes)
