"""The ``studio`` command: thin subcommands over the same library calls the API and UI use.

Every command acts on the workspace in the current directory, or ``--home DIR`` /
``STUDIO_HOME``. Errors print one line saying what is wrong and exit 1.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

import click

from studio.errors import StudioError, ValidationFailed
from studio.workspace import Workspace


class StudioGroup(click.Group):
    """Turns studio errors into one clear line and exit code 1 (no traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ValidationFailed as exc:
            click.echo(f"error: {exc}", err=True)
            for err in exc.errors:
                click.echo(f"  - {err.field}: {err.reason}", err=True)
            sys.exit(1)
        except StudioError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def emit(obj: Any, as_json: bool, human: Callable[[Any], None] | None = None) -> None:
    """Print ``obj`` as JSON for programs, or through ``human`` for people."""
    if as_json or human is None:
        click.echo(json.dumps(obj, indent=2, default=_default))
    else:
        human(obj)


def get_ws(ctx: click.Context) -> Workspace:
    """The workspace of this command, opened once and closed when the command ends."""
    root = ctx.find_root()
    if "ws" not in root.meta:
        ws = Workspace.open(root.params.get("home"))
        root.meta["ws"] = ws
        root.call_on_close(ws.close)
    return root.meta["ws"]


def table(rows: list[list[Any]], headers: list[str]) -> None:
    """A plain aligned table; empty lists say so instead of printing nothing."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[str("" if c is None else c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    click.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip())
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


@click.group(cls=StudioGroup)
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="STUDIO_HOME",
              help="Workspace folder (default: the current directory).")
@click.version_option(package_name="notebook-studio", prog_name="studio")
def cli(home: Path | None) -> None:
    """Studio: folders of notebooks become event-driven services."""


def main() -> None:
    cli(prog_name="studio")


def _register() -> None:
    from studio.cli import events, runs, secrets, services, workspace

    for module in (workspace, services, runs, secrets, events):
        module.register(cli)


_register()
