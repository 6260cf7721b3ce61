"""The event catalog (schema inference, producers, consumers) and lineage by correlation id."""

from __future__ import annotations

import threading

from studio.events.catalog import event_types, merge_schema
from studio.events.cloudevent import new_event
from studio.events.ingest import accept
from studio.events.lineage import lineage, list_events, wait_for_chain
from studio.executor import Executor
from studio.router import add_mapping


def _type(ws, name):
    return next(t for t in event_types(ws) if t["type"] == name)


def test_schema_marks_sometimes_missing_fields_optional(ws):
    for data in ({"id": 1, "name": "a"}, {"id": 2}, {"id": 3, "name": "c", "tags": ["x"]}):
        accept(ws, new_event("cust.new", data, source="t"))
    entry = _type(ws, "cust.new")
    schema = entry["schema"]
    assert entry["count"] == 3 and len(entry["samples"]) == 3
    assert schema["required"] == ["id"]
    assert schema["properties"]["id"]["type"] == "integer"
    assert schema["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    assert schema["x-seen"] == {"id": 3, "name": 2, "tags": 1}
    assert entry["conflicts"] == []


def test_schema_type_conflicts_are_listed(ws):
    for value in (1, "one", None, 2.5):
        accept(ws, new_event("mixed", {"v": value, "n": 1 if value != 2.5 else 1.5}, source="t"))
    schema = _type(ws, "mixed")["schema"]
    assert schema["properties"]["v"]["type"] == ["null", "number", "string"]
    assert schema["properties"]["n"]["type"] == "number"        # integer widened: no conflict
    assert schema["x-conflicts"] == ["$.v"]


def test_merge_schema_integer_then_string():
    schema = merge_schema({}, {"a": 1})
    conflicts: set[str] = set()
    schema = merge_schema(schema, {"a": "x"}, "$", conflicts)
    assert schema["properties"]["a"]["type"] == ["integer", "string"] and conflicts == {"$.a"}


def test_catalog_is_safe_with_concurrent_writers(ws, open_ws):
    others = [open_ws() for _ in range(4)]
    barrier = threading.Barrier(4)

    def write(w, i):
        barrier.wait()
        for j in range(10):
            accept(w, new_event("race.t", {"i": i, "j": j}, source=f"w{i}"))

    threads = [threading.Thread(target=write, args=(w, i)) for i, w in enumerate(others)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _type(ws, "race.t")["count"] == 40


def test_producers_and_consumers(ws, project):
    project.add("emitter", {"output_events": ["made.it"]},
                code="from studio import context\ncontext.events.send('made.it', {'rows': 1})\n")
    project.add("listener", {"trigger_events": ["made.it"]})
    entry = _type(ws, "made.it")
    assert entry["producers"] == ["proj/emitter"] and entry["consumers"] == ["proj/listener"]
    assert entry["count"] == 0


def run_chain(ws, seq, timeout=60):
    """Router and executor in this process until the chain of ``seq`` settles."""
    from studio.router import Router

    stop = threading.Event()
    executor = Executor(ws, concurrency=2)
    router = Router(ws, on_started=executor.wakeup.set)
    threads = [threading.Thread(target=router.serve, args=(stop,)), threading.Thread(target=executor.serve, args=(stop,))]
    for t in threads:
        t.start()
    try:
        return wait_for_chain(ws, seq, timeout=timeout)
    finally:
        stop.set()
        for t in threads:
            t.join(15)


def test_lineage_follows_the_chain_in_time_order(ws, project):
    project.add("first", {"trigger_events": ["chain.start"]},
                code="from studio import context\ncontext.events.send('chain.middle', {'x': 1})\n")
    project.add("second", {"trigger_events": ["chain.next"]})
    add_mapping(ws, "chain.middle", "chain.next", {"x": "y"}, "mapped")
    ev, _ = accept(ws, new_event("chain.start", {}, source="t"))
    done = run_chain(ws, ev.seq)
    assert sorted((x.service, x.status) for x in done) == [("first", "completed"), ("second", "completed")]
    nodes = lineage(ws, ev.correlation_id)
    kinds = [(n["kind"], n.get("type") or n.get("service")) for n in nodes
             if not str(n.get("type", "")).startswith("studio.execution.")]
    assert kinds == [("event", "chain.start"), ("execution", "proj/first"), ("event", "chain.middle"),
                         ("event", "chain.next"), ("execution", "proj/second")]
    times = [n["time"] for n in nodes]
    assert times == sorted(times)
    by_key = {(n["kind"], n.get("seq") or n.get("id")): n for n in nodes}
    first = next(n for n in nodes if n.get("service") == "proj/first")
    middle = next(n for n in nodes if n.get("type") == "chain.middle")
    nxt = next(n for n in nodes if n.get("type") == "chain.next")
    assert first["parent"] == {"kind": "event", "seq": ev.seq}
    assert middle["parent"] == {"kind": "execution", "id": first["id"]}
    assert nxt["parent"] == {"kind": "event", "seq": middle["seq"]}
    assert ("event", ev.seq) in by_key
    # any hop's id finds the same chain
    assert [n["time"] for n in lineage(ws, nxt["correlation_id"])] == times
    assert {e["type"] for e in list_events(ws, correlation_id=nxt["correlation_id"])} >= {"chain.start", "chain.next"}


def test_list_events_filters(ws):
    accept(ws, new_event("a.t", {"city": "Lyon"}, source="t"))
    accept(ws, new_event("b.t", {"city": "Nice"}, source="t"))
    assert [e["type"] for e in list_events(ws)] == ["b.t", "a.t"]
    assert [e["type"] for e in list_events(ws, type="a.t")] == ["a.t"]
    assert [e["type"] for e in list_events(ws, text="Nice")] == ["b.t"]
    assert len(list_events(ws, limit=1)) == 1 and list_events(ws, limit=1, offset=1)[0]["type"] == "a.t"
