"""Workspace commands: init, project add/list, up, doctor."""

from __future__ import annotations

from pathlib import Path

import click

from studio.cli import emit, get_ws, table
from studio.workspace import init_workspace


@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--no-examples", is_flag=True, help="Do not add the example project.")
@click.pass_context
def init(ctx: click.Context, directory: Path | None, no_examples: bool) -> None:
    """Create a workspace in DIRECTORY (default: --home or the current directory)."""
    home = directory or ctx.find_root().params.get("home") or Path.cwd()
    home = init_workspace(Path(home), with_examples=not no_examples)
    click.echo(f"workspace ready in {home}")
    click.echo(f"next: studio --home {home} up    (dashboard and API on http://127.0.0.1:8642)")


@click.group()
def project() -> None:
    """Projects: folders of services."""


@project.command("add")
@click.argument("name")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_context
def project_add(ctx: click.Context, name: str, path: Path) -> None:
    """Attach the folder PATH, whose every subfolder is a service, as project NAME."""
    ws = get_ws(ctx)
    ws.add_project(name, path)
    services = [s for s in ws.services() if s.project == name]
    click.echo(f"project {name!r} added with {len(services)} service(s)")
    for svc in services:
        if svc.problems:
            click.echo(f"  ! {svc.name}: {svc.problem_text()}", err=True)


@project.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def project_list(ctx: click.Context, as_json: bool) -> None:
    """List the workspace's projects."""
    rows = [{"name": p.name, "path": p.path} for p in get_ws(ctx).projects()]
    emit(rows, as_json, lambda r: table([[x["name"], x["path"]] for x in r], ["project", "path"]))


@click.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1: local only).")
@click.option("--port", default=None, type=int, help="Port of the dashboard and API (default 8642).")
@click.option("--role", "roles", multiple=True, type=click.Choice(["web", "router", "scheduler", "executor"]),
              help="Run only these roles (repeatable). Default: all of them.")
@click.pass_context
def up(ctx: click.Context, host: str | None, port: int | None, roles: tuple[str, ...]) -> None:
    """Run the studio: dashboard + REST API, router, scheduler and executors."""
    from studio.server import serve

    serve(get_ws(ctx), roles=list(roles) or None, host=host, port=port)


@click.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check the database, the event bus and the artefact store; say what is wrong."""
    from studio.doctor import run_checks

    ok = True
    for check in run_checks(ctx.find_root().params.get("home")):
        mark = "ok " if check.ok else "ERR"
        click.echo(f"[{mark}] {check.name}: {check.detail}")
        ok = ok and check.ok
    ctx.exit(0 if ok else 1)


def register(cli: click.Group) -> None:
    for command in (init, project, up, doctor):
        cli.add_command(command)
