"""One execution: parameters, trigger event, steps, the rendered notebook (sandboxed), live logs,
emitted events, re-run and cancel. Without ``?id=`` the page lists executions.

The rendered notebook is the analyst's HTML and may hold script. It is never put into the
studio's page: an ``<iframe sandbox="allow-scripts">`` loads it from the API route, which
adds a CSP sandbox header too, so it runs in an opaque origin that cannot reach this page.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from studio import runs
from studio.dashboard import queries
from studio.dashboard.layout import (
    heading, Pager, arg, as_json, badge, duration, empty, esc, every, execution_link, html_pane, lineage_link, link,
    service_link, table, url, when,
)
from studio.errors import NotFound, StudioError
from studio.workspace import Workspace

LOG_LINES_SHOWN = 2000   # the page keeps the newest lines; /logs?execution= searches them all
FINAL = runs.FINAL


def notebook_iframe(execution_id: str, step: str | None = None) -> str:
    src = url(f"/api/executions/{execution_id}/notebook.html", step=step)
    # No allow-same-origin: the notebook's scripts run, but in an opaque origin.
    return (f'<iframe class="notebook" sandbox="allow-scripts" referrerpolicy="no-referrer" src="{esc(src)}" '
            f'style="width:100%;height:720px;border:1px solid #ddd;border-radius:4px;background:white"></iframe>')


def log_lines(records: list[Any]) -> list[str]:
    return [f'<span class="{esc(r.level)}">{esc(when(r.time))} {esc(r.level):<7} '
            f'{esc(r.step or "")} {esc(r.message)}</span>' for r in records]


class ExecutionPage(pn.viewable.Viewer):
    execution_id = param.String(default="")

    def __init__(self, ws: Workspace, **params: Any) -> None:
        params.setdefault("execution_id", arg("id"))
        super().__init__(**params)
        self.ws = ws
        if not self.execution_id:
            self.view: pn.viewable.Viewable = ExecutionList(ws)
            return
        try:
            execution = runs.get(ws.catalog, self.execution_id)
        except NotFound:
            self.view = html_pane(empty(f"No execution {esc(self.execution_id)} — see the "
                                        f"<a href=\"/execution\">list of executions</a>."))
            return
        self.view = ExecutionDetail(ws, execution.id)

    def __panel__(self) -> pn.viewable.Viewable:
        return self.view


class ExecutionList(pn.viewable.Viewer):
    status = param.Selector(default="", objects=["", "pending", "running", "completed", "failed", "cancelled",
                                                 "lost"])

    def __init__(self, ws: Workspace, **params: Any) -> None:
        params.setdefault("status", arg("status") if arg("status") in self.param.status.objects else "")
        super().__init__(**params)
        self.ws = ws
        self.select = pn.widgets.Select.from_param(self.param.status, name="Status", width=160)
        self.pager = Pager(page_size=queries.PAGE_SIZE)
        self.body = html_pane()
        self.pager.param.watch(lambda _: self.refresh(), "offset")
        self.refresh()
        every(self.refresh)

    @param.depends("status", watch=True)
    def _status_changed(self) -> None:
        self.pager.offset = 0
        self.refresh()

    def refresh(self) -> None:
        page = queries.recent_executions(self.ws.catalog, limit=queries.PAGE_SIZE, offset=self.pager.offset,
                                         status=self.status or None)
        self.pager.has_more = page.has_more
        self.body.object = table(
            ["Execution", "Service", "Status", "Trigger", "Created", "Duration"],
            [[execution_link(r["id"]), service_link(r["service"]), badge(r["status"]), esc(r["trigger"]),
              esc(when(r["created_at"])), duration(r["duration"])] for r in page.rows],
            numeric=[5], css_class="executions",
        ) if page.rows else empty("No executions yet — run one with <code>studio run &lt;service&gt;</code> or "
                                  "press <b>Run</b> on the <a href=\"/services\">Services</a> page.")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.select, self.body, self.pager, sizing_mode="stretch_width")


class ExecutionDetail(pn.viewable.Viewer):
    def __init__(self, ws: Workspace, execution_id: str, **params: Any) -> None:
        super().__init__(**params)
        self.ws = ws
        self.execution_id = execution_id
        self.header = html_pane()
        self.params_pane = html_pane()
        self.trigger_pane = html_pane()
        self.steps = html_pane()
        self.notebooks = pn.Column(sizing_mode="stretch_width")
        self.logs = html_pane(css_classes=["execution-logs"])
        self.events = html_pane()
        self.message = html_pane()
        self.rerun = pn.widgets.Button(name="Re-run (same parameters)", css_classes=["rerun"], width=200)
        self.cancel = pn.widgets.Button(name="Cancel", button_type="danger", css_classes=["cancel"], width=100)
        self.rerun.on_click(self.do_rerun)
        self.cancel.on_click(self.do_cancel)
        self._lines: list[str] = []
        self._last_log = 0
        self._notebook_steps: list[str] = []
        self._final = False
        self._callback: Any = None
        self.refresh()
        if not self._final:
            every(self.poll)

    def poll(self) -> None:
        if self._final:
            return
        self.refresh()

    # Refreshing ------------------------------------------------------------------------

    def refresh(self) -> None:
        catalog = self.ws.catalog
        execution = runs.get(catalog, self.execution_id)
        final = execution.status in FINAL
        self.header.object = self.header_html(execution)
        self.cancel.disabled = final
        steps = queries.execution_steps(catalog, execution.id)
        self.steps.object = table(
            ["Step", "Status", "Started", "Duration", "Error"],
            [[esc(s["name"]), badge(s["status"]), esc(when(s["started_at"])), duration(s["duration"]),
              esc(s["error"] or "")] for s in steps], numeric=[3], css_class="steps")
        with_notebook = [s["name"] for s in steps if s["has_notebook"]]
        if with_notebook != self._notebook_steps:
            self._notebook_steps = with_notebook
            frames = [html_pane(notebook_iframe(execution.id, name if len(with_notebook) > 1 else None),
                                name=name) for name in with_notebook]
            self.notebooks.objects = ([pn.Tabs(*frames, sizing_mode="stretch_width")] if len(frames) > 1
                                      else frames)
        if not self._notebook_steps:
            self.notebooks.objects = [html_pane(empty(
                "No rendered notebook yet — it appears here when a notebook step finishes." if not final
                else "This execution has no rendered notebook (no notebook step ran)."))]
        self.refresh_logs(final)
        if not self.params_pane.object:
            self.params_pane.object = as_json(execution.params or {})
            self.trigger_pane.object = self.trigger_html(execution)
        self.events.object = self.events_html(execution.id)
        if final:
            self._final = True   # the poll stops refreshing

    def refresh_logs(self, final: bool) -> None:
        new = queries.logs_after(self.ws.catalog, self._last_log, execution_id=self.execution_id, limit=1000)
        if new:
            self._last_log = new[-1].id
            self._lines = (self._lines + log_lines(new))[-LOG_LINES_SHOWN:]
        if self._lines:
            more = link(url("/logs", execution=self.execution_id), "search these logs")
            self.logs.object = f'<pre class="logs">{"<br/>".join(self._lines)}</pre><div class="muted">{more}</div>'
        elif not self.logs.object or new:
            self.logs.object = empty("No log lines yet." if not final else
                                     "This execution logged nothing (use <code>context.log.info(...)</code>).")

    def header_html(self, x: Any) -> str:
        took = duration((x.finished_at - x.started_at).total_seconds()) if x.finished_at and x.started_at else ""
        rows = [
            ("Service", service_link(f"{x.project}/{x.service}")),
            ("Status", badge(x.status) + (f' <span style="color:#c62828">{esc(x.error)}</span>' if x.error else "")),
            ("Trigger", esc(x.trigger)), ("Created", esc(when(x.created_at))),
            ("Started", esc(when(x.started_at))), ("Finished", esc(when(x.finished_at))), ("Duration", took),
            ("Correlation", lineage_link(x.correlation_id)), ("Attempt", str(x.attempt)),
        ]
        if x.retry_of:
            rows.append(("Retry of", execution_link(x.retry_of)))
        cells = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
        return (f'<h2 style="margin:0">Execution <code class="execution-id">{esc(x.id)}</code></h2>'
                f'<table class="studio execution-header" style="width:auto">{cells}</table>')

    def trigger_html(self, x: Any) -> str:
        event = queries.event_row(self.ws.catalog, x.trigger_event_id)
        if event is None:
            return empty("No trigger event recorded.")
        return (f'<div>{link(url("/events", type=event.type), event.type)} from {esc(event.source)}, '
                f'received {esc(when(event.received_at))} (#{event.seq})</div>' + as_json(event.data))

    def events_html(self, execution_id: str) -> str:
        emitted = runs.emitted_events(self.ws.catalog, execution_id)
        if not emitted:
            return empty("This execution emitted no events (<code>context.events.send(type, data)</code> does).")
        return table(["#", "Type", "Received", "Data"],
                     [[str(e.seq), link(url("/events", type=e.type), e.type), esc(when(e.received_at)),
                       as_json(e.data, limit=600)] for e in emitted[:200]], css_class="emitted-events")

    # Actions ---------------------------------------------------------------------------

    def do_rerun(self, _: Any = None) -> None:
        execution = runs.get(self.ws.catalog, self.execution_id)
        try:
            svc = self.ws.service(f"{execution.project}/{execution.service}", refresh=False)
            new = runs.start(self.ws, svc, dict(execution.params or {}), correlation_id=None)
        except StudioError as exc:
            self.message.object = f'<span style="color:#c62828">{esc(exc)}</span>'
            return
        self.message.object = f'<span class="run-started">Re-run queued: {execution_link(new.id, new.id)}</span>'

    def do_cancel(self, _: Any = None) -> None:
        try:
            runs.cancel(self.ws.catalog, self.execution_id)
            self.message.object = "Cancel requested."
        except StudioError as exc:
            self.message.object = f'<span style="color:#c62828">{esc(exc)}</span>'
        self.refresh()

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self.header,
            pn.Row(self.rerun, self.cancel, self.message),
            pn.Row(pn.Column(heading('Parameters', 4), self.params_pane, sizing_mode="stretch_width"),
                   pn.Column(heading('Trigger event', 4), self.trigger_pane, sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            heading('Steps', 4), self.steps,
            pn.Tabs(("Notebook", self.notebooks), ("Logs", self.logs), ("Emitted events", self.events),
                    dynamic=False, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )
