"""Bokeh charts of the overview: stacked bars per day, a line of mean durations.

Built with Bokeh directly (no HoloViews layer): the figures are small and the page is
delivered faster without the extra machinery.
"""

from __future__ import annotations

from typing import Any

from bokeh.models import ColumnDataSource, HoverTool
from bokeh.plotting import figure

from studio.dashboard.layout import STATUS_COLORS

TRIGGER_COLORS = {"event": "#6a1b9a", "scheduled": "#00838f", "manual": "#ef6c00", "retry": "#9e9d24"}


def stacked_bars(title: str, days: list[str], series: dict[str, dict[str, int]], order: list[str],
                 colors: dict[str, str]) -> Any:
    """Stacked bars: one bar per day, one stack segment per key of ``series``."""
    keys = [k for k in order if k in series] + sorted(k for k in series if k not in order)
    data: dict[str, list[Any]] = {"day": [d[5:] for d in days]}
    for key in keys:
        data[key] = [series.get(key, {}).get(d, 0) for d in days]
    source = ColumnDataSource(data)
    fig = figure(x_range=data["day"], height=240, title=title, toolbar_location=None, tools="",
                 sizing_mode="stretch_width")
    fig.vbar_stack(keys, x="day", width=0.7, source=source, legend_label=keys,
                   color=[colors.get(k, "#9e9e9e") for k in keys])
    fig.add_tools(HoverTool(tooltips=[("day", "@day")] + [(k, f"@{{{k}}}") for k in keys]))
    fig.y_range.start = 0
    fig.xgrid.grid_line_color = None
    fig.legend.location = "top_left"
    fig.legend.orientation = "horizontal"
    fig.legend.label_text_font_size = "10px"
    return fig


def mean_duration(days: list[str], seconds: dict[str, float | None]) -> Any:
    labels = [d[5:] for d in days]
    values = [seconds.get(d) for d in days]
    source = ColumnDataSource({"day": labels, "seconds": [v if v is not None else float("nan") for v in values]})
    fig = figure(x_range=labels, height=240, title="Mean execution time per day (s)", toolbar_location=None,
                 tools="", sizing_mode="stretch_width")
    fig.line("day", "seconds", source=source, line_width=2, color="#1565c0")
    fig.scatter("day", "seconds", source=source, size=7, color="#1565c0")
    fig.add_tools(HoverTool(tooltips=[("day", "@day"), ("mean", "@seconds{0.0} s")]))
    fig.y_range.start = 0
    fig.xgrid.grid_line_color = None
    return fig


def status_bars(days: list[str], by_status: dict[str, dict[str, int]]) -> Any:
    return stacked_bars("Executions per day by status", days, by_status,
                        ["completed", "failed", "running", "pending", "cancelled", "lost"], STATUS_COLORS)


def trigger_bars(days: list[str], by_trigger: dict[str, dict[str, int]]) -> Any:
    return stacked_bars("Executions per day by trigger", days, by_trigger,
                        ["event", "scheduled", "manual", "retry"], TRIGGER_COLORS)
