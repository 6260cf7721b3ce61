"""The REST API (FastAPI): the same operations as the CLI, JSON in and out, OpenAPI at /api/openapi.json.

Every route goes through ``studio.auth.authorize`` via the library calls it makes. Studio
errors become JSON ``{"error": ..., "errors": [{"field", "reason"}]}`` with their status code.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from studio.errors import StudioError, ValidationFailed
from studio.workspace import Workspace


def create_app(ws: Workspace) -> FastAPI:
    app = FastAPI(
        title="Studio API", version="1", docs_url="/api/docs", openapi_url="/api/openapi.json", redoc_url=None,
        description="Run notebook services, read executions, logs and events.",
    )
    app.state.ws = ws

    @app.exception_handler(StudioError)
    async def studio_error(_: Request, exc: StudioError) -> JSONResponse:
        body: dict = {"error": str(exc)}
        if isinstance(exc, ValidationFailed):
            body["errors"] = [e.as_dict() for e in exc.errors]
        return JSONResponse(body, status_code=exc.status_code)

    from studio.api import events, executions, services

    app.include_router(services.router)
    app.include_router(executions.router)
    app.include_router(events.router)
    return app
