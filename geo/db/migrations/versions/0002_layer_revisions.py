"""Layer revisions for in-memory indexes, soft delete of incidents, responders' updated_at.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LAYERS = ("grids", "communities", "roster", "responder_locations")


# Plain ADD/DROP COLUMN (SQLite >= 3.35 has both): a batch copy of a table would drop its
# SpatiaLite geometry registration and spatial index.
def upgrade() -> None:
    revisions = op.create_table(
        "layer_revisions",
        sa.Column("layer", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("layer", name=op.f("pk_layer_revisions")),
    )
    # One row per watched kind of change, so writers only ever UPDATE (no insert races).
    op.bulk_insert(revisions, [{"layer": name, "revision": 0} for name in LAYERS])
    op.add_column("incidents", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_incidents_deleted_at"), "incidents", ["deleted_at"], unique=False)
    op.add_column("responders", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("responders", "updated_at")
    op.drop_index(op.f("ix_incidents_deleted_at"), table_name="incidents")
    op.drop_column("incidents", "deleted_at")
    op.drop_table("layer_revisions")
