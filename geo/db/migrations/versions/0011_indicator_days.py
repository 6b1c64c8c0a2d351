"""The indicators' rollup of the timeline: counters per whole day and month, and the indexes
the indicators read the timeline by.

``indicator_days`` and ``indicator_days_built`` (geo/models/indicators.py). A trigger on
``incident_history`` removes the marks of the days (and their months) that newly appended rows
fall in, so that a rollup never misses a row written into the past (an import); on PostgreSQL it
takes a shared advisory lock per day and month first, which the builder of that day or month
takes exclusively (geo/indicators/rollup.py), so a build and such a write never cross.

Revision ID: 0011_indicator_days
Revises: 0010_default_catalogue
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_indicator_days"
down_revision = "0010_default_catalogue"
branch_labels = None
depends_on = None

COUNTERS = (
    "reports",
    "registered",
    "rejected",
    "merged",
    "handled",
    "handle_timed",
    "handled_on_time",
    "reworks",
    "closed",
    "closed_on_time",
    "verify_timed",
    "verified_on_time",
    "check_timed",
    "checked_on_time",
    "supervised",
    "overdue",
    "work_hours_n",
)

# Advisory lock classes (the first key); the second is the day's number since 2000-01-01, or
# its month's first day's. Kept in step with geo/indicators/rollup.py.
DAY_LOCK, MONTH_LOCK = 30428, 30429

_PG_FUNCTION = f"""
CREATE FUNCTION indicator_days_invalidate() RETURNS trigger AS $$
DECLARE d date;
BEGIN
    FOR d IN SELECT DISTINCT ((at AT TIME ZONE 'UTC') + interval '8 hours')::date FROM indicator_new_rows ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock_shared({DAY_LOCK}, d - date '2000-01-01');
        PERFORM pg_advisory_xact_lock_shared({MONTH_LOCK}, date_trunc('month', d)::date - date '2000-01-01');
        DELETE FROM indicator_days_built
        WHERE (span = 'd' AND day = d) OR (span = 'm' AND day = date_trunc('month', d)::date);
    END LOOP;
    RETURN NULL;
END; $$ LANGUAGE plpgsql
"""

_SQLITE_TRIGGER = """
CREATE TRIGGER incident_history_indicator_days AFTER INSERT ON incident_history
BEGIN
    DELETE FROM indicator_days_built
    WHERE (span = 'd' AND day = date(NEW.at, '+8 hours'))
       OR (span = 'm' AND day = date(NEW.at, '+8 hours', 'start of month'));
END
"""


def upgrade() -> None:
    op.create_table(
        "indicator_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("span", sa.String(length=1), nullable=False),
        sa.Column("dim", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in COUNTERS],
        sa.Column("work_hours_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_days")),
    )
    op.create_index("ix_indicator_days_span_dim_day", "indicator_days", ["span", "dim", "day"])
    op.create_table(
        "indicator_days_built",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("span", sa.String(length=1), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", "span", name=op.f("pk_indicator_days_built")),
    )
    # The few rows the 应结案 term looks up per incident (0009 indexes the timeline by time).
    # On PostgreSQL they carry what the term groups by, so that it reads the indexes alone.
    op.create_index(
        "ix_incident_history_overdue_at",
        "incident_history",
        ["at"],
        postgresql_include=["id", "incident_id", "grid_id", "kind", "category", "department", "assignee_id"],
        postgresql_where=sa.text("step = 'overdue'"),
        sqlite_where=sa.text("step = 'overdue'"),
    )
    op.create_index(
        "ix_incident_history_overdue_incident",
        "incident_history",
        ["incident_id", "id"],
        postgresql_include=["at"],
        postgresql_where=sa.text("step = 'overdue'"),
        sqlite_where=sa.text("step = 'overdue'"),
    )
    op.create_index(
        "ix_incident_history_ends",
        "incident_history",
        ["incident_id", "at"],
        postgresql_where=sa.text("step IN ('close', 'reject', 'merge')"),
        sqlite_where=sa.text("step IN ('close', 'reject', 'merge')"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER incident_history_indicator_days AFTER INSERT ON incident_history "
            "REFERENCING NEW TABLE AS indicator_new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION indicator_days_invalidate()"
        )
    else:
        op.execute(_SQLITE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS incident_history_indicator_days ON incident_history")
        op.execute("DROP FUNCTION IF EXISTS indicator_days_invalidate()")
    else:
        op.execute("DROP TRIGGER IF EXISTS incident_history_indicator_days")
    for name in (
        "ix_incident_history_ends",
        "ix_incident_history_overdue_incident",
        "ix_incident_history_overdue_at",
    ):
        op.drop_index(name, table_name="incident_history")
    op.drop_table("indicator_days_built")
    op.drop_index("ix_indicator_days_span_dim_day", table_name="indicator_days")
    op.drop_table("indicator_days")
