"""The `studio` command as a user types it (in-process through click's runner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from studio.cli import cli
from tests.conftest import notebook, write_service

SECRET = "s3cr3t-token-value"


@pytest.fixture
def home(tmp_path: Path, backend: str) -> Path:
    project = tmp_path / "proj"
    write_service(project, "hello", {"hello.ipynb": notebook(
        "from studio import context\ncontext.log.info(f'hello {who} x{times}')\nprint(who * times)",
        parameters="who = 'world'\ntimes = 1",
    )})
    write_service(project, "typed", {
        "a.py": "from studio import context\nprint('n is', context.params['n'])\n",
        "parameters.json": {"fields": [{"name": "n", "type": "int", "label": "N", "required": True, "max": 5}]},
    })
    write_service(project, "sql-load", {
        "manifest.json": {"execution_order": ["schema.sql", "load.sql"], "connection": "wh"},
        "schema.sql": "CREATE TABLE IF NOT EXISTS notes (body TEXT);",
        "load.sql": "INSERT INTO notes (body) VALUES ({{ body }});",
    })
    home = tmp_path / "home"
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(home), "--no-examples"]).exit_code == 0
    result = runner.invoke(cli, ["--home", str(home), "project", "add", "demo", str(project)])
    assert result.exit_code == 0, result.output
    return home


def studio(home: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--home", str(home), *args])
    assert result.exit_code == code, result.output
    return result.output


def test_run_with_parameters_and_json_record(home):
    out = studio(home, "run", "hello", "-p", "who", "ab", "-p", "times", "3", "--json")
    record = json.loads(out[out.index("{"):])
    for key in ("id", "service", "project", "status", "trigger", "params", "correlation_id", "steps",
                "started_at", "finished_at", "output", "events"):
        assert key in record
    assert record["status"] == "completed" and record["params"] == {"who": "ab", "times": 3}
    assert set(record["steps"][0]) >= {"name", "status", "started_at", "finished_at", "error"}
    listed = json.loads(studio(home, "executions", "--json"))
    assert [e["id"] for e in listed] == [record["id"]]
    shown = studio(home, "execution", record["id"])
    assert "COMPLETED" in shown
    assert "hello ab x3" in studio(home, "logs", record["id"])


def test_parameters_file_yaml(home, tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("n: 4\n")
    assert "COMPLETED" in studio(home, "run", "typed", "-f", str(params))


def test_bad_parameters_exit_nonzero_and_start_nothing(home):
    out = studio(home, "run", "typed", "-p", "n", "9", code=1)
    assert "n:" in out and "5" in out
    out = studio(home, "run", "typed", "-p", "n", "three", code=1)
    assert "n:" in out
    out = studio(home, "run", "hello", "-p", "bad-name", "1", code=1)
    assert "identifier" in out
    assert json.loads(studio(home, "executions", "--json")) == []


def test_unknown_names(home):
    assert "service 'ghost' not found" in studio(home, "run", "ghost", code=1)
    assert "execution 'deadbeef' not found" in studio(home, "execution", "deadbeef", code=1)
    assert "invalid project name '..'" in studio(home, "run", "../etc", code=1)
    assert "invalid service name" in studio(home, "run", "has space", code=1)


def test_failed_run_exits_one(home, tmp_path):
    write_service(tmp_path / "proj", "broken", {"b.py": "raise RuntimeError('kaput')\n"})
    out = studio(home, "run", "broken", code=1)
    assert "FAILED" in out and "kaput" in out


def test_sql_injection_is_stored_verbatim(home):
    studio(home, "secrets", "set", "wh", f"sqlite:///{home / 'wh.db'}", "--scope", "project")
    evil = "x'); DROP TABLE notes; --"
    studio(home, "run", "sql-load", "-p", "body", evil)
    studio(home, "run", "sql-load", "-p", "body", "second")
    import sqlite3

    rows = sqlite3.connect(home / "wh.db").execute("select body from notes").fetchall()
    assert rows == [(evil,), ("second",)]


def test_secrets_commands_never_print_values(home):
    studio(home, "secrets", "set", "api", SECRET, "--scope", "platform")
    studio(home, "secrets", "set", "svc-only", SECRET, "--scope", "service", "--service", "hello")
    listing = studio(home, "secrets", "list")
    assert "api" in listing and "svc-only" in listing and SECRET not in listing
    assert SECRET not in studio(home, "secrets", "list", "--json")
    assert "not found" in studio(home, "secrets", "delete", "nope", "--scope", "platform", code=1)
    studio(home, "secrets", "delete", "api", "--scope", "platform")
    assert "api" not in studio(home, "secrets", "list", "--scope", "platform")
    assert "svc-only" in studio(home, "secrets", "list")


def test_services_and_new(home):
    listing = studio(home, "services")
    assert "demo/hello" in listing and "demo/typed" in listing
    data = json.loads(studio(home, "services", "--json"))
    assert {d["key"] for d in data} == {"demo/hello", "demo/typed", "demo/sql-load"}
    studio(home, "new", "fresh-one")
    assert "COMPLETED" in studio(home, "run", "fresh-one", "-p", "name", "tester")
    assert "already exists" in studio(home, "new", "fresh-one", code=1)


def test_cancel_unknown_and_finished(home):
    out = studio(home, "run", "typed", "-p", "n", "1", "--json")
    execution_id = json.loads(out[out.index("{"):])["id"]
    assert "already completed" in studio(home, "cancel", execution_id, code=1)
    assert "not found" in studio(home, "cancel", "0000", code=1)


def test_not_a_workspace(tmp_path):
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "nowhere"), "services"])
    assert result.exit_code == 1 and "studio init" in result.output
