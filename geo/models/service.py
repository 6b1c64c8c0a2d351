"""The service's own bookkeeping: revision counters and remembered answers to idempotent writes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from geo.models.base import Base, UTCDateTime, utcnow


class LayerRevision(Base):
    """A counter per kind of change, bumped in the writing transaction.

    Processes holding in-memory indexes (grids, responders) compare these counters to know
    when to rebuild, whichever process made the change.
    """

    __tablename__ = "layer_revisions"

    layer: Mapped[str] = mapped_column(String(32), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)


class IdempotencyKey(Base):
    """The answer to a write sent with an ``Idempotency-Key`` header, kept so that a retry of
    the same request gets the same answer and changes nothing twice.

    Written in the same transaction as the change itself: either both are stored or neither.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("caller", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Keys are the caller's own: a user id, or "public" for requests without a token.
    caller: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of method, path and body: the same key with another request is refused (409).
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
