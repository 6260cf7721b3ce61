"""Every example service with a parameters.json: its shareable form opens in a real browser,
submits with its defaults, and shows the completed execution's rendered notebook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from studio import runs
from tests.conftest import serve_studio
from tests.formpage.conftest import shot
from tests.formpage.test_form_page import RUN_TIMEOUT, open_form, wait_done

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[2] / "notebooks"
WITH_FORMS = sorted(p.parent.name for p in EXAMPLES.glob("*/parameters.json"))


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from studio.workspace import Workspace, init_workspace

    home = init_workspace(tmp_path_factory.mktemp("examples") / "home")
    ws = Workspace.open(home)
    # warehouse-load's .sql steps run on the connection its README tells users to set.
    ws.secrets.set("warehouse", f"sqlite:///{home / 'warehouse.db'}", "project", project="examples")
    try:
        with serve_studio(ws, ["executor"]) as url:
            yield {"ws": ws, "url": url}
    finally:
        ws.close()


def test_the_examples_have_forms():
    assert {"forecast-form", "sales-ingest", "csv-profile", "warehouse-load"} <= set(WITH_FORMS)


@pytest.mark.parametrize("service", WITH_FORMS)
def test_example_form_runs_with_its_defaults(examples: dict[str, Any], page: Any, service: str) -> None:
    fields = json.loads((EXAMPLES / service / "parameters.json").read_text())["fields"]
    open_form(page, examples, f"service=examples/{service}")
    for field in fields:   # every field of parameters.json is on the page
        page.locator(f".studio-field-{field['name']}").first.wait_for()
    page.locator(".studio-submit button").click()
    execution_id = wait_done(page)
    execution = runs.get(examples["ws"].catalog, execution_id)
    assert execution.status == "completed", execution.error
    assert execution.trigger == "form"
    frame = page.frame_locator(".studio-run-notebook iframe.notebook").first
    frame.locator("body").wait_for(timeout=RUN_TIMEOUT)
    shot(page, f"example-{service}")
