"""The router role: every accepted event is routed to the services linked to its type, mapped
into other event types, or dead-lettered with a reason. Never silently dropped.

``route(ws, seq)`` does one event in ONE catalog transaction: it claims the event
(``UPDATE events SET routed = true WHERE seq = :seq AND NOT routed``: only one router wins,
on SQLite and PostgreSQL alike), records pending executions, mapped events and a Routing row
per outcome, then commits. A crash before the commit leaves the event unrouted and the bus
message unacked, so it is delivered again; a redelivery after the commit finds the event
routed and does nothing. So executions are never started twice and never lost.

Outcomes (``Routing.outcome``): started, rejected (data does not fit the form, or the service
cannot run), inactive, mapped, cut (mapping hop limit), dead_letter (nobody linked, no mapping).
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta
from typing import Any, Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from studio import defaults, runs
from studio.catalog.models import Event, Link, Mapping, Project, Routing, Service, utcnow
from studio.discovery import ServiceDef
from studio.errors import NotFound, ValidationFailed
from studio.events.cloudevent import MANUAL_TRIGGER, SPECVERSION, CloudEvent
from studio.events.correlation import next_hop
from studio.events.ingest import EVENTS_TOPIC
from studio.events.links import add_mapping, apply_mapping, link, list_links, list_mappings, remove_mapping, unlink
from studio.events.store import _insert
from studio.workspace import Workspace

log = logging.getLogger("studio.router")
GROUP = "router"
MAPPING_SOURCE = "studio/mapping"
# Events older than this and still unrouted are routed by the sweep (their bus message was
# lost, e.g. the process died between storing a mapped event and publishing it).
SWEEP_AFTER_SECONDS = 30.0
SWEEP_EVERY_SECONDS = 15.0


def _services_by_id(ws: Workspace, ids: set[str]) -> dict[str, ServiceDef]:
    """ServiceDefs for catalog ids, from the workspace cache (synced once if one is unknown)."""
    known = {ws.service_id(svc): svc for svc in ws.services()}
    if not ids <= set(known):
        ws.sync()
        known = {ws.service_id(svc): svc for svc in ws.services()}
    return {i: known[i] for i in ids if i in known}


def _mapped_event(s: Session, event: Event, mapping: Mapping) -> tuple[Event | None, bool]:
    """Store the event ``mapping`` makes of ``event`` (once: its id is derived from both)."""
    event_id = f"{event.seq}>{mapping.id}"
    existing = s.scalar(select(Event).where(Event.source == MAPPING_SOURCE, Event.event_id == event_id))
    if existing is not None:
        return existing, False
    cloud = CloudEvent(
        specversion=SPECVERSION, id=event_id, source=MAPPING_SOURCE, type=mapping.target_type,
        subject=event.subject, data=apply_mapping(event.data, dict(mapping.fields or {}), mapping.strategy),
        correlationid=next_hop(event.correlation_id), executionid=event.execution_id,
    )
    return _insert(s, cloud, event.hops + 1, False), True


def route(ws: Workspace, seq: int, *, on_started: Callable[[], object] | None = None) -> list[Routing]:
    """Route the stored event ``seq``; returns what was done (or had been done) with it."""
    with ws.catalog.session() as s:
        event = s.get(Event, seq)
        if event is None:
            raise NotFound("event", str(seq))
        if event.routed or event.type == MANUAL_TRIGGER:
            return list(s.scalars(select(Routing).where(Routing.event_seq == seq).order_by(Routing.id)))
        links = s.execute(
            select(Link.service_id, Service.active_override, Service.present)
            .join(Service, Service.id == Link.service_id)
            .where(Link.event_type == event.type, Link.enabled.is_(True))
        ).all()
    services = _services_by_id(ws, {row[0] for row in links})
    published: list[int] = []
    started = 0
    with ws.catalog.session() as s:
        claimed = s.execute(update(Event).where(Event.seq == seq, Event.routed.is_(False))
                            .values(routed=True)).rowcount
        if not claimed:   # another router got there first
            return list(s.scalars(select(Routing).where(Routing.event_seq == seq).order_by(Routing.id)))
        event = s.get(Event, seq, populate_existing=True)
        assert event is not None
        results: list[Routing] = []
        for service_id, override, present in links:
            svc = services.get(service_id)
            results.append(_route_to_service(s, ws, event, service_id, svc, override, present))
        for mapping in s.scalars(select(Mapping).where(Mapping.source_type == event.type).order_by(Mapping.id)):
            if event.hops + 1 > defaults.MAX_MAPPING_HOPS:
                results.append(Routing(event_seq=seq, outcome="cut", reason=(
                    f"mapping {event.type} -> {mapping.target_type} not applied: the chain made "
                    f"{event.hops} hops, the limit is {defaults.MAX_MAPPING_HOPS} (a mapping loop?)")))
                continue
            mapped, created = _mapped_event(s, event, mapping)
            assert mapped is not None
            if created:
                published.append(mapped.seq)
            results.append(Routing(event_seq=seq, outcome="mapped", reason=(
                f"mapped to {mapping.target_type} as event {mapped.seq} ({mapping.strategy})")))
        if not results and event.type.startswith("studio.execution."):
            # The studio's own lifecycle events are informational: nobody listening is normal.
            results.append(Routing(event_seq=seq, outcome="unconsumed", reason=(
                f"platform event {event.type}: no service is linked to it")))
        elif not results:
            results.append(Routing(event_seq=seq, outcome="dead_letter", reason=(
                f"no service is linked to type {event.type} and no mapping applies")))
        for routing in results:
            s.add(routing)
        s.flush()
        started = sum(1 for r in results if r.outcome == "started")
        correlation = event.correlation_id
    for mapped_seq in published:   # after the commit: the router may pick them up at once
        try:
            ws.bus.publish(EVENTS_TOPIC, json.dumps({"seq": mapped_seq}).encode(), key=correlation)
        except Exception:   # stored and unrouted: the sweep routes it
            log.exception("publishing mapped event %s failed; the sweep will route it", mapped_seq)
    for routing in results:   # after the commit: executors in other processes hear of the work
        if routing.outcome == "started":
            runs.ring(ws, routing.service_id, routing.execution_id)
    if started and on_started is not None:
        on_started()
    return results


def _route_to_service(s: Session, ws: Workspace, event: Event, service_id: str, svc: ServiceDef | None,
                      override: bool | None, present: bool) -> Routing:
    key = svc.key if svc else service_id
    if svc is None or not present:
        return Routing(event_seq=event.seq, service_id=service_id, outcome="inactive",
                       reason=f"service {key} is no longer on disk")
    active = svc.manifest.active if override is None else override
    if not active:
        return Routing(event_seq=event.seq, service_id=service_id, outcome="inactive",
                       reason=f"service {key} is inactive")
    if not svc.runnable:
        return Routing(event_seq=event.seq, service_id=service_id, outcome="rejected",
                       reason=f"service {key} cannot run: {svc.problem_text() or 'it has no steps'}")
    params = event.data if isinstance(event.data, dict) else {}
    try:
        values = runs.validate_params(svc, dict(params))
    except ValidationFailed as exc:
        return Routing(event_seq=event.seq, service_id=service_id, outcome="rejected", reason=str(exc))
    execution = runs.add_pending(s, ws, svc, values, trigger="event", trigger_event_seq=event.seq,
                                 correlation_id=next_hop(event.correlation_id))
    return Routing(event_seq=event.seq, service_id=service_id, outcome="started", execution_id=execution.id,
                   reason=f"started {key}")


def unrouted(ws: Workspace, older_than: float = SWEEP_AFTER_SECONDS, limit: int = 500) -> list[int]:
    cutoff = utcnow() - timedelta(seconds=older_than)
    with ws.catalog.session() as s:
        return list(s.scalars(select(Event.seq).where(Event.routed.is_(False), Event.received_at <= cutoff)
                              .order_by(Event.seq).limit(limit)))


def routings(ws: Workspace, seq: int) -> list[dict[str, Any]]:
    """What the router did with event ``seq`` (for ``--json``, REST and the dashboard)."""
    with ws.catalog.session() as s:
        rows = s.execute(
            select(Routing, Project.name, Service.name).outerjoin(Service, Service.id == Routing.service_id)
            .outerjoin(Project, Project.id == Service.project_id).where(Routing.event_seq == seq).order_by(Routing.id)
        ).all()
    return [routing_dict(r, f"{p}/{n}" if n else None) for r, p, n in rows]


def routing_dict(row: Routing, service: str | None = None) -> dict[str, Any]:
    return {"event_seq": row.event_seq, "service": service, "service_id": row.service_id, "outcome": row.outcome,
            "reason": row.reason, "execution_id": row.execution_id, "time": row.time.isoformat() if row.time else None}


def dead_letters(ws: Workspace, limit: int = defaults.PAGE_SIZE, offset: int = 0) -> list[dict[str, Any]]:
    with ws.catalog.session() as s:
        rows = s.scalars(select(Routing).where(Routing.outcome == "dead_letter").order_by(Routing.id.desc())
                         .limit(limit).offset(offset)).all()
    return [routing_dict(r) for r in rows]


class Router:
    """The router role: consume ``studio.events`` as group "router"; route; then ack."""

    def __init__(self, ws: Workspace, on_started: Callable[[], object] | None = None) -> None:
        self.ws = ws
        self.on_started = on_started
        self.routed = 0

    def handle(self, value: bytes) -> None:
        try:
            seq = int(json.loads(value)["seq"])
        except (ValueError, KeyError, TypeError):
            log.error("ignoring a malformed message on %s: %r", EVENTS_TOPIC, value[:200])
            return
        try:
            route(self.ws, seq, on_started=self.on_started)
        except NotFound:
            log.error("event %s is on the bus but not in the catalog; ignoring it", seq)
            return
        self.routed += 1

    def sweep(self) -> int:
        """Route events stored but never announced (or whose message was lost)."""
        done = 0
        for seq in unrouted(self.ws):
            route(self.ws, seq, on_started=self.on_started)
            done += 1
        return done

    def serve(self, stop: threading.Event) -> None:
        consumer = self.ws.bus.consumer(GROUP, [EVENTS_TOPIC])
        last_sweep = 0.0
        import time

        try:
            while not stop.is_set():
                if time.monotonic() - last_sweep >= SWEEP_EVERY_SECONDS:
                    last_sweep = time.monotonic()
                    try:
                        self.sweep()
                    except Exception:
                        log.exception("router sweep failed")
                try:
                    messages = consumer.poll_many(100, 0.5)
                except Exception:
                    log.exception("polling the bus failed")
                    stop.wait(1.0)
                    continue
                for message in messages:
                    try:
                        self.handle(message.value)
                    except Exception:   # not acked: delivered again (the catalog may be down)
                        log.exception("routing %s failed; it will be delivered again", message.id)
                        stop.wait(0.5)
                        continue
                    consumer.ack(message)
        finally:
            consumer.close()


__all__ = ["Router", "route", "routings", "dead_letters", "unrouted", "link", "unlink", "list_links",
           "add_mapping", "remove_mapping", "list_mappings"]
