"""Services: the searchable list, and one service's detail (README, manifest, steps, triggers,
schedule, active switch, its executions, Run and a link to its form)."""

from __future__ import annotations

from typing import Any

import panel as pn
import param
from markdown_it import MarkdownIt

from studio import runs
from studio.api.models import service_summary
from studio.dashboard import queries
from studio.dashboard.layout import (
    heading, Pager, arg, as_json, badge, duration, empty, esc, every, execution_link, html_pane, link, service_link,
    table, url, when,
)
from studio.discovery import ServiceDef
from studio.errors import StudioError, ValidationFailed
from studio.workspace import Workspace

# Analysts write the README; raw HTML in it is shown as text, never run as markup.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(text: str) -> str:
    return _markdown.render(text)


class ServicesPage(pn.viewable.Viewer):
    service = param.String(default="", doc="project/name of the service shown in detail")

    def __init__(self, ws: Workspace, **params: Any) -> None:
        params.setdefault("service", arg("service"))
        super().__init__(**params)
        self.ws = ws
        try:
            self.view: pn.viewable.Viewable = (ServiceDetail(ws, ws.service(self.service, refresh=False))
                                               if self.service else ServiceList(ws))
        except StudioError as exc:
            self.view = html_pane(empty(f"{esc(exc)} — pick one from the <a href=\"/services\">list of "
                                        f"services</a>."))

    def __panel__(self) -> pn.viewable.Viewable:
        return self.view


class ServiceList(pn.viewable.Viewer):
    text = param.String(default="", doc="part of the service's name")
    tag = param.String(default="")
    project = param.String(default="")

    def __init__(self, ws: Workspace, **params: Any) -> None:
        super().__init__(**params)
        self.ws = ws
        found = ws.services()
        tags = sorted({t for svc in found for t in svc.manifest.tags})
        projects = sorted({svc.project for svc in found})
        self.search = pn.widgets.TextInput.from_param(self.param.text, name="Search", placeholder="service name",
                                                      css_classes=["service-search"], width=220)
        self.search.param.watch(lambda e: setattr(self, "text", e.new), "value_input")
        self.tag_select = pn.widgets.Select.from_param(self.param.tag, name="Tag", options=[""] + tags, width=160)
        self.project_select = pn.widgets.Select.from_param(self.param.project, name="Project",
                                                           options=[""] + projects, width=160)
        self.pager = Pager(page_size=queries.PAGE_SIZE)
        self.body = html_pane()
        self.pager.param.watch(lambda _: self.refresh(), "offset")
        self.refresh()
        every(self.refresh, period=5000)   # last-run status of each service, live

    def matching(self) -> list[ServiceDef]:
        found = self.ws.services()
        text = self.text.strip().lower()
        return [svc for svc in found
                if (not text or text in svc.key.lower() or text in svc.manifest.description.lower())
                and (not self.tag or self.tag in svc.manifest.tags)
                and (not self.project or svc.project == self.project)]

    @param.depends("text", "tag", "project", watch=True)
    def _filters_changed(self) -> None:
        if self.pager.offset:
            self.pager.offset = 0   # refreshes through the watcher
        else:
            self.refresh()

    def refresh(self) -> None:
        found = self.matching()
        offset = self.pager.offset
        shown = found[offset: offset + queries.PAGE_SIZE]
        self.pager.has_more = len(found) > offset + queries.PAGE_SIZE
        rows = []
        for svc in shown:
            summary = service_summary(self.ws, svc)
            schedule = summary["schedule"] or {}
            nxt = (schedule.get("next") or [None])[0]
            rows.append([
                service_link(svc.key), esc(svc.project), esc(", ".join(svc.manifest.tags)),
                "yes" if summary["active"] else '<span class="muted">no</span>',
                badge(summary["last_status"]) if summary["last_status"] else '<span class="muted">never ran</span>',
                esc(when(summary["last_run_at"])), esc(when(nxt)) if nxt else "",
                esc(", ".join(summary["trigger_events"])),
                '<span style="color:#c62828">problems</span>' if svc.problems else "",
            ])
        if rows:
            self.body.object = table(["Service", "Project", "Tags", "Active", "Last run", "Last run at",
                                      "Next scheduled run", "Triggered by", ""], rows, css_class="services")
        elif self.text or self.tag or self.project:
            self.body.object = empty("No service matches these filters — clear the search to see them all.")
        else:
            self.body.object = empty("No services yet — a service is a folder of notebooks in a project: "
                                     "<code>studio project add NAME PATH</code>, or <code>studio init</code> "
                                     "with the examples.")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(pn.Row(self.search, self.tag_select, self.project_select), self.body, self.pager,
                         sizing_mode="stretch_width")


