"""Notebook steps with real kernels: context API, parameters, and every way of failing."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import psutil
import pytest

from executors import RunStatus, StepStatus, run

from .conftest import SECRET, Recorder

pytestmark = pytest.mark.slow


def test_context_api_across_steps_and_unprocessed_files(make_request, listener: Recorder, service: Path):
    """One run checks a lot, because every notebook step costs a kernel start."""
    (service / "data.csv").write_text("a,b\n1,2\n")
    request = make_request(["context_write.ipynb", "context_read.ipynb", "data.csv", "README.md",
                            "params.ipynb"], params={"region": "south", "n": 3})
    outcome = run(request, listener, threading.Event())

    assert outcome.status is RunStatus.completed, outcome
    assert [s.status for s in outcome.steps] == [StepStatus.completed, StepStatus.completed,
                                                 StepStatus.unprocessed, StepStatus.unprocessed,
                                                 StepStatus.completed]
    assert listener.started == ["context_write.ipynb", "context_read.ipynb", "params.ipynb"]
    assert [o.name for o in listener.finished] == request.steps
    assert "hello from south" in listener.messages(kind="log", step="context_write.ipynb")
    events = [r for r in listener.records if r["kind"] == "event"]
    assert [(e["type"], e["data"], e["step"]) for e in events] == [
        ("sales.ingested", {"rows": 120}, "context_write.ipynb")]
    assert all("time" in r and "step" in r for r in listener.records)
    assert any(r["kind"] == "state" and r["key"] == "cursor" and r["value"] == 42 for r in listener.records)
    # the second step saw the first one's state write
    assert "cursor 42" in listener.messages(stream="stdout", step="context_read.ipynb")
    # parameters are injected into the `parameters` cell
    assert "region=south n=3" in listener.messages(stream="stdout", step="params.ipynb")
    saved = json.loads(outcome.steps[4].output_notebook.read_text())
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in saved["cells"])
    # the secret the notebook printed is masked in logs, the .ipynb and the .html
    step = outcome.steps[0]
    assert "secret is [secret]" in listener.messages(stream="stdout")
    assert SECRET not in json.dumps(listener.records)
    assert step.output_notebook and step.output_html
    assert step.output_notebook.name == "context_write.ipynb"
    for path in (step.output_notebook, step.output_html):
        text = path.read_text()
        assert SECRET not in text
        assert "[secret]" in text


def test_raising_cell_fails_with_index_and_traceback_then_skips(make_request, listener: Recorder):
    outcome = run(make_request(["raises.ipynb", "trivial.ipynb"]), listener, threading.Event())
    failed, skipped = outcome.steps
    assert outcome.status is RunStatus.failed
    assert failed.status is StepStatus.failed and failed.failed_cell == 2
    assert failed.error == "cell 2 raised ValueError: boom on purpose"
    assert "boom on purpose" in failed.traceback and "\x1b[" not in failed.traceback
    assert skipped.status is StepStatus.skipped
    assert "\n" not in outcome.error and "raises.ipynb" in outcome.error
    assert failed.output_notebook is not None and failed.output_notebook.exists()


@pytest.mark.parametrize("notebook, cell", [("kernel_kill.ipynb", 1), ("os_exit.ipynb", 2)])
def test_kernel_death_is_reported_with_the_cell(make_request, listener: Recorder, notebook: str, cell: int):
    outcome = run(make_request([notebook]), listener, threading.Event())
    step = outcome.steps[0]
    assert step.status is StepStatus.failed
    assert "kernel died" in step.error
    assert step.failed_cell == cell


def test_sys_exit_with_error_code_fails(make_request, listener: Recorder):
    step = run(make_request(["sys_exit_error.ipynb"]), listener, threading.Event()).steps[0]
    assert step.status is StepStatus.failed
    assert step.failed_cell == 1 and "SystemExit: 3" in step.error


def test_clean_exit_stops_the_notebook_successfully(make_request, listener: Recorder):
    outcome = run(make_request(["sys_exit_ok.ipynb", "exit_builtin.ipynb"]), listener, threading.Event())
    assert [s.status for s in outcome.steps] == [StepStatus.completed] * 2, outcome
    assert "never" not in listener.messages(stream="stdout")
    assert listener.messages(stream="executor", level="INFO") == [
        "notebook stopped by sys.exit() in cell 1", "notebook stopped by exit() in cell 1"]


def test_infinite_loop_is_killed_at_the_deadline_with_its_kernel(make_request, listener: Recorder,
                                                                   service: Path):
    began = time.monotonic()
    outcome = run(make_request(["infinite_loop.ipynb", "trivial.ipynb"], timeout=8), listener,
                  threading.Event())
    elapsed = time.monotonic() - began
    step = outcome.steps[0]
    assert step.status is StepStatus.failed
    assert step.error.startswith("timed out after 8 s")
    assert step.failed_cell == 1
    assert outcome.steps[1].status is StepStatus.skipped
    assert elapsed < 16
    kernel = int((service / "kernel.pid").read_text())
    assert not psutil.pid_exists(kernel) or psutil.Process(kernel).status() == psutil.STATUS_ZOMBIE


def test_endless_print_is_stopped_at_the_output_cap(make_request, listener: Recorder):
    outcome = run(make_request(["endless_print.ipynb"], max_output_bytes=200_000), listener,
                  threading.Event())
    step = outcome.steps[0]
    assert step.status is StepStatus.failed
    assert step.error.startswith("output exceeded 200000 bytes")
    printed = sum(len(m) for m in listener.messages(stream="stdout"))
    assert printed <= 200_000 + 64 * 1024
    if step.output_notebook is not None:
        assert step.output_notebook.stat().st_size < 1_000_000


def test_cancel_stops_a_running_notebook_promptly(make_request, listener: Recorder, service: Path):
    cancel = threading.Event()
    result = {}
    worker = threading.Thread(
        target=lambda: result.update(outcome=run(make_request(["infinite_loop.ipynb", "trivial.ipynb"]),
                                                 listener, cancel)))
    worker.start()
    deadline = time.monotonic() + 30
    while not (service / "kernel.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (service / "kernel.pid").exists(), "the notebook never started"
    cancelled_at = time.monotonic()
    cancel.set()
    worker.join(timeout=10)
    assert time.monotonic() - cancelled_at < 2
    outcome = result["outcome"]
    assert outcome.status is RunStatus.cancelled
    assert [s.status for s in outcome.steps] == [StepStatus.failed, StepStatus.skipped]
    assert outcome.steps[0].error.startswith("cancelled")
