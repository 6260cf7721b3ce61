"""Executions end to end through the executor role: steps, logs, state, events, retries, cancel."""

from __future__ import annotations

import threading
import time

import pytest

from studio import runs
from studio.errors import Conflict, NotFound, ValidationFailed
from studio.executor import Executor, claim, reap_lost
from tests.conftest import notebook, run_now

CONTEXT_NB = notebook(
    "from studio import context\n"
    "context.log.info(f'region is {region}')\n"
    "count = context.state.get('count', 0) + 1\n"
    "context.state.put('count', count)\n"
    "context.events.send('demo.done', {'region': region, 'count': count})\n"
    "print('history', [h['value'] for h in context.state.history('count')])",
    parameters="region = 'emea'",
)


def test_notebook_run_records_steps_logs_state_and_events(make_workspace):
    ws = make_workspace({"nb": {"nb.ipynb": CONTEXT_NB}})
    first = run_now(ws, "nb", {"region": "apac"})
    assert first.status == "completed", first.error
    record = runs.execution_dict(ws.catalog, first)
    assert record["params"] == {"region": "apac"}
    assert record["steps"][0]["status"] == "completed" and record["steps"][0]["output_html"]
    assert len(record["events"]) == 1
    messages = [r.message for r in runs.logs(ws.catalog, first.id)]
    assert "region is apac" in messages
    second = run_now(ws, "nb")
    assert any("history [1, 2]" in r.message for r in runs.logs(ws.catalog, second.id))
    event = runs.emitted_events(ws.catalog, second.id)[0]
    assert event.data == {"region": "emea", "count": 2}
    assert event.correlation_id.endswith("_02") and second.correlation_id.endswith("_01")


def test_failed_step_skips_the_rest_and_names_the_cell(make_workspace):
    ws = make_workspace({"chain": {
        "manifest.json": {"execution_order": ["ok.py", "bad.ipynb", "after.py", "notes.md"]},
        "ok.py": "print('fine')\n",
        "bad.ipynb": notebook("x = 1", "raise ValueError('boom in cell')"),
        "after.py": "print('never')\n",
        "notes.md": "# notes",
    }})
    final = run_now(ws, "chain")
    assert final.status == "failed"
    steps = {s.name: s for s in runs.steps_of(ws.catalog, final.id)}
    assert steps["ok.py"].status == "completed"
    assert steps["bad.ipynb"].status == "failed" and steps["bad.ipynb"].failed_cell == 1
    assert "boom in cell" in (steps["bad.ipynb"].traceback or "") + (steps["bad.ipynb"].error or "")
    assert steps["after.py"].status == "skipped"
    assert steps["notes.md"].status in ("skipped", "unprocessed")


def test_retries_from_manifest(make_workspace):
    ws = make_workspace({"flaky": {"manifest.json": {"retries": 1}, "a.py": "raise SystemExit(3)\n"}})
    final = run_now(ws, "flaky")
    assert final.status == "failed"
    retry = runs.list_executions(ws.catalog, service="flaky", status="pending")
    assert len(retry) == 1 and retry[0].attempt == 2 and retry[0].retry_of == final.id


def test_invalid_params_start_nothing(make_workspace):
    ws = make_workspace({"typed": {
        "typed.ipynb": notebook("print(n)", parameters="n = 1"),
        "parameters.json": {"fields": [{"name": "n", "type": "int", "label": "N", "min": 0, "max": 10}]},
    }})
    earlier = run_now(ws, "typed", {"n": 3})
    svc = ws.service("typed")
    with pytest.raises(ValidationFailed) as err:
        runs.start(ws, svc, {"n": 99})
    assert err.value.errors[0].field == "n"
    with pytest.raises(ValidationFailed) as err:
        runs.start(ws, svc, {"not-an-identifier": 1})
    assert "identifier" in str(err.value)
    assert [e.id for e in runs.list_executions(ws.catalog, service="typed")] == [earlier.id]
    assert runs.get(ws.catalog, earlier.id).status == "completed"


def test_priority_orders_the_queue(make_workspace):
    ws = make_workspace({"low": {"a.py": "print(1)\n"}, "high": {"a.py": "print(2)\n"}})
    low = runs.start(ws, ws.service("low"), priority=1)
    high = runs.start(ws, ws.service("high"), priority=9)
    assert runs.claim_next(ws.catalog, "x", 30).id == high.id
    assert runs.claim_next(ws.catalog, "x", 30).id == low.id
    assert runs.claim_next(ws.catalog, "x", 30) is None


def test_cancel_pending_and_running(make_workspace):
    ws = make_workspace({"slow": {"a.py": "import time\nprint('start', flush=True)\ntime.sleep(60)\n"}})
    pending = runs.start(ws, ws.service("slow"))
    assert runs.cancel(ws.catalog, pending.id).status == "cancelled"
    with pytest.raises(Conflict, match="already cancelled"):
        runs.cancel(ws.catalog, pending.id)
    running = runs.start(ws, ws.service("slow"))
    claimed = claim(ws, running.id, "test-executor")
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(
        final=Executor(ws, owner="test-executor").run_claimed(claimed)))
    worker.start()
    deadline = time.time() + 30
    while not runs.logs(ws.catalog, running.id) and time.time() < deadline:
        time.sleep(0.1)
    started = time.time()
    runs.cancel(ws.catalog, running.id)
    worker.join(30)
    assert result["final"].status == "cancelled"
    assert time.time() - started < 10


def test_timeout_from_manifest(make_workspace):
    ws = make_workspace({"loop": {"manifest.json": {"timeout": 3}, "loop.ipynb": notebook("while True: pass")}})
    final = run_now(ws, "loop")
    assert final.status == "failed" and "timed out" in (final.error or "")


def test_unknown_execution_and_lost_leases(make_workspace):
    ws = make_workspace({"a": {"a.py": "print(1)\n"}})
    with pytest.raises(NotFound, match="'nope'"):
        runs.get(ws.catalog, "nope")
    execution = runs.start(ws, ws.service("a"))
    runs.claim_next(ws.catalog, "dead-executor", lease_seconds=-1)   # its lease already ran out
    assert reap_lost(ws) == [execution.id]
    assert runs.get(ws.catalog, execution.id).status == "lost"
    retry = runs.list_executions(ws.catalog, status="pending")
    assert retry and retry[0].retry_of == execution.id


def test_scheduler_retry_request(make_workspace):
    ws = make_workspace({"again": {"a.py": "from studio import context\ncontext.scheduler.retry(minutes=5)\n"}})
    final = run_now(ws, "again")
    assert final.status == "completed"
    later = runs.list_executions(ws.catalog, status="pending")[0]
    assert later.not_before is not None and later.retry_of == final.id
    assert runs.claim_next(ws.catalog, "x", 30) is None   # not before its time


def test_manual_runs_refused_when_not_allowed(make_workspace):
    ws = make_workspace({"auto": {"manifest.json": {"allow_manual_triggering": False}, "a.py": "print(1)\n"}})
    with pytest.raises(Conflict, match="allow_manual_triggering"):
        runs.start(ws, ws.service("auto"))
    assert runs.list_executions(ws.catalog) == []
