"""SQLAlchemy models of the catalog. Schema changes go through Alembic (``migrations/``).

Times are timezone-aware UTC. JSON columns hold parameters, manifests and event data.
Indexes exist for the queries the CLI, API and dashboard make (list newest first, filter by
status/service/type/correlation id), so no page scans whole tables.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String,
    Text, TypeDecorator, UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, Any: JSON}


# BigInteger autoincrement works as INTEGER PRIMARY KEY on SQLite only through this variant.
BigId = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator):
    """DateTime that is stored as UTC and always comes back timezone-aware (SQLite forgets zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=timezone.utc)
            value = value.astimezone(timezone.utc)
            if dialect.name == "sqlite":   # stored naive, always UTC, so text comparison orders correctly
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


Time = UTCDateTime


def _origin_of_row(context: Any) -> str | None:
    """Column default: the chain part of the row's correlation id (ORM and bulk inserts alike)."""
    from studio.events.correlation import origin

    value = context.get_current_parameters().get("correlation_id")
    return origin(value) if value else None


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Time(), default=utcnow)


class Service(Base):
    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version_hash: Mapped[str] = mapped_column(String(64), default="")
    problems: Mapped[list[Any]] = mapped_column(JSON, default=list)   # load problems, shown to users
    # Set at run time (dashboard switch, CLI); None means "as the manifest says".
    active_override: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    present: Mapped[bool] = mapped_column(Boolean, default=True)      # False once its folder is gone
    updated_at: Mapped[datetime] = mapped_column(Time(), default=utcnow, index=True)


