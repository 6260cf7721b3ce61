"""The event catalog: every event type seen, with counts, samples and an inferred schema.

``register_event_type`` runs inside the transaction that stores each event, so it is cheap
(one row, locked, updated in place) and safe with concurrent writers: on PostgreSQL the row
is created with ``INSERT .. ON CONFLICT DO NOTHING`` and then locked ``FOR UPDATE``; SQLite
serialises writers anyway.

The schema is a running merge over every event of the type, not just the kept samples. Each
object schema carries its own bookkeeping so the merge never re-reads old events:

* ``x-count``: how many values were merged into this object schema;
* ``x-seen``: per property, how many of those values had it. A property seen in every value
  is ``required``; one sometimes missing is optional.
* ``x-conflicts`` (at the root): JSON paths whose values came with incompatible types; such a
  path shows ``{"type": ["integer", "string"]}``. ``null`` only makes a type nullable, and
  integer next to number widens to number: neither is a conflict.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from studio import defaults
from studio.catalog.models import EventType, Execution, Link, Service, Project

# Limits that keep one event's merge cheap whatever it carries.
MAX_DEPTH = 6
MAX_PROPERTIES = 200


def register_event_type(s: Session, event: Any) -> None:
    """Count ``event`` into its type's catalog row (creating the row on first sight)."""
    dialect = s.get_bind().dialect.name
    row = s.get(EventType, event.type, with_for_update=dialect == "postgresql")
    if row is not None:
        pass
    elif dialect in ("postgresql", "sqlite"):
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        s.execute(insert(EventType).values(
            type=event.type, count=0, first_seen=event.received_at, last_seen=event.received_at,
            schema={}, samples=[], producers=[],
        ).on_conflict_do_nothing(index_elements=["type"]))
        row = s.get(EventType, event.type, with_for_update=dialect == "postgresql", populate_existing=True)
    else:   # pragma: no cover - other databases: best effort
        row = s.get(EventType, event.type)
        if row is None:
            row = EventType(type=event.type, count=0, first_seen=event.received_at, schema={}, samples=[],
                            producers=[])
            s.add(row)
    assert row is not None
    row.count = (row.count or 0) + 1
    row.last_seen = event.received_at
    row.samples = ([event.data] + list(row.samples or []))[: defaults.EVENT_SAMPLES_KEPT]
    conflicts: set[str] = set((row.schema or {}).get("x-conflicts", []))
    schema = merge_schema(dict(row.schema or {}), event.data, "$", conflicts, 0)
    schema["x-conflicts"] = sorted(conflicts)
    row.schema = schema
    if event.execution_id:
        producer = _producer_of(s, event.execution_id)
        if producer and producer not in (row.producers or []):
            row.producers = list(row.producers or []) + [producer]


def _producer_of(s: Session, execution_id: str) -> str | None:
    found = s.execute(select(Execution.project, Execution.service).where(Execution.id == execution_id)).first()
    return f"{found[0]}/{found[1]}" if found else None


# Schema inference -------------------------------------------------------------------

def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def _types(schema: dict[str, Any]) -> list[str]:
    t = schema.get("type")
    return [] if t is None else ([t] if isinstance(t, str) else list(t))


def _set_types(schema: dict[str, Any], types: set[str], path: str, conflicts: set[str]) -> None:
    if "integer" in types and "number" in types:
        types.discard("integer")
    ordered = sorted(types)
    schema["type"] = ordered[0] if len(ordered) == 1 else ordered
    if len(types - {"null"}) > 1:
        conflicts.add(path)


def merge_schema(schema: dict[str, Any], value: Any, path: str = "$", conflicts: set[str] | None = None,
                 depth: int = 0) -> dict[str, Any]:
    """Merge one value into ``schema`` (a schema from earlier merges, or {}), returning it."""
    conflicts = set() if conflicts is None else conflicts
    kind = json_type(value)
    _set_types(schema, set(_types(schema)) | {kind}, path, conflicts)
    if depth >= MAX_DEPTH:
        return schema
    if kind == "object":
        count = int(schema.get("x-count", 0)) + 1
        props: dict[str, Any] = dict(schema.get("properties", {}))
        seen: dict[str, int] = dict(schema.get("x-seen", {}))
        for key, item in value.items():
            key = str(key)
            if key not in props and len(props) >= MAX_PROPERTIES:
                continue
            props[key] = merge_schema(dict(props.get(key, {})), item, f"{path}.{key}", conflicts, depth + 1)
            seen[key] = seen.get(key, 0) + 1
        schema["properties"] = props
        schema["x-seen"] = seen
        schema["x-count"] = count
        schema["required"] = sorted(k for k, n in seen.items() if n >= count)
    elif kind == "array":
        items = dict(schema.get("items", {}))
        for item in value[:MAX_PROPERTIES]:
            items = merge_schema(items, item, f"{path}[]", conflicts, depth + 1)
        if items:
            schema["items"] = items
    return schema


# Reading the catalog ----------------------------------------------------------------

def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def event_types(ws: Any) -> list[dict[str, Any]]:
    """Every event type seen or declared, with its schema, samples, producers and consumers.

    Producers are the services whose runs emitted the type plus those whose manifest lists it
    in ``output_events``; consumers are the services linked to it (enabled links).
    """
    declared: dict[str, set[str]] = {}
    for svc in ws.services():
        for event_type in svc.manifest.output_events:
            declared.setdefault(event_type, set()).add(svc.key)
    with ws.catalog.session() as s:
        rows = {r.type: r for r in s.scalars(select(EventType).order_by(EventType.type))}
        consumers: dict[str, set[str]] = {}
        query = (select(Link.event_type, Project.name, Service.name)
                 .join(Service, Service.id == Link.service_id).join(Project, Project.id == Service.project_id)
                 .where(Link.enabled.is_(True)))
        for event_type, project, service in s.execute(query):
            consumers.setdefault(event_type, set()).add(f"{project}/{service}")
    result = []
    for name in sorted(set(rows) | set(declared) | set(consumers)):
        row = rows.get(name)
        schema = dict(row.schema or {}) if row else {}
        result.append({
            "type": name,
            "count": row.count if row else 0,
            "first_seen": _iso(row.first_seen) if row else None,
            "last_seen": _iso(row.last_seen) if row else None,
            "schema": schema,
            "conflicts": schema.get("x-conflicts", []),
            "samples": list(row.samples or []) if row else [],
            "producers": sorted(set(row.producers or [] if row else []) | declared.get(name, set())),
            "consumers": sorted(consumers.get(name, set())),
        })
    return result


def event_type(ws: Any, name: str) -> dict[str, Any]:
    from studio.errors import NotFound

    for entry in event_types(ws):
        if entry["type"] == name:
            return entry
    raise NotFound("event type", name)
