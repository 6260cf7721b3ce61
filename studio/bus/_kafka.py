"""The Kafka bus (confluent-kafka). Topics, keys and partitions: see the package docstring.

At-least-once with out-of-order acks: Kafka commits one offset per partition ("everything
before this is done"), so ``ack`` must not commit past a message still being worked on.
``_Outstanding`` keeps, per partition, the offsets handed out and not yet acked; an ack
commits only up to the lowest one still unacked.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Consumer as _KConsumer
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from studio.bus import _defaults as defaults
from studio.bus._base import (
    BusError,
    Consumer,
    EventBus,
    Message,
    Outgoing,
    Start,
    check_outgoing,
    check_subscription,
)
from studio.bus._registry import split_options
from studio.errors import ConfigError

log = logging.getLogger(__name__)

_OPTIONS: dict[str, type] = {
    "partitions": int,
    "replication_factor": int,
    "session_timeout_ms": int,
    "max_poll_interval_ms": int,
    "idempotence": str,
}
# Errors meaning "this broker cannot do idempotent produce": fall back to plain acks=all.
_NO_IDEMPOTENCE = {
    KafkaError.UNSUPPORTED_VERSION, KafkaError._UNSUPPORTED_FEATURE,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED, KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
}


class _Outstanding:
    """Offsets of one partition handed out and not yet acked, in delivery (= offset) order."""

    def __init__(self) -> None:
        self.offsets: deque[int] = deque()
        self.acked: set[int] = set()

    def delivered(self, offset: int) -> None:
        self.offsets.append(offset)

    def ack(self, offset: int) -> int | None:
        """Mark ``offset`` done; return the offset to commit (next to read) if it moved, else None."""
        if offset not in self.acked and offset in self.offsets:
            self.acked.add(offset)
        last = None
        while self.offsets and self.offsets[0] in self.acked:
            last = self.offsets.popleft()
            self.acked.discard(last)
        return None if last is None else last + 1


class KafkaBus(EventBus):
    def __init__(self, url: str) -> None:
        self.url = url
        base, opts = split_options(url, _OPTIONS)
        hosts = base.split("://", 1)[1].split("?", 1)[0].strip("/")
        if not hosts:
            raise ConfigError(f"Kafka bus URL {url!r} names no broker: kafka://host:port[,host:port]")
        self.partitions = int(opts.get("partitions", defaults.KAFKA_PARTITIONS))  # type: ignore[call-overload]
        self.replication = int(opts.get("replication_factor", defaults.KAFKA_REPLICATION_FACTOR))  # type: ignore[call-overload]
        self.session_ms = int(opts.get("session_timeout_ms", defaults.KAFKA_SESSION_TIMEOUT_MS))  # type: ignore[call-overload]
        self.max_poll_ms = int(opts.get("max_poll_interval_ms", defaults.KAFKA_MAX_POLL_INTERVAL_MS))  # type: ignore[call-overload]
        self.idempotence = str(opts.get("idempotence", "auto"))
        if self.idempotence not in ("auto", "true", "false"):
            raise ConfigError(f"Bus option 'idempotence' must be auto, true or false, not {self.idempotence!r}")
        self.extra: dict[str, str] = {}
        self.only: dict[str, dict[str, str]] = {"consumer": {}, "producer": {}}
        if "?" in base:
            from urllib.parse import parse_qsl

            for key, value in parse_qsl(base.split("?", 1)[1]):
                prefix, _, name = key.partition(".")
                if prefix == "kafka" and name:
                    self.extra[name] = value
                elif prefix in self.only and name:
                    self.only[prefix][name] = value
                else:
                    raise ConfigError(f"Unknown Kafka bus option {key!r} in {url!r}")
        self.common = {"bootstrap.servers": hosts, **self.extra}
        self._admin = AdminClient({"bootstrap.servers": hosts})
        self._lock = threading.Lock()
        self._known_topics: set[str] = set()
        self._producer: Producer | None = None
        self._idempotent = self.idempotence != "false"
        self._consumers: list[KafkaConsumer] = []
        self._closed = False

    # -- topics ----------------------------------------------------------------------------
    def ensure_topics(self, topics: Iterable[str]) -> None:
        """Create the topics that do not exist yet (``partitions`` each); existing ones are kept."""
        missing = [t for t in topics if t not in self._known_topics]
        if not missing:
            return
        futures = self._admin.create_topics(
            [NewTopic(t, num_partitions=self.partitions, replication_factor=self.replication) for t in missing],
            operation_timeout=10, request_timeout=15,
        )
        for topic, future in futures.items():
            try:
                future.result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise BusError(f"Cannot create Kafka topic {topic!r}: {exc.args[0].str()}") from exc
            self._known_topics.add(topic)

    # -- publishing ------------------------------------------------------------------------
    def _get_producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer({
                **self.common,
                "acks": "all",
                "enable.idempotence": self._idempotent,
                "partitioner": "murmur2_random",  # the Java client's: same key, same partition
                "linger.ms": 0,  # publish waits for the flush anyway; batching only adds latency
                **self.only["producer"],
            })
        return self._producer

    def publish_many(self, messages: Iterable[Outgoing]) -> None:
        if self._closed:
            raise BusError("publish on a closed bus")
        items = [Outgoing(*m) for m in messages]
        for item in items:
            check_outgoing(item)
        if not items:
            return
        self.ensure_topics({i.topic for i in items})
        with self._lock:
            try:
                self._produce(items)
            except _Unsupported:
                log.warning("Kafka broker refuses idempotent produce; publishing with acks=all only")
                self._producer = None
                self._idempotent = False
                self._produce(items)

    def _produce(self, items: list[Outgoing]) -> None:
        producer = self._get_producer()
        errors: list[KafkaError] = []

        def delivered(err: KafkaError | None, _msg: Any) -> None:
            if err is not None:
                errors.append(err)

        for item in items:
            producer.produce(
                item.topic, bytes(item.value), key=None if item.key is None else item.key.encode(),
                headers=[(k, v.encode()) for k, v in (item.headers or {}).items()] or None,
                on_delivery=delivered,
            )
        left = producer.flush(defaults.KAFKA_PUBLISH_TIMEOUT_SECONDS)
        if errors:
            if self.idempotence == "auto" and self._idempotent and any(e.code() in _NO_IDEMPOTENCE for e in errors):
                raise _Unsupported()
            raise BusError(f"Kafka did not accept {len(errors)} message(s): {errors[0].str()}")
        if left:
            raise BusError(f"Kafka did not confirm {left} message(s) within {defaults.KAFKA_PUBLISH_TIMEOUT_SECONDS} s")

    # -- consuming -------------------------------------------------------------------------
    def consumer(self, group: str, topics: Iterable[str], *, start: Start = "earliest") -> KafkaConsumer:
        if self._closed:
            raise BusError("consumer on a closed bus")
        if start not in ("earliest", "latest"):
            raise ValueError(f"start must be 'earliest' or 'latest', not {start!r}")
        names = check_subscription(group, topics)
        self.ensure_topics(names)
        found = KafkaConsumer(self, group, names, start)
        self._consumers.append(found)
        return found

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for consumer in self._consumers:
            consumer.close()
        if self._producer is not None:
            self._producer.flush(defaults.KAFKA_PUBLISH_TIMEOUT_SECONDS)
            self._producer = None


class _Unsupported(Exception):
    pass


class KafkaConsumer(Consumer):
    def __init__(self, bus: KafkaBus, group: str, topics: list[str], start: Start) -> None:
        self.group, self.topics = group, topics
        self._lock = threading.Lock()
        self._outstanding: dict[tuple[str, int], _Outstanding] = {}
        self._woken = False
        self._closed = False
        self._consumer = _KConsumer({
            **bus.common,
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": start,
            "session.timeout.ms": bus.session_ms,
            "heartbeat.interval.ms": max(100, bus.session_ms // 3),
            "max.poll.interval.ms": max(bus.max_poll_ms, bus.session_ms),
            "fetch.wait.max.ms": 100,  # an idle fetch returns within this; bounds latency on Tansu
            **bus.only["consumer"],
        })
        self._consumer.subscribe(topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                                 on_lost=self._on_revoke)

    def _on_assign(self, _c: Any, partitions: list[TopicPartition]) -> None:
        with self._lock:  # reading restarts at the committed offset: forget what was handed out
            for tp in partitions:
                self._outstanding.pop((tp.topic, tp.partition), None)

    def _on_revoke(self, _c: Any, partitions: list[TopicPartition]) -> None:
        with self._lock:  # acks for these now belong to the new owner's redelivery
            for tp in partitions:
                self._outstanding.pop((tp.topic, tp.partition), None)

    def poll(self, timeout: float) -> Message | None:
        found = self.poll_many(1, timeout)
        return found[0] if found else None

    def poll_many(self, max_messages: int, timeout: float) -> list[Message]:
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            if self._closed:
                raise BusError("poll on a closed consumer")
            remaining = deadline - time.monotonic()
            if self._woken:
                self._woken = False
                return []
            # short slices so wakeup() is noticed; librdkafka returns at once when data is there
            raw = self._consumer.consume(max_messages, min(max(remaining, 0.0), 0.1))
            found = [m for m in (self._convert(r) for r in raw) if m is not None]
            if found or remaining <= 0:
                return found

    def _convert(self, raw: Any) -> Message | None:
        err = raw.error()
        if err is not None:
            if err.fatal():
                raise BusError(f"Kafka consumer failed: {err.str()}")
            log.debug("kafka consumer: %s", err.str())
            return None
        topic, partition, offset = raw.topic(), raw.partition(), raw.offset()
        with self._lock:
            self._outstanding.setdefault((topic, partition), _Outstanding()).delivered(offset)
        key = raw.key()
        _kind, stamp = raw.timestamp()
        return Message(
            topic=topic, value=raw.value() or b"", key=None if key is None else key.decode(),
            headers={k: (v or b"").decode() for k, v in (raw.headers() or [])},
            partition=partition, offset=offset, timestamp=stamp / 1000 if stamp > 0 else 0.0,
        )

    def ack(self, message: Message) -> None:
        if self._closed:
            raise BusError("ack on a closed consumer")
        with self._lock:
            tracker = self._outstanding.get((message.topic, message.partition))
            upto = tracker.ack(message.offset) if tracker is not None else None
        if upto is None:
            return  # an earlier message is still unacked, or the partition moved to another member
        try:
            self._consumer.commit(offsets=[TopicPartition(message.topic, message.partition, upto)],
                                  asynchronous=False)
        except KafkaException as exc:
            code = exc.args[0].code()
            if code in (KafkaError.ILLEGAL_GENERATION, KafkaError.UNKNOWN_MEMBER_ID,
                        KafkaError.REBALANCE_IN_PROGRESS, KafkaError._ASSIGNMENT_LOST):
                log.info("ack of %s not committed (group rebalanced); it will be redelivered", message.id)
                return
            raise BusError(f"Kafka commit of {message.id} failed: {exc.args[0].str()}") from exc

    def wakeup(self) -> None:
        self._woken = True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._consumer.close()
