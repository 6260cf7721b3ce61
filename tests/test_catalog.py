"""The catalog's schema: Alembic migrations produce exactly the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from studio.catalog import open_catalog
from studio.catalog.models import Base


def test_migrations_match_the_models(tmp_path, backend):
    catalog = open_catalog(backend or f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        with catalog.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        open_catalog(str(catalog.engine.url)).close()   # migrating again changes nothing
    finally:
        catalog.close()


def test_chains_are_found_by_their_origin(make_workspace):
    from studio import runs
    from studio.events.lineage import lineage

    ws = make_workspace({"a": {"a.py": "print(1)\n"}})
    execution = runs.start(ws, ws.service("a"))
    origin = execution.correlation_id.rsplit("_", 1)[0]
    assert execution.correlation_origin == origin
    kinds = [node["kind"] for node in lineage(ws, f"{origin}_07")]
    assert kinds == ["event", "execution"]
