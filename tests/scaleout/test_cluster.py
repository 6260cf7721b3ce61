"""The scale-out deployment end to end: PostgreSQL catalog, Kafka (Tansu) bus, and separate
processes: one router, two schedulers, three executors (``studio up --role ...``).

One cluster serves the whole module (starting processes and Kafka group joins are the slow
part); the tests run in file order and each leaves three executors running.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.scaleout.conftest import LEASE_SECONDS, SLEEPY, STEP, Cluster, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.slow]

SERVICES: dict[str, dict[str, Any]] = {
    **{f"quick{i}": {"step.py": STEP} for i in range(3)},
    "sleepy": {"step.py": SLEEPY, "manifest.json": {"retries": 0}},
    "on_event": {"step.py": STEP},
    "every_minute": {"step.py": STEP, "manifest.json": {"schedule": "* * * * *"}},
}
EXECUTORS = ("executor1", "executor2", "executor3")


@pytest.fixture(scope="module")
def cluster(make_cluster: Any) -> Cluster:
    from studio.events.links import link

    cluster = make_cluster(SERVICES)
    link(cluster.ws, "demo/on_event", "test.flow")
    cluster.start("router", "router")
    cluster.start("scheduler1", "scheduler")
    cluster.start("scheduler2", "scheduler")
    for name in EXECUTORS:
        cluster.start(name, "executor")
    cluster.wait_live({"router": 1, "scheduler": 2, "executor": 3})
    return cluster


def _executions(ws: Any, **where: Any) -> list[Any]:
    from studio.catalog.models import Execution

    query = select(Execution)
    for key, value in where.items():
        query = query.where(getattr(Execution, key) == value)
    with ws.catalog.session() as s:
        return list(s.scalars(query))


def _log_counts(ws: Any, ids: list[str], message: str = "ran") -> Counter[str]:
    from studio.catalog.models import LogRecord

    with ws.catalog.session() as s:
        rows = s.execute(select(LogRecord.execution_id, func.count()).where(
            LogRecord.execution_id.in_(ids), LogRecord.message == message).group_by(LogRecord.execution_id)).all()
    return Counter(dict(rows))


def _step_counts(ws: Any, ids: list[str]) -> dict[str, list[str]]:
    from studio.catalog.models import Step

    with ws.catalog.session() as s:
        rows = s.execute(select(Step.execution_id, Step.status).where(Step.execution_id.in_(ids))).all()
    found: dict[str, list[str]] = {}
    for execution_id, status in rows:
        found.setdefault(execution_id, []).append(status)
    return found


def test_300_runs_finish_each_exactly_once_across_three_executors(cluster: Cluster) -> None:
    from studio import runs

    ws = cluster.ws
    started = time.monotonic()
    ids = [runs.start(ws, ws.service(f"demo/quick{i % 3}"), {}).id for i in range(300)]
    queued = time.monotonic() - started

    def all_final() -> bool:
        with ws.catalog.session() as s:
            from studio.catalog.models import Execution

            left = s.scalar(select(func.count()).where(Execution.id.in_(ids),
                                                       Execution.status.in_(("pending", "running"))))
        return left == 0

    wait_until(all_final, 240, "300 executions to finish", cluster, every=0.5)
    elapsed = time.monotonic() - started
    rows = [r for r in _executions(ws) if r.id in set(ids)]
    assert Counter(r.status for r in rows) == {"completed": 300}, Counter(r.status for r in rows)
    logs = _log_counts(ws, ids)
    assert all(logs[i] == 1 for i in ids), {i: logs[i] for i in ids if logs[i] != 1}
    steps = _step_counts(ws, ids)
    assert all(steps[i] == ["completed"] for i in ids)
    by_owner = Counter(r.lease_owner for r in rows)
    assert len(by_owner) == 3, f"work should spread over the three executors: {by_owner}"
    print(f"\n300 runs: queued in {queued:.1f} s, all finished after {elapsed:.1f} s; per executor {by_owner}")


def test_kill9_executor_mid_run_the_execution_completes_elsewhere(cluster: Cluster) -> None:
    from studio import runs

    ws = cluster.ws
    execution = runs.start(ws, ws.service("demo/sleepy"), {})

    def running() -> Any:
        row = runs.get(ws.catalog, execution.id)
        return row if row.status == "running" and _log_counts(ws, [row.id])[row.id] == 1 else None

    row = wait_until(running, 30, "the sleepy run to start", cluster)
    victim = cluster.pid_of_owner(row.lease_owner)
    assert victim in EXECUTORS, row.lease_owner
    killed_at = time.monotonic()
    cluster.kill9(victim)

    lost = wait_until(lambda: runs.get(ws.catalog, execution.id).status == "lost", LEASE_SECONDS + 10,
                      "the killed executor's run to be marked lost", cluster)
    assert lost
    noticed = time.monotonic() - killed_at
    retry = wait_until(lambda: next(iter(_executions(ws, retry_of=execution.id)), None), 10, "the retry", cluster)
    done = wait_until(lambda: runs.get(ws.catalog, retry.id).status in runs.FINAL and runs.get(ws.catalog, retry.id),
                      40, "the retry to finish", cluster)
    assert done.status == "completed", done.error
    assert done.lease_owner != row.lease_owner
    assert cluster.pid_of_owner(done.lease_owner) in EXECUTORS
    first = runs.get(ws.catalog, execution.id)
    assert done.started_at >= first.finished_at, "the retry must not overlap the lost attempt"
    assert _log_counts(ws, [done.id], "woke")[done.id] == 1
    print(f"\nkill -9: lost noticed after {noticed:.1f} s, retry finished "
          f"{time.monotonic() - killed_at:.1f} s after the kill")
    cluster.start(victim, "executor")   # back to three for the next tests


def test_router_restart_while_events_flow_loses_nothing_and_runs_nothing_twice(cluster: Cluster) -> None:
    from studio.catalog.models import Event, Execution, Routing
    from studio.events.cloudevent import new_event
    from studio.events.ingest import accept

    ws = cluster.ws
    count = 120
    seqs: list[int] = []

    def send() -> None:
        for i in range(count):
            row, _ = accept(ws, new_event("test.flow", data={"n": i}, source="test/flow"))
            seqs.append(row.seq)
            time.sleep(0.02)

    sender = threading.Thread(target=send)
    sender.start()
    wait_until(lambda: len(seqs) >= 30, 30, "events to flow")
    assert cluster.stop("router") == 0, "a headless role exits 0 on SIGTERM"
    time.sleep(1.0)
    cluster.start("router", "router")          # a fresh process: new bus connection, rejoins the group
    wait_until(lambda: len(seqs) >= 70, 30, "more events to flow")
    cluster.kill9("router")                     # and once without any cleanup
    cluster.start("router", "router")
    sender.join(60)
    assert len(seqs) == count

    def all_routed_and_finished() -> bool:
        with ws.catalog.session() as s:
            unrouted = s.scalar(select(func.count()).where(Event.seq.in_(seqs), Event.routed.is_(False)))
            open_runs = s.scalar(select(func.count()).where(Execution.trigger_event_id.in_(seqs),
                                                            Execution.status.in_(("pending", "running"))))
            started = s.scalar(select(func.count()).where(Execution.trigger_event_id.in_(seqs)))
        return unrouted == 0 and open_runs == 0 and started >= count

    wait_until(all_routed_and_finished, 120, "every event routed and its run finished", cluster, every=0.5)
    with ws.catalog.session() as s:
        routings = Counter(s.scalars(select(Routing.event_seq).where(Routing.event_seq.in_(seqs))).all())
        per_event = Counter(s.scalars(select(Execution.trigger_event_id).where(
            Execution.trigger_event_id.in_(seqs))).all())
        statuses = Counter(s.scalars(select(Execution.status).where(Execution.trigger_event_id.in_(seqs))).all())
        ids = list(s.scalars(select(Execution.id).where(Execution.trigger_event_id.in_(seqs))))
    assert all(routings[q] == 1 for q in seqs), {q: routings[q] for q in seqs if routings[q] != 1}
    assert all(per_event[q] == 1 for q in seqs), {q: per_event[q] for q in seqs if per_event[q] != 1}
    assert statuses == {"completed": count}
    logs = _log_counts(ws, ids)
    assert all(logs[i] == 1 for i in ids)


def test_two_schedulers_fire_each_slot_once(cluster: Cluster) -> None:
    from studio.catalog.models import ScheduleSlot

    ws = cluster.ws
    service_id = ws.service_id(ws.service("demo/every_minute"))

    def fired() -> list[Any]:
        with ws.catalog.session() as s:
            return list(s.scalars(select(ScheduleSlot).where(ScheduleSlot.service_id == service_id)))

    slots = wait_until(fired, 75, "a scheduled slot to fire (every minute)", cluster, every=1.0)
    time.sleep(3)   # let a slow second scheduler try the same slot too
    slots = fired()
    scheduled = _executions(ws, service_id=service_id, trigger="scheduled")
    assert len(scheduled) == len(slots), (len(scheduled), [s.slot for s in slots])
    assert len({s.slot for s in slots}) == len(slots)
    done = wait_until(lambda: all(r.status in ("completed",) for r in _executions(ws, service_id=service_id,
                                                                                      trigger="scheduled")),
                      30, "the scheduled runs to finish", cluster)
    assert done


def test_sigterm_stops_a_headless_executor_cleanly(cluster: Cluster) -> None:
    from studio.roles import live_roles

    before = cluster.procs["executor1"].process.pid
    assert cluster.stop("executor1") == 0
    from studio.catalog.models import Worker

    with cluster.ws.catalog.session() as s:
        assert not [w for w in s.scalars(select(Worker)) if w.pid == before], "its heartbeat row is removed"
    assert "executor" in live_roles(cluster.ws)   # the others still serve
