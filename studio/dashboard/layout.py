"""What every dashboard page shares: the template with its navigation, tables, badges, pagers.

Tables are plain HTML built here with every value escaped (``esc``): they are light to send,
links in them are ordinary links, and nothing a service, an event or a log line carries can
become markup in the studio's page.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import quote, urlencode

import panel as pn
import param

TITLE = "Studio"
REFRESH_MS = 2000   # live parts (running executions, new events, new log lines) poll this often
NAV = [("Overview", "/"), ("Services", "/services"), ("Executions", "/execution"), ("Events", "/events"), ("Lineage", "/lineage"),
       ("Logs", "/logs")]
STATUS_COLORS = {
    "completed": "#2e7d32", "failed": "#c62828", "running": "#1565c0", "pending": "#6d6d6d",
    "cancelled": "#8d6e63", "lost": "#ad1457", "skipped": "#9e9e9e",
}
CSS = """
table.studio { border-collapse: collapse; width: 100%; font-size: 13px; }
table.studio th { text-align: left; border-bottom: 2px solid #ddd; padding: 4px 8px; color: #444; }
table.studio td { border-bottom: 1px solid #eee; padding: 4px 8px; vertical-align: top; }
table.studio tr:hover td { background: #f7f9fc; }
table.studio td.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: white; font-size: 12px; }
.empty { color: #555; background: #f6f6f6; border: 1px dashed #ccc; padding: 10px 14px; border-radius: 6px; }
.muted { color: #777; }
pre.json { background: #f6f8fa; padding: 8px; border-radius: 4px; max-height: 320px; overflow: auto;
           font-size: 12px; margin: 0; white-space: pre-wrap; }
pre.logs { background: #1e1e1e; color: #ddd; padding: 8px; border-radius: 4px; max-height: 480px;
           overflow: auto; font-size: 12px; margin: 0; white-space: pre-wrap; }
pre.logs .WARNING { color: #ffb74d; } pre.logs .ERROR, pre.logs .CRITICAL { color: #ef5350; }
pre.logs .DEBUG { color: #9e9e9e; }
a { color: #1565c0; }
h3 { margin: 6px 0; }
.kpi { display: inline-block; margin-right: 18px; }
.kpi b { font-size: 18px; }
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def link(href: str, text: Any) -> str:
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def url(path: str, **query: Any) -> str:
    args = {k: v for k, v in query.items() if v not in (None, "")}
    return f"{path}?{urlencode(args)}" if args else path


def execution_link(execution_id: str, text: str | None = None) -> str:
    return link(url("/execution", id=execution_id), text or execution_id[:8])


def service_link(key: str) -> str:
    return link(url("/services", service=key), key)


def lineage_link(correlation_id: str | None, text: str | None = None) -> str:
    if not correlation_id:
        return ""
    return link(url("/lineage", correlation_id=correlation_id), text or correlation_id)


def when(value: datetime | str | None) -> str:
    """A timestamp as operators read it: UTC, to the second."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def badge(status: str | None) -> str:
    status = status or "none"
    color = STATUS_COLORS.get(status, "#616161")
    return f'<span class="badge status-{esc(status)}" style="background:{color}">{esc(status)}</span>'


def as_json(value: Any, limit: int = 4000) -> str:
    text = json.dumps(value, indent=2, default=str, ensure_ascii=False)
    if len(text) > limit:
        text = text[:limit] + "\n..."
    return f'<pre class="json">{esc(text)}</pre>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Sequence[int] = (),
          css_class: str = "") -> str:
    """An HTML table; cells are HTML already (build them with ``esc``/``link``/``badge``)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f'<table class="studio {esc(css_class)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def empty(text: str) -> str:
    """An empty state: says what there is not, and what to do next (may hold markup)."""
    return f'<div class="empty">{text}</div>'


def html_pane(text: str = "", **kwargs: Any) -> pn.pane.HTML:
    kwargs.setdefault("sizing_mode", "stretch_width")
    return pn.pane.HTML(text, stylesheets=[CSS], **kwargs)


def heading(text: str, level: int = 3) -> pn.pane.HTML:
    """A section title (HTML, not a Markdown pane: it is on every page and much lighter)."""
    return pn.pane.HTML(f'<h{level} style="margin:4px 0">{esc(text)}</h{level}>', margin=(10, 10, 0, 10))


def arg(name: str, default: str = "") -> str:
    """A query-string argument of the page being built (``?name=value``)."""
    values = (pn.state.session_args or {}).get(name) or []
    if not values:
        return default
    value = values[0]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def in_session() -> bool:
    return pn.state.curdoc is not None and pn.state.curdoc.session_context is not None


def every(callback: Callable[[], Any], period: int = REFRESH_MS) -> None:
    """Run ``callback`` periodically once the browser is connected (never for a page fetched
    and dropped, e.g. by a crawler), until the session ends. No-op outside a server session."""
    if not in_session():
        return

    def start() -> None:
        pn.state.add_periodic_callback(callback, period=period)

    pn.state.onload(start)


def later(callback: Callable[[], Any]) -> None:
    """Run ``callback`` right after the page reached the browser (heavy parts), else now."""
    if in_session():
        pn.state.onload(callback)
    else:
        callback()


class Pager(pn.viewable.Viewer):
    """Previous / next buttons over a list paged with LIMIT/OFFSET (no COUNT over big tables)."""

    offset = param.Integer(default=0, bounds=(0, None))
    has_more = param.Boolean(default=False)
    page_size = param.Integer(default=50)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._prev = pn.widgets.Button(name="‹ Newer", width=90, css_classes=["pager-prev"])
        self._next = pn.widgets.Button(name="Older ›", width=90, css_classes=["pager-next"])
        self._label = pn.pane.HTML("", styles={"color": "#666"}, margin=(8, 10))
        self._row = pn.Row(self._prev, self._label, self._next, css_classes=["pager"])
        self._prev.on_click(lambda _: self.param.update(offset=max(0, self.offset - self.page_size)))
        self._next.on_click(lambda _: self.param.update(offset=self.offset + self.page_size))
        self._sync()

    @param.depends("offset", "has_more", watch=True)
    def _sync(self) -> None:
        self._prev.disabled = self.offset == 0
        self._next.disabled = not self.has_more
        self._label.object = f"rows {self.offset + 1}–{self.offset + self.page_size}"
        self._row.visible = bool(self.offset or self.has_more)   # one page: no pager at all

    def __panel__(self) -> pn.viewable.Viewable:
        return self._row


def shell(title: str, main: Any, active: str = "") -> pn.template.BaseTemplate:
    """The one template all pages share: header, navigation and the page's content."""
    nav = "".join(
        f'<a class="nav{" active" if path == active else ""}" href="{path}">{esc(name)}</a>' for name, path in NAV)
    nav_css = """
    a.nav { display:block; padding:8px 12px; margin:2px 0; border-radius:6px; text-decoration:none;
            color:#263238; font-size:15px; }
    a.nav:hover { background:#e3eaf5; } a.nav.active { background:#1565c0; color:white; }
    """
    sidebar = [pn.pane.HTML(f'<nav class="studio-nav">{nav}</nav>', stylesheets=[nav_css],
                            sizing_mode="stretch_width"),
               pn.pane.HTML('<div class="muted" style="font-size:12px">REST API: <a href="/api/docs">/api/docs</a>'
                            '</div>', stylesheets=[CSS])]
    template = pn.template.BootstrapTemplate(
        title=f"{TITLE} · {title}", sidebar=sidebar, main=[main], sidebar_width=200,
        header_background="#1f3a5f", favicon="/static/extensions/panel/images/favicon.ico",
    )
    return template


def quote_path(value: str) -> str:
    return quote(value, safe="")
