"""Users, their roles, passwords and tokens, and the audit log of sign-ins."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geo.models.base import Base, UTCDateTime, utcnow
from geo.models.places import Responder


class UserRole(str, enum.Enum):
    admin = "admin"
    community = "community"  # 社区 staff: every grid of the community
    grid_leader = "grid_leader"
    grid_worker = "grid_worker"
    planner = "planner"
    viewer = "viewer"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    # Grid staff act for a responder; the grids it serves are the grids they may change.
    responder_id: Mapped[int | None] = mapped_column(ForeignKey("responders.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # An Argon2 hash (PHC string); None: the user signs in with tokens only.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Set with a temporary password: the first sign-in must choose a new one.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    responder: Mapped[Responder | None] = relationship()
    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")


class TokenKind(str, enum.Enum):
    api = "api"  # from `wangge user add` / `user token`: for machine clients, no expiry by default
    bearer = "bearer"  # from POST /api/v1/auth/token (OAuth2 password flow): expires
    session = "session"  # a web page's cookie: expires, and ends when idle


class ApiToken(Base):
    """A bearer token or a web session; only a SHA-256 hash of its secret is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16), default=TokenKind.api.value, server_default=TokenKind.api.value)
    # Web sessions end after this long without a request (see geo.access.signin).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="tokens")


class AuditEvent(Base):
    """One line of the audit log: sign-ins, failures, locks, sign-outs, password changes, and who
    read personal data in full. Kept at least 180 days (等保2.0 level 2); the lockouts are counted
    from it, so every server process sees the same failures."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_username_at", "username", "at"),
        Index("ix_audit_events_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    event: Mapped[str] = mapped_column(String(32))
    username: Mapped[str | None] = mapped_column(String(64))  # as typed, for failures of unknown users
    address: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(16))  # ok, failed, refused, locked
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
