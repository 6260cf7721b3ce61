"""The contract every event bus implements: ``EventBus``, ``Consumer``, ``Message``."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, NamedTuple

from studio.errors import ConfigError, StudioError

Start = Literal["earliest", "latest"]

# Kafka's own rule for topic names, applied to every backend so a topic that works on the
# embedded bus also works after scaling out.
_TOPIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


class BusError(StudioError):
    """The bus could not do what was asked (broker unreachable, publish not confirmed, ...)."""

    status_code = 503


class UnknownBus(ConfigError):
    """No bus is registered for the scheme of the URL given to ``open_bus``."""


@dataclass(frozen=True, slots=True)
class Message:
    """One message as a consumer receives it.

    ``partition``/``offset`` locate it in its topic: the Kafka partition and offset, or
    partition 0 and the row id for the table buses. ``deliveries`` counts how often it was
    handed out to the group (1 on first delivery; always 1 on Kafka, which does not know).
    ``timestamp`` is the publish time in seconds since the epoch.
    """

    topic: str
    value: bytes
    key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    partition: int = 0
    offset: int = 0
    timestamp: float = 0.0
    deliveries: int = 1

    @property
    def id(self) -> str:
        """``topic/partition/offset``: unique within one bus."""
        return f"{self.topic}/{self.partition}/{self.offset}"


class Outgoing(NamedTuple):
    """One message to publish with ``EventBus.publish_many``."""

    topic: str
    value: bytes
    key: str | None = None
    headers: Mapping[str, str] | None = None


def check_outgoing(item: Outgoing) -> None:
    """Raise ``ValueError`` naming what is wrong with a message before it is published."""
    check_topic(item.topic)
    if not isinstance(item.value, bytes | bytearray | memoryview):
        raise ValueError(f"message value for topic {item.topic!r} must be bytes, not {type(item.value).__name__}")
    if item.key is not None and not isinstance(item.key, str):
        raise ValueError(f"message key for topic {item.topic!r} must be a str or None")
    for name, value in (item.headers or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValueError(f"header {name!r} for topic {item.topic!r}: names and values must be str")


def check_topic(topic: str) -> None:
    if not isinstance(topic, str) or not _TOPIC_RE.match(topic) or topic in (".", ".."):
        raise ValueError(f"invalid topic {topic!r}: use 1-249 letters, digits, '.', '_' or '-'")


def check_subscription(group: str, topics: Iterable[str]) -> list[str]:
    if not isinstance(group, str) or not group or len(group) > 255:
        raise ValueError(f"invalid consumer group {group!r}: a non-empty name of at most 255 characters")
    names = list(dict.fromkeys(topics))
    if not names:
        raise ValueError("a consumer needs at least one topic")
    for topic in names:
        check_topic(topic)
    return names


class Consumer(ABC):
    """One member of a consumer group. Use it from one thread (``ack`` and ``wakeup`` may be
    called from others). Delivery is at-least-once: a message that was not acked is delivered
    again to the group once this consumer closes or dies."""

    @abstractmethod
    def poll(self, timeout: float) -> Message | None:
        """Wait up to ``timeout`` seconds for the next message; None if none came (or ``wakeup``)."""

    def poll_many(self, max_messages: int, timeout: float) -> list[Message]:
        """Wait up to ``timeout`` seconds for at least one message; return up to ``max_messages``."""
        first = self.poll(timeout)
        if first is None:
            return []
        batch = [first]
        while len(batch) < max_messages:
            nxt = self.poll(0)
            if nxt is None:
                break
            batch.append(nxt)
        return batch

    @abstractmethod
    def ack(self, message: Message) -> None:
        """Record that ``message`` is handled, durably, so the group never gets it again.

        Call it only after the outcome is recorded. Acks may come in any order: a message
        acked before an earlier unacked one stays safe (the earlier one is still redelivered).
        """

    @abstractmethod
    def wakeup(self) -> None:
        """Make a ``poll`` blocked in another thread return None soon (for shutdown)."""

    @abstractmethod
    def close(self) -> None:
        """Leave the group. Unacked messages go back to the group. Closing twice is fine."""

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class EventBus(ABC):
    """Topics of messages, published durably and consumed by groups at least once."""

    url: str

    def publish(
        self, topic: str, value: bytes, key: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        """Publish one message; once this returns the message is durable (committed/flushed).

        Messages with the same ``key`` reach every group in publish order.
        """
        self.publish_many([Outgoing(topic, value, key, headers)])

    @abstractmethod
    def publish_many(self, messages: Iterable[Outgoing]) -> None:
        """Publish several messages with one durability wait; all are durable once it returns."""

    @abstractmethod
    def consumer(self, group: str, topics: Iterable[str], *, start: Start = "earliest") -> Consumer:
        """A new member of consumer ``group`` reading ``topics``.

        Every group sees every message; members of one group share them. ``start`` applies
        only to a group that has never consumed a topic: from the oldest kept message
        ("earliest") or only messages published from now on ("latest").
        """

    @abstractmethod
    def close(self) -> None:
        """Close the consumers opened through this bus and release connections. Idempotent."""

    def __enter__(self) -> EventBus:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"
