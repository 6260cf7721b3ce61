"""REST upload into the artefact store: the way API and CLI users get a path for a ``file`` field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, File, Request, UploadFile

from studio.artefacts import store_upload
from studio.auth import LOCAL_USER, authorize

router = APIRouter(prefix="/api", tags=["services"])


@router.post("/services/{project}/{name}/uploads", status_code=201)
async def upload_file(request: Request, project: str, name: str, file: UploadFile = File(...)) -> dict[str, Any]:
    """Store a file for a run of this service; pass the returned ``path`` as the file field's value."""
    ws = request.app.state.ws
    svc = ws.service(f"{project}/{name}", refresh=False)
    authorize(LOCAL_USER, "run", svc.project)
    content = await file.read(ws.settings.max_upload_bytes + 1)   # one byte over is enough to refuse
    path = store_upload(ws, file.filename, content)
    return {"path": path, "filename": Path(path).name, "size": len(content)}
