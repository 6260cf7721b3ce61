"""``.sql`` steps: Jinja2-templated SQL where every ``{{ value }}`` is a bound parameter.

``{{ params.region }}`` or ``{{ region }}`` never pastes text into the SQL: each expression
renders as ``:p0``, ``:p1`` ... and its value is bound by the driver, so a parameter such as
``'; DROP TABLE t; --`` is stored verbatim. Jinja control flow (``{% if %}``) still works.
A list value binds as an expanding parameter: ``WHERE id IN {{ ids }}``.

The connection URL is a secret: ``context["sql_connection"]`` names it, and it is looked up
service -> project -> platform, like ``context.secrets.get``.
"""

from __future__ import annotations

import csv
import re
import threading
from pathlib import Path
from typing import Any

from executors._context import RunContext
from executors._process import WATCH_INTERVAL
from executors._runner import StepResult, StepRunner, output_path
from executors.base import StepStatus
from studio.errors import StepError

SECRET_SCOPES = ("service", "project", "platform")
# Result rows kept per SELECT in the log record and the CSV: a preview, not an export.
PREVIEW_ROWS = 100


def render(template: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Render ``template``; returns SQL text with ``:pN`` placeholders and their values."""
    import jinja2

    values: dict[str, Any] = {}

    def bind(value: Any) -> str:
        if isinstance(value, jinja2.Undefined):
            str(value)  # StrictUndefined raises UndefinedError naming the missing parameter
        name = f"p{len(values)}"
        values[name] = value
        return f":{name}"

    env = jinja2.Environment(finalize=bind, undefined=jinja2.StrictUndefined, autoescape=False,
                             keep_trailing_newline=True)
    try:
        sql = env.from_string(template).render({**params, "params": params})
    except jinja2.UndefinedError as exc:
        raise StepError(f"SQL template uses an undefined parameter: {exc}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise StepError(f"SQL template syntax error on line {exc.lineno}: {exc.message}") from None
    return sql, values


def split_statements(sql: str) -> list[str]:
    """Split on ``;`` outside quotes and comments; drop statements that are only blank/comment."""
    statements, current, i, n = [], [], 0, len(sql)
    meaningful = False
    while i < n:
        ch = sql[i]
        if ch in ("'", '"', "`"):
            end = i + 1
            while end < n:
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:  # doubled quote escapes itself
                        end += 2
                        continue
                    break
                end += 1
            current.append(sql[i:end + 1])
            meaningful, i = True, end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            current.append(sql[i:end])
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            current.append(sql[i:end])
            i = end
        elif ch == ";":
            if meaningful:
                statements.append("".join(current).strip())
            current, meaningful, i = [], False, i + 1
        else:
            current.append(ch)
            meaningful = meaningful or not ch.isspace()
            i += 1
    if meaningful:
        statements.append("".join(current).strip())
    return statements


def connection_url(ctx: RunContext) -> str:
    name = ctx.data.get("sql_connection")
    if not name:
        raise StepError("No SQL connection configured: set the service's 'sql_connection' to the "
                        "name of a secret holding a connection URL (e.g. `studio secrets set "
                        "warehouse sqlite:///data.db`)")
    secrets = ctx.data.get("secrets") or {}
    for scope in SECRET_SCOPES:
        values = secrets.get(scope) or {}
        if name in values:
            value = values[name]
            url = value.get("url") if isinstance(value, dict) else value
            if isinstance(url, str) and url:
                return url
            raise StepError(f"secret {name!r} (sql_connection) holds no connection URL")
    raise StepError(f"SQL connection secret {name!r} is not set: set it with "
                    f"`studio secrets set {name} URL --scope project`")


def _engine(url: str, workdir: Path) -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    db = parsed.database
    if parsed.drivername.startswith("sqlite") and db and db != ":memory:" and not db.startswith("file:"):
        if not Path(db).is_absolute():  # relative to the service folder, not our cwd
            parsed = parsed.set(database=str(workdir / db))
    return create_engine(parsed)


class SqlRunner(StepRunner):
    suffix = ".sql"

    def execute(self, step: str, path: Path, ctx: RunContext) -> StepResult:
        from sqlalchemy import bindparam, text
        from sqlalchemy.exc import SQLAlchemyError

        sql, values = render(path.read_text(encoding="utf-8"), ctx.request.params)
        statements = split_statements(sql)
        engine = _engine(connection_url(ctx), ctx.workdir)
        done = threading.Event()
        try:
            with engine.begin() as conn:
                watchdog = threading.Thread(target=self._watch, args=(conn, ctx, done), daemon=True)
                watchdog.start()
                for number, statement in enumerate(statements, 1):
                    stop = ctx.check_stop()
                    if stop is not None:
                        raise _Stopped(stop)
                    clause = text(statement)
                    used = {k: v for k, v in values.items() if re.search(rf":{k}\b", statement)}
                    expanding = [bindparam(k, expanding=True) for k, v in used.items()
                                 if isinstance(v, (list, tuple))]
                    if expanding:
                        clause = clause.bindparams(*expanding)
                    try:
                        result = conn.execute(clause, used)
                    except SQLAlchemyError as exc:
                        stop = ctx.check_stop()
                        if stop is not None:
                            raise _Stopped(stop) from None
                        orig = getattr(exc, "orig", None) or exc
                        return StepResult(StepStatus.failed,
                                          error=f"statement {number} failed: {type(orig).__name__}: {orig}",
                                          traceback=statement)
                    self._report(step, number, result, ctx)
        except _Stopped as stop:
            return StepResult(stopped=stop.reason)
        except SQLAlchemyError as exc:
            return StepResult(StepStatus.failed, error=f"database error: {exc}")
        finally:
            done.set()
            engine.dispose()
        return StepResult(StepStatus.completed)

    def _report(self, step: str, number: int, result: Any, ctx: RunContext) -> None:
        if not result.returns_rows:
            ctx.emit({"kind": "log", "stream": "stdout", "level": "INFO",
                      "message": f"statement {number}: {result.rowcount} rows affected",
                      "fields": {"statement": number, "rowcount": result.rowcount}})
            return
        columns = list(result.keys())
        rows = [list(row) for row in result.fetchmany(PREVIEW_ROWS + 1)]
        more = len(rows) > PREVIEW_ROWS
        rows = rows[:PREVIEW_ROWS]
        shown = f"first {PREVIEW_ROWS}" if more else str(len(rows))
        ctx.emit({"kind": "log", "stream": "stdout", "level": "INFO",
                  "message": f"statement {number}: {shown} rows",
                  "fields": {"statement": number, "columns": columns, "rows": rows, "truncated": more}})
        with output_path(ctx, step, ".csv").open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(columns)
            writer.writerows(ctx.redactor.value(rows))

    @staticmethod
    def _watch(conn: Any, ctx: RunContext, done: threading.Event) -> None:
        """Interrupt a running statement when the run is cancelled or out of time."""
        while not done.wait(WATCH_INTERVAL):
            if ctx.check_stop() is not None:
                raw = getattr(conn.connection, "driver_connection", None)
                for method in ("interrupt", "cancel"):  # sqlite3 / psycopg
                    if hasattr(raw, method):
                        try:
                            getattr(raw, method)()
                        except Exception:
                            pass
                        break
                return


class _Stopped(Exception):
    def __init__(self, reason: Any) -> None:
        self.reason = reason
