"""Getting events in: CloudEvents over HTTP (structured and binary), webhook tokens, limits.

Every bad input gets a typed error naming the problem, and events already stored stay.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from studio.catalog.models import Event
from studio.errors import ValidationFailed
from studio.events.cloudevent import from_http, new_event
from studio.events.ingest import accept
from studio.events.webhooks import (PayloadTooLarge, Unauthorized, check_token, create_token, list_tokens,
                                    receive_webhook, revoke_token)

GOOD = {"specversion": "1.0", "id": "e-1", "source": "shop", "type": "order.placed", "data": {"n": 1}}


def stored(ws):
    with ws.catalog.session() as s:
        return s.scalar(select(func.count()).select_from(Event))


@pytest.fixture
def one_stored(ws):
    accept(ws, new_event("before.anything", {"keep": True}, source="test"))
    return ws


def test_structured_mode(ws):
    event = from_http({"Content-Type": "application/cloudevents+json"}, json.dumps(GOOD).encode())
    assert (event.type, event.id, event.data) == ("order.placed", "e-1", {"n": 1})


def test_plain_json_without_ce_headers_is_structured(ws):
    assert from_http({"content-type": "application/json"}, json.dumps(GOOD).encode()).source == "shop"


def test_binary_mode(ws):
    headers = {"ce-specversion": "1.0", "ce-id": "b-1", "ce-source": "iot%2Fsensor", "ce-type": "temp.read",
               "ce-subject": "room-1", "ce-correlationid": "abc123_01", "Content-Type": "application/json"}
    event = from_http(headers, b'{"celsius": 21.5}')
    assert (event.id, event.source, event.subject, event.data) == ("b-1", "iot/sensor", "room-1", {"celsius": 21.5})
    assert event.correlationid == "abc123_01"
    text = from_http({**headers, "Content-Type": "text/plain"}, b"hello")
    assert text.data == "hello" and text.datacontenttype == "text/plain"


@pytest.mark.parametrize("missing", ["id", "source", "type", "specversion"])
def test_missing_attribute_is_named(one_stored, missing):
    body = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(ValidationFailed) as info:
        from_http({"content-type": "application/cloudevents+json"}, json.dumps(body).encode())
    assert [e.field for e in info.value.errors] == [missing]
    assert "missing" in str(info.value)
    assert stored(one_stored) == 1


def test_binary_missing_header_is_named(ws):
    with pytest.raises(ValidationFailed, match="type: missing"):
        from_http({"ce-specversion": "1.0", "ce-id": "x", "ce-source": "s"}, b"{}")


def test_unknown_specversion_is_named(one_stored):
    with pytest.raises(ValidationFailed, match=r"specversion: .*unknown specversion '0.3'"):
        from_http({}, json.dumps({**GOOD, "specversion": "0.3"}).encode())
    assert stored(one_stored) == 1


@pytest.mark.parametrize("body,reason", [(b"{not json", "not valid JSON"), (b"", "empty body"),
                                         (b"\xff\xfe", "not UTF-8"), (b"[1, 2]", "must be a JSON object")])
def test_bad_bodies_say_why(one_stored, body, reason):
    with pytest.raises(ValidationFailed, match=reason):
        from_http({"content-type": "application/cloudevents+json"}, body)
    assert stored(one_stored) == 1


def test_too_large_is_413(one_stored):
    body = json.dumps({**GOOD, "data": "x" * (10 * 1024 * 1024)}).encode()
    with pytest.raises(PayloadTooLarge) as info:
        from_http({}, body, max_bytes=one_stored.settings.max_event_bytes)
    assert info.value.status_code == 413
    assert stored(one_stored) == 1


# Webhooks -------------------------------------------------------------------------------

def test_webhook_token_lifecycle(one_stored):
    ws = one_stored
    token = create_token(ws, "github")
    assert check_token(ws, token) == "github"
    assert [t["name"] for t in list_tokens(ws)] == ["github"]
    assert token not in json.dumps(list_tokens(ws))
    row, created = receive_webhook(ws, token, b'{"action": "push"}')
    assert created and row.type == "studio.webhook.incoming" and row.data == {"action": "push"}
    assert row.source == "studio/webhook/github"
    revoke_token(ws, "github")
    with pytest.raises(Unauthorized, match="revoked") as info:
        receive_webhook(ws, token, b'{"action": "push"}')
    assert info.value.status_code == 401
    assert stored(ws) == 2


@pytest.mark.parametrize("token", [None, "", "stw_wrong"])
def test_webhook_without_a_valid_token_stores_nothing(one_stored, token):
    create_token(one_stored, "hook")
    with pytest.raises(Unauthorized):
        receive_webhook(one_stored, token, b'{"a": 1}')
    assert stored(one_stored) == 1


def test_webhook_token_of_another_webhook_is_refused(one_stored):
    token = create_token(one_stored, "one")
    create_token(one_stored, "two")
    with pytest.raises(Unauthorized):
        receive_webhook(one_stored, token, b"{}", name="two")


def test_webhook_10mb_body_is_413_and_nothing_stored(one_stored):
    token = create_token(one_stored, "big")
    with pytest.raises(PayloadTooLarge):
        receive_webhook(one_stored, token, b'{"a": "' + b"x" * (10 * 1024 * 1024) + b'"}')
    assert stored(one_stored) == 1


def test_webhook_non_json_is_a_clear_error(one_stored):
    token = create_token(one_stored, "txt")
    with pytest.raises(ValidationFailed, match="invalid webhook body: .*not valid JSON"):
        receive_webhook(one_stored, token, b"hello=world")
    assert stored(one_stored) == 1


def test_public_api_is_all():
    import studio.events as events

    for name in events.__all__:
        assert getattr(events, name) is not None
