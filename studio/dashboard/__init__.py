"""The Panel dashboard, served by the same FastAPI app (and port) as the REST API.

    mount(app, ws)      # adds the pages below to ``app``

Pages (one ``pn.viewable.Viewer`` per module; SQL in ``queries``)::

    /  and /overview             latest and failed executions, 7-day activity, busiest services
    /services[?service=p/name]   services (search by name, tag, project); one service's detail
    /execution?id=...            parameters, steps, sandboxed notebook, live logs, events, re-run
    /events                      the event catalog and the event log; send a test event
    /lineage?correlation_id=...  (or ?execution=...) the chain of events and executions
    /logs                        search logs; live tail
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from studio.workspace import Workspace

log = logging.getLogger("studio.dashboard")

__all__ = ["mount", "pages"]


def pages(ws: Workspace) -> dict[str, Callable[[], Any]]:
    """URL path -> function building that page (a template) for one browser session."""
    from studio.dashboard.events import EventsPage
    from studio.dashboard.execution import ExecutionPage
    from studio.dashboard.layout import shell
    from studio.dashboard.lineage import LineagePage
    from studio.dashboard.logs import LogsPage
    from studio.dashboard.overview import Overview
    from studio.dashboard.services import ServicesPage

    def overview() -> Any:
        return shell("Overview", Overview(ws), active="/")

    def services() -> Any:
        return shell("Services", ServicesPage(ws), active="/services")

    def execution() -> Any:
        page = ExecutionPage(ws)
        return shell("Execution" if page.execution_id else "Executions", page,
                     active="" if page.execution_id else "/execution")

    def events() -> Any:
        return shell("Events", EventsPage(ws), active="/events")

    def lineage() -> Any:
        return shell("Lineage", LineagePage(ws), active="/lineage")

    def logs() -> Any:
        return shell("Logs", LogsPage(ws), active="/logs")

    return {"/": overview, "/overview": overview, "/services": services, "/execution": execution,
            "/events": events, "/lineage": lineage, "/logs": logs}


def mount(app: Any, ws: Workspace, extra: dict[str, Callable[[], Any]] | None = None) -> Any:
    """Add the dashboard's pages (and ``extra`` ones, e.g. the form page) to the FastAPI ``app``."""
    from panel.io.fastapi import add_applications

    routes = pages(ws) | dict(extra or {})
    titles = {path: "Studio" for path in routes}
    return add_applications(routes, app=app, title=titles)
