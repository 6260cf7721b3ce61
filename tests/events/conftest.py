"""Fixtures: a real workspace on SQLite and on PostgreSQL (a fresh schema per test), with a
project of small services written by each test. No mocks: real catalog, real bus, real router.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from studio.workspace import Workspace, init_workspace

from tests.conftest import PG_URL, missing




@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Settings overrides: catalog (and bus) on the backend under test."""
    if request.param == "sqlite":
        yield {}
        return
    reason = request.getfixturevalue("pg_reason")
    if reason:
        missing(reason)
    import sqlalchemy as sa

    schema = f"ev_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield {"database_url": f"{PG_URL}?options=-csearch_path%3D{schema}",
           "bus_url": f"{PG_URL}?schema={schema}_bus&visibility_timeout=2"}
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}_bus" CASCADE'))
    engine.dispose()


class Project:
    """A project folder; ``add`` writes one service (a .py step, optional manifest and form)."""

    def __init__(self, ws: Workspace, folder: Path) -> None:
        self.ws, self.folder = ws, folder

    def add(self, name: str, manifest: dict[str, Any] | None = None, fields: list[dict[str, Any]] | None = None,
            code: str = "print('ok')\n") -> str:
        folder = self.folder / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "main.py").write_text(code)
        if manifest is not None:
            (folder / "manifest.json").write_text(json.dumps(manifest))
        if fields is not None:
            (folder / "parameters.json").write_text(json.dumps({"fields": fields}))
        self.ws.sync()
        return f"proj/{name}"


@pytest.fixture
def ws(tmp_path: Path, db_urls: dict[str, str]) -> Iterator[Workspace]:
    home = init_workspace(tmp_path / "home", with_examples=False)
    workspace = Workspace.open(home, **db_urls)
    (tmp_path / "proj").mkdir()
    workspace.add_project("proj", tmp_path / "proj")
    yield workspace
    workspace.close()


@pytest.fixture
def project(ws: Workspace, tmp_path: Path) -> Project:
    return Project(ws, tmp_path / "proj")


@pytest.fixture
def open_ws(ws: Workspace) -> Iterator[Callable[[], Workspace]]:
    """Another Workspace on the same catalog and bus (a second studio process, in effect)."""
    opened: list[Workspace] = []

    def make() -> Workspace:
        other = Workspace.open(ws.settings.home, database_url=ws.settings.database_url, bus_url=ws.settings.bus_url)
        opened.append(other)
        return other

    yield make
    for other in opened:
        other.close()
