"""What one run shares between its steps: the context file, the outbox, redaction, limits.

:class:`RunContext` writes the *context file* ``studio.context`` reads (``STUDIO_CONTEXT_FILE``)
into a private 0700 directory, tails the *outbox* the steps append to, applies state and
secret writes so the next step sees them, and forwards every record — redacted, tagged with
``step`` and ``time`` — to the listener.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from executors._process import Budget, StopReason
from executors._redact import Redactor
from executors.base import RunListener, RunRequest

CONTEXT_FILE_ENV = "STUDIO_CONTEXT_FILE"  # same name as studio.context reads
# How often the outbox is read while a step runs: live enough for a dashboard, cheap.
OUTBOX_POLL_SECONDS = 0.1


# Environment variables a process reads only when it starts (the interpreter, the loader):
# a warm kernel cannot take a new value; every other variable is set in it before the run.
START_ONLY_ENV = ("PYTHON", "LD_")


def startup_part(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(START_ONLY_ENV) and k != "PYTHONUNBUFFERED"}


def base_env() -> dict[str, str]:
    """The environment of a step process before any run's additions (what warm workers get)."""
    return _with_step_basics(dict(os.environ))


@functools.lru_cache(maxsize=1)
def _roots() -> tuple[str, ...]:
    return tuple(sorted({str(Path(spec.origin).parent.parent) for name in ("studio", "executors")
                         if (spec := find_spec(name)) and spec.origin}))


def _with_step_basics(env: dict[str, str]) -> dict[str, str]:
    env["PYTHONUNBUFFERED"] = "1"  # live logs from scripts
    # Steps import `studio.context` and our worker even when not installed in the env.
    env["PYTHONPATH"] = os.pathsep.join([*_roots(), *filter(None, [env.get("PYTHONPATH")])])
    return env


def now() -> datetime:
    return datetime.now(UTC)


class RunContext:
    def __init__(self, request: RunRequest, listener: RunListener, cancel: threading.Event) -> None:
        self.request = request
        self.listener = listener
        self.cancel = cancel
        self.started = time.monotonic()
        self.deadline = self.started + float(request.timeout)
        self.budget = Budget(int(request.max_output_bytes))
        self.workdir = Path(request.workdir).resolve()
        self.output_dir = Path(request.output_dir).resolve()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.private_dir = Path(tempfile.mkdtemp(prefix="studio-run-"))
        os.chmod(self.private_dir, 0o700)
        self.context_file = self.private_dir / "context.json"
        self.outbox = self.private_dir / "outbox.jsonl"
        self.outbox.touch(mode=0o600)
        self.step: str | None = None
        self.redactor = Redactor(request.redact)
        self.data: dict[str, Any] = copy.deepcopy(dict(request.context))
        self.data["params"] = copy.deepcopy(request.params)
        self.data["outbox"] = str(self.outbox)
        self.data.setdefault("execution_id", request.execution_id)
        for scope_values in (self.data.get("secrets") or {}).values():
            for value in (scope_values or {}).values():
                self.redactor.add_value(value)
        self.write_context()
        self._emit_lock = threading.Lock()
        self._outbox_lock = threading.Lock()
        self._outbox_offset = 0
        self._tail_stop = threading.Event()
        self._tail = threading.Thread(target=self._tail_loop, name="studio-outbox", daemon=True)
        self._tail.start()

    # -- the context file and the step environment ------------------------------------

    def write_context(self) -> None:
        """Write the context file atomically (a step starting now reads a whole file)."""
        tmp = self.private_dir / "context.json.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(self.data, out, default=str)
        os.replace(tmp, self.context_file)

    def step_env(self) -> dict[str, str]:
        """The environment of a step process started for this run."""
        env = dict(os.environ)
        env.update(self.request.env)
        env = _with_step_basics(env)
        env[CONTEXT_FILE_ENV] = str(self.context_file)
        return env

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def stop_message(self, reason: StopReason) -> str:
        if reason is StopReason.timeout:
            return f"timed out after {self.request.timeout:g} s"
        if reason is StopReason.output:
            return f"output exceeded {self.request.max_output_bytes} bytes"
        return "cancelled"

    def check_stop(self) -> StopReason | None:
        if self.cancel.is_set():
            return StopReason.cancelled
        if self.budget.exceeded:
            return StopReason.output
        if time.monotonic() >= self.deadline:
            return StopReason.timeout
        return None

    # -- records ----------------------------------------------------------------------

    def emit(self, record: dict[str, Any]) -> None:
        """Forward one record to the listener: redacted, with ``step`` and ``time``."""
        record = self.redactor.value(record)
        record.setdefault("step", self.step)
        record.setdefault("time", now().isoformat())
        with self._emit_lock:
            self.listener.record(record)

    def log(self, stream: str, message: str) -> None:
        """A captured output line. The outbox is read first: a secret the step stored just
        before printing it must already be known to the redactor."""
        self.drain_outbox(only_if_grown=True)
        level = "ERROR" if stream == "stderr" else "INFO"
        self.emit({"kind": "log", "stream": stream, "level": level, "message": message})

    def drain_outbox(self, only_if_grown: bool = False) -> None:
        """Read the outbox's new complete lines; apply and forward each record."""
        if only_if_grown:
            try:
                if os.stat(self.outbox).st_size <= self._outbox_offset:
                    return
            except OSError:
                return
        with self._outbox_lock:
            with self.outbox.open("rb") as handle:
                handle.seek(self._outbox_offset)
                chunk = handle.read()
            end = chunk.rfind(b"\n")
            if end < 0:
                return
            self._outbox_offset += end + 1
            for raw in chunk[: end + 1].splitlines():
                try:
                    record = json.loads(raw)
                except ValueError:
                    self.log("stderr", "unreadable outbox line skipped")
                    continue
                if isinstance(record, dict):
                    self._apply(record)

    def _apply(self, record: dict[str, Any]) -> None:
        kind = record.get("kind")
        if kind == "secret":
            value = record.get("value")
            self.redactor.add_value(value)
            scope = record.get("scope") or "project"
            self.data.setdefault("secrets", {}).setdefault(scope, {})[record.get("name")] = value
            hook = getattr(self.listener, "secret", None)
            if callable(hook):  # the real value goes only to the studio's secret store
                hook(record.get("name"), value, scope)
        elif kind == "state":
            key, value = record.get("key"), record.get("value")
            self.data.setdefault("state", {})[key] = value
            self.data.setdefault("state_history", {}).setdefault(key, []).append(
                {"value": value, "time": record.get("time")})
        self.emit(record)

    def _tail_loop(self) -> None:
        while not self._tail_stop.wait(OUTBOX_POLL_SECONDS):
            try:
                self.drain_outbox()
            except Exception as exc:  # never let the tail die silently
                self.log("stderr", f"outbox reader error: {exc!r}")

    def close(self) -> None:
        self._tail_stop.set()
        self._tail.join(timeout=2)
        self.drain_outbox()
        shutil.rmtree(self.private_dir, ignore_errors=True)
