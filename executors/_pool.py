"""Warm notebook workers: the ~2-3 s of imports and kernel start paid before a run asks.

A :class:`WarmPool` keeps ``STUDIO_WARM_KERNELS`` workers (``python -m executors._worker
--warm``) that have imported papermill/nbclient and started a ``python3`` kernel, each
waiting on its stdin for one job. :meth:`WarmPool.take` hands one out (it is never given
back: the worker and its kernel serve that run only and exit) and the keeper thread starts
a replacement in the background. The run supervises a taken worker exactly like a cold one
(:func:`executors._process.watch`): deadline, cancel and output cap kill its tree.

No orphans: the keeper thread that starts every worker lives as long as the pool, and each
worker asks Linux for SIGKILL when that thread ends (PR_SET_PDEATHSIG); an idle worker also
exits on EOF on its stdin; its kernel dies with it the same way. :func:`shutdown` (also run
at exit) stops idle workers now.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from executors._context import base_env, startup_part
from executors._process import kill_tree, start

POOL_SIZE_ENV = "STUDIO_WARM_KERNELS"
# Two: a run and the next one both start warm while a replacement warms up, at the price of
# two idle kernels (~150 MB); 0 turns the pool off (every run starts cold).
DEFAULT_POOL_SIZE = 2
# A run that finds no idle worker waits this long for the keeper to start one (a starting
# worker is never slower than a cold start) before it starts cold itself.
TAKE_WAIT = 0.5
# Workers that die before being used this many times in a row (a broken environment) make
# the keeper stop starting them for BACKOFF_SECONDS: runs start cold meanwhile.
MAX_EARLY_DEATHS = 3
BACKOFF_SECONDS = 60.0

# A warm worker's private directory (its cwd, its kernel's sockets): <tmp>/studio-warm-<pid>-*
HOME_PREFIX = "studio-warm-"

log = logging.getLogger("executors.pool")


def sweep_leftovers() -> None:
    """Remove the private directories of pools whose studio process was killed (SIGKILL
    leaves no chance to clean up; its workers and kernels died with it)."""
    import shutil

    import psutil

    root = tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(root) if n.startswith(HOME_PREFIX)]
    except OSError:
        return
    for name in names:
        owner = name[len(HOME_PREFIX):].split("-", 1)[0]
        if owner.isdigit() and int(owner) != os.getpid() and not psutil.pid_exists(int(owner)):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def configured_size() -> int:
    raw = os.environ.get(POOL_SIZE_ENV, "").strip()
    if not raw:
        return DEFAULT_POOL_SIZE
    try:
        size = int(raw)
    except ValueError:
        size = -1
    if size < 0:
        raise ValueError(f"Config '{POOL_SIZE_ENV}' must be a whole number >= 0 "
                         f"(0 turns warm kernels off), got {raw!r}")
    return size


def env_key(env: dict[str, str]) -> str:
    """What a worker's environment must match to be usable: only what cannot be changed
    after start-up (the rest is set in the kernel when the run begins)."""
    return hashlib.sha1(json.dumps(sorted(startup_part(env).items())).encode()).hexdigest()


class WarmWorker:
    """One started worker. Its protocol pipe is read from the start (so its readiness and
    kernel are known); messages wait in a backlog until a run attaches."""

    def __init__(self, proc: subprocess.Popen[bytes], read_fd: int, env: dict[str, str], home: str,
                 on_ready: Callable[[], None], on_exit: Callable[[WarmWorker], None]) -> None:
        self.proc = proc
        self.env = env                   # the environment it (and its kernel) started with
        self.key = env_key(env)
        self.home = home                 # the worker's cwd: a private temp dir
        self.kernel_pid: int | None = None
        self.kernel_dir: str | None = None
        self.ready = threading.Event()   # kernel started (or failed to), waiting for a job
        self.done = threading.Event()    # protocol pipe closed: the worker has ended
        self.taken = False
        self.owner: WarmPool | None = None
        self._on_ready = on_ready
        self._on_exit = on_exit
        self._lock = threading.Lock()
        self._backlog: list[dict[str, Any]] = []
        self._sink: Callable[[dict[str, Any]], None] | None = None
        self._on_eof: Callable[[], None] | None = None
        self._eof = False
        threading.Thread(target=self._read, args=(read_fd,), name="studio-warm-worker",
                         daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as pipe:
            for raw in pipe:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                kind = msg.get("t")
                if kind == "kernel":
                    self.kernel_pid, self.kernel_dir = msg.get("pid"), msg.get("dir")
                if kind == "ready":
                    self.ready.set()
                    self._on_ready()
                    continue
                with self._lock:
                    sink = self._sink
                    if sink is None:
                        self._backlog.append(msg)
                        continue
                sink(msg)
        with self._lock:
            self._eof = True
            on_eof = self._on_eof
        if on_eof is not None:
            on_eof()
        self.done.set()
        self._on_exit(self)

    def attach(self, sink: Callable[[dict[str, Any]], None], on_eof: Callable[[], None]) -> None:
        """Send every message (those already received first) to ``sink``; ``on_eof`` at the end."""
        with self._lock:
            for msg in self._backlog:
                sink(msg)
            self._backlog.clear()
            self._sink, self._on_eof = sink, on_eof
            ended = self._eof
        if ended:
            on_eof()

    def env_change(self, target: dict[str, str]) -> dict[str, str | None]:
        """What to set (None: unset) in this worker's kernel to give it ``target``."""
        change: dict[str, str | None] = {k: v for k, v in target.items() if self.env.get(k) != v}
        change.update({k: None for k in self.env if k not in target})
        return change

    def send_job(self, job_file: str) -> bool:
        """Hand the worker its job (a file path on stdin). False if it is already gone."""
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            stdin.write(job_file.encode("utf-8") + b"\n")
            stdin.flush()
            stdin.close()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False

    def release(self) -> None:
        """The run is done with this worker (it has exited or was killed)."""
        if self.owner is not None:
            self.owner.release(self)
        else:
            self.stop()

    def stop(self) -> None:
        """Kill the worker and its kernel now and reap it."""
        kill_tree(self.pid, grace=0)
        if self.kernel_pid:
            kill_tree(self.kernel_pid, grace=0)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        self.cleanup()

    def cleanup(self) -> None:
        """Remove the worker's private directories (its kernel's sockets, its cwd)."""
        import shutil

        for path in (self.kernel_dir, self.home):
            if path:
                shutil.rmtree(path, ignore_errors=True)


