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
import time
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
            elif kind == "secret":   # the value arrives masked; secret() below gets the real one
                self._log({"level": "INFO", "stream": "studio", "step": record.get("step"),
                           "message": f"secret {record['name']!r} set at {record.get('scope', 'project')} scope"})
            elif kind == "retry":
                self.retry_delay = float(record.get("delay_seconds", 0))

    def secret(self, name: str, value: Any, scope: str) -> None:
        """``context.secrets.set`` from the run, with the real value: stored encrypted."""
        with self.lock:
            self.ws.secrets.set(name, value, scope, project=self.svc.project)

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


GROUP = "executors"   # the consumer group every executor joins on studio.executions


class Executor:
    """Runs executions. ``serve`` is the role's loop; ``run_claimed`` runs one execution.

    ``serve`` consumes the execution doorbell (``runs.EXECUTIONS_TOPIC``, group "executors"):
    a message means "there is work", the claim itself is ``runs.claim_next`` on the catalog
    (priority order, and the conditional UPDATE makes it exclusive), and the doorbell is acked
    only once the outcome is recorded. After every claim or finished run the executor looks
    again at once (work-conserving), and every ``executor_poll_seconds`` it looks even with no
    doorbell (delayed retries; a doorbell lost between commit and publish).
    """

    def __init__(self, ws: Workspace, owner: str | None = None, concurrency: int | None = None,
                 lease_seconds: float | None = None, poll_seconds: float | None = None) -> None:
        self.ws = ws
        self.owner = owner or worker_id()
        self.concurrency = concurrency or ws.settings.executor_concurrency
        self.lease_seconds = float(lease_seconds or ws.settings.lease_seconds)
        self.poll_seconds = float(poll_seconds or ws.settings.executor_poll_seconds)
        self.wakeup = threading.Event()
        self.shutdown_grace = defaults.EXECUTOR_SHUTDOWN_GRACE_SECONDS
        self._active: dict[str, threading.Event] = {}   # execution id -> its cancel flag
        self._abandoning = threading.Event()            # shutting down: stop runs, hand them back
        self._lock = threading.Lock()
        self.ran = 0

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
            s.execute(update(Execution).where(Execution.id == execution.id, Execution.lease_owner == self.owner)
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
        with self._lock:
            self._active[execution.id] = cancel
        if self._abandoning.is_set():
            cancel.set()
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
            with self._lock:
                self._active.pop(execution.id, None)
        shutil.rmtree(workdir, ignore_errors=True)
        if outcome is None:
            final = self._finish(execution, "failed", error)
        elif outcome.status is RunStatus.cancelled and self._abandoning.is_set() and not _cancel_asked(
                self.ws, execution.id):
            return self._hand_back(execution)
        else:
            final = self._finish(execution, outcome.status.value, outcome.error)
        self._after(final, recorder)
        return final

    def _keep_lease(self, execution_id: str, cancel: threading.Event, done: threading.Event) -> None:
        """Renew the lease; stop the run when cancelled, when the lease is lost, or when it
        could not be renewed for two thirds of a lease (the reaper may soon hand it out again)."""
        renew_every = self.lease_seconds / 3
        confirmed = time.monotonic()          # when the catalog last confirmed our lease
        next_renew = confirmed + renew_every
        while not done.wait(min(defaults.LEASE_CHECK_SECONDS, renew_every)):
            now = time.monotonic()
            try:
                with self.ws.catalog.session() as s:
                    if now >= next_renew:
                        renewed = s.execute(update(Execution).where(
                            Execution.id == execution_id, Execution.lease_owner == self.owner,
                            Execution.status == "running",
                        ).values(lease_expires_at=utcnow() + timedelta(seconds=self.lease_seconds))).rowcount
                        if not renewed:   # reaped or taken over: never run twice at once
                            log.warning("lost the lease on %s; stopping it", execution_id)
                            cancel.set()
                            return
                        confirmed, next_renew = now, now + renew_every
                    row = s.execute(select(Execution.status, Execution.lease_owner, Execution.cancel_requested)
                                    .where(Execution.id == execution_id)).first()
                if row is None or row.cancel_requested:
                    cancel.set()
                elif row.lease_owner != self.owner or row.status != "running":
                    log.warning("execution %s is now %s (owner %s); stopping it here", execution_id,
                                row.status, row.lease_owner)
                    cancel.set()
                    return
            except Exception:   # a database hiccup: try again on the next beat
                log.exception("lease renewal failed for %s", execution_id)
            if time.monotonic() - confirmed >= self.lease_seconds - renew_every:
                log.warning("could not renew the lease on %s for %.1f s; stopping it", execution_id,
                            time.monotonic() - confirmed)
                cancel.set()
                return

    def _finish(self, execution: Execution, status: str, error: str | None) -> Execution:
        """Record the outcome, only if this executor still owns the running execution (a
        conditional UPDATE: a reaper's "lost" or another owner is never overwritten)."""
        with self.ws.catalog.session() as s:
            changed = s.execute(update(Execution).where(
                Execution.id == execution.id, Execution.status == "running", Execution.lease_owner == self.owner,
            ).values(status=status, error=error, finished_at=utcnow(), lease_expires_at=None)
                .execution_options(synchronize_session=False)).rowcount
            if changed:
                # Steps the run never reached (killed mid-way) are skipped, not left pending.
                s.execute(update(Step).where(Step.execution_id == execution.id,
                                             Step.status.in_(("pending", "running")))
                          .values(status="skipped" if status != "completed" else "completed"))
            else:
                log.warning("execution %s was no longer ours to finish (reaped or taken over)", execution.id)
            row = s.get(Execution, execution.id, populate_existing=True)
            assert row is not None
            return row

    def _hand_back(self, execution: Execution) -> Execution:
        """Shutting down mid-run: mark the attempt lost and queue a retry for another executor now,
        instead of leaving it to the reaper after the lease expires."""
        with self.ws.catalog.session() as s:
            changed = s.execute(update(Execution).where(
                Execution.id == execution.id, Execution.status == "running", Execution.lease_owner == self.owner,
            ).values(status="lost", finished_at=utcnow(), lease_expires_at=None,
                     error="its executor shut down mid-run; retried elsewhere")
                .execution_options(synchronize_session=False)).rowcount
            if changed:
                s.execute(update(Step).where(Step.execution_id == execution.id,
                                             Step.status.in_(("pending", "running"))).values(status="skipped"))
        row = runs.get(self.ws.catalog, execution.id)
        if changed:
            runs.retry_of(self.ws, row, count_attempt=False)
        return row

    def _after(self, final: Execution, recorder: _Recorder) -> None:
        """Retries from the manifest, a retry the run asked for, and the lifecycle event."""
        from studio.events.ingest import accept
        from studio.events.cloudevent import new_event

        if final.lease_owner != self.owner or final.status not in FINISHED:
            return   # not ours any more: the reaper recorded it lost and retried it
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
        """Claim and run executions with ``concurrency`` threads until ``stop`` is set.

        On stop, runs still going get ``shutdown_grace`` seconds to finish; the rest are
        stopped and handed back (marked lost, retried at once elsewhere).
        """
        executors.prewarm()   # warm kernels ready before the first run asks for one
        slots = threading.Semaphore(self.concurrency)
        threads: list[threading.Thread] = []
        consumer = None
        reopen_at = 0.0
        next_poll = 0.0   # the catalog is looked at once at start-up
        while not stop.is_set():
            if consumer is None and time.monotonic() >= reopen_at:
                try:
                    consumer = self.ws.bus.consumer(GROUP, [runs.EXECUTIONS_TOPIC])
                except Exception as exc:   # the bus is away: poll the catalog meanwhile
                    log.warning("cannot consume %s (%s); polling the catalog every %.1f s meanwhile",
                                runs.EXECUTIONS_TOPIC, exc, self.poll_seconds)
                    reopen_at = time.monotonic() + 5.0
            if not slots.acquire(timeout=0.5):
                continue
            doorbell = None
            if not self.wakeup.is_set() and time.monotonic() < next_poll:
                wait = min(0.5, max(0.0, next_poll - time.monotonic()))
                if consumer is not None:
                    try:
                        doorbell = consumer.poll(wait)
                    except Exception:
                        log.exception("polling %s failed; reopening the consumer", runs.EXECUTIONS_TOPIC)
                        _close_quietly(consumer)
                        consumer, reopen_at = None, time.monotonic() + 1.0
                else:
                    self.wakeup.wait(wait)
                if doorbell is None and not self.wakeup.is_set() and time.monotonic() < next_poll:
                    slots.release()
                    continue
            self.wakeup.clear()
            try:
                execution = runs.claim_next(self.ws.catalog, self.owner, self.lease_seconds)
            except Exception:
                log.exception("claiming an execution failed")
                execution = None
            if execution is None:
                next_poll = time.monotonic() + self.poll_seconds
                slots.release()
                _ack_quietly(consumer, doorbell)   # nothing (left) to do for it
                continue
            self.wakeup.set()   # there may be more: look again at once while slots are free

            def work(ex: Execution = execution, msg: Any = doorbell, cons: Any = consumer) -> None:
                try:
                    self.run_claimed(ex)
                    self.ran += 1
                except Exception:
                    log.exception("running %s failed", ex.id)
                finally:
                    _ack_quietly(cons, msg)   # only now: the outcome is recorded
                    slots.release()
                    self.wakeup.set()   # a slot is free: look for more at once

            thread = threading.Thread(target=work, name=f"run-{execution.id[:8]}", daemon=True)
            thread.start()
            threads = [t for t in threads if t.is_alive()] + [thread]
        self._drain(threads)
        if consumer is not None:
            _close_quietly(consumer)

    def _drain(self, threads: list[threading.Thread]) -> None:
        deadline = time.monotonic() + self.shutdown_grace
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in threads):
            self._abandoning.set()
            with self._lock:
                for cancel in self._active.values():
                    cancel.set()
            for thread in threads:
                thread.join(timeout=15)


