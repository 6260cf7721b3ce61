"""The REST API over a real workspace (FastAPI's in-process client; real catalog and executor)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from studio import runs
from studio.api import create_app
from studio.executor import Executor, claim
from tests.conftest import notebook


@pytest.fixture
def api(make_workspace):
    ws = make_workspace({
        "hello": {"hello.ipynb": notebook("print('hi', who)", parameters="who = 'x'")},
        "typed": {"a.py": "print(1)\n",
                  "parameters.json": {"fields": [{"name": "n", "type": "int", "label": "N", "min": 0, "max": 3}]}},
    })
    with TestClient(create_app(ws)) as client:
        client.ws = ws  # type: ignore[attr-defined]
        yield client


def run_pending(ws, execution_id: str) -> None:
    Executor(ws, owner="api-test").run_claimed(claim(ws, execution_id, "api-test"))


def test_run_list_get_logs(api):
    services = api.get("/api/services").json()
    assert {s["key"] for s in services} == {"demo/hello", "demo/typed"}
    started = api.post("/api/services/demo/hello/run", json={"params": {"who": "api"}})
    assert started.status_code == 202
    execution_id = started.json()["id"]
    run_pending(api.ws, execution_id)
    record = api.get(f"/api/executions/{execution_id}").json()
    assert record["status"] == "completed" and record["steps"][0]["status"] == "completed"
    assert any("hi api" in line["message"] for line in api.get(f"/api/executions/{execution_id}/logs").json())
    html = api.get(f"/api/executions/{execution_id}/notebook.html")
    assert html.status_code == 200 and "sandbox" in html.headers["content-security-policy"]
    assert "https:" not in html.headers["content-security-policy"] and "cdnjs" not in html.text
    files = api.get(f"/api/executions/{execution_id}/files").json()
    assert any(f["name"].endswith(".ipynb") for f in files)
    assert api.get(f"/api/executions/{execution_id}/files/../../secret.key").status_code == 404
    assert [e["id"] for e in api.get("/api/executions?service=hello").json()] == [execution_id]


def test_validation_errors_are_422_with_fields(api):
    response = api.post("/api/services/demo/typed/run", json={"params": {"n": 10, "extra": 1}})
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"n", "extra"}
    assert api.get("/api/executions").json() == []


def test_unknown_names_are_404(api):
    assert api.get("/api/services/demo/ghost").status_code == 404
    body = api.get("/api/executions/nope").json()
    assert body["error"] == "execution 'nope' not found"
    assert api.post("/api/executions/nope/cancel").status_code == 404


def test_cancel_pending(api):
    execution_id = api.post("/api/services/demo/typed/run", json={"params": {"n": 1}}).json()["id"]
    assert api.post(f"/api/executions/{execution_id}/cancel").json()["status"] == "cancelled"
    assert api.post(f"/api/executions/{execution_id}/cancel").status_code == 409


def test_schema_and_saved_runs(api):
    schema = api.get("/api/services/demo/typed/schema").json()
    assert schema["properties"]["n"]["maximum"] == 3
    inferred = api.get("/api/services/demo/hello/schema").json()
    assert "who" in inferred["properties"]
    assert api.post("/api/services/demo/typed/saved-runs", json={"name": "small", "params": {"n": 1}}).status_code == 201
    assert api.get("/api/services/demo/typed/saved-runs").json()[0]["params"] == {"n": 1}


def test_openapi_document_describes_the_models(api):
    doc = api.get("/api/openapi.json").json()
    assert "/api/services/{project}/{name}/run" in doc["paths"]
    assert "ExecutionOut" in doc["components"]["schemas"]
    assert "steps" in doc["components"]["schemas"]["ExecutionOut"]["properties"]
    assert runs.list_executions(api.ws.catalog) == []
