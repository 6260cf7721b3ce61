"""``.py`` and ``.sql`` steps, the registry, and redaction (no kernels: fast)."""

from __future__ import annotations

import csv
import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

import executors
from executors import RunStatus, StepResult, StepRunner, StepStatus, UnknownStepType, run, runner_for
from executors._redact import Redactor
from executors._sql import render, split_statements
from studio.errors import StepError

from .conftest import SECRET, Recorder


def test_public_api_is_all():
    assert {"run", "register", "runner_for", "StepRunner", "UnknownStepType"} <= set(executors.__all__)
    for name in executors.__all__:
        assert hasattr(executors, name), name


def test_unknown_type_names_the_known_ones():
    with pytest.raises(UnknownStepType) as info:
        runner_for("analysis.r")
    assert isinstance(info.value, StepError)
    assert str(info.value) == "No step runner for '.r' files; known: .ipynb, .py, .sql"


def test_a_registered_runner_plugs_in_without_touching_run(make_request, listener: Recorder,
                                                           service: Path, monkeypatch):
    class Shout(StepRunner):
        suffix = ".txt"

        def execute(self, step, path, ctx):
            ctx.log("stdout", path.read_text().upper())
            return StepResult(StepStatus.completed)

    monkeypatch.setitem(executors._runner._runners, ".txt", Shout())
    (service / "hello.txt").write_text("hello")
    outcome = run(make_request(["hello.txt"]), listener, threading.Event())
    assert outcome.status is RunStatus.completed
    assert listener.messages(stream="stdout", step="hello.txt") == ["HELLO"]


def test_script_uses_context_and_passes_state_on(make_request, listener: Recorder, service: Path):
    (service / "first.py").write_text(
        "import studio.context as context\n"
        "print('region', context.params.get('region'))\n"
        "context.log.warning('careful')\n"
        "context.state.put('cursor', 7)\n"
        "context.secrets.set('token', {'key': 'tok-0123456789', 'user': 'bob'})\n"
        "print('token', context.secrets.get('token'))\n"
        "print('db', context.secrets.get('db'))\n")
    (service / "second.py").write_text(
        "import studio.context as context\n"
        "assert context.state.get('cursor') == 7, context.state.get()\n"
        "print('token again', context.secrets.get('token')['key'])\n")
    outcome = run(make_request(["first.py", "second.py"], params={"region": "west"}), listener,
                  threading.Event())
    assert outcome.status is RunStatus.completed, outcome
    out = listener.messages(stream="stdout")
    assert "region west" in out and "db [secret]" in out and "token again [secret]" in out
    assert "careful" in listener.messages(level="WARNING", kind="log")
    dumped = json.dumps(listener.records)
    assert "tok-0123456789" not in dumped and SECRET not in dumped
    secret_record = next(r for r in listener.records if r["kind"] == "secret")
    assert secret_record["value"] == {"key": "[secret]", "user": "bob"}
    assert listener.secrets == [("token", {"key": "tok-0123456789", "user": "bob"}, "project")]


def test_failing_script_reports_the_last_traceback_line(make_request, listener: Recorder, service: Path):
    (service / "bad.py").write_text("print('working')\n1 / 0\n")
    (service / "after.py").write_text("print('never')\n")
    outcome = run(make_request(["bad.py", "after.py"]), listener, threading.Event())
    bad, after = outcome.steps
    assert bad.status is StepStatus.failed
    assert bad.error == "bad.py exited with code 1: ZeroDivisionError: division by zero"
    assert bad.traceback.startswith("Traceback") and "1 / 0" in bad.traceback
    assert after.status is StepStatus.skipped
    assert outcome.status is RunStatus.failed
    assert "working" in listener.messages(stream="stdout")


def test_script_timeout_and_output_cap(make_request, listener: Recorder, service: Path):
    (service / "spin.py").write_text("while True:\n    pass\n")
    began = time.monotonic()
    step = run(make_request(["spin.py"], timeout=1.5), listener, threading.Event()).steps[0]
    assert step.error == "timed out after 1.5 s" and time.monotonic() - began < 5
    (service / "spam.py").write_text("while True:\n    print('x' * 1000)\n")
    step = run(make_request(["spam.py"], max_output_bytes=50_000), Recorder(), threading.Event()).steps[0]
    assert step.status is StepStatus.failed and step.error == "output exceeded 50000 bytes"


def test_script_cancel_is_prompt(make_request, listener: Recorder, service: Path):
    (service / "sleep.py").write_text("import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    began = time.monotonic()
    outcome = run(make_request(["sleep.py"]), listener, cancel)
    assert outcome.status is RunStatus.cancelled and time.monotonic() - began < 3


# --- SQL ---------------------------------------------------------------------------------

def test_render_binds_every_expression():
    sql, values = render("select * from t where a = {{ params.x }} and b = {{ y }}{% if y %} -- y{% endif %}",
                         {"x": "1'; --", "y": 2})
    assert sql == "select * from t where a = :p0 and b = :p1 -- y"
    assert values == {"p0": "1'; --", "p1": 2}


def test_render_undefined_parameter_is_a_clear_error():
    with pytest.raises(StepError, match="undefined parameter"):
        render("select {{ missing }}", {})


def test_split_statements_respects_quotes_and_comments():
    sql = "insert into t values ('a;b'); -- c;d\n/* e;f */ select \"x;y\" from t;;  \n"
    assert split_statements(sql) == ["insert into t values ('a;b')", "-- c;d\n/* e;f */ select \"x;y\" from t"]


@pytest.fixture
def sql_request(make_request, service: Path):
    def make(steps, params, connection="warehouse", secret="sqlite:///shop.db"):
        req = make_request(steps, params=params)
        req.context["sql_connection"] = connection
        if secret is not None:
            req.context["secrets"]["project"]["warehouse"] = secret
        return req

    return make


def test_sql_values_are_bound_and_an_injection_is_stored_verbatim(sql_request, listener: Recorder,
                                                                  service: Path):
    attack = "'; DROP TABLE t; --"
    (service / "load.sql").write_text(
        "create table if not exists t (name text, n integer);\n"
        "insert into t values ({{ params.name }}, {{ n }});\n"
        "insert into t values ({{ name }}, 2);\n"
        "select name, n from t where name = {{ name }} order by n;\n")
    outcome = run(sql_request(["load.sql"], {"name": attack, "n": 1}), listener, threading.Event())
    assert outcome.status is RunStatus.completed, outcome
    with sqlite3.connect(service / "shop.db") as db:
        assert db.execute("select name, n from t order by n").fetchall() == [(attack, 1), (attack, 2)]
    with open(service.parent / "out" / "load.csv", newline="") as handle:
        assert list(csv.reader(handle)) == [["name", "n"], [attack, "1"], [attack, "2"]]
    messages = listener.messages(step="load.sql")
    assert "statement 2: 1 rows affected" in messages and "statement 4: 2 rows" in messages
    rows = next(r for r in listener.records if r.get("fields", {}).get("rows"))
    assert rows["fields"]["columns"] == ["name", "n"]


def test_sql_error_names_the_statement(sql_request, listener: Recorder, service: Path):
    (service / "bad.sql").write_text("select 1;\nselect * from nowhere;\n")
    step = run(sql_request(["bad.sql"], {}), listener, threading.Event()).steps[0]
    assert step.status is StepStatus.failed
    assert step.error.startswith("statement 2 failed:") and "nowhere" in step.error


@pytest.mark.parametrize("connection, secret, expected", [
    (None, None, "'sql_connection'"),
    ("warehouse", None, "secret 'warehouse' is not set"),
])
def test_sql_without_a_connection_says_what_to_set(sql_request, listener: Recorder, service: Path,
                                                   connection, secret, expected):
    (service / "q.sql").write_text("select 1")
    step = run(sql_request(["q.sql"], {}, connection=connection, secret=secret), listener,
               threading.Event()).steps[0]
    assert step.status is StepStatus.failed and expected in step.error


# --- redaction ---------------------------------------------------------------------------

def test_redactor_masks_nested_values_and_their_json():
    redactor = Redactor(["explicit"])
    redactor.add_value({"user": "alice-admin", "keys": ["k-1234567"], "n": 5})
    assert redactor.text("explicit alice-admin k-1234567") == "[secret] [secret] [secret]"
    assert redactor.value({"a": ["x alice-admin"], "explicit": 1}) == {"a": ["x [secret]"], "[secret]": 1}
    assert redactor.text("a") == "a"  # short automatic values are not masked


def test_missing_step_file_fails_clearly(make_request, listener: Recorder):
    step = run(make_request(["nothere.py"]), listener, threading.Event()).steps[0]
    assert step.status is StepStatus.failed and "not found" in step.error
