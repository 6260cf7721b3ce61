"""The kernel of one notebook run, as the worker holds it (worker side only).

A :class:`Kernel` is started either when the job arrives (cold) or ahead of time by a warm
worker waiting for a job; either way it serves exactly one run and is stopped afterwards.
Kernels talk over IPC sockets in a private directory, not TCP on localhost: nothing else
on the machine can connect, and ipykernel has no "running over TCP without encryption"
warning to print into the user's log.

A warm kernel was started in a neutral directory with the worker's environment, so before
the user's first cell :meth:`Kernel.prepare` runs one silent execution that moves it into
the run's working directory and sets the run's environment (``STUDIO_CONTEXT_FILE`` etc.;
``studio.context`` reads that variable on first use, so setting it late is enough).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

# The kernel a warm worker starts ahead of time; other kernel names start cold.
DEFAULT_KERNEL = "python3"
# How long a kernel may take to exit after a shutdown request before it is killed. It runs
# the interpreter's normal exit (atexit hooks, buffered files flushed) in far less.
SHUTDOWN_GRACE = 5.0
# IPC socket paths are limited to ~107 bytes; a longer scratch directory falls back to /tmp.
MAX_SCRATCH_PATH = 80
# A silent execution (the run's setup) that has not answered by then means a broken kernel.
SETUP_TIMEOUT = 30.0


class Kernel:
    def __init__(self, name: str, km: Any, kc: Any, ipc_dir: str) -> None:
        self.name = name
        self.km = km
        self.kc = kc
        self.ipc_dir = ipc_dir

    @classmethod
    def start(cls, name: str, cwd: str, scratch: str | None = None, startup_timeout: float = 60) -> Kernel:
        """Start kernel ``name`` (with nbclient's own settings) and wait until it answers.
        Its sockets and connection file go in a new directory inside ``scratch`` (a
        directory the parent removes, so nothing is left even if this process is killed)."""
        from nbclient import NotebookClient
        from nbformat.v4 import new_notebook

        if scratch is not None and len(scratch) > MAX_SCRATCH_PATH:
            scratch = None
        ipc_dir = tempfile.mkdtemp(prefix="studio-kernel-", dir=scratch)
        client = NotebookClient(new_notebook(), kernel_name=name, startup_timeout=int(startup_timeout))
        km = client.create_kernel_manager()
        km.transport = "ipc"
        km.ip = os.path.join(ipc_dir, "k")     # absolute: socket files never land in a workdir
        km.connection_file = os.path.join(ipc_dir, "kernel.json")
        try:
            client.start_new_kernel(cwd=cwd)
            client.start_new_kernel_client()
        except BaseException:
            shutil.rmtree(ipc_dir, ignore_errors=True)
            raise
        return cls(name, km, client.kc, ipc_dir)

    @property
    def pid(self) -> int | None:
        return getattr(getattr(self.km, "provisioner", None), "pid", None)

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return getattr(getattr(self.km, "provisioner", None), "process", None)

    def alive(self) -> bool:
        proc = self.process
        return proc is not None and proc.poll() is None

    def run_silent(self, code: str, timeout: float = SETUP_TIMEOUT) -> None:
        """Execute ``code`` without output, history or execution count; raise if it failed."""
        from jupyter_core.utils import run_sync

        msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)

        async def reply() -> dict[str, Any]:
            while True:
                msg = await self.kc.get_shell_msg(timeout=timeout)
                if msg.get("parent_header", {}).get("msg_id") == msg_id:
                    return msg

        content = run_sync(reply)()["content"]
        if content.get("status") != "ok":
            raise RuntimeError(f"kernel setup failed: {content.get('ename')}: {content.get('evalue')}")

    def harden(self) -> None:
        """Linux: the kernel gets SIGKILL the moment its worker dies (ipykernel's own parent
        poller would notice only within seconds)."""
        if sys.platform.startswith("linux"):
            self.run_silent("__import__('ctypes').CDLL(None).prctl(1, 9)")  # PR_SET_PDEATHSIG, SIGKILL

    def prepare(self, cwd: str, env: dict[str, str | None]) -> None:
        """Move a warm kernel into the run: working directory and environment (``env`` maps
        a variable to its value, or None to unset it). One expression, so no name is left
        in the user's namespace."""
        self.run_silent(
            f"(lambda os, env: (os.chdir({cwd!r}), [os.environ.pop(k, None) if v is None else "
            f"os.environ.__setitem__(k, v) for k, v in env.items()]))(__import__('os'), {dict(env)!r})")

    def stop(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Ask the kernel to exit (so the user's files are flushed), wait for exactly that
        (no polling interval), kill it if it does not, and remove its sockets."""
        proc = self.process
        try:
            if proc is not None and proc.poll() is None:
                try:
                    self.kc.shutdown()
                    proc.wait(timeout=grace)
                except Exception:
                    proc.kill()
                    proc.wait()
        finally:
            self._release()

    def kill(self) -> None:
        proc = self.process
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self._release()

    def _release(self) -> None:
        try:
            self.kc.stop_channels()
        except Exception:
            pass
        try:
            self.km.cleanup_connection_file()
        except Exception:
            pass
        shutil.rmtree(self.ipc_dir, ignore_errors=True)
