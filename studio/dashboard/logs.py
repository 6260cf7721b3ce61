"""Logs: search by service, execution, level, text and time range; live tail of new lines."""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from studio.dashboard import queries
from studio.dashboard.events import parse_time
from studio.dashboard.layout import Pager, arg, empty, esc, every, execution_link, html_pane, table, when
from studio.workspace import Workspace

LEVELS = ["", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
TAIL_KEPT = 500   # lines the live tail keeps on screen


def level_html(level: str) -> str:
    colors = {"WARNING": "#ef6c00", "ERROR": "#c62828", "CRITICAL": "#c62828", "DEBUG": "#9e9e9e"}
    return f'<span style="color:{colors.get(level, "#333")}">{esc(level)}</span>'


class LogsPage(pn.viewable.Viewer):
    service = param.String(default="")
    execution = param.String(default="")
    level = param.Selector(default="", objects=LEVELS)
    text = param.String(default="")
    since = param.String(default="")
    until = param.String(default="")
    live = param.Boolean(default=True, doc="tail: show new lines as they are logged")

    def __init__(self, ws: Workspace, **params: Any) -> None:
        for name in ("service", "execution", "text", "since", "until"):
            params.setdefault(name, arg(name))
        level = arg("level").upper()
        params.setdefault("level", level if level in LEVELS else "")
        super().__init__(**params)
        self.ws = ws
        self.widgets = pn.Row(
            pn.widgets.TextInput.from_param(self.param.service, name="Service", width=180,
                                            css_classes=["filter-service"]),
            pn.widgets.TextInput.from_param(self.param.execution, name="Execution", width=180),
            pn.widgets.Select.from_param(self.param.level, name="Level", width=110),
            pn.widgets.TextInput.from_param(self.param.text, name="Text", width=180, css_classes=["filter-text"]),
            pn.widgets.TextInput.from_param(self.param.since, name="Since (UTC)", placeholder="2024-05-01", width=140),
            pn.widgets.TextInput.from_param(self.param.until, name="Until (UTC)", width=140),
            pn.widgets.Checkbox.from_param(self.param.live, name="Live tail", margin=(30, 10)),
        )
        self.pager = Pager(page_size=queries.PAGE_SIZE)
        self.pager.param.watch(lambda _: self.refresh(), "offset")
        self.body = html_pane()
        self.tail_note = html_pane()
        self._rows: list[Any] = []
        self._last_id = 0
        self.refresh()
        every(self.tail)

    def _filters(self) -> dict[str, Any]:
        return {"execution_id": self.execution.strip() or None, "service": self.service.strip() or None,
                "level": self.level or None, "text": self.text.strip() or None}

    @param.depends("service", "execution", "level", "text", "since", "until", watch=True)
    def _filters_changed(self) -> None:
        if self.pager.offset:
            self.pager.offset = 0
        else:
            self.refresh()

    def refresh(self) -> None:
        try:
            since, until = parse_time(self.since), parse_time(self.until)
        except ValueError as exc:
            self.body.object = empty(f"Bad time: {esc(exc)} — use 2024-05-01 or 2024-05-01T12:00.")
            return
        page = queries.search_logs(self.ws.catalog, since=since, until=until, limit=queries.PAGE_SIZE,
                                   offset=self.pager.offset, **self._filters())
        self.pager.has_more = page.has_more
        self._rows = list(page.rows)
        self._last_id = max([r.id for r in page.rows], default=0) if self.pager.offset else max(
            [r.id for r in page.rows], default=queries.last_log_id(self.ws.catalog))
        self.render()

    def tail(self) -> None:
        """New lines matching the filters go on top of the first page (no time bounds while tailing)."""
        if not self.live or self.pager.offset or self.until:
            return
        new = queries.logs_after(self.ws.catalog, self._last_id, limit=200, **self._filters())
        if not new:
            return
        self._last_id = new[-1].id
        self._rows = (list(reversed(new)) + self._rows)[:TAIL_KEPT]
        self.render()

    def render(self) -> None:
        filtered = any((self.service, self.execution, self.level, self.text, self.since, self.until))
        self.body.object = table(
            ["Time", "Level", "Service", "Execution", "Step", "Message"],
            [[esc(when(r.time)), level_html(r.level), esc(r.service), execution_link(r.execution_id),
              esc(r.step or ""), f'<span style="white-space:pre-wrap">{esc(r.message)}</span>'] for r in self._rows],
            css_class="log-records",
        ) if self._rows else empty(
            "No log line matches these filters — clear them, or widen the time range." if filtered else
            "No logs yet — a run logs with <code>context.log.info(...)</code>; its print output is kept too.")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.widgets, self.body, self.pager, sizing_mode="stretch_width")
