"""The ``context`` API that notebooks and scripts use::

    from studio import context
    context.params.get("region")
    context.config.get("threshold")
    context.secrets.get("db")                 # service -> project -> platform; None if absent
    context.secrets.set("token", {...}, scope="project")
    context.state.get(); context.state.put("cursor", 42); context.state.history("cursor")
    context.service.name / context.service.id
    context.log.info("...")
    context.events.send("sales.ingested", {"rows": 120})
    context.scheduler.retry(minutes=5)
    context.db("warehouse")

Inside the studio the executor hands the step a *context file* (``STUDIO_CONTEXT_FILE``) with
everything to read, and an *outbox* (JSON lines) where every write goes; the executor reads
the outbox live and records it. The kernel therefore needs no database, bus or key.

Outside the studio (plain Jupyter, ``python step.py``) the same calls read and write a local
simulation file, ``.studio-local.json`` in the working directory (git-ignored), so analysts
develop with no infrastructure. Its shape::

    {"params": {}, "config": {}, "secrets": {"db": "sqlite:///x.db"}, "state": {}}

This module must import nothing heavy: it is loaded in every kernel.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, Mapping

CONTEXT_FILE_ENV = "STUDIO_CONTEXT_FILE"
SIMULATION_FILE = ".studio-local.json"
SECRET_SCOPES = ("service", "project", "platform")

__all__ = [
    "params", "config", "secrets", "state", "service", "log", "events", "scheduler", "db",
    "inside_studio", "reload",
]


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat()


class _Runtime:
    """Where the context reads from and writes to: the studio's files or the simulation file."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        path = os.environ.get(CONTEXT_FILE_ENV)
        if path:
            self.inside = True
            self.source = Path(path)
            self.data: dict[str, Any] = json.loads(self.source.read_text())
            self.outbox: Path | None = Path(self.data["outbox"])
        else:
            self.inside = False
            self.source = Path.cwd() / SIMULATION_FILE
            self.data = json.loads(self.source.read_text()) if self.source.exists() else {}
            self.outbox = None
        self.data.setdefault("params", {})
        self.data.setdefault("config", {})
        self.data.setdefault("state", {})
        self.data.setdefault("state_history", {})
        self.data.setdefault("secrets", {})
        self.data.setdefault("service", {"name": Path.cwd().name, "id": None, "project": None})

    def emit(self, record: dict[str, Any]) -> None:
        """Inside the studio: append to the outbox. Outside: keep it in the simulation file."""
        record.setdefault("time", _now())
        with self._lock:
            if self.outbox is not None:
                with self.outbox.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(record, default=str) + "\n")
                    out.flush()
                return
            kind = record["kind"]
            if kind in ("state", "secret"):
                self._save_simulation()
            elif kind in ("event", "retry"):
                self.data.setdefault("sent", []).append(record)
                self._save_simulation()

    def _save_simulation(self) -> None:
        self.source.write_text(json.dumps(self.data, indent=2, default=str))


_runtime: _Runtime | None = None


def _rt() -> _Runtime:
    global _runtime
    if _runtime is None:
        _runtime = _Runtime()
    return _runtime


def reload() -> None:
    """Forget what was read, so the next call reads the context or simulation file again."""
    global _runtime
    _runtime = None


def inside_studio() -> bool:
    return _rt().inside


class _ReadOnly(Mapping[str, Any]):
    """A read-only view of params or config (``get``, ``[]``, ``in``, iteration)."""

    def __init__(self, key: str) -> None:
        self._key = key

    def _values(self) -> dict[str, Any]:
        return _rt().data[self._key]

    def __getitem__(self, name: str) -> Any:
        return self._values()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())

    def __len__(self) -> int:
        return len(self._values())

    def __repr__(self) -> str:
        return f"context.{self._key}({self._values()!r})"


