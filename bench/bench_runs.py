"""Trigger-to-completion time and runs/s of a trivial three-cell notebook through the studio,
next to papermill's own CLI on the same notebook, in the same run (ratios; machines are noisy).

    python bench/bench_runs.py [--runs 20] [--database-url postgresql://...]

"Through the studio" = runs.start (validation, trigger event, catalog rows) -> the executor role
claims it -> the notebook runs in its own kernel -> outputs, HTML and logs are recorded -> final
state committed. Latency is measured one run at a time, each triggered once the studio is idle
and its warm pool ready (as an event or a form submission finds it); throughput with the
executor's default concurrency and the queue kept full (the pool cannot refill that fast, so
most of those runs start cold kernels).
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._stats import pct  # noqa: E402

import nbformat  # noqa: E402

from studio import runs  # noqa: E402
from studio.executor import Executor  # noqa: E402
from studio.workspace import Workspace, init_workspace  # noqa: E402


def trivial_notebook() -> str:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("n = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("x = n * 2"), nbformat.v4.new_code_cell("print(x)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb)



def bench_papermill(nb_path: Path, count: int) -> tuple[list[float], float]:
    latencies = []
    out_dir = nb_path.parent.parent.parent / "papermill-out"   # outside the service folder
    out_dir.mkdir(exist_ok=True)
    out = out_dir / "out.ipynb"
    for _ in range(count):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "papermill", str(nb_path), str(out), "-p", "n", "2", "--no-progress-bar"],
                       check=True, capture_output=True)
        latencies.append(time.perf_counter() - start)
    # Throughput: as many papermill processes at once as the studio's executor concurrency.
    start = time.perf_counter()
    procs = []
    for i in range(count):
        procs.append(subprocess.Popen([sys.executable, "-m", "papermill", str(nb_path), str(out.with_suffix(f".{i}.ipynb")),
                                       "--no-progress-bar"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        while sum(p.poll() is None for p in procs) >= 2:
            time.sleep(0.01)
    for p in procs:
        p.wait()
    return latencies, count / (time.perf_counter() - start)


def wait_final(ws: Workspace, execution_id: str) -> None:
    while runs.get(ws.catalog, execution_id).status not in runs.FINAL:
        time.sleep(0.01)


def bench_studio(ws: Workspace, count: int) -> tuple[list[float], float]:
    svc = ws.service("trivial")
    executor = Executor(ws)
    stop = threading.Event()
    loop = threading.Thread(target=executor.serve, args=(stop,), daemon=True)
    loop.start()
    latencies = []
    try:
        from executors._pool import get_pool

        pool = get_pool()
        for _ in range(count):
            if pool is not None:
                pool.wait_ready(60)
            start = time.perf_counter()
            execution = runs.start(ws, svc, {"n": 2})
            executor.wakeup.set()
            wait_final(ws, execution.id)
            latencies.append(time.perf_counter() - start)
        start = time.perf_counter()
        ids = [runs.start(ws, svc, {"n": 3}).id for _ in range(count)]
        executor.wakeup.set()
        for execution_id in ids:
            wait_final(ws, execution_id)
        throughput = count / (time.perf_counter() - start)
        failed = [e for e in runs.list_executions(ws.catalog, limit=10_000) if e.status != "completed"]
        if failed:
            raise SystemExit(f"{len(failed)} studio runs did not complete: {failed[0].error}")
    finally:
        stop.set()
        loop.join(timeout=30)
    return latencies, throughput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        project = tmp_path / "project" / "trivial"
        project.mkdir(parents=True)
        (project / "trivial.ipynb").write_text(trivial_notebook())
        overrides = {"database_url": args.database_url} if args.database_url else {}
        init_workspace(tmp_path / "home", with_examples=False, **overrides)
        ws = Workspace.open(tmp_path / "home", **overrides)
        ws.add_project("bench", tmp_path / "project")
        pm_lat, pm_tput = bench_papermill(project / "trivial.ipynb", args.runs)
        st_lat, st_tput = bench_studio(ws, args.runs)
        ws.close()
    print(f"trivial three-cell notebook, {args.runs} runs each, catalog {'PostgreSQL' if args.database_url else 'SQLite'}")
    print(f"{'':28}{'papermill CLI':>15}{'studio':>12}{'studio/papermill':>18}")
    for label, p in (("trigger->completion p50 (s)", 50), ("trigger->completion p99 (s)", 99)):
        a, b = pct(pm_lat, p), pct(st_lat, p)
        print(f"{label:28}{a:>15.3f}{b:>12.3f}{b / a:>18.2f}")
    print(f"{'mean (s)':28}{statistics.mean(pm_lat):>15.3f}{statistics.mean(st_lat):>12.3f}"
          f"{statistics.mean(st_lat) / statistics.mean(pm_lat):>18.2f}")
    print(f"{'runs per second (2 at once)':28}{pm_tput:>15.2f}{st_tput:>12.2f}{st_tput / pm_tput:>18.2f}")


if __name__ == "__main__":
    main()
