"""Step runners: a base class owning the lifecycle, and the registry keyed by file suffix.

A runner fills in one method, :meth:`StepRunner.execute`, returning a :class:`StepResult`.
:meth:`StepRunner.run` does the rest for every runner alike: listener calls, timing, status,
turning deadline/cancel/output-cap stops into a clear error, redaction, and saving the
executed notebook (``<step>.ipynb`` + ``<step>.html``) into the output folder.
"""

from __future__ import annotations

import threading
import traceback as tb
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from executors._context import RunContext, now
from executors._process import StopReason
from executors.base import StepOutcome, StepStatus
from studio.errors import StepError


class UnknownStepType(StepError):
    """A step file whose suffix has no registered runner."""

    def __init__(self, path: str, known: list[str]) -> None:
        suffix = Path(path).suffix.lower() or "(no suffix)"
        super().__init__(f"No step runner for '{suffix}' files; known: {', '.join(known)}")
        self.path = path
        self.suffix = suffix


@dataclass
class StepResult:
    """What a runner's :meth:`~StepRunner.execute` reports; the base class does the rest."""

    status: StepStatus = StepStatus.completed
    error: str | None = None
    stopped: StopReason | None = None      # the supervisor stopped the step (error is derived)
    failed_cell: int | None = None
    traceback: str | None = None
    notebook: Path | None = None           # executed notebook, unredacted, in the private dir


class StepRunner(ABC):
    """Base class of step runners. Subclasses set ``suffix`` and implement ``execute``."""

    suffix: str = ""

    @abstractmethod
    def execute(self, step: str, path: Path, ctx: RunContext) -> StepResult:
        """Run the step file ``path`` (``step`` is its name relative to the workdir)."""

    def run(self, step: str, ctx: RunContext) -> StepOutcome:
        ctx.step = step
        outcome = StepOutcome(name=step, status=StepStatus.running, started_at=now())
        ctx.listener.step_started(step, outcome.started_at)
        path = ctx.workdir / step
        try:
            if not path.is_file():
                raise StepError(f"step file {step!r} not found in the service folder")
            result = self.execute(step, path, ctx)
        except StepError as exc:
            result = StepResult(StepStatus.failed, error=str(exc))
        except Exception as exc:  # a bug in a runner must still end the step cleanly
            result = StepResult(StepStatus.failed, error=f"executor error: {exc!r}",
                                traceback=tb.format_exc())
        ctx.drain_outbox()
        if result.stopped is not None:
            result.status = StepStatus.failed
            result.error = ctx.stop_message(result.stopped) + (f" ({result.error})" if result.error else "")
        if result.notebook is not None and result.notebook.is_file():
            try:
                # A cancelled run must end promptly: keep the notebook, skip the slower HTML.
                html = result.stopped is not StopReason.cancelled
                outcome.output_notebook, outcome.output_html = save_notebook(result.notebook, step, ctx, html)
            except Exception as exc:
                ctx.log("stderr", f"could not save the output notebook: {exc!r}")
        outcome.status = result.status
        outcome.error = ctx.redactor.text(first_line(result.error)) if result.error else None
        outcome.traceback = ctx.redactor.text(result.traceback) if result.traceback else None
        outcome.failed_cell = result.failed_cell
        outcome.finished_at = now()
        ctx.listener.step_finished(outcome)
        return outcome


def first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else str(text)


def output_path(ctx: RunContext, step: str, suffix: str) -> Path:
    target = (ctx.output_dir / step).with_suffix(suffix)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _truncate_outputs(nb: Any, limit: int) -> None:
    """Keep at most ``limit`` characters of output text in the saved notebook."""
    left = limit
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                text = output.get("text", "")
                if len(text) > left:
                    output["text"] = text[: max(left, 0)] + "\n[output truncated]\n"
                left -= len(text)


def save_notebook(raw: Path, step: str, ctx: RunContext, html: bool = True) -> tuple[Path, Path | None]:
    """Redact the executed notebook and write ``<step>.ipynb`` and ``<step>.html``."""
    import nbformat

    nb = nbformat.read(raw, as_version=4)
    _truncate_outputs(nb, ctx.request.max_output_bytes)
    clean = nbformat.from_dict(ctx.redactor.value(nb))
    ipynb = output_path(ctx, step, ".ipynb")
    nbformat.write(clean, ipynb)
    html_path: Path | None = None
    if not html:
        return ipynb, None
    try:
        body = render_html(clean)
        html_path = output_path(ctx, step, ".html")
        html_path.write_text(ctx.redactor.text(body), encoding="utf-8")
    except Exception as exc:
        ctx.log("stderr", f"could not render HTML for {step}: {exc!r}")
    return ipynb, html_path


_html_lock = threading.Lock()
_html_exporter: Any = None


def render_html(nb: Any) -> str:
    """The notebook as HTML. One exporter for the process: building one loads and compiles
    its templates (~0.2 s a step otherwise); renders take turns (it is not thread-safe)."""
    global _html_exporter
    with _html_lock:
        if _html_exporter is None:
            from nbconvert import HTMLExporter

            templates = Path(__file__).parent / "templates"
            _html_exporter = HTMLExporter(template_name="studio", extra_template_basedirs=[str(templates)])
        body, _ = _html_exporter.from_notebook_node(nb)
    return body


_warm_lock = threading.Lock()
_warmed = False


def warm_up() -> None:
    """Import nbformat/nbconvert, compile the notebook schema and the HTML templates once, in
    the background, so saving the first output notebook (and a cancel's prompt return) does
    not pay ~2 s."""
    global _warmed
    with _warm_lock:
        if _warmed:
            return
        _warmed = True

    def work() -> None:
        import nbformat
        from nbformat.v4 import new_code_cell, new_notebook

        nb = new_notebook(cells=[new_code_cell("1")])
        nbformat.validate(nb)
        render_html(nb)

    threading.Thread(target=work, name="studio-warm-up", daemon=True).start()


_runners: dict[str, StepRunner] = {}


def register(suffix: str, runner: StepRunner) -> None:
    """Make ``runner`` run files ending in ``suffix`` (e.g. ``".ipynb"``); replaces any other."""
    if not suffix.startswith("."):
        suffix = "." + suffix
    _runners[suffix.lower()] = runner


def known_suffixes() -> list[str]:
    return sorted(_runners)


def runner_for(path: str | Path) -> StepRunner:
    """The runner for a step file, or :class:`UnknownStepType` naming the known suffixes."""
    suffix = Path(path).suffix.lower()
    try:
        return _runners[suffix]
    except KeyError:
        raise UnknownStepType(str(path), known_suffixes()) from None
