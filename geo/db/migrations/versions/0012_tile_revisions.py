"""Revision counters for the layers drawn from vector tiles: a tile's ETag and the tile cache
are keyed by the revisions of the layers it shows.

Revision ID: 0012_tile_revisions
Revises: 0011_indicator_days
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_tile_revisions"
down_revision = "0011_indicator_days"
branch_labels = None
depends_on = None

LAYERS = ("estates", "buildings", "incidents", "components")


def upgrade() -> None:
    table = sa.table("layer_revisions", sa.column("layer", sa.String), sa.column("revision", sa.Integer))
    conn = op.get_bind()
    have: set[str] = set(conn.execute(sa.select(table.c.layer)).scalars())
    # One row per counter, so writers only ever UPDATE (no insert races).
    rows = [{"layer": name, "revision": 0} for name in LAYERS if name not in have]
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    table = sa.table("layer_revisions", sa.column("layer", sa.String))
    op.execute(table.delete().where(table.c.layer.in_(LAYERS)))
