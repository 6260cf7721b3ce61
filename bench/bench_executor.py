"""Trigger-to-completion of a trivial three-cell notebook: ``executors.run`` vs papermill's CLI.

    python bench/bench_executor.py [--runs 10]

Both sides run the same notebook in the same process session, alternating, so machine load
hits them alike. Prints p50/p99 seconds, runs/s (sequential) and the ratio executors/papermill.
``executors.run`` includes what papermill's CLI does not: redaction, the HTML rendering and
the outbox/context plumbing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from executors import RunRequest, RunStatus, run


class _Quiet:
    def step_started(self, name: str, started_at: Any) -> None: ...
    def step_finished(self, outcome: Any) -> None: ...
    def record(self, record: dict[str, Any]) -> None: ...


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _summary(name: str, times: list[float]) -> dict[str, float]:
    p50, p99 = statistics.median(times), _percentile(times, 0.99)
    rate = len(times) / sum(times)
    print(f"{name:<22} p50 {p50:6.2f} s   p99 {p99:6.2f} s   {rate:5.2f} runs/s   (n={len(times)})")
    return {"p50": p50, "p99": p99, "rate": rate}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-executor-"))
    workdir = root / "svc"
    workdir.mkdir()
    nb = new_notebook(cells=[new_code_cell("a = 1"), new_code_cell("b = a + 1"), new_code_cell("print(b)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, workdir / "trivial.ipynb")

    ours: list[float] = []
    theirs: list[float] = []
    for i in range(args.runs + 1):  # the first round warms imports and disk caches; not counted
        request = RunRequest(execution_id=f"bench-{i}", workdir=workdir, steps=["trivial.ipynb"],
                             params={}, context={}, output_dir=root / f"out-{i}", timeout=120,
                             max_output_bytes=1_000_000)
        began = time.perf_counter()
        outcome = run(request, _Quiet(), threading.Event())
        took = time.perf_counter() - began
        if outcome.status is not RunStatus.completed:
            print(f"executors.run failed: {outcome.error}", file=sys.stderr)
            return 1
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "papermill", "--no-progress-bar", str(workdir / "trivial.ipynb"),
                        str(root / f"pm-{i}.ipynb")], check=True, capture_output=True, cwd=workdir)
        pm_took = time.perf_counter() - began
        if i:
            ours.append(took)
            theirs.append(pm_took)
    print(f"trivial three-cell notebook, {args.runs} runs each, sequential")
    a = _summary("executors.run", ours)
    b = _summary("papermill CLI", theirs)
    print(f"ratio executors/papermill: p50 {a['p50'] / b['p50']:.2f}x   p99 {a['p99'] / b['p99']:.2f}x   "
          f"runs/s {a['rate'] / b['rate']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
