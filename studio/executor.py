"""The executor role: claims pending executions, runs them through ``executors``, records everything.

While a run goes on its executor renews a lease on it; an executor that cannot renew stops
the run itself, and a cleanup pass (``reap_lost``) marks runs whose lease expired as lost and
retries them, so every execution reaches a final state even if its executor is killed.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

import executors
from executors.base import RunRequest, RunStatus, StepOutcome
from studio import defaults, runs
from studio.catalog.models import Execution, LogRecord, StateHistory, StateValue, Step, utcnow
from studio.discovery import IGNORED, ServiceDef
from studio.errors import NotFound, StudioError
from studio.events.cloudevent import (EXECUTION_CANCELLED, EXECUTION_COMPLETED, EXECUTION_FAILED,
                                      CloudEvent, SPECVERSION)
from studio.events.correlation import next_hop
from studio.secrets import secret_strings
from studio.workspace import Workspace

log = logging.getLogger("studio.executor")
STATE_HISTORY_SHOWN = 20   # earlier values of each state key handed to context.state.history()


def worker_id(role: str = "executor") -> str:
    return f"{role}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class _Recorder:
    """The RunListener: turns what a run reports into catalog rows, as it happens."""

    def __init__(self, ws: Workspace, execution: Execution, svc: ServiceDef) -> None:
        self.ws = ws
        self.execution = execution
        self.svc = svc
        self.retry_delay: float | None = None
        self.lock = threading.Lock()

    def step_started(self, name: str, started_at: datetime) -> None:
        with self.ws.catalog.session() as s:
            s.execute(update(Step).where(Step.execution_id == self.execution.id, Step.name == name,
                                         Step.status == "pending")
                      .values(status="running", started_at=started_at))

    def step_finished(self, outcome: StepOutcome) -> None:
        out_dir = Path(self.execution.output or ".")
        with self.ws.catalog.session() as s:
            s.execute(update(Step).where(Step.execution_id == self.execution.id, Step.name == outcome.name,
                                         Step.status.in_(("pending", "running")))
                      .values(status=outcome.status.value, started_at=outcome.started_at,
                              finished_at=outcome.finished_at, error=outcome.error,
                              failed_cell=outcome.failed_cell, traceback=outcome.traceback,
                              output_notebook=_rel(outcome.output_notebook, out_dir),
                              output_html=_rel(outcome.output_html, out_dir)))

    def record(self, record: dict[str, Any]) -> None:
        kind = record.get("kind")
        with self.lock:
            if kind == "log":
                self._log(record)
            elif kind == "event":
                self._event(record)
            elif kind == "state":
                self._state(record)
            elif kind == "secret":
                self.ws.secrets.set(record["name"], record["value"], record.get("scope", "project"),
                                    project=self.svc.project)
                self._log({"level": "INFO", "stream": "studio", "step": record.get("step"),
                           "message": f"secret {record['name']!r} set at {record.get('scope', 'project')} scope"})
            elif kind == "retry":
                self.retry_delay = float(record.get("delay_seconds", 0))

    def _log(self, record: dict[str, Any]) -> None:
        with self.ws.catalog.session() as s:
            s.add(LogRecord(
                execution_id=self.execution.id, service=self.execution.service, step=record.get("step"),
                time=_time(record.get("time")), level=str(record.get("level", "INFO")).upper()[:10],
                stream=record.get("stream", "context"), message=str(record.get("message", "")),
                fields=record.get("fields") or {},
            ))

    def _event(self, record: dict[str, Any]) -> None:
        from studio.events.ingest import accept

        event = CloudEvent(
            specversion=SPECVERSION, id=record["id"], source=f"studio/{self.svc.key}", type=record["type"],
            time=_time(record.get("time")), subject=record.get("subject"), data=record.get("data"),
            correlationid=next_hop(self.execution.correlation_id), executionid=self.execution.id,
        )
        accept(self.ws, event)

    def _state(self, record: dict[str, Any]) -> None:
        service_id = self.execution.service_id
        with self.ws.catalog.session() as s:
            row = s.get(StateValue, (service_id, record["key"]))
            if row is None:
                s.add(StateValue(service_id=service_id, key=record["key"], value=record.get("value"),
                                 execution_id=self.execution.id))
            else:
                row.value = record.get("value")
                row.updated_at = utcnow()
                row.execution_id = self.execution.id
            s.add(StateHistory(service_id=service_id, key=record["key"], value=record.get("value"),
                               execution_id=self.execution.id))


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value) if value else utcnow()
    except (TypeError, ValueError):
        return utcnow()


def _rel(path: Path | None, root: Path) -> str | None:
    if path is None:
        return None
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def state_of(ws: Workspace, service_id: str) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    with ws.catalog.session() as s:
        values = {r.key: r.value for r in s.scalars(select(StateValue).where(StateValue.service_id == service_id))}
        history: dict[str, list[dict[str, Any]]] = {}
        for key in values:
            rows = s.scalars(select(StateHistory).where(StateHistory.service_id == service_id, StateHistory.key == key)
                             .order_by(StateHistory.id.desc()).limit(STATE_HISTORY_SHOWN)).all()
            history[key] = [{"value": r.value, "time": r.time.isoformat()} for r in reversed(rows)]
    return values, history


class Executor:
    """Runs executions. ``serve`` is the role's loop; ``run_claimed`` runs one execution."""

    def __init__(self, ws: Workspace, owner: str | None = None, concurrency: int | None = None) -> None:
        self.ws = ws
        self.owner = owner or worker_id()
        self.concurrency = concurrency or ws.settings.executor_concurrency
        self.wakeup = threading.Event()

    # One execution ---------------------------------------------------------------

    def run_claimed(self, execution: Execution) -> Execution:
        """Run an execution this executor has claimed, and record its outcome."""
        try:
            svc = self.ws.service(f"{execution.project}/{execution.service}")
        except (NotFound, StudioError) as exc:
            return self._finish(execution, "failed", f"service cannot be loaded: {exc}")
        if not svc.runnable:
            return self._finish(execution, "failed", f"service cannot run: {svc.problem_text()}")
        run_dir = self.ws.settings.artefact_dir / execution.id
        workdir, output_dir = run_dir / "work", run_dir / "output"
        if workdir.exists():   # a retry of a lost attempt on this machine: start clean
            shutil.rmtree(workdir)
        shutil.copytree(svc.folder, workdir, ignore=shutil.ignore_patterns(*IGNORED, ".studio-local.json"))
        output_dir.mkdir(parents=True, exist_ok=True)
        with self.ws.catalog.session() as s:
            s.execute(update(Execution).where(Execution.id == execution.id)
                      .values(output=str(output_dir), version_hash=svc.version_hash))
        execution.output = str(output_dir)

        secrets = self.ws.secrets.for_service(svc.project, svc.name)
        state, history = state_of(self.ws, execution.service_id)
        context = {
            "execution_id": execution.id, "correlation_id": execution.correlation_id,
            "service": {"name": svc.name, "id": execution.service_id, "project": svc.project},
            "config": svc.config, "secrets": secrets, "state": state, "state_history": history,
            "sql_connection": svc.manifest.connection,
        }
        request = RunRequest(
            execution_id=execution.id, workdir=workdir, steps=list(svc.steps), params=dict(execution.params),
            context=context, output_dir=output_dir, timeout=execution.timeout,
            max_output_bytes=self.ws.settings.max_output_bytes, redact=secret_strings(secrets),
            kernel=svc.manifest.kernel,
        )
        recorder = _Recorder(self.ws, execution, svc)
        cancel = threading.Event()
        done = threading.Event()
        keeper = threading.Thread(target=self._keep_lease, args=(execution.id, cancel, done), daemon=True)
        keeper.start()
        try:
            outcome = executors.run(request, recorder, cancel)
        except Exception as exc:   # an executor bug must still end the execution
            log.exception("executor failed on %s", execution.id)
            outcome = None
            error = f"studio error while running: {exc}"
        finally:
            done.set()
            keeper.join(timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)
        if outcome is None:
            final = self._finish(execution, "failed", error)
        else:
            final = self._finish(execution, outcome.status.value, outcome.error)
        self._after(final, recorder)
        return final

    def _keep_lease(self, execution_id: str, cancel: threading.Event, done: threading.Event) -> None:
        """Renew the lease; stop the run when cancelled or when the lease is lost."""
        last_renew = utcnow()
        while not done.wait(0.25):
            try:
                with self.ws.catalog.session() as s:
                    row = s.get(Execution, execution_id)
                    if row is None or row.cancel_requested:
                        cancel.set()
                        continue
                    if (utcnow() - last_renew).total_seconds() >= defaults.LEASE_RENEW_SECONDS:
                        renewed = s.execute(update(Execution).where(
                            Execution.id == execution_id, Execution.lease_owner == self.owner,
                            Execution.status == "running",
                        ).values(lease_expires_at=utcnow() + timedelta(seconds=defaults.LEASE_SECONDS))).rowcount
                        last_renew = utcnow()
                        if not renewed:   # someone else owns it now: never run twice at once
                            log.warning("lost the lease on %s; stopping it", execution_id)
                            cancel.set()
            except Exception:   # a database hiccup: try again on the next beat
                log.exception("lease renewal failed for %s", execution_id)

    def _finish(self, execution: Execution, status: str, error: str | None) -> Execution:
        with self.ws.catalog.session() as s:
            row = s.get(Execution, execution.id)
            assert row is not None
            if row.status == "running" and row.lease_owner == self.owner:
                row.status = status
                row.error = error
                row.finished_at = utcnow()
                row.lease_expires_at = None
            # Steps the run never reached (killed mid-way) are skipped, not left pending.
            s.execute(update(Step).where(Step.execution_id == execution.id, Step.status.in_(("pending", "running")))
                      .values(status="skipped" if status != "completed" else "completed"))
            return row

    def _after(self, final: Execution, recorder: _Recorder) -> None:
        """Retries from the manifest, a retry the run asked for, and the lifecycle event."""
        from studio.events.ingest import accept
        from studio.events.cloudevent import new_event

        if final.status == "failed" and final.attempt <= final.retries:
            runs.retry_of(self.ws, final)
        elif recorder.retry_delay is not None and final.status == "completed":
            runs.retry_of(self.ws, final, delay_seconds=recorder.retry_delay, count_attempt=False)
        kind = {"completed": EXECUTION_COMPLETED, "failed": EXECUTION_FAILED,
                "cancelled": EXECUTION_CANCELLED}.get(final.status)
        if kind:
            accept(self.ws, new_event(kind, data={
                "execution": final.id, "service": final.service, "project": final.project,
                "status": final.status, "error": final.error,
            }, source=f"studio/{final.project}/{final.service}", subject=f"{final.project}/{final.service}",
                correlationid=final.correlation_id, executionid=final.id))

    # The role -------------------------------------------------------------------------

    def serve(self, stop: threading.Event) -> None:
        """Claim and run executions with ``concurrency`` threads until ``stop`` is set."""
        slots = threading.Semaphore(self.concurrency)
        threads: list[threading.Thread] = []
        while not stop.is_set():
            if not slots.acquire(timeout=0.5):
                continue
            try:
                execution = runs.claim_next(self.ws.catalog, self.owner, defaults.LEASE_SECONDS)
            except Exception:
                log.exception("claiming an execution failed")
                execution = None
            if execution is None:
                slots.release()
                self.wakeup.wait(defaults.POLL_SECONDS)
                self.wakeup.clear()
                continue

            def work(ex: Execution = execution) -> None:
                try:
                    self.run_claimed(ex)
                finally:
                    slots.release()

            thread = threading.Thread(target=work, name=f"run-{execution.id[:8]}", daemon=True)
            thread.start()
            threads = [t for t in threads if t.is_alive()] + [thread]
        for thread in threads:
            thread.join(timeout=10)


