"""``.ipynb`` steps: papermill in a worker process per step, supervised from outside.

:class:`NotebookRunner` starts a worker per step (cold: imports and kernel start included);
:class:`WarmNotebookRunner` (the registered default) takes a worker from the warm pool
(:mod:`executors._pool`) whose kernel is already up, and falls back to the cold path when
the pool is off or empty, or the step needs another kernel or start-up environment.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

from executors._context import RunContext, startup_part
from executors._kernel import DEFAULT_KERNEL
from executors._pool import WarmPool, WarmWorker, get_pool
from executors._process import kill_tree, supervise, watch
from executors._runner import StepResult, StepRunner
from executors.base import StepStatus

TCP_WARNING = "running over TCP without encryption"


class _Live:
    """Turns the worker's pipe messages into log records and output-budget spending."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.kernel_pid: int | None = None
        self.kernel_dir: str | None = None        # the kernel's socket directory
        self.cell: int | None = None            # executed-notebook index of the running cell
        self.source_cell: int | None = None
        self.result: dict[str, Any] | None = None
        self._pending: dict[str, str] = {}

    def read(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as pipe:
            for raw in pipe:
                try:
                    self.handle(json.loads(raw))
                except ValueError:
                    continue
        self.flush()

    def handle(self, msg: dict[str, Any]) -> None:
        kind = msg.get("t")
        if kind == "out":
            text = msg.get("text", "")
            if not self.ctx.budget.spend(len(text.encode("utf-8", errors="replace"))):
                return
            self._lines(msg.get("name", "stdout"), text)
        elif kind == "data":
            if self.ctx.budget.spend(int(msg.get("bytes", 0))) and msg.get("text"):
                for line in str(msg["text"]).splitlines():
                    self.ctx.log("stdout", line)
        elif kind == "cell":
            self.cell, self.source_cell = msg.get("index"), msg.get("source_index")
        elif kind == "exit":
            self.ctx.emit({"kind": "log", "stream": "executor", "level": "INFO",
                           "message": f"notebook stopped by {msg.get('how', 'exit()')} in cell {msg.get('cell')}"})
        elif kind == "log":
            self.ctx.emit({"kind": "log", "stream": "executor", "level": msg.get("level", "INFO"),
                           "message": str(msg.get("message", ""))})
        elif kind == "kernel":
            self.kernel_pid = msg.get("pid")
            self.kernel_dir = msg.get("dir") or self.kernel_dir
        elif kind == "result":
            self.result = msg

    def _lines(self, stream: str, text: str) -> None:
        stream = "stderr" if stream == "stderr" else "stdout"
        *lines, rest = (self._pending.get(stream, "") + text).split("\n")
        self._pending[stream] = rest
        for line in lines:
            self.ctx.log(stream, line)

    def flush(self) -> None:
        for stream, rest in self._pending.items():
            if rest:
                self.ctx.log(stream, rest)
        self._pending.clear()


def _source_cell(nb_path: Path, index: int | None) -> int | None:
    """Map an executed-notebook cell index to the author's notebook (minus injected cells)."""
    if index is None:
        return None
    try:
        cells = json.loads(nb_path.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return index
    injected = sum(1 for c in cells[:index] if "injected-parameters" in c.get("metadata", {}).get("tags", []))
    return index - injected


class NotebookRunner(StepRunner):
    """Runs a notebook with papermill in ``python -m executors._worker`` (its own kernel)."""

    suffix = ".ipynb"

    def command(self, job_file: Path, fd: int) -> list[str]:
        return [sys.executable, "-m", "executors._worker", str(job_file), str(fd)]

    def write_job(self, step: str, path: Path, ctx: RunContext, **extra: Any) -> tuple[Path, Path]:
        """The job file the worker reads, and the private path of the executed notebook."""
        raw = ctx.private_dir / "notebooks" / step
        raw.parent.mkdir(parents=True, exist_ok=True)
        job = {"input": str(path), "output": str(raw), "params": ctx.request.params,
               "kernel": ctx.request.kernel, "cwd": str(ctx.workdir),
               "scratch": str(ctx.private_dir), **extra}
        job_file = ctx.private_dir / f"job-{abs(hash(step))}.json"
        job_file.write_text(json.dumps(job, default=str), encoding="utf-8")
        return job_file, raw

    def execute(self, step: str, path: Path, ctx: RunContext) -> StepResult:
        job_file, raw = self.write_job(step, path, ctx)
        live = _Live(ctx)
        read_fd, write_fd = os.pipe()
        reader = threading.Thread(target=live.read, args=(read_fd,), daemon=True)
        try:
            exit_ = supervise(
                self.command(job_file, write_fd), cwd=str(ctx.workdir), env=ctx.step_env(),
                deadline=ctx.deadline, cancel=ctx.cancel, budget=ctx.budget,
                on_stdout=lambda line: ctx.log("stdout", line),
                on_stderr=lambda line: _stderr(ctx, line),
                pass_fds=(write_fd,), extra_readers=(reader,),
                # stdout/stderr pumps run first; the pipe writer must close in the parent
                # right after the child started, or the reader never sees EOF.
                after_start=lambda: os.close(write_fd),
            )
        finally:
            reader.join(timeout=2)
            _kill_kernel(live)
        return self._result(live, exit_, raw)

    def _result(self, live: _Live, exit_: Any, raw: Path) -> StepResult:
        notebook = raw if raw.is_file() else None
        cell = _source_cell(raw, live.cell) if live.source_cell is None else live.source_cell
        if exit_.stopped is not None:
            where = f"in cell {cell}" if cell is not None else None
            return StepResult(stopped=exit_.stopped, error=where, failed_cell=cell, notebook=notebook)
        res = live.result
        if res is None:
            return StepResult(StepStatus.failed, notebook=notebook, failed_cell=cell,
                              error=f"notebook worker exited with code {exit_.returncode} before reporting")
        if res["status"] == "completed":
            return StepResult(StepStatus.completed, notebook=notebook)
        index = res.get("cell")
        cell = _source_cell(raw, index) if index is not None else cell
        kind = res.get("kind")
        if kind == "dead":
            error = f"kernel died while running cell {cell}"
        elif kind == "error":
            ename, evalue = res.get("ename"), res.get("evalue")
            error = f"cell {cell} raised {ename}: {evalue}" if evalue else f"cell {cell} raised {ename}"
        else:
            error = f"notebook could not run: {res.get('ename')}: {res.get('evalue')}"
        return StepResult(StepStatus.failed, error=error, failed_cell=cell,
                          traceback=_strip_ansi(res.get("traceback") or "") or None, notebook=notebook)


def _kill_kernel(live: _Live) -> None:
    """A kernel orphaned by a killed worker dies too; its socket files go. (A worker that
    reported its result has already waited for its kernel to exit.)"""
    if live.kernel_pid and live.result is None:
        kill_tree(live.kernel_pid, grace=0)
    if live.kernel_dir:
        shutil.rmtree(live.kernel_dir, ignore_errors=True)


class WarmNotebookRunner(NotebookRunner):
    """Like :class:`NotebookRunner`, with a worker and kernel started before the run asked.

    The run gets the worker for itself (its own kernel, discarded afterwards) and supervises
    it like a cold one. ``pool`` defaults to the process-wide pool (``STUDIO_WARM_KERNELS``).
    """

    def __init__(self, pool: WarmPool | None = None) -> None:
        self._pool = pool

    def pool(self) -> WarmPool | None:
        return self._pool if self._pool is not None else get_pool()

    def warm_possible(self, path: Path, ctx: RunContext) -> bool:
        """Only the pre-started kernel, and only an environment settable after start-up."""
        if startup_part(ctx.request.env):  # e.g. PYTHONHASHSEED: needs a kernel started with it
            return False
        return _kernel_name(path, ctx.request.kernel) == DEFAULT_KERNEL

    def take(self, path: Path, ctx: RunContext) -> WarmWorker | None:
        if not self.warm_possible(path, ctx):
            return None
        try:
            pool = self.pool()
        except ValueError as exc:  # STUDIO_WARM_KERNELS is not a number
            ctx.emit({"kind": "log", "stream": "executor", "level": "WARNING",
                      "message": f"{exc}; starting the notebook cold"})
            return None
        return pool.take() if pool is not None else None

    def execute(self, step: str, path: Path, ctx: RunContext) -> StepResult:
        worker = self.take(path, ctx)
        if worker is None:
            return super().execute(step, path, ctx)
        job_file, raw = self.write_job(step, path, ctx, env=worker.env_change(ctx.step_env()))
        if not worker.send_job(str(job_file)):  # died while idle: this run starts cold
            worker.release()
            return super().execute(step, path, ctx)
        live = _Live(ctx)
        worker.attach(live.handle, live.flush)
        ended = threading.Thread(target=worker.done.wait, daemon=True)
        try:
            exit_ = watch(
                worker.proc, deadline=ctx.deadline, cancel=ctx.cancel, budget=ctx.budget,
                on_stdout=lambda line: ctx.log("stdout", line),
                on_stderr=lambda line: _stderr(ctx, line),
                extra_readers=(ended,),
            )
        finally:
            _kill_kernel(live)
            worker.release()
        return self._result(live, exit_, raw)


def _kernel_name(path: Path, requested: str | None) -> str | None:
    if requested:
        return requested
    try:
        return json.loads(path.read_text(encoding="utf-8"))["metadata"]["kernelspec"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _stderr(ctx: RunContext, line: str) -> None:
    """Kernel/worker stderr; the kernel's own start-up warnings are not the notebook's errors."""
    if TCP_WARNING in line:  # executor noise (our kernels use IPC; a foreign provisioner may not)
        return
    if line.startswith("[IPKernelApp] WARNING"):
        ctx.emit({"kind": "log", "stream": "stderr", "level": "WARNING", "message": line})
    else:
        ctx.log("stderr", line)


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)
