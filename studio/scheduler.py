"""The scheduler role: services with a cron ``schedule`` run when a slot comes due.

* Schedules are five-field cron expressions or @-macros (@hourly, @daily, @weekly, @monthly,
  @yearly ...), read in the service's ``timezone`` (default UTC; DST handled by croniter).
* A slot fires once: firing inserts ``ScheduleSlot(service_id, slot)`` first, and its primary
  key lets exactly one scheduler win, across restarts and across scheduler processes.
* Catch-up: slots missed while no scheduler ran fire ONCE: only the latest missed slot.
* The baseline of a service that never fired is the time the studio first recorded it, so a
  new @daily service does not fire for a slot that passed before it existed.
* The fired slot becomes a ``studio.schedule.fired`` event (data ``{"slot", "service"}``)
  stored already routed, and a ``scheduled`` execution with the form's defaults; values that
  do not validate are recorded as a ``rejected`` Routing of that event.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from studio import runs
from studio.catalog.models import Routing, ScheduleSlot, ServiceVersion
from studio.discovery import ServiceDef
from studio.errors import StudioError
from studio.events.cloudevent import SCHEDULE_FIRED, new_event
from studio.events.store import store_event
from studio.workspace import Workspace

log = logging.getLogger("studio.scheduler")
TICK_SECONDS = 1.0
RESYNC_SECONDS = 30.0   # how often the role re-reads services from disk (new or changed schedules)
MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def parse_schedule(expr: str) -> str:
    """The expression if croniter accepts it as five fields or a macro; else ValueError why."""
    text = (expr or "").strip()
    if not text:
        raise ValueError("empty schedule")
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise ValueError(f"unknown macro {text!r}; use one of {', '.join(sorted(MACROS))}")
        return text.lower()
    if len(text.split()) != 5:
        raise ValueError(f"{text!r} has {len(text.split())} fields; a cron schedule has five "
                         f"(minute hour day-of-month month day-of-week) or is an @-macro like @daily")
    try:
        croniter(text)
    except Exception as exc:   # croniter's errors are many classes; its message names the field
        raise ValueError(str(exc)) from None
    return text


def schedule_info(svc: ServiceDef, count: int = 5, now: datetime | None = None) -> dict[str, Any] | None:
    """What ``studio services`` shows: the schedule, its timezone, validity and next fire times."""
    expr = svc.manifest.schedule
    if not expr:
        return None
    info: dict[str, Any] = {"schedule": expr, "timezone": svc.manifest.timezone, "valid": True, "error": None,
                            "next": []}
    try:
        text = parse_schedule(expr)
        zone = ZoneInfo(svc.manifest.timezone)
    except Exception as exc:
        info.update(valid=False, error=str(exc))
        return info
    it = croniter(text, (now or datetime.now(timezone.utc)).astimezone(zone))
    info["next"] = [it.get_next(datetime).isoformat() for _ in range(count)]
    return info


def latest_slot(expr: str, zone: ZoneInfo, now: datetime) -> datetime:
    """The latest slot at or before ``now`` (UTC)."""
    at = (now + timedelta(microseconds=1)).astimezone(zone)
    return croniter(expr, at).get_prev(datetime).astimezone(timezone.utc)


def next_slot(expr: str, zone: ZoneInfo, after: datetime) -> datetime:
    return croniter(expr, after.astimezone(zone)).get_next(datetime).astimezone(timezone.utc)


@dataclass
class Fired:
    service: str
    slot: datetime
    event_seq: int | None
    outcome: str          # started | rejected
    execution_id: str | None = None
    reason: str | None = None


@dataclass
class _Plan:
    key: tuple[str, str]   # (schedule, timezone): a changed schedule is re-planned
    due: datetime | None   # the next slot to fire at or after; None: invalid schedule
    expr: str
    zone: ZoneInfo


class Scheduler:
    """The scheduler role. ``tick(now)`` fires due slots; ``serve(stop)`` ticks every second."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._plans: dict[str, _Plan] = {}
        self.fired: list[Fired] = []

    def _baselines(self, ids: list[str]) -> dict[str, datetime]:
        with self.ws.catalog.session() as s:
            last = dict(s.execute(select(ScheduleSlot.service_id, func.max(ScheduleSlot.slot))
                                  .where(ScheduleSlot.service_id.in_(ids)).group_by(ScheduleSlot.service_id)).all())
            first = dict(s.execute(select(ServiceVersion.service_id, func.min(ServiceVersion.created_at))
                                   .where(ServiceVersion.service_id.in_(ids))
                                   .group_by(ServiceVersion.service_id)).all())
        result = {}
        for i in ids:
            value = last.get(i) or first.get(i) or datetime.now(timezone.utc)
            result[i] = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return result

    def tick(self, now: datetime | None = None) -> list[Fired]:
        now = now or datetime.now(timezone.utc)
        scheduled = [svc for svc in self.ws.services() if svc.manifest.schedule]
        ids = {svc.key: self.ws.service_id(svc) for svc in scheduled}
        unplanned = [ids[svc.key] for svc in scheduled
                     if ids[svc.key] not in self._plans
                     or self._plans[ids[svc.key]].key != (svc.manifest.schedule, svc.manifest.timezone)]
        baselines = self._baselines(unplanned) if unplanned else {}
        fired: list[Fired] = []
        for svc in scheduled:
            service_id = ids[svc.key]
            plan_key = (svc.manifest.schedule or "", svc.manifest.timezone)
            plan = self._plans.get(service_id)
            if plan is None or plan.key != plan_key:
                try:
                    expr, zone = parse_schedule(plan_key[0]), ZoneInfo(plan_key[1])
                except Exception:   # reported by schedule_info; the service still loads and runs
                    self._plans[service_id] = _Plan(plan_key, None, "", ZoneInfo("UTC"))
                    continue
                plan = self._plans[service_id] = _Plan(plan_key, next_slot(expr, zone, baselines[service_id]),
                                                       expr, zone)
            if plan.due is None or now < plan.due:
                continue
            expr, zone = plan.expr, plan.zone
            slot = latest_slot(expr, zone, now)   # catch-up: only the latest missed slot
            plan.due = next_slot(expr, zone, slot)
            if not self.ws.is_active(svc):
                continue
            result = fire(self.ws, svc, service_id, slot)
            if result is not None:
                fired.append(result)
        self.fired.extend(fired)
        return fired

    def serve(self, stop: threading.Event) -> None:
        last_sync = time.monotonic()
        while not stop.is_set():
            try:
                if time.monotonic() - last_sync >= RESYNC_SECONDS:
                    self.ws.sync()
                    last_sync = time.monotonic()
                self.tick()
            except Exception:
                log.exception("scheduler tick failed")
            # Wake just after the next whole second: cron slots fall on whole minutes.
            stop.wait(TICK_SECONDS - (time.time() % TICK_SECONDS) + 0.005)


