"""REST: events in (CloudEvents structured or binary mode, webhooks), the event log, the event
catalog, lineage, links, mappings and webhook tokens.

Bodies are read with a size cap (413 before anything is parsed or stored); an event is stored
before the 202 answer; bad events get 400/422 naming the field; bad tokens get 401.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from studio.api.models import ErrorOut
from studio.events.cloudevent import PayloadTooLarge, from_http
from studio.workspace import Workspace

router = APIRouter(prefix="/api", tags=["events"])
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut},
    413: {"model": ErrorOut}, 422: {"model": ErrorOut},
}


def ws_of(request: Request) -> Workspace:
    return request.app.state.ws


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit} bytes (setting max_event_bytes)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is over the limit of {limit} bytes (setting max_event_bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def _accepted(row: Any, created: bool) -> JSONResponse:
    from studio.events.store import event_dict

    return JSONResponse({"event": event_dict(row), "created": created}, status_code=202)


@router.post("/events", status_code=202, responses=ERRORS)
async def post_event(request: Request) -> JSONResponse:
    """Accept one CloudEvent (structured: ``application/cloudevents+json`` or plain JSON;
    binary: ``ce-*`` headers). Answered 202 once stored; a duplicate (same source and id)
    answers the stored event with ``created: false``."""
    from studio.events.ingest import accept

    ws = ws_of(request)
    body = await read_body(request, ws.settings.max_event_bytes)
    event = from_http(dict(request.headers), body, max_bytes=ws.settings.max_event_bytes)
    row, created = await run_in_threadpool(accept, ws, event)
    return _accepted(row, created)


def _token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.query_params.get("token")


async def _webhook(request: Request, name: str | None) -> JSONResponse:
    from studio.events.webhooks import check_token, receive_webhook

    ws = ws_of(request)
    token = _token(request)
    await run_in_threadpool(check_token, ws, token, name)       # 401 before reading a stranger's body
    body = await read_body(request, ws.settings.max_event_bytes)
    row, created = await run_in_threadpool(receive_webhook, ws, token, body, name)
    return _accepted(row, created)


@router.post("/webhooks/{name}", status_code=202, responses=ERRORS)
async def post_named_webhook(request: Request, name: str) -> JSONResponse:
    """A webhook call: JSON body, token in ``Authorization: Bearer`` or ``?token=``."""
    return await _webhook(request, name)


@router.post("/webhook", status_code=202, responses=ERRORS)
async def post_webhook(request: Request) -> JSONResponse:
    """A webhook call; the token alone says which webhook it is."""
    return await _webhook(request, None)


@router.get("/events")
def get_events(request: Request, type: str | None = None, correlation_id: str | None = None,
               text: str | None = None, since: datetime | None = None, until: datetime | None = None,
               limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Events newest first; ``correlation_id`` gives its whole chain."""
    from studio.events.lineage import list_events

    return list_events(ws_of(request), type=type, correlation_id=correlation_id, text=text, since=since,
                       until=until, limit=min(limit, 500), offset=offset)


@router.get("/events/{seq}", responses=ERRORS)
def get_event(request: Request, seq: int) -> dict[str, Any]:
    """One event and what the router did with it."""
    from studio.events.lineage import get_event as get
    from studio.router import routings

    ws = ws_of(request)
    return get(ws, seq) | {"routing": routings(ws, seq)}


@router.get("/dead-letters")
def get_dead_letters(request: Request, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    from studio.router import dead_letters

    return dead_letters(ws_of(request), limit=min(limit, 500), offset=offset)


@router.get("/event-types")
def get_event_types(request: Request) -> list[dict[str, Any]]:
    """The event catalog: counts, inferred JSON schema, samples, producers and consumers."""
    from studio.events.catalog import event_types

    return event_types(ws_of(request))


@router.get("/event-types/{name}", responses=ERRORS)
def get_event_type(request: Request, name: str) -> dict[str, Any]:
    from studio.events.catalog import event_type

    return event_type(ws_of(request), name)


@router.get("/lineage/{correlation_id}", responses=ERRORS)
def get_lineage(request: Request, correlation_id: str) -> list[dict[str, Any]]:
    """Events and executions of the chain, in time order, each with its parent."""
    from studio.events.lineage import lineage

    return lineage(ws_of(request), correlation_id)


class LinkIn(BaseModel):
    service: str = Field(description="service name or project/name")
    event_type: str


@router.get("/links")
def get_links(request: Request, event_type: str | None = None, service: str | None = None) -> list[dict[str, Any]]:
    from studio.router import list_links

    return list_links(ws_of(request), event_type=event_type, service=service)


@router.post("/links", status_code=201, responses=ERRORS)
def post_link(request: Request, body: LinkIn) -> dict[str, Any]:
    """Link a service to an event type; the next event of that type starts it."""
    from studio.router import link

    return link(ws_of(request), body.service, body.event_type)


@router.delete("/links", responses=ERRORS)
def delete_link(request: Request, service: str, event_type: str) -> dict[str, Any]:
    from studio.router import unlink

    return unlink(ws_of(request), service, event_type)


class MappingIn(BaseModel):
    source: str
    target: str
    fields: dict[str, str] = Field(default_factory=dict, description="old name -> new name")
    strategy: str = Field("mapped", description="mapped: only mapped fields; all: every field, renamed")


@router.get("/mappings")
def get_mappings(request: Request) -> list[dict[str, Any]]:
    from studio.router import list_mappings

    return list_mappings(ws_of(request))


@router.post("/mappings", status_code=201, responses=ERRORS)
def post_mapping(request: Request, body: MappingIn) -> dict[str, Any]:
    """Add (or replace) a mapping; 409 when source and target are the same type."""
    from studio.router import add_mapping

    return add_mapping(ws_of(request), body.source, body.target, body.fields, body.strategy)


@router.delete("/mappings", responses=ERRORS)
def delete_mapping(request: Request, source: str, target: str) -> dict[str, Any]:
    from studio.router import remove_mapping

    remove_mapping(ws_of(request), source, target)
    return {"source": source, "target": target, "removed": True}


class TokenIn(BaseModel):
    name: str


@router.get("/webhook-tokens")
def get_tokens(request: Request) -> list[dict[str, Any]]:
    """Webhook names and dates; never the tokens."""
    from studio.events.webhooks import list_tokens

    return list_tokens(ws_of(request))


@router.post("/webhook-tokens", status_code=201, responses=ERRORS)
def post_token(request: Request, body: TokenIn) -> dict[str, Any]:
    """Create a webhook token; the answer holds it, and it is never shown again."""
    from studio.events.webhooks import create_token

    token = create_token(ws_of(request), body.name)
    return {"name": body.name, "token": token, "url": f"/api/webhooks/{body.name}"}


@router.delete("/webhook-tokens/{name}", responses=ERRORS)
def delete_token(request: Request, name: str) -> dict[str, Any]:
    from studio.events.webhooks import revoke_token

    revoke_token(ws_of(request), name)
    return {"name": name, "revoked": True}
