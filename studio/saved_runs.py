"""Saved runs: an execution's parameters kept under a name, to prefill a form or re-run."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from studio.catalog.models import SavedRun
from studio.discovery import ServiceDef
from studio.errors import NotFound
from studio.manifest import check_name
from studio.workspace import Workspace


def save(ws: Workspace, svc: ServiceDef, name: str, params: dict[str, Any]) -> SavedRun:
    check_name(name, "saved run")
    from studio.runs import validate_params

    values = validate_params(svc, params)   # a saved run must be runnable as saved
    with ws.catalog.session() as s:
        row = s.scalar(select(SavedRun).where(SavedRun.service_id == ws.service_id(svc), SavedRun.name == name))
        if row is None:
            row = SavedRun(service_id=ws.service_id(svc), name=name, params=values)
            s.add(row)
        else:
            row.params = values
        return row


def list_saved(ws: Workspace, svc: ServiceDef) -> list[dict[str, Any]]:
    with ws.catalog.session() as s:
        rows = s.scalars(select(SavedRun).where(SavedRun.service_id == ws.service_id(svc)).order_by(SavedRun.name))
        return [{"name": r.name, "params": r.params, "created_at": r.created_at.isoformat()} for r in rows]


def get_saved(ws: Workspace, svc: ServiceDef, name: str) -> dict[str, Any]:
    with ws.catalog.session() as s:
        row = s.scalar(select(SavedRun).where(SavedRun.service_id == ws.service_id(svc), SavedRun.name == name))
        if row is None:
            raise NotFound("saved run", f"{svc.key}:{name}")
        return dict(row.params)
