"""Dashboard page delivery with a big catalog, next to an empty-workspace baseline.

    python bench/bench_dashboard.py                       # SQLite, 100,000 executions, 1,000,000 events
    python bench/bench_dashboard.py --database-url postgresql://user@127.0.0.1:5432/bench
    python bench/bench_dashboard.py --executions 10000 --events 100000 --repeat 5

Seeds with bulk inserts (executemany in chunks), serves the web app with uvicorn on a free
loopback port, then for every page measures

* ``doc``: the HTTP GET of the page (the server builds the session's whole document: this is
  what the page's SQL and Panel cost), and
* ``browser``: Chromium (Playwright) from navigation until the page's content (a table or an
  empty state) is on screen, websocket session included,

as p50/p95 in milliseconds, for the empty baseline and the seeded workspace, with ratios.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._stats import pct  # noqa: E402

from sqlalchemy import insert, select  # noqa: E402

from studio.catalog.models import Event, EventType, Execution, LogRecord, Service, Step  # noqa: E402

STATUSES = ["completed"] * 80 + ["failed"] * 12 + ["cancelled"] * 3 + ["lost"] * 1 + ["running"] * 2 + ["pending"] * 2
TRIGGERS = ["event"] * 50 + ["scheduled"] * 25 + ["manual"] * 15 + ["form"] * 7 + ["retry"] * 3
EVENT_TYPES = [f"bench.type{i:02d}" for i in range(20)]
CHUNK = 20_000
CONTENT = "#main table, #main .empty"


def make_workspace(home: Path, services: int, database_url: str | None) -> Any:
    from studio.workspace import Workspace, init_workspace

    init_workspace(home, with_examples=False)
    if database_url:
        text = (home / "studio.toml").read_text()
        (home / "studio.toml").write_text(text + f'database_url = "{database_url}"\n')
    project = home / "projects" / "bench"
    project.mkdir(parents=True)
    for i in range(services):
        folder = project / f"svc-{i:02d}"
        folder.mkdir(parents=True)
        manifest: dict[str, Any] = {"description": f"bench service {i}", "tags": ["bench", f"group{i % 4}"],
                                    "entrypoint": "main.py", "trigger_events": [EVENT_TYPES[i % len(EVENT_TYPES)]]}
        if i % 3 == 0:
            manifest["schedule"] = "@hourly"
        (folder / "manifest.json").write_text(json.dumps(manifest))
        (folder / "main.py").write_text("print('hi')\n")
        (folder / "README.md").write_text(f"# Service {i}\n\nA benchmark service.\n")
    ws = Workspace.open(home)
    if database_url:   # a reused database: start from nothing
        with ws.catalog.engine.begin() as conn:
            for table in ("logs", "steps", "routings", "events", "event_types", "executions"):
                conn.exec_driver_sql(f"DELETE FROM {table}")
    ws.add_project("bench", project)
    return ws


def seed(ws: Any, executions: int, events: int, days: int = 30) -> dict[str, Any]:
    """Bulk rows: executions spread over ``days``, their events and some logs and steps."""
    rng = random.Random(7)
    now = datetime.now(timezone.utc)
    with ws.catalog.session() as s:
        services = [(r.id, r.name) for r in s.execute(select(Service.id, Service.name))]
    engine = ws.catalog.engine
    t0 = time.perf_counter()
    execution_ids: list[tuple[str, str, datetime]] = []
    with engine.begin() as conn:
        rows: list[dict[str, Any]] = []
        for i in range(executions):
            service_id, name = services[i % len(services)]
            created = now - timedelta(seconds=rng.uniform(0, days * 86400))
            status = rng.choice(STATUSES)
            started = created + timedelta(seconds=rng.uniform(0.1, 5)) if status != "pending" else None
            finished = (started + timedelta(seconds=rng.uniform(1, 120))
                        if started and status not in ("running", "pending") else None)
            eid = uuid.uuid4().hex
            cid = f"{uuid.uuid4().hex[:12]}_01"
            execution_ids.append((eid, cid, created))
            rows.append({"id": eid, "service_id": service_id, "project": "bench", "service": name,
                         "version_hash": "", "status": status, "trigger": rng.choice(TRIGGERS),
                         "trigger_event_id": None, "correlation_id": cid, "params": {"n": i}, "priority": 0,
                         "attempt": 1, "retries": 0, "timeout": 3600.0, "created_at": created,
                         "started_at": started, "finished_at": finished, "cancel_requested": False,
                         "error": "boom" if status == "failed" else None})
            if len(rows) >= CHUNK:
                conn.execute(insert(Execution.__table__), rows)
                rows = []
        if rows:
            conn.execute(insert(Execution.__table__), rows)
    t1 = time.perf_counter()
    counts = {t: 0 for t in EVENT_TYPES}
    with engine.begin() as conn:
        rows = []
        for i in range(events):
            eid, cid, created = execution_ids[i % len(execution_ids)]
            event_type = EVENT_TYPES[i % len(EVENT_TYPES)]
            counts[event_type] += 1
            at = created + timedelta(seconds=i % 60)
            rows.append({"event_id": f"bench-{i}", "source": "bench", "type": event_type, "subject": None,
                         "time": at, "received_at": at, "datacontenttype": "application/json",
                         "data": {"i": i, "region": "emea", "amount": i % 1000}, "correlation_id": cid,
                         "execution_id": eid if i % 2 else None, "hops": 0, "routed": True})
            if len(rows) >= CHUNK:
                conn.execute(insert(Event.__table__), rows)
                rows = []
        if rows:
            conn.execute(insert(Event.__table__), rows)
        conn.execute(insert(EventType.__table__), [
            {"type": t, "count": n, "first_seen": now - timedelta(days=days), "last_seen": now,
             "schema": {"type": "object", "properties": {"i": {"type": "integer"}, "region": {"type": "string"},
                                                         "amount": {"type": "integer"}}},
             "samples": [{"i": 1, "region": "emea", "amount": 1}], "producers": []} for t, n in counts.items()])
    t2 = time.perf_counter()
    sample = execution_ids[-1]
    with engine.begin() as conn:
        logs = [{"execution_id": eid, "service": "svc-00", "step": "main.py", "time": created, "level": "INFO",
                 "stream": "context", "message": f"line {i} of {eid[:8]}", "fields": {}}
                for i, (eid, _, created) in enumerate(execution_ids[: min(len(execution_ids), 100_000)])]
        for start in range(0, len(logs), CHUNK):
            conn.execute(insert(LogRecord.__table__), logs[start:start + CHUNK])
        conn.execute(insert(Step.__table__), [{"execution_id": sample[0], "position": 0, "name": "main.py",
                                               "status": "completed", "started_at": sample[2],
                                               "finished_at": sample[2] + timedelta(seconds=3)}])
    t3 = time.perf_counter()
    if ws.catalog.dialect == "sqlite":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    elif ws.catalog.dialect == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    print(f"seeded {executions:,} executions in {t1 - t0:.1f} s, {events:,} events in {t2 - t1:.1f} s, "
          f"{len(logs):,} log lines in {t3 - t2:.1f} s", flush=True)
    return {"execution": sample[0], "correlation": sample[1]}


def serve(ws: Any) -> tuple[str, Any, threading.Thread]:
    import uvicorn

    from studio.server import build_web_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(build_web_app(ws), host="127.0.0.1", port=port, log_level="warning",
                                           ws="websockets-sansio"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def pages(sample: dict[str, Any] | None) -> dict[str, str]:
    execution = sample["execution"] if sample else "0" * 32
    correlation = sample["correlation"] if sample else "none_01"
    return {
        "overview": "/", "services": "/services", "service": "/services?service=bench/svc-03",
        "executions": "/execution", "execution": f"/execution?id={execution}", "events": "/events",
        "events?type": f"/events?type={EVENT_TYPES[3]}", "lineage": f"/lineage?correlation_id={correlation}",
        "logs": "/logs",
    }



def measure(base: str, paths: dict[str, str], repeat: int) -> dict[str, dict[str, list[float]]]:
    import httpx
    from playwright.sync_api import sync_playwright

    results: dict[str, dict[str, list[float]]] = {name: {"doc": [], "browser": []} for name in paths}
    with httpx.Client(timeout=60) as client:
        for name, path in paths.items():
            client.get(base + path)   # warm-up (imports, first-use caches)
            for _ in range(repeat):
                t0 = time.perf_counter()
                response = client.get(base + path)
                results[name]["doc"].append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, (path, response.status_code)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"])
        page = browser.new_page()
        for name, path in paths.items():
            page.goto(base + path)
            page.wait_for_selector(CONTENT, timeout=60_000)
            for _ in range(repeat):
                t0 = time.perf_counter()
                page.goto(base + path, wait_until="commit")
                page.wait_for_selector(CONTENT, timeout=60_000)
                results[name]["browser"].append((time.perf_counter() - t0) * 1000)
        browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite in a temp folder)")
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--services", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--home", type=Path, default=None,
                        help="keep the seeded workspace here and reuse it on the next run (SQLite only)")
    args = parser.parse_args()

    runs: dict[str, dict[str, dict[str, list[float]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label in ("empty", "seeded"):
            if label == "seeded" and args.home and (args.home / "seeded.json").exists():
                from studio.workspace import Workspace

                ws = Workspace.open(args.home / "ws")
                sample = json.loads((args.home / "seeded.json").read_text())
                print(f"reusing the seeded workspace in {args.home}", flush=True)
            elif label == "seeded":
                home = (args.home / "ws") if args.home else Path(tmp) / label
                ws = make_workspace(home, args.services, args.database_url)
                sample = seed(ws, args.executions, args.events)
                if args.home:
                    (args.home / "seeded.json").write_text(json.dumps(sample))
            else:
                ws = make_workspace(Path(tmp) / label, 0, args.database_url)
                sample = None
            base, server, thread = serve(ws)
            try:
                runs[label] = measure(base, pages(sample), args.repeat)
            finally:
                server.should_exit = True
                thread.join(timeout=10)
                ws.close()
    print(f"\n{'page':<13} {'':>7} {'empty p50':>10} {'p95':>7} {'seeded p50':>11} {'p95':>7} {'ratio p50':>10}")
    for name in runs["empty"]:
        for kind in ("doc", "browser"):
            e, s = runs["empty"][name][kind], runs["seeded"][name][kind]
            print(f"{name:<13} {kind:>7} {statistics.median(e):>10.0f} {pct(e, 95):>7.0f} "
                  f"{statistics.median(s):>11.0f} {pct(s, 95):>7.0f} {statistics.median(s) / statistics.median(e):>9.2f}x")
    print("\nms; doc = HTTP GET of the page (server builds the session document); browser = navigation until "
          "the content is on screen. Same machine, same run.")


if __name__ == "__main__":
    main()
