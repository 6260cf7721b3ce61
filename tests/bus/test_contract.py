"""The EventBus contract, run against every backend (see conftest.bus_url)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from studio.bus import BusError, Consumer, EventBus, Message, Outgoing
from tests.bus.conftest import consume_and_crash

Names = Callable[[str], str]


def drain(consumer: Consumer, count: int, timeout: float = 20.0, ack: bool = True) -> list[Message]:
    """Poll until ``count`` messages came (acking each unless told not to) or time runs out."""
    got: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None:
            got.append(msg)
            if ack:
                consumer.ack(msg)
    return got


def test_publish_consume_roundtrip(bus: EventBus, names: Names) -> None:
    topic = names("orders")
    bus.publish(topic, b"\x00payload\xff", key="order-1", headers={"ce-type": "order.created"})
    with bus.consumer(names("g"), [topic]) as consumer:
        msg = consumer.poll(20)
        assert msg is not None
        assert (msg.topic, msg.value, msg.key, dict(msg.headers)) == (
            topic, b"\x00payload\xff", "order-1", {"ce-type": "order.created"})
        assert msg.timestamp > time.time() - 60
        assert msg.deliveries >= 1
        consumer.ack(msg)


def test_poll_returns_none_when_nothing_comes(bus: EventBus, names: Names) -> None:
    with bus.consumer(names("g"), [names("quiet")]) as consumer:
        start = time.monotonic()
        assert consumer.poll(0.3) is None
        assert time.monotonic() - start < 5


def test_order_per_key(bus: EventBus, names: Names) -> None:
    topic = names("ordered")
    bus.publish_many(Outgoing(topic, f"{key}:{i}".encode(), key) for i in range(15) for key in ("a", "b", "c"))
    with bus.consumer(names("g"), [topic]) as consumer:
        got = drain(consumer, 45)
    assert len(got) == 45
    for key in ("a", "b", "c"):
        assert [m.value.decode() for m in got if m.key == key] == [f"{key}:{i}" for i in range(15)]


def test_unacked_message_is_redelivered_after_close(bus: EventBus, names: Names) -> None:
    topic, group = names("work"), names("g")
    bus.publish(topic, b"job-1", key="k")
    with bus.consumer(group, [topic]) as first:
        msg = first.poll(20)
        assert msg is not None and msg.value == b"job-1"
    with bus.consumer(group, [topic]) as second:  # same group: takes over the unacked message
        again = second.poll(20)
        assert again is not None and again.value == b"job-1"
        second.ack(again)


def test_unacked_message_is_redelivered_after_a_crash(bus: EventBus, names: Names) -> None:
    topic, group = names("work"), names("g")
    bus.publish(topic, b"job-1")
    assert consume_and_crash(bus.url, group, topic) == "job-1"
    with bus.consumer(group, [topic]) as survivor:
        again = survivor.poll(20)
        assert again is not None and again.value == b"job-1"
        survivor.ack(again)


def test_acked_messages_are_not_redelivered(bus: EventBus, names: Names) -> None:
    topic, group = names("work"), names("g")
    bus.publish_many([Outgoing(topic, b"one", "k"), Outgoing(topic, b"two", "k")])
    with bus.consumer(group, [topic]) as first:
        got = drain(first, 1)
        assert [m.value for m in got] == [b"one"]
    with bus.consumer(group, [topic]) as second:
        assert [m.value for m in drain(second, 1)] == [b"two"]
        assert second.poll(0.5) is None


def test_each_group_sees_every_message(bus: EventBus, names: Names) -> None:
    topic = names("fanout")
    bus.publish_many(Outgoing(topic, str(i).encode(), f"k{i % 4}") for i in range(12))
    for group in (names("router"), names("catalog")):
        with bus.consumer(group, [topic]) as consumer:
            assert sorted(int(m.value) for m in drain(consumer, 12)) == list(range(12))


def test_no_loss_across_a_restart_of_the_bus(make_bus: Callable[[], EventBus], names: Names) -> None:
    topic, group = names("durable"), names("g")
    bus = make_bus()
    bus.publish_many(Outgoing(topic, str(i).encode(), "k") for i in range(6))
    with bus.consumer(group, [topic]) as consumer:
        assert [int(m.value) for m in drain(consumer, 3)] == [0, 1, 2]
        held = consumer.poll(20)  # taken, never acked: the restart must give it back
        assert held is not None and held.value == b"3"
    bus.close()
    reopened = make_bus()
    reopened.publish(topic, b"6", key="k")
    with reopened.consumer(group, [topic]) as consumer:
        assert [int(m.value) for m in drain(consumer, 4)] == [3, 4, 5, 6]


def test_out_of_order_acks_lose_nothing(bus: EventBus, names: Names) -> None:
    topic, group = names("acks"), names("g")
    bus.publish_many(Outgoing(topic, str(i).encode(), f"k{i}") for i in range(8))
    with bus.consumer(group, [topic]) as consumer:
        got = drain(consumer, 8, ack=False)
        assert len(got) == 8
        for msg in reversed(got[1:]):  # everything but the first delivered, newest first
            consumer.ack(msg)
    with bus.consumer(group, [topic]) as consumer:
        again = drain(consumer, 1)
        assert got[0].value in {m.value for m in again}


def test_consumers_of_one_group_share_the_work(bus: EventBus, names: Names) -> None:
    topic, group = names("shared"), names("g")
    bus.publish_many(Outgoing(topic, str(i).encode(), f"k{i % 6}") for i in range(30))
    seen: list[int] = []
    lock = threading.Lock()
    done = threading.Event()

    def work(consumer: Consumer) -> None:
        while not done.is_set():
            msg = consumer.poll(0.2)
            if msg is not None:
                with lock:
                    seen.append(int(msg.value))
                consumer.ack(msg)

    consumers = [bus.consumer(group, [topic]) for _ in range(2)]
    threads = [threading.Thread(target=work, args=(c,)) for c in consumers]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(set(seen)) < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    done.set()
    for t in threads:
        t.join()
    for c in consumers:
        c.close()
    assert set(seen) == set(range(30))


def test_latest_start_skips_history(bus: EventBus, names: Names) -> None:
    topic = names("late")
    bus.publish(topic, b"old")
    with bus.consumer(names("g"), [topic], start="latest") as consumer:
        consumer.poll(1.5)  # joins the group (Kafka) and fixes its starting point
        bus.publish(topic, b"new")
        assert [m.value for m in drain(consumer, 1)] == [b"new"]


def test_wakeup_interrupts_poll(bus: EventBus, names: Names) -> None:
    with bus.consumer(names("g"), [names("idle")]) as consumer:
        threading.Timer(0.3, consumer.wakeup).start()
        start = time.monotonic()
        assert consumer.poll(10) is None
        assert time.monotonic() - start < 3


def test_closed_consumer_and_bus_refuse_work(make_bus: Callable[[], EventBus], names: Names) -> None:
    bus = make_bus()
    consumer = bus.consumer(names("g"), [names("t")])
    consumer.close()
    consumer.close()  # idempotent
    with pytest.raises(BusError):
        consumer.poll(0)
    bus.close()
    bus.close()
    with pytest.raises(BusError):
        bus.publish(names("t"), b"x")


@pytest.mark.parametrize(
    ("topic", "value", "key", "headers", "words"),
    [
        ("bad topic", b"x", None, None, "invalid topic"),
        ("", b"x", None, None, "invalid topic"),
        ("ok", "text", None, None, "must be bytes"),
        ("ok", b"x", 5, None, "key"),
        ("ok", b"x", None, {"h": 1}, "header"),
    ],
)
def test_bad_messages_are_refused_with_the_reason(
    bus: EventBus, topic: str, value: object, key: object, headers: object, words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        bus.publish(topic, value, key, headers)  # type: ignore[arg-type]
