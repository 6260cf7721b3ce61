"""Executions: starting one (always from a trigger event), the queue, cancelling, reading them back.

States::

    pending -> running -> completed | failed | cancelled | lost
    pending -> cancelled
    lost: its executor vanished; a retry (a new pending execution) follows when retries allow
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from studio.auth import LOCAL_USER, Principal, authorize
from studio.catalog import Catalog
from studio.catalog.models import Event, Execution, LogRecord, Step, utcnow
from studio.discovery import ServiceDef
from studio.errors import Conflict, NotFound, StudioError, ValidationFailed
from studio.events.cloudevent import MANUAL_TRIGGER, CloudEvent, new_event
from studio.events.store import store_event
from studio.workspace import Workspace


class Status(str, Enum):
    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"
    lost = "lost"


# The execution-request doorbell: one message per execution that became pending, keyed by
# service id (spreads services over partitions, hence over executors). The catalog stays the
# truth: the message only says "there is work"; executors claim with ``claim_next``.
EXECUTIONS_TOPIC = "studio.executions"

FINAL = {Status.completed.value, Status.failed.value, Status.cancelled.value, Status.lost.value}
TRIGGERS = ("manual", "form", "event", "scheduled", "retry")


def validate_params(svc: ServiceDef, params: dict[str, Any], *, coerce_strings: bool = False) -> dict[str, Any]:
    """The one validation every way in goes through (form, REST, CLI, event data)."""
    from studio.manifest import check_parameter_name
    from studio.errors import FieldError, InvalidName

    errors = []
    for name in params:
        try:
            check_parameter_name(name)
        except InvalidName as exc:
            errors.append(FieldError(str(name), str(exc)))
    if errors:
        raise ValidationFailed(errors)
    if svc.form is not None:
        return svc.form.validate(params, coerce_strings=coerce_strings)
    return dict(params)


def start(ws: Workspace, svc: ServiceDef, params: dict[str, Any] | None = None, *,
          trigger: str = "manual", event: CloudEvent | None = None, trigger_event_seq: int | None = None,
          correlation_id: str | None = None, coerce_strings: bool = False, priority: int | None = None,
          who: Principal = LOCAL_USER, validated: bool = False) -> Execution:
    """Validate parameters and record a pending execution. Nothing is recorded if they do not fit.

    Manual and form runs get a ``studio.manual.trigger`` event first, so every execution has
    a trigger event and a correlation id.
    """
    authorize(who, "run", svc.project)
    if not svc.runnable:
        raise StudioError(f"service {svc.key!r} cannot run: {svc.problem_text() or 'it has no steps'}")
    if trigger in ("manual", "form") and not svc.manifest.allow_manual_triggering:
        raise Conflict(f"service {svc.key!r} does not allow manual runs (allow_manual_triggering is false)")
    values = dict(params or {}) if validated else validate_params(svc, dict(params or {}), coerce_strings=coerce_strings)
    if trigger_event_seq is None:
        trigger_event = event or new_event(MANUAL_TRIGGER, data=values, source=f"studio/{who.name}",
                                           subject=svc.key, correlationid=correlation_id)
        row, _ = store_event(ws.catalog, trigger_event, routed=True)
        trigger_event_seq, correlation_id = row.seq, row.correlation_id
    with ws.catalog.session() as s:
        execution = add_pending(s, ws, svc, values, trigger=trigger, trigger_event_seq=trigger_event_seq,
                                correlation_id=correlation_id, priority=priority)
    ring(ws, execution.service_id, execution.id)
    return execution


def ring(ws: Workspace, service_id: str | None = None, execution_id: str | None = None) -> bool:
    """Announce pending work on ``studio.executions`` (after the commit). Never raises.

    A lost doorbell only delays the run until an executor's catalog poll finds it
    (``executor_poll_seconds``), so a bus failure must not fail the start that recorded it.
    """
    import json
    import logging

    try:
        ws.bus.publish(EXECUTIONS_TOPIC, json.dumps({"execution": execution_id}).encode(), key=service_id)
        return True
    except Exception as exc:
        logging.getLogger("studio.runs").warning("execution doorbell not published (%s); executors' "
                                                 "catalog poll will find the work", exc)
        return False


def add_pending(s: Session, ws: Workspace, svc: ServiceDef, values: dict[str, Any], *, trigger: str,
                trigger_event_seq: int | None, correlation_id: str | None, priority: int | None = None,
                retries: int | None = None, timeout: float | None = None, attempt: int = 1,
                retry_of: str | None = None, not_before: datetime | None = None) -> Execution:
    """The one place a pending execution and its steps are recorded, inside the caller's
    transaction (the router records it together with its routing decision). Callers ring
    the doorbell (``ring``) after their commit."""
    manifest = svc.manifest
    execution = Execution(
        service_id=ws.service_id(svc), project=svc.project, service=svc.name, version_hash=svc.version_hash,
        status=Status.pending.value, trigger=trigger, trigger_event_id=trigger_event_seq,
        correlation_id=correlation_id, params=values,
        priority=manifest.priority if priority is None else priority,
        retries=manifest.retries if retries is None else retries,
        timeout=timeout or manifest.timeout or ws.settings.run_timeout,
        attempt=attempt, retry_of=retry_of, not_before=not_before,
    )
    s.add(execution)
    s.flush()
    for position, name in enumerate(svc.steps):
        s.add(Step(execution_id=execution.id, position=position, name=name, status="pending"))
    return execution


def retry_of(ws: Workspace, failed: Execution, delay_seconds: float = 0.0, count_attempt: bool = True) -> Execution:
    """A new pending execution repeating ``failed`` (same params, same trigger event)."""
    svc = ws.service(f"{failed.project}/{failed.service}")
    with ws.catalog.session() as s:
        execution = add_retry(s, ws, svc, failed, delay_seconds, count_attempt)
    ring(ws, execution.service_id, execution.id)
    return execution


def add_retry(s: Session, ws: Workspace, svc: ServiceDef, failed: Execution, delay_seconds: float = 0.0,
              count_attempt: bool = True) -> Execution:
    """``retry_of`` inside the caller's transaction (the reaper marks lost and retries at once)."""
    return add_pending(
        s, ws, svc, failed.params, trigger="retry", trigger_event_seq=failed.trigger_event_id,
        correlation_id=failed.correlation_id, priority=failed.priority, retries=failed.retries,
        timeout=failed.timeout, attempt=failed.attempt + 1 if count_attempt else failed.attempt,
        retry_of=failed.id, not_before=utcnow() + timedelta(seconds=delay_seconds) if delay_seconds else None,
    )


