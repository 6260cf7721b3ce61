"""Run commands: run, executions, execution, logs, cancel."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click
import yaml

from studio import runs
from studio.cli import emit, get_ws, table
from studio.errors import StudioError
from studio.workspace import Workspace

POLL = 0.2


def load_params_file(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise StudioError(f"{path}: not valid {'YAML' if path.suffix in ('.yaml', '.yml') else 'JSON'}: {exc}")
    if not isinstance(data, dict):
        raise StudioError(f"{path}: parameters must be an object of name: value")
    return data


def follow(ws: Workspace, execution_id: str, show_progress: bool, stream_logs: bool = False) -> Any:
    """Wait for an execution to end, printing step progress (and logs) to stderr."""
    seen: dict[str, str] = {}
    last_log = 0
    while True:
        execution = runs.get(ws.catalog, execution_id)
        if show_progress:
            steps = runs.steps_of(ws.catalog, execution_id)
            for i, step in enumerate(steps, 1):
                if seen.get(step.name) != step.status and step.status != "pending":
                    seen[step.name] = step.status
                    extra = f": {step.error}" if step.error else ""
                    click.echo(f"  [{i}/{len(steps)}] {step.name} {step.status}{extra}", err=True)
        if stream_logs:
            for rec in runs.logs(ws.catalog, execution_id, after_id=last_log):
                last_log = rec.id
                click.echo(f"{rec.time:%H:%M:%S} {rec.level:<7} {rec.step or ''} {rec.message}", err=True)
        if execution.status in runs.FINAL:
            return execution
        time.sleep(POLL)


@click.command()
@click.argument("service")
@click.option("-p", "--parameters", "params", nargs=2, multiple=True, metavar="NAME VALUE",
              help="A parameter (repeatable); strings are converted to the declared types.")
@click.option("-f", "--parameters-file", "params_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Parameters from a JSON or YAML file.")
@click.option("--from", "from_execution", default=None, help="Re-run with the parameters of this execution.")
@click.option("--saved", default=None, help="Run with the parameters saved under this name.")
@click.option("--no-wait", is_flag=True, help="Queue it and return at once.")
@click.option("--json", "as_json", is_flag=True, help="Print the execution record as JSON.")
@click.pass_context
def run(ctx: click.Context, service: str, params: tuple[tuple[str, str], ...], params_file: Path | None,
        from_execution: str | None, saved: str | None, no_wait: bool, as_json: bool) -> None:
    """Run SERVICE now and wait for it; exits 1 when the execution failed."""
    from studio.executor import Executor, claim, worker_id
    from studio.roles import live_roles

    ws = get_ws(ctx)
    svc = ws.service(service)
    values: dict[str, Any] = {}
    coerce = False
    if from_execution:
        values.update(runs.get(ws.catalog, from_execution).params)
    if saved:
        from studio.saved_runs import get_saved

        values.update(get_saved(ws, svc, saved))
    if params_file:
        values.update(load_params_file(params_file))
    if params:
        # -p values are strings: the form converts them ("3" -> 3); typed values from the
        # other sources are checked as they are.
        coerce = True
        values.update(dict(params))
    execution = runs.start(ws, svc, values, coerce_strings=coerce)
    progress = not as_json
    if progress:
        click.echo(f"execution {execution.id} of {svc.key} queued", err=True)
    if no_wait:
        emit(runs.execution_dict(ws.catalog, execution), as_json, lambda r: click.echo(r["id"]))
        return
    if "executor" not in live_roles(ws):
        owner = worker_id("cli")
        claimed = claim(ws, execution.id, owner)
        if claimed is not None:
            if progress:
                click.echo("no studio is up: running it here", err=True)
            import threading

            runner = threading.Thread(target=lambda: Executor(ws, owner=owner).run_claimed(claimed), daemon=True)
            runner.start()
            final = follow(ws, execution.id, progress)
            runner.join()
            final = runs.get(ws.catalog, execution.id)
        else:
            final = follow(ws, execution.id, progress)
    else:
        final = follow(ws, execution.id, progress)
    record = runs.execution_dict(ws.catalog, final)
    emit(record, as_json, _print_execution)
    if final.status != "completed":
        sys.exit(1)


def _print_execution(r: dict[str, Any]) -> None:
    click.echo(f"execution {r['id']}  {r['project']}/{r['service']}  {r['status'].upper()}")
    click.echo(f"  trigger {r['trigger']}  correlation {r['correlation_id']}  attempt {r['attempt']}")
    click.echo(f"  started {r['started_at'] or '-'}  finished {r['finished_at'] or '-'}"
               + (f"  ({r['duration']:.2f} s)" if r.get("duration") is not None else ""))
    if r["params"]:
        click.echo(f"  params {json.dumps(r['params'], default=str)}")
    for step in r.get("steps", []):
        click.echo(f"  - {step['name']}: {step['status']}" + (f" — {step['error']}" if step["error"] else ""))
        if step.get("failed_cell") is not None:
            click.echo(f"      failing cell: {step['failed_cell']}")
    if r["error"]:
        click.echo(f"  error: {r['error']}")
    if r.get("events"):
        click.echo(f"  emitted events: {', '.join(r['events'])}")
    if r["output"]:
        click.echo(f"  output: {r['output']}")


@click.command()
@click.option("--service", default=None, help="Only this service (name or project/name).")
@click.option("--status", default=None, type=click.Choice(sorted(s.value for s in runs.Status)))
@click.option("--limit", default=50, show_default=True)
@click.option("--offset", default=0)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def executions(ctx: click.Context, service: str | None, status: str | None, limit: int, offset: int,
               as_json: bool) -> None:
    """List executions, newest first."""
    ws = get_ws(ctx)
    rows = [runs.execution_dict(ws.catalog, e, detail=as_json)
            for e in runs.list_executions(ws.catalog, service=service, status=status, limit=limit, offset=offset)]
    emit(rows, as_json, lambda items: table(
        [[i["id"][:12], f"{i['project']}/{i['service']}", i["status"], i["trigger"], i["created_at"][:19],
          f"{i['duration']:.1f}s" if i["duration"] is not None else "-"] for i in items],
        ["id", "service", "status", "trigger", "created", "duration"]))


@click.command()
@click.argument("execution_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def execution(ctx: click.Context, execution_id: str, as_json: bool) -> None:
    """Show one execution: parameters, steps, error, emitted events, output."""
    ws = get_ws(ctx)
    emit(runs.execution_dict(ws.catalog, runs.get(ws.catalog, execution_id)), as_json, _print_execution)


@click.command()
@click.argument("execution_id")
@click.option("--follow", "-f", "follow_", is_flag=True, help="Keep printing new lines until the run ends.")
@click.option("--level", default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def logs(ctx: click.Context, execution_id: str, follow_: bool, level: str | None, as_json: bool) -> None:
    """Print an execution's logs (stdout, stderr and context.log records)."""
    ws = get_ws(ctx)
    execution = runs.get(ws.catalog, execution_id)
    last = 0
    while True:
        for rec in runs.logs(ws.catalog, execution.id, after_id=last, level=level):
            last = rec.id
            if as_json:
                click.echo(json.dumps({"time": rec.time.isoformat(), "level": rec.level, "stream": rec.stream,
                                       "step": rec.step, "message": rec.message, "fields": rec.fields}))
            else:
                click.echo(f"{rec.time:%Y-%m-%d %H:%M:%S} {rec.level:<7} [{rec.stream}] {rec.step or ''}: {rec.message}")
        if not follow_ or runs.get(ws.catalog, execution.id).status in runs.FINAL:
            if follow_:   # one last read: lines written just before the end
                for rec in runs.logs(ws.catalog, execution.id, after_id=last, level=level):
                    click.echo(f"{rec.time:%Y-%m-%d %H:%M:%S} {rec.level:<7} [{rec.stream}] {rec.step or ''}: {rec.message}")
            return
        time.sleep(POLL)


@click.command()
@click.argument("execution_id")
@click.pass_context
def cancel(ctx: click.Context, execution_id: str) -> None:
    """Cancel a pending execution, or stop a running one."""
    ws = get_ws(ctx)
    execution = runs.cancel(ws.catalog, execution_id)
    if execution.status == "cancelled":
        click.echo(f"execution {execution.id} cancelled")
    else:
        click.echo(f"execution {execution.id} is stopping (cancel requested)")


def register(cli: click.Group) -> None:
    for command in (run, executions, execution, logs, cancel):
        cli.add_command(command)
