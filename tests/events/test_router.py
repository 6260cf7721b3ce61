"""Routing: links, late links, inactive, rejected, mappings, hop limit, dead letter, idempotency."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from studio import defaults
from studio.catalog.models import Event, Execution, Routing
from studio.errors import Conflict
from studio.events.cloudevent import new_event
from studio.events.ingest import accept
from studio.router import Router, add_mapping, link, route, unlink

INT_FIELD = [{"name": "n", "type": "int", "label": "N", "required": True}]


def send(ws, type, data=None):
    row, created = accept(ws, new_event(type, data=data, source="test"))
    assert created
    return row


def executions(ws, seq=None):
    with ws.catalog.session() as s:
        q = select(Execution).order_by(Execution.created_at)
        if seq is not None:
            q = q.where(Execution.trigger_event_id == seq)
        return list(s.scalars(q))


def count_events(ws):
    with ws.catalog.session() as s:
        return s.scalar(select(func.count()).select_from(Event))


def test_event_reaches_every_linked_service(ws, project):
    for name in ("a", "b", "c"):
        project.add(name, {"trigger_events": ["sales.ingested"]})
    project.add("other", {"trigger_events": ["other.type"]})
    ev = send(ws, "sales.ingested", {"rows": 3})
    results = route(ws, ev.seq)
    assert sorted(r.outcome for r in results) == ["started"] * 3
    started = executions(ws, ev.seq)
    assert sorted(x.service for x in started) == ["a", "b", "c"]
    assert all(x.trigger == "event" and x.params == {"rows": 3} for x in started)
    assert {x.correlation_id for x in started} == {ev.correlation_id[:-2] + "02"}


def test_redelivery_starts_nothing_twice(ws, project, open_ws):
    project.add("a", {"trigger_events": ["t.x"]})
    ev = send(ws, "t.x", {})
    others = [open_ws() for _ in range(3)]
    barrier = threading.Barrier(4)

    def go(w):
        barrier.wait()
        route(w, ev.seq)

    threads = [threading.Thread(target=go, args=(w,)) for w in [ws, *others]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    route(ws, ev.seq)
    assert len(executions(ws, ev.seq)) == 1
    with ws.catalog.session() as s:
        assert s.scalar(select(func.count()).select_from(Routing).where(Routing.event_seq == ev.seq)) == 1


def test_late_link_and_unlink_take_effect_at_once(ws, project):
    project.add("late")
    first = send(ws, "orders.new", {})
    assert [r.outcome for r in route(ws, first.seq)] == ["dead_letter"]
    link(ws, "late", "orders.new")
    second = send(ws, "orders.new", {})
    assert [r.outcome for r in route(ws, second.seq)] == ["started"]
    unlink(ws, "late", "orders.new")
    third = send(ws, "orders.new", {})
    assert [r.outcome for r in route(ws, third.seq)] == ["dead_letter"]


def test_unlinking_a_manifest_link_survives_sync(ws, project):
    project.add("m", {"trigger_events": ["x.y"]})
    unlink(ws, "m", "x.y")
    ws.sync()
    ev = send(ws, "x.y", {})
    assert [r.outcome for r in route(ws, ev.seq)] == ["dead_letter"]


def test_inactive_service_skipped_and_recorded(ws, project):
    project.add("off", {"trigger_events": ["t.a"], "active": False})
    project.add("on", {"trigger_events": ["t.a"]})
    ev = send(ws, "t.a", {})
    outcomes = {r.outcome: r for r in route(ws, ev.seq)}
    assert set(outcomes) == {"inactive", "started"}
    assert "inactive" in outcomes["inactive"].reason
    assert [x.service for x in executions(ws, ev.seq)] == ["on"]
    ws.set_active(ws.service("off"), True)
    ev2 = send(ws, "t.a", {})
    assert sorted(r.outcome for r in route(ws, ev2.seq)) == ["started", "started"]


def test_data_not_fitting_the_form_is_rejected_with_reason(ws, project):
    project.add("typed", {"trigger_events": ["t.n"]}, fields=INT_FIELD)
    good = send(ws, "t.n", {"n": 4})
    bad = send(ws, "t.n", {"n": "four"})
    missing = send(ws, "t.n", {})
    assert [r.outcome for r in route(ws, good.seq)] == ["started"]
    for ev in (bad, missing):
        (r,) = route(ws, ev.seq)
        assert r.outcome == "rejected" and "n" in r.reason and r.execution_id is None
        assert executions(ws, ev.seq) == []
    assert executions(ws, good.seq)[0].params == {"n": 4}
    assert count_events(ws) == 3   # the bad events are kept, with their routing


def test_mapping_mapped_fields_only(ws, project):
    project.add("target", {"trigger_events": ["crm.contact"]})
    add_mapping(ws, "shop.customer", "crm.contact", {"mail": "email", "nm": "name"}, "mapped")
    ev = send(ws, "shop.customer", {"mail": "a@b.c", "nm": "Ann", "extra": 1})
    (r,) = route(ws, ev.seq)
    assert r.outcome == "mapped"
    with ws.catalog.session() as s:
        mapped = s.scalar(select(Event).where(Event.type == "crm.contact"))
    assert mapped.data == {"email": "a@b.c", "name": "Ann"}
    assert mapped.hops == 1 and mapped.correlation_id.endswith("_02")
    assert [x.service for x in (route(ws, mapped.seq) and executions(ws, mapped.seq))] == ["target"]


def test_mapping_all_fields(ws):
    add_mapping(ws, "a.one", "a.two", {"x": "y"}, "all")
    ev = send(ws, "a.one", {"x": 1, "z": 2})
    route(ws, ev.seq)
    with ws.catalog.session() as s:
        mapped = s.scalar(select(Event).where(Event.type == "a.two"))
    assert mapped.data == {"y": 1, "z": 2}


def test_mapping_to_itself_is_refused(ws):
    with pytest.raises(Conflict, match="onto itself"):
        add_mapping(ws, "loop.me", "loop.me", {})


def test_mapping_loop_is_cut_at_hop_limit(ws):
    add_mapping(ws, "ping", "pong", {}, "all")
    add_mapping(ws, "pong", "ping", {}, "all")
    ev = send(ws, "ping", {"v": 1})
    pending, outcomes = [ev.seq], []
    while pending:
        seq = pending.pop()
        for r in route(ws, seq):
            outcomes.append(r.outcome)
            if r.outcome == "mapped":
                pending.append(int(r.reason.split(" as event ")[1].split()[0]))
    assert outcomes.count("mapped") == defaults.MAX_MAPPING_HOPS
    assert outcomes[-1] == "cut"
    assert count_events(ws) == defaults.MAX_MAPPING_HOPS + 1


def test_dead_letter_names_the_type(ws):
    ev = send(ws, "nobody.listens", {})
    (r,) = route(ws, ev.seq)
    assert r.outcome == "dead_letter" and r.service_id is None
    assert r.reason == "no service is linked to type nobody.listens and no mapping applies"


def test_duplicate_event_is_stored_once(ws):
    event = new_event("dup.t", {"a": 1}, source="sender")
    first, created1 = accept(ws, event)
    second, created2 = accept(ws, event)
    assert created1 and not created2 and first.seq == second.seq
    assert count_events(ws) == 1


def test_router_role_consumes_bus_and_acks(ws, project):
    project.add("a", {"trigger_events": ["bus.t"]})
    woken = threading.Event()
    router = Router(ws, on_started=woken.set)
    stop = threading.Event()
    thread = threading.Thread(target=router.serve, args=(stop,))
    thread.start()
    try:
        ev = send(ws, "bus.t", {"k": 1})
        assert woken.wait(15)
    finally:
        stop.set()
        thread.join(10)
    assert [x.service for x in executions(ws, ev.seq)] == ["a"]
