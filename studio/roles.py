"""The studio's roles (web, router, scheduler, executor) and running them in one process.

``studio up`` runs the roles it is asked for; ``local_roles`` runs router, scheduler and
executor threads inside a CLI command when no studio is up, so ``studio run`` and
``studio send --wait`` work either way.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from contextlib import contextmanager
from datetime import timedelta
from typing import Callable, Iterator

from sqlalchemy import delete, select

from studio import defaults, runs
from studio.catalog.models import Worker, utcnow
from studio.workspace import Workspace

log = logging.getLogger("studio.roles")
ROLES = ("web", "router", "scheduler", "executor")
HEARTBEAT_SECONDS = 5.0
# A process not seen for three heartbeats is considered gone.
STALE_SECONDS = 3 * HEARTBEAT_SECONDS


def live_roles(ws: Workspace) -> set[str]:
    """Roles some live studio process is running right now (from heartbeats)."""
    cutoff = utcnow() - timedelta(seconds=STALE_SECONDS)
    with ws.catalog.session() as s:
        rows = s.scalars(select(Worker).where(Worker.last_seen >= cutoff)).all()
    return {role for row in rows for role in row.roles.split(",")}


class Heartbeat:
    """Records this process and its roles in the catalog, every few seconds."""

    def __init__(self, ws: Workspace, roles: list[str], worker_id: str) -> None:
        self.ws, self.roles, self.id = ws, roles, worker_id

    def beat(self) -> None:
        with self.ws.catalog.session() as s:
            row = s.get(Worker, self.id)
            if row is None:
                s.add(Worker(id=self.id, roles=",".join(self.roles), host=socket.gethostname(), pid=os.getpid()))
            else:
                row.last_seen = utcnow()

    def forget(self) -> None:
        with self.ws.catalog.session() as s:
            s.execute(delete(Worker).where(Worker.id == self.id))


def _loop(stop: threading.Event, every: float, work: Callable[[], object], name: str) -> None:
    while not stop.is_set():
        try:
            work()
        except Exception:   # a periodic duty must survive a transient failure
            log.exception("%s failed", name)
        stop.wait(every)


def start_roles(ws: Workspace, roles: list[str], stop: threading.Event) -> list[threading.Thread]:
    """Start router/scheduler/executor (not web) as threads; returns them."""
    from studio.executor import Executor, reap_lost, worker_id

    threads: list[threading.Thread] = []
    executor: Executor | None = None
    wid = worker_id("+".join(roles))
    heartbeat = Heartbeat(ws, roles, wid)
    heartbeat.beat()

    def spawn(target: Callable[[], object], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        threads.append(thread)

    spawn(lambda: _loop(stop, HEARTBEAT_SECONDS, heartbeat.beat, "heartbeat"), "heartbeat")
    if "executor" in roles:
        executor = Executor(ws, owner=wid)
        spawn(lambda: executor.serve(stop), "executor")
        # Every executor process reaps: a killed executor's runs are marked lost within
        # lease + reap_every, by whichever executor looks first (the UPDATE is conditional).
        reap_every = min(defaults.REAP_SECONDS, ws.settings.lease_seconds / 3)
        spawn(lambda: _loop(stop, reap_every, lambda: reap_lost(ws), "reaper"), "reaper")
    if "router" in roles:
        from studio.router import Router

        local = executor

        def started() -> None:
            if local is not None:
                local.wakeup.set()   # an executor in this process: no need to wait for the bus
            runs.ring(ws)            # executors in other processes: the doorbell

        router = Router(ws, on_started=started)
        spawn(lambda: router.serve(stop), "router")
    if "scheduler" in roles:
        from studio.scheduler import Scheduler

        scheduler = Scheduler(ws)
        spawn(lambda: scheduler.serve(stop), "scheduler")

    def forget_on_stop() -> None:
        stop.wait()
        try:
            heartbeat.forget()
        except Exception:
            pass

    spawn(forget_on_stop, "heartbeat-end")
    return threads


@contextmanager
def local_roles(ws: Workspace, roles: tuple[str, ...] = ("router", "executor")) -> Iterator[list[str]]:
    """Run the roles no live studio process runs, in this process, for the duration of a command."""
    missing = [role for role in roles if role not in live_roles(ws)]
    stop = threading.Event()
    threads = start_roles(ws, missing, stop) if missing else []
    try:
        yield missing
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
