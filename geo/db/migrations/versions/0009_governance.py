"""Governance by GB/T 30428: the catalogue in versions, components (部件), the incident's time
limit, suspension, re-work, checker and supervision, and the timeline's indicator columns.

Revision ID: 0009_governance
Revises: 0008
Create Date: 2026-11-30
"""

import json
from typing import Any

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0009_governance"
down_revision = "0008"
branch_labels = None
depends_on = None

_INCIDENT_COLUMNS: tuple[tuple[str, str, sa.types.TypeEngine], ...] = (
    ("time_limit", "FLOAT", sa.Float()),
    ("time_unit", "VARCHAR(32)", sa.String(32)),
    ("handling_due_at", "DATETIME", sa.DateTime(timezone=True)),
    ("suspended_at", "DATETIME", sa.DateTime(timezone=True)),
)
_INCIDENT_REFERENCES = (
    ("catalogue_entry_id", "catalogue_entries", None),
    ("checker_id", "responders", "SET NULL"),
    ("component_id", "components", "SET NULL"),
)
_HISTORY_COLUMNS: tuple[tuple[str, sa.types.TypeEngine], ...] = (
    ("step", sa.String(16)),
    ("kind", sa.String(32)),
    ("category", sa.String(64)),
    ("grid_id", sa.Integer()),
    ("assignee_id", sa.Integer()),
    ("responder_id", sa.Integer()),
    ("department", sa.String(100)),
    ("due_at", sa.DateTime(timezone=True)),
    ("on_time", sa.Boolean()),
    ("work_hours", sa.Float()),
)

# The step each action of the workflows before this revision means, for the rows written then.
_STEPS: dict[str, str] = {
    "report": "report",
    "import": "report",
    "create": "report",
    "register": "register",
    "confirm": "register",
    "verify": "register",
    "consult": "register",
    "reject": "reject",
    "merge": "merge",
    "dispatch": "dispatch",
    "rectify": "dispatch",
    "serve_notice": "dispatch",
    "start_construction": "dispatch",
    "handle": "handle",
    "report_rectified": "handle",
    "return": "rework",
    "reinspect_failed": "rework",
    "close": "close",
    "reinspect": "close",
    "demolish": "close",
    "legalise": "close",
    "complete": "close",
    "evaluate": "evaluate",
}


