"""Executors: running a service's steps (notebooks, scripts, SQL) under outside control.

    from executors import run, RunRequest
    outcome = run(request, listener, cancel)      # -> RunOutcome

Step runners are registered by file suffix, papermill-style; a container runner plugs in
with ``register(".ipynb", MyRunner())`` without touching callers::

    register(suffix, runner)      runner_for(path) -> StepRunner | raises UnknownStepType

Notebooks run on warm workers by default (``WarmNotebookRunner``: a pool of
``STUDIO_WARM_KERNELS`` workers, default 2, each with a started kernel used for one run
only); ``prewarm()`` starts them ahead of the first run, ``shutdown()`` stops them (it
also runs at exit).

Exceptions::

    studio.errors.StepError
     └── UnknownStepType        no runner for a file's suffix ("No step runner for '.r' files; ...")
"""

from __future__ import annotations

from executors._context import RunContext
from executors._notebook import NotebookRunner, WarmNotebookRunner
from executors._pool import shutdown
from executors._redact import MASK, Redactor
from executors._run import prewarm, run
from executors._runner import (
    StepResult,
    StepRunner,
    UnknownStepType,
    known_suffixes,
    register,
    runner_for,
)
from executors._script import ScriptRunner
from executors._sql import SqlRunner
from executors.base import (
    Cancel,
    RunListener,
    RunOutcome,
    RunRequest,
    RunStatus,
    StepOutcome,
    StepStatus,
)

__all__ = [
    "MASK",
    "Cancel",
    "NotebookRunner",
    "Redactor",
    "RunContext",
    "RunListener",
    "RunOutcome",
    "RunRequest",
    "RunStatus",
    "ScriptRunner",
    "SqlRunner",
    "StepOutcome",
    "StepResult",
    "StepRunner",
    "StepStatus",
    "UnknownStepType",
    "WarmNotebookRunner",
    "known_suffixes",
    "prewarm",
    "register",
    "run",
    "runner_for",
    "shutdown",
]

register(".ipynb", WarmNotebookRunner())
register(".py", ScriptRunner())
register(".sql", SqlRunner())
