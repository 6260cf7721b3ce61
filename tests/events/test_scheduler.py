"""The scheduler: slots fire once (restarts, racing schedulers), catch-up once, invalid crons."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from studio.catalog.models import Event, Execution, Routing, ScheduleSlot
from studio.scheduler import Scheduler, latest_slot, schedule_info, tick
from zoneinfo import ZoneInfo


def later(minutes: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(minutes=minutes)


def count(ws, model, *where):
    with ws.catalog.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_due_slot_fires_once_across_restarts(ws, project):
    project.add("rep", {"schedule": "*/5 * * * *"})
    # One minute past a slot, so "30 s later" below is still before the next slot whatever the clock says.
    now = latest_slot("*/5 * * * *", ZoneInfo("UTC"), later(6)) + timedelta(minutes=1)
    fired = tick(ws, now)
    assert len(fired) == 1 and fired[0].outcome == "started"
    assert fired[0].slot == latest_slot("*/5 * * * *", ZoneInfo("UTC"), now)
    assert tick(ws, now) == [] and Scheduler(ws).tick(now + timedelta(seconds=30)) == []
    assert count(ws, Execution, Execution.trigger == "scheduled") == 1
    with ws.catalog.session() as s:
        event = s.scalar(select(Event).where(Event.type == "studio.schedule.fired"))
        execution = s.scalar(select(Execution))
    assert event.data == {"slot": fired[0].slot.isoformat(), "service": "proj/rep"} and event.routed
    assert execution.trigger_event_id == event.seq and execution.correlation_id == event.correlation_id


def test_two_schedulers_racing_fire_once(ws, project, open_ws):
    project.add("race", {"schedule": "* * * * *"})
    others = [open_ws() for _ in range(3)]
    now = later(2)
    barrier = threading.Barrier(4)
    results: list = []

    def run(w):
        barrier.wait()
        results.extend(Scheduler(w).tick(now))

    threads = [threading.Thread(target=run, args=(w,)) for w in [ws, *others[:3]]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 1
    assert count(ws, ScheduleSlot) == 1 and count(ws, Execution) == 1


def test_missed_slots_catch_up_once(ws, project):
    project.add("hourly", {"schedule": "@hourly"})
    scheduler = Scheduler(ws)
    first = scheduler.tick(later(61))
    assert len(first) == 1
    # the studio was down for five hours: only the latest missed slot fires
    restarted = Scheduler(ws)
    back_up = latest_slot("@hourly", ZoneInfo("UTC"), later(61 + 300)) + timedelta(minutes=10)
    caught_up = restarted.tick(back_up)
    assert len(caught_up) == 1
    assert caught_up[0].slot == back_up - timedelta(minutes=10)
    assert restarted.tick(back_up + timedelta(minutes=1)) == []   # still before the next slot
    assert count(ws, ScheduleSlot) == 2


def test_new_service_does_not_fire_for_slots_before_it_existed(ws, project):
    project.add("fresh", {"schedule": "@yearly"})
    assert tick(ws) == []


def test_timezone_of_the_manifest(ws, project):
    project.add("paris", {"schedule": "0 9 * * *", "timezone": "Europe/Paris"})
    info = schedule_info(ws.service("paris"))
    assert info["valid"] and len(info["next"]) == 5
    first = datetime.fromisoformat(info["next"][0])
    assert first.astimezone(ZoneInfo("Europe/Paris")).hour == 9


def test_invalid_cron_loads_and_is_reported(ws, project):
    project.add("bad", {"schedule": "61 * * * *"})
    project.add("six", {"schedule": "* * * * * *"})
    svc = ws.service("bad")
    assert svc.runnable
    info = schedule_info(svc)
    assert info["valid"] is False and "61" in info["error"] and info["next"] == []
    assert "five" in schedule_info(ws.service("six"))["error"]
    assert tick(ws, later(120)) == []


def test_inactive_services_do_not_fire(ws, project):
    project.add("off", {"schedule": "* * * * *", "active": False})
    assert tick(ws, later(3)) == []


def test_form_defaults_apply_and_bad_params_are_rejected(ws, project):
    project.add("dflt", {"schedule": "* * * * *"},
                fields=[{"name": "region", "type": "text", "label": "R", "default": "eu"}])
    project.add("needs", {"schedule": "* * * * *"},
                fields=[{"name": "region", "type": "text", "label": "R", "required": True}])
    fired = {f.service: f for f in tick(ws, later(2))}
    assert fired["proj/dflt"].outcome == "started"
    assert fired["proj/needs"].outcome == "rejected" and "region" in fired["proj/needs"].reason
    with ws.catalog.session() as s:
        params = s.scalar(select(Execution.params).where(Execution.service == "dflt"))
        rejected = s.scalar(select(Routing).where(Routing.outcome == "rejected"))
    assert params == {"region": "eu"} and "region" in rejected.reason
