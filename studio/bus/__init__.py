"""The event bus: publish messages to topics; consume them in groups, at least once.

One small contract, chosen by URL::

    from studio.bus import open_bus
    bus = open_bus("sqlite:///.studio/bus.db")        # embedded default (SQLite, WAL)
    bus = open_bus("postgresql://user@host/db")       # table bus on PostgreSQL (SKIP LOCKED)
    bus = open_bus("kafka://host1:9092,host2:9092")   # Apache Kafka (confluent-kafka)

    bus.publish("studio.events", b'{"type": ...}', key="sales.ingested", headers={"ce-id": "..."})
    with bus.consumer("router", ["studio.events"]) as consumer:
        while (msg := consumer.poll(timeout=1.0)) is not None:
            handle(msg)              # record the outcome first ...
            consumer.ack(msg)        # ... then ack: a crash in between means a redelivery

Public API (equal to ``__all__``)::

    open_bus(url: str) -> EventBus
    register_bus(scheme: str, factory: Callable[[str], EventBus]) -> None
    class EventBus:
        url: str
        publish(topic, value: bytes, key: str | None = None, headers: Mapping[str, str] | None = None) -> None
        publish_many(messages: Iterable[Outgoing]) -> None
        consumer(group: str, topics: Iterable[str], *, start: "earliest" | "latest" = "earliest") -> Consumer
        close() -> None                       # also a context manager
    class Consumer:
        poll(timeout: float) -> Message | None
        poll_many(max_messages: int, timeout: float) -> list[Message]
        ack(message: Message) -> None
        wakeup() -> None                      # from another thread: make poll return None
        close() -> None                       # also a context manager
    Message(topic, value, key, headers, partition, offset, timestamp, deliveries); .id
    Outgoing(topic, value, key=None, headers=None)
    start_tansu(port=None, data_dir=None) -> TansuBroker(.url, .bootstrap, .stop())   # tests, demos

Guarantees, on every backend (tests/bus/test_contract.py checks each on each):

- ``publish`` returns only once the message is durable (committed; flushed with acks=all).
- Every consumer group sees every message; members of one group share them.
- Messages with the same key reach a group in publish order.
- At least once: a message not acked is delivered again to its group after the consumer that
  holds it closes or dies (or the bus restarts). Acks may come in any order.
- A new group starts at the oldest message (``start="earliest"``) or at the end ("latest").

Backends and their URL options (query string):

- ``sqlite:///path/bus.db`` and ``postgresql[+psycopg]://...`` — the table bus (``_sql.py``):
  ``visibility_timeout`` (s, default 30: a dead consumer's claim lapses after it; live ones
  renew), ``poll_interval`` (s, default 0.05: how fast other processes' publishes are seen;
  same-process publishes wake consumers at once), ``table_prefix`` (default ``bus_``),
  ``schema`` (PostgreSQL). A key is handled one message at a time per group: the next
  message of a key is delivered once the previous one is acked.
- ``kafka://host:port[,host:port]`` — Kafka (``_kafka.py``). One bus topic = one Kafka topic,
  created on first use with ``partitions`` (default 6) and ``replication_factor`` (default:
  broker's). The message key is the Kafka key (UTF-8), hashed with murmur2 like the Java
  client, so one key stays on one partition and in order; headers are Kafka headers.
  Producer: acks=all, idempotence when the broker supports it, flush on publish. Consumer:
  group.id = group, no auto commit; ``ack`` commits the lowest contiguous acked offset of the
  partition, so out-of-order acks never skip an unacked message. Options: ``partitions``,
  ``replication_factor``, ``session_timeout_ms`` (10000), ``max_poll_interval_ms``
  (3900000), ``idempotence`` (auto|true|false), and ``kafka.<librdkafka key>=value``
  (both clients), ``consumer.<key>=value``, ``producer.<key>=value``.

Exceptions::

    StudioError
     ├── BusError        the bus could not do it (unreachable, publish not confirmed, closed)
     └── ConfigError
          └── UnknownBus  no bus registered for the URL's scheme
    ValueError            a bad topic, group, key, header or value (names what is wrong)
"""

from __future__ import annotations

from studio.bus._base import BusError, Consumer, EventBus, Message, Outgoing, UnknownBus
from studio.bus._registry import open_bus, register_bus
from studio.bus._tansu import TansuBroker, start_tansu


def _open_table(url: str) -> EventBus:
    from studio.bus._sql import TableBus

    return TableBus(url)


def _open_kafka(url: str) -> EventBus:
    from studio.bus._kafka import KafkaBus  # confluent-kafka loads only when asked for

    return KafkaBus(url)


register_bus("sqlite", _open_table)
register_bus("postgresql", _open_table)
register_bus("kafka", _open_kafka)

__all__ = [
    "BusError",
    "Consumer",
    "EventBus",
    "Message",
    "Outgoing",
    "TansuBroker",
    "UnknownBus",
    "open_bus",
    "register_bus",
    "start_tansu",
]
