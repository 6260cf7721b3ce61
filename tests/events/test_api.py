"""REST: POST /api/events (both modes), webhooks, limits, catalog, lineage, links, mappings."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from studio.api import create_app
from studio.catalog.models import Event

CE = {"specversion": "1.0", "id": "x-1", "source": "shop", "type": "order.placed", "data": {"n": 1}}


@pytest.fixture
def client(ws):
    with TestClient(create_app(ws)) as c:
        yield c


def stored(ws):
    with ws.catalog.session() as s:
        return s.scalar(select(func.count()).select_from(Event))


def test_post_structured_and_binary(client, ws):
    r = client.post("/api/events", content=json.dumps(CE), headers={"content-type": "application/cloudevents+json"})
    assert r.status_code == 202 and r.json()["created"] and r.json()["event"]["seq"] >= 1
    again = client.post("/api/events", json=CE)
    assert again.status_code == 202 and again.json()["created"] is False
    binary = client.post("/api/events", content=b'{"a": 2}', headers={
        "ce-specversion": "1.0", "ce-id": "b-1", "ce-source": "iot", "ce-type": "temp.read",
        "content-type": "application/json"})
    assert binary.status_code == 202 and binary.json()["event"]["data"] == {"a": 2}
    assert stored(ws) == 2


@pytest.mark.parametrize("body,status,needle", [
    ({k: v for k, v in CE.items() if k != "source"}, 422, "source"),
    ({**CE, "specversion": "0.3"}, 422, "specversion"),
    ("{nope", 422, "not valid JSON"),
])
def test_bad_events(client, ws, body, status, needle):
    client.post("/api/events", json={**CE, "id": "keep"})
    content = body if isinstance(body, str) else json.dumps(body)
    r = client.post("/api/events", content=content, headers={"content-type": "application/cloudevents+json"})
    assert r.status_code == status and needle in r.json()["error"]
    assert stored(ws) == 1


def test_too_large_is_413(client, ws):
    r = client.post("/api/events", content=b"x" * (10 * 1024 * 1024), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "limit" in r.json()["error"]
    assert stored(ws) == 0


def test_webhooks(client, ws):
    token = client.post("/api/webhook-tokens", json={"name": "gh"}).json()["token"]
    assert client.post("/api/webhooks/gh", json={"a": 1}).status_code == 401
    assert client.post("/api/webhooks/gh?token=wrong", json={"a": 1}).status_code == 401
    ok = client.post("/api/webhooks/gh", json={"a": 1}, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 202 and ok.json()["event"]["type"] == "studio.webhook.incoming"
    assert client.post(f"/api/webhook?token={token}", json={"b": 2}).status_code == 202
    big = client.post(f"/api/webhooks/gh?token={token}", content=b"[" + b"1," * (6 * 1024 * 1024) + b"1]")
    assert big.status_code == 413
    bad = client.post(f"/api/webhooks/gh?token={token}", content=b"a=b")
    assert bad.status_code == 422 and "not valid JSON" in bad.json()["error"]
    assert client.delete("/api/webhook-tokens/gh").status_code == 200
    assert client.post(f"/api/webhooks/gh?token={token}", json={"a": 1}).status_code == 401
    assert token not in client.get("/api/webhook-tokens").text
    assert stored(ws) == 2


def test_links_mappings_catalog_lineage(client, ws, project):
    project.add("svc")
    assert client.post("/api/links", json={"service": "svc", "event_type": "a.b"}).status_code == 201
    assert client.get("/api/links").json()[0]["service"] == "proj/svc"
    assert client.post("/api/mappings", json={"source": "a.b", "target": "a.b"}).status_code == 409
    m = client.post("/api/mappings", json={"source": "a.b", "target": "c.d", "fields": {"x": "y"}})
    assert m.status_code == 201 and client.get("/api/mappings").json()[0]["target"] == "c.d"
    ev = client.post("/api/events", json={**CE, "type": "a.b", "data": {"x": 1}}).json()["event"]
    from studio.router import route

    route(ws, ev["seq"])
    types = {t["type"]: t for t in client.get("/api/event-types").json()}
    assert types["a.b"]["consumers"] == ["proj/svc"] and types["c.d"]["count"] == 1
    chain = client.get(f"/api/lineage/{ev['correlationid']}").json()
    assert [n["kind"] for n in chain][:2] == ["event", "execution"]
    detail = client.get(f"/api/events/{ev['seq']}").json()
    assert sorted(r["outcome"] for r in detail["routing"]) == ["mapped", "started"]
    assert client.get("/api/events", params={"type": "c.d"}).json()[0]["data"] == {"y": 1}
    assert client.delete("/api/links", params={"service": "svc", "event_type": "a.b"}).status_code == 200
    assert client.get("/api/lineage/nope_01").status_code == 404
