"""The dashboard's SQL (no browser): aggregates per day, pages without COUNT, filters; and the
pages' empty states, built in-process on an empty workspace."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import insert

from studio.catalog.models import Event, Execution, LogRecord, Project, Service
from studio.dashboard import queries

NOW = datetime(2024, 5, 10, 15, 30, tzinfo=timezone.utc)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Any]:
    from studio.workspace import Workspace, init_workspace

    home = init_workspace(tmp_path / "ws", with_examples=False)
    workspace = Workspace.open(home)
    try:
        yield workspace
    finally:
        workspace.close()


def add_service(ws: Any, name: str = "svc") -> str:
    with ws.catalog.session() as s:
        project = Project(name="p", path="/nowhere")
        s.add(project)
        s.flush()
        service = Service(project_id=project.id, name=name)
        s.add(service)
        s.flush()
        return service.id


def add_executions(ws: Any, rows: list[dict[str, Any]]) -> None:
    service_id = add_service(ws)
    base = {"service_id": service_id, "project": "p", "service": "svc", "params": {}, "timeout": 60.0,
            "priority": 0, "attempt": 1, "retries": 0, "cancel_requested": False, "version_hash": "",
            "started_at": None, "finished_at": None}
    with ws.catalog.engine.begin() as conn:
        conn.execute(insert(Execution.__table__), [base | {"id": f"{i:032x}"} | r for i, r in enumerate(rows)])


def test_activity_groups_by_utc_day_status_and_trigger(ws: Any) -> None:
    day = timedelta(days=1)
    add_executions(ws, [
        {"status": "completed", "trigger": "event", "created_at": NOW, "started_at": NOW,
         "finished_at": NOW + timedelta(seconds=10)},
        {"status": "completed", "trigger": "form", "created_at": NOW - timedelta(hours=1), "started_at": NOW,
         "finished_at": NOW + timedelta(seconds=30)},
        {"status": "failed", "trigger": "scheduled", "created_at": NOW - day, "started_at": NOW - day,
         "finished_at": NOW - day + timedelta(seconds=4)},
        {"status": "running", "trigger": "manual", "created_at": NOW - day, "started_at": NOW - day},
        {"status": "pending", "trigger": "retry", "created_at": NOW - 2 * day},
        {"status": "completed", "trigger": "event", "created_at": NOW - 30 * day},   # outside the window
    ])
    act = queries.activity(ws.catalog, days=7, now=NOW)
    assert act.days[-1] == "2024-05-10" and act.days[0] == "2024-05-04"
    assert act.by_status["completed"] == {"2024-05-10": 2}
    assert act.by_status["failed"] == {"2024-05-09": 1}
    assert act.by_status["running"] == {"2024-05-09": 1}
    assert act.status_totals == {"completed": 2, "failed": 1, "running": 1, "pending": 1}
    assert act.trigger_totals == {"event": 1, "manual": 2, "scheduled": 1, "retry": 1}   # form counts as manual
    assert act.avg_seconds["2024-05-10"] == pytest.approx(20.0, abs=0.01)
    assert act.avg_seconds["2024-05-09"] == pytest.approx(4.0, abs=0.01)
    assert act.avg_seconds["2024-05-08"] is None
    assert act.total == 5


def test_busiest_and_recent_failures(ws: Any) -> None:
    add_executions(ws, [{"status": "failed", "trigger": "event", "created_at": NOW - timedelta(minutes=i),
                         "finished_at": NOW - timedelta(minutes=i)} for i in range(25)])
    failed = queries.recent_failures(ws.catalog, limit=18)
    assert len(failed) == 18 and failed[0]["id"] == f"{0:032x}"
    assert queries.busiest_services(ws.catalog, now=NOW) == [{"service": "p/svc", "count": 25}]


def test_pages_know_if_more_follow_without_counting(ws: Any) -> None:
    add_executions(ws, [{"status": "completed", "trigger": "event", "created_at": NOW - timedelta(seconds=i)}
                        for i in range(120)])
    first = queries.recent_executions(ws.catalog, limit=50)
    last = queries.recent_executions(ws.catalog, limit=50, offset=100)
    assert len(first.rows) == 50 and first.has_more
    assert len(last.rows) == 20 and not last.has_more
    assert first.rows[0]["created_at"] > first.rows[-1]["created_at"]


def test_event_search_filters(ws: Any) -> None:
    rows = [{"event_id": str(i), "source": "t", "type": "a.b" if i % 2 else "c.d", "time": NOW, "received_at": NOW,
             "datacontenttype": "application/json", "data": {"n": i, "word": "needle" if i == 7 else "hay"},
             "correlation_id": "abc_01" if i < 3 else ("abc_02" if i == 3 else f"x{i}_01"), "hops": 0,
             "routed": True} for i in range(10)]
    with ws.catalog.engine.begin() as conn:
        conn.execute(insert(Event.__table__), rows)
    assert {e.event_id for e in queries.search_events(ws.catalog, type="a.b").rows} == {"1", "3", "5", "7", "9"}
    # A correlation id finds its whole chain (every hop), not an id sharing a prefix.
    assert {e.event_id for e in queries.search_events(ws.catalog, correlation_id="abc_02").rows} == {"0", "1", "2", "3"}
    assert [e.event_id for e in queries.search_events(ws.catalog, text="needle").rows] == ["7"]
    page = queries.search_events(ws.catalog, limit=4)
    assert [e.event_id for e in page.rows] == ["9", "8", "7", "6"] and page.has_more


def test_log_search_and_tail(ws: Any) -> None:
    add_executions(ws, [{"status": "completed", "trigger": "event", "created_at": NOW}])
    with ws.catalog.engine.begin() as conn:
        conn.execute(insert(LogRecord.__table__), [
            {"execution_id": f"{0:032x}", "service": "svc", "time": NOW, "level": level, "stream": "context",
             "message": f"msg {i}", "fields": {}} for i, level in enumerate(["INFO", "ERROR", "INFO"])])
    page = queries.search_logs(ws.catalog, service="p/svc", level="error")
    assert [r.message for r in page.rows] == ["msg 1"]
    first = queries.search_logs(ws.catalog).rows[-1].id
    assert [r.message for r in queries.logs_after(ws.catalog, first)] == ["msg 1", "msg 2"]


def test_day_of_is_the_utc_day_on_sqlite(ws: Any) -> None:
    from sqlalchemy import select

    add_executions(ws, [{"status": "completed", "trigger": "event",
                         "created_at": datetime(2024, 5, 10, 23, 59, tzinfo=timezone.utc)}])
    with ws.catalog.session() as s:
        day = s.scalar(select(queries.day_of(Execution.created_at, ws.catalog.dialect)))
    assert str(day) == "2024-05-10"


@pytest.mark.parametrize("page", ["overview", "executions", "events", "logs", "lineage", "services"])
def test_empty_states_say_what_to_do_next(ws: Any, page: str) -> None:
    from studio.dashboard.events import EventsPage
    from studio.dashboard.execution import ExecutionList
    from studio.dashboard.lineage import LineagePage
    from studio.dashboard.logs import LogsPage
    from studio.dashboard.overview import Overview
    from studio.dashboard.services import ServiceList

    built = {"overview": lambda: Overview(ws).recent, "executions": lambda: ExecutionList(ws).body,
             "events": lambda: EventsPage(ws).log_pane, "logs": lambda: LogsPage(ws).body,
             "lineage": lambda: LineagePage(ws).nodes_pane, "services": lambda: ServiceList(ws).body}[page]()
    text = built.object
    assert 'class="empty"' in text
    expected = {"overview": "studio run", "executions": "press <b>Run</b>", "events": "send a test event",
                "logs": "context.log.info", "lineage": "Enter a correlation id", "services": "studio project add"}
    assert expected[page] in text


def test_values_are_escaped_in_tables() -> None:
    from studio.dashboard.layout import badge, link, table

    html = table(["<h>"], [[link("/x?a=1&b=<2>", "<script>alert(1)</script>")], [badge("<img onerror=x>")]])
    assert "<script>" not in html and "<img" not in html and "<h>" not in html
    assert "&lt;script&gt;" in html and 'href="/x?a=1&amp;b=&lt;2&gt;"' in html
