"""Service discovery: manifests, defaults, problems reported with file/key/reason, changes on disk."""

from __future__ import annotations

import json

import pytest

from studio.errors import InvalidName, ManifestError, NotFound
from studio.manifest import check_name, parse_manifest
from tests.conftest import notebook

PY_OK = "from studio import context\nprint('ok', dict(context.params))\n"


def test_folder_with_one_notebook_is_a_service(make_workspace):
    ws = make_workspace({"solo": {"solo.ipynb": notebook("print(1)")}})
    svc = ws.service("solo")
    assert svc.steps == ["solo.ipynb"]
    assert svc.runnable and svc.problems == []
    assert svc.manifest.active and svc.manifest.allow_manual_triggering


def test_manifest_keys_are_typed(make_workspace):
    manifest = {
        "name": "x", "description": "d", "execution_order": ["a.py", "b.py"], "tags": ["t"],
        "trigger_events": ["a.b"], "output_events": ["c.d"], "schedule": "@daily",
        "allow_manual_triggering": False, "active": False, "timezone": "Europe/Paris", "timeout": 30,
        "retries": 2, "priority": 5, "kernel": "python3",
    }
    ws = make_workspace({"typed": {"manifest.json": manifest, "a.py": PY_OK, "b.py": PY_OK}})
    svc = ws.service("typed")
    assert svc.steps == ["a.py", "b.py"]
    assert svc.manifest.retries == 2 and svc.manifest.timeout == 30 and svc.manifest.timezone == "Europe/Paris"
    assert not ws.is_active(svc)


def test_entrypoint_wins_over_execution_order(make_workspace):
    ws = make_workspace({"ep": {"manifest.json": {"entrypoint": "b.py", "execution_order": ["a.py", "b.py"]},
                                "a.py": PY_OK, "b.py": PY_OK}})
    assert ws.service("ep").steps == ["b.py"]


def test_bad_manifest_is_reported_and_others_still_load(make_workspace):
    ws = make_workspace({
        "broken-json": {"manifest.json": "{not json", "a.py": PY_OK},
        "unknown-key": {"manifest.json": {"colour": "red", "retries": "many"}, "a.py": PY_OK},
        "good": {"a.py": PY_OK},
    })
    broken = ws.service("broken-json")
    assert not broken.runnable
    assert "manifest.json" in broken.problems[0].file and "not valid JSON" in broken.problems[0].reason
    unknown = ws.service("unknown-key")
    reasons = {p.key: p.reason for p in unknown.problems}
    assert reasons["manifest.colour"] == "unknown key"
    assert "integer" in reasons["manifest.retries"]
    assert ws.service("good").runnable


def test_invalid_service_names(make_workspace):
    ws = make_workspace({"Bad Name": {"a.py": PY_OK}, "fine": {"a.py": PY_OK}})
    bad = [s for s in ws.services() if s.name == "Bad Name"][0]
    assert not bad.runnable and bad.problems[0].key == "name"
    for name in ["..", "../etc", "a/../../b", "with space", "UPPER", ""]:
        with pytest.raises(InvalidName) as err:
            check_name(name)
        assert repr(name) in str(err.value)
    with pytest.raises(InvalidName):
        ws.service("../demo")
    with pytest.raises(NotFound, match="'nope'"):
        ws.service("nope")


def test_missing_step_file_and_unreadable_notebook(make_workspace):
    ws = make_workspace({
        "missing": {"manifest.json": {"execution_order": ["a.py", "gone.py"]}, "a.py": PY_OK},
        "garbled": {"garbled.ipynb": "{\"cells\": 3}"},
        "two": {"a.py": PY_OK, "b.py": PY_OK},
    })
    missing = ws.service("missing")
    assert not missing.runnable
    assert "'gone.py', which is not in the folder" in missing.problem_text()
    assert "unreadable notebook" in ws.service("garbled").problem_text()
    assert "execution_order" in ws.service("two").problem_text()


def test_parse_manifest_reports_every_problem():
    with pytest.raises(ManifestError) as err:
        parse_manifest({"timeout": -1, "timezone": "Mars/Base", "entrypoint": "../x.py"}, "m.json")
    keys = {p.key for p in err.value.problems}
    assert keys == {"timeout", "timezone", "entrypoint"}
    assert all(p.file == "m.json" for p in err.value.problems)


def test_changes_on_disk_are_picked_up_and_versions_recorded(make_workspace, tmp_path):
    from tests.conftest import run_now

    ws = make_workspace({"evolving": {"a.py": "print('v1')\n"}})
    first = run_now(ws, "evolving")
    (tmp_path / "demo" / "evolving" / "a.py").write_text("print('v2')\n")
    (tmp_path / "demo" / "newcomer").mkdir()
    (tmp_path / "demo" / "newcomer" / "n.py").write_text("print('new')\n")
    second = run_now(ws, "evolving")
    assert first.version_hash != second.version_hash
    assert ws.service("newcomer").runnable
    from sqlalchemy import select

    from studio.catalog.models import ServiceVersion

    with ws.catalog.session() as s:
        hashes = set(s.scalars(select(ServiceVersion.hash)))
    assert {first.version_hash, second.version_hash} <= hashes


def test_config_json_reaches_context(make_workspace):
    from tests.conftest import run_now
    from studio import runs

    ws = make_workspace({"configured": {
        "config.json": {"threshold": 7},
        "a.py": "from studio import context\nprint('threshold', context.config.get('threshold'))\n",
    }})
    final = run_now(ws, "configured")
    assert final.status == "completed"
    assert any("threshold 7" in r.message for r in runs.logs(ws.catalog, final.id))


def test_bad_config_json_is_a_problem(make_workspace):
    ws = make_workspace({"cfg": {"config.json": "[1, 2", "a.py": PY_OK}})
    assert "config.json" in ws.service("cfg").problem_text()
    json.dumps(ws.service("cfg").config)
