"""The artefact store for uploads, and the REST upload route (no browser)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from studio import runs
from studio.artefacts import is_upload, safe_filename, store_upload, store_uploads, uploads_dir
from tests.formpage.conftest import REPORT_FIELDS, REPORT_NB


@pytest.mark.parametrize(("sent", "kept"), [
    ("sales.csv", "sales.csv"),
    ("sales q3 (final).csv", "sales_q3_final_.csv"),
    ("../../etc/passwd", "passwd"),
    ("..\\..\\windows\\win.ini", "win.ini"),
    ("C:\\Users\\me\\data.xlsx", "data.xlsx"),
    ("..", "upload"),
    ("...hidden", "hidden"),
    ("a..b..csv", "a.b.csv"),
    ("", "upload"),
    (None, "upload"),
    ("/", "upload"),
    ("données.csv", "donnees.csv"),
    ("x" * 300 + ".csv", "x" * 116 + ".csv"),
])
def test_safe_filename(sent: str | None, kept: str) -> None:
    assert safe_filename(sent) == kept
    assert "/" not in kept and "\\" not in kept and ".." not in kept


def test_store_upload_keeps_each_upload_apart(make_workspace: Callable[..., Any]) -> None:
    ws = make_workspace()
    first = Path(store_upload(ws, "../data.csv", b"a,b\n1,2\n"))
    second = Path(store_upload(ws, "data.csv", b"other"))
    root = uploads_dir(ws).resolve()
    for path in (first, second):
        assert path.is_absolute() and path.parent.parent == root and path.name == "data.csv"
        assert is_upload(ws, path)
    assert first.parent != second.parent
    assert first.read_bytes() == b"a,b\n1,2\n" and second.read_bytes() == b"other"
    assert not is_upload(ws, root / ".." / "catalog.db")
    with pytest.raises(TypeError):
        store_upload(ws, "x.txt", "not bytes")  # type: ignore[arg-type]


def test_store_uploads_replaces_only_uploads(make_workspace: Callable[..., Any]) -> None:
    ws = make_workspace()
    values = {"data": {"filename": "f.txt", "content": b"hi"}, "other": "/kept/path", "title": "t"}
    out = store_uploads(ws, values, ["data", "other"])
    assert Path(out["data"]).read_bytes() == b"hi"
    assert out["other"] == "/kept/path" and out["title"] == "t"
    assert values["data"]["content"] == b"hi"   # the input is not changed


def test_rest_upload_gives_a_path_a_run_accepts(make_workspace: Callable[..., Any]) -> None:
    from fastapi.testclient import TestClient

    from studio.server import build_web_app

    ws = make_workspace({"report": {"parameters.json": REPORT_FIELDS, "report.ipynb": REPORT_NB}})
    client = TestClient(build_web_app(ws))
    answer = client.post("/api/services/demo/report/uploads",
                         files={"file": ("../q3 sales.csv", b"region\nnorth\n", "text/csv")})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["filename"] == "q3_sales.csv" and body["size"] == 13
    assert Path(body["path"]).read_bytes() == b"region\nnorth\n" and is_upload(ws, body["path"])
    execution = runs.start(ws, ws.service("demo/report"), {"title": "t", "data": body["path"]})
    assert execution.params["data"] == body["path"]

    ws.settings.max_upload_bytes = 1000
    too_big = client.post("/api/services/demo/report/uploads", files={"file": ("big.csv", b"x" * 1001)})
    assert too_big.status_code == 413 and "at most 1,000 bytes" in too_big.json()["error"]
    assert [p.name for p in uploads_dir(ws).rglob("*") if p.is_file()] == ["q3_sales.csv"]   # nothing new kept

    missing = client.post("/api/services/demo/nothing/uploads", files={"file": ("a.txt", b"x")})
    assert missing.status_code == 404
    assert client.get("/favicon.ico").status_code == 200
