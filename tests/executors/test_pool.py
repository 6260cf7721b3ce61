"""The warm pool: every run still gets its own kernel, and nothing outlives the studio.

Chaos helpers (kill the studio process, kill a kernel) sit next to the checks they serve.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

import executors
from executors import NotebookRunner, RunStatus, StepStatus, WarmNotebookRunner, run
from executors._pool import (
    HOME_PREFIX,
    POOL_SIZE_ENV,
    WarmPool,
    get_pool,
    sweep_leftovers,
)

from .conftest import Recorder

pytestmark = pytest.mark.slow

READY_TIMEOUT = 120  # a loaded 2-core machine can take ~10 s to warm one worker


@pytest.fixture
def pool(monkeypatch) -> WarmPool:
    """The process-wide pool (what `run` uses), with both workers warm."""
    monkeypatch.delenv(POOL_SIZE_ENV, raising=False)
    the_pool = get_pool()
    assert the_pool is not None
    assert the_pool.wait_ready(READY_TIMEOUT), "the pool did not warm up"
    return the_pool


def warm_pids(pool: WarmPool) -> set[int]:
    return {w.kernel_pid for w in pool.idle() if w.kernel_pid}


def printed(listener: Recorder, prefix: str, step: str | None = None) -> list[str]:
    match = {"stream": "stdout"} if step is None else {"stream": "stdout", "step": step}
    return [m[len(prefix):].strip() for m in listener.messages(**match) if m.startswith(prefix)]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pids: set[int], timeout: float = 10) -> set[int]:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not all(gone(p) for p in pids):
        time.sleep(0.05)
    return {p for p in pids if not gone(p)}


def test_warm_run_has_cwd_context_env_and_uses_a_prestarted_kernel(pool, make_request, service: Path):
    ready = warm_pids(pool)
    listener = Recorder()
    request = make_request(["where.ipynb"], env={"STUDIO_TEST_EXTRA": "yes"})
    outcome = run(request, listener, threading.Event())
    assert outcome.status is RunStatus.completed, outcome
    pid = int(printed(listener, "pid")[0])
    assert pid in ready, "the run did not get a warm kernel"
    assert printed(listener, "cwd") == [str(service.resolve())]
    assert (service / "written_here.txt").read_text() == "ok"
    context_file = printed(listener, "context file")[0]
    assert context_file.endswith("context.json") and context_file != "None"
    assert printed(listener, "service") == ["svc"]
    assert printed(listener, "extra") == ["yes"]
    # IPC sockets, so no "running over TCP without encryption" in anyone's log
    assert not any("without encryption" in json.dumps(r) for r in listener.records)
    assert not list(service.glob("kernel-ipc*")), "kernel sockets must not land in the workdir"
    assert gone(pid), "the kernel of a finished run is discarded"


def test_consecutive_runs_share_nothing_and_a_killed_kernel_breaks_nothing(pool, make_request):
    first, second, third = Recorder(), Recorder(), Recorder()
    assert run(make_request(["leak_set.ipynb"]), first, threading.Event()).status is RunStatus.completed
    outcome = run(make_request(["leak_check.ipynb"]), second, threading.Event())
    assert outcome.status is RunStatus.completed, outcome
    assert printed(second, "leaked names:") == ["[]"]

    killed = run(make_request(["kernel_kill.ipynb"]), Recorder(), threading.Event())
    assert killed.steps[0].status is StepStatus.failed and "kernel died" in killed.steps[0].error
    # the next run is fine, and still warm once the pool has refilled
    assert pool.wait_ready(READY_TIMEOUT)
    ready = warm_pids(pool)
    outcome = run(make_request(["where.ipynb", "leak_check.ipynb"]), third, threading.Event())
    assert outcome.status is RunStatus.completed, outcome
    assert int(printed(third, "pid")[0]) in ready


def test_pool_refills_with_new_kernels_after_a_take(pool, make_request):
    before = {w.pid for w in pool.idle()}
    assert len(before) == pool.size
    run(make_request(["trivial.ipynb"]), Recorder(), threading.Event())
    assert pool.wait_ready(READY_TIMEOUT)
    after = {w.pid for w in pool.idle()}
    assert len(after) == pool.size
    assert len(after - before) == 1, "one worker was used up and one new one started"


def test_a_deadline_kills_the_warm_worker_and_its_kernel(pool, make_request, service: Path):
    ready = warm_pids(pool)
    outcome = run(make_request(["infinite_loop.ipynb"], timeout=4), Recorder(), threading.Event())
    step = outcome.steps[0]
    assert step.error.startswith("timed out after 4 s") and step.failed_cell == 1
    kernel = int((service / "kernel.pid").read_text())
    assert kernel in ready
    assert not wait_gone({kernel}, 5)


def test_shutdown_leaves_no_process_behind(pool):
    workers = pool.idle()
    pids = {w.pid for w in workers} | {w.kernel_pid for w in workers if w.kernel_pid}
    assert len(pids) == 2 * pool.size
    executors.shutdown()
    assert not wait_gone(pids), "processes left after shutdown"
    assert not any(Path(w.home).exists() for w in workers)
    assert not any(w.kernel_dir and Path(w.kernel_dir).exists() for w in workers)


STUDIO_THAT_DIES = textwrap.dedent("""
    import json, os, sys
    from executors._pool import get_pool
    pool = get_pool()
    assert pool.wait_ready(120)
    print(json.dumps([[w.pid, w.kernel_pid] for w in pool.idle()]), flush=True)
    sys.stdin.readline()
    os.kill(os.getpid(), 9)   # no atexit, no shutdown(): only the kernel's own rules are left
