"""``studio doctor`` names exactly what is wrong: database, Kafka, artefact store, topology."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.scaleout.conftest import REPO


def _doctor(home: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    import os

    full = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    full.update(env)
    done = subprocess.run([sys.executable, "-m", "studio", "--home", str(home), "doctor"], env=full, cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def home(tmp_path: Path) -> Path:
    from studio.workspace import init_workspace

    return init_workspace(tmp_path / "home", with_examples=False)


@pytest.mark.postgres
@pytest.mark.kafka
def test_doctor_passes_on_a_good_scale_out_setup(home: Path, tmp_path: Path, pg_database: str, tansu: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = _doctor(home, {"STUDIO_DATABASE_URL": pg_database, "STUDIO_BUS_URL": tansu.url,
                               "STUDIO_ARTEFACTS": str(tmp_path / "shared")}, monkeypatch)
    assert code == 0, out
    assert "[ERR]" not in out and "accepts messages" in out and "writable" in out


@pytest.mark.postgres
def test_doctor_names_a_wrong_database(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = _doctor(home, {"STUDIO_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/no_such_db"},
                        monkeypatch)
    assert code == 1
    line = next(x for x in out.splitlines() if x.startswith("[ERR] database"))
    assert "no_such_db" in line and "does not exist" in line and "STUDIO_DATABASE_URL" in line


def test_doctor_names_an_unreachable_kafka(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from studio.bus._tansu import free_port

    url = f"kafka://127.0.0.1:{free_port()}"
    code, out = _doctor(home, {"STUDIO_BUS_URL": url}, monkeypatch)
    assert code == 1
    line = next(x for x in out.splitlines() if x.startswith("[ERR] event bus"))
    assert url in line and "no Kafka broker answered" in line and "STUDIO_BUS_URL" in line


def test_doctor_names_an_unwritable_artefact_store(home: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out = _doctor(home, {"STUDIO_ARTEFACTS": str(blocker / "artefacts")}, monkeypatch)
    assert code == 1
    line = next(x for x in out.splitlines() if x.startswith("[ERR] artefact store"))
    assert "Not a directory" in line and "STUDIO_ARTEFACTS" in line


@pytest.mark.postgres
def test_doctor_warns_when_a_shared_catalog_has_a_local_bus(home: Path, pg_database: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = _doctor(home, {"STUDIO_DATABASE_URL": pg_database}, monkeypatch)
    assert code == 1
    line = next(x for x in out.splitlines() if x.startswith("[ERR] scale-out"))
    assert "STUDIO_BUS_URL" in line and "STUDIO_ARTEFACTS" in line
