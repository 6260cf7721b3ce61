"""REST: services, their parameter schema, runs with parameters, saved runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from studio import runs, saved_runs
from studio.api.models import ErrorOut, ExecutionOut, RunIn, ServiceOut, service_summary
from studio.workspace import Workspace

router = APIRouter(prefix="/api", tags=["services"])
ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}, 422: {"model": ErrorOut}}


def ws_of(request: Request) -> Workspace:
    return request.app.state.ws


@router.get("/services", response_model=list[ServiceOut])
def list_services(request: Request, project: str | None = None, tag: str | None = None,
                  q: str | None = None) -> list[dict[str, Any]]:
    """Every service, with triggers, schedule, last run and load problems."""
    ws = ws_of(request)
    found = ws.services(refresh=True)
    if project:
        found = [s for s in found if s.project == project]
    if tag:
        found = [s for s in found if tag in s.manifest.tags]
    if q:
        found = [s for s in found if q.lower() in s.key.lower()]
    return [service_summary(ws, svc) for svc in found]


@router.get("/services/{project}/{name}", response_model=ServiceOut, responses=ERRORS)
def get_service(request: Request, project: str, name: str) -> dict[str, Any]:
    ws = ws_of(request)
    return service_summary(ws, ws.service(f"{project}/{name}"))


@router.get("/services/{project}/{name}/schema", responses=ERRORS)
def parameter_schema(request: Request, project: str, name: str) -> dict[str, Any]:
    """The JSON Schema of the service's parameters (from parameters.json or its parameters cell)."""
    svc = ws_of(request).service(f"{project}/{name}")
    if svc.form is None:
        return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "properties": {}}
    return svc.form.json_schema()


@router.post("/services/{project}/{name}/run", response_model=ExecutionOut, status_code=202, responses=ERRORS)
def run_service(request: Request, project: str, name: str, body: RunIn) -> dict[str, Any]:
    """Validate the parameters and queue an execution (422 with every field error when they do not fit)."""
    ws = ws_of(request)
    svc = ws.service(f"{project}/{name}")
    execution = runs.start(ws, svc, body.params, trigger="form" if request.headers.get("x-studio-form") else "manual",
                           priority=body.priority)
    return runs.execution_dict(ws.catalog, execution)


class SavedRunIn(BaseModel):
    name: str
    params: dict[str, Any]


@router.get("/services/{project}/{name}/saved-runs", responses=ERRORS)
def get_saved_runs(request: Request, project: str, name: str) -> list[dict[str, Any]]:
    ws = ws_of(request)
    return saved_runs.list_saved(ws, ws.service(f"{project}/{name}"))


@router.post("/services/{project}/{name}/saved-runs", status_code=201, responses=ERRORS)
def save_run(request: Request, project: str, name: str, body: SavedRunIn) -> dict[str, Any]:
    ws = ws_of(request)
    row = saved_runs.save(ws, ws.service(f"{project}/{name}"), body.name, body.params)
    return {"name": row.name, "params": row.params}
