"""Late linking (event type -> service) and event mappings (type -> type), effective at once.

A link made here is a catalog row the router reads for every event, so no redeploy and no
restart is needed. Unlinking a manifest link keeps the row with ``enabled=False`` (the next
sync must not bring it back); unlinking a late link deletes it.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, select

from studio.auth import LOCAL_USER, Principal, authorize
from studio.catalog.models import Link, Mapping, Project, Service
from studio.errors import Conflict, FieldError, NotFound, ValidationFailed
from studio.workspace import Workspace

STRATEGIES = ("mapped", "all")
_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,254}$")


def check_event_type(name: str) -> str:
    if not isinstance(name, str) or not _TYPE.match(name):
        raise ValidationFailed([FieldError("type", f"invalid event type {name!r}: use letters, digits, "
                                                   f"'.', '_', '-', ':' or '/', at most 255 characters")],
                               what="event type")
    return name


def link(ws: Workspace, service: str, event_type: str, who: Principal = LOCAL_USER) -> dict[str, Any]:
    """Link ``service`` to ``event_type``: its next event starts the service."""
    svc = ws.service(service)
    authorize(who, "link", svc.project)
    check_event_type(event_type)
    service_id = ws.service_id(svc)
    with ws.catalog.session() as s:
        row = s.get(Link, (service_id, event_type))
        if row is None:
            row = Link(service_id=service_id, event_type=event_type, origin="late", enabled=True)
            s.add(row)
        else:
            row.enabled = True
    return {"service": svc.key, "event_type": event_type, "origin": row.origin, "enabled": True}


def unlink(ws: Workspace, service: str, event_type: str, who: Principal = LOCAL_USER) -> dict[str, Any]:
    """Stop ``event_type`` from starting ``service`` (its next event already does not)."""
    svc = ws.service(service)
    authorize(who, "link", svc.project)
    service_id = ws.service_id(svc)
    with ws.catalog.session() as s:
        row = s.get(Link, (service_id, event_type))
        if row is None or not row.enabled:
            raise NotFound("link", f"{event_type} -> {svc.key}")
        if row.origin == "manifest":
            row.enabled = False
        else:
            s.delete(row)
    return {"service": svc.key, "event_type": event_type, "enabled": False}


def list_links(ws: Workspace, event_type: str | None = None, service: str | None = None) -> list[dict[str, Any]]:
    query = (select(Link, Project.name, Service.name).join(Service, Service.id == Link.service_id)
             .join(Project, Project.id == Service.project_id).order_by(Link.event_type, Project.name, Service.name))
    if event_type:
        query = query.where(Link.event_type == event_type)
    if service:
        svc = ws.service(service)
        query = query.where(Link.service_id == ws.service_id(svc))
    with ws.catalog.session() as s:
        return [{"event_type": l.event_type, "service": f"{p}/{n}", "origin": l.origin, "enabled": l.enabled}
                for l, p, n in s.execute(query)]


# Mappings ------------------------------------------------------------------------------

def _mapping_dict(row: Mapping) -> dict[str, Any]:
    return {"id": row.id, "source": row.source_type, "target": row.target_type, "fields": dict(row.fields or {}),
            "strategy": row.strategy}


def add_mapping(ws: Workspace, source_type: str, target_type: str, fields: dict[str, str] | None = None,
                strategy: str = "mapped", who: Principal = LOCAL_USER) -> dict[str, Any]:
    """Turn every ``source_type`` event into a ``target_type`` event with fields renamed.

    ``strategy="mapped"`` keeps only the fields named in ``fields``; ``"all"`` keeps every field,
    renaming those named. Mapping a type onto itself is refused: it would loop forever.
    """
    authorize(who, "manage")
    check_event_type(source_type)
    check_event_type(target_type)
    if source_type == target_type:
        raise Conflict(f"cannot map {source_type!r} onto itself: every event would map again forever "
                       f"(a loop); pick another target type")
    if strategy not in STRATEGIES:
        raise ValidationFailed([FieldError("strategy", f"{strategy!r} is not one of: mapped, all")], what="mapping")
    fields = dict(fields or {})
    errors = [FieldError(f"fields.{old}", "old and new field names must be non-empty strings")
              for old, new in fields.items() if not isinstance(old, str) or not old or not isinstance(new, str) or not new]
    if len(set(fields.values())) != len(fields):
        errors.append(FieldError("fields", "two fields are renamed to the same name"))
    if errors:
        raise ValidationFailed(errors, what="mapping")
    with ws.catalog.session() as s:
        row = s.scalar(select(Mapping).where(Mapping.source_type == source_type, Mapping.target_type == target_type))
        if row is None:
            row = Mapping(source_type=source_type, target_type=target_type)
            s.add(row)
        row.fields = fields
        row.strategy = strategy
        s.flush()
        return _mapping_dict(row)


def remove_mapping(ws: Workspace, source_type: str, target_type: str, who: Principal = LOCAL_USER) -> None:
    authorize(who, "manage")
    with ws.catalog.session() as s:
        gone = s.execute(delete(Mapping).where(Mapping.source_type == source_type,
                                               Mapping.target_type == target_type)).rowcount
    if not gone:
        raise NotFound("mapping", f"{source_type} -> {target_type}")


def list_mappings(ws: Workspace) -> list[dict[str, Any]]:
    with ws.catalog.session() as s:
        return [_mapping_dict(r) for r in s.scalars(select(Mapping).order_by(Mapping.source_type, Mapping.target_type))]


def apply_mapping(data: Any, fields: dict[str, str], strategy: str) -> Any:
    """The data of the mapped event. Non-object data passes through unchanged ("all") or as {}."""
    if not isinstance(data, dict):
        return data if strategy == "all" else {}
    if strategy == "mapped":
        return {new: data[old] for old, new in fields.items() if old in data}
    return {fields.get(key, key): value for key, value in data.items()}


__all__ = ["link", "unlink", "list_links", "add_mapping", "remove_mapping", "list_mappings", "apply_mapping",
           "check_event_type"]