""")


def test_workers_and_kernels_die_with_a_killed_studio(tmp_path: Path):
    root = Path(executors.__file__).parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), POOL_SIZE_ENV: "2"}
    studio = subprocess.Popen([sys.executable, "-c", STUDIO_THAT_DIES], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, env=env, cwd=tmp_path, text=True)
    try:
        line = studio.stdout.readline()
        assert line, "the studio process did not report its pool"
        pids = {pid for pair in json.loads(line) for pid in pair if pid}
        assert len(pids) == 4
        assert all(not gone(p) for p in pids)
        studio.stdin.write("\n")
        studio.stdin.flush()
        assert studio.wait(timeout=30) == -signal.SIGKILL
        assert not wait_gone(pids, 15), "warm workers or kernels outlived the studio"
        # its private directories go at the next pool's start
        leftovers = f"{HOME_PREFIX}{studio.pid}-*"
        assert list(Path(tempfile.gettempdir()).glob(leftovers))
        sweep_leftovers()
        assert not list(Path(tempfile.gettempdir()).glob(leftovers))
    finally:
        if studio.poll() is None:
            studio.kill()
            studio.wait()


def test_pool_size_zero_or_invalid_runs_cold(make_request, monkeypatch):
    executors.shutdown()
    monkeypatch.setenv(POOL_SIZE_ENV, "0")
    assert get_pool() is None
    listener = Recorder()
    outcome = run(make_request(["trivial.ipynb"]), listener, threading.Event())
    assert outcome.status is RunStatus.completed, outcome

    monkeypatch.setenv(POOL_SIZE_ENV, "lots")
    listener = Recorder()
    outcome = run(make_request(["trivial.ipynb"]), listener, threading.Event())
    assert outcome.status is RunStatus.completed, outcome
    warning = listener.messages(stream="executor", level="WARNING")
    assert len(warning) == 1 and f"Config '{POOL_SIZE_ENV}'" in warning[0] and "'lots'" in warning[0]
    executors.shutdown()


def test_only_the_default_kernel_and_a_runtime_env_go_warm(make_request, service: Path):
    from executors._context import RunContext

    runner = WarmNotebookRunner()
    assert isinstance(executors.runner_for("x.ipynb"), WarmNotebookRunner)
    assert isinstance(runner, NotebookRunner)  # the cold path is its fallback
    path = service / "trivial.ipynb"
    cases = [({}, True), ({"kernel": "python3"}, True), ({"kernel": "ir"}, False),
             ({"env": {"OMP_NUM_THREADS": "1"}}, True), ({"env": {"PYTHONHASHSEED": "0"}}, False),
             ({"env": {"LD_LIBRARY_PATH": "/x"}}, False)]
    for overrides, warm in cases:
        ctx = RunContext(make_request(["trivial.ipynb"], **overrides), Recorder(), threading.Event())
        try:
            assert runner.warm_possible(path, ctx) is warm, overrides
        finally:
            ctx.close()
