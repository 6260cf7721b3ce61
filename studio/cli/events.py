"""Event commands: send, events, event-types, lineage, link/unlink, map/mappings, webhooks.

Each is a thin layer over ``studio.events`` / ``studio.router``, the calls the API uses too.
"""

from __future__ import annotations

import json
from typing import Any

import click

from studio.cli import emit, get_ws, table
from studio.errors import FieldError, ValidationFailed


def _json_arg(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed([FieldError(what, f"not valid JSON: {exc.msg} at column {exc.colno}")],
                               what="option") from None


@click.command()
@click.argument("event_type")
@click.option("--data", "data_text", help="The event data, as JSON.")
@click.option("--source", default="studio/cli", show_default=True)
@click.option("--subject")
@click.option("--wait", is_flag=True, help="Wait until every execution the event starts (and what those start) ends.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds --wait waits.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def send(ctx: click.Context, event_type: str, data_text: str | None, source: str, subject: str | None, wait: bool,
         timeout: float, as_json: bool) -> None:
    """Send an event of EVENT_TYPE; with --wait, run its chain (here when no studio is up)."""
    import sys

    from studio.events.cloudevent import new_event
    from studio.events.ingest import accept
    from studio.events.lineage import WaitTimeout, wait_for_chain
    from studio.events.links import check_event_type
    from studio.events.store import event_dict
    from studio.runs import execution_dict

    ws = get_ws(ctx)
    check_event_type(event_type)
    data = _json_arg(data_text, "--data")
    row, created = accept(ws, new_event(event_type, data=data, source=source, subject=subject))
    record: dict[str, Any] = {"event": event_dict(row), "created": created}
    if not wait:
        emit(record, as_json, lambda r: click.echo(f"event {r['event']['seq']} ({r['event']['type']}) accepted, "
                                                   f"correlation {r['event']['correlationid']}"))
        return
    from studio.roles import local_roles

    if not as_json:
        click.echo(f"event {row.seq} accepted, correlation {row.correlation_id}; waiting ...", err=True)
    failed = False
    with local_roles(ws, ("router", "executor")) as here:
        if here and not as_json:
            click.echo(f"no studio is up: running {', '.join(here)} here", err=True)
        try:
            executions = wait_for_chain(ws, row.correlation_id, timeout=timeout)
        except WaitTimeout as exc:
            click.echo(f"error: {exc}", err=True)
            executions, failed = exc.executions, True
    from studio.router import routings

    record["routing"] = routings(ws, row.seq)
    record["executions"] = [execution_dict(ws.catalog, x, detail=False) for x in executions]
    failed = failed or any(x.status != "completed" for x in executions)

    def human(r: dict[str, Any]) -> None:
        for rt in r["routing"]:
            click.echo(f"  {rt['outcome']}: {rt['reason']}")
        table([[x["id"][:12], f"{x['project']}/{x['service']}", x["status"], x["correlation_id"], x["error"] or ""]
               for x in r["executions"]], ["execution", "service", "status", "correlation", "error"])

    emit(record, as_json, human)
    if failed:
        sys.exit(1)


@click.command()
@click.option("--type", "event_type")
@click.option("--correlation-id")
@click.option("--text", help="Search type, source, subject and data.")
@click.option("--limit", default=50, show_default=True)
@click.option("--offset", default=0)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def events(ctx: click.Context, event_type: str | None, correlation_id: str | None, text: str | None, limit: int,
           offset: int, as_json: bool) -> None:
    """List events, newest first."""
    from studio.events.lineage import list_events

    rows = list_events(get_ws(ctx), type=event_type, correlation_id=correlation_id, text=text, limit=limit,
                       offset=offset)
    emit(rows, as_json, lambda items: table(
        [[e["seq"], e["received_at"][:19], e["type"], e["source"], e["correlationid"],
          "yes" if e["routed"] else "no", json.dumps(e["data"], default=str)[:60]] for e in items],
        ["seq", "received", "type", "source", "correlation", "routed", "data"]))


@click.command("event-types")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def event_types_cmd(ctx: click.Context, as_json: bool) -> None:
    """The event catalog: every type seen or declared, its producers and consumers."""
    from studio.events.catalog import event_types

    rows = event_types(get_ws(ctx))
    emit(rows, as_json, lambda items: table(
        [[t["type"], t["count"], (t["last_seen"] or "-")[:19], ",".join(t["producers"]) or "-",
          ",".join(t["consumers"]) or "-", ",".join(t["conflicts"])] for t in items],
        ["type", "count", "last seen", "producers", "consumers", "conflicts"]))


@click.command("lineage")
@click.argument("correlation_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def lineage_cmd(ctx: click.Context, correlation_id: str, as_json: bool) -> None:
    """The chain event -> execution -> event ... of CORRELATION_ID, in time order."""
    from studio.events.lineage import lineage

    nodes = lineage(get_ws(ctx), correlation_id)

    def human(items: list[dict[str, Any]]) -> None:
        for n in items:
            if n["kind"] == "event":
                click.echo(f"{n['time'][:23]}  event {n['seq']:<6} {n['type']}  ({n['correlation_id']})")
            else:
                click.echo(f"{n['time'][:23]}    execution {n['id'][:12]} {n['service']} {n['status']}"
                           f"  <- event {n['parent']['seq'] if n['parent'] else '-'}")

    emit(nodes, as_json, human)


@click.command("link")
@click.argument("service")
@click.option("--event", "event_type", required=True, help="Event type that should start SERVICE.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def link_cmd(ctx: click.Context, service: str, event_type: str, as_json: bool) -> None:
    """Link SERVICE to an event type (effective at once, no redeploy)."""
    from studio.router import link

    emit(link(get_ws(ctx), service, event_type), as_json,
         lambda r: click.echo(f"{r['event_type']} -> {r['service']} linked"))


@click.command("unlink")
@click.argument("service")
@click.option("--event", "event_type", required=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def unlink_cmd(ctx: click.Context, service: str, event_type: str, as_json: bool) -> None:
    """Unlink SERVICE from an event type (effective at once)."""
    from studio.router import unlink

    emit(unlink(get_ws(ctx), service, event_type), as_json,
         lambda r: click.echo(f"{r['event_type']} -> {r['service']} unlinked"))


@click.command("links")
@click.option("--event", "event_type")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def links_cmd(ctx: click.Context, event_type: str | None, as_json: bool) -> None:
    """Event type -> service links (manifest and late)."""
    from studio.router import list_links

    emit(list_links(get_ws(ctx), event_type=event_type), as_json, lambda items: table(
        [[l["event_type"], l["service"], l["origin"], "yes" if l["enabled"] else "no"] for l in items],
        ["event type", "service", "origin", "enabled"]))


def _fields(pairs: tuple[str, ...]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise ValidationFailed([FieldError("--field", f"{pair!r} is not old=new")], what="mapping")
        fields[old] = new
    return fields


@click.command("map")
@click.argument("source")
@click.argument("target")
@click.option("--field", "field_pairs", multiple=True, help="old=new; repeat for each field.")
@click.option("--strategy", type=click.Choice(["mapped", "all"]), default="mapped", show_default=True,
              help="mapped: keep only the mapped fields; all: keep every field, renaming the mapped ones.")
@click.option("--remove", is_flag=True, help="Remove the SOURCE -> TARGET mapping.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def map_cmd(ctx: click.Context, source: str, target: str, field_pairs: tuple[str, ...], strategy: str,
            remove: bool, as_json: bool) -> None:
    """Map events of type SOURCE into events of type TARGET."""
    from studio.router import add_mapping, remove_mapping

    ws = get_ws(ctx)
    if remove:
        remove_mapping(ws, source, target)
        emit({"source": source, "target": target, "removed": True}, as_json,
             lambda r: click.echo(f"mapping {source} -> {target} removed"))
        return
    emit(add_mapping(ws, source, target, _fields(field_pairs), strategy), as_json,
         lambda r: click.echo(f"mapping {r['source']} -> {r['target']} ({r['strategy']}) saved"))


@click.command("mappings")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def mappings_cmd(ctx: click.Context, as_json: bool) -> None:
    """Event mappings."""
    from studio.router import list_mappings

    emit(list_mappings(get_ws(ctx)), as_json, lambda items: table(
        [[m["source"], m["target"], m["strategy"], ", ".join(f"{k}={v}" for k, v in m["fields"].items()) or "-"]
         for m in items], ["source", "target", "strategy", "fields"]))


@click.group("webhooks")
def webhooks() -> None:
    """Webhook tokens: outside systems POST JSON to /api/webhooks/NAME with one."""


@webhooks.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def webhook_create(ctx: click.Context, name: str, as_json: bool) -> None:
    """Create a token; it is shown this once only."""
    from studio.events.webhooks import create_token

    token = create_token(get_ws(ctx), name)
    emit({"name": name, "token": token, "url": f"/api/webhooks/{name}"}, as_json, lambda r: click.echo(
        f"webhook {name} created. Token (shown once, keep it safe):\n{token}\n"
        f"POST JSON to /api/webhooks/{name} with 'Authorization: Bearer <token>'"))


@webhooks.command("revoke")
@click.argument("name")
@click.pass_context
def webhook_revoke(ctx: click.Context, name: str) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    from studio.events.webhooks import revoke_token

    revoke_token(get_ws(ctx), name)
    click.echo(f"webhook {name} revoked")


@webhooks.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def webhook_list(ctx: click.Context, as_json: bool) -> None:
    """Webhook names and dates (never the tokens)."""
    from studio.events.webhooks import list_tokens

    emit(list_tokens(get_ws(ctx)), as_json, lambda items: table(
        [[t["name"], t["created_at"][:19], (t["revoked_at"] or "")[:19], "yes" if t["active"] else "revoked"]
         for t in items], ["name", "created", "revoked", "active"]))


COMMANDS = [send, events, event_types_cmd, lineage_cmd, link_cmd, unlink_cmd, links_cmd, map_cmd, mappings_cmd,
            webhooks]


def register(cli_group: click.Group) -> None:
    for command in COMMANDS:
        cli_group.add_command(command)
