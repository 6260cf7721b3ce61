"""The form page: one service's form, the run it starts, followed live to its result.

No operator navigation: a business user gets a link (``/form?service=project/name``) and sees
the description, the form, saved runs and recent executions to prefill from, and the result.

CSS classes the browser tests rely on: ``studio-form-title``, ``studio-form-message``,
``studio-saved-runs``, ``studio-recent-executions``, ``studio-save-name``, ``studio-save``,
``studio-save-message``, ``studio-run`` (services without a form), ``studio-run-status``
(with ``data-status``), ``studio-run-steps``, ``studio-run-notebook`` (the iframe),
``studio-run-files``, ``studio-run-again``; the form's own classes come from ``forms``.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any
from urllib.parse import quote

import panel as pn

from studio import runs, saved_runs
from studio.artefacts import store_uploads
from studio.catalog.models import Execution
from studio.discovery import ServiceDef
from studio.errors import StudioError, ValidationFailed
from studio.workspace import Workspace

POLL_MS = 1000
RECENT = 10
STATUS_COLORS = {
    "completed": "#2e7d32", "failed": "#c62828", "running": "#1565c0", "pending": "#6d6d6d",
    "cancelled": "#8d6e63", "lost": "#ad1457", "skipped": "#9e9e9e",
}
CSS = """
h1.studio-form-title { font-size: 1.6em; margin: 0.2em 0 0.3em; color: #1f3a5f; }
p.studio-form-description { color: #333; margin: 0 0 0.5em; }
.muted { color: #666; font-size: 0.9em; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: white; font-size: 0.85em; }
ul.steps { list-style: none; padding: 0; margin: 0.3em 0; }
ul.steps li { padding: 2px 0; }
ul.files { margin: 0.3em 0; padding-left: 1.2em; }
.problem { color: #b00020; }
"""
_PANE = {"stylesheets": [CSS], "sizing_mode": "stretch_width", "disable_math": True}


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def badge(status: str) -> str:
    color = STATUS_COLORS.get(status, "#6d6d6d")
    return f'<span class="badge status-{esc(status)}" style="background:{color}">{esc(status)}</span>'


def first_paragraph(readme: str) -> str:
    """The README's first paragraph of prose (headings, badges and fences skipped)."""
    for block in readme.replace("\r\n", "\n").split("\n\n"):
        lines = [line.strip() for line in block.strip().splitlines()]
        if not lines or lines[0].startswith(("#", "```", "![", "[![", "<", "---", "===")):
            continue
        return " ".join(lines)
    return ""


def html_pane(text: str = "", **params: Any) -> pn.pane.HTML:
    return pn.pane.HTML(text, **{**_PANE, **params})


def _arg(name: str) -> str:
    values = (pn.state.session_args or {}).get(name) or [b""]
    raw = values[0]
    return (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)).strip()


def form_page(ws: Workspace) -> pn.viewable.Viewable:
    """The page for one browser session (the service comes from ``?service=``)."""
    page = FormPage(ws, _arg("service"), from_execution=_arg("from") or None)
    return pn.Column(page, sizing_mode="stretch_width", max_width=960,
                     styles={"margin": "0 auto", "padding": "8px 16px"})


class FormPage(pn.viewable.Viewer):
    """One service's form and the runs started from it, in one browser session."""

    def __init__(self, ws: Workspace, service: str, *, from_execution: str | None = None,
                 **params: Any) -> None:
        super().__init__(**params)
        self.ws = ws
        self.svc: ServiceDef | None = None
        self.form_view: Any = None
        self.execution_id: str | None = None
        self._poller: Any = None
        self._quiet = False
        self.header = html_pane()
        self.message = html_pane(css_classes=["studio-form-message"])
        self._layout = pn.Column(self.header, self.message, sizing_mode="stretch_width")
        try:
            self.svc = self._service(service)
        except StudioError as exc:
            self.header.object = '<h1 class="studio-form-title">Form</h1>'
            self.message.object = f'<p class="problem">{esc(exc)}</p>'
            return
        self._build(from_execution)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # -- building ----------------------------------------------------------------------

    def _service(self, key: str) -> ServiceDef:
        if not key:
            raise StudioError("No service given: open this page as /form?service=project/name.")
        return self.ws.service(key)

    def _build(self, from_execution: str | None) -> None:
        svc = self.svc
        assert svc is not None
        description = first_paragraph(svc.readme) or svc.manifest.description or ""
        title = svc.manifest.name or svc.name
        self.header.object = (
            f'<h1 class="studio-form-title">{esc(title)}</h1>'
            + (f'<p class="studio-form-description">{esc(description)}</p>' if description else "")
            + f'<div class="muted">Service <code>{esc(svc.key)}</code></div>'
        )
        if not svc.manifest.allow_manual_triggering:
            self.message.object = '<p class="problem">This service cannot be run by hand.</p>'
            return
        if not svc.runnable:
            self.message.object = (f'<p class="problem">This service cannot run now: '
                                   f'{esc(svc.problem_text() or "it has no steps")}</p>')
            return

        # results of the run this page started
        self.run_status = html_pane(css_classes=["studio-run-status"])
        self.run_steps = html_pane(css_classes=["studio-run-steps"])
        self.run_notebook = html_pane(css_classes=["studio-run-notebook"])
        self.run_files = html_pane(css_classes=["studio-run-files"])
        self.run_again = pn.widgets.Button(label="Run again", button_type="success", visible=False,
                                           css_classes=["studio-run-again"], width=140)
        self.run_again.on_click(lambda _: self.do_run_again())
        self.result = pn.Column(self.run_status, self.run_steps, self.run_again, self.run_files,
                                self.run_notebook, sizing_mode="stretch_width")

        if svc.form is None:
            self.run_button = pn.widgets.Button(label="Run", button_type="primary", width=140,
                                                css_classes=["studio-submit", "studio-run"])
            self.run_button.on_click(lambda _: self.do_run({}))
            self._layout.extend([self.run_button, self.result])
            return

        # prefill: saved runs and recent executions
        self.saved_select = pn.widgets.Select(name="Saved runs", options=self._saved_options(),
                                              css_classes=["studio-saved-runs"], width=260)
        self.saved_select.param.watch(self._on_saved, "value")
        self.recent_select = pn.widgets.Select(name="Prefill from execution", options=self._recent_options(),
                                               css_classes=["studio-recent-executions"], width=360)
        self.recent_select.param.watch(self._on_recent, "value")
        self.form_holder = pn.Column(sizing_mode="stretch_width")
        values: dict[str, Any] | None = None
        if from_execution:
            try:
                values = self._params_of(from_execution)
            except StudioError as exc:
                self.message.object = f'<p class="problem">Cannot prefill: {esc(exc)}</p>'
            else:
                self.message.object = (f'<p class="muted">Prefilled from execution '
                                       f'<code>{esc(from_execution)}</code>.</p>')
        self._new_form(values)
        if values is not None and from_execution in self.recent_select.options.values():
            self._quiet = True
            try:
                self.recent_select.value = from_execution
            finally:
                self._quiet = False

        # save these values as ...
        self.save_name = pn.widgets.TextInput(name="Save these values as…", placeholder="name, e.g. q3-north",
                                              css_classes=["studio-save-name"], width=260)
        self.save_button = pn.widgets.Button(label="Save", css_classes=["studio-save"], width=90,
                                             align="end")
        self.save_button.on_click(lambda _: self.do_save())
        self.save_message = html_pane(css_classes=["studio-save-message"])
        self._layout.extend([
            pn.Row(self.saved_select, self.recent_select, sizing_mode="stretch_width"),
            self.form_holder,
            pn.Row(self.save_name, self.save_button, sizing_mode="stretch_width"),
            self.save_message,
            pn.layout.Divider(),
            self.result,
        ])

    def _new_form(self, values: dict[str, Any] | None) -> None:
        from forms import FormView

        assert self.svc is not None
        self.form_view = FormView(self.svc.form, on_submit=self.do_run, values=values)
        self.form_holder.objects = [self.form_view]

    # -- prefill -----------------------------------------------------------------------

    def _saved_options(self) -> dict[str, str]:
        assert self.svc is not None
        names = [r["name"] for r in saved_runs.list_saved(self.ws, self.svc)]
        return {"— none —" if names else "— no saved runs yet —": "", **{n: n for n in names}}

    def _recent_options(self) -> dict[str, str]:
        assert self.svc is not None
        rows = runs.list_executions(self.ws.catalog, service=self.svc.key, limit=RECENT)
        options = {"— none —" if rows else "— no executions yet —": ""}
        for row in rows:
            when = row.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if row.created_at else ""
            options[f"{when} · {row.status} · {row.id[:8]}"] = row.id
        return options

    def _params_of(self, execution_id: str) -> dict[str, Any]:
        assert self.svc is not None
        execution = runs.get(self.ws.catalog, execution_id)
        if (execution.project, execution.service) != (self.svc.project, self.svc.name):
            raise StudioError(f"execution {execution.id[:8]} ran {execution.project}/{execution.service}, "
                              f"not {self.svc.key}")
        return dict(execution.params or {})

    def _on_saved(self, event: Any) -> None:
        if self._quiet or not event.new:
            return
        assert self.svc is not None
        try:
            values = saved_runs.get_saved(self.ws, self.svc, event.new)
        except StudioError as exc:
            self.message.object = f'<p class="problem">{esc(exc)}</p>'
            return
        self._new_form(values)
        self.message.object = f'<p class="muted">Prefilled from saved run <b>{esc(event.new)}</b>.</p>'
        self._reset(self.recent_select)

    def _on_recent(self, event: Any) -> None:
        if self._quiet or not event.new:
            return
        try:
            values = self._params_of(event.new)
        except StudioError as exc:
            self.message.object = f'<p class="problem">{esc(exc)}</p>'
            return
        self._new_form(values)
        self.message.object = f'<p class="muted">Prefilled from execution <code>{esc(event.new[:8])}</code>.</p>'
        self._reset(self.saved_select)

    def _reset(self, select: pn.widgets.Select, options: dict[str, str] | None = None) -> None:
        self._quiet = True
        try:
            if options is not None:
                select.options = options
            select.value = ""
        finally:
            self._quiet = False

    # -- actions -----------------------------------------------------------------------

    def _file_fields(self) -> list[str]:
        form = self.svc.form if self.svc else None
        return [f.name for f in form.fields if f.type == "file"] if form else []

    def do_run(self, values: dict[str, Any]) -> Execution:
        """Start a run with validated form values (uploads go to the artefact store first)."""
        assert self.svc is not None
        values = store_uploads(self.ws, values, self._file_fields())
        execution = runs.start(self.ws, self.svc, values, trigger="form")
        self.follow(execution.id)
        return execution

    def do_run_again(self) -> None:
        if not self.execution_id or self.svc is None:
            return
        previous = runs.get(self.ws.catalog, self.execution_id)
        try:
            execution = runs.start(self.ws, self.svc, dict(previous.params or {}), trigger="form")
        except StudioError as exc:
            self.run_status.object = f'<p class="problem">{esc(exc)}</p>'
            return
        self.follow(execution.id)

    def do_save(self) -> None:
        assert self.svc is not None and self.form_view is not None
        name = (self.save_name.value or "").strip()
        if not name:
            self.save_message.object = '<span class="problem">Give the saved run a name.</span>'
            return
        if self.form_view.errors:
            self.save_message.object = '<span class="problem">Correct the form first.</span>'
            self.form_view.submit_button.disabled = True
            return
        try:
            values = self.svc.form.validate(self.form_view.values)
            values = store_uploads(self.ws, values, self._file_fields())
            saved_runs.save(self.ws, self.svc, name, values)
        except ValidationFailed as exc:
            reasons = "; ".join(f"{e.field}: {e.reason}" for e in exc.errors)
            self.save_message.object = f'<span class="problem">Not saved: {esc(reasons)}</span>'
            return
        except StudioError as exc:
            self.save_message.object = f'<span class="problem">Not saved: {esc(exc)}</span>'
            return
        self.save_message.object = f'<span class="muted">Saved as <b>{esc(name)}</b>.</span>'
        self._reset(self.saved_select, self._saved_options())


    # -- following a run ---------------------------------------------------------------

    def follow(self, execution_id: str) -> None:
        """Show ``execution_id`` live (every second) until it reaches a final state."""
        self.execution_id = execution_id
        self.run_again.visible = False
        self.run_notebook.object = ""
        self.run_files.object = ""
        if hasattr(self, "recent_select"):
            self._reset(self.recent_select, self._recent_options())
        if self._poller is None:
            self._poller = pn.state.add_periodic_callback(self.refresh, period=POLL_MS)
        self.refresh()

    def refresh(self) -> None:
        if not self.execution_id:
            return
        try:
            execution = runs.get(self.ws.catalog, self.execution_id)
            steps = runs.steps_of(self.ws.catalog, execution.id)
        except StudioError as exc:
            self.run_status.object = f'<p class="problem">{esc(exc)}</p>'
            self._stop()
            return
        final = execution.status in runs.FINAL
        duration = ""
        if execution.finished_at and execution.started_at:
            duration = f" in {(execution.finished_at - execution.started_at).total_seconds():.1f} s"
        wait = "" if final else ' <span class="muted">(following it live…)</span>'
        error = f'<div class="problem">{esc(execution.error)}</div>' if final and execution.error else ""
        self.run_status.object = (
            f'<div class="studio-run" data-status="{esc(execution.status)}" data-execution="{esc(execution.id)}">'
            f'Execution <code>{esc(execution.id[:8])}</code>: {badge(execution.status)}{esc(duration)}{wait}'
            f'</div>{error}'
        )
        items = []
        for step in steps:
            detail = ""
            if step.error:
                where = f" (cell {step.failed_cell})" if step.failed_cell is not None else ""
                detail = f' <span class="problem">{esc(step.error)}{esc(where)}</span>'
            items.append(f'<li>{badge(step.status)} {esc(step.name)}{detail}</li>')
        self.run_steps.object = f'<ul class="steps">{"".join(items)}</ul>' if items else ""
        if final:
            self._stop()
            self._show_result(execution, steps)

    def _stop(self) -> None:
        if self._poller is not None:
            self._poller.stop()
            self._poller = None

    def _show_result(self, execution: Execution, steps: list[Any]) -> None:
        with_notebook = [s for s in steps if s.output_html]
        frames = []
        for step in with_notebook:
            src = f"/api/executions/{quote(execution.id)}/notebook.html"
            if len(with_notebook) > 1:
                src += f"?step={quote(step.name)}"
            label = f'<div class="muted">{esc(step.name)}</div>' if len(with_notebook) > 1 else ""
            frames.append(
                f'{label}<iframe class="notebook" sandbox="allow-scripts" referrerpolicy="no-referrer" '
                f'title="{esc(step.name)}" src="{esc(src)}" style="width:100%;height:640px;'
                f'border:1px solid #ddd;border-radius:4px;background:white"></iframe>')
        self.run_notebook.object = "".join(frames)
        files = []
        root = Path(execution.output) if execution.output else None
        if root is not None and root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    name = path.relative_to(root).as_posix()
                    href = f"/api/executions/{quote(execution.id)}/files/{quote(name)}"
                    files.append(f'<li><a href="{esc(href)}" target="_blank" rel="noopener" download>'
                                 f'{esc(name)}</a> <span class="muted">{_size(path.stat().st_size)}</span></li>')
        self.run_files.object = (f'<b>Files</b><ul class="files">{"".join(files)}</ul>' if files else "")
        self.run_again.visible = self.svc is not None


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return ""
