"""The audit log: who signed in or failed to, who was locked out, who signed out or changed a
password, and who read personal data in full. Rows are only added, and removed after the
retention period (at least 180 days, ``audit_retention_days``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from geo.models import AuditEvent
from geo.settings import get_settings

# What the log records (the ``event`` column).
SIGN_IN = "sign_in"
SIGN_OUT = "sign_out"
LOCK = "lock"
PASSWORD = "password_changed"
PERSONAL_DATA_READ = "personal_data_read"

# Results.
OK = "ok"
FAILED = "failed"
REFUSED = "refused"  # not even checked: the account or address was locked
LOCKED = "locked"


def record(
    session: Session,
    event: str,
    result: str,
    at: datetime,
    username: str | None = None,
    address: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    row = AuditEvent(
        event=event, result=result, at=at, username=username and username[:64], address=address, detail=detail or {}
    )
    session.add(row)
    return row


def events(
    session: Session,
    username: str | None = None,
    event: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
) -> list[AuditEvent]:
    """The newest first."""
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    if username is not None:
        query = query.where(AuditEvent.username == username)
    if event is not None:
        query = query.where(AuditEvent.event == event)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    return list(session.scalars(query))


def last_sign_ins(session: Session) -> dict[str, datetime]:
    """Each user's last successful sign-in still in the log, by username."""
    query = (
        select(AuditEvent.username, func.max(AuditEvent.at))
        .where(AuditEvent.event == SIGN_IN, AuditEvent.result == OK, AuditEvent.username.is_not(None))
        .group_by(AuditEvent.username)
    )
    return {name: at for name, at in session.execute(query) if name is not None}


def purge_expired(session: Session, now: datetime) -> int:
    """Remove the rows older than the retention period; returns how many."""
    cutoff = now - timedelta(days=get_settings().audit_retention_days)
    result = session.execute(delete(AuditEvent).where(AuditEvent.at < cutoff))
    return getattr(result, "rowcount", 0) or 0  # a DELETE always has one; the type says Result