class ServiceDetail(pn.viewable.Viewer):
    def __init__(self, ws: Workspace, svc: ServiceDef, **params: Any) -> None:
        super().__init__(**params)
        self.ws = ws
        self.svc = svc
        self.service_id = ws.service_id(svc)
        summary = service_summary(ws, svc)
        allowed = svc.manifest.allow_manual_triggering and svc.runnable
        self.run_button = pn.widgets.Button(name="Run", button_type="primary", disabled=not allowed,
                                            css_classes=["run-service"], width=100)
        self.run_button.on_click(self.run)
        self.message = html_pane()
        if not svc.manifest.allow_manual_triggering:
            self.message.object = '<span class="muted">Manual runs are off (allow_manual_triggering is false).</span>'
        self.active = pn.widgets.Switch(value=summary["active"], width=50)
        self.active.param.watch(self.set_active, "value")
        header = (f'<h2 style="margin:0">{esc(svc.key)}</h2><div>{esc(svc.manifest.description)}</div>'
                  f'<div class="muted">version {esc(svc.version_hash[:12])} · tags {esc(", ".join(svc.manifest.tags))}'
                  f' · <a class="open-form" href="{esc(url("/form", service=svc.key))}">Open form</a>'
                  f' · <a href="{esc(url("/logs", service=svc.key))}">Logs</a></div>')
        if svc.problems:
            header += table(["File", "Key", "Problem"], [[esc(p.file), esc(p.key), esc(p.reason)]
                                                          for p in svc.problems], css_class="problems")
        self.header = html_pane(header)
        self.triggers = html_pane()
        self.unlink_select = pn.widgets.Select(name="Unlink an event type", width=260, css_classes=["unlink-type"])
        self.unlink_button = pn.widgets.Button(name="Unlink", width=80, css_classes=["unlink-button"],
                                               align="end")
        self.new_type = pn.widgets.AutocompleteInput(
            name="Link an event type", options=queries.event_type_names(ws.catalog)[:500], restrict=False,
            placeholder="e.g. sales.ingested", width=260, css_classes=["link-type"])
        self.link_button = pn.widgets.Button(name="Link", width=80, css_classes=["link-button"], align="end")
        self.unlink_button.on_click(self.unlink)
        self.link_button.on_click(self.link)
        self.executions = html_pane()
        self.pager = Pager(page_size=queries.PAGE_SIZE)
        self.pager.param.watch(lambda _: self.refresh_executions(), "offset")
        self.refresh_triggers()
        self.refresh_executions()
        every(self.refresh_executions)

    # Actions -------------------------------------------------------------------------

    def run(self, _: Any = None) -> None:
        try:
            execution = runs.start(self.ws, self.svc, {})
        except ValidationFailed as exc:
            self.message.object = (f'<span style="color:#c62828">{esc(exc)}</span> — fill them in on the '
                                   f'{link(url("/form", service=self.svc.key), "form")}.')
            return
        except StudioError as exc:
            self.message.object = f'<span style="color:#c62828">{esc(exc)}</span>'
            return
        self.message.object = (f'<span class="run-started">Execution {execution_link(execution.id, execution.id)} '
                               f'queued.</span>')
        self.refresh_executions()

    def set_active(self, event: Any) -> None:
        try:
            self.ws.set_active(self.svc, bool(event.new))
            self.message.object = f"Service {'activated' if event.new else 'deactivated'}."
        except StudioError as exc:
            self.message.object = f'<span style="color:#c62828">{esc(exc)}</span>'

    def link(self, _: Any = None) -> None:
        from studio.events.links import link

        name = (self.new_type.value_input or self.new_type.value or "").strip()
        if not name:
            return
        try:
            link(self.ws, self.svc.key, name)
        except StudioError as exc:
            self.message.object = f'<span style="color:#c62828">{esc(exc)}</span>'
            return
        self.new_type.value = ""
        self.refresh_triggers()

    def unlink(self, _: Any = None) -> None:
        from studio.events.links import unlink

        event_type = self.unlink_select.value
        if not event_type:
            return
        try:
            unlink(self.ws, self.svc.key, event_type)
        except StudioError as exc:
            self.message.object = f'<span style="color:#c62828">{esc(exc)}</span>'
        self.refresh_triggers()

    # Parts ---------------------------------------------------------------------------

    def refresh_triggers(self) -> None:
        linked = service_summary(self.ws, self.svc)["trigger_events"]
        self.triggers.object = table(
            ["Event type"], [[link(url("/events", type=t), t)] for t in linked], css_class="triggers",
        ) if linked else empty("No event type triggers this service — link one below; the next such event "
                               "starts it (no redeploy).")
        self.unlink_select.options = list(linked)
        self.unlink_select.value = linked[0] if linked else None
        self.unlink_button.disabled = not linked

    def refresh_executions(self) -> None:
        page = queries.recent_executions(self.ws.catalog, limit=queries.PAGE_SIZE, offset=self.pager.offset,
                                         service_id=self.service_id)
        self.pager.has_more = page.has_more
        self.executions.object = table(
            ["Execution", "Status", "Trigger", "Created", "Duration"],
            [[execution_link(r["id"]), badge(r["status"]), esc(r["trigger"]), esc(when(r["created_at"])),
              duration(r["duration"])] for r in page.rows], numeric=[4], css_class="service-executions",
        ) if page.rows else empty("No executions yet — press <b>Run</b>, send it an event, or "
                                  f"<code>studio run {esc(self.svc.key)}</code>.")

    def schedule_html(self) -> str:
        summary = service_summary(self.ws, self.svc)
        info = summary["schedule"]
        if not info:
            return empty('No schedule — add <code>"schedule": "@daily"</code> (or a cron line) to manifest.json.')
        if not info.get("valid", True):
            return f'<code>{esc(info["schedule"])}</code> <span style="color:#c62828">{esc(info.get("error"))}</span>'
        nxt = "".join(f"<li>{esc(when(t))} UTC</li>" for t in info.get("next", []))
        return (f'<code>{esc(info["schedule"])}</code> ({esc(info["timezone"])}) — next runs:'
                f'<ul class="next-runs">{nxt}</ul>')

    def __panel__(self) -> pn.viewable.Viewable:
        svc = self.svc
        steps = table(["#", "Step"], [[str(i + 1), esc(s)] for i, s in enumerate(svc.steps)], css_class="steps") \
            if svc.steps else empty("No steps: add a notebook, a .py or a .sql file to the folder.")
        readme = svc.readme
        readme_pane = html_pane(render_markdown(readme) if readme else
                                empty("No README.md — add one to the service folder; it is shown here."),
                                css_classes=["readme"])
        manifest = html_pane(as_json(svc.manifest.model_dump(mode="json", exclude_defaults=True) or {}))
        return pn.Column(
            self.header,
            pn.Row(self.run_button, pn.pane.HTML("Active", margin=(12, 5, 0, 20)), self.active, self.message),
            pn.Tabs(
                ("README", readme_pane),
                ("Executions", pn.Column(self.executions, self.pager, sizing_mode="stretch_width")),
                ("Steps & manifest", pn.Column(html_pane(steps), heading('manifest.json', 4), manifest, sizing_mode="stretch_width")),
                ("Triggers & schedule", pn.Column(
                    heading('Triggered by', 4), self.triggers, pn.Row(self.new_type, self.link_button),
                    pn.Row(self.unlink_select, self.unlink_button),
                    heading('Schedule', 4), html_pane(self.schedule_html()), sizing_mode="stretch_width")),
                dynamic=False, sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
        )
