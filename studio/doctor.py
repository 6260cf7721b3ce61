"""``studio doctor``: check the database, the bus and the artefact store, and say what is wrong."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from studio.settings import load_settings


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def run_checks(home: str | Path | None = None) -> list[Check]:
    checks: list[Check] = []
    try:
        settings = load_settings(home)
    except Exception as exc:
        return [Check("settings", False, f"{exc} — fix studio.toml or the STUDIO_* variables")]
    checks.append(Check("settings", True, f"workspace {settings.home}"))

    from studio.catalog.db import make_engine, normalise_url

    url = settings.catalog_url
    try:
        engine = make_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            has_schema = engine.dialect.has_table(conn, "alembic_version")
        engine.dispose()
        checks.append(Check("database", True, f"{_safe(url)} reachable"
                            + ("" if has_schema else " (empty: the first `studio up` creates the tables)")))
    except Exception as exc:
        checks.append(Check("database", False, f"{_safe(url)}: {str(exc).splitlines()[0]} — is the server up and "
                            "STUDIO_DATABASE_URL right?"))

    bus_url = settings.event_bus_url
    try:
        from studio.bus import open_bus

        bus = open_bus(bus_url)
        topic = "studio.doctor"
        bus.publish(topic, b"ping", key="doctor")
        bus.close()
        checks.append(Check("event bus", True, f"{_safe(bus_url)} accepts messages"))
    except Exception as exc:
        checks.append(Check("event bus", False, f"{_safe(bus_url)}: {str(exc).splitlines()[0]} — is the broker up "
                            "and STUDIO_BUS_URL right?"))

    store = settings.artefact_dir
    try:
        store.mkdir(parents=True, exist_ok=True)
        probe = store / f".doctor-{uuid.uuid4().hex}"
        probe.write_text("ok")
        probe.unlink()
        checks.append(Check("artefact store", True, f"{store} writable"))
    except OSError as exc:
        checks.append(Check("artefact store", False, f"{store}: {exc.strerror} — every executor and the web role "
                            "must be able to write it (STUDIO_ARTEFACTS)"))
    return checks


def _safe(url: str) -> str:
    """A URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        if url.startswith(("kafka://",)):
            return url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]
