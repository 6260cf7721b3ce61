"""The dashboard's SQL: small, read-only, aggregated in the database, one page at a time.

Nothing here loads a whole table. Lists take ``limit``/``offset`` and fetch one row more than
a page so the pager knows whether a next page exists without a ``COUNT(*)`` over millions of
rows. Per-day aggregates group by a day expression that works on SQLite and PostgreSQL
(:func:`day_of`), over an indexed time range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Date, String, cast, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from studio.catalog import Catalog
from studio.catalog.models import Event, EventType, Execution, LogRecord, Project, Routing, Service, Step
from studio.events.correlation import chain_filter

PAGE_SIZE = 50
DAYS = 7
STATUSES = ("completed", "failed", "pending", "running")
# "form" is a manual run by a business user; a retry repeats what an event (or a run) started.
TRIGGER_GROUPS = {"manual": "manual", "form": "manual", "event": "event", "scheduled": "scheduled",
                  "retry": "retry"}
TRIGGER_KINDS = ("event", "scheduled", "manual", "retry")


@dataclass
class Page:
    """One page of a list: its rows, and whether more follow."""

    rows: list[Any]
    offset: int
    has_more: bool


def page_of(rows: list[Any], offset: int, limit: int) -> Page:
    return Page(rows[:limit], offset, len(rows) > limit)


# Dialect helpers ----------------------------------------------------------------------

def day_of(column: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp column, as SQL both databases group by.

    SQLite stores UTC timestamps as ISO text, so ``date()`` cuts the day; PostgreSQL holds
    ``timestamptz``, which is converted to UTC before truncation (not the session's zone).
    """
    if dialect == "postgresql":
        return cast(func.date_trunc("day", func.timezone("UTC", column)), Date)
    return func.date(column)


def seconds_between(start: Any, end: Any, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _as_day(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


def last_days(days: int = DAYS, now: datetime | None = None) -> tuple[datetime, list[str]]:
    """The start of the window (UTC midnight ``days - 1`` days ago) and its days as ISO text."""
    today = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).date()
    first = today - timedelta(days=days - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=timezone.utc)
    return start, [(first + timedelta(days=i)).isoformat() for i in range(days)]


# Overview -----------------------------------------------------------------------------

EXECUTION_COLUMNS = (Execution.id, Execution.project, Execution.service, Execution.status, Execution.trigger,
                     Execution.created_at, Execution.started_at, Execution.finished_at, Execution.correlation_id)


def _execution_row(row: Any) -> dict[str, Any]:
    started, finished = row.started_at, row.finished_at
    return {"id": row.id, "service": f"{row.project}/{row.service}", "status": row.status, "trigger": row.trigger,
            "created_at": row.created_at, "started_at": started, "finished_at": finished,
            "correlation_id": row.correlation_id,
            "duration": (finished - started).total_seconds() if started and finished else None}


def recent_executions(catalog: Catalog, limit: int = 18, offset: int = 0, *, service_id: str | None = None,
                      status: str | None = None) -> Page:
    """Newest first (by creation), optionally of one service or one status."""
    query = select(*EXECUTION_COLUMNS).order_by(Execution.created_at.desc()).limit(limit + 1).offset(offset)
    if service_id:
        query = query.where(Execution.service_id == service_id)
    if status:
        query = query.where(Execution.status == status)
    with catalog.session() as s:
        return page_of([_execution_row(r) for r in s.execute(query)], offset, limit)


def recent_failures(catalog: Catalog, limit: int = 18) -> list[dict[str, Any]]:
    """The latest failed executions (by finish time: the (status, finished_at) index)."""
    query = (select(*EXECUTION_COLUMNS).where(Execution.status == "failed")
             .order_by(Execution.finished_at.desc()).limit(limit))
    with catalog.session() as s:
        return [_execution_row(r) for r in s.execute(query)]


@dataclass
class Activity:
    """Executions of the last days, aggregated: per day by status and by trigger, and timings."""

    days: list[str]
    by_status: dict[str, dict[str, int]]       # status -> day -> count
    by_trigger: dict[str, dict[str, int]]      # trigger kind -> day -> count
    avg_seconds: dict[str, float | None]       # day -> mean duration of finished runs
    status_totals: dict[str, int]
    trigger_totals: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.status_totals.values())


