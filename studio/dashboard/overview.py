"""The landing page: what ran lately, what failed, activity of the last seven days."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import panel as pn
import param

from studio.dashboard import charts, queries
from studio.dashboard.layout import (
    heading, badge, duration, empty, esc, every, later, execution_link, html_pane, service_link, table, when,
)
from studio.workspace import Workspace

AGGREGATES_TTL = 10.0   # seconds the 7-day aggregates are shared between sessions
_cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
_cache_lock = threading.Lock()

NO_EXECUTIONS = ("No executions yet — run one with <code>studio run &lt;service&gt;</code> or press "
                 "<b>Run</b> on the <a href=\"/services\">Services</a> page.")


def shared(key: tuple[Any, ...], ttl: float, compute: Callable[[], Any]) -> Any:
    """A value shared by every session for ``ttl`` seconds (aggregates are the same for all)."""
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit and now - hit[0] < ttl:
            return hit[1]
    value = compute()
    with _cache_lock:
        _cache[key] = (now, value)
    return value


class Overview(pn.viewable.Viewer):
    """Recent and failed executions refresh live; the charts every ``AGGREGATES_TTL`` seconds."""

    days = param.Integer(default=queries.DAYS, bounds=(1, 60))

    def __init__(self, ws: Workspace, **params: Any) -> None:
        super().__init__(**params)
        self.ws = ws
        self.kpis = html_pane()
        self.recent = html_pane()
        self.failed = html_pane()
        self.updated = html_pane()
        self.busiest = html_pane()
        self.status_chart = pn.pane.Bokeh(sizing_mode="stretch_width")
        self.trigger_chart = pn.pane.Bokeh(sizing_mode="stretch_width")
        self.duration_chart = pn.pane.Bokeh(sizing_mode="stretch_width")
        self._chart_at = 0.0
        self.refresh_lists()
        # Three Bokeh figures are most of this page's weight: they follow right after the page
        # arrives, so the lists show at once.
        later(self.refresh_charts)
        every(self.tick)

    def tick(self) -> None:
        self.refresh_lists()
        if time.monotonic() - self._chart_at >= AGGREGATES_TTL:
            self.refresh_charts()

    def refresh_lists(self) -> None:
        catalog = self.ws.catalog
        recent = queries.recent_executions(catalog, limit=18).rows
        self.recent.object = table(
            ["Execution", "Service", "Status", "Duration", "Finished at"],
            [[execution_link(r["id"]), service_link(r["service"]), badge(r["status"]), duration(r["duration"]),
              esc(when(r["finished_at"]))] for r in recent], numeric=[3], css_class="recent-executions",
        ) if recent else empty(NO_EXECUTIONS)
        failed = queries.recent_failures(catalog, limit=18)
        self.failed.object = table(
            ["Execution", "Service", "Status", "Triggered at"],
            [[execution_link(r["id"]), service_link(r["service"]), badge(r["status"]), esc(when(r["created_at"]))]
             for r in failed], css_class="failed-executions",
        ) if failed else empty("No failed executions. Failures show here with a link to their logs.")

    def refresh_charts(self) -> None:
        catalog = self.ws.catalog
        key = (id(catalog), self.days)
        act: queries.Activity = shared(("activity",) + key, AGGREGATES_TTL,
                                       lambda: queries.activity(catalog, self.days))
        busiest = shared(("busiest",) + key, AGGREGATES_TTL, lambda: queries.busiest_services(catalog, self.days))
        updated = shared(("updated", id(catalog)), AGGREGATES_TTL,
                         lambda: queries.recently_updated_services(catalog))
        self._chart_at = time.monotonic()
        status_totals = " ".join(f'<span class="kpi">{badge(s)} <b>{act.status_totals.get(s, 0)}</b></span>'
                                 for s in queries.STATUSES + ("cancelled", "lost") if s in act.status_totals)
        trigger_totals = " ".join(f'<span class="kpi">{esc(k)} <b>{act.trigger_totals.get(k, 0)}</b></span>'
                                  for k in queries.TRIGGER_KINDS)
        self.kpis.object = (f'<div class="totals">Last {self.days} days: <b class="total">{act.total}</b> '
                            f'executions &nbsp; {status_totals}<br/>By trigger: {trigger_totals}</div>')
        self.status_chart.object = charts.status_bars(act.days, act.by_status)
        self.trigger_chart.object = charts.trigger_bars(act.days, act.by_trigger)
        self.duration_chart.object = charts.mean_duration(act.days, act.avg_seconds)
        self.updated.object = table(
            ["Service", "Project", "Updated at"],
            [[service_link(r["service"]), esc(r["project"]), esc(when(r["updated_at"]))] for r in updated],
            css_class="updated-services",
        ) if updated else empty("No services yet — add a project with <code>studio project add NAME PATH</code>.")
        self.busiest.object = table(
            ["Service", f"Executions ({self.days} days)"],
            [[service_link(r["service"]), str(r["count"])] for r in busiest], numeric=[1],
            css_class="busiest-services",
        ) if busiest else empty(f"Nothing ran in the last {self.days} days.")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self.kpis,
            pn.Row(self.status_chart, self.trigger_chart, self.duration_chart, sizing_mode="stretch_width"),
            pn.Row(
                pn.Column(heading('Latest executions', 3), self.recent, sizing_mode="stretch_width"),
                pn.Column(heading('Latest failures', 3), self.failed, sizing_mode="stretch_width"),
                sizing_mode="stretch_width",
            ),
            pn.Row(
                pn.Column(heading('Recently updated services', 3), self.updated, sizing_mode="stretch_width"),
                pn.Column(heading(f'Most executed (last {self.days} days)', 3), self.busiest, sizing_mode="stretch_width"),
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
        )