class ServiceVersion(Base):
    __tablename__ = "service_versions"
    __table_args__ = (UniqueConstraint("service_id", "hash"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    hash: Mapped[str] = mapped_column(String(64))
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    files: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)    # name -> sha256
    created_at: Mapped[datetime] = mapped_column(Time(), default=utcnow)


class Execution(Base):
    __tablename__ = "executions"
    __table_args__ = (
        Index("ix_executions_queue", "status", "priority", "created_at"),
        Index("ix_executions_service_created", "service_id", "created_at"),
        Index("ix_executions_created", "created_at"),
        Index("ix_executions_finished", "finished_at"),
        Index("ix_executions_status_finished", "status", "finished_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    project: Mapped[str] = mapped_column(String(100))
    service: Mapped[str] = mapped_column(String(100))
    version_hash: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    trigger: Mapped[str] = mapped_column(String(16), default="manual")   # manual|form|event|scheduled|retry
    trigger_event_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    correlation_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # The chain this execution belongs to (the id without its hop); lineage looks chains up by it.
    correlation_origin: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True,
                                                           default=_origin_of_row)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    retries: Mapped[int] = mapped_column(Integer, default=0)             # retries allowed after a failure
    retry_of: Mapped[str | None] = mapped_column(String(32), nullable=True)
    not_before: Mapped[datetime | None] = mapped_column(Time(), nullable=True)  # delayed retry
    timeout: Mapped[float] = mapped_column(Float, default=3600.0)
    created_at: Mapped[datetime] = mapped_column(Time(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(Time(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(Time(), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(Time(), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    output: Mapped[str | None] = mapped_column(Text, nullable=True)     # artefact folder of the run


class Step(Base):
    __tablename__ = "steps"
    __table_args__ = (UniqueConstraint("execution_id", "position"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    started_at: Mapped[datetime | None] = mapped_column(Time(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(Time(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    failed_cell: Mapped[int | None] = mapped_column(Integer, nullable=True)
    traceback: Mapped[str | None] = mapped_column(Text, nullable=True)
    output_notebook: Mapped[str | None] = mapped_column(Text, nullable=True)
    output_html: Mapped[str | None] = mapped_column(Text, nullable=True)


class LogRecord(Base):
    __tablename__ = "logs"
    __table_args__ = (Index("ix_logs_execution", "execution_id", "id"), Index("ix_logs_time", "time"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(100), index=True)
    step: Mapped[str | None] = mapped_column(String(255), nullable=True)
    time: Mapped[datetime] = mapped_column(Time(), default=utcnow)
    level: Mapped[str] = mapped_column(String(10), default="INFO", index=True)
    stream: Mapped[str] = mapped_column(String(10), default="context")   # context|stdout|stderr|studio
    message: Mapped[str] = mapped_column(Text)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class StateValue(Base):
    __tablename__ = "state"
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(Time(), default=utcnow)
    execution_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class StateHistory(Base):
    __tablename__ = "state_history"
    __table_args__ = (Index("ix_state_history_key", "service_id", "key", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    time: Mapped[datetime] = mapped_column(Time(), default=utcnow)
    execution_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class Secret(Base):
    """One encrypted secret. ``owner`` is '' (platform), a project name, or 'project/service'."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("scope", "owner", "name"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(255), default="")
    name: Mapped[str] = mapped_column(String(255))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(Time(), default=utcnow)


# Events ----------------------------------------------------------------------------


class Event(Base):
    """Every CloudEvent the studio accepted, stored before it is acknowledged to its sender."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source", "event_id"),
        Index("ix_events_type_seq", "type", "seq"),
        Index("ix_events_received", "received_at"),
    )
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    time: Mapped[datetime] = mapped_column(Time(), default=utcnow)
    received_at: Mapped[datetime] = mapped_column(Time(), default=utcnow)
    datacontenttype: Mapped[str] = mapped_column(String(100), default="application/json")
    data: Mapped[Any] = mapped_column(JSON, nullable=True)
    correlation_id: Mapped[str] = mapped_column(String(64), index=True)
    correlation_origin: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True,
                                                           default=_origin_of_row)
    execution_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)  # producer
    hops: Mapped[int] = mapped_column(Integer, default=0)
    routed: Mapped[bool] = mapped_column(Boolean, default=False)


class EventType(Base):
    __tablename__ = "event_types"
    type: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen: Mapped[datetime] = mapped_column(Time(), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(Time(), default=utcnow)
    schema: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    samples: Mapped[list[Any]] = mapped_column(JSON, default=list)
    producers: Mapped[list[Any]] = mapped_column(JSON, default=list)   # services whose runs emitted it


class Link(Base):
    """Event type -> service. From a manifest's trigger_events or linked late at run time."""

    __tablename__ = "links"
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)
    origin: Mapped[str] = mapped_column(String(16), default="late")    # manifest|late
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)       # False: unlinked late
    created_at: Mapped[datetime] = mapped_column(Time(), default=utcnow)


class Mapping(Base):
    __tablename__ = "mappings"
    __table_args__ = (UniqueConstraint("source_type", "target_type"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_type: Mapped[str] = mapped_column(String(255), index=True)
    target_type: Mapped[str] = mapped_column(String(255))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)   # old -> new
    strategy: Mapped[str] = mapped_column(String(16), default="mapped")  # mapped|all
    created_at: Mapped[datetime] = mapped_column(Time(), default=utcnow)


class Routing(Base):
    """What the router did with an event for one service (or for none: dead letter)."""

    __tablename__ = "routings"
    __table_args__ = (Index("ix_routings_event", "event_seq"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_seq: Mapped[int] = mapped_column(BigId)
    service_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))   # started|rejected|inactive|mapped|dead_letter|cut
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    execution_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    time: Mapped[datetime] = mapped_column(Time(), default=utcnow)


class ScheduleSlot(Base):
    """A cron slot that fired. The primary key makes a slot fire once across restarts and processes."""

    __tablename__ = "schedule_slots"
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    slot: Mapped[datetime] = mapped_column(Time(), primary_key=True)
    fired_at: Mapped[datetime] = mapped_column(Time(), default=utcnow)
    event_seq: Mapped[int | None] = mapped_column(BigId, nullable=True)


class WebhookToken(Base):
    __tablename__ = "webhook_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(Time(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(Time(), nullable=True)


class SavedRun(Base):
    __tablename__ = "saved_runs"
    __table_args__ = (UniqueConstraint("service_id", "name"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(Time(), default=utcnow)


class Worker(Base):
    """A running studio process (one per role set) and its heartbeat."""

    __tablename__ = "workers"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    roles: Mapped[str] = mapped_column(String(100))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(Time(), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(Time(), default=utcnow)
