"""The context API outside the studio: a local simulation file beside the notebook."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
from studio import context
print("region", context.params.get("region"))
print("threshold", context.config.get("threshold"))
print("db", context.secrets.get("db") is not None, context.secrets.get("absent"))
context.state.put("cursor", context.state.get("cursor", 0) + 1)
context.log.info("from the simulation")
print("event", len(context.events.send("local.test", {"a": 1})))
print("inside", context.inside_studio())
"""


def run(folder: Path) -> subprocess.CompletedProcess[str]:
    (folder / "step.py").write_text(SCRIPT)
    return subprocess.run([sys.executable, "step.py"], cwd=folder, capture_output=True, text=True, timeout=60)


def test_simulation_file_drives_every_call(tmp_path):
    sim = tmp_path / ".studio-local.json"
    sim.write_text(json.dumps({"params": {"region": "emea"}, "config": {"threshold": 3},
                               "secrets": {"db": "sqlite://"}, "state": {"cursor": 41}}))
    result = run(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "region emea" in result.stdout and "threshold 3" in result.stdout
    assert "db True None" in result.stdout and "inside False" in result.stdout
    assert "[INFO] from the simulation" in result.stderr
    saved = json.loads(sim.read_text())
    assert saved["state"]["cursor"] == 42
    assert saved["sent"][0]["type"] == "local.test"


def test_no_simulation_file_means_empty_defaults(tmp_path):
    result = run(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "region None" in result.stdout and "db False None" in result.stdout


def test_bad_calls_fail_in_the_cell(tmp_path):
    (tmp_path / "bad.py").write_text(
        "from studio import context\n"
        "for call in (lambda: context.state.put('x', object()), lambda: context.events.send('', {}),\n"
        "             lambda: context.secrets.set('a', 'b', scope='service'), lambda: context.db('nothing')):\n"
        "    try:\n        call()\n    except (TypeError, ValueError, KeyError) as exc:\n        print('refused:', exc)\n")
    result = subprocess.run([sys.executable, "bad.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.stdout.count("refused:") == 4, result.stdout + result.stderr
    assert "studio secrets set nothing" in result.stdout
