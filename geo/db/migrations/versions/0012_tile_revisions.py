"""Revision counters for the layers drawn from vector tiles: a tile's ETag and the tile cache
are keyed by the revisions of the layers it shows.

Every counter starts from a random number: a database made anew (a demo loaded again into a new
file) must not repeat an older one's revisions, or browsers and the tile cache would take its
tiles for the old ones. Counters are only ever compared for equality.

Revision ID: 0012_tile_revisions
Revises: 0011_indicator_days
Create Date: 2026-11-30
"""

import secrets

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
    for name in have | set(LAYERS):
        start = secrets.randbelow(1 << 30)
        op.execute(table.update().where(table.c.layer == name).values(revision=start))


def downgrade() -> None:
    table = sa.table("layer_revisions", sa.column("layer", sa.String))
    op.execute(table.delete().where(table.c.layer.in_(LAYERS)))