FINISHED = {"completed", "failed", "cancelled"}


def _cancel_asked(ws: Workspace, execution_id: str) -> bool:
    with ws.catalog.session() as s:
        return bool(s.scalar(select(Execution.cancel_requested).where(Execution.id == execution_id)))


def _ack_quietly(consumer: Any, message: Any) -> None:
    if consumer is None or message is None:
        return
    try:
        consumer.ack(message)
    except Exception as exc:   # an unacked doorbell is delivered again: one spare look, no harm
        log.info("doorbell %s not acked (%s)", getattr(message, "id", "?"), exc)


def _close_quietly(consumer: Any) -> None:
    try:
        consumer.close()
    except Exception:
        log.debug("closing the doorbell consumer failed", exc_info=True)


def claim(ws: Workspace, execution_id: str, owner: str) -> Execution | None:
    """Claim one specific pending execution (``studio run`` with no executor running)."""
    now = utcnow()
    with ws.catalog.session() as s:
        done = s.execute(update(Execution).where(Execution.id == execution_id, Execution.status == "pending")
                         .values(status="running", started_at=now, lease_owner=owner,
                                 lease_expires_at=now + timedelta(seconds=ws.settings.lease_seconds))).rowcount
        return s.get(Execution, execution_id) if done else None


def reap_lost(ws: Workspace) -> list[str]:
    """Mark running executions whose lease expired as lost, and queue their retries in the
    same transaction (a reaper dying half-way cannot leave a lost run without its retry).

    A lost attempt does not count against ``retries`` the first time: the run did not fail,
    its machine did. Returns the ids marked lost.
    """
    now = utcnow()
    lost: list[Execution] = []
    retries: list[Execution] = []
    services = {svc.key: svc for svc in ws.services()}   # read before the write transaction
    with ws.catalog.session() as s:
        expired = s.scalars(select(Execution).where(Execution.status == "running",
                                                    Execution.lease_expires_at < now)).all()
        for row in expired:
            changed = s.execute(update(Execution).where(
                Execution.id == row.id, Execution.status == "running", Execution.lease_expires_at < now,
            ).values(status="lost", finished_at=now, error="its executor stopped renewing the lease")
                .execution_options(synchronize_session=False)).rowcount
            if not changed:
                continue
            lost.append(row)
            s.execute(update(Step).where(Step.execution_id == row.id, Step.status.in_(("pending", "running")))
                      .values(status="skipped"))
            svc = services.get(f"{row.project}/{row.service}")
            if svc is not None and row.attempt <= max(row.retries, 1):
                retries.append(runs.add_retry(s, ws, svc, row))
    for retry in retries:
        runs.ring(ws, retry.service_id, retry.id)
    return [row.id for row in lost]
