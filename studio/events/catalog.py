"""The event catalog: every event type seen, with counts, samples and an inferred schema."""

from __future__ import annotations

from sqlalchemy.orm import Session

from studio import defaults
from studio.catalog.models import Event, EventType


def register_event_type(s: Session, event: Event) -> None:
    row = s.get(EventType, event.type, with_for_update=s.bind.dialect.name == "postgresql")
    if row is None:
        row = EventType(type=event.type, count=0, first_seen=event.received_at, samples=[], producers=[])
        s.add(row)
    row.count = (row.count or 0) + 1
    row.last_seen = event.received_at
    row.samples = ([event.data] + list(row.samples or []))[: defaults.EVENT_SAMPLES_KEPT]