def claim_next(catalog: Catalog, owner: str, lease_seconds: float) -> Execution | None:
    """Take the most urgent pending execution (priority, then age) and lease it to ``owner``.

    The conditional UPDATE (status still pending) makes the claim atomic on SQLite and
    PostgreSQL alike: two executors never get the same execution.
    """
    now = utcnow()
    ready = and_(Execution.status == Status.pending.value,
                 or_(Execution.not_before.is_(None), Execution.not_before <= now))
    for _ in range(5):
        with catalog.session() as s:
            query = select(Execution.id).where(ready).order_by(
                Execution.priority.desc(), Execution.created_at).limit(1)
            if catalog.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            candidate = s.scalar(query)
            if candidate is None:
                return None
            claimed = s.execute(
                update(Execution).where(Execution.id == candidate, Execution.status == Status.pending.value)
                .values(status=Status.running.value, started_at=now, lease_owner=owner,
                        lease_expires_at=now + timedelta(seconds=lease_seconds))
            ).rowcount
            if claimed:
                return s.get(Execution, candidate)
    return None


def get(catalog: Catalog, execution_id: str) -> Execution:
    with catalog.session() as s:
        row = s.get(Execution, execution_id)
        if row is None and 4 <= len(execution_id) < 32:   # a unique prefix, as git allows
            rows = s.scalars(select(Execution).where(Execution.id.like(f"{execution_id}%")).limit(2)).all()
            row = rows[0] if len(rows) == 1 else None
        if row is None:
            raise NotFound("execution", execution_id)
        return row


