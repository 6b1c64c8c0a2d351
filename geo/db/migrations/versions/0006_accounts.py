"""Accounts: password hashes, token kinds and idle sessions, and the audit log of sign-ins.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


# Plain ADD COLUMN, as in 0003: SQLite cannot drop or alter columns without copying the table.
def user_columns() -> list[sa.Column]:
    return [
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True),
    ]


def token_columns() -> list[sa.Column]:
    return [
        sa.Column("kind", sa.String(length=16), nullable=False, server_default="api"),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    for column in user_columns():
        op.add_column("users", column)
    for column in token_columns():
        op.add_column("api_tokens", column)
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"], unique=False)
    op.create_index("ix_audit_events_username_at", "audit_events", ["username", "at"], unique=False)
    op.create_index("ix_audit_events_address_at", "audit_events", ["address", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_events_address_at", table_name="audit_events")
    op.drop_index("ix_audit_events_username_at", table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_at"), table_name="audit_events")
    op.drop_table("audit_events")
    for column in reversed(token_columns()):
        op.drop_column("api_tokens", column.name)
    for column in reversed(user_columns()):
        op.drop_column("users", column.name)
