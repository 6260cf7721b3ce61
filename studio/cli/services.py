"""Service commands: services, service, new, activate/deactivate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from studio.cli import emit, get_ws, table
from studio.discovery import ServiceDef
from studio.errors import StudioError
from studio.manifest import check_name
from studio.workspace import Workspace


def service_dict(ws: Workspace, svc: ServiceDef) -> dict[str, Any]:
    from studio.api.models import service_summary

    return service_summary(ws, svc)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print records a program can read.")
@click.pass_context
def services(ctx: click.Context, as_json: bool) -> None:
    """List services, their triggers, schedule (next fire time) and problems."""
    ws = get_ws(ctx)
    rows = [service_dict(ws, svc) for svc in ws.services(refresh=True)]

    def human(items: list[dict[str, Any]]) -> None:
        table([[i["key"], "yes" if i["active"] else "no", ",".join(i["trigger_events"]) or "-",
                i["schedule"]["next"][0] if i["schedule"] and i["schedule"].get("next") else
                (("invalid: " + i["schedule"]["error"]) if i["schedule"] and not i["schedule"]["valid"] else "-"),
                i["last_status"] or "-", "; ".join(p["reason"] for p in i["problems"]) or ""]
               for i in items], ["service", "active", "triggers", "next run", "last run", "problems"])

    emit(rows, as_json, human)


@click.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def service(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show one service: manifest, steps, form fields, triggers and problems."""
    ws = get_ws(ctx)
    svc = ws.service(name)
    record = service_dict(ws, svc)
    record["manifest"] = svc.manifest.model_dump(mode="json")
    record["parameters"] = svc.form.json_schema() if svc.form is not None else None

    def human(r: dict[str, Any]) -> None:
        click.echo(f"{r['key']}  ({'active' if r['active'] else 'inactive'})  version {r['version'][:12]}")
        if r["description"]:
            click.echo(f"  {r['description']}")
        click.echo(f"  steps: {', '.join(r['steps']) or '-'}")
        click.echo(f"  triggers: {', '.join(r['trigger_events']) or '-'}")
        if r["schedule"]:
            click.echo(f"  schedule: {r['schedule']['schedule']} ({r['schedule']['timezone']})"
                       + (f", next {r['schedule']['next'][0]}" if r["schedule"].get("next") else ""))
        if r["parameters"]:
            click.echo(f"  parameters: {', '.join(r['parameters'].get('properties', {}))}")
        for p in r["problems"]:
            click.echo(f"  ! {p['file']}: {p['key']}: {p['reason']}")

    emit(record, as_json, human)


def scaffold_notebook(name: str) -> str:
    """A starter notebook: a title, a `parameters`-tagged cell, a cell using the context API."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('# Parameters: the form, events and `studio run -p` fill these in.\nname = "world"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {name}\n\nDescribe what this service does."),
        params,
        nbformat.v4.new_code_cell('from studio import context\n\ncontext.log.info(f"hello {name}")\nprint(f"Hello, {name}!")'),
    ]
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return nbformat.writes(nb)


@click.command()
@click.argument("name")
@click.option("--project", "project_name", default=None, help="Project to create it in (default: the only one).")
@click.pass_context
def new(ctx: click.Context, name: str, project_name: str | None) -> None:
    """Scaffold a service folder: a notebook with a parameters cell, manifest.json, README.md."""
    check_name(name)
    ws = get_ws(ctx)
    projects = ws.projects()
    if project_name:
        matches = [p for p in projects if p.name == project_name]
    else:
        matches = projects if len(projects) == 1 else []
    if not matches:
        names = ", ".join(p.name for p in projects) or "none yet: `studio project add NAME PATH`"
        raise StudioError(f"say which project with --project (projects: {names})")
    folder = Path(matches[0].path) / name
    if folder.exists():
        raise StudioError(f"{folder} already exists; pick another name")
    folder.mkdir(parents=True)
    (folder / f"{name}.ipynb").write_text(scaffold_notebook(name))
    (folder / "manifest.json").write_text(json.dumps({
        "description": f"{name}: describe me", "tags": [], "trigger_events": [], "output_events": [],
        "allow_manual_triggering": True, "active": True,
    }, indent=2) + "\n")
    (folder / "README.md").write_text(f"# {name}\n\nWhat this service does, what triggers it, what it emits.\n")
    click.echo(f"created {folder}")
    click.echo(f"run it: studio run {name} -p name studio")


def _set_active(ctx: click.Context, name: str, active: bool) -> None:
    ws = get_ws(ctx)
    svc = ws.service(name)
    ws.set_active(svc, active)
    click.echo(f"{svc.key} is now {'active' if active else 'inactive'}")


@click.command()
@click.argument("name")
@click.pass_context
def activate(ctx: click.Context, name: str) -> None:
    """Let events and schedules start this service again."""
    _set_active(ctx, name, True)


@click.command()
@click.argument("name")
@click.pass_context
def deactivate(ctx: click.Context, name: str) -> None:
    """Stop events and schedules from starting this service (recorded as skipped)."""
    _set_active(ctx, name, False)


def register(cli: click.Group) -> None:
    for command in (services, service, new, activate, deactivate):
        cli.add_command(command)
