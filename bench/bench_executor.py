"""Trigger-to-completion of a trivial three-cell notebook: ``executors.run`` cold and warm vs
papermill's CLI.

    python bench/bench_executor.py [--runs 10] [--burst 6] [--pool 2]

*Paced*: each round runs cold (``NotebookRunner``: worker and kernel started per run), warm
(``WarmNotebookRunner``: a pre-started worker and kernel from the pool) and papermill's CLI,
one after the other, so machine load hits all three alike; the pool refills between warm
runs, as it does when runs come a few seconds apart. Prints p50/p99 seconds, runs/s and the
ratios to papermill.

*Burst*: ``--burst`` runs back to back per side (runs/s); warm runs then outpace the refill
after the pool's ``--pool`` workers are used, so this shows the sustained rate.

``executors.run`` includes what papermill's CLI does not: redaction, the HTML rendering and
the outbox/context plumbing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

import executors
from executors import NotebookRunner, RunRequest, RunStatus, WarmNotebookRunner, run
from executors._pool import POOL_SIZE_ENV, get_pool


class _Quiet:
    def step_started(self, name: str, started_at: Any) -> None: ...
    def step_finished(self, outcome: Any) -> None: ...
    def record(self, record: dict[str, Any]) -> None: ...


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _summary(name: str, times: list[float], wall: float | None = None) -> dict[str, float]:
    p50, p99 = statistics.median(times), _percentile(times, 0.99)
    rate = len(times) / (wall if wall is not None else sum(times))
    print(f"  {name:<16} p50 {p50:6.2f} s   p99 {p99:6.2f} s   {rate:5.2f} runs/s   (n={len(times)})")
    return {"p50": p50, "p99": p99, "rate": rate}


def _ratios(name: str, a: dict[str, float], b: dict[str, float]) -> None:
    print(f"  {name:<16} p50 {a['p50'] / b['p50']:.2f}x   p99 {a['p99'] / b['p99']:.2f}x   "
          f"runs/s {a['rate'] / b['rate']:.2f}x")


class Bench:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.workdir = root / "svc"
        self.workdir.mkdir()
        nb = new_notebook(cells=[new_code_cell("a = 1"), new_code_cell("b = a + 1"), new_code_cell("print(b)")])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, self.workdir / "trivial.ipynb")
        self.cold, self.warm = NotebookRunner(), WarmNotebookRunner()
        self.count = 0

    def studio(self, runner: Any) -> float:
        executors.register(".ipynb", runner)
        self.count += 1
        request = RunRequest(execution_id=f"bench-{self.count}", workdir=self.workdir, steps=["trivial.ipynb"],
                             params={}, context={}, output_dir=self.root / f"out-{self.count}", timeout=120,
                             max_output_bytes=1_000_000)
        began = time.perf_counter()
        outcome = run(request, _Quiet(), threading.Event())
        took = time.perf_counter() - began
        if outcome.status is not RunStatus.completed:
            raise SystemExit(f"executors.run failed: {outcome.error}")
        return took

    def papermill(self) -> float:
        self.count += 1
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "papermill", "--no-progress-bar", str(self.workdir / "trivial.ipynb"),
                        str(self.root / f"pm-{self.count}.ipynb")], check=True, capture_output=True, cwd=self.workdir)
        return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="paced rounds (cold, warm, papermill each)")
    parser.add_argument("--burst", type=int, default=6, help="back-to-back runs per side (0: skip)")
    parser.add_argument("--pool", type=int, default=None, help=f"warm workers (default: {POOL_SIZE_ENV} or 2)")
    args = parser.parse_args()
    if args.pool is not None:
        os.environ[POOL_SIZE_ENV] = str(args.pool)
    bench = Bench(Path(tempfile.mkdtemp(prefix="bench-executor-")))
    pool = get_pool()
    if pool is None:
        raise SystemExit(f"{POOL_SIZE_ENV}=0: nothing warm to measure")
    load = os.getloadavg()[0]

    # The first round warms imports, disk caches and the pool; not counted.
    bench.studio(bench.cold), bench.studio(bench.warm), bench.papermill()
    cold: list[float] = []
    warm: list[float] = []
    theirs: list[float] = []
    ready_at_start = 0
    for _ in range(args.runs):
        cold.append(bench.studio(bench.cold))
        ready_at_start += any(w.ready.is_set() for w in pool.idle())
        warm.append(bench.studio(bench.warm))
        theirs.append(bench.papermill())
    print(f"trivial three-cell notebook, paced: {args.runs} rounds of cold, warm, papermill CLI "
          f"(pool {pool.size}, a ready worker at {ready_at_start}/{args.runs} warm starts, "
          f"load avg {load:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus)")
    c, w, p = _summary("cold", cold), _summary("warm", warm), _summary("papermill CLI", theirs)
    print("  ratio to papermill CLI (p50/p99 < 1 and runs/s > 1 are better):")
    _ratios("cold/papermill", c, p)
    _ratios("warm/papermill", w, p)

    if args.burst:
        print(f"back to back: {args.burst} runs per side")
        results: dict[str, dict[str, float]] = {}
        sides: list[tuple[str, Callable[[], float]]] = [
            ("cold", lambda: bench.studio(bench.cold)), ("warm", lambda: bench.studio(bench.warm)),
            ("papermill CLI", bench.papermill)]
        for name, once in sides:
            if name == "warm":
                pool.wait_ready(120)
            began = time.perf_counter()
            times = [once() for _ in range(args.burst)]
            results[name] = _summary(name, times, wall=time.perf_counter() - began)
        _ratios("cold/papermill", results["cold"], results["papermill CLI"])
        _ratios("warm/papermill", results["warm"], results["papermill CLI"])
    executors.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
