"""The table bus: messages in a database, for SQLite (the embedded default) and PostgreSQL.

Three tables (SQLAlchemy Core, names prefixed by ``table_prefix``):

    messages(id, topic, key, value, headers, published_at)   the log, append-only
    cursors(grp, topic, last_id)                             how far each group has taken the log
    pending(grp, msg_id, topic, key, claimed_by, claimed_until, deliveries)
                                                             a group's messages not yet acked

A consumer first *materializes* new log rows into its group's ``pending`` (moving the cursor),
then *claims* pending rows: it sets ``claimed_by``/``claimed_until`` (now + visibility timeout),
and a background thread renews that lease while the consumer lives. ``ack`` deletes the row;
``close`` releases the claims; a crashed consumer's claims expire. Only the oldest pending
message of each key is claimable, so a key is handled one message at a time, in order, per group.

Why ids can serve as a cursor: a reader must never see id 6 committed before id 5. SQLite
serializes writers (``BEGIN IMMEDIATE``), and on PostgreSQL ``publish`` takes a transaction
advisory lock so ids commit in order. Claims on PostgreSQL use ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
import weakref
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

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

_OPTIONS: dict[str, type] = {
    "visibility_timeout": float,
    "poll_interval": float,
    "table_prefix": str,
    "schema": str,
}


class _Wakeups:
    """In-process wakeups: every bus opened on the same database in this process shares one,
    so a publish wakes local consumers at once instead of at their next poll tick."""

    _all: weakref.WeakValueDictionary[str, _Wakeups] = weakref.WeakValueDictionary()
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.generation = 0

    @classmethod
    def for_database(cls, key: str) -> _Wakeups:
        with cls._lock:
            found = cls._all.get(key)
            if found is None:
                found = cls._all[key] = cls()
            return found

    def notify(self) -> None:
        with self.cond:
            self.generation += 1
            self.cond.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        with self.cond:
            if self.generation == seen:
                self.cond.wait(timeout)


def _tables(prefix: str, schema: str | None) -> tuple[sa.MetaData, sa.Table, sa.Table, sa.Table]:
    md = sa.MetaData(schema=schema)
    msg_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PK = rowid on SQLite
    messages = sa.Table(
        f"{prefix}messages", md,
        sa.Column("id", msg_id, sa.Identity(), primary_key=True),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("key", sa.Text, nullable=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("headers", sa.Text, nullable=True),
        sa.Column("published_at", sa.Float, nullable=False),
        sa.Index(f"{prefix}messages_topic_id", "topic", "id"),
        sqlite_autoincrement=True,  # never reuse an id, even after pruning
    )
    cursors = sa.Table(
        f"{prefix}cursors", md,
        sa.Column("grp", sa.String(255), primary_key=True),
        sa.Column("topic", sa.String(249), primary_key=True),
        sa.Column("last_id", sa.BigInteger, nullable=False),
    )
    pending = sa.Table(
        f"{prefix}pending", md,
        sa.Column("grp", sa.String(255), primary_key=True),
        sa.Column("msg_id", sa.BigInteger, primary_key=True),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("key", sa.Text, nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_until", sa.Float, nullable=True),
        sa.Column("deliveries", sa.Integer, nullable=False, server_default="0"),
        sa.Index(f"{prefix}pending_key", "grp", "topic", "key", "msg_id"),
        sa.Index(f"{prefix}pending_claimer", "grp", "claimed_by"),
    )
    return md, messages, cursors, pending


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    path = url.database
    if not path or path == ":memory:":
        raise ConfigError("The embedded bus needs a file: sqlite:///path/to/bus.db")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    engine = sa.create_engine(
        url, connect_args={"timeout": defaults.SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
    )

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, and v.v.
        cur.execute("PRAGMA synchronous=FULL")  # a commit survives power loss, not only a crash
        cur.execute(f"PRAGMA busy_timeout={int(defaults.SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads, then
        # writes, fails with SQLITE_BUSY when another writer committed in between.
        opts = conn.get_execution_options()
        # Claims and lease renewals need not survive power loss (a lost claim only means a
        # redelivery), so they skip the fsync; the next FULL commit syncs the WAL up to it.
        conn.exec_driver_sql(f"PRAGMA synchronous={'NORMAL' if opts.get('lazy_commit') else 'FULL'}")
        conn.exec_driver_sql("BEGIN" if opts.get("read_only") else "BEGIN IMMEDIATE")

    return engine


class TableBus(EventBus):
    """The table bus. Open it with ``open_bus("sqlite:///path/bus.db")`` or a PostgreSQL URL.

    URL options (query string): ``visibility_timeout`` (seconds a claim lasts without renewal),
    ``poll_interval`` (seconds between looks for work published by other processes),
    ``table_prefix`` (default "bus_"), ``schema`` (PostgreSQL schema, created if missing).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        db_url, opts = split_options(url, _OPTIONS)
        sa_url = sa.make_url(db_url)
        self.visibility_timeout = float(opts.get("visibility_timeout", defaults.VISIBILITY_TIMEOUT_SECONDS))  # type: ignore[arg-type]
        self.poll_interval = float(opts.get("poll_interval", defaults.TABLE_POLL_SECONDS))  # type: ignore[arg-type]
        if self.visibility_timeout <= 0 or self.poll_interval <= 0:
            raise ConfigError(f"Bus options visibility_timeout and poll_interval must be > 0 in {url!r}")
        prefix = str(opts.get("table_prefix", "bus_"))
        schema = opts.get("schema")
        if sa_url.get_backend_name() == "sqlite":
            self.engine = _sqlite_engine(sa_url)
            self.is_pg = False
            if schema:
                raise ConfigError("Bus option 'schema' is for PostgreSQL; use table_prefix on SQLite")
        elif sa_url.get_backend_name() == "postgresql":
            if sa_url.drivername == "postgresql":
                sa_url = sa_url.set(drivername="postgresql+psycopg")
            self.engine = sa.create_engine(sa_url, pool_pre_ping=True)
            self.is_pg = True
        else:
            raise ConfigError(f"The table bus runs on sqlite or postgresql, not {sa_url.get_backend_name()!r}")
        self.metadata, self.messages, self.cursors, self.pending = _tables(prefix, schema)  # type: ignore[arg-type]
        self._lock_key = zlib.crc32(f"{schema}.{prefix}".encode())
        self._wakeups = _Wakeups.for_database(f"{sa_url.render_as_string(hide_password=True)}|{schema}|{prefix}")
        self._consumers: weakref.WeakSet[TableConsumer] = weakref.WeakSet()
        self._closed = False
        try:
            self._create_tables(schema)  # type: ignore[arg-type]
        except sa.exc.OperationalError as exc:
            self.engine.dispose()
            raise BusError(f"Cannot open the event bus at {sa_url.render_as_string(hide_password=True)}: {exc.orig}") from exc

    def _create_tables(self, schema: str | None) -> None:
        with self.engine.begin() as conn:
            if self.is_pg:  # several processes starting at once must not race on CREATE
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": self._lock_key})
                if schema:
                    conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            self.metadata.create_all(conn)

    def publish_many(self, messages: Iterable[Outgoing]) -> None:
        if self._closed:
            raise BusError("publish on a closed bus")
        now = time.time()
        rows = []
        for item in messages:
            item = Outgoing(*item)
            check_outgoing(item)
            rows.append({
                "topic": item.topic, "key": item.key, "value": bytes(item.value),
                "headers": json.dumps(dict(item.headers)) if item.headers else None, "published_at": now,
            })
        if not rows:
            return
        with self.engine.begin() as conn:
            if self.is_pg:  # ids must commit in id order; see the module docstring
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": self._lock_key})
            conn.execute(self.messages.insert(), rows)
        self._wakeups.notify()

    def consumer(self, group: str, topics: Iterable[str], *, start: Start = "earliest") -> TableConsumer:
        if self._closed:
            raise BusError("consumer on a closed bus")
        if start not in ("earliest", "latest"):
            raise ValueError(f"start must be 'earliest' or 'latest', not {start!r}")
        found = TableConsumer(self, group, check_subscription(group, topics), start)
        self._consumers.add(found)
        return found

    def close(self) -> None:
        if self._closed:
            return
        for consumer in list(self._consumers):
            consumer.close()
        self._closed = True
        self.engine.dispose()

    @contextmanager
    def lazy_begin(self) -> Iterator[sa.Connection]:
        """A write transaction whose commit may be lost on power failure (claims, leases)."""
        with self.engine.connect().execution_options(lazy_commit=True) as conn, conn.begin():
            if self.is_pg:
                conn.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))
            yield conn

    def _insert_ignore(self, table: sa.Table) -> Any:
        mod = pg_dialect if self.is_pg else sqlite_dialect
        return mod.insert(table).on_conflict_do_nothing()


