"""``studio doctor``: check the database, the bus and the artefact store, and say what is wrong.

Each check is bounded in time (a few seconds), so an unreachable server is reported, not
waited for; every failure names the setting to fix (STUDIO_DATABASE_URL, STUDIO_BUS_URL,
STUDIO_ARTEFACTS) and what was found.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from studio.settings import Settings, load_settings

# How long each check may wait for a server: long enough for a slow network, short enough
# that `studio doctor` answers before anyone gives up on it.
CHECK_TIMEOUT_SECONDS = 5


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
    checks.append(Check("settings", True, f"workspace {settings.home}; lease {settings.lease_seconds:g} s, "
                        f"{settings.executor_concurrency} run(s) per executor"))
    checks.append(check_database(settings.catalog_url))
    checks.append(check_bus(settings.event_bus_url))
    checks.append(check_artefacts(settings.artefact_dir))
    topology = check_topology(settings)
    if topology is not None:
        checks.append(topology)
    return checks


def check_database(url: str) -> Check:
    from studio.catalog.db import normalise_url

    try:
        parsed = make_url(normalise_url(url))
    except Exception as exc:
        return Check("database", False, f"{url!r} is not a database URL ({exc}) — fix STUDIO_DATABASE_URL, "
                     "e.g. postgresql://user@host:5432/studio")
    try:
        if parsed.get_backend_name() == "postgresql":
            engine = create_engine(parsed, connect_args={"connect_timeout": CHECK_TIMEOUT_SECONDS})
        else:
            from studio.catalog.db import make_engine

            engine = make_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                has_schema = engine.dialect.has_table(conn, "alembic_version")
        finally:
            engine.dispose()
    except Exception as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return Check("database", False, f"{_safe(url)}: {reason} — is the server up and STUDIO_DATABASE_URL right?")
    return Check("database", True, f"{_safe(url)} reachable"
                 + ("" if has_schema else " (empty: the first `studio up` creates the tables)"))


def check_bus(url: str) -> Check:
    if url.lower().startswith("kafka://"):
        problem = _kafka_unreachable(url)
        if problem:
            return Check("event bus", False, f"{_safe(url)}: {problem} — is the broker up and STUDIO_BUS_URL right?")
    try:
        from studio.bus import open_bus

        bus = open_bus(url)
        try:
            bus.publish("studio.doctor", b"ping", key="doctor")
        finally:
            bus.close()
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Check("event bus", False, f"{_safe(url)}: {reason} — is the broker up and STUDIO_BUS_URL right?")
    return Check("event bus", True, f"{_safe(url)} accepts messages")


def _kafka_unreachable(url: str) -> str | None:
    """None if a broker answers a metadata request within the timeout; else what went wrong."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    hosts = url.split("://", 1)[1].split("?", 1)[0].strip("/")
    if not hosts:
        return "the URL names no broker (kafka://host:port[,host:port])"
    admin = AdminClient({"bootstrap.servers": hosts, "socket.connection.setup.timeout.ms": 3000,
                         "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=CHECK_TIMEOUT_SECONDS)
    except KafkaException as exc:
        return f"no Kafka broker answered at {hosts} within {CHECK_TIMEOUT_SECONDS} s ({exc.args[0].str()})"
    if not metadata.brokers:
        return f"{hosts} answered but lists no brokers"
    return None


def check_artefacts(store: Path) -> Check:
    try:
        store.mkdir(parents=True, exist_ok=True)
        probe = store / f".doctor-{uuid.uuid4().hex}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return Check("artefact store", False, f"{store}: {exc.strerror or exc} — every executor and the web role "
                     "must be able to write it (STUDIO_ARTEFACTS)")
    return Check("artefact store", True, f"{store} writable")


def check_topology(settings: Settings) -> Check | None:
    """A shared catalog with a per-machine bus or artefact folder is a scale-out mistake."""
    shared_db = not settings.catalog_url.startswith("sqlite")
    if not shared_db:
        return None
    problems = []
    if settings.event_bus_url.startswith("sqlite"):
        problems.append("the bus is the embedded SQLite file: processes on other machines will not see its "
                        "messages (set STUDIO_BUS_URL to kafka://... or the PostgreSQL URL)")
    if settings.artefacts is None:
        problems.append("artefacts go to the workspace's .studio folder: set STUDIO_ARTEFACTS to a path "
                        "every executor and the web role share")
    if problems:
        return Check("scale-out", False, "; ".join(problems))
    return Check("scale-out", True, "catalog, bus and artefact store are shared settings")


def _safe(url: str) -> str:
    """A URL without its password, for messages."""
    try:
        if url.startswith(("kafka://",)):
            return url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]
