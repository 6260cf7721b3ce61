"""The event commands, end to end through click (no studio up: send --wait runs the chain here)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from studio.cli import cli


@pytest.fixture
def run(ws, project, monkeypatch):
    monkeypatch.setenv("STUDIO_DATABASE_URL", ws.settings.database_url)
    monkeypatch.setenv("STUDIO_BUS_URL", ws.settings.bus_url)

    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["--home", str(ws.settings.home), *args])
        return result.exit_code, result.output

    return invoke


@pytest.mark.parametrize("db_urls", ["sqlite"], indirect=True)
def test_send_wait_link_map_lineage(run, project):
    project.add("echo", code="from studio import context\ncontext.events.send('echo.done', dict(context.params))\n")
    code, out = run("link", "echo", "--event", "ping")
    assert code == 0, out
    code, out = run("map", "echo.done", "pong", "--field", "v=w")
    assert code == 0, out
    code, out = run("send", "ping", "--data", '{"v": 7}', "--wait", "--timeout", "60", "--json")
    assert code == 0, out
    record = json.loads(out[out.index("{"):])
    assert [x["status"] for x in record["executions"]] == ["completed"]
    code, out = run("lineage", record["event"]["correlationid"], "--json")
    types = [n["type"] for n in json.loads(out) if n["kind"] == "event" and not n["type"].startswith("studio.")]
    assert types[:3] == ["ping", "echo.done", "pong"]
    code, out = run("events", "--type", "pong", "--json")
    assert json.loads(out)[0]["data"] == {"w": 7}
    code, out = run("map", "x", "x")
    assert code == 1 and "onto itself" in out
    code, out = run("send", "ping", "--data", "{bad")
    assert code == 1 and "--data" in out
    code, out = run("webhooks", "create", "hook")
    assert code == 0 and "stw_" in out
    code, out = run("event-types", "--json")
    assert {"ping", "echo.done", "pong"} <= {t["type"] for t in json.loads(out)}
