"""Scale-out fixtures: a real PostgreSQL catalog, a Tansu (Kafka-wire) broker, and studio role
processes started as ``python -m studio.cli --home H up --role ...`` with settings from env.

Chaos helpers live here too (rq-style): ``Cluster.kill9`` kills a role process without a chance
to clean up; ``Cluster.stop`` sends SIGTERM and waits for a clean exit.

Skips (with the reason) only when PostgreSQL does not answer on 127.0.0.1:5432 or the Tansu
binary is absent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.conftest import fresh_pg_database, write_service

REPO = Path(__file__).resolve().parents[2]
# Short timings so chaos tests finish quickly: a 6 s lease (a killed executor's run is lost
# within ~8 s; shorter leases get reaped when a loaded 2-core machine starves the renewing
# thread for 4 s, which the design then handles as lost-and-retried), a 1 s catalog poll, a 3 s Kafka session (Tansu waits half of it on every join).
LEASE_SECONDS = 6
TEST_ENV = {
    "STUDIO_LEASE_SECONDS": str(LEASE_SECONDS),
    "STUDIO_EXECUTOR_POLL_SECONDS": "1",
    "STUDIO_EXECUTOR_CONCURRENCY": "2",
}
KAFKA_OPTIONS = "?partitions=6&session_timeout_ms=3000"

STEP = 'print("ran", flush=True)\n'
SLEEPY = 'import time\nprint("ran", flush=True)\ntime.sleep(6)\nprint("woke", flush=True)\n'



@pytest.fixture(scope="module")
def pg_module_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test module."""
    with fresh_pg_database("studio_scale") as url:
        yield url


@dataclass
class Role:
    name: str
    roles: tuple[str, ...]
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Cluster:
    """A workspace on PostgreSQL + Kafka and the role processes started on it."""

    home: Path
    project: Path
    env: dict[str, str]
    logs: Path
    procs: dict[str, Role] = field(default_factory=dict)
    ws: Any = None

    def start(self, name: str, *roles: str) -> Role:
        log = self.logs / f"{name}.log"
        cmd = [sys.executable, "-m", "studio.cli", "--home", str(self.home), "up"]
        for role in roles:
            cmd += ["--role", role]
        with open(log, "ab") as out:
            proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                                    stdin=subprocess.DEVNULL)
        self.procs[name] = Role(name, roles, proc, log)
        return self.procs[name]

    def kill9(self, name: str) -> None:
        """Chaos: kill -9, no cleanup, no acks, no lease release."""
        role = self.procs.pop(name)
        role.process.send_signal(signal.SIGKILL)
        role.process.wait(10)

    def stop(self, name: str, timeout: float = 40.0) -> int:
        """SIGTERM and wait for the clean exit; returns the exit code."""
        role = self.procs.pop(name)
        role.process.send_signal(signal.SIGTERM)
        return role.process.wait(timeout)

    def pid_of_owner(self, owner: str) -> str | None:
        """Which started process holds a lease (worker ids carry the pid)."""
        for name, role in self.procs.items():
            if f"-{role.process.pid}-" in owner:
                return name
        return None

    def wait_live(self, roles: dict[str, int], timeout: float = 60.0) -> None:
        """Wait until heartbeats show at least ``count`` processes per role."""
        from sqlalchemy import select

        from studio.catalog.models import Worker, utcnow

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.ws.catalog.session() as s:
                rows = s.scalars(select(Worker)).all()
            fresh = [r for r in rows if (utcnow() - r.last_seen).total_seconds() < 15]
            counts = {role: sum(role in r.roles.split(",") for r in fresh) for role in roles}
            if all(counts[r] >= n for r, n in roles.items()):
                return
            self.check_alive()
            time.sleep(0.3)
        raise AssertionError(f"roles not up within {timeout} s: {counts}\n{self.tails()}")

    def check_alive(self) -> None:
        for role in self.procs.values():
            if role.process.poll() is not None:
                raise AssertionError(f"{role.name} exited with {role.process.returncode}\n{self.tails()}")

    def tails(self, lines: int = 30) -> str:
        out = []
        for path in sorted(self.logs.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)

    def shutdown(self) -> None:
        for name in list(self.procs):
            role = self.procs.pop(name)
            if role.process.poll() is None:
                role.process.send_signal(signal.SIGTERM)


def wait_until(check: Callable[[], Any], timeout: float, what: str, cluster: Cluster | None = None,
               every: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if cluster is not None:
            cluster.check_alive()
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                         + (f"\n{cluster.tails()}" if cluster else ""))


@pytest.fixture(scope="module")
def make_cluster(tmp_path_factory: pytest.TempPathFactory, tansu: Any,
                 pg_module_database: str) -> Iterator[Callable[[dict[str, dict[str, Any]]], Cluster]]:
    """Build the workspace (services in project 'demo') and hand back a Cluster to start roles on."""
    from studio.workspace import Workspace, init_workspace

    made: list[Cluster] = []

    def build(services: dict[str, dict[str, Any]]) -> Cluster:
        root = tmp_path_factory.mktemp("cluster")
        home, project, logs = root / "home", root / "demo", root / "logs"
        project.mkdir()
        logs.mkdir()
        for name, files in services.items():
            write_service(project, name, files)
        env = {**os.environ, **TEST_ENV,
               "STUDIO_DATABASE_URL": pg_module_database,
               "STUDIO_BUS_URL": tansu.url + KAFKA_OPTIONS,
               "STUDIO_ARTEFACTS": str(root / "artefacts"),
               "PYTHONPATH": str(REPO)}
        env.pop("STUDIO_HOME", None)
        saved = {k: os.environ.get(k) for k in env if k.startswith("STUDIO_")}
        os.environ.update({k: v for k, v in env.items() if k.startswith("STUDIO_")})
        try:
            init_workspace(home, with_examples=False)
            ws = Workspace.open(home)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        ws.add_project("demo", project)
        ws.sync()
        cluster = Cluster(home, project, env, logs, ws=ws)
        made.append(cluster)
        return cluster

    yield build
    for cluster in made:
        procs = list(cluster.procs.values())
        cluster.shutdown()
        for role in procs:
            try:
                role.process.wait(30)
            except subprocess.TimeoutExpired:
                role.process.kill()
        cluster.ws.close()
