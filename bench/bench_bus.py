"""Event bus benchmark: durable messages/second and publish-to-consume latency.

    .venv/bin/python bench/bench_bus.py [--count 2000] [--latency 300] [--no-kafka] [--postgres]

For each backend, in the same run:
- throughput: a publisher thread publishes ``count`` messages (one durable commit/flush each)
  while a consumer (its own bus instance, same process) polls and acks each one;
- latency: ``latency`` messages published one at a time, 20 ms apart; time from just before
  ``publish`` to ``poll`` returning it (p50/p99);
- the raw baseline with the same durability: a SQLite insert loop (WAL, synchronous=FULL,
  one commit per insert); confluent-kafka produce+flush per message, then consume with a
  synchronous commit per message, on the same Tansu broker.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._stats import pct  # noqa: E402

from studio.bus import EventBus, open_bus  # noqa: E402



def bus_throughput(url: str, count: int) -> float:
    topic, group = f"bench-{uuid.uuid4().hex[:6]}", "bench"
    with open_bus(url) as pub_bus, open_bus(url) as sub_bus:
        consumer = sub_bus.consumer(group, [topic])
        consumer.poll(3)  # join (Kafka) / create cursors before the clock starts
        start = time.perf_counter()

        def publish() -> None:
            for i in range(count):
                pub_bus.publish(topic, b"x" * 200, key=f"k{i % 16}")

        thread = threading.Thread(target=publish)
        thread.start()
        got = 0
        while got < count:
            for msg in consumer.poll_many(64, 5):
                consumer.ack(msg)
                got += 1
        thread.join()
        elapsed = time.perf_counter() - start
        consumer.close()
    return count / elapsed


def bus_latency(url: str, count: int) -> list[float]:
    topic, group = f"lat-{uuid.uuid4().hex[:6]}", "lat"
    samples: list[float] = []
    with open_bus(url) as pub_bus, open_bus(url) as sub_bus:
        consumer = sub_bus.consumer(group, [topic])
        consumer.poll(3)
        sent: dict[bytes, float] = {}
        done = threading.Event()

        def receive() -> None:
            while len(samples) < count:
                msg = consumer.poll(5)
                if msg is None:
                    break
                samples.append(time.perf_counter() - sent[msg.value])
                consumer.ack(msg)
            done.set()

        thread = threading.Thread(target=receive)
        thread.start()
        for i in range(count):
            value = str(i).encode()
            sent[value] = time.perf_counter()
            pub_bus.publish(topic, value)
            time.sleep(0.02)  # below every backend's capacity: measures wakeup, not queueing
        thread.join()
        consumer.close()
    return samples


def raw_sqlite(path: Path, count: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, topic TEXT, key TEXT, value BLOB)")
    start = time.perf_counter()
    for i in range(count):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (topic, key, value) VALUES (?, ?, ?)", ("bench", f"k{i % 16}", b"x" * 200))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return count / elapsed


def raw_kafka(bootstrap: str, count: int) -> tuple[float, float]:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"raw-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 6, -1)])[topic].result()
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 0})
    start = time.perf_counter()
    for i in range(count):
        producer.produce(topic, b"x" * 200, key=f"k{i % 16}".encode())
        producer.flush()
    produce_rate = count / (time.perf_counter() - start)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "raw", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "session.timeout.ms": 2000, "heartbeat.interval.ms": 600})
    consumer.subscribe([topic])
    got, start = 0, 0.0
    while got < count:
        for msg in consumer.consume(64, 5):
            if msg.error():
                continue
            start = start or time.perf_counter()  # from the first message: joining is not consuming
            consumer.commit(msg, asynchronous=False)
            got += 1
    consume_rate = count / (time.perf_counter() - start)
    consumer.close()
    return produce_rate, consume_rate


def report(name: str, rate: float, lat: list[float], baseline_name: str, baseline: float) -> None:
    print(f"{name:<12} publish+consume+ack {rate:8.0f} msg/s | {baseline_name} {baseline:8.0f} /s | "
          f"ratio {rate / baseline:5.2f} | latency p50 {pct(lat, 50) * 1000:6.2f} ms  p99 {pct(lat, 99) * 1000:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--latency", type=int, default=200)
    parser.add_argument("--no-kafka", action="store_true")
    parser.add_argument("--postgres", action="store_true", help="also the table bus on 127.0.0.1:5432/test")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        raw = raw_sqlite(Path(tmp) / "raw.db", args.count)
        url = f"sqlite:///{tmp}/bus.db"
        report("sqlite bus", bus_throughput(url, args.count), bus_latency(url, args.latency),
               "raw sqlite insert+commit", raw)

    if args.postgres:
        import sqlalchemy as sa

        schema = f"bench_{uuid.uuid4().hex[:6]}"
        base = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        url = f"{base}?schema={schema}"
        rate, lat = bus_throughput(url, args.count), bus_latency(url, args.latency)
        report("postgres bus", rate, lat, "raw sqlite insert+commit", raw)
        engine = sa.create_engine(base)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()

    if not args.no_kafka:
        from studio.bus import start_tansu

        with start_tansu() as broker:
            url = f"{broker.url}?session_timeout_ms=2000&consumer.fetch.wait.max.ms=5"
            rate, lat = bus_throughput(url, args.count), bus_latency(url, args.latency)
            produce, consume = raw_kafka(broker.bootstrap, args.count)
            report("kafka bus", rate, lat, "raw produce+flush", produce)
            print(f"{'':<12} raw confluent-kafka consume+sync commit {consume:8.0f} msg/s (Tansu, memory storage)")


if __name__ == "__main__":
    main()


_ = EventBus  # the contract the benchmark exercises
