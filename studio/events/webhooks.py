"""Webhooks: outside systems post JSON to the studio with a token; it becomes an event.

A token is shown once, when it is created; the catalog keeps only its SHA-256. A request with
no token, a wrong one or a revoked one gets 401 and nothing is stored. The body is checked
for size before it is parsed (413) and must be JSON (422 naming the problem).

    StudioError
     ├── Unauthorized      401: missing, wrong or revoked webhook token
     └── PayloadTooLarge   413: body over max_event_bytes (from studio.events.cloudevent)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy import select

from studio.auth import LOCAL_USER, Principal, authorize
from studio.catalog.models import Event, WebhookToken, utcnow
from studio.errors import Conflict, NotFound, StudioError
from studio.events.cloudevent import WEBHOOK_INCOMING, PayloadTooLarge, check_size, new_event, parse_json_body
from studio.manifest import check_name
from studio.workspace import Workspace

TOKEN_PREFIX = "stw_"


class Unauthorized(StudioError):
    status_code = 401


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(ws: Workspace, name: str, who: Principal = LOCAL_USER) -> str:
    """A new webhook token called ``name``; the plaintext is returned once and never stored."""
    authorize(who, "manage")
    check_name(name, "webhook")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with ws.catalog.session() as s:
        row = s.scalar(select(WebhookToken).where(WebhookToken.name == name))
        if row is not None and row.revoked_at is None:
            raise Conflict(f"webhook {name!r} already exists; revoke it first or pick another name")
        if row is not None:   # re-creating a revoked name: a fresh token under the same name
            row.token_hash, row.created_at, row.revoked_at = _hash(token), utcnow(), None
        else:
            s.add(WebhookToken(name=name, token_hash=_hash(token)))
    return token


def revoke_token(ws: Workspace, name: str, who: Principal = LOCAL_USER) -> None:
    authorize(who, "manage")
    with ws.catalog.session() as s:
        row = s.scalar(select(WebhookToken).where(WebhookToken.name == name))
        if row is None or row.revoked_at is not None:
            raise NotFound("webhook", name)
        row.revoked_at = utcnow()


def list_tokens(ws: Workspace) -> list[dict[str, Any]]:
    """Names and dates of the tokens; never the tokens themselves."""
    with ws.catalog.session() as s:
        rows = s.scalars(select(WebhookToken).order_by(WebhookToken.name)).all()
    return [{"name": r.name, "created_at": r.created_at.isoformat(),
             "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None, "active": r.revoked_at is None}
            for r in rows]


def check_token(ws: Workspace, token: str | None, name: str | None = None) -> str:
    """The name of the webhook ``token`` belongs to; Unauthorized if missing, wrong or revoked.

    With ``name`` (``POST /api/webhooks/{name}``) the token must also belong to that webhook.
    """
    if not token:
        raise Unauthorized("a webhook token is required: send 'Authorization: Bearer <token>' or ?token=<token>")
    digest = _hash(token)
    with ws.catalog.session() as s:
        row = s.scalar(select(WebhookToken).where(WebhookToken.token_hash == digest))
    if row is None or not hmac.compare_digest(row.token_hash, digest) or (name is not None and row.name != name):
        raise Unauthorized("the webhook token is not valid")
    if row.revoked_at is not None:
        raise Unauthorized(f"the webhook token {row.name!r} was revoked; ask for a new one")
    return row.name


def receive_webhook(ws: Workspace, token: str | None, body: bytes, name: str | None = None,
                    subject: str | None = None) -> tuple[Event, bool]:
    """Check the token, then the size, then the JSON; store a ``studio.webhook.incoming`` event."""
    from studio.events.ingest import accept

    webhook = check_token(ws, token, name)
    check_size(body, ws.settings.max_event_bytes)
    data = parse_json_body(body, what="webhook body")
    return accept(ws, new_event(WEBHOOK_INCOMING, data=data, source=f"studio/webhook/{webhook}",
                                subject=subject or webhook))


__all__ = ["Unauthorized", "PayloadTooLarge", "create_token", "revoke_token", "list_tokens", "check_token",
           "receive_webhook"]
