"""Photos of incidents (their files live in the media store) and the reporter's one-time
capability to add them.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, as in 0002 and 0003: no batch copy of a spatial table.
    op.add_column("incidents", sa.Column("report_token_sha256", sa.String(length=64), nullable=True))
    op.create_table(
        "photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("position_crs", sa.String(length=8), nullable=True),
        sa.Column("position_crs_assumed", sa.Boolean(), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("far", sa.Boolean(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=100), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_photos_incident_id_incidents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photos")),
    )
    op.create_index(op.f("ix_photos_incident_id"), "photos", ["incident_id"], unique=False)
    op.create_index(op.f("ix_photos_sha256"), "photos", ["sha256"], unique=False)
    op.create_index(op.f("ix_photos_uploaded_at"), "photos", ["uploaded_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_photos_uploaded_at"), table_name="photos")
    op.drop_index(op.f("ix_photos_sha256"), table_name="photos")
    op.drop_index(op.f("ix_photos_incident_id"), table_name="photos")
    op.drop_table("photos")
    op.drop_column("incidents", "report_token_sha256")
