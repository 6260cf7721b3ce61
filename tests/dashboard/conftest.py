"""A real studio for the dashboard tests: a workspace with a small project, executions run by
the real executor, the web app served by uvicorn on a free loopback port (router and executor
roles running beside it), and Debian's Chromium driven through Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SCREENSHOTS, notebook, run_now, serve_studio, write_service

# The notebook's output tries to reach the studio's page: the test asserts it cannot.
XSS = ("<b id='nb-ok'>NOTEBOOK-OK</b><script>"
       "try { window.parent.document.body.setAttribute('data-pwned', '1'); } catch (e) {}"
       "try { window.top.document.body.setAttribute('data-pwned', '1'); } catch (e) {}"
       "try { parent.postMessage('pwned', '*'); } catch (e) {}"
       "</script>")

HELLO_PY = '''\
from studio import context

name = context.params.get("name") or "world"
print("hello stdout", name)
context.log.info(f"hello from py {name}")
context.log.warning("a warning line")
context.events.send("demo.greeted", {"name": name, "n": 1})
'''

BROKEN_PY = '''\
from studio import context

context.log.error("about to fail")
raise RuntimeError("broken on purpose")
'''


def report_notebook() -> str:
    return notebook(f"from IPython.display import HTML, display\ndisplay(HTML({XSS!r}))",
                    'from studio import context\ncontext.log.info("report ran: " + title)\nprint("rows:", 42)',
                    parameters='title = "Daily report"')


def make_project(root: Path) -> None:
    write_service(root, "hello", {
        "manifest.json": {"description": "Says hello and emits demo.greeted.", "tags": ["demo", "py"],
                          "entrypoint": "hello.py", "trigger_events": ["demo.start"],
                          "output_events": ["demo.greeted"], "schedule": "@daily"},
        "parameters.json": {"fields": [{"name": "name", "type": "text", "label": "Name", "default": "world"}]},
        "hello.py": HELLO_PY,
        "README.md": "# Hello service\n\nGreets **everyone**.\n\n<script>window.readmeScript=1</script>\n",
    })
    write_service(root, "report", {
        "manifest.json": {"description": "A notebook report.", "tags": ["demo", "notebook"],
                          "entrypoint": "report.ipynb", "trigger_events": ["demo.greeted"]},
        "report.ipynb": report_notebook(),
    })
    write_service(root, "broken", {
        "manifest.json": {"description": "Always fails.", "tags": ["demo"], "entrypoint": "broken.py"},
        "broken.py": BROKEN_PY,
    })
    write_service(root, "locked", {
        "manifest.json": {"description": "No manual runs.", "tags": ["ops"], "entrypoint": "locked.py",
                          "allow_manual_triggering": False},
        "locked.py": "print('locked')\n",
    })


@dataclass
class Studio:
    url: str
    ws: Any
    executions: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="session")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    from studio.workspace import Workspace, init_workspace

    home = init_workspace(tmp_path_factory.mktemp("studio") / "ws", with_examples=False)
    project = home / "projects" / "demo"
    make_project(project)
    ws = Workspace.open(home)
    ws.add_project("demo", project)
    done = {
        "hello": run_now(ws, "demo/hello", {"name": "Ada"}),
        "broken": run_now(ws, "demo/broken"),
        "report": run_now(ws, "demo/report"),
    }
    assert done["hello"].status == "completed", done["hello"].error
    assert done["report"].status == "completed", done["report"].error
    assert done["broken"].status == "failed"

    try:
        with serve_studio(ws, ["router", "executor"]) as url:
            yield Studio(url=url, ws=ws, executions=done)
    finally:
        ws.close()


@dataclass
class Errors:
    messages: list[str] = field(default_factory=list)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; any console error or uncaught page error fails the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    errors = Errors()
    def console(msg: Any) -> None:
        if msg.type == "error":
            errors.messages.append(f"console: {msg.text} ({msg.location.get('url')})")

    def response(r: Any) -> None:
        if r.status >= 400 and r.frame == pg.main_frame:
            errors.messages.append(f"HTTP {r.status}: {r.url}")

    def failed(request: Any) -> None:
        if True:   # any frame, the notebook's included: nothing may fail to load
            errors.messages.append(f"request failed: {request.url} {request.failure}")

    pg.on("console", console)
    pg.on("pageerror", lambda exc: errors.messages.append(f"pageerror: {exc}"))
    pg.on("response", response)
    pg.on("requestfailed", failed)
    pg.errors = errors
    try:
        yield pg
        assert errors.messages == [], errors.messages
    finally:
        context.close()


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.wait_for_timeout(400)   # let Bokeh finish laying out what the last patch changed
    page.screenshot(path=str(path), full_page=True)
    return path
