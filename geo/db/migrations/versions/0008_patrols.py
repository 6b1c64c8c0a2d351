"""Patrols: tracks, raw fixes, visits, the daily figures that outlive them, and incidents
reported on patrol.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _geometry(kind: str, nullable: bool = True) -> Geometry:
    return Geometry(
        geometry_type=kind,
        srid=4326,
        dimension=2,
        spatial_index=False,
        from_text="ST_GeomFromEWKT",
        name="geometry",
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_geospatial_table(
        "patrols",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=True),
        sa.Column("responder_id", sa.Integer(), nullable=False),
        sa.Column("started_by", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("start_geom", _geometry("POINT"), nullable=True),
        sa.Column("checked_in", sa.Boolean(), nullable=True),
        sa.Column("check_in_distance_m", sa.Float(), nullable=True),
        sa.Column("geom", _geometry("LINESTRING"), nullable=True),
        sa.Column("distance_m", sa.Float(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("in_own_grids_s", sa.Float(), nullable=False),
        sa.Column("fixes_received", sa.Integer(), nullable=False),
        sa.Column("fixes_kept", sa.Integer(), nullable=False),
        sa.Column("dropped", sa.JSON(), nullable=False),
        sa.Column("reordered", sa.Integer(), nullable=False),
        sa.Column("last_t", sa.Float(), nullable=True),
        sa.Column("last_lon", sa.Float(), nullable=True),
        sa.Column("last_lat", sa.Float(), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["responder_id"], ["responders.id"], name=op.f("fk_patrols_responder_id_responders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patrols")),
        sa.UniqueConstraint("code", name=op.f("uq_patrols_code")),
    )
    with op.batch_alter_table("patrols", schema=None) as batch_op:
        batch_op.create_geospatial_index(
            "idx_patrols_start_geom", ["start_geom"], unique=False, postgresql_using="gist", postgresql_ops={}
        )
        batch_op.create_geospatial_index(
            "idx_patrols_geom", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
        )
        batch_op.create_index(batch_op.f("ix_patrols_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_patrols_started_at"), ["started_at"], unique=False)
        batch_op.create_index("ix_patrols_responder_id_started_at", ["responder_id", "started_at"], unique=False)

    op.create_table(
        "patrol_fixes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patrol_id", sa.Integer(), nullable=False),
        sa.Column("t", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patrol_id"], ["patrols.id"], name=op.f("fk_patrol_fixes_patrol_id_patrols"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patrol_fixes")),
    )
    op.create_index("ix_patrol_fixes_patrol_id_t", "patrol_fixes", ["patrol_id", "t"], unique=False)

    op.create_table(
        "patrol_visits",
        sa.Column("patrol_id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patrol_id"], ["patrols.id"], name=op.f("fk_patrol_visits_patrol_id_patrols"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_patrol_visits_building_id_buildings"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("patrol_id", "building_id", name=op.f("pk_patrol_visits")),
    )
    op.create_index(op.f("ix_patrol_visits_building_id"), "patrol_visits", ["building_id"], unique=False)

    op.create_table(
        "building_visit_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["building_id"],
            ["buildings.id"],
            name=op.f("fk_building_visit_days_building_id_buildings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("day", "building_id", name=op.f("pk_building_visit_days")),
    )
    op.create_index(op.f("ix_building_visit_days_building_id"), "building_visit_days", ["building_id"], unique=False)

    op.create_table(
        "coverage_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("responder_id", sa.Integer(), nullable=False),
        sa.Column("patrols", sa.Integer(), nullable=False),
        sa.Column("visited", sa.Integer(), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grids.id"], name=op.f("fk_coverage_days_grid_id_grids"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["responder_id"],
            ["responders.id"],
            name=op.f("fk_coverage_days_responder_id_responders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("day", "grid_id", "responder_id", name=op.f("pk_coverage_days")),
    )

    # Plain ADD COLUMN, as in 0007: no batch copy of a spatial table. SQLite takes the reference
    # only inside the column's definition, which alembic does not write for it.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE incidents ADD COLUMN patrol_id INTEGER REFERENCES patrols (id) ON DELETE SET NULL")
    else:
        op.add_column(
            "incidents",
            sa.Column(
                "patrol_id",
                sa.Integer(),
                sa.ForeignKey("patrols.id", name="fk_incidents_patrol_id_patrols", ondelete="SET NULL"),
                nullable=True,
            ),
        )
    op.create_index(op.f("ix_incidents_patrol_id"), "incidents", ["patrol_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_incidents_patrol_id"), table_name="incidents")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("fk_incidents_patrol_id_patrols", "incidents", type_="foreignkey")
    op.drop_column("incidents", "patrol_id")
    op.drop_table("coverage_days")
    op.drop_index(op.f("ix_building_visit_days_building_id"), table_name="building_visit_days")
    op.drop_table("building_visit_days")
    op.drop_index(op.f("ix_patrol_visits_building_id"), table_name="patrol_visits")
    op.drop_table("patrol_visits")
    op.drop_index("ix_patrol_fixes_patrol_id_t", table_name="patrol_fixes")
    op.drop_table("patrol_fixes")
    with op.batch_alter_table("patrols", schema=None) as batch_op:
        batch_op.drop_index("ix_patrols_responder_id_started_at")
        batch_op.drop_index(batch_op.f("ix_patrols_started_at"))
        batch_op.drop_index(batch_op.f("ix_patrols_status"))
        batch_op.drop_geospatial_index("idx_patrols_geom", postgresql_using="gist", column_name="geom")
        batch_op.drop_geospatial_index("idx_patrols_start_geom", postgresql_using="gist", column_name="start_geom")
    op.drop_geospatial_table("patrols")