def _geometry(kind: str) -> Geometry:
    return Geometry(
        geometry_type=kind,
        srid=4326,
        dimension=2,
        spatial_index=False,
        from_text="ST_GeomFromEWKT",
        name="geometry",
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "catalogue_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(length=100), nullable=False),
        sa.Column("replaced", sa.JSON(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_versions")),
        sa.UniqueConstraint("number", name=op.f("uq_catalogue_versions_number")),
    )
    op.create_index(op.f("ix_catalogue_versions_is_current"), "catalogue_versions", ["is_current"], unique=False)
    op.create_table(
        "catalogue_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=16), nullable=False),
        sa.Column("major_code", sa.String(length=2), nullable=False),
        sa.Column("major_name", sa.String(length=100), nullable=False),
        sa.Column("minor_code", sa.String(length=2), nullable=False),
        sa.Column("minor_name", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("condition_no", sa.Integer(), nullable=False),
        sa.Column("register_condition", sa.Text(), nullable=True),
        sa.Column("time_limit", sa.Float(), nullable=False),
        sa.Column("time_unit", sa.String(length=32), nullable=False),
        sa.Column("close_condition", sa.Text(), nullable=True),
        sa.Column("department", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["version_id"], ["catalogue_versions.id"], name=op.f("fk_catalogue_entries_version_id_catalogue_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_entries")),
        sa.UniqueConstraint("version_id", "category", "condition_no", name=op.f("uq_catalogue_entries_version_id")),
    )
    op.create_index(op.f("ix_catalogue_entries_version_id"), "catalogue_entries", ["version_id"], unique=False)
    op.create_index(op.f("ix_catalogue_entries_category"), "catalogue_entries", ["category"], unique=False)

    op.create_geospatial_table(
        "components",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("accuracy", sa.String(length=8), nullable=True),
        sa.Column("department", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("geom", _geometry("POINT"), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grids.id"], name=op.f("fk_components_grid_id_grids"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_components")),
        sa.UniqueConstraint("code", name=op.f("uq_components_code")),
    )
    with op.batch_alter_table("components", schema=None) as batch_op:
        batch_op.create_geospatial_index(
            "idx_components_geom", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
        )
        batch_op.create_index(batch_op.f("ix_components_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_components_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_components_grid_id"), ["grid_id"], unique=False)

    # Plain ADD COLUMN, as in 0007 and 0008: no batch copy of a spatial table. SQLite takes a
    # reference only inside the column's definition, which alembic does not write for it.
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, _sql_type, type_ in _INCIDENT_COLUMNS:
        op.add_column("incidents", sa.Column(name, type_, nullable=True))
    for name in ("rework_count", "supervision_count"):
        op.add_column("incidents", sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    for name, table, ondelete in _INCIDENT_REFERENCES:
        if sqlite:
            on_delete = f" ON DELETE {ondelete}" if ondelete else ""
            op.execute(f"ALTER TABLE incidents ADD COLUMN {name} INTEGER REFERENCES {table} (id){on_delete}")
        else:
            op.add_column(
                "incidents",
                sa.Column(
                    name,
                    sa.Integer(),
                    sa.ForeignKey(f"{table}.id", name=f"fk_incidents_{name}_{table}", ondelete=ondelete),
                    nullable=True,
                ),
            )
        op.create_index(op.f(f"ix_incidents_{name}"), "incidents", [name], unique=False)

    for name, type_ in _HISTORY_COLUMNS:
        op.add_column("incident_history", sa.Column(name, type_, nullable=True))
    op.create_index(op.f("ix_incident_history_at"), "incident_history", ["at"], unique=False)
    _backfill_history()


def _backfill_history() -> None:
    """The rows written before this revision get their step and the incident's kind, category,
    grid and assignee as they are now (the best that is known of them). The append-only guard
    is lifted for this one statement set and put back."""
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.execute("ALTER TABLE incident_history DISABLE TRIGGER incident_history_append_only")
    else:
        op.execute("DROP TRIGGER IF EXISTS incident_history_no_update")
    op.execute(
        "UPDATE incident_history SET "
        + ", ".join(
            f"{column} = (SELECT i.{column} FROM incidents i WHERE i.id = incident_history.incident_id)"
            for column in ("kind", "category", "grid_id", "assignee_id")
        )
    )
    rows = bind.execute(sa.text("SELECT id, action, changes FROM incident_history")).all()
    steps = []
    for row_id, action, changes in rows:
        step: str | None
        if action == "escalate":
            detail: Any = json.loads(changes) if isinstance(changes, str) else changes or {}
            step = "overdue" if detail.get("level") == 1 else None
        else:
            step = _STEPS.get(str(action))
        if step is not None:
            steps.append({"id": row_id, "step": step})
    if steps:
        bind.execute(sa.text("UPDATE incident_history SET step = :step WHERE id = :id"), steps)
    if postgres:
        op.execute("ALTER TABLE incident_history ENABLE TRIGGER incident_history_append_only")
    else:
        op.execute(
            "CREATE TRIGGER incident_history_no_update BEFORE UPDATE ON incident_history "
            "BEGIN SELECT RAISE(ABORT, 'incident_history is append-only'); END"
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_incident_history_at"), table_name="incident_history")
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, _type in reversed(_HISTORY_COLUMNS):
        op.drop_column("incident_history", name)
    for name, table, _ondelete in reversed(_INCIDENT_REFERENCES):
        op.drop_index(op.f(f"ix_incidents_{name}"), table_name="incidents")
        if not sqlite:
            op.drop_constraint(f"fk_incidents_{name}_{table}", "incidents", type_="foreignkey")
        op.drop_column("incidents", name)
    for name in ("supervision_count", "rework_count"):
        op.drop_column("incidents", name)
    for name, _sql_type, _type in reversed(_INCIDENT_COLUMNS):
        op.drop_column("incidents", name)
    with op.batch_alter_table("components", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_components_grid_id"))
        batch_op.drop_index(batch_op.f("ix_components_state"))
        batch_op.drop_index(batch_op.f("ix_components_category"))
        batch_op.drop_geospatial_index("idx_components_geom", postgresql_using="gist", column_name="geom")
    op.drop_geospatial_table("components")
    op.drop_index(op.f("ix_catalogue_entries_category"), table_name="catalogue_entries")
    op.drop_index(op.f("ix_catalogue_entries_version_id"), table_name="catalogue_entries")
    op.drop_table("catalogue_entries")
    op.drop_index(op.f("ix_catalogue_versions_is_current"), table_name="catalogue_versions")
    op.drop_table("catalogue_versions")
