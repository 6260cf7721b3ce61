"""Secrets: encrypted at rest, scoped lookup, rotation, and never in any output."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from studio import runs
from studio.catalog.models import Secret
from studio.errors import NotFound
from tests.conftest import notebook, run_now

SECRET = "hunter2-very-secret-value"


def test_encrypted_at_rest_and_scoped_lookup(make_workspace):
    ws = make_workspace({"svc": {"a.py": "print(1)\n"}})
    ws.secrets.set("token", SECRET, "platform")
    ws.secrets.set("token", "project-" + SECRET, "project", project="demo")
    assert ws.secrets.get("token", "demo", "svc") == "project-" + SECRET
    ws.secrets.set("token", "service-" + SECRET, "service", project="demo", service="svc")
    assert ws.secrets.get("token", "demo", "svc") == "service-" + SECRET
    assert ws.secrets.get("absent", "demo", "svc") is None
    with ws.catalog.session() as s:
        for row in s.scalars(select(Secret)):
            assert SECRET.encode() not in row.ciphertext
    names = ws.secrets.names()
    assert {n["name"] for n in names} == {"token"} and all("value" not in n for n in names)


def test_rotation_keeps_secrets_readable(make_workspace):
    from studio.secrets import SecretStore, load_keys, rotate_key_file

    ws = make_workspace({"svc": {"a.py": "print(1)\n"}})
    ws.secrets.set("db", {"url": "sqlite://", "password": SECRET}, "project", project="demo")
    old_keys = load_keys(ws.settings)
    assert rotate_key_file(ws.settings, ws.catalog) == 1
    new_keys = load_keys(ws.settings)
    assert len(new_keys) == 2 and new_keys[1] == old_keys[0]
    assert SecretStore(ws.catalog, new_keys[:1]).get("db", "demo", "svc")["password"] == SECRET


def test_delete_unknown_secret_names_it_and_keeps_others(make_workspace):
    ws = make_workspace({"svc": {"a.py": "print(1)\n"}})
    ws.secrets.set("keep", "v-keep", "platform")
    with pytest.raises(NotFound, match="nope"):
        ws.secrets.delete("nope", "platform")
    assert ws.secrets.get("keep", "demo", "svc") == "v-keep"


def test_secrets_never_reach_outputs_logs_or_events(make_workspace):
    ws = make_workspace({"leaky": {"leaky.ipynb": notebook(
        "from studio import context\n"
        "token = context.secrets.get('api')\n"
        "print('token is', token)\n"
        "context.log.info(f'using {token}')\n"
        "context.events.send('leak.try', {'token': token})\n"
        "context.secrets.set('minted', 'minted-' + token, scope='project')\n"
        "print(context.secrets.get('minted'))\n"
        "print('missing is', context.secrets.get('missing'))\n"
        "token",
    )}})
    ws.secrets.set("api", SECRET, "project", project="demo")
    final = run_now(ws, "leaky")
    assert final.status == "completed", final.error
    out = Path(final.output)
    for file in out.rglob("*"):
        if file.is_file():
            assert SECRET not in file.read_text(errors="replace"), file
    logs = [r.message for r in runs.logs(ws.catalog, final.id)]
    assert not any(SECRET in m for m in logs)
    assert any("missing is None" in m for m in logs)
    event = runs.emitted_events(ws.catalog, final.id)[0]
    assert SECRET not in str(event.data)
    assert ws.secrets.get("minted", "demo", "leaky") == "minted-" + SECRET
    assert SECRET not in str(runs.execution_dict(ws.catalog, final))


def test_context_db_uses_a_secret_connection(make_workspace, tmp_path):
    db = tmp_path / "wh.db"
    ws = make_workspace({"dbuser": {"a.py": (
        "from studio import context\nfrom sqlalchemy import text\n"
        "with context.db('wh').begin() as c:\n"
        "    c.execute(text('create table if not exists t (x int)'))\n"
        "    c.execute(text('insert into t values (42)'))\n"
        "    print('rows', c.execute(text('select count(*) from t')).scalar())\n"
    )}})
    ws.secrets.set("wh", f"sqlite:///{db}", "project", project="demo")
    final = run_now(ws, "dbuser")
    assert final.status == "completed", final.error
    assert any("rows 1" in r.message for r in runs.logs(ws.catalog, final.id))
