"""Liveness and exclusivity, in one process, on SQLite and PostgreSQL catalogs:

- an executor whose lease is taken stops the run itself, and never overwrites the new state;
- a run reaped as lost while its executor still works is never recorded as finished by it;
- concurrent claims never hand one execution to two executors (PostgreSQL: SKIP LOCKED);
- a pending execution rings the studio.executions doorbell, keyed by service id.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from studio import runs
from studio.catalog.models import Execution, utcnow
from studio.executor import Executor, claim, reap_lost

SLEEPY = {"step.py": "import time\nprint('ran', flush=True)\ntime.sleep(8)\nprint('woke', flush=True)\n"}


def _run_in_thread(executor: Executor, claimed: Execution) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def go() -> None:
        box["final"] = executor.run_claimed(claimed)
        box["at"] = time.monotonic()

    thread = threading.Thread(target=go)
    thread.start()
    return thread, box


def _wait_running(ws: Any, execution_id: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if runs.logs(ws.catalog, execution_id, text="ran"):
            return
        time.sleep(0.05)
    raise AssertionError("the step did not start")


def test_an_executor_whose_lease_is_stolen_stops_the_run_itself(make_workspace: Any) -> None:
    ws = make_workspace({"sleepy": SLEEPY})
    execution = runs.start(ws, ws.service("demo/sleepy"), {})
    claimed = claim(ws, execution.id, "executor-a")
    assert claimed is not None
    thread, box = _run_in_thread(Executor(ws, owner="executor-a", lease_seconds=1.5), claimed)
    _wait_running(ws, execution.id)
    with ws.catalog.session() as s:   # another executor takes the lease over
        s.execute(update(Execution).where(Execution.id == execution.id).values(
            lease_owner="executor-b", lease_expires_at=utcnow() + timedelta(seconds=60)))
    stolen_at = time.monotonic()
    thread.join(15)
    assert not thread.is_alive()
    assert box["at"] - stolen_at < 2.0, "the run must stop within a lease check, not sleep on"
    row = runs.get(ws.catalog, execution.id)
    assert (row.status, row.lease_owner) == ("running", "executor-b"), "the new owner's state is untouched"
    assert not runs.logs(ws.catalog, execution.id, text="woke")


def test_an_executor_that_cannot_renew_stops_before_its_lease_runs_out(make_workspace: Any,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ws = make_workspace({"sleepy": SLEEPY})
    execution = runs.start(ws, ws.service("demo/sleepy"), {})
    claimed = claim(ws, execution.id, "executor-a")
    assert claimed is not None
    executor = Executor(ws, owner="executor-a", lease_seconds=1.5)
    thread, box = _run_in_thread(executor, claimed)
    _wait_running(ws, execution.id)
    real_session = ws.catalog.session
    cut = time.monotonic()

    def unreachable() -> Any:   # the keeper's catalog connection fails from now on
        if threading.current_thread() is not thread and threading.current_thread().name.startswith("Thread"):
            raise OSError("catalog unreachable")
        return real_session()

    monkeypatch.setattr(ws.catalog, "session", unreachable)
    thread.join(15)
    monkeypatch.setattr(ws.catalog, "session", real_session)
    assert box["at"] - cut < 1.5, "stopped within two thirds of the lease after the last renewal"
    assert not runs.logs(ws.catalog, execution.id, text="woke")


def test_a_reaped_run_is_never_recorded_as_finished_by_its_old_executor(make_workspace: Any) -> None:
    ws = make_workspace({"quick": {"step.py": "import time\ntime.sleep(1.5)\nprint('ran')\n"}})
    execution = runs.start(ws, ws.service("demo/quick"), {})
    claimed = claim(ws, execution.id, "executor-a")
    assert claimed is not None
    executor = Executor(ws, owner="executor-a", lease_seconds=30)
    thread, box = _run_in_thread(executor, claimed)
    with ws.catalog.session() as s:   # as if the executor froze past its lease
        s.execute(update(Execution).where(Execution.id == execution.id)
                  .values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    assert reap_lost(ws) == [execution.id]
    assert reap_lost(ws) == [], "a second reaper finds nothing: the transition is conditional"
    thread.join(20)
    row = runs.get(ws.catalog, execution.id)
    assert row.status == "lost"
    assert box["final"].status == "lost"
    retries = runs.list_executions(ws.catalog, service="demo/quick", status="pending")
    assert [r.retry_of for r in retries] == [execution.id], "exactly one retry, from the reaper"


def test_concurrent_claims_hand_each_execution_to_one_executor(make_workspace: Any) -> None:
    ws = make_workspace({"quick": {"step.py": "print('ran')\n"}})
    svc = ws.service("demo/quick")
    ids = {runs.start(ws, svc, {}, priority=i % 3).id for i in range(40)}
    claimed: list[tuple[str, int]] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        while True:
            row = runs.claim_next(ws.catalog, f"executor-{n}", 30)
            if row is None:
                return
            with lock:
                claimed.append((row.id, row.priority))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    counts = Counter(i for i, _ in claimed)
    assert set(counts) == ids and set(counts.values()) == {1}
    with ws.catalog.session() as s:
        owners = s.execute(select(Execution.status, Execution.lease_owner).where(Execution.id.in_(ids))).all()
    assert {status for status, _ in owners} == {"running"}


def test_claims_follow_priority_then_age(make_workspace: Any) -> None:
    ws = make_workspace({"quick": {"step.py": "print('ran')\n"}})
    svc = ws.service("demo/quick")
    low = runs.start(ws, svc, {}, priority=0)
    high = runs.start(ws, svc, {}, priority=5)
    low2 = runs.start(ws, svc, {}, priority=0)
    order = [runs.claim_next(ws.catalog, "x", 30) for _ in range(3)]
    assert [r.id for r in order if r] == [high.id, low.id, low2.id]


def test_a_pending_execution_rings_the_doorbell_keyed_by_service(make_workspace: Any) -> None:
    ws = make_workspace({"quick": {"step.py": "print('ran')\n", "manifest.json": {"retries": 1}}})
    svc = ws.service("demo/quick")
    with ws.bus.consumer("doorbell-test", [runs.EXECUTIONS_TOPIC]) as consumer:
        execution = runs.start(ws, svc, {})
        message = consumer.poll(5)
        assert message is not None
        assert message.key == ws.service_id(svc)
        assert json.loads(message.value) == {"execution": execution.id}
        consumer.ack(message)
        retry = runs.retry_of(ws, execution)
        again = consumer.poll(5)
        assert again is not None and json.loads(again.value) == {"execution": retry.id}
        consumer.ack(again)


def test_serve_runs_pending_work_and_hands_back_on_shutdown(make_workspace: Any) -> None:
    ws = make_workspace({"quick": {"step.py": "print('ran')\n"}, "sleepy": SLEEPY})
    quick = [runs.start(ws, ws.service("demo/quick"), {}).id for _ in range(4)]
    sleepy = runs.start(ws, ws.service("demo/sleepy"), {}).id
    executor = Executor(ws, owner="serve-test", concurrency=2, lease_seconds=3, poll_seconds=0.5)
    executor.shutdown_grace = 0.5
    stop = threading.Event()
    thread = threading.Thread(target=executor.serve, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(runs.get(ws.catalog, i).status == "completed" for i in quick) and \
                runs.get(ws.catalog, sleepy).status == "running" and runs.logs(ws.catalog, sleepy, text="ran"):
            break
        time.sleep(0.1)
    stopped_at = time.monotonic()
    stop.set()
    thread.join(30)
    assert time.monotonic() - stopped_at < 5, "shutdown waits only the grace, then stops the run"
    row = runs.get(ws.catalog, sleepy)
    assert row.status == "lost" and "shut down" in (row.error or "")
    retries = runs.list_executions(ws.catalog, service="demo/sleepy", status="pending")
    assert [r.retry_of for r in retries] == [sleepy], "handed back: retried at once, not after the lease"