def activity(catalog: Catalog, days: int = DAYS, now: datetime | None = None) -> Activity:
    """One GROUP BY (day, status, trigger) over the window; at most days*6*5 rows come back."""
    start, day_list = last_days(days, now)
    dialect = catalog.dialect
    day = day_of(Execution.created_at, dialect).label("day")
    took = seconds_between(Execution.started_at, Execution.finished_at, dialect)
    query = (select(day, Execution.status, Execution.trigger, func.count().label("n"),
                    func.sum(took).label("secs"), func.count(Execution.finished_at).label("done"))
             .where(Execution.created_at >= start).group_by(day, Execution.status, Execution.trigger))
    by_status: dict[str, dict[str, int]] = {}
    by_trigger: dict[str, dict[str, int]] = {}
    secs: dict[str, float] = {}
    done: dict[str, int] = {}
    with catalog.session() as s:
        rows = s.execute(query).all()
    for row in rows:
        d = _as_day(row.day)
        by_status.setdefault(row.status, {}).setdefault(d, 0)
        by_status[row.status][d] += row.n
        kind = TRIGGER_GROUPS.get(row.trigger, row.trigger)
        by_trigger.setdefault(kind, {}).setdefault(d, 0)
        by_trigger[kind][d] += row.n
        if row.secs is not None:
            secs[d] = secs.get(d, 0.0) + float(row.secs)
            done[d] = done.get(d, 0) + int(row.done)
    for status in STATUSES:
        by_status.setdefault(status, {})
    for kind in TRIGGER_KINDS:
        by_trigger.setdefault(kind, {})
    return Activity(
        days=day_list, by_status=by_status, by_trigger=by_trigger,
        avg_seconds={d: (secs[d] / done[d] if done.get(d) else None) for d in day_list},
        status_totals={k: sum(v.values()) for k, v in by_status.items()},
        trigger_totals={k: sum(v.values()) for k, v in by_trigger.items()},
    )


def recently_updated_services(catalog: Catalog, limit: int = 10) -> list[dict[str, Any]]:
    query = (select(Service.name, Project.name.label("project"), Service.updated_at)
             .join(Project, Project.id == Service.project_id).where(Service.present.is_(True))
             .order_by(Service.updated_at.desc()).limit(limit))
    with catalog.session() as s:
        return [{"service": f"{r.project}/{r.name}", "project": r.project, "name": r.name,
                 "updated_at": r.updated_at} for r in s.execute(query)]


def busiest_services(catalog: Catalog, days: int = DAYS, limit: int = 10,
                     now: datetime | None = None) -> list[dict[str, Any]]:
    start, _ = last_days(days, now)
    n = func.count().label("n")
    query = (select(Execution.project, Execution.service, n).where(Execution.created_at >= start)
             .group_by(Execution.project, Execution.service).order_by(n.desc(), Execution.service).limit(limit))
    with catalog.session() as s:
        return [{"service": f"{r.project}/{r.service}", "count": r.n} for r in s.execute(query)]


def running_count(catalog: Catalog) -> int:
    """Running executions right now (the queue index: status first)."""
    with catalog.session() as s:
        return int(s.scalar(select(func.count()).select_from(Execution).where(Execution.status == "running")) or 0)


# Executions ---------------------------------------------------------------------------

def execution_steps(catalog: Catalog, execution_id: str) -> list[dict[str, Any]]:
    query = (select(Step.name, Step.status, Step.started_at, Step.finished_at, Step.error, Step.output_html)
             .where(Step.execution_id == execution_id).order_by(Step.position))
    with catalog.session() as s:
        return [{"name": r.name, "status": r.status, "started_at": r.started_at, "finished_at": r.finished_at,
                 "error": r.error, "has_notebook": bool(r.output_html),
                 "duration": (r.finished_at - r.started_at).total_seconds()
                 if r.started_at and r.finished_at else None} for r in s.execute(query)]


def event_row(catalog: Catalog, seq: int | None) -> Event | None:
    if seq is None:
        return None
    with catalog.session() as s:
        return s.get(Event, seq)


def routings_of_execution(catalog: Catalog, execution_id: str) -> list[Routing]:
    with catalog.session() as s:
        return list(s.scalars(select(Routing).where(Routing.execution_id == execution_id).limit(20)))


# Logs ---------------------------------------------------------------------------------

