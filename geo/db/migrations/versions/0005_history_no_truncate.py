"""The incident history refuses TRUNCATE too (PostGIS).

Row triggers (0001) refuse UPDATE and DELETE, but TRUNCATE fires no row triggers: a statement
trigger closes that gap. SQLite has no TRUNCATE, so nothing changes there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # The function from 0001 raises "incident_history is append-only".
        op.execute(
            "CREATE TRIGGER incident_history_no_truncate BEFORE TRUNCATE ON incident_history "
            "FOR EACH STATEMENT EXECUTE FUNCTION incident_history_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS incident_history_no_truncate ON incident_history")
