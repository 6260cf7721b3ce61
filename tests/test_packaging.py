"""Packaging: environment.yml matches pyproject, the public API is what __all__ says."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# PyPI name -> conda-forge name, where they differ.
CONDA_NAMES = {
    "confluent-kafka": "python-confluent-kafka",
    "jupyter-server": "jupyter_server",
    "psycopg[binary]": "psycopg",
    "gitpython": "gitpython",
}


def _split(requirement: str) -> tuple[str, str]:
    match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)\s*(.*)$", requirement.strip())
    assert match, requirement
    return match.group(1).lower(), match.group(2).replace(" ", "")


def test_environment_yml_matches_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda: dict[str, str] = {}
    for item in env["dependencies"]:
        if isinstance(item, dict):
            for pip_req in item["pip"]:
                name, spec = _split(pip_req)
                conda[name] = spec
        else:
            name, spec = _split(item.split("=", 1)[0] if "=" in item and ">=" not in item else item)
            conda[name] = spec
    wanted = {}
    for requirement in deps:
        name, spec = _split(requirement)
        wanted[CONDA_NAMES.get(name, name)] = spec
    missing = {n: s for n, s in wanted.items() if n not in conda}
    assert not missing, f"in pyproject.toml but not environment.yml: {missing}"
    different = {n: (s, conda[n]) for n, s in wanted.items() if conda[n] != s}
    assert not different, f"version bounds differ (pyproject, environment.yml): {different}"
    extra = set(conda) - set(wanted) - {"python", "pip"}
    assert not extra, f"in environment.yml but not pyproject.toml: {extra}"


def test_context_public_api_is_all():
    from studio import context

    public = {n for n in dir(context) if not n.startswith("_")} - {
        "annotations", "json", "os", "sys", "threading", "time", "uuid", "Path", "Any", "Iterator", "Mapping",
        "CONTEXT_FILE_ENV", "SIMULATION_FILE", "SECRET_SCOPES",
    }
    assert public == set(context.__all__)


def test_readme_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make up" in readme and "make test" in readme
    assert "make test" in ci
