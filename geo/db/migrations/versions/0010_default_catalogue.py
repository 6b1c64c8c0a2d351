"""The default catalogue (data/catalogue/default.csv) as version 1; existing incidents take the
entry of their category's first 立案条件 and its time limit.

Revision ID: 0010_default_catalogue
Revises: 0009_governance
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from geo.catalogue.default import load_default

revision = "0010_default_catalogue"
down_revision = "0009_governance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    load_default(op.get_bind())


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE incidents SET catalogue_entry_id = NULL, time_limit = NULL, time_unit = NULL"))
    bind.execute(sa.text("DELETE FROM catalogue_entries"))
    bind.execute(sa.text("DELETE FROM catalogue_versions"))