def _log_filters(query: Any, *, execution_id: str | None, service: str | None, level: str | None,
                 text: str | None, since: datetime | None, until: datetime | None) -> Any:
    if execution_id:
        query = query.where(LogRecord.execution_id == execution_id)
    if service:
        query = query.where(LogRecord.service == service.rpartition("/")[2])
    if level:
        query = query.where(LogRecord.level == level.upper())
    if text:
        query = query.where(LogRecord.message.contains(text))
    if since:
        query = query.where(LogRecord.time >= since)
    if until:
        query = query.where(LogRecord.time <= until)
    return query


def search_logs(catalog: Catalog, *, execution_id: str | None = None, service: str | None = None,
                level: str | None = None, text: str | None = None, since: datetime | None = None,
                until: datetime | None = None, limit: int = PAGE_SIZE, offset: int = 0) -> Page:
    """Log records newest first, one page."""
    query = select(LogRecord).order_by(LogRecord.id.desc()).limit(limit + 1).offset(offset)
    query = _log_filters(query, execution_id=execution_id, service=service, level=level, text=text,
                         since=since, until=until)
    with catalog.session() as s:
        return page_of(list(s.scalars(query)), offset, limit)


def logs_after(catalog: Catalog, after_id: int, *, execution_id: str | None = None, service: str | None = None,
               level: str | None = None, text: str | None = None, limit: int = 500) -> list[LogRecord]:
    """Records newer than ``after_id`` (the live tail), oldest first."""
    query = select(LogRecord).where(LogRecord.id > after_id).order_by(LogRecord.id).limit(limit)
    query = _log_filters(query, execution_id=execution_id, service=service, level=level, text=text,
                         since=None, until=None)
    with catalog.session() as s:
        return list(s.scalars(query))


def last_log_id(catalog: Catalog) -> int:
    with catalog.session() as s:
        return int(s.scalar(select(func.max(LogRecord.id))) or 0)


# Events -------------------------------------------------------------------------------

def search_events(catalog: Catalog, *, type: str | None = None, correlation_id: str | None = None,
                  text: str | None = None, since: datetime | None = None, until: datetime | None = None,
                  limit: int = PAGE_SIZE, offset: int = 0) -> Page:
    """The event log newest first (by sequence), one page."""
    query = select(Event).order_by(Event.seq.desc()).limit(limit + 1).offset(offset)
    if type:
        query = query.where(Event.type == type)
    if correlation_id:
        query = query.where(chain_filter(Event, correlation_id))
    if text:
        query = query.where(or_(Event.type.contains(text), Event.subject.contains(text),
                                cast(Event.data, String).contains(text)))
    if since:
        query = query.where(Event.received_at >= since)
    if until:
        query = query.where(Event.received_at <= until)
    with catalog.session() as s:
        return page_of(list(s.scalars(query)), offset, limit)


def last_event_seq(catalog: Catalog) -> int:
    with catalog.session() as s:
        return int(s.scalar(select(func.max(Event.seq))) or 0)


def event_type_names(catalog: Catalog) -> list[str]:
    with catalog.session() as s:
        return list(s.scalars(select(EventType.type).order_by(EventType.type)))


def executions_started_by(catalog: Catalog, seqs: list[int]) -> dict[int, list[str]]:
    """For events on a page: the executions each one triggered."""
    if not seqs:
        return {}
    query = select(Execution.trigger_event_id, Execution.id).where(Execution.trigger_event_id.in_(seqs))
    found: dict[int, list[str]] = {}
    with catalog.session() as s:
        for seq, execution_id in s.execute(query):
            found.setdefault(seq, []).append(execution_id)
    return found


def execution_correlation(catalog: Catalog, execution_id: str) -> str | None:
    """The correlation id of an execution, by id or a unique prefix of it."""
    from studio import runs
    from studio.errors import NotFound

    try:
        return runs.get(catalog, execution_id).correlation_id
    except NotFound:
        return None


def chain_size(catalog: Catalog, correlation_id: str) -> tuple[int, int]:
    """(events, executions) of a chain, counted by index: the lineage page's cheap "anything new?"."""
    with catalog.session() as s:
        events = s.scalar(select(func.count()).select_from(Event).where(
            chain_filter(Event, correlation_id)))
        executions = s.scalar(select(func.count()).select_from(Execution).where(
            chain_filter(Execution, correlation_id)))
    return int(events or 0), int(executions or 0)
