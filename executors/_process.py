"""Running a step process under supervision from outside.

The parent never trusts the child to stop itself: :func:`supervise` reads the child's
output in chunks (so an endless line cannot exhaust memory), counts the bytes against the
run's budget, and kills the whole process tree (the worker *and* any kernel it started in
its own session) when the deadline passes, the run is cancelled or the budget is spent.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

import psutil

# How often the supervisor looks at the clock, the cancel flag and the output budget.
# 50 ms keeps cancel well under the promised 2 s at negligible CPU cost.
WATCH_INTERVAL = 0.05
# A line longer than this is cut and forwarded in pieces (an endless `print(end="")`).
MAX_LINE_CHARS = 16 * 1024
# Grace between SIGTERM and SIGKILL when stopping a tree.
TERM_GRACE = 0.5


class StopReason(str, Enum):
    timeout = "timeout"
    cancelled = "cancelled"
    output = "output"


@dataclass
class Exit:
    returncode: int | None
    stopped: StopReason | None


def kill_tree(pid: int, grace: float = TERM_GRACE) -> None:
    """Stop ``pid`` and every descendant, including children in other sessions (kernels)."""
    try:
        parent = psutil.Process(pid)
        procs = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.send_signal(signal.SIGKILL if grace <= 0 else signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    if grace > 0:
        _, alive = psutil.wait_procs(procs, timeout=grace)
        for proc in alive:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
    # No waiting after SIGKILL: it cannot be ignored, and an orphaned kernel may stay a
    # zombie until init reaps it, which would only make cancel slow.
    try:  # anything left in the worker's own session (grandchildren that reparented)
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Budget:
    """Output bytes a whole run may still produce; shared by all its steps and streams."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def spend(self, n: int) -> bool:
        """Count ``n`` bytes; False once the run has printed more than its limit."""
        with self._lock:
            self.used += n
            return self.used <= self.limit

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit


def _pump(fd_file, on_line: Callable[[str], None], budget: Budget, count: bool) -> None:
    """Read chunks, count them, forward complete lines (cut at MAX_LINE_CHARS)."""
    pending = ""
    while True:
        try:
            chunk = os.read(fd_file.fileno(), 65536)
        except OSError:
            break
        if not chunk:
            break
        if count and not budget.spend(len(chunk)):
            break  # stop reading: the supervisor will kill the tree
        pending += chunk.decode("utf-8", errors="replace")
        *lines, pending = pending.split("\n")
        for line in lines:
            on_line(line.rstrip("\r"))
        while len(pending) > MAX_LINE_CHARS:
            on_line(pending[:MAX_LINE_CHARS])
            pending = pending[MAX_LINE_CHARS:]
    if pending and not budget.exceeded:
        on_line(pending)
    try:
        fd_file.close()
    except OSError:
        pass


def start(cmd: Sequence[str], *, cwd: str, env: dict[str, str], pass_fds: Sequence[int] = (),
          stdin: int | None = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    """Start a step process in its own session (so its whole tree can be killed)."""
    return subprocess.Popen(
        list(cmd), cwd=cwd, env=env, stdin=stdin,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True, pass_fds=tuple(pass_fds),
    )


class _ExitWaiter:
    """Sleeps until the child exits or ``timeout`` passes: a pidfd wakes us the moment the
    child exits (Linux), instead of up to a whole WATCH_INTERVAL later."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.fd: int | None = None
        self.poller: select.poll | None = None
        try:
            self.fd = os.pidfd_open(proc.pid)  # type: ignore[attr-defined]
            self.poller = select.poll()
            self.poller.register(self.fd, select.POLLIN)
        except (AttributeError, OSError):
            self.close()

    def wait(self, timeout: float) -> None:
        if self.poller is None:
            time.sleep(timeout)
            return
        try:
            self.poller.poll(timeout * 1000)
        except OSError:
            time.sleep(timeout)

    def close(self) -> None:
        self.poller = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def supervise(
    cmd: Sequence[str],
    *,
    cwd: str,
    env: dict[str, str],
    deadline: float,
    cancel: threading.Event,
    budget: Budget,
    on_stdout: Callable[[str], None],
    on_stderr: Callable[[str], None],
    pass_fds: Sequence[int] = (),
    extra_readers: Sequence[threading.Thread] = (),
    stop_check: Callable[[], StopReason | None] | None = None,
    after_start: Callable[[], None] | None = None,
) -> Exit:
    """Run ``cmd`` to its end or until deadline/cancel/output budget, whichever comes first.

    ``deadline`` is a ``time.monotonic()`` value. ``extra_readers`` are started after the
    child (e.g. a reader of a protocol pipe) and joined before returning.
    """
    proc = start(cmd, cwd=cwd, env=env, pass_fds=pass_fds)
    if after_start is not None:
        after_start()
    return watch(proc, deadline=deadline, cancel=cancel, budget=budget, on_stdout=on_stdout,
                 on_stderr=on_stderr, extra_readers=extra_readers, stop_check=stop_check)


def watch(
    proc: subprocess.Popen[bytes],
    *,
    deadline: float,
    cancel: threading.Event,
    budget: Budget,
    on_stdout: Callable[[str], None],
    on_stderr: Callable[[str], None],
    extra_readers: Sequence[threading.Thread] = (),
    stop_check: Callable[[], StopReason | None] | None = None,
) -> Exit:
    """Supervise an already started step process (see :func:`supervise`): read and count its
    output, kill its tree on deadline/cancel/output cap, reap it."""
    readers = [
        threading.Thread(target=_pump, args=(proc.stdout, on_stdout, budget, True), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, on_stderr, budget, True), daemon=True),
        *extra_readers,
    ]
    for reader in readers:
        reader.start()
    stopped: StopReason | None = None
    waiter = _ExitWaiter(proc)
    try:
        while proc.poll() is None:
            if cancel.is_set():
                stopped = StopReason.cancelled
            elif budget.exceeded:
                stopped = StopReason.output
            elif time.monotonic() >= deadline:
                stopped = StopReason.timeout
            elif stop_check is not None:
                stopped = stop_check()
            if stopped is not None:
                kill_tree(proc.pid, grace=0 if stopped is StopReason.cancelled else TERM_GRACE)
                break
            waiter.wait(WATCH_INTERVAL)
    finally:
        waiter.close()
        if proc.poll() is None and stopped is None:  # interrupted by an exception here
            kill_tree(proc.pid, grace=0)
        proc.wait()
        try:  # grandchildren left in the worker's session would hold our pipes open
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for reader in readers:
            reader.join(timeout=2 if stopped is None else 0.5)
    if stopped is None and budget.exceeded:
        stopped = StopReason.output
    return Exit(proc.returncode, stopped)
