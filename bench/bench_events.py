"""Benchmark: events through accept + bus + router, next to a raw SQLite insert loop; scheduler cost.

    python bench/bench_events.py [--events 2000] [--latency 200] [--schedules 1000] [--linked]
                                 [--database-url URL --bus-url URL]

1. Throughput: ``--events`` events accepted as fast as one thread can (each stored in the
   catalog, announced on the bus, committed), with the router role consuming in another
   thread; events/s is measured until the last one is routed (dead-lettered, or with
   ``--linked`` a pending execution created for a linked service).
2. Latency: ``--latency`` events sent one at a time; accept() call to routing committed.
3. A raw SQLite loop (INSERT + COMMIT per row, WAL, synchronous=NORMAL like the catalog) in
   the same run, and the ratio.
4. Scheduler: ``--schedules`` services with an every-minute cron; the cost of one tick when
   nothing is due, and when every slot is due: delay from slot time to event stored, p50/p99.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._stats import pct  # noqa: E402

from sqlalchemy import func, select  # noqa: E402

from studio.catalog.models import Event, ScheduleSlot  # noqa: E402
from studio.events.cloudevent import new_event  # noqa: E402
from studio.events.ingest import accept  # noqa: E402
from studio.router import Router  # noqa: E402
from studio.workspace import Workspace, init_workspace  # noqa: E402



class TimedRouter(Router):
    def __init__(self, ws: Workspace) -> None:
        super().__init__(ws)
        self.done: dict[int, float] = {}
        self.all_done = threading.Event()
        self.expect = 0

    def handle(self, value: bytes) -> None:
        super().handle(value)
        self.done[int(json.loads(value)["seq"])] = time.perf_counter()
        if len(self.done) >= self.expect:
            self.all_done.set()


def bench_router(ws: Workspace, events: int, latency_n: int, event_type: str) -> dict[str, float]:
    router = TimedRouter(ws)
    stop = threading.Event()
    thread = threading.Thread(target=router.serve, args=(stop,), daemon=True)
    thread.start()
    # warm-up: the consumer joins the group and the first poll settles
    router.expect = 1
    accept(ws, new_event(event_type, {"warm": True}, source="bench"))
    router.all_done.wait(30)

    router.done.clear()
    router.all_done.clear()
    router.expect = events
    t0 = time.perf_counter()
    for i in range(events):
        accept(ws, new_event(event_type, {"i": i, "region": "eu"}, source="bench"))
    sent = time.perf_counter()
    router.all_done.wait(600)
    t1 = time.perf_counter()

    lat: list[float] = []
    for i in range(latency_n):
        router.done.clear()
        router.all_done.clear()
        router.expect = 1
        start = time.perf_counter()
        row, _ = accept(ws, new_event(event_type, {"i": i}, source="bench-lat"))
        router.all_done.wait(30)
        lat.append((router.done.get(row.seq, time.perf_counter()) - start) * 1000)
    stop.set()
    thread.join(15)
    return {"events": events, "accept_per_s": events / (sent - t0), "routed_per_s": events / (t1 - t0),
            "lat_p50_ms": pct(lat, 50), "lat_p99_ms": pct(lat, 99)}


def bench_raw_sqlite(folder: Path, n: int) -> float:
    conn = sqlite3.connect(folder / "raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT, type TEXT, data TEXT)")
    t0 = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN")
        conn.execute("INSERT INTO events (id, type, data) VALUES (?, ?, ?)", (str(i), "t", json.dumps({"i": i})))
        conn.execute("COMMIT")
    rate = n / (time.perf_counter() - t0)
    conn.close()
    return rate


def bench_scheduler(ws: Workspace, home: Path, count: int) -> dict[str, float]:
    from studio.scheduler import Scheduler

    project = home / "sched"
    for i in range(count):
        folder = project / f"s{i:04d}"
        folder.mkdir(parents=True)
        (folder / "main.py").write_text("print(1)\n")
        (folder / "manifest.json").write_text('{"schedule": "* * * * *"}')
    t0 = time.perf_counter()
    ws.add_project("sched", project)
    load_s = time.perf_counter() - t0
    scheduler = Scheduler(ws)
    now = datetime.now(timezone.utc)
    first_plan = time.perf_counter()
    scheduler.tick(now)                       # plans every schedule (baselines: now)
    plan_s = time.perf_counter() - first_plan
    idle: list[float] = []
    for _ in range(20):
        t = time.perf_counter()
        assert scheduler.tick(now) == []
        idle.append((time.perf_counter() - t) * 1000)
    # every slot comes due at the next whole minute; tick "at" it, as serve() does (+5 ms)
    slot = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    tick_at = slot + timedelta(milliseconds=5)
    t = time.perf_counter()
    fired = scheduler.tick(tick_at)
    fire_s = time.perf_counter() - t
    with ws.catalog.session() as s:
        fired_at = [r for r in s.scalars(select(ScheduleSlot.fired_at).where(ScheduleSlot.slot == slot))]
    # fired_at is when the slot row was written; the event follows in the same call.
    skew = [5.0 + (f - fired_at[0]).total_seconds() * 1000 for f in sorted(fired_at)]
    return {"schedules": count, "load_s": load_s, "plan_s": plan_s, "idle_tick_p50_ms": pct(idle, 50),
            "idle_tick_p99_ms": pct(idle, 99), "fired": len(fired), "fire_all_s": fire_s,
            "skew_p50_ms": pct(skew, 50), "skew_p99_ms": pct(skew, 99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--latency", type=int, default=200)
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--linked", action="store_true", help="route to a linked service (creates executions)")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--bus-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = init_workspace(Path(tmp) / "home", with_examples=False)
        ws = Workspace.open(home, database_url=args.database_url, bus_url=args.bus_url)
        try:
            event_type = "bench.event"
            if args.linked:
                folder = Path(tmp) / "proj" / "sink"
                folder.mkdir(parents=True)
                (folder / "main.py").write_text("print(1)\n")
                (folder / "manifest.json").write_text(json.dumps({"trigger_events": [event_type]}))
                ws.add_project("proj", folder.parent)
            r = bench_router(ws, args.events, args.latency, event_type)
            raw = bench_raw_sqlite(Path(tmp), args.events)
            print(f"catalog {ws.catalog.dialect}, bus {ws.bus.url.split('?')[0]}, "
                  f"{'linked service (execution created)' if args.linked else 'dead letter'}")
            print(f"accept (store + publish):     {r['accept_per_s']:8.0f} events/s")
            print(f"accept + bus + router:        {r['routed_per_s']:8.0f} events/s ({r['events']} events)")
            print(f"raw SQLite insert+commit:     {raw:8.0f} rows/s   ratio {r['routed_per_s'] / raw:.3f}")
            print(f"publish -> routed latency:    p50 {r['lat_p50_ms']:.1f} ms   p99 {r['lat_p99_ms']:.1f} ms")
            with ws.catalog.session() as s:
                assert s.scalar(select(func.count()).select_from(Event).where(Event.routed.is_(False))) == 0
            if args.schedules:
                sc = bench_scheduler(ws, home, args.schedules)
                print(f"scheduler, {sc['schedules']} every-minute schedules (load {sc['load_s']:.1f} s, "
                      f"first plan {sc['plan_s'] * 1000:.0f} ms)")
                print(f"  idle tick:                  p50 {sc['idle_tick_p50_ms']:.2f} ms   p99 {sc['idle_tick_p99_ms']:.2f} ms")
                print(f"  all due: {sc['fired']} fired in {sc['fire_all_s']:.2f} s; slot -> slot recorded "
                      f"p50 {sc['skew_p50_ms']:.0f} ms   p99 {sc['skew_p99_ms']:.0f} ms")
        finally:
            ws.close()


if __name__ == "__main__":
    main()
