"""Scale-out throughput on Kafka (Tansu) + PostgreSQL, with role processes as deployed:

1. runs/s of a trivial ``.py``-step service with 1 and with 3 executor processes
   (``studio up --role executor``, default concurrency 2 each);
2. events/s through the router process (``--role router``) next to raw confluent-kafka
   produce/consume on the same broker, in the same run (ratios; machines are noisy).

    python bench/bench_scaleout.py [--runs 150] [--events 400]

Runs: the executors are up and idle; the bench queues ``--runs`` executions (runs.start: trigger
event, catalog rows, doorbell on studio.executions) and waits for all to finish. Reported:
end to end (first start -> last finish) and the executors' drain rate (first started_at ->
last finished_at in the catalog), which excludes how fast this one process can queue.

Events: events of a type nobody is linked to (each is routed to a dead letter: the router's
full path — claim the event, look up links and mappings, record the outcome — with no run
started) are accepted (stored + announced on studio.events) while the router runs; the
router's rate is events / (last routing time - first accept). Raw Kafka: the same number of
messages of the same size produced (flush per message, as publish does, and batched) and
consumed by a fresh group with commits per message, as the bus does.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from studio import runs  # noqa: E402
from studio.bus import start_tansu  # noqa: E402
from studio.catalog.models import Event, Execution, Routing, Worker, utcnow  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def make_database() -> tuple[str, str]:
    import psycopg

    name = f"studio_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Roles:
    def __init__(self, home: Path, env: dict[str, str], logs: Path) -> None:
        self.home, self.env, self.logs = home, env, logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *roles: str) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "studio", "--home", str(self.home), "up"]
        for role in roles:
            cmd += ["--role", role]
        out = open(self.logs / f"{'-'.join(roles)}-{len(self.procs)}.log", "ab")
        proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs = []


def wait_live(ws: object, role: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with ws.catalog.session() as s:  # type: ignore[attr-defined]
            rows = s.scalars(select(Worker)).all()
        live = [r for r in rows if role in r.roles.split(",") and (utcnow() - r.last_seen).total_seconds() < 15]
        if len(live) >= count:
            return
        time.sleep(0.2)
    raise SystemExit(f"{count} {role} process(es) did not come up in {timeout} s")


def bench_runs(ws: object, roles: Roles, executors: int, count: int) -> dict[str, float]:
    for _ in range(executors):
        roles.start("executor")
    wait_live(ws, "executor", executors)
    time.sleep(3)   # let the Kafka group settle (Tansu joins take half a session timeout)
    svc = ws.service("bench/trivial")  # type: ignore[attr-defined]
    t0 = time.monotonic()
    ids = [runs.start(ws, svc, {}).id for _ in range(count)]  # type: ignore[arg-type]
    queued = time.monotonic() - t0
    while True:
        with ws.catalog.session() as s:  # type: ignore[attr-defined]
            left = s.scalar(select(func.count()).where(Execution.id.in_(ids),
                                                       Execution.status.in_(("pending", "running"))))
        if not left:
            break
        time.sleep(0.1)
    total = time.monotonic() - t0
    with ws.catalog.session() as s:  # type: ignore[attr-defined]
        first, last, done = s.execute(select(func.min(Execution.started_at), func.max(Execution.finished_at),
                                             func.count()).where(Execution.id.in_(ids),
                                                                 Execution.status == "completed")).one()
    roles.stop_all()
    drain = (last - first).total_seconds()
    return {"executors": executors, "runs": count, "completed": done, "queue_s": queued, "total_s": total,
            "end_to_end_per_s": count / total, "drain_per_s": count / drain}


def bench_router(ws: object, roles: Roles, count: int) -> dict[str, float]:
    from studio.events.cloudevent import new_event
    from studio.events.ingest import accept

    roles.start("router")
    wait_live(ws, "router", 1)
    time.sleep(3)
    tag = uuid.uuid4().hex[:6]
    t0 = time.monotonic()
    start_wall = utcnow()
    seqs = [accept(ws, new_event(f"bench.nobody.{tag}", data={"n": i}, source="bench"))[0].seq  # type: ignore[arg-type]
            for i in range(count)]
    accepted = time.monotonic() - t0
    while True:
        with ws.catalog.session() as s:  # type: ignore[attr-defined]
            left = s.scalar(select(func.count()).where(Event.seq.in_(seqs), Event.routed.is_(False)))
        if not left:
            break
        time.sleep(0.1)
    total = time.monotonic() - t0
    with ws.catalog.session() as s:  # type: ignore[attr-defined]
        last = s.scalar(select(func.max(Routing.time)).where(Routing.event_seq.in_(seqs)))
    roles.stop_all()
    routed_span = (last - start_wall).total_seconds()
    return {"events": count, "accept_s": accepted, "total_s": total, "accept_per_s": count / accepted,
            "routed_per_s": count / max(routed_span, total * 0.5)}


def bench_raw_kafka(bootstrap: str, count: int, size: int = 16) -> dict[str, float]:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"bench-raw-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 6)])[topic].result()
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0, "log_level": 0})
    value = b"x" * size
    t0 = time.monotonic()
    for i in range(count):
        producer.produce(topic, value, key=str(i).encode())
        producer.flush()
    each = time.monotonic() - t0
    t0 = time.monotonic()
    for i in range(count):
        producer.produce(topic, value, key=str(i).encode())
    producer.flush()
    batched = time.monotonic() - t0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"raw-{topic}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 100, "log_level": 0})
    consumer.subscribe([topic])
    got, t0, started = 0, time.monotonic(), None
    while got < 2 * count and time.monotonic() - t0 < 120:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        started = started or time.monotonic()
        consumer.commit(message=msg, asynchronous=False)
        got += 1
    consumed = time.monotonic() - (started or t0)
    consumer.close()
    return {"produce_flush_each_per_s": count / each, "produce_batched_per_s": count / batched,
            "consume_commit_each_per_s": got / consumed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=150)
    parser.add_argument("--events", type=int, default=400)
    args = parser.parse_args()

    from studio.workspace import Workspace, init_workspace

    broker = start_tansu()
    db_name, db_url = make_database()
    tmp = tempfile.TemporaryDirectory(prefix="bench-scaleout-")
    root = Path(tmp.name)
    (root / "logs").mkdir()
    project = root / "bench" / "trivial"
    project.mkdir(parents=True)
    (project / "step.py").write_text("print('ran')\n")
    env = {**os.environ, "STUDIO_DATABASE_URL": db_url, "STUDIO_BUS_URL": broker.url + "?session_timeout_ms=3000",
           "STUDIO_ARTEFACTS": str(root / "artefacts"), "PYTHONPATH": str(ROOT)}
    env.pop("STUDIO_HOME", None)
    os.environ.update({k: v for k, v in env.items() if k.startswith("STUDIO_")})
    home = init_workspace(root / "home", with_examples=False)
    ws = Workspace.open(home)
    ws.add_project("bench", root / "bench")
    ws.sync()
    roles = Roles(home, env, root / "logs")
    try:
        print(f"broker {broker.url}, catalog {db_url}, {os.cpu_count()} CPU(s)")
        one = bench_runs(ws, roles, 1, args.runs)
        three = bench_runs(ws, roles, 3, args.runs)
        for r in (one, three):
            print(f"runs  {r['executors']} executor(s) x 2: {r['completed']}/{r['runs']} completed; "
                  f"end to end {r['end_to_end_per_s']:.1f} runs/s ({r['total_s']:.1f} s, queueing took "
                  f"{r['queue_s']:.1f} s); executors drained {r['drain_per_s']:.1f} runs/s")
        print(f"      3 vs 1 executors: end to end x{three['end_to_end_per_s'] / one['end_to_end_per_s']:.2f}, "
              f"drain x{three['drain_per_s'] / one['drain_per_s']:.2f}")
        router = bench_router(ws, roles, args.events)
        raw = bench_raw_kafka(broker.bootstrap, args.events)
        print(f"events through the router: accepted {router['accept_per_s']:.0f}/s (store + publish), "
              f"routed {router['routed_per_s']:.0f}/s ({router['events']} events, {router['total_s']:.1f} s)")
        print(f"raw confluent-kafka, same broker: produce {raw['produce_flush_each_per_s']:.0f}/s flushed each, "
              f"{raw['produce_batched_per_s']:.0f}/s batched; consume+commit each "
              f"{raw['consume_commit_each_per_s']:.0f}/s")
        print(f"ratios: router/raw consume {router['routed_per_s'] / raw['consume_commit_each_per_s']:.3f}; "
              f"accept/raw produce(flush each) {router['accept_per_s'] / raw['produce_flush_each_per_s']:.3f}")
    finally:
        roles.stop_all()
        ws.close()
        drop_database(db_name)
        broker.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
