"""correlation_origin on events and executions: chains found by an indexed equality, not LIKE

Revision ID: 0002
Revises: 0001
"""
import re

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_FORM = re.compile(r"^(?P<origin>[A-Za-z0-9-]{1,60})_(?P<seq>\d{2,})$")


def _origin(correlation_id: str) -> str:
    match = _FORM.match(correlation_id)
    return match.group("origin") if match else correlation_id


def upgrade() -> None:
    for table in ("events", "executions"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("correlation_origin", sa.String(64), nullable=True))
            batch.create_index(f"ix_{table}_correlation_origin", ["correlation_origin"])
    conn = op.get_bind()
    for table, key in (("events", "seq"), ("executions", "id")):
        rows = conn.execute(sa.text(f"SELECT {key}, correlation_id FROM {table} WHERE correlation_id IS NOT NULL"))
        updates = [{"k": k, "o": _origin(c)} for k, c in rows]
        if updates:
            conn.execute(sa.text(f"UPDATE {table} SET correlation_origin = :o WHERE {key} = :k"), updates)


def downgrade() -> None:
    for table in ("events", "executions"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_correlation_origin")
            batch.drop_column("correlation_origin")
