"""The shareable form page of a service, for business users: ``/form?service=project/name``.

    mount(app, ws)     # adds /form (Panel, same FastAPI app and port) and the upload route

The page shows only the service's description, its form (from ``parameters.json`` or the
notebook's parameters cell; a bare Run button when it has neither) and the run that follows:
status and steps live, then the rendered notebook in a sandboxed iframe and links to every
file the run produced. ``&from=EXECUTION_ID`` prefills the form from that execution.

REST: ``POST /api/services/{project}/{name}/uploads`` (multipart ``file``) stores a file in
the artefact store and answers its path, the value a ``file`` field takes over the API/CLI.
"""

from __future__ import annotations

import logging
from typing import Any

from studio.workspace import Workspace

log = logging.getLogger("studio.formpage")

__all__ = ["FORM_PATH", "mount"]

FORM_PATH = "/form"


def mount(app: Any, ws: Workspace) -> Any:
    """Add the form page and the upload route to the FastAPI ``app``."""
    from panel.io.fastapi import add_applications

    from studio.formpage.api import router
    from studio.formpage.page import form_page

    app.include_router(router)
    return add_applications({FORM_PATH: lambda: form_page(ws)}, app=app,
                            title={FORM_PATH: "Studio · Form"})
