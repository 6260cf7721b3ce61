"""Secret commands: set, list, delete, rotate-key, upload. Values are never printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from studio.cli import emit, get_ws, table
from studio.errors import StudioError
from studio.secrets import SCOPES


def _owner(ctx: click.Context, scope: str, service: str | None, project: str | None) -> tuple[str | None, str | None]:
    """(project, service) for the scope; a service may be named as NAME or PROJECT/NAME."""
    if scope == "platform":
        return None, None
    ws = get_ws(ctx)
    if service:
        svc = ws.service(service)
        return svc.project, svc.name if scope == "service" else None
    if scope == "service":
        raise StudioError("a service-scoped secret needs --service NAME")
    if project:
        return project, None
    projects = ws.projects()
    if len(projects) == 1:
        return projects[0].name, None
    raise StudioError("say which project with --project (or --service)")


def _parse_value(value: str) -> Any:
    """JSON objects/lists are kept as structures; everything else is a string."""
    if value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            pass
    return value


scope_option = click.option("--scope", type=click.Choice(SCOPES), default="project", show_default=True)
service_option = click.option("--service", default=None, help="Service the secret belongs to (service scope).")
project_option = click.option("--project", default=None, help="Project (default: the only one).")


@click.group()
def secrets() -> None:
    """Secrets, stored encrypted; a service reads them service -> project -> platform."""


@secrets.command("set")
@click.argument("name")
@click.argument("value", required=False)
@scope_option
@service_option
@project_option
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the value from standard input.")
@click.pass_context
def set_(ctx: click.Context, name: str, value: str | None, scope: str, service: str | None,
         project: str | None, from_stdin: bool) -> None:
    """Set secret NAME to VALUE (JSON objects are kept as objects)."""
    if from_stdin or value is None:
        value = click.get_text_stream("stdin").read().rstrip("\n")
    proj, svc = _owner(ctx, scope, service, project)
    get_ws(ctx).secrets.set(name, _parse_value(value), scope, project=proj, service=svc)
    click.echo(f"secret {name!r} set ({scope} scope)")


@secrets.command("list")
@click.option("--scope", type=click.Choice(SCOPES), default=None)
@service_option
@project_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(ctx: click.Context, scope: str | None, service: str | None, project: str | None, as_json: bool) -> None:
    """List secret names (never values)."""
    proj, svc = _owner(ctx, scope, service, project) if scope else (None, None)
    rows = get_ws(ctx).secrets.names(scope, proj, svc)
    emit(rows, as_json, lambda r: table([[x["scope"], x["owner"] or "-", x["name"], x["updated_at"][:19]] for x in r],
                                        ["scope", "owner", "name", "updated"]))


@secrets.command("delete")
@click.argument("name")
@scope_option
@service_option
@project_option
@click.pass_context
def delete(ctx: click.Context, name: str, scope: str, service: str | None, project: str | None) -> None:
    """Delete secret NAME."""
    proj, svc = _owner(ctx, scope, service, project)
    get_ws(ctx).secrets.delete(name, scope, project=proj, service=svc)
    click.echo(f"secret {name!r} deleted ({scope} scope)")


@secrets.command("upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@scope_option
@service_option
@project_option
@click.pass_context
def upload(ctx: click.Context, file: Path, scope: str, service: str | None, project: str | None) -> None:
    """Store every entry of a secrets.json file ({name: value}) encrypted."""
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise StudioError(f"{file}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise StudioError(f"{file}: must be an object of name: value")
    proj, svc = _owner(ctx, scope, service, project)
    store = get_ws(ctx).secrets
    for name, value in data.items():
        store.set(name, value, scope, project=proj, service=svc)
    click.echo(f"{len(data)} secret(s) stored ({scope} scope); you can delete {file} now")


@secrets.command("rotate-key")
@click.pass_context
def rotate_key(ctx: click.Context) -> None:
    """Generate a new key and re-encrypt every secret with it (old keys still decrypt)."""
    from studio.secrets import rotate_key_file

    ws = get_ws(ctx)
    count = rotate_key_file(ws.settings, ws.catalog)
    click.echo(f"new key in {ws.settings.key_file}; {count} secret(s) re-encrypted")


def register(cli: click.Group) -> None:
    cli.add_command(secrets)
