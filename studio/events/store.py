"""Storing events: an event is in the catalog before anyone is told it was accepted."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from studio.catalog import Catalog
from studio.catalog.models import Event
from studio.events.cloudevent import CloudEvent
from studio.events.correlation import new_correlation_id


def store_event(catalog: Catalog, event: CloudEvent, *, hops: int = 0,
                routed: bool = False) -> tuple[Event, bool]:
    """Store ``event``; returns (row, created). A duplicate id from the same source is stored once."""
    try:
        with catalog.session() as s:   # one transaction: look, then insert (the common case)
            existing = s.scalar(select(Event).where(Event.source == event.source, Event.event_id == event.id))
            if existing is not None:
                return existing, False
            row = _insert(s, event, hops, routed)
        return row, True
    except IntegrityError:   # the same event raced in from another process
        with catalog.session() as s:
            row = s.scalar(select(Event).where(Event.source == event.source, Event.event_id == event.id))
            assert row is not None
            return row, False


def _insert(s: Session, event: CloudEvent, hops: int, routed: bool) -> Event:
    now = datetime.now(timezone.utc)
    row = Event(
        event_id=event.id, source=event.source, type=event.type, subject=event.subject,
        time=event.time or now, received_at=now, datacontenttype=event.datacontenttype,
        data=event.data, correlation_id=event.correlationid or new_correlation_id(),
        execution_id=event.executionid, hops=hops, routed=routed,
    )
    s.add(row)
    s.flush()
    from studio.events.catalog import register_event_type   # the catalog of event types

    register_event_type(s, row)
    return row


def event_dict(row: Event) -> dict[str, Any]:
    """The CloudEvent as stored (plus where it sits in the studio)."""
    return {
        "specversion": "1.0", "id": row.event_id, "source": row.source, "type": row.type,
        "time": row.time.isoformat(), "datacontenttype": row.datacontenttype, "subject": row.subject,
        "data": row.data, "correlationid": row.correlation_id, "executionid": row.execution_id,
        "seq": row.seq, "received_at": row.received_at.isoformat(), "hops": row.hops,
    }
