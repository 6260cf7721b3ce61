"""The notebook worker: runs one notebook through papermill in its own process.

    python -m executors._worker JOB_FILE PIPE_FD              cold: start, run the job, exit
    python -m executors._worker --warm PIPE_FD PARENT_PID     warm: import papermill, start a
                                                              kernel, wait for a job file path
                                                              on stdin, run it, exit

The kernel is the worker's child and serves this one job. A warm worker dies with its
parent (PR_SET_PDEATHSIG on Linux, and EOF on stdin while it waits). The worker tells the
parent what happens over a pipe, one JSON object a line:

    {"t": "kernel", "pid": 123, "dir": "..."}         the kernel process (killed with the tree)
                                                      and its socket directory
    {"t": "ready"}                                    a warm worker waits for its job
    {"t": "cell", "index": 3, "source_index": 2}      a cell starts (index in the executed
                                                      notebook / in the author's notebook)
    {"t": "out", "name": "stdout", "text": "..."}     stream output, live
    {"t": "data", "bytes": 812, "text": "..."}        rich output (display/result), live
    {"t": "result", "status": "completed" | "failed", "kind": ..., "cell": ..., "ename": ...,
     "evalue": ..., "traceback": "..."}               last line, if the worker got that far

The parent enforces deadline, cancel and output cap by killing this process tree; the worker
only reports. The executed notebook is written to the private path the job names (never to
the output folder: the parent redacts it first).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from typing import Any, TextIO

from executors._kernel import DEFAULT_KERNEL, Kernel

# Stream output is sent in pieces no longer than this, so the parent reads bounded lines.
CHUNK = 32 * 1024
ENGINE_NAME = "studio"


class Channel:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, **message: Any) -> None:
        line = json.dumps(message, default=str)
        with self._lock:
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (BrokenPipeError, OSError):
                pass


def _source_index(nb: Any, index: int) -> int:
    """Index of an executed cell in the author's notebook (papermill inserts one cell)."""
    injected = sum(
        1 for cell in nb.cells[:index]
        if "injected-parameters" in cell.get("metadata", {}).get("tags", [])
    )
    return index - injected


def install_engine(channel: Channel) -> None:
    """Register the ``studio`` papermill engine: nbclient with live reporting to ``channel``."""
    from nbclient.exceptions import CellExecutionError
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines

    class StudioClient(PapermillNotebookClient):
        current_index: int | None = None
        exit_requested: int | None = None    # cell that called IPython's `exit()` / `quit()`

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.on_cell_executed = self._check_exit

        def _check_exit(self, cell: Any, cell_index: int, execute_reply: Any) -> None:
            payloads = (execute_reply or {}).get("content", {}).get("payload", [])
            if any(p.get("source") == "ask_exit" for p in payloads):
                # The kernel ignores `exit()` when driven by nbclient; honour it like a script.
                self.exit_requested = cell_index

        def papermill_execute_cells(self) -> None:
            provisioner = getattr(self.km, "provisioner", None)
            pid = getattr(provisioner, "pid", None)
            if pid is not None:
                channel.send(t="kernel", pid=pid)
            for index, cell in enumerate(self.nb.cells):
                self.current_index = index
                channel.send(t="cell", index=index, source_index=_source_index(self.nb, index))
                try:
                    self.nb_man.cell_start(cell, index)
                    self.execute_cell(cell, index)
                except CellExecutionError as ex:
                    if ex.ename == "SystemExit" and ex.evalue.strip() in ("", "0", "None"):
                        channel.send(t="exit", cell=_source_index(self.nb, index), how="sys.exit()")
                    self.nb_man.cell_exception(self.nb.cells[index], cell_index=index, exception=ex)
                    break
                finally:
                    self.nb_man.cell_complete(self.nb.cells[index], cell_index=index)
                if self.exit_requested is not None:
                    channel.send(t="exit", cell=_source_index(self.nb, index), how="exit()")
                    break

        def process_message(self, *args: Any, **kwargs: Any) -> Any:
            output = super().process_message(*args, **kwargs)
            if output:
                report(output)
            return output

    def report(output: Any) -> None:
        kind = output.get("output_type")
        if kind == "stream":
            text = "".join(output.get("text", ""))
            for start in range(0, len(text), CHUNK):
                channel.send(t="out", name=output.get("name", "stdout"), text=text[start:start + CHUNK])
        elif kind in ("display_data", "execute_result", "update_display_data"):
            data = output.get("data", {})
            size = len(json.dumps(data, default=str))
            text = data.get("text/plain", "")
            channel.send(t="data", bytes=size, text="".join(text)[:CHUNK])
        elif kind == "error":
            channel.send(t="data", bytes=len("".join(output.get("traceback", []))), text="")

    class StudioEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
            kwargs.pop("input_path", None)
            kwargs.pop("log_output", None)
            kc = kwargs.pop("kc", None)
            client = StudioClient(
                nb_man, kernel_name=kernel_name, timeout=None, startup_timeout=kwargs.pop("start_timeout", 60),
                resources=kwargs.pop("resources", {}), km=kwargs.pop("km", None),
            )
            if kc is not None:  # a kernel we started (warm or cold): nbclient uses it as is
                client.kc = kc
            install_engine.last_client = client  # type: ignore[attr-defined]
            return client.execute()

    papermill_engines.register(ENGINE_NAME, StudioEngine)