def cancel(catalog: Catalog, execution_id: str, who: Principal = LOCAL_USER) -> Execution:
    """Cancel a pending execution at once, or ask a running one's executor to stop it."""
    execution = get(catalog, execution_id)
    authorize(who, "cancel", execution.project)
    with catalog.session() as s:
        done = s.execute(update(Execution).where(Execution.id == execution.id, Execution.status == "pending")
                         .values(status=Status.cancelled.value, finished_at=utcnow(),
                                 error="cancelled before it started")).rowcount
        if done:
            s.execute(update(Step).where(Step.execution_id == execution.id).values(status="skipped"))
        else:
            running = s.execute(update(Execution).where(Execution.id == execution.id, Execution.status == "running")
                                .values(cancel_requested=True)).rowcount
            if not running:
                raise Conflict(f"execution {execution.id} already {execution.status}; nothing to cancel")
    return get(catalog, execution.id)


def list_executions(catalog: Catalog, *, service: str | None = None, status: str | None = None,
                    project: str | None = None, correlation_id: str | None = None,
                    limit: int = 50, offset: int = 0) -> list[Execution]:
    query = select(Execution).order_by(Execution.created_at.desc()).limit(limit).offset(offset)
    if service:
        if "/" in service:
            p, _, service = service.partition("/")
            query = query.where(Execution.project == p)
        query = query.where(Execution.service == service)
    if status:
        query = query.where(Execution.status == status)
    if project:
        query = query.where(Execution.project == project)
    if correlation_id:
        query = query.where(Execution.correlation_id == correlation_id)
    with catalog.session() as s:
        return list(s.scalars(query))


def steps_of(catalog: Catalog, execution_id: str) -> list[Step]:
    with catalog.session() as s:
        return list(s.scalars(select(Step).where(Step.execution_id == execution_id).order_by(Step.position)))


def emitted_events(catalog: Catalog, execution_id: str) -> list[Event]:
    """Events the run itself sent (the studio's own lifecycle events about it excluded)."""
    with catalog.session() as s:
        return list(s.scalars(select(Event).where(Event.execution_id == execution_id,
                                                  Event.type.not_like("studio.execution.%")).order_by(Event.seq)))


def logs(catalog: Catalog, execution_id: str | None = None, *, after_id: int = 0, limit: int = 1000,
         level: str | None = None, text: str | None = None, service: str | None = None,
         since: datetime | None = None, until: datetime | None = None) -> list[LogRecord]:
    query = select(LogRecord).where(LogRecord.id > after_id).order_by(LogRecord.id).limit(limit)
    if execution_id:
        query = query.where(LogRecord.execution_id == execution_id)
    if level:
        query = query.where(LogRecord.level == level.upper())
    if text:
        query = query.where(LogRecord.message.contains(text))
    if service:
        query = query.where(LogRecord.service == service)
    if since:
        query = query.where(LogRecord.time >= since)
    if until:
        query = query.where(LogRecord.time <= until)
    with catalog.session() as s:
        return list(s.scalars(query))


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value else None


def step_dict(step: Step) -> dict[str, Any]:
    return {
        "name": step.name, "status": step.status, "started_at": _iso(step.started_at),
        "finished_at": _iso(step.finished_at), "error": step.error, "failed_cell": step.failed_cell,
        "traceback": step.traceback, "output_notebook": step.output_notebook, "output_html": step.output_html,
    }


def execution_dict(catalog: Catalog, execution: Execution, *, detail: bool = True) -> dict[str, Any]:
    """The record programs read (``--json``, REST). Never holds a secret."""
    record: dict[str, Any] = {
        "id": execution.id, "service": execution.service, "project": execution.project,
        "status": execution.status, "trigger": execution.trigger,
        "trigger_event": execution.trigger_event_id, "params": execution.params,
        "correlation_id": execution.correlation_id, "version": execution.version_hash,
        "priority": execution.priority, "attempt": execution.attempt, "retry_of": execution.retry_of,
        "created_at": _iso(execution.created_at), "started_at": _iso(execution.started_at),
        "finished_at": _iso(execution.finished_at), "error": execution.error,
        "duration": (execution.finished_at - execution.started_at).total_seconds()
        if execution.finished_at and execution.started_at else None,
        "output": execution.output,
    }
    if detail:
        record["steps"] = [step_dict(st) for st in steps_of(catalog, execution.id)]
        record["events"] = [e.event_id for e in emitted_events(catalog, execution.id)]
    return record


def counts_by_status(catalog: Catalog) -> dict[str, int]:
    with catalog.session() as s:
        return dict(s.execute(select(Execution.status, func.count()).group_by(Execution.status)).all())
