"""REST: executions, their logs and output, cancel."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from studio import runs
from studio.api.models import ErrorOut, ExecutionOut, LogOut
from studio.errors import NotFound
from studio.workspace import Workspace

router = APIRouter(prefix="/api", tags=["executions"])
ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}, 409: {"model": ErrorOut}}
# The rendered notebook is the analyst's HTML: it may hold script. It is served with a CSP
# sandbox so it runs in an opaque origin, never with the studio's origin or cookies, and may
# load nothing from elsewhere (no exfiltration; reports render offline).
SANDBOX_CSP = "sandbox allow-scripts allow-popups; default-src 'self' 'unsafe-inline' data:;"


def ws_of(request: Request) -> Workspace:
    return request.app.state.ws


@router.get("/executions", response_model=list[ExecutionOut])
def list_executions(request: Request, service: str | None = None, status: str | None = None,
                    project: str | None = None, correlation_id: str | None = None,
                    limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Executions, newest first, one page at a time."""
    ws = ws_of(request)
    rows = runs.list_executions(ws.catalog, service=service, status=status, project=project,
                                correlation_id=correlation_id, limit=min(limit, 500), offset=offset)
    return [runs.execution_dict(ws.catalog, e, detail=False) for e in rows]


@router.get("/executions/{execution_id}", response_model=ExecutionOut, responses=ERRORS)
def get_execution(request: Request, execution_id: str) -> dict[str, Any]:
    ws = ws_of(request)
    return runs.execution_dict(ws.catalog, runs.get(ws.catalog, execution_id))


@router.post("/executions/{execution_id}/cancel", response_model=ExecutionOut, responses=ERRORS)
def cancel_execution(request: Request, execution_id: str) -> dict[str, Any]:
    """Cancel a pending execution, or ask its executor to stop a running one (409 if already over)."""
    ws = ws_of(request)
    return runs.execution_dict(ws.catalog, runs.cancel(ws.catalog, execution_id))


@router.get("/executions/{execution_id}/logs", response_model=list[LogOut], responses=ERRORS)
def execution_logs(request: Request, execution_id: str, after: int = 0, level: str | None = None,
                   text: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Log records after id ``after`` (poll with the last id seen to follow a run)."""
    ws = ws_of(request)
    execution = runs.get(ws.catalog, execution_id)
    return [log_dict(r) for r in runs.logs(ws.catalog, execution.id, after_id=after, level=level, text=text,
                                           limit=min(limit, 5000))]


@router.get("/logs", response_model=list[LogOut])
def search_logs(request: Request, service: str | None = None, execution: str | None = None,
                level: str | None = None, text: str | None = None, since: datetime | None = None,
                until: datetime | None = None, after: int = 0, limit: int = 200) -> list[dict[str, Any]]:
    """Search logs across executions."""
    ws = ws_of(request)
    return [log_dict(r) for r in runs.logs(ws.catalog, execution, after_id=after, level=level, text=text,
                                           service=service, since=since, until=until, limit=min(limit, 5000))]


def log_dict(r: Any) -> dict[str, Any]:
    return {"id": r.id, "execution_id": r.execution_id, "service": r.service, "step": r.step,
            "time": r.time.isoformat(), "level": r.level, "stream": r.stream, "message": r.message,
            "fields": r.fields or {}}


def output_file(ws: Workspace, execution_id: str, name: str) -> Path:
    """A file of an execution's output folder; nothing outside it can be named."""
    execution = runs.get(ws.catalog, execution_id)
    if not execution.output:
        raise NotFound("output of execution", execution_id)
    root = Path(execution.output).resolve()
    path = (root / name).resolve()
    if root not in path.parents or not path.is_file():
        raise NotFound("output file", name)
    return path


@router.get("/executions/{execution_id}/files", responses=ERRORS)
def list_files(request: Request, execution_id: str) -> list[dict[str, Any]]:
    """Files the execution produced (output notebooks, HTML, data files)."""
    execution = runs.get(ws_of(request).catalog, execution_id)
    if not execution.output or not Path(execution.output).is_dir():
        return []
    root = Path(execution.output)
    return [{"name": p.relative_to(root).as_posix(), "size": p.stat().st_size}
            for p in sorted(root.rglob("*")) if p.is_file()]


@router.get("/executions/{execution_id}/files/{name:path}", responses=ERRORS)
def get_file(request: Request, execution_id: str, name: str) -> FileResponse:
    path = output_file(ws_of(request), execution_id, name)
    headers = {"Content-Security-Policy": SANDBOX_CSP, "X-Content-Type-Options": "nosniff"}
    return FileResponse(path, headers=headers, filename=None if path.suffix == ".html" else path.name)


@router.get("/executions/{execution_id}/notebook.html", response_class=HTMLResponse, responses=ERRORS)
def rendered_notebook(request: Request, execution_id: str, step: str | None = None) -> HTMLResponse:
    """The rendered output notebook (first step with one, or ``step``), sandboxed."""
    ws = ws_of(request)
    steps = [s for s in runs.steps_of(ws.catalog, runs.get(ws.catalog, execution_id).id) if s.output_html]
    if step:
        steps = [s for s in steps if s.name == step]
    if not steps:
        raise NotFound("rendered notebook of execution", execution_id)
    path = output_file(ws, execution_id, steps[0].output_html or "")
    return HTMLResponse(path.read_text(encoding="utf-8", errors="replace"),
                        headers={"Content-Security-Policy": SANDBOX_CSP, "X-Content-Type-Options": "nosniff"})
