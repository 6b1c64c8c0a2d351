"""Stand-in for the timeline's indicator columns (replaced by the real 0009_governance).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("incident_history", sa.Column("step", sa.String(16), nullable=True))
    op.add_column("incident_history", sa.Column("kind", sa.String(32), nullable=True))
    op.add_column("incident_history", sa.Column("category", sa.String(64), nullable=True))
    op.add_column("incident_history", sa.Column("grid_id", sa.Integer(), nullable=True))
    op.add_column("incident_history", sa.Column("assignee_id", sa.Integer(), nullable=True))
    op.add_column("incident_history", sa.Column("responder_id", sa.Integer(), nullable=True))
    op.add_column("incident_history", sa.Column("department", sa.String(100), nullable=True))
    op.add_column("incident_history", sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("incident_history", sa.Column("on_time", sa.Boolean(), nullable=True))
    op.add_column("incident_history", sa.Column("work_hours", sa.Float(), nullable=True))


def downgrade() -> None:
    pass
