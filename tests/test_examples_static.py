"""The example project in notebooks/: every folder is a service that the studio can load and run.

Static checks (fast): names, manifests, steps, notebooks, forms, configs, and that the data of
each event a service sends fit the form of every service that event triggers.

Marked ``slow``: every example executed outside the studio (papermill in a temporary copy of its
folder, no ``.studio-local.json``), and the sales chain run end to end, each event's data
validated by the next service's form and handed to it as parameters.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from forms import load_form
from studio.manifest import STEP_SUFFIXES, check_name, load_manifest

EXAMPLES = Path(__file__).resolve().parent.parent / "notebooks"
SERVICES = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
# The event chain the project README documents: (producer, event type, consumer).
CHAIN = [
    ("sales-ingest", "sales.ingested", "sales-aggregate"),
    ("sales-aggregate", "sales.aggregated", "sales-report"),
]
SIMULATION_KEYS = {"params", "config", "secrets", "state"}


def notebooks(service: str) -> list[Path]:
    return sorted((EXAMPLES / service).glob("*.ipynb"))


def read_notebook(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"expected one cell tagged 'parameters', found {len(tagged)}"
    assert tagged[0].cell_type == "code"
    return tagged[0]


def notebook_defaults(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The names the parameters cell assigns, with their literal default values."""
    defaults = {}
    for node in ast.parse(parameters_cell(nb).source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, \
            f"the parameters cell holds plain assignments only, not: {ast.unparse(node)}"
        defaults[node.targets[0].id] = ast.literal_eval(node.value)  # type: ignore[attr-defined]
    return defaults


def step_sources(service: str) -> list[tuple[str, str]]:
    """(where, Python source) of every notebook code cell and .py step of the service."""
    out = []
    for path in notebooks(service):
        for i, cell in enumerate(read_notebook(path).cells):
            if cell.cell_type == "code":
                out.append((f"{path.name} cell {i}", cell.source))
    out += [(p.name, p.read_text(encoding="utf-8")) for p in sorted((EXAMPLES / service).glob("*.py"))]
    return out


def sent_events(service: str) -> dict[str, set[str]]:
    """Event type -> data keys, for every ``context.events.send("type", {...})`` in the steps."""
    sent: dict[str, set[str]] = {}
    for where, source in step_sources(service):
        for node in ast.walk(ast.parse(source)):
            if not (isinstance(node, ast.Call) and ast.unparse(node.func) == "context.events.send"):
                continue
            etype, data = node.args[0], node.args[1]
            assert isinstance(etype, ast.Constant) and isinstance(data, ast.Dict), \
                f"{service}/{where}: send a literal event type with a literal dict, so it can be checked"
            sent.setdefault(etype.value, set()).update(ast.literal_eval(k) for k in data.keys)  # type: ignore[arg-type]
    return sent


def form_names(service: str) -> list[str]:
    return load_form(EXAMPLES / service / "parameters.json").names


def test_the_project_has_its_examples() -> None:
    assert (EXAMPLES / "README.md").is_file()
    assert {"sales-ingest", "sales-aggregate", "sales-report", "daily-kpi-report", "forecast-form",
            "csv-profile", "warehouse-load", "api-poller"} <= set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_manifest_and_readme(service: str) -> None:
    folder = EXAMPLES / service
    check_name(service)
    manifest = load_manifest(folder)  # raises ManifestError naming file, key and reason
    assert (folder / "manifest.json").is_file()
    assert manifest.description.strip() and manifest.tags, "the dashboard shows description and tags"
    assert len((folder / "README.md").read_text(encoding="utf-8").strip()) > 100
    if manifest.schedule is not None:
        from croniter import croniter

        assert croniter.is_valid(manifest.schedule), manifest.schedule


@pytest.mark.parametrize("service", SERVICES)
def test_every_named_step_exists(service: str) -> None:
    folder = EXAMPLES / service
    manifest = load_manifest(folder)
    steps = [manifest.entrypoint] if manifest.entrypoint else list(manifest.execution_order)
    if not steps:
        steps = [p.name for p in folder.iterdir() if p.suffix in STEP_SUFFIXES]
    assert steps, "a service needs at least one step"
    for step in steps:
        assert (folder / step).is_file(), f"{service}: step {step} named in manifest.json is missing"
        assert step.endswith(STEP_SUFFIXES)
    if any(step.endswith(".sql") for step in steps):
        assert manifest.connection, ".sql steps need the name of the secret holding the connection URL"


@pytest.mark.parametrize("path", [p for s in SERVICES for p in notebooks(s)], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_is_clean_nbformat_4_with_parameters(path: Path) -> None:
    nb = read_notebook(path)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata["kernelspec"]["name"] == "python3"
    parameters_cell(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, "commit notebooks without outputs"
            ast.parse(cell.source)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "from studio import context" in code
    assert "context.log.info" in code
    assert "matplotlib" not in code


@pytest.mark.parametrize("service", [s for s in SERVICES if (EXAMPLES / s / "parameters.json").exists()])
def test_parameters_json_is_a_form_the_notebooks_declare(service: str) -> None:
    path = EXAMPLES / service / "parameters.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(raw.get("fields"), list) and raw["fields"]
    form = load_form(path)  # every problem at once, with file, key and reason
    for nb_path in notebooks(service):
        defaults = notebook_defaults(read_notebook(nb_path))
        missing = set(form.names) - set(defaults)
        assert not missing, f"{nb_path.name}: the parameters cell lacks {sorted(missing)}"
        for name in form.names:  # the notebook's own default would pass the form too
            if defaults[name] not in (None, ""):
                form.validate_field(name, defaults[name])


def test_forecast_form_exercises_every_field_type() -> None:
    form = load_form(EXAMPLES / "forecast-form" / "parameters.json")
    types = {f.type for f in form.fields}
    assert {"text", "textarea", "int", "float", "select", "multiselect", "radio", "checkbox", "date", "json"} <= types
    assert any(f.required for f in form.fields) and all(f.label for f in form.fields)
    profile = load_form(EXAMPLES / "csv-profile" / "parameters.json").field("data_file")
    assert profile.type == "file" and not profile.required and profile.default is None


@pytest.mark.parametrize("service", SERVICES)
def test_sent_events_are_declared_in_output_events(service: str) -> None:
    assert set(sent_events(service)) == set(load_manifest(EXAMPLES / service).output_events)


@pytest.mark.parametrize("service", SERVICES)
def test_event_data_fit_the_form_of_every_service_they_trigger(service: str) -> None:
    for etype, keys in sent_events(service).items():
        for consumer in SERVICES:
            if etype in load_manifest(EXAMPLES / consumer).trigger_events:
                assert sorted(keys) == sorted(form_names(consumer)), \
                    f"{service} sends {etype} with {sorted(keys)}; {consumer}'s form has {form_names(consumer)}"


@pytest.mark.parametrize(("producer", "etype", "consumer"), CHAIN)
def test_the_sales_chain_is_linked(producer: str, etype: str, consumer: str) -> None:
    assert etype in load_manifest(EXAMPLES / producer).output_events
    assert etype in load_manifest(EXAMPLES / consumer).trigger_events
    assert sorted(sent_events(producer)[etype]) == sorted(form_names(consumer))
    assert "sales.day.closed" in load_manifest(EXAMPLES / "sales-ingest").trigger_events
    assert "report.published" in sent_events("sales-report")


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*/*.sql")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sql_parameters_are_bound_not_quoted(path: Path) -> None:
    sql = path.read_text(encoding="utf-8")
    # '{{ x }}' would bind a placeholder inside a string literal: the value would never arrive.
    assert not re.search(r"['\"]\s*\{\{", sql), f"{path.name}: do not quote {{{{ ... }}}}: it is a bound parameter"


def test_configs_and_the_simulation_example_are_json_objects() -> None:
    configs = sorted(EXAMPLES.glob("*/config.json"))
    assert configs, "at least one example reads config.json"
    for path in configs:
        assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict)
    thresholds = json.loads((EXAMPLES / "daily-kpi-report" / "config.json").read_text())["thresholds"]
    assert {"conversion_rate_min", "avg_order_value_min", "refund_rate_max"} <= set(thresholds)
    example = json.loads((EXAMPLES / "api-poller" / ".studio-local.json.example").read_text())
    assert set(example) == SIMULATION_KEYS
    assert example["secrets"] == {"api_token": "demo"}


# --- running the examples outside the studio (slow: one kernel per notebook) ---------------------

def _run(folder: Path, notebook: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Execute ``notebook`` in ``folder`` like plain Jupyter would; return the events it sent."""
    import papermill

    papermill.execute_notebook(str(folder / notebook), str(folder / f"out-{notebook}"),
                               parameters=parameters or {}, cwd=str(folder), kernel_name="python3",
                               progress_bar=False)
    simulation = folder / ".studio-local.json"  # outside the studio, sent events land here
    sent = json.loads(simulation.read_text()).get("sent", []) if simulation.exists() else []
    return [{"type": r["type"], "data": r["data"]} for r in sent if r["kind"] == "event"]


def _copy(service: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLES / service, tmp_path / service))


@pytest.mark.slow
@pytest.mark.parametrize("service", ["sales-ingest", "sales-aggregate", "sales-report", "daily-kpi-report",
                                     "forecast-form", "csv-profile", "api-poller"])
def test_example_runs_with_no_simulation_file(service: str, tmp_path: Path) -> None:
    folder = _copy(service, tmp_path)
    (nb,) = notebooks(service)
    sent = _run(folder, nb.name)
    assert [e["type"] for e in sent] == load_manifest(folder).output_events
    for event in sent:
        assert sorted(event["data"]) == sorted(sent_events(service)[event["type"]])


@pytest.mark.slow
def test_api_poller_keeps_its_cursor_and_asks_for_a_retry(tmp_path: Path) -> None:
    folder = _copy("api-poller", tmp_path)
    simulation = json.loads((folder / ".studio-local.json.example").read_text())
    simulation["secrets"]["api_token"] = token = "tok-5f2b9c-never-shown"
    (folder / ".studio-local.json").write_text(json.dumps(simulation))
    _run(folder, "poll.ipynb")
    _run(folder, "poll.ipynb", {"retry_later": True, "retry_minutes": 5})
    simulation = json.loads((folder / ".studio-local.json").read_text())
    cursors = [h["value"] for h in simulation["state_history"]["cursor"]]
    assert len(cursors) == 2 and 0 < cursors[0] < cursors[1] == simulation["state"]["cursor"]
    assert [r["delay_seconds"] for r in simulation["sent"] if r["kind"] == "retry"] == [300.0]
    outputs = json.dumps([c.get("outputs") for c in json.loads((folder / "out-poll.ipynb").read_text())["cells"]])
    assert "using the api_token secret" in outputs and token not in outputs


@pytest.mark.slow
def test_sales_chain_runs_end_to_end(tmp_path: Path) -> None:
    data: dict[str, Any] = {"date": "2026-01-02", "region": "emea"}  # studio send sales.day.closed
    for service, emitted in [("sales-ingest", "sales.ingested"), ("sales-aggregate", "sales.aggregated"),
                             ("sales-report", "report.published")]:
        parameters = load_form(EXAMPLES / service / "parameters.json").validate(data)  # as the router would
        (event,) = _run(_copy(service, tmp_path), notebooks(service)[0].name, parameters)
        assert event["type"] == emitted
        data = event["data"]
    assert data["date"] == "2026-01-02" and data["top_product"]
    assert "| product | revenue (EUR) | share |" in (tmp_path / "sales-report" / "report.md").read_text()


@pytest.mark.slow
def test_warehouse_load_steps_run_in_order(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    from executors._sql import render, split_statements

    folder = _copy("warehouse-load", tmp_path)
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    engine = create_engine(url)
    for params in ({"region": "emea"}, {"region": "emea", "loaded_at": "2026-01-02T06:00:00+01:00"}):
        (folder / ".studio-local.json").write_text(json.dumps({"params": params, "secrets": {"warehouse": url}}))
        for step in load_manifest(folder).execution_order:
            if step.endswith(".py"):
                subprocess.run([sys.executable, step], cwd=folder, check=True, capture_output=True)
            elif step.endswith(".sql"):  # rendered and bound as the .sql executor does
                sql, values = render((folder / step).read_text(), params)
                with engine.begin() as conn:
                    for statement in split_statements(sql):
                        conn.execute(text(statement), {k: v for k, v in values.items()
                                                       if re.search(rf":{k}\b", statement)})
            else:
                _run(folder, step, params)
    with engine.connect() as conn:
        loads = conn.execute(text("SELECT region, staged, inserted, loaded_at FROM loads")).all()
        orders = conn.execute(text("SELECT COUNT(*) FROM orders")).scalar()
    engine.dispose()
    assert [(r, s == i, i) for r, s, i, _ in loads][1] == ("emea", False, 0), "a re-run inserts nothing twice"
    assert loads[0][2] == orders > 0 and loads[1][3] == "2026-01-02T06:00:00+01:00"
