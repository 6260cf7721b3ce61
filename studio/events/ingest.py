"""Accepting an event: store it (deduplicated), then hand it to the bus for the router.

The bus carries only the event's catalog sequence number: the catalog is the record, the bus
is the doorbell, so a redelivered message can never resurrect stale data.
"""

from __future__ import annotations

import json

from studio.catalog.models import Event
from studio.events.cloudevent import CloudEvent
from studio.events.store import store_event
from studio.workspace import Workspace

EVENTS_TOPIC = "studio.events"


def accept(ws: Workspace, event: CloudEvent, *, hops: int = 0) -> tuple[Event, bool]:
    """Store ``event`` and announce it to the router. Returns (row, created)."""
    row, created = store_event(ws.catalog, event, hops=hops)
    if created:
        ws.bus.publish(EVENTS_TOPIC, json.dumps({"seq": row.seq}).encode(), key=row.correlation_id)
    return row, created
