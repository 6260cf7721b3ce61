"""Lineage: the chain event -> execution -> event -> execution that one correlation id spans,
and searching the event log.

Correlation ids look like ``7f3a9c_01``; each hop increments the sequence, so the chain is
every event and execution with the same origin (the indexed ``correlation_origin`` column).
Parents: an execution's parent is the event that triggered it (``trigger_event_id``); an
event's parent is the execution that emitted it (``execution_id``) or, for a mapped event,
the event it was mapped from.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from studio import defaults
from studio.catalog.models import Event, Execution
from studio.errors import NotFound, StudioError
from studio.events.correlation import chain_filter, origin
from studio.events.store import event_dict
from studio.workspace import Workspace

FINAL = {"completed", "failed", "cancelled", "lost"}
LIFECYCLE = {"completed": "studio.execution.completed", "failed": "studio.execution.failed",
             "cancelled": "studio.execution.cancelled"}


class WaitTimeout(StudioError):
    """``wait_for_chain`` gave up; ``executions`` holds the chain as it stood."""

    status_code = 504

    def __init__(self, message: str, executions: list[Execution]) -> None:
        super().__init__(message)
        self.executions = executions



def _chain(ws: Workspace, correlation_id: str, limit: int | None = None) -> tuple[list[Event], list[Execution]]:
    with ws.catalog.session() as s:
        events = list(s.scalars(select(Event).where(chain_filter(Event, correlation_id))
                                .order_by(Event.seq).limit(limit)))
        executions = list(s.scalars(select(Execution).where(chain_filter(Execution, correlation_id))
                                    .order_by(Execution.created_at).limit(limit)))
    return events, executions


def _mapped_from(event: Event) -> int | None:
    if event.source == "studio/mapping" and ">" in event.event_id:
        head = event.event_id.split(">", 1)[0]
        return int(head) if head.isdigit() else None
    return None


def lineage(ws: Workspace, correlation_id: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Events and executions of the chain, in time order, each with its parent
    (at most ``limit`` of each kind, the oldest, when a limit is given)."""
    events, executions = _chain(ws, correlation_id, limit)
    if not events and not executions:
        raise NotFound("correlation id", correlation_id)
    nodes: list[tuple[datetime, int, dict[str, Any]]] = []
    for e in events:
        mapped_from = _mapped_from(e)
        parent = ({"kind": "execution", "id": e.execution_id} if e.execution_id and mapped_from is None
                  else {"kind": "event", "seq": mapped_from} if mapped_from is not None else None)
        node = {"kind": "event", "seq": e.seq, "id": e.event_id, "type": e.type, "source": e.source,
                "time": e.received_at.isoformat(), "correlation_id": e.correlation_id, "data": e.data,
                "routed": e.routed, "hops": e.hops, "parent": parent}
        nodes.append((e.received_at, 0, node))
    for x in executions:
        node = {"kind": "execution", "id": x.id, "service": f"{x.project}/{x.service}", "status": x.status,
                "trigger": x.trigger, "time": x.created_at.isoformat(), "correlation_id": x.correlation_id,
                "started_at": x.started_at.isoformat() if x.started_at else None,
                "finished_at": x.finished_at.isoformat() if x.finished_at else None, "error": x.error,
                "parent": {"kind": "event", "seq": x.trigger_event_id} if x.trigger_event_id else None}
        nodes.append((x.created_at, 1, node))
    nodes.sort(key=lambda n: (n[0], n[1]))
    return [n[2] for n in nodes]


def list_events(ws: Workspace, type: str | None = None, correlation_id: str | None = None,
                text: str | None = None, since: datetime | None = None, until: datetime | None = None,
                limit: int = defaults.PAGE_SIZE, offset: int = 0) -> list[dict[str, Any]]:
    """Events newest first. ``correlation_id`` finds its whole chain; ``text`` searches type,
    source, subject and the data as stored."""
    from sqlalchemy import String, cast

    query = select(Event).order_by(Event.seq.desc()).limit(max(1, min(limit, 1000))).offset(max(0, offset))
    if type:
        query = query.where(Event.type == type)
    if correlation_id:
        query = query.where(chain_filter(Event, correlation_id))
    if text:
        query = query.where(or_(Event.type.contains(text), Event.source.contains(text),
                                Event.subject.contains(text), cast(Event.data, String).contains(text)))
    if since:
        query = query.where(Event.received_at >= since)
    if until:
        query = query.where(Event.received_at <= until)
    with ws.catalog.session() as s:
        return [event_dict(e) | {"routed": e.routed} for e in s.scalars(query)]


def get_event(ws: Workspace, seq: int) -> dict[str, Any]:
    with ws.catalog.session() as s:
        row = s.get(Event, seq)
    if row is None:
        raise NotFound("event", str(seq))
    return event_dict(row) | {"routed": row.routed}


def chain_settled(ws: Workspace, correlation_id: str) -> tuple[bool, list[Execution]]:
    """Whether nothing more will happen in the chain: every event routed, every execution
    final and (when it ends with one) its lifecycle event stored, so links on it are seen."""
    events, executions = _chain(ws, correlation_id)
    if any(not e.routed for e in events):
        return False, executions
    lifecycle = {(e.execution_id, e.type) for e in events if e.execution_id}
    for x in executions:
        if x.status not in FINAL:
            return False, executions
        if x.status in LIFECYCLE and (x.id, LIFECYCLE[x.status]) not in lifecycle:
            return False, executions
    return True, executions


def wait_for_chain(ws: Workspace, correlation_id: str | int, timeout: float = 60.0,
                   poll: float = 0.1) -> list[Execution]:
    """Wait until every execution the event started, and all they started in turn, is final.

    ``correlation_id`` may be an event's seq. Raises WaitTimeout after ``timeout`` seconds.
    """
    if isinstance(correlation_id, int) or (isinstance(correlation_id, str) and correlation_id.isdigit()):
        with ws.catalog.session() as s:
            row = s.get(Event, int(correlation_id))
        if row is None:
            raise NotFound("event", str(correlation_id))
        correlation_id = row.correlation_id
    deadline = time.monotonic() + timeout
    while True:
        settled, executions = chain_settled(ws, correlation_id)
        if settled:
            return executions
        if time.monotonic() >= deadline:
            pending = [f"{x.project}/{x.service} {x.status}" for x in executions if x.status not in FINAL]
            raise WaitTimeout(f"chain {origin(correlation_id)} still busy after {timeout:g} s"
                              + (f": {', '.join(pending)}" if pending else ": events not yet routed "
                                 "(is a router running?)"), executions)
        time.sleep(poll)


__all__ = ["lineage", "list_events", "get_event", "wait_for_chain", "chain_settled", "WaitTimeout"]
