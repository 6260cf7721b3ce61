"""``run``: a service's steps in order, with the run-wide deadline, cancel and output cap."""

from __future__ import annotations

import logging
import threading

from executors._context import RunContext, now
from executors._pool import get_pool
from executors._process import StopReason
from executors._runner import UnknownStepType, runner_for, warm_up
from executors.base import (
    RunListener,
    RunOutcome,
    RunRequest,
    RunStatus,
    StepOutcome,
    StepStatus,
)


def run(request: RunRequest, listener: RunListener, cancel: threading.Event) -> RunOutcome:
    """Run ``request.steps`` in order; always returns (never raises for a step's failure).

    A failed step makes the remaining ones ``skipped``; a file type without a runner is
    ``unprocessed``; a cancel or the deadline stops the current step and skips the rest.
    """
    warm_up()
    ctx = RunContext(request, listener, cancel)
    outcomes: list[StepOutcome] = []
    status, error = RunStatus.completed, None
    try:
        for step in request.steps:
            if status is not RunStatus.completed:
                outcomes.append(_mark(step, StepStatus.skipped, listener))
                continue
            try:
                runner = runner_for(step)
            except UnknownStepType:
                outcomes.append(_mark(step, StepStatus.unprocessed, listener))
                continue
            stop = ctx.check_stop()
            if stop is not None:
                status, error = _stopped(stop, ctx)
                outcomes.append(_mark(step, StepStatus.skipped, listener))
                continue
            outcome = runner.run(step, ctx)
            outcomes.append(outcome)
            ctx.write_context()  # state/secret writes become visible to the next step
            if outcome.status is StepStatus.failed:
                status = RunStatus.cancelled if cancel.is_set() else RunStatus.failed
                error = "cancelled" if cancel.is_set() else f"step {step} failed: {outcome.error}"
    finally:
        ctx.close()
    return RunOutcome(status=status, steps=outcomes, error=error)


def prewarm() -> None:
    """Start what the first run would otherwise wait for, in the background: the warm pool
    (``STUDIO_WARM_KERNELS``) and the parent's nbformat/nbconvert. For a process that will
    run notebooks soon (the executor role at start-up); never raises."""
    warm_up()
    try:
        get_pool()
    except ValueError as exc:  # a bad STUDIO_WARM_KERNELS: each run will say so
        logging.getLogger("executors").warning("%s", exc)


def _stopped(stop: StopReason, ctx: RunContext) -> tuple[RunStatus, str]:
    if stop is StopReason.cancelled:
        return RunStatus.cancelled, "cancelled"
    return RunStatus.failed, ctx.stop_message(stop)


def _mark(step: str, status: StepStatus, listener: RunListener) -> StepOutcome:
    outcome = StepOutcome(name=step, status=status)
    if status is StepStatus.unprocessed:
        outcome.error = f"not a step type that runs ({UnknownStepType(step, []).suffix})"
    outcome.finished_at = now()
    listener.step_finished(outcome)
    return outcome
