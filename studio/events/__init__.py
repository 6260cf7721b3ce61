"""Events: CloudEvents in, stored, routed to services; correlation ids; the event catalog.

    from studio.events import accept, from_http, lineage, wait_for_chain
    accept(ws, event)              store (deduplicated on source+id), then ring the router's bell
    from_http(headers, body)       a CloudEvent from HTTP, structured or binary mode
    receive_webhook(ws, token, b)  a webhook call -> studio.webhook.incoming event (401/413/422)
    lineage(ws, correlation_id)    the chain event -> execution -> event ..., in time order
    list_events(ws, ...)           the event log, newest first
    event_types(ws)                the catalog: counts, inferred schema, producers, consumers
    wait_for_chain(ws, cid|seq)    block until the chain settles (``studio send --wait``)
    link/unlink/add_mapping        late links and mappings (also in studio.router)

Errors::

    StudioError
     ├── ValidationFailed   (422) a malformed event or body, every field named
     ├── Unauthorized       (401) webhook token missing, wrong or revoked
     ├── PayloadTooLarge    (413) body over max_event_bytes
     ├── Conflict           (409) mapping a type onto itself
     └── WaitTimeout        (504) wait_for_chain gave up

Submodules import lazily so ``studio.runs`` can import ``studio.events.cloudevent`` without
pulling in the workspace.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "CloudEvent": "cloudevent", "new_event": "cloudevent", "parse_cloudevent": "cloudevent",
    "from_http": "cloudevent", "PayloadTooLarge": "cloudevent",
    "next_hop": "correlation", "new_correlation_id": "correlation",
    "store_event": "store", "event_dict": "store",
    "accept": "ingest", "EVENTS_TOPIC": "ingest",
    "register_event_type": "catalog", "event_types": "catalog", "event_type": "catalog",
    "lineage": "lineage", "list_events": "lineage", "get_event": "lineage", "wait_for_chain": "lineage",
    "WaitTimeout": "lineage",
    "Unauthorized": "webhooks", "create_token": "webhooks", "revoke_token": "webhooks",
    "list_tokens": "webhooks", "check_token": "webhooks", "receive_webhook": "webhooks",
    "link": "links", "unlink": "links", "list_links": "links", "add_mapping": "links",
    "remove_mapping": "links", "list_mappings": "links",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'studio.events' has no attribute {name!r}")
    return getattr(import_module(f"studio.events.{_EXPORTS[name]}"), name)