def kernel_name(job: dict[str, Any]) -> str | None:
    """The kernel papermill would start: the job's, else the notebook's kernelspec."""
    if job.get("kernel"):
        return str(job["kernel"])
    try:
        with open(job["input"], encoding="utf-8") as handle:
            return json.load(handle)["metadata"]["kernelspec"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # papermill reports the problem in its own words


def run_job(job: dict[str, Any], channel: Channel, warm: Kernel | None = None) -> dict[str, Any]:
    """Execute one notebook job; returns the ``result`` message (also sent on the channel).

    ``warm`` is a kernel started before the job arrived; it is used if it is the kernel the
    notebook asks for, else a kernel is started now. Either way it is stopped at the end.
    """
    import papermill as pm
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    result: dict[str, Any] = {"t": "result", "status": "completed"}
    kernel: Kernel | None = None
    try:
        name = kernel_name(job)
        if warm is not None and warm.name == name and warm.alive():
            kernel, warm = warm, None
            kernel.prepare(job["cwd"], job.get("env") or {})
        elif name is not None:
            kernel = Kernel.start(name, cwd=job["cwd"], scratch=job.get("scratch"))
            channel.send(t="kernel", pid=kernel.pid, dir=kernel.ipc_dir)
        extra: dict[str, Any] = {} if kernel is None else {"km": kernel.km, "kc": kernel.kc}
        pm.execute_notebook(
            job["input"], job["output"], parameters=job["params"], kernel_name=job.get("kernel"),
            engine_name=ENGINE_NAME, progress_bar=False, cwd=job["cwd"],
            request_save_on_cell_execute=True, **extra,
        )
    except PapermillExecutionError as ex:
        result.update(kind="error", cell=ex.cell_index, ename=ex.ename, evalue=ex.evalue,
                      traceback="\n".join(ex.traceback), status="failed")
        if ex.ename == "SystemExit" and ex.evalue.strip() in ("", "0", "None"):
            # `sys.exit()` / `sys.exit(0)`: the notebook chose to stop early, like a script.
            result.update(status="completed", kind="exit")
    except DeadKernelError as ex:
        client = getattr(install_engine, "last_client", None)
        result.update(status="failed", kind="dead", cell=getattr(client, "current_index", None),
                      ename="DeadKernelError", evalue=str(ex), traceback="")
    except Exception as ex:  # kernel failed to start, unreadable notebook, ...
        import traceback

        client = getattr(install_engine, "last_client", None)
        result.update(status="failed", kind="internal", cell=getattr(client, "current_index", None),
                      ename=type(ex).__name__, evalue=str(ex), traceback=traceback.format_exc())
    finally:
        if warm is not None:  # not the kernel this notebook wants (or it died while waiting)
            warm.kill()
    # The kernel exits before the worker does: the parent moves on (next step, next run)
    # only when the worker has exited, so the user's files are complete by then.
    channel.send(**result)
    if kernel is not None:
        kernel.stop()
    return result


class _ChannelLog(logging.Handler):
    """papermill's/nbclient's own messages ("Passed unknown parameter: x") as executor logs."""

    def __init__(self, channel: Channel) -> None:
        super().__init__(logging.INFO)
        self.channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        self.channel.send(t="log", level=record.levelname, message=record.getMessage())


def route_logging(channel: Channel) -> None:
    handler = _ChannelLog(channel)
    for name in ("papermill", "nbclient", "traitlets"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.WARNING)
        logger.propagate = False


def die_with_parent(parent_pid: int) -> None:
    """Linux: SIGKILL this process when the thread that started it ends (the pool's keeper
    thread lives as long as the studio process). Exit now if the parent is already gone."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    if os.getppid() != parent_pid:
        os._exit(0)


def open_channel(fd: int) -> Channel:
    os.set_inheritable(fd, False)  # the kernel must not hold our pipe open
    channel = Channel(os.fdopen(fd, "w", encoding="utf-8", buffering=1))
    route_logging(channel)
    install_engine(channel)
    return channel


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--warm":
        return warm_main(int(argv[1]), int(argv[2]))
    job_file, fd = argv[0], int(argv[1])
    channel = open_channel(fd)
    with open(job_file, encoding="utf-8") as handle:
        job = json.load(handle)
    run_job(job, channel)
    return 0


def warm_main(fd: int, parent_pid: int) -> int:
    die_with_parent(parent_pid)
    channel = open_channel(fd)
    import papermill  # noqa: F401  (everything a job needs is imported before it arrives)

    kernel: Kernel | None = None
    try:
        kernel = Kernel.start(DEFAULT_KERNEL, cwd=os.getcwd(), scratch=os.getcwd())
        kernel.harden()
        channel.send(t="kernel", pid=kernel.pid, dir=kernel.ipc_dir)
    except Exception as ex:
        if kernel is not None:
            kernel.kill()
            kernel = None
        channel.send(t="log", level="WARNING", message=f"the warm kernel did not start ({ex!r}); "
                                                      "this run starts its own")
    channel.send(t="ready")
    line = sys.stdin.readline().strip()
    if not line:  # the pool closed our stdin, or the studio died: no job will come
        if kernel is not None:
            kernel.kill()
        return 0
    with open(line, encoding="utf-8") as handle:
        job = json.load(handle)
    for key, value in (job.get("env") or {}).items():  # as the kernel gets it (prepare)
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    run_job(job, channel, warm=kernel)
    return 0


def _exit_now(code: int) -> None:
    """Leave without the interpreter's tear-down (~1-2 s of zmq/threads/module cleanup on a
    busy machine): the notebook is written and closed, the kernel has exited, the channel is
    flushed after every message. The parent waits for this exit."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    _exit_now(main(sys.argv[1:]))