class WarmPool:
    def __init__(self, size: int) -> None:
        self.size = size
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._idle: list[WarmWorker] = []
        self._out: set[WarmWorker] = set()
        self._closed = False
        self._early_deaths = 0
        self._paused_until = 0.0
        self._keeper = threading.Thread(target=self._keep, name="studio-warm-pool", daemon=True)
        self._keeper.start()

    # -- runs --------------------------------------------------------------------------

    def take(self, wait: float = TAKE_WAIT) -> WarmWorker | None:
        """An idle worker for one run (ready ones first), or None: start cold."""
        key = env_key(base_env())
        stale: list[WarmWorker] = []
        end = time.monotonic() + wait
        with self._changed:
            while True:
                if self._closed or self.size <= 0:
                    return None
                stale += [w for w in self._idle if w.key != key]  # e.g. PYTHONPATH changed since
                self._idle = [w for w in self._idle if w.key == key and not w.done.is_set()]
                if self._idle:
                    chosen = next((w for w in self._idle if w.ready.is_set()), self._idle[0])
                    self._idle.remove(chosen)
                    chosen.taken = True
                    chosen.owner = self
                    self._out.add(chosen)
                    self._changed.notify_all()  # the keeper starts a replacement
                    break
                left = end - time.monotonic()
                if left <= 0 or time.monotonic() < self._paused_until:
                    chosen = None
                    break
                self._changed.notify_all()
                self._changed.wait(left)
        for worker in stale:
            worker.stop()
        return chosen

    def release(self, worker: WarmWorker) -> None:
        """A run is done with ``worker`` (it has exited or was killed)."""
        if worker.proc.poll() is None:
            worker.stop()
        worker.cleanup()
        with self._changed:
            self._out.discard(worker)
            self._changed.notify_all()

    def idle(self) -> list[WarmWorker]:
        with self._lock:
            return list(self._idle)

    def wait_ready(self, timeout: float) -> bool:
        """Until ``size`` idle workers are ready (tests, benchmarks)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            idle = self.idle()
            if len(idle) >= self.size and all(w.ready.is_set() for w in idle):
                return True
            time.sleep(0.05)
        return False

    # -- the keeper --------------------------------------------------------------------

    def _keep(self) -> None:
        """Start workers until ``size`` are idle. Every worker is started from this thread,
        which ends only when the pool is closed and no taken worker is left running."""
        sweep_leftovers()
        while True:
            with self._changed:
                while not self._closed and not self._needs_worker():
                    self._changed.wait(self._pause_left() or None)
                if self._closed:
                    while any(w.proc.poll() is None for w in self._out):
                        self._changed.wait(1.0)
                    return
            try:
                worker = self._spawn()
            except Exception as exc:  # e.g. no more processes: runs start cold
                log.warning("could not start a warm notebook worker: %r", exc)
                self._pause()
                continue
            with self._changed:
                if self._closed:
                    stop = True
                else:
                    stop = False
                    self._idle.append(worker)
                    self._changed.notify_all()
            if stop:
                worker.stop()

    def _needs_worker(self) -> bool:
        """One worker warms up at a time: on a small machine several warming at once (each
        ~2 s of CPU) would slow down the runs going on more than they save."""
        if time.monotonic() < self._paused_until:
            return False
        return len(self._idle) < self.size and all(w.ready.is_set() for w in self._idle)

    def _pause_left(self) -> float:
        return max(0.0, self._paused_until - time.monotonic())

    def _pause(self) -> None:
        with self._changed:
            self._paused_until = time.monotonic() + BACKOFF_SECONDS
            self._early_deaths = 0

    def _spawn(self) -> WarmWorker:
        env = base_env()
        home = tempfile.mkdtemp(prefix=f"{HOME_PREFIX}{os.getpid()}-")
        read_fd, write_fd = os.pipe()
        try:
            proc = start([sys.executable, "-m", "executors._worker", "--warm", str(write_fd), str(os.getpid())],
                         cwd=home, env=env, pass_fds=(write_fd,), stdin=subprocess.PIPE)
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        return WarmWorker(proc, read_fd, env, home, self._notify, self._worker_ended)

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _worker_ended(self, worker: WarmWorker) -> None:
        """An idle worker that ends was never used: drop it, and count it if it never got
        ready (three in a row: stop starting workers for a while)."""
        if worker.taken:
            return
        try:
            worker.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            worker.stop()
        worker.cleanup()
        with self._changed:
            if worker in self._idle:
                self._idle.remove(worker)
                if self._closed:
                    pass
                elif not worker.ready.is_set() or worker.kernel_pid is None:
                    self._early_deaths += 1
                    if self._early_deaths >= MAX_EARLY_DEATHS:
                        log.warning("warm notebook workers keep dying before use (exit code %s); "
                                    "notebooks start cold for %.0f s", worker.proc.returncode,
                                    BACKOFF_SECONDS)
                        self._paused_until = time.monotonic() + BACKOFF_SECONDS
                        self._early_deaths = 0
                self._changed.notify_all()

    def close(self) -> None:
        """Stop idle workers now; taken ones finish their run (their run supervises them)."""
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._changed.notify_all()
        for worker in idle:
            worker.stop()


_pool: WarmPool | None = None
_pool_lock = threading.Lock()
_atexit_registered = False


def get_pool() -> WarmPool | None:
    """The process-wide pool, created on first use (None when ``STUDIO_WARM_KERNELS=0``).
    Raises ValueError naming the setting when it is not a number."""
    global _pool, _atexit_registered
    with _pool_lock:
        if _pool is not None and _pool.pid != os.getpid():  # a forked child: not our workers
            _pool = None
        if _pool is None:
            size = configured_size()
            if size == 0:
                return None
            _pool = WarmPool(size)
            if not _atexit_registered:
                atexit.register(shutdown)
                _atexit_registered = True
        return _pool


def shutdown() -> None:
    """Stop the warm workers (idle ones now). The next notebook run starts a new pool and
    reads ``STUDIO_WARM_KERNELS`` again."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None and pool.pid == os.getpid():
        pool.close()
