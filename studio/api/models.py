"""Shapes of the REST API (pydantic), shared by the OpenAPI document, the CLI's --json and the UI."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select

from studio.catalog.models import Execution, Link
from studio.discovery import ServiceDef
from studio.workspace import Workspace


class Problem(BaseModel):
    file: str
    key: str
    reason: str


class ScheduleInfo(BaseModel):
    schedule: str
    timezone: str
    valid: bool
    error: str | None = None
    next: list[str] = Field(default_factory=list)


class ServiceOut(BaseModel):
    key: str
    project: str
    name: str
    description: str
    tags: list[str]
    active: bool
    runnable: bool
    steps: list[str]
    trigger_events: list[str]
    output_events: list[str]
    schedule: ScheduleInfo | None
    allow_manual_triggering: bool
    has_form: bool
    version: str
    last_status: str | None
    last_run_at: str | None
    problems: list[Problem]


class StepOut(BaseModel):
    name: str
    status: str
    started_at: str | None
    finished_at: str | None
    error: str | None
    failed_cell: int | None = None
    traceback: str | None = None
    output_notebook: str | None = None
    output_html: str | None = None


class ExecutionOut(BaseModel):
    id: str
    service: str
    project: str
    status: str
    trigger: str
    trigger_event: int | None
    params: dict[str, Any]
    correlation_id: str | None
    version: str
    priority: int
    attempt: int
    retry_of: str | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    duration: float | None
    error: str | None
    output: str | None
    steps: list[StepOut] = Field(default_factory=list)
    events: list[str] = Field(default_factory=list)


class RunIn(BaseModel):
    params: dict[str, Any] = Field(default_factory=dict, description="Parameter values, validated by the form.")
    priority: int | None = None


class LogOut(BaseModel):
    id: int
    execution_id: str
    service: str
    step: str | None
    time: str
    level: str
    stream: str
    message: str
    fields: dict[str, Any]


class FieldErrorOut(BaseModel):
    field: str
    reason: str


class ErrorOut(BaseModel):
    error: str
    errors: list[FieldErrorOut] = Field(default_factory=list)


def _schedule(svc: ServiceDef) -> dict[str, Any] | None:
    if not svc.manifest.schedule:
        return None
    from studio.scheduler import schedule_info

    return schedule_info(svc)


def service_summary(ws: Workspace, svc: ServiceDef) -> dict[str, Any]:
    service_id = ws.service_id(svc)
    with ws.catalog.session() as s:
        last = s.scalar(select(Execution).where(Execution.service_id == service_id)
                        .order_by(Execution.created_at.desc()).limit(1))
        links = s.scalars(select(Link.event_type).where(Link.service_id == service_id, Link.enabled.is_(True))
                          .order_by(Link.event_type)).all()
    return {
        "key": svc.key, "project": svc.project, "name": svc.name, "description": svc.manifest.description,
        "tags": list(svc.manifest.tags), "active": ws.is_active(svc), "runnable": svc.runnable,
        "steps": list(svc.steps), "trigger_events": list(links), "output_events": list(svc.manifest.output_events),
        "schedule": _schedule(svc), "allow_manual_triggering": svc.manifest.allow_manual_triggering,
        "has_form": svc.form is not None, "version": svc.version_hash,
        "last_status": last.status if last else None,
        "last_run_at": last.created_at.isoformat() if last else None,
        "problems": [{"file": p.file, "key": p.key, "reason": p.reason} for p in svc.problems],
    }
