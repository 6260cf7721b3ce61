"""A real studio for the form page: workspace, web app on a free port (uvicorn thread), an
executor thread, and Debian's Chromium through Playwright."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.conftest import SCREENSHOTS, notebook, serve_studio, write_service


REPORT_FIELDS = {"fields": [
    {"name": "title", "type": "text", "label": "Title", "required": True, "placeholder": "Q3 report"},
    {"name": "notes", "type": "textarea", "label": "Notes", "description": "free text for the report"},
    {"name": "rows", "type": "int", "label": "Rows", "min": 1, "max": 100, "default": 10},
    {"name": "data", "type": "file", "label": "Data file", "description": "a text file; its first line is quoted"},
]}
REPORT_NB = notebook(
    'print(f"REPORT title={title!r} rows={rows} notes={notes!r}")',
    'if data:\n    with open(data, encoding="utf-8") as fh:\n        print("FIRST LINE:", fh.readline().strip())\n'
    'else:\n    print("NO FILE")',
    parameters='title = ""\nnotes = ""\nrows = 10\ndata = None',
)
SERVICES: dict[str, dict[str, Any]] = {
    "report": {
        "parameters.json": REPORT_FIELDS,
        "report.ipynb": REPORT_NB,
        "README.md": "# Report\n\nMakes a one-line report from your values and quotes your file.\n\nMore text.\n",
    },
    "locked": {
        "manifest.json": {"allow_manual_triggering": False, "description": "runs on events only"},
        "run.ipynb": notebook('print("locked")'),
    },
    "broken": {
        "parameters.json": {"fields": [{"name": "why", "type": "text", "label": "Why", "default": "on purpose"}]},
        "fail.ipynb": notebook('raise ValueError(f"BROKEN {why}")', parameters='why = ""'),
    },
    "plain": {
        "manifest.json": {"description": "Says hello; nothing to fill in."},
        "hello.ipynb": notebook('print("HELLO FROM PLAIN")'),
    },
}


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A running studio: ``{"ws", "url"}``."""
    from studio.workspace import Workspace, init_workspace

    root = tmp_path_factory.mktemp("formpage")
    project = root / "demo"
    project.mkdir()
    for name, files in SERVICES.items():
        write_service(project, name, files)
    init_workspace(root / "home", with_examples=False)
    ws = Workspace.open(root / "home")
    ws.add_project("demo", project)
    ws.sync()
    try:
        with serve_studio(ws, ["executor"]) as url:
            yield {"ws": ws, "url": url}
    finally:
        ws.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; fails the test on any console error or uncaught page error."""
    context = browser.new_context(viewport={"width": 1100, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []

    def on_console(msg: Any) -> None:
        url = (msg.location or {}).get("url", "")
        if msg.type == "error":
            errors.append(f"console error: {msg.text} at {url}")

    def on_failed(request: Any) -> None:
        errors.append(f"request failed: {request.url} {request.failure}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("requestfailed", on_failed)
    page.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.errors = errors  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()
    assert not errors, "\n".join(errors)


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"form-{name}.png"), full_page=True)
