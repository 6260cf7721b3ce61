"""Fixtures for the executor tests: a service folder with the test notebooks, a listener."""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from executors import RunRequest, StepOutcome

NOTEBOOKS = Path(__file__).parent.parent / "notebooks_failing"
SECRET = "s3cr3t-pa55word"


@dataclass
class Recorder:
    """A RunListener keeping everything it hears (called from executor threads)."""

    started: list[str] = field(default_factory=list)
    finished: list[StepOutcome] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    secrets: list[tuple[str, Any, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def step_started(self, name: str, started_at: datetime) -> None:
        with self.lock:
            self.started.append(name)

    def step_finished(self, outcome: StepOutcome) -> None:
        with self.lock:
            self.finished.append(outcome)

    def record(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.records.append(record)

    def secret(self, name: str, value: Any, scope: str) -> None:
        with self.lock:
            self.secrets.append((name, value, scope))

    def messages(self, **match: Any) -> list[str]:
        return [str(r.get("message")) for r in self.records
                if all(r.get(k) == v for k, v in match.items())]


@pytest.fixture
def service(tmp_path: Path) -> Path:
    workdir = tmp_path / "svc"
    shutil.copytree(NOTEBOOKS, workdir)
    return workdir


@pytest.fixture
def listener() -> Recorder:
    return Recorder()


@pytest.fixture
def make_request(service: Path, tmp_path: Path):
    def make(steps: list[str], **overrides: Any) -> RunRequest:
        values: dict[str, Any] = dict(
            execution_id="exec-1", workdir=service, steps=steps, params={},
            context={"service": {"name": "svc", "id": "svc-1", "project": "p"},
                     "secrets": {"service": {"db": SECRET}, "project": {}, "platform": {}},
                     "config": {}, "state": {}},
            output_dir=tmp_path / "out", timeout=60.0, max_output_bytes=1_000_000,
            redact=[SECRET],
        )
        values.update(overrides)
        return RunRequest(**values)

    return make