class _Secrets:
    """Secrets by name, looked up service -> project -> platform. Values are never printed."""

    def _scoped(self) -> dict[str, dict[str, Any]]:
        raw = _rt().data["secrets"]
        # A simulation file may hold a flat {name: value} mapping: treat it as service scope.
        if raw and not set(raw) <= set(SECRET_SCOPES):
            return {"service": raw}
        return raw

    def get(self, name: str, default: Any = None) -> Any:
        scoped = self._scoped()
        for scope in SECRET_SCOPES:
            values = scoped.get(scope) or {}
            if name in values:
                return values[name]
        return default

    def names(self) -> list[str]:
        return sorted({n for values in self._scoped().values() for n in (values or {})})

    def set(self, name: str, value: Any, scope: str = "project") -> None:
        if scope not in ("project", "platform"):
            raise ValueError(f"secrets.set scope must be 'project' or 'platform', not {scope!r}")
        rt = _rt()
        rt.data["secrets"] = self._scoped()
        rt.data["secrets"].setdefault(scope, {})[name] = value
        rt.emit({"kind": "secret", "name": name, "value": value, "scope": scope})

    def __repr__(self) -> str:  # never show values
        return f"context.secrets(names={self.names()!r})"


class _State:
    """Values kept across runs of this service; every put is kept in the history."""

    def get(self, key: str | None = None, default: Any = None) -> Any:
        values = _rt().data["state"]
        if key is None:
            return dict(values)
        return values.get(key, default)

    def put(self, key: str, value: Any) -> None:
        json.dumps(value)  # state must be JSON: fail here, in the analyst's cell, not later
        rt = _rt()
        rt.data["state"][key] = value
        rt.data["state_history"].setdefault(key, []).append({"value": value, "time": _now()})
        rt.emit({"kind": "state", "key": key, "value": value})

    def history(self, key: str) -> list[dict[str, Any]]:
        """Earlier values of ``key``, oldest first, each ``{"value": ..., "time": ...}``."""
        return list(_rt().data["state_history"].get(key, []))


class _Service:
    @property
    def name(self) -> str:
        return _rt().data["service"]["name"]

    @property
    def id(self) -> str | None:
        return _rt().data["service"].get("id")

    @property
    def project(self) -> str | None:
        return _rt().data["service"].get("project")

    @property
    def execution_id(self) -> str | None:
        return _rt().data.get("execution_id")

    @property
    def correlation_id(self) -> str | None:
        return _rt().data.get("correlation_id")


class _Log:
    """Records captured by the studio as structured, searchable logs (streamed live)."""

    def _record(self, level: str, message: str, **fields: Any) -> None:
        rt = _rt()
        rt.emit({"kind": "log", "level": level, "message": str(message), "fields": fields})
        if not rt.inside:
            print(f"[{level}] {message}", file=sys.stderr)

    def debug(self, message: str, **fields: Any) -> None:
        self._record("DEBUG", message, **fields)

    def info(self, message: str, **fields: Any) -> None:
        self._record("INFO", message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._record("WARNING", message, **fields)

    def error(self, message: str, **fields: Any) -> None:
        self._record("ERROR", message, **fields)

    def exception(self, message: str, **fields: Any) -> None:
        import traceback

        self._record("ERROR", f"{message}\n{traceback.format_exc()}", **fields)


class _Events:
    def send(self, type: str, data: Any = None, subject: str | None = None) -> str:
        """Emit an event of ``type``; it carries this run's correlation id on. Returns its id."""
        if not isinstance(type, str) or not type.strip():
            raise ValueError("event type must be a non-empty string such as 'sales.ingested'")
        json.dumps(data)  # events are JSON: fail in the analyst's cell, not later
        event_id = str(uuid.uuid4())
        _rt().emit({"kind": "event", "id": event_id, "type": type, "data": data, "subject": subject})
        return event_id


class _Scheduler:
    def retry(self, minutes: float = 0, seconds: float = 0) -> None:
        """Ask the studio to run this service again, with the same parameters, after a delay."""
        delay = float(minutes) * 60 + float(seconds)
        if delay < 0:
            raise ValueError("retry delay must not be negative")
        _rt().emit({"kind": "retry", "delay_seconds": delay, "requested_at": time.time()})


def db(name: str):  # -> sqlalchemy.Engine
    """A SQLAlchemy engine for the connection URL kept as secret ``name``."""
    value = secrets.get(name)
    if value is None:
        raise KeyError(
            f"no secret named {name!r} holds a connection URL; set it with "
            f"`studio secrets set {name} URL --scope project`"
        )
    url = value.get("url") if isinstance(value, dict) else value
    from sqlalchemy import create_engine

    return create_engine(url)


params = _ReadOnly("params")
config = _ReadOnly("config")
secrets = _Secrets()
state = _State()
service = _Service()
log = _Log()
events = _Events()
scheduler = _Scheduler()
