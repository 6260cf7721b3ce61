"""``studio up``: the web role (REST API + Panel dashboard on one port) and the other roles.

The web role serves FastAPI with the dashboard mounted through Panel's FastAPI integration,
so the API, the dashboard and the forms share one port and one process.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path

from typing import TYPE_CHECKING

import click

from studio.roles import ROLES, start_roles
from studio.workspace import Workspace

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("studio.server")


def watch_projects(ws: Workspace, stop: threading.Event) -> None:
    """Pick up changes on disk while the studio runs (no restart): re-sync on every change."""
    from watchfiles import watch

    paths = [Path(p.path) for p in ws.projects() if Path(p.path).is_dir()]
    if not paths:
        return
    for _changes in watch(*paths, stop_event=stop, debounce=300, yield_on_timeout=False, raise_interrupt=False):
        try:
            ws.sync()
        except Exception:
            log.exception("re-reading the projects failed")


def build_web_app(ws: Workspace):  # -> FastAPI
    from studio.api import create_app

    from studio import dashboard, formpage

    app = create_app(ws)
    dashboard.mount(app, ws)   # the operators' pages
    formpage.mount(app, ws)    # /form?service=project/name, the business users' form page
    _favicon(app)
    return app


def _favicon(app: "FastAPI") -> None:
    """Panel pages link ``./favicon.ico``; its Tornado server answers it, FastAPI does not (a 404
    in every page's console). Serve Panel's icon there unless someone already does."""
    if any(getattr(route, "path", None) == "/favicon.ico" for route in app.routes):
        return
    from fastapi.responses import FileResponse
    from panel.io.resources import DIST_DIR

    icon = DIST_DIR / "images" / "favicon.ico"

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(icon, media_type="image/x-icon")



def serve(ws: Workspace, roles: list[str] | None = None, host: str | None = None, port: int | None = None) -> None:
    roles = roles or list(ROLES)
    host = host or ws.settings.host
    port = port or ws.settings.port
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    ws.sync()
    background = [r for r in roles if r != "web"]
    threads = start_roles(ws, background, stop)
    watcher = threading.Thread(target=watch_projects, args=(ws, stop), name="watcher", daemon=True)
    watcher.start()
    services = ws.services()
    click.echo(f"studio up: roles {', '.join(roles)}; {len(services)} service(s) in {len(ws.projects())} project(s)")
    for svc in services:
        if svc.problems:
            click.echo(f"  ! {svc.key}: {svc.problem_text()}", err=True)
    try:
        if "web" in roles:
            import uvicorn

            app = build_web_app(ws)
            click.echo(f"dashboard and API on http://{host}:{port}/  (API docs: http://{host}:{port}/api/docs)")
            uvicorn.run(app, host=host, port=port, log_level="warning", ws="websockets-sansio")
        else:   # headless: run until SIGTERM or SIGINT, then stop every role cleanly
            def on_signal(signum: int, _frame: object) -> None:
                log.info("%s received; stopping", signal.Signals(signum).name)
                stop.set()

            signal.signal(signal.SIGTERM, on_signal)
            signal.signal(signal.SIGINT, on_signal)
            click.echo(f"running headless (pid {os.getpid()}); SIGTERM or Ctrl-C stops it")
            while not stop.wait(0.5):
                pass
    finally:
        stop.set()
        for thread in threads:   # executors finish or hand back their runs (bounded grace)
            thread.join(timeout=30)
        click.echo("studio stopped")
