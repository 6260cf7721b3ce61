"""Lineage: the chain of events and executions one correlation id spans, as a graph.

Layout without a graph library: x is the time order of the nodes, y a lane per event type or
service (in order of first appearance). Tapping a node opens its page; the table beside the
graph links each node too.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool, OpenURL, TapTool
from bokeh.plotting import figure

from studio.dashboard import queries
from studio.dashboard.layout import (
    STATUS_COLORS, arg, badge, empty, esc, every, execution_link, html_pane, lineage_link, link, table, url, when,
)
from studio.errors import NotFound
from studio.workspace import Workspace

EVENT_COLOR = "#6a1b9a"


MAX_NODES = 400   # a chain longer than this is drawn up to here (the table says so)


def chain(ws: Workspace, correlation_id: str) -> list[dict[str, Any]]:
    """The chain's nodes, at most ``MAX_NODES`` of each kind, so a runaway chain stays drawable."""
    from studio.events.lineage import lineage

    return lineage(ws, correlation_id, limit=MAX_NODES)


def node_key(node: dict[str, Any]) -> str:
    return f"event:{node['seq']}" if node["kind"] == "event" else f"execution:{node['id']}"


def node_url(node: dict[str, Any]) -> str:
    if node["kind"] == "event":
        return url("/events", correlation_id=node["correlation_id"], type=node["type"])
    return url("/execution", id=node["id"])


def graph(nodes: list[dict[str, Any]]) -> Any:
    lanes: dict[str, int] = {}
    xs, ys, labels, colors, urls, kinds, details = [], [], [], [], [], [], []
    position: dict[str, tuple[int, int]] = {}
    for i, node in enumerate(nodes):
        lane_name = node["type"] if node["kind"] == "event" else node["service"]
        lane = lanes.setdefault(lane_name, len(lanes))
        position[node_key(node)] = (i, lane)
        xs.append(i)
        ys.append(lane)
        labels.append(lane_name)
        kinds.append(node["kind"])
        colors.append(EVENT_COLOR if node["kind"] == "event" else STATUS_COLORS.get(node["status"], "#616161"))
        urls.append(node_url(node))
        details.append(f"#{node['seq']} {when(node['time'])}" if node["kind"] == "event"
                       else f"{node['status']} {when(node['time'])}")
    edge_x, edge_y = [], []
    for node in nodes:
        parent = node.get("parent")
        if not parent:
            continue
        key = f"event:{parent.get('seq')}" if parent["kind"] == "event" else f"execution:{parent.get('id')}"
        if key in position:
            (x0, y0), (x1, y1) = position[key], position[node_key(node)]
            edge_x.append([x0, x1])
            edge_y.append([y0, y1])
    height = max(220, 70 * len(lanes) + 80)
    fig = figure(height=height, sizing_mode="stretch_width", tools="tap,pan,wheel_zoom,reset",
                 title="Events (purple) and executions (by status), in time order — click a node to open it",
                 x_range=(-0.7, max(len(nodes), 2) - 0.3), y_range=(len(lanes) - 0.4, -0.6))
    fig.multi_line(edge_x, edge_y, line_color="#90a4ae", line_width=2)
    source = ColumnDataSource({"x": xs, "y": ys, "label": labels, "color": colors, "url": urls, "kind": kinds,
                               "detail": details})
    squares = fig.scatter("x", "y", source=source, size=22, color="color", line_color="white",
                          marker="circle", legend_field="kind")
    fig.text("x", "y", text="label", source=source, x_offset=14, y_offset=-10, text_font_size="11px")
    fig.legend.location = "top_right"
    fig.add_tools(HoverTool(renderers=[squares], tooltips=[("", "@kind @label"), ("", "@detail")]))
    tap = fig.select_one(TapTool)
    tap.callback = OpenURL(url="@url", same_tab=True)
    fig.yaxis.visible = False
    fig.xaxis.axis_label = "time order"
    fig.grid.visible = False
    return fig


class LineagePage(pn.viewable.Viewer):
    correlation_id = param.String(default="")

    def __init__(self, ws: Workspace, **params: Any) -> None:
        cid = arg("correlation_id")
        execution = arg("execution")
        if not cid and execution:
            cid = queries.execution_correlation(ws.catalog, execution) or ""
        params.setdefault("correlation_id", cid)
        super().__init__(**params)
        self.ws = ws
        self.input = pn.widgets.TextInput.from_param(self.param.correlation_id, name="Correlation id", width=260,
                                                     css_classes=["correlation-input"])
        self.plot = pn.pane.Bokeh(sizing_mode="stretch_width")
        self.nodes_pane = html_pane()
        self.recent = html_pane()
        self._size: tuple[int, int] = (-1, -1)
        self.refresh()
        every(self.tick, period=3000)

    @param.depends("correlation_id", watch=True)
    def refresh(self) -> None:
        cid = self.correlation_id.strip()
        if not cid:
            self.plot.visible = False
            chains: dict[str, Any] = {}
            self.nodes_pane.object = empty("Enter a correlation id, or open the lineage of a recent execution.")
            rows = queries.recent_executions(self.ws.catalog, limit=15).rows
            for r in rows:
                chains.setdefault(r["correlation_id"], r)
            self.recent.object = table(
                ["Correlation", "Started with", "At"],
                [[lineage_link(c), esc(r["service"]), esc(when(r["created_at"]))]
                 for c, r in chains.items() if c],
                css_class="recent-chains") if chains else ""
            return
        self.recent.object = ""
        try:
            nodes = chain(self.ws, cid)
        except NotFound:
            self.plot.visible = False
            self.nodes_pane.object = empty(f"Nothing carries correlation id <code>{esc(cid)}</code> — copy one "
                                           f"from an execution or the <a href=\"/events\">event log</a>.")
            return
        self._size = queries.chain_size(self.ws.catalog, cid)
        self.plot.object = graph(nodes)
        self.plot.visible = True
        rows = []
        for node in nodes:
            if node["kind"] == "event":
                rows.append([esc(when(node["time"])), "event", link(node_url(node), f"#{node['seq']} {node['type']}"),
                             esc(node["source"]), "routed" if node.get("routed") else "not routed yet"])
            else:
                rows.append([esc(when(node["time"])), "execution",
                             execution_link(node["id"], f"{node['service']} {node['id'][:8]}"),
                             esc(node["trigger"]), badge(node["status"])])
        self.nodes_pane.object = table(["Time", "Kind", "Node", "Source / trigger", "State"], rows,
                                       css_class="lineage-nodes")

    def tick(self) -> None:
        """A chain grows while its executions run: redraw when it has new nodes (or changed state)."""
        cid = self.correlation_id.strip()
        if not cid:
            return
        size = queries.chain_size(self.ws.catalog, cid)
        if size != self._size:
            self.refresh()

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.input, self.plot, self.nodes_pane, self.recent, sizing_mode="stretch_width")