def claim(ws: Workspace, execution_id: str, owner: str) -> Execution | None:
    """Claim one specific pending execution (``studio run`` with no executor running)."""
    now = utcnow()
    with ws.catalog.session() as s:
        done = s.execute(update(Execution).where(Execution.id == execution_id, Execution.status == "pending")
                         .values(status="running", started_at=now, lease_owner=owner,
                                 lease_expires_at=now + timedelta(seconds=defaults.LEASE_SECONDS))).rowcount
        return s.get(Execution, execution_id) if done else None


def reap_lost(ws: Workspace) -> list[str]:
    """Mark running executions whose lease expired as lost, and retry them per ``retries``.

    A lost attempt does not count against ``retries`` the first time: the run did not fail,
    its machine did. Returns the ids marked lost.
    """
    now = utcnow()
    lost: list[str] = []
    with ws.catalog.session() as s:
        expired = s.scalars(select(Execution).where(Execution.status == "running",
                                                    Execution.lease_expires_at < now)).all()
        for row in expired:
            changed = s.execute(update(Execution).where(
                Execution.id == row.id, Execution.status == "running", Execution.lease_expires_at < now,
            ).values(status="lost", finished_at=now, error="its executor stopped renewing the lease")
                .execution_options(synchronize_session=False)).rowcount
            if changed:
                lost.append(row.id)
    for execution_id in lost:
        row = runs.get(ws.catalog, execution_id)
        if row.attempt <= max(row.retries, 1):
            runs.retry_of(ws, row)
    return lost