class TableConsumer(Consumer):
    def __init__(self, bus: TableBus, group: str, topics: list[str], start: Start) -> None:
        self.bus, self.group, self.topics, self.start = bus, group, topics, start
        self.member = uuid.uuid4().hex
        self._held: set[int] = set()
        self._lock = threading.Lock()
        self._seen_max = -1  # highest log id already materialized (a hint that saves writes)
        self._cursors_ready = False
        self._woken = False
        self._closed = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    # -- polling ---------------------------------------------------------------------------
    def poll(self, timeout: float) -> Message | None:
        found = self.poll_many(1, timeout)
        return found[0] if found else None

    def poll_many(self, max_messages: int, timeout: float) -> list[Message]:
        deadline = time.monotonic() + max(timeout, 0.0)
        wakeups = self.bus._wakeups
        while True:
            if self._closed:
                raise BusError("poll on a closed consumer")
            seen = wakeups.generation
            found = self._try_claim(max_messages)
            if found:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._woken:
                self._woken = False
                return []
            wakeups.wait(seen, min(self.bus.poll_interval, remaining))

    def _eligible(self, now: float) -> sa.Select[Any]:
        p, q = self.bus.pending, self.bus.pending.alias("earlier")
        earlier = sa.select(q.c.msg_id).where(
            q.c.grp == p.c.grp, q.c.topic == p.c.topic, q.c.key == p.c.key, q.c.msg_id < p.c.msg_id
        )
        return sa.select(p.c.msg_id).where(
            p.c.grp == self.group,
            p.c.topic.in_(self.topics),
            sa.or_(p.c.claimed_until.is_(None), p.c.claimed_until < now),
            sa.or_(p.c.key.is_(None), ~sa.exists(earlier)),
        ).order_by(p.c.msg_id)

    def _try_claim(self, limit: int) -> list[Message]:
        bus, now = self.bus, time.time()
        m = bus.messages
        # Cheap read first: most idle polls find nothing and must not take the write lock.
        with bus.engine.connect().execution_options(read_only=True) as conn, conn.begin():
            max_id = conn.execute(sa.select(sa.func.max(m.c.id))).scalar() or 0
            claimable = conn.execute(self._eligible(now).limit(1)).first() is not None
        if not claimable and self._cursors_ready and max_id <= self._seen_max:
            return []
        with bus.lazy_begin() as conn:
            self._materialize(conn, max_id)
            query = self._eligible(now).limit(limit)
            if bus.is_pg:
                query = query.with_for_update(skip_locked=True, of=bus.pending)
            ids = list(conn.execute(query).scalars())
            if not ids:
                return []
            p = bus.pending
            conn.execute(
                p.update()
                .where(p.c.grp == self.group, p.c.msg_id.in_(ids))
                .values(claimed_by=self.member, claimed_until=now + bus.visibility_timeout,
                        deliveries=p.c.deliveries + 1)
            )
            rows = conn.execute(
                sa.select(m.c.id, m.c.topic, m.c.key, m.c.value, m.c.headers, m.c.published_at, p.c.deliveries)
                .join(p, sa.and_(p.c.msg_id == m.c.id, p.c.grp == self.group))
                .where(m.c.id.in_(ids)).order_by(m.c.id)
            ).all()
        with self._lock:
            self._held.update(ids)
        self._ensure_renewer()
        return [
            Message(topic=r.topic, value=bytes(r.value), key=r.key, headers=json.loads(r.headers) if r.headers else {},
                    partition=0, offset=r.id, timestamp=r.published_at, deliveries=r.deliveries)
            for r in rows
        ]

    def _materialize(self, conn: sa.Connection, max_id: int) -> None:
        """Copy log rows past the group's cursor into its pending rows; move the cursor."""
        bus = self.bus
        c, m, p = bus.cursors, bus.messages, bus.pending
        if not self._cursors_ready:
            for topic in self.topics:
                start = 0
                if self.start == "latest":
                    start = conn.execute(sa.select(sa.func.max(m.c.id)).where(m.c.topic == topic)).scalar() or 0
                conn.execute(bus._insert_ignore(c).values(grp=self.group, topic=topic, last_id=start))
            self._cursors_ready = True
        query = sa.select(c.c.topic, c.c.last_id).where(c.c.grp == self.group, c.c.topic.in_(self.topics))
        if bus.is_pg:  # one materializer per group and topic at a time
            query = query.order_by(c.c.topic).with_for_update(of=c)
        for topic, last_id in conn.execute(query).all():
            new = (
                sa.select(m.c.id).where(m.c.topic == topic, m.c.id > last_id).order_by(m.c.id)
                .limit(defaults.MATERIALIZE_BATCH).subquery()
            )
            upto = conn.execute(sa.select(sa.func.max(new.c.id))).scalar()
            if upto is None:
                continue
            conn.execute(
                p.insert().from_select(
                    ["grp", "msg_id", "topic", "key"],
                    sa.select(sa.literal(self.group), m.c.id, m.c.topic, m.c.key)
                    .where(m.c.topic == topic, m.c.id > last_id, m.c.id <= upto),
                )
            )
            conn.execute(c.update().where(c.c.grp == self.group, c.c.topic == topic).values(last_id=upto))
        self._seen_max = max(self._seen_max, max_id)

    # -- leases ----------------------------------------------------------------------------
    def _ensure_renewer(self) -> None:
        if self._renewer is None:
            self._renewer = threading.Thread(target=self._renew_loop, name=f"bus-lease-{self.group}", daemon=True)
            self._renewer.start()

    def _renew_loop(self) -> None:
        period = self.bus.visibility_timeout / 3  # three renewals per lease: one slow beat is not fatal
        p = self.bus.pending
        while not self._stop.wait(period):
            with self._lock:
                held = bool(self._held)
            if not held:
                continue
            try:
                with self.bus.lazy_begin() as conn:
                    conn.execute(
                        p.update().where(p.c.grp == self.group, p.c.claimed_by == self.member)
                        .values(claimed_until=time.time() + self.bus.visibility_timeout)
                    )
            except sa.exc.SQLAlchemyError:
                continue  # the database is away; the lease may lapse and the message be redelivered

    # -- acks ------------------------------------------------------------------------------
    def ack(self, message: Message) -> None:
        self._ack_ids([message.offset])

    def ack_many(self, messages: Sequence[Message]) -> None:
        """Ack several messages in one transaction."""
        self._ack_ids([msg.offset for msg in messages])

    def _ack_ids(self, ids: list[int]) -> None:
        if self._closed:
            raise BusError("ack on a closed consumer")
        p = self.bus.pending
        with self.bus.engine.begin() as conn:
            conn.execute(p.delete().where(p.c.grp == self.group, p.c.msg_id.in_(ids)))
        with self._lock:
            self._held.difference_update(ids)
        self.bus._wakeups.notify()  # the next message of the same key is now claimable

    def wakeup(self) -> None:
        self._woken = True
        self.bus._wakeups.notify()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        p = self.bus.pending
        try:
            with self.bus.engine.begin() as conn:
                conn.execute(
                    p.update().where(p.c.grp == self.group, p.c.claimed_by == self.member)
                    .values(claimed_by=None, claimed_until=None)
                )
        except sa.exc.SQLAlchemyError:
            pass  # unreachable database: the claims lapse after the visibility timeout instead
        self.bus._wakeups.notify()
