"""``.py`` steps: ``python file.py`` in a subprocess, supervised like notebooks."""

from __future__ import annotations

import sys
from collections import deque
from pathlib import Path

from executors._context import RunContext
from executors._process import supervise
from executors._runner import StepResult, StepRunner
from executors.base import StepStatus

# Lines of stderr kept to explain a failure (a Python traceback fits comfortably).
TRACEBACK_LINES = 40


class ScriptRunner(StepRunner):
    suffix = ".py"

    def command(self, path: Path) -> list[str]:
        return [sys.executable, str(path)]

    def execute(self, step: str, path: Path, ctx: RunContext) -> StepResult:
        tail: deque[str] = deque(maxlen=TRACEBACK_LINES)

        def on_stderr(line: str) -> None:
            tail.append(line)
            ctx.log("stderr", line)

        exit_ = supervise(
            self.command(path), cwd=str(ctx.workdir), env=ctx.step_env(), deadline=ctx.deadline,
            cancel=ctx.cancel, budget=ctx.budget, on_stdout=lambda line: ctx.log("stdout", line),
            on_stderr=on_stderr,
        )
        if exit_.stopped is not None:
            return StepResult(stopped=exit_.stopped)
        if exit_.returncode == 0:
            return StepResult(StepStatus.completed)
        lines = list(tail)
        start = max((i for i, l in enumerate(lines) if l.startswith("Traceback")), default=0)
        trace = "\n".join(lines[start:]).strip()
        last = next((l.strip() for l in reversed(lines) if l.strip()), "")
        code = exit_.returncode
        why = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        error = f"{step} {why}" + (f": {last}" if last else "")
        return StepResult(StepStatus.failed, error=error, traceback=trace or None)
