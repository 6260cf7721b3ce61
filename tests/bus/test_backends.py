"""What is particular to one backend, and the registry."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import studio.bus
from studio.bus import EventBus, Outgoing, UnknownBus, open_bus, register_bus
from studio.bus._kafka import _Outstanding
from studio.bus._sql import TableBus
from studio.errors import ConfigError


def test_public_api_is_all() -> None:
    public = {name for name in dir(studio.bus) if not name.startswith("_")}
    assert set(studio.bus.__all__) <= public
    for name in studio.bus.__all__:
        assert getattr(studio.bus, name).__doc__, f"{name} has no docstring"


def test_unknown_scheme_names_the_known_ones() -> None:
    with pytest.raises(UnknownBus, match=r"No event bus for scheme 'redis'; known: sqlite, postgresql, kafka"):
        open_bus("redis://localhost")


def test_register_bus_plugs_in_a_scheme(tmp_path: Path) -> None:
    opened: list[str] = []

    def factory(url: str) -> EventBus:
        opened.append(url)
        return TableBus(f"sqlite:///{tmp_path}/x.db")

    register_bus("memtest", factory)
    try:
        open_bus("memtest://anything").close()
        assert opened == ["memtest://anything"]
    finally:
        from studio.bus import _registry

        _registry._factories.pop("memtest")


def test_bad_option_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="visibility_timeout"):
        open_bus(f"sqlite:///{tmp_path}/b.db?visibility_timeout=soon")
    with pytest.raises(ConfigError, match="needs a file"):
        open_bus("sqlite://")


# -- Kafka: out-of-order acks commit only the contiguous prefix -------------------------------

def test_outstanding_commits_lowest_contiguous_offset() -> None:
    part = _Outstanding()
    for offset in (10, 11, 12, 13):
        part.delivered(offset)
    assert part.ack(12) is None  # 10 and 11 still out: commit nothing
    assert part.ack(13) is None
    assert part.ack(10) == 11  # 10 done: next to read is 11
    assert part.ack(99) is None  # not ours (say, before a rebalance): ignored
    assert part.ack(11) == 14  # 11, 12, 13 all done


# -- the embedded bus: processes, threads, latency, leases ------------------------------------

_PUBLISHER = """
import sys
from studio.bus import open_bus, Outgoing
bus = open_bus(sys.argv[1])
for i in range(int(sys.argv[3])):
    bus.publish("multi", f"{sys.argv[2]}:{i}".encode(), key=sys.argv[2])
bus.close()
"""


def test_several_processes_publish_into_one_sqlite_bus(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bus.db"
    with open_bus(url) as bus, bus.consumer("g", ["multi"]) as consumer:
        procs = [subprocess.Popen([sys.executable, "-c", _PUBLISHER, url, f"p{n}", "40"]) for n in range(3)]
        got: list[str] = []
        deadline = time.monotonic() + 60
        while len(got) < 120 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None:
                got.append(msg.value.decode())
                consumer.ack(msg)
        assert all(p.wait(30) == 0 for p in procs)
    assert len(got) == 120
    for n in range(3):
        assert [v for v in got if v.startswith(f"p{n}:")] == [f"p{n}:{i}" for i in range(40)]


def test_same_process_publish_wakes_a_waiting_consumer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bus.db?poll_interval=5"  # only the in-process wakeup can be fast
    with open_bus(url) as bus, open_bus(url) as other:
        consumer = bus.consumer("g", ["fast"])
        consumer.poll(0)
        threading.Timer(0.2, lambda: other.publish("fast", b"x")).start()
        start = time.monotonic()
        msg = consumer.poll(10)
        assert msg is not None
        assert time.monotonic() - start < 1.0


def test_live_consumer_keeps_its_claim_past_the_visibility_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bus.db?visibility_timeout=0.3"
    with open_bus(url) as bus:
        bus.publish("slow", b"long job")
        holder, other = bus.consumer("g", ["slow"]), bus.consumer("g", ["slow"])
        msg = holder.poll(5)
        assert msg is not None
        assert other.poll(1.0) is None  # three visibility timeouts: the lease was renewed
        holder.ack(msg)
        assert other.poll(0.3) is None


def test_deliveries_count_redeliveries(tmp_path: Path) -> None:
    with open_bus(f"sqlite:///{tmp_path}/bus.db") as bus:
        bus.publish("t", b"x")
        for expected in (1, 2):
            with bus.consumer("g", ["t"]) as consumer:
                msg = consumer.poll(5)
                assert msg is not None and msg.deliveries == expected


def test_a_key_is_handled_one_message_at_a_time(tmp_path: Path) -> None:
    with open_bus(f"sqlite:///{tmp_path}/bus.db") as bus:
        bus.publish_many([Outgoing("t", b"1", "k"), Outgoing("t", b"2", "k"), Outgoing("t", b"3", "other")])
        with bus.consumer("g", ["t"]) as a, bus.consumer("g", ["t"]) as b:
            batch = a.poll_many(10, 2)
            assert sorted(m.value for m in batch) == [b"1", b"3"]
            assert b.poll(0.2) is None  # "2" waits until "1" is acked
            a.ack_many(batch)
            nxt = b.poll(2)
            assert nxt is not None and nxt.value == b"2"
            b.ack(nxt)


def test_tansu_starts_and_stops(tansu: object) -> None:
    from studio.bus import start_tansu

    with start_tansu() as broker:
        assert broker.url.startswith("kafka://127.0.0.1:")
        with open_bus(broker.url) as bus:
            bus.publish("ping", b"x")
    assert broker.process.poll() is not None
