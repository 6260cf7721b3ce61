"""Every dashboard page in a real browser against a real server: it loads without console
errors, shows the data, updates live, and never lets a notebook's HTML reach the studio page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import Studio, shot

pytestmark = [pytest.mark.browser]
TIMEOUT = 20_000


def open_page(page: Any, studio: Studio, path: str) -> None:
    page.goto(studio.url + path, wait_until="load")
    page.wait_for_selector("#main", timeout=TIMEOUT)


def tab(page: Any, name: str) -> Any:
    return page.locator(".bk-tab").filter(has_text=re.compile(f"^{re.escape(name)}$"))


def test_overview_shows_recent_failed_and_charts(page: Any, studio: Studio) -> None:
    open_page(page, studio, "/")
    recent = page.locator("table.recent-executions")
    expect(recent).to_contain_text("demo/hello", timeout=TIMEOUT)
    expect(recent).to_contain_text("demo/report")
    expect(page.locator("table.failed-executions")).to_contain_text("demo/broken")
    expect(page.locator(".totals")).to_contain_text("executions", timeout=TIMEOUT)
    expect(page.locator("table.busiest-services")).to_contain_text("demo/hello")
    expect(page.locator("table.updated-services")).to_contain_text("demo/locked")
    expect(page.locator(".bk-Canvas, canvas").first).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("a.nav")).to_have_count(6)
    page.wait_for_timeout(500)
    shot(page, "overview")


def test_services_list_search(page: Any, studio: Studio) -> None:
    open_page(page, studio, "/services")
    listing = page.locator("table.services")
    for key in ("demo/hello", "demo/report", "demo/broken", "demo/locked"):
        expect(listing).to_contain_text(key, timeout=TIMEOUT)
    expect(listing).to_contain_text("@daily" if False else "completed")
    shot(page, "services")
    page.locator(".service-search input").fill("rep")
    expect(listing).not_to_contain_text("demo/hello", timeout=TIMEOUT)
    expect(listing).to_contain_text("demo/report")


def test_service_detail(page: Any, studio: Studio) -> None:
    open_page(page, studio, "/services?service=demo/hello")
    expect(page.locator(".readme")).to_contain_text("Greets everyone", timeout=TIMEOUT)
    # Raw HTML in a README is shown as text, never run.
    expect(page.locator(".readme")).to_contain_text("<script>")
    assert page.evaluate("window.readmeScript") is None
    expect(page.locator("a.open-form")).to_have_attribute("href", "/form?service=demo%2Fhello")
    expect(page.locator(".run-service button")).to_be_enabled()
    tab(page, "Triggers & schedule").click()
    expect(page.locator("ul.next-runs li")).to_have_count(5, timeout=TIMEOUT)
    expect(page.locator("table.triggers")).to_contain_text("demo.start")
    shot(page, "service-detail")

    # Late linking in place: link a new event type, then unlink it.
    page.locator(".link-type input").fill("demo.extra")
    page.locator(".link-button button").click()
    expect(page.locator("table.triggers")).to_contain_text("demo.extra", timeout=TIMEOUT)
    from studio.events.links import list_links

    assert any(l["event_type"] == "demo.extra" and l["enabled"] for l in list_links(studio.ws, service="demo/hello"))
    page.locator(".unlink-type select").select_option("demo.extra")
    page.locator(".unlink-button button").click()
    expect(page.locator("table.triggers")).not_to_contain_text("demo.extra", timeout=TIMEOUT)
    expect(page.locator("table.triggers")).to_contain_text("demo.start")
    assert not any(l["event_type"] == "demo.extra" for l in list_links(studio.ws, service="demo/hello"))


def test_run_button_disabled_without_manual_triggering(page: Any, studio: Studio) -> None:
    open_page(page, studio, "/services?service=demo/locked")
    expect(page.locator(".run-service button")).to_be_disabled(timeout=TIMEOUT)
    expect(page.get_by_text("Manual runs are off")).to_be_visible()


def test_run_from_ui_shows_notebook_sandboxed_and_logs(page: Any, studio: Studio) -> None:
    open_page(page, studio, "/services?service=demo/report")
    page.locator(".run-service button").click()
    started = page.locator(".run-started a")
    expect(started).to_be_visible(timeout=TIMEOUT)
    started.click()
    page.wait_for_url(re.compile(r"/execution\?id="), timeout=TIMEOUT)
    expect(page.locator(".execution-header .status-completed")).to_be_visible(timeout=90_000)
    frame_el = page.locator("iframe.notebook")
    expect(frame_el).to_have_count(1, timeout=TIMEOUT)
    assert frame_el.get_attribute("sandbox") == "allow-scripts"
    assert re.search(r"^/api/executions/[0-9a-f]{32}/notebook\.html$", frame_el.get_attribute("src") or "")
    frame = page.frame_locator("iframe.notebook")
    expect(frame.locator("#nb-ok")).to_have_text("NOTEBOOK-OK", timeout=TIMEOUT)
    tab(page, "Logs").click()
    expect(page.locator(".execution-logs")).to_contain_text("report ran: Daily report", timeout=TIMEOUT)
    tab(page, "Notebook").click()
    page.wait_for_timeout(1000)   # give the notebook's script every chance to misbehave
    assert page.evaluate("document.body.getAttribute('data-pwned')") is None
    assert page.evaluate("document.documentElement.outerHTML").count("NOTEBOOK-OK") == 0
    shot(page, "execution")


def test_notebook_xss_cannot_reach_studio_page(page: Any, studio: Studio) -> None:
    """The attack shaped as it would come: the page of an execution whose notebook scripts at its parent."""
    report = studio.executions["report"]
    messages: list[Any] = []
    open_page(page, studio, f"/execution?id={report.id}")
    page.evaluate("window.addEventListener('message', e => { window.__got = (window.__got||[]).concat([e.origin]); })")
    frame = page.frame_locator("iframe.notebook")
    expect(frame.locator("#nb-ok")).to_be_visible(timeout=TIMEOUT)
    page.reload()
    expect(page.frame_locator("iframe.notebook").locator("#nb-ok")).to_be_visible(timeout=TIMEOUT)
    page.wait_for_timeout(500)
    assert page.evaluate("document.body.getAttribute('data-pwned')") is None
    # The frame runs in an opaque origin: even the messages it posts say so.
    origins = page.evaluate("window.__got || []")
    assert all(o == "null" for o in origins), origins
    assert messages == []


def test_failed_execution_page(page: Any, studio: Studio) -> None:
    broken = studio.executions["broken"]
    open_page(page, studio, f"/execution?id={broken.id}")
    expect(page.locator(".execution-header")).to_contain_text("broken on purpose", timeout=TIMEOUT)
    expect(page.locator(".execution-header .status-failed")).to_be_visible()
    expect(page.get_by_text("This execution has no rendered notebook")).to_be_attached()
    tab(page, "Logs").click()
    expect(page.locator(".execution-logs")).to_contain_text("about to fail")
    shot(page, "execution-failed")


def test_execution_list(page: Any, studio: Studio) -> None:
    open_page(page, studio, "/execution")
    expect(page.locator("table.executions")).to_contain_text("demo/broken", timeout=TIMEOUT)
    shot(page, "executions")


def test_events_catalog_log_and_send(page: Any, studio: Studio) -> None:
    open_page(page, studio, "/events")
    catalog = page.locator("table.event-catalog")
    expect(catalog).to_contain_text("demo.greeted", timeout=TIMEOUT)
    expect(catalog).to_contain_text("studio.manual.trigger")
    expect(page.locator("table.event-log")).to_contain_text("demo.greeted")
    page.locator(".send-type input").fill("demo.test")
    page.locator(".send-data textarea").fill('{"probe": "xyzzy-42"}')
    page.locator(".send-event button").click()
    expect(page.locator(".event-sent")).to_be_visible(timeout=TIMEOUT)
    # New events appear without a reload (the log polls).
    expect(page.locator("table.event-log")).to_contain_text("xyzzy-42", timeout=TIMEOUT)
    page.locator(".filter-text input").fill("xyzzy")
    page.locator(".filter-text input").press("Enter")
    expect(page.locator("table.event-log tbody tr")).to_have_count(1, timeout=TIMEOUT)
    shot(page, "events")


def test_event_type_detail(page: Any, studio: Studio) -> None:
    open_page(page, studio, "/events?type=demo.greeted")
    expect(page.locator(".type-detail")).to_have_text("demo.greeted", timeout=TIMEOUT)
    expect(page.get_by_text("Producers:")).to_contain_text("demo/hello")
    expect(page.get_by_text("Producers:")).to_contain_text("demo/report")   # consumer
    shot(page, "event-type")


def test_lineage_of_an_execution(page: Any, studio: Studio) -> None:
    hello = studio.executions["hello"]
    open_page(page, studio, f"/lineage?execution={hello.id}")
    nodes = page.locator("table.lineage-nodes")
    expect(nodes).to_contain_text("studio.manual.trigger", timeout=TIMEOUT)
    expect(nodes).to_contain_text("demo.greeted")
    expect(nodes).to_contain_text("demo/hello")
    expect(page.locator("canvas").first).to_be_visible()
    link = nodes.locator(f"a[href='/execution?id={hello.id}']")
    expect(link).to_have_count(1)
    shot(page, "lineage")


def test_logs_search_and_live_tail(page: Any, studio: Studio) -> None:
    from studio import runs

    open_page(page, studio, "/logs?service=demo/hello")
    table = page.locator("table.log-records")
    expect(table).to_contain_text("hello from py Ada", timeout=TIMEOUT)
    expect(table).not_to_contain_text("about to fail")
    shot(page, "logs")
    # A run that starts now shows its lines without a reload.
    runs.start(studio.ws, studio.ws.service("demo/hello"), {"name": "Tail"})
    expect(table).to_contain_text("hello from py Tail", timeout=30_000)
    page.locator(".filter-text input").fill("warning line")
    page.locator(".filter-text input").press("Enter")
    expect(table).not_to_contain_text("hello from py", timeout=TIMEOUT)
    expect(table).to_contain_text("a warning line")
