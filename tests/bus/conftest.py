"""Fixtures: one ``bus_url`` per backend, so tests/bus/test_contract.py runs against each.

- sqlite: a file under tmp_path.
- postgresql: a fresh schema per test in database ``test`` on 127.0.0.1:5432 (skipped, with
  the reason, if the server does not answer).
- kafka: one Tansu broker for the session (skipped if the binary is absent); tests use
  unique topic and group names, since the broker is shared.

Short timeouts in the URLs keep redelivery tests fast: a 1 s visibility timeout on the table
buses, a 2 s session timeout on Kafka (Tansu waits half of it on every group join).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator

import pytest

from studio.bus import EventBus, open_bus
from studio.bus._tansu import TansuBroker

from tests.conftest import PG_URL, missing





@pytest.fixture(
    params=[
        pytest.param("sqlite"),
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("kafka", marks=pytest.mark.kafka),
    ]
)
def bus_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    kind = request.param
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/bus.db?visibility_timeout=1"
    elif kind == "postgresql":
        reason = request.getfixturevalue("pg_reason")
        if reason:
            missing(reason)
        schema = f"bus_test_{uuid.uuid4().hex[:10]}"
        yield f"{PG_URL}?schema={schema}&visibility_timeout=1"
        import sqlalchemy as sa

        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
    else:
        broker: TansuBroker = request.getfixturevalue("tansu")
        yield f"{broker.url}?session_timeout_ms=2000&partitions=3&consumer.fetch.wait.max.ms=10"


@pytest.fixture
def make_bus(bus_url: str) -> Iterator[Callable[[], EventBus]]:
    """Open a (new) bus instance on the test's URL; all are closed at the end."""
    opened: list[EventBus] = []

    def make() -> EventBus:
        bus = open_bus(bus_url)
        opened.append(bus)
        return bus

    yield make
    for bus in opened:
        bus.close()


@pytest.fixture
def bus(make_bus: Callable[[], EventBus]) -> EventBus:
    return make_bus()


@pytest.fixture
def names() -> Callable[[str], str]:
    """Unique topic/group names: the Kafka broker is shared by the whole session."""
    tag = uuid.uuid4().hex[:8]
    return lambda name: f"{name}-{tag}"


# -- chaos helpers --------------------------------------------------------------------------

_CRASH = """
import os, sys
from studio.bus import open_bus
bus = open_bus(sys.argv[1])
consumer = bus.consumer(sys.argv[2], [sys.argv[3]])
msg = consumer.poll(30)
print(msg.value.decode() if msg else "", flush=True)
os._exit(9)   # die holding the message: no ack, no close
"""


def consume_and_crash(url: str, group: str, topic: str) -> str:
    """In a child process: take one message from ``topic`` for ``group``, then die without ack."""
    done = subprocess.run([sys.executable, "-c", _CRASH, url, group, topic], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 9, done.stderr
    return done.stdout.strip()