def fire(ws: Workspace, svc: ServiceDef, service_id: str, slot: datetime) -> Fired | None:
    """Fire ``slot`` of ``svc`` unless it already fired (here or in another scheduler)."""
    try:
        with ws.catalog.session() as s:
            s.add(ScheduleSlot(service_id=service_id, slot=slot))
    except IntegrityError:
        return None   # another scheduler (or an earlier run of this one) fired it
    event, _ = store_event(ws.catalog, new_event(
        SCHEDULE_FIRED, data={"slot": slot.isoformat(), "service": svc.key}, source="studio/scheduler",
        subject=svc.key), routed=True)
    result = Fired(svc.key, slot, event.seq, "started")
    try:
        execution = runs.start(ws, svc, {}, trigger="scheduled", trigger_event_seq=event.seq,
                               correlation_id=event.correlation_id)
        result.execution_id = execution.id
    except StudioError as exc:
        result.outcome, result.reason = "rejected", str(exc)
    with ws.catalog.session() as s:
        s.add(Routing(event_seq=event.seq, service_id=service_id, outcome=result.outcome, reason=result.reason
                      or f"scheduled slot {slot.isoformat()}", execution_id=result.execution_id))
        row = s.get(ScheduleSlot, (service_id, slot))
        if row is not None:
            row.event_seq = event.seq
    return result


def tick(ws: Workspace, now: datetime | None = None) -> list[Fired]:
    """One scheduler pass at ``now`` (a fresh scheduler: plans are rebuilt from the catalog)."""
    return Scheduler(ws).tick(now)


__all__ = ["Scheduler", "tick", "fire", "schedule_info", "parse_schedule", "Fired"]
