"""Events: the catalog of event types (counts, schema, samples, producers, consumers), the event
log with filters, and "send a test event"."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import panel as pn
import param

from studio.dashboard import queries
from studio.dashboard.layout import (
    heading, Pager, arg, as_json, empty, esc, every, execution_link, html_pane, lineage_link, link, service_link, table,
    url, when,
)
from studio.errors import StudioError
from studio.workspace import Workspace


def parse_time(text: str) -> datetime | None:
    """``2024-05-01`` or ``2024-05-01T12:00`` (UTC unless a zone is given); '' is no bound."""
    text = text.strip()
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def catalog_entries(ws: Workspace) -> list[dict[str, Any]]:
    try:
        from studio.events.catalog import event_types
    except ImportError:   # the events package predates the catalog reader: the raw rows
        from sqlalchemy import select

        from studio.catalog.models import EventType

        with ws.catalog.session() as s:
            return [{"type": r.type, "count": r.count, "first_seen": r.first_seen, "last_seen": r.last_seen,
                     "schema": r.schema, "samples": r.samples, "producers": r.producers, "consumers": []}
                    for r in s.scalars(select(EventType).order_by(EventType.type))]
    return event_types(ws)


class EventsPage(pn.viewable.Viewer):
    type = param.String(default="")
    correlation_id = param.String(default="")
    text = param.String(default="")
    since = param.String(default="", doc="ISO date or time, UTC")
    until = param.String(default="", doc="ISO date or time, UTC")

    def __init__(self, ws: Workspace, **params: Any) -> None:
        for name in ("type", "correlation_id", "text", "since", "until"):
            params.setdefault(name, arg(name))
        super().__init__(**params)
        self.ws = ws
        self.catalog_pane = html_pane()
        self.catalog_pager = Pager(page_size=queries.PAGE_SIZE)
        self.catalog_pager.param.watch(lambda _: self.refresh_catalog(), "offset")
        self.type_detail = html_pane()
        self.log_pane = html_pane()
        self.log_pager = Pager(page_size=queries.PAGE_SIZE)
        self.log_pager.param.watch(lambda _: self.refresh_log(), "offset")
        self.filters = pn.Row(
            pn.widgets.TextInput.from_param(self.param.type, name="Type", width=200, css_classes=["filter-type"]),
            pn.widgets.TextInput.from_param(self.param.correlation_id, name="Correlation id", width=180),
            pn.widgets.TextInput.from_param(self.param.text, name="Text in data", width=180,
                                            css_classes=["filter-text"]),
            pn.widgets.TextInput.from_param(self.param.since, name="Since (UTC)", placeholder="2024-05-01",
                                            width=150),
            pn.widgets.TextInput.from_param(self.param.until, name="Until (UTC)", width=150),
        )
        self.send_type = pn.widgets.TextInput(name="Event type", placeholder="sales.ingested", width=240,
                                              css_classes=["send-type"])
        self.send_data = pn.widgets.TextAreaInput(name="Data (JSON)", value="{}", height=100, width=400,
                                                  css_classes=["send-data"])
        self.send_button = pn.widgets.Button(name="Send test event", button_type="primary", width=160,
                                             css_classes=["send-event"])
        self.send_button.on_click(self.send)
        self.send_message = html_pane()
        self._last_seq = queries.last_event_seq(ws.catalog)
        self.refresh_catalog()
        self.refresh_log()
        every(self.tick)

    # Refreshing ------------------------------------------------------------------------

    def tick(self) -> None:
        """New events: refresh the first page of the log (and the catalog's counts)."""
        seq = queries.last_event_seq(self.ws.catalog)
        if seq != self._last_seq:
            self._last_seq = seq
            if self.log_pager.offset == 0:
                self.refresh_log()
            self.refresh_catalog()

    def refresh_catalog(self) -> None:
        entries = catalog_entries(self.ws)
        offset = self.catalog_pager.offset
        shown = entries[offset: offset + queries.PAGE_SIZE]
        self.catalog_pager.has_more = len(entries) > offset + queries.PAGE_SIZE
        self.catalog_pane.object = table(
            ["Type", "Count", "First seen", "Last seen", "Fields", "Producers", "Consumers"],
            [[link(url("/events", type=e["type"]), e["type"]), str(e["count"]), esc(when(e["first_seen"])),
              esc(when(e["last_seen"])), esc(", ".join(sorted((e["schema"] or {}).get("properties", {}))[:8])),
              ", ".join(service_link(p) for p in e["producers"]),
              ", ".join(service_link(c) for c in e["consumers"])] for e in shown],
            numeric=[1], css_class="event-catalog",
        ) if shown else empty("No events yet — send one below, <code>POST /api/events</code> a CloudEvent, or "
                              "run a service (every run starts with a trigger event).")
        if self.type:
            match = [e for e in entries if e["type"] == self.type]
            self.type_detail.object = self.type_html(match[0]) if match else ""

    def type_html(self, entry: dict[str, Any]) -> str:
        schema = {k: v for k, v in (entry["schema"] or {}).items() if not k.startswith("x-")}
        samples = (entry["samples"] or [])[:1]
        conflicts = entry.get("conflicts") or []
        warn = (f'<div style="color:#c62828">Conflicting types at: {esc(", ".join(conflicts))}</div>'
                if conflicts else "")
        return (f'<h3 class="type-detail">{esc(entry["type"])}</h3>{warn}'
                f'<div style="display:flex;gap:12px"><div style="flex:1"><b>Inferred schema</b>{as_json(schema)}</div>'
                f'<div style="flex:1"><b>Latest sample</b>{as_json(samples[0] if samples else None)}</div></div>'
                f'<div>Producers: {", ".join(service_link(p) for p in entry["producers"]) or "none known"} · '
                f'Consumers: {", ".join(service_link(c) for c in entry["consumers"]) or "none linked"}</div>')

    @param.depends("type", "correlation_id", "text", "since", "until", watch=True)
    def _filters_changed(self) -> None:
        if self.log_pager.offset:
            self.log_pager.offset = 0
        else:
            self.refresh_log()
        self.refresh_catalog()

    def refresh_log(self) -> None:
        try:
            since, until = parse_time(self.since), parse_time(self.until)
        except ValueError as exc:
            self.log_pane.object = empty(f"Bad time: {esc(exc)} — use 2024-05-01 or 2024-05-01T12:00.")
            return
        page = queries.search_events(self.ws.catalog, type=self.type.strip() or None,
                                     correlation_id=self.correlation_id.strip() or None,
                                     text=self.text.strip() or None, since=since, until=until,
                                     limit=queries.PAGE_SIZE, offset=self.log_pager.offset)
        self.log_pager.has_more = page.has_more
        started = queries.executions_started_by(self.ws.catalog, [e.seq for e in page.rows])
        rows = []
        for e in page.rows:
            runs_started = ", ".join(execution_link(x) for x in started.get(e.seq, []))
            producer = execution_link(e.execution_id) if e.execution_id else ""
            rows.append([str(e.seq), link(url("/events", type=e.type), e.type), esc(e.source),
                         esc(when(e.received_at)), lineage_link(e.correlation_id), producer, runs_started,
                         as_json(e.data, limit=500)])
        filtered = any((self.type, self.correlation_id, self.text, self.since, self.until))
        self.log_pane.object = table(
            ["#", "Type", "Source", "Received", "Correlation", "From execution", "Started", "Data"], rows,
            css_class="event-log",
        ) if rows else empty("No event matches these filters — clear them to see every event." if filtered else
                             "No events yet — send a test event below.")

    # Sending ---------------------------------------------------------------------------

    def send(self, _: Any = None) -> None:
        from studio.events.cloudevent import new_event
        from studio.events.ingest import accept

        event_type = self.send_type.value.strip()
        try:
            data = json.loads(self.send_data.value or "null")
        except json.JSONDecodeError as exc:
            self.send_message.object = f'<span style="color:#c62828">Data is not JSON: {esc(exc)}</span>'
            return
        if not event_type:
            self.send_message.object = '<span style="color:#c62828">Give the event a type.</span>'
            return
        try:
            from studio.events.links import check_event_type

            check_event_type(event_type)
            row, _ = accept(self.ws, new_event(event_type, data=data, source="studio/dashboard"))
        except StudioError as exc:
            self.send_message.object = f'<span style="color:#c62828">{esc(exc)}</span>'
            return
        self.send_message.object = (f'<span class="event-sent">Event #{row.seq} accepted '
                                    f'({lineage_link(row.correlation_id, "follow its lineage")}).</span>')
        self.tick()

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            heading('Event catalog', 3), self.catalog_pane, self.catalog_pager, self.type_detail,
            heading('Event log', 3), self.filters, self.log_pane, self.log_pager,
            heading('Send a test event', 3),
            pn.Row(pn.Column(self.send_type, self.send_button), self.send_data, self.send_message),
            sizing_mode="stretch_width",
        )
