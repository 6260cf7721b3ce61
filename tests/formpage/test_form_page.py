"""The form page in a real browser against a real studio (web app + executor)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from studio import runs, saved_runs
from studio.errors import Conflict
from tests.formpage.conftest import shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RUN_TIMEOUT = 90_000   # ms: a kernel start plus the notebook


def open_form(page: Any, studio: dict[str, Any], query: str) -> None:
    page.goto(f"{studio['url']}/form?{query}")
    page.locator("h1.studio-form-title").wait_for()


def fill(page: Any, field: str, value: str, tag: str = "input") -> None:
    box = page.locator(f".studio-field-{field} {tag}").first
    box.fill(value)
    box.press("Tab")   # Panel takes the value on change


def pane_text(page: Any, css: str) -> str:
    """The visible text of a Panel pane (its content lives in the element's shadow root)."""
    return page.locator(css).first.evaluate(
        "e => Array.from((e.shadowRoot || e).children)"
        ".filter(c => !['STYLE', 'LINK'].includes(c.tagName)).map(c => c.innerText).join('\\n')")


def wait_text(page: Any, css: str, text: str, timeout: float = 15.0) -> None:
    for _ in range(int(timeout * 10)):
        if text in pane_text(page, css):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{text!r} not in {css}: {pane_text(page, css)!r}")


def executions(studio: dict[str, Any], service: str = "demo/report") -> list[Any]:
    return runs.list_executions(studio["ws"].catalog, service=service, limit=100)


def wait_done(page: Any, status: str = "completed", execution_id: str | None = None) -> str:
    """Wait until the page shows a run (``execution_id``, or whichever it follows) in ``status``."""
    which = f'[data-execution="{execution_id}"]' if execution_id else "[data-execution]"
    done = page.locator(f'.studio-run-status {which}[data-status="{status}"]')
    done.wait_for(timeout=RUN_TIMEOUT)
    return done.get_attribute("data-execution")


def notebook_text(page: Any) -> str:
    frame = page.frame_locator(".studio-run-notebook iframe.notebook").first
    body = frame.locator("body")
    body.wait_for()
    return body.inner_text()


def test_fill_submit_and_follow_to_the_rendered_notebook(page: Any, studio: dict[str, Any]) -> None:
    before = len(executions(studio))
    open_form(page, studio, "service=demo/report")
    assert "Makes a one-line report" in page.locator(".studio-form-description").inner_text()
    assert page.locator(".studio-nav").count() == 0   # no operator navigation
    fill(page, "title", "Q3 north")
    fill(page, "notes", "first line\nsecond line", tag="textarea")
    fill(page, "rows", "42")
    shot(page, "filled")
    page.locator(".studio-submit button").click()
    execution_id = wait_done(page)
    text = notebook_text(page)
    assert "REPORT title='Q3 north' rows=42 notes='first line\\nsecond line'" in text
    assert "NO FILE" in text
    iframe = page.locator(".studio-run-notebook iframe.notebook")
    assert iframe.get_attribute("sandbox") == "allow-scripts"
    assert iframe.get_attribute("src") == f"/api/executions/{execution_id}/notebook.html"
    links = page.locator(".studio-run-files a")
    hrefs = {links.nth(i).get_attribute("href") for i in range(links.count())}
    assert f"/api/executions/{execution_id}/files/report.ipynb" in hrefs
    assert page.locator('.studio-run-steps .status-completed').count() == 1
    shot(page, "completed")

    rows = executions(studio)
    assert len(rows) == before + 1
    assert rows[0].id == execution_id and rows[0].trigger == "form"
    assert rows[0].params == {"title": "Q3 north", "notes": "first line\nsecond line", "rows": 42}

    # a file link really downloads
    response = page.request.get(f"{studio['url']}/api/executions/{execution_id}/files/report.ipynb")
    assert response.ok and b"REPORT title=" in response.body()

    # Run again: one click, same values, a new execution
    page.locator(".studio-run-again button").click()
    again = _wait_new(page, studio, before + 2)
    assert again.params == rows[0].params and again.id != execution_id
    wait_done(page, execution_id=again.id)
    assert "REPORT title='Q3 north' rows=42" in notebook_text(page)


def _wait_new(page: Any, studio: dict[str, Any], count: int) -> Any:
    for _ in range(100):
        rows = executions(studio)
        if len(rows) >= count:
            return rows[0]
        page.wait_for_timeout(100)
    raise AssertionError(f"expected {count} executions, have {len(executions(studio))}")


def test_invalid_values_show_inline_and_start_nothing(page: Any, studio: dict[str, Any]) -> None:
    before = len(executions(studio))
    open_form(page, studio, "service=demo/report")
    fill(page, "rows", "500")        # above max: kept as typed, and the field says why it is wrong
    wait_text(page, ".studio-field-error-rows", "100")   # (the session is live from here on)
    assert page.locator(".studio-field-rows input").input_value() == "500"
    fill(page, "title", "x")
    page.wait_for_timeout(300)       # let "x" reach the server, or Bokeh folds both edits into one ""
    fill(page, "title", "")          # required, now empty
    error = page.locator(".studio-field-error-title")
    error.wait_for()
    assert pane_text(page, ".studio-field-error-title").strip()
    assert page.locator(".studio-submit button").is_disabled()
    page.locator(".studio-submit button").click(force=True)
    shot(page, "invalid")
    page.wait_for_timeout(500)
    assert "To fill in or correct: Title, Rows" in pane_text(page, ".studio-form-status")
    assert len(executions(studio)) == before
    assert page.locator(".studio-run-status [data-status]").count() == 0


def test_uploaded_file_reaches_the_notebook(page: Any, studio: dict[str, Any], tmp_path: Path) -> None:
    upload = tmp_path / "sales q3.csv"
    upload.write_text("region,amount\nnorth,10\n")
    open_form(page, studio, "service=demo/report")
    fill(page, "title", "with file")
    page.locator(".studio-field-data input[type=file]").set_input_files(str(upload))
    page.wait_for_timeout(300)
    page.locator(".studio-submit button").click()
    execution_id = wait_done(page)
    assert "FIRST LINE: region,amount" in notebook_text(page)
    shot(page, "upload")
    params = runs.get(studio["ws"].catalog, execution_id).params
    stored = Path(params["data"])
    uploads = (Path(studio["ws"].settings.artefact_dir) / "uploads").resolve()
    assert stored.is_absolute() and uploads in stored.parents
    assert stored.name == "sales_q3.csv" and stored.read_text() == "region,amount\nnorth,10\n"


def test_prefill_from_an_execution_and_save_values(page: Any, studio: dict[str, Any]) -> None:
    ws = studio["ws"]
    svc = ws.service("demo/report")
    source = runs.start(ws, svc, {"title": "from before", "notes": "kept", "rows": 7}, trigger="manual")
    with contextlib.suppress(Conflict):   # only its parameters matter here: spare the kernel
        runs.cancel(ws.catalog, source.id)
    open_form(page, studio, f"service=demo/report&from={source.id}")
    assert page.locator(".studio-field-title input").input_value() == "from before"
    assert page.locator(".studio-field-notes textarea").input_value() == "kept"
    assert page.locator(".studio-field-rows input").input_value() == "7"
    assert "Prefilled from execution" in pane_text(page, ".studio-form-message")
    recent = page.locator(".studio-recent-executions select")
    assert recent.evaluate("s => s.options[s.selectedIndex].text").endswith(source.id[:8])
    shot(page, "prefilled")

    # save them under a name, then pick the saved run after changing the form
    fill(page, "rows", "9")
    page.locator(".studio-save-name input").fill("north-q3")
    page.locator(".studio-save-name input").press("Tab")
    page.locator(".studio-save button").click()
    wait_text(page, ".studio-save-message", "Saved as")
    assert saved_runs.get_saved(ws, svc, "north-q3") == {"title": "from before", "notes": "kept", "rows": 9}
    fill(page, "title", "changed")
    page.locator(".studio-saved-runs select").select_option(label="north-q3")
    wait_text(page, ".studio-form-message", "saved run")
    assert page.locator(".studio-field-title input").input_value() == "from before"
    assert page.locator(".studio-field-rows input").input_value() == "9"

    # the recent executions select prefills too
    labels = recent.evaluate("s => Array.from(s.options).map(o => o.text)")
    assert len(labels) >= 2 and labels[0] == "— none —"
    recent.select_option(label=next(label for label in labels if label.endswith(source.id[:8])))
    wait_text(page, ".studio-form-message", "from execution")
    assert page.locator(".studio-field-rows input").input_value() == "7"


@pytest.mark.parametrize(("query", "expected"), [
    ("service=demo/locked", "This service cannot be run by hand"),
    ("service=demo/nothing-here", "nothing-here"),
    ("service=Not%20A%20Name", "invalid"),
    ("", "/form?service=project/name"),
])
def test_services_that_cannot_be_filled_in(page: Any, studio: dict[str, Any], query: str, expected: str) -> None:
    open_form(page, studio, query)
    assert expected in pane_text(page, ".studio-form-message")
    assert page.locator(".studio-submit").count() == 0
    if "locked" in query:
        shot(page, "locked")


def test_service_without_a_form_gets_a_run_button(page: Any, studio: dict[str, Any]) -> None:
    open_form(page, studio, "service=demo/plain")
    assert page.locator(".studio-field").count() == 0
    page.locator(".studio-run button").click()
    wait_done(page)
    assert "HELLO FROM PLAIN" in notebook_text(page)
    shot(page, "plain")


def test_a_failed_run_shows_its_error_and_notebook(page: Any, studio: dict[str, Any]) -> None:
    open_form(page, studio, "service=demo/broken")
    page.locator(".studio-submit button").click()
    execution_id = wait_done(page, "failed")
    assert "BROKEN on purpose" in pane_text(page, ".studio-run-status")
    assert page.locator(".studio-run-steps .status-failed").count() == 1
    assert "ValueError: BROKEN on purpose" in notebook_text(page)
    assert runs.get(studio["ws"].catalog, execution_id).status == "failed"
    assert page.locator(".studio-run-again button").is_visible()
    page.wait_for_timeout(1000)
    shot(page, "failed")
