"""The contract between the studio and whatever runs steps.

The studio builds a :class:`RunRequest` (a working copy of the service folder, the ordered
steps, parameters and the context the ``studio.context`` API will read), hands it to
:func:`executors.run` together with a :class:`RunListener`, and records what the listener
hears. Executors know nothing about the catalog, the bus or the web: they run files.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Protocol


class StepStatus(str, Enum):
    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"
    skipped = "skipped"            # not run because an earlier step failed
    unprocessed = "unprocessed"    # a file type that does not run (e.g. .csv in execution_order)


class RunStatus(str, Enum):
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


@dataclass
class RunRequest:
    execution_id: str
    workdir: Path                 # working copy of the service folder; steps run with cwd here
    steps: list[str]              # step file names relative to workdir, in order
    params: dict[str, Any]        # injected into the `parameters` cell / context.params
    context: dict[str, Any]       # what studio.context reads (params, config, secrets, state, service ...)
    output_dir: Path              # where output notebooks, HTML and step files go
    timeout: float                # seconds for the whole run, enforced from outside the kernel
    max_output_bytes: int         # output a run may print before it is stopped
    redact: list[str] = field(default_factory=list)  # secret values scrubbed from every output
    kernel: str | None = None     # kernel name for notebooks (None: the notebook's own / python3)
    env: dict[str, str] = field(default_factory=dict)  # extra environment for step processes


@dataclass
class StepOutcome:
    name: str
    status: StepStatus
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None              # one line: what went wrong
    failed_cell: int | None = None        # index of the failing notebook cell
    traceback: str | None = None
    output_notebook: Path | None = None   # executed notebook (redacted)
    output_html: Path | None = None       # HTML rendering of it (redacted)


@dataclass
class RunOutcome:
    status: RunStatus
    steps: list[StepOutcome]
    error: str | None = None


class RunListener(Protocol):
    """What the studio hears while a run goes on. Called from the executor's threads."""

    def step_started(self, name: str, started_at: datetime) -> None: ...

    def step_finished(self, outcome: StepOutcome) -> None: ...

    def record(self, record: dict[str, Any]) -> None:
        """One record from the run, already redacted: a ``studio.context`` outbox record
        (kind ``log``/``event``/``state``/``secret``/``retry``) or a captured output line
        (kind ``log`` with ``stream`` ``stdout``/``stderr``), each with ``step`` and ``time``."""
        ...


Cancel = threading.Event
