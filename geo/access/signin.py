"""Signing in with a password, and the lockout of accounts and addresses that keep failing.

The failures are counted from the audit log, so every server process (and a restart) sees the
same counts. An account with ``signin_failures_allowed`` failures within ``signin_window_s``
(counted since its last successful sign-in) is locked for ``signin_lock_s``; so is a client
address with ``signin_address_failures_allowed`` failures for any accounts (one that tries many
accounts). While locked, attempts are refused without checking the password.

A sign-in is two short units of work around the password check, so that the slow Argon2 hash
never holds the database: :func:`begin_sign_in` reads, :func:`finish_sign_in` writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.access import audit
from geo.access.passwords import check_password_policy, dummy_verify, verify_password
from geo.access.users import issue_token, set_password
from geo.errors import InputError, Locked
from geo.models import AuditEvent, TokenKind, User
from geo.settings import get_settings

WRONG = "Wrong username or password"


@dataclass(frozen=True)
class Attempt:
    username: str
    address: str
    password_hash: str | None  # None: no such user (or no password): the check still costs the same


@dataclass(frozen=True)
class Grant:
    secret: str
    expires_at: datetime
    user: User


def _locked_until(session: Session, now: datetime, username: str | None = None, address: str | None = None):
    """When the lock of an account (``username``) or of an address (``address``) ends; None:
    not locked. An address's lock names no user."""
    lock_s = timedelta(seconds=get_settings().signin_lock_s)
    who = AuditEvent.username == username if username is not None else AuditEvent.username.is_(None)
    query = select(func.max(AuditEvent.at)).where(AuditEvent.event == audit.LOCK, who, AuditEvent.at > now - lock_s)
    if username is None:
        query = query.where(AuditEvent.address == address)
    last_lock = session.scalar(query)
    return None if last_lock is None else last_lock + lock_s


def check_not_locked(session: Session, username: str, address: str, now: datetime) -> None:
    """Raise :class:`Locked` with when to try again if the account or the address is locked."""
    for until, what in (
        (_locked_until(session, now, username=username), "This account is locked after too many wrong passwords"),
        (_locked_until(session, now, address=address), "Too many wrong passwords from this address"),
    ):
        if until is not None:
            wait = max(1, math.ceil((until - now).total_seconds()))
            raise Locked(f"{what}: try again in {math.ceil(wait / 60)} minutes", retry_after_s=wait)


def begin_sign_in(session: Session, username: str, address: str, now: datetime) -> Attempt:
    """Read what the password check needs; raises :class:`Locked` (write the refusal with
    :func:`record_refused`)."""
    check_not_locked(session, username, address, now)
    user = session.scalar(select(User).where(User.username == username))
    usable = user is not None and user.active
    return Attempt(username, address, user.password_hash if usable and user else None)


def check_password(attempt: Attempt, password: str) -> bool:
    """The slow part, with no database: Argon2."""
    if attempt.password_hash is None:
        dummy_verify()
        return False
    return verify_password(password, attempt.password_hash)


def record_refused(session: Session, username: str, address: str, now: datetime, reason: str) -> None:
    audit.record(session, audit.SIGN_IN, audit.REFUSED, now, username, address, {"reason": reason})


def _failures_since(session: Session, column, value: str, since: datetime) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.event == audit.SIGN_IN,
                AuditEvent.result == audit.FAILED,
                column == value,
                AuditEvent.at >= since,
            )
        )
        or 0
    )


def _last_success(session: Session, username: str) -> datetime | None:
    return session.scalar(
        select(func.max(AuditEvent.at)).where(
            AuditEvent.event == audit.SIGN_IN, AuditEvent.result == audit.OK, AuditEvent.username == username
        )
    )


def _lock_if_needed(session: Session, attempt: Attempt, now: datetime) -> None:
    settings = get_settings()
    window_start = now - timedelta(seconds=settings.signin_window_s)
    since = max(window_start, _last_success(session, attempt.username) or window_start)
    failures = _failures_since(session, AuditEvent.username, attempt.username, since)
    if failures >= settings.signin_failures_allowed and _locked_until(session, now, username=attempt.username) is None:
        audit.record(
            session,
            audit.LOCK,
            audit.LOCKED,
            now,
            attempt.username,
            attempt.address,
            {"scope": "account", "failures": failures},
        )
    failures = _failures_since(session, AuditEvent.address, attempt.address, window_start)
    if (
        failures >= settings.signin_address_failures_allowed
        and _locked_until(session, now, address=attempt.address) is None
    ):
        audit.record(
            session, audit.LOCK, audit.LOCKED, now, None, attempt.address, {"scope": "address", "failures": failures}
        )


def finish_sign_in(
    session: Session, attempt: Attempt, ok: bool, now: datetime, kind: TokenKind, label: str | None = None
) -> Grant | None:
    """Write the outcome: a failure (and a lock when it is one too many) returns None, for the
    caller to refuse after this unit of work has committed (the failure must stay in the log);
    a success issues a token of ``kind``."""
    # Another process may have locked it while the password was being checked.
    user = session.scalar(select(User).where(User.username == attempt.username)) if ok else None
    if user is None or not user.active:
        audit.record(session, audit.SIGN_IN, audit.FAILED, now, attempt.username, attempt.address)
        session.flush()
        _lock_if_needed(session, attempt, now)
        return None
    audit.record(session, audit.SIGN_IN, audit.OK, now, user.username, attempt.address, {"kind": kind.value})
    expires_at = now + timedelta(seconds=get_settings().token_ttl_s)
    secret = issue_token(
        session, user, label=label or f"signed in ({kind.value})", expires_at=expires_at, kind=kind, now=now
    )
    return Grant(secret, expires_at, user)


def sign_out(session: Session, username: str, address: str, now: datetime, token_kind: str) -> None:
    audit.record(session, audit.SIGN_OUT, audit.OK, now, username, address, {"kind": token_kind})


def change_password(
    session: Session, user: User, current: str, new: str, address: str, now: datetime, keep_token_id: int | None = None
) -> bool:
    """The user's own change: the current password first (False when it is wrong: recorded, for
    the caller to refuse after committing), then the policy; the new one must differ."""
    if not verify_password(current, user.password_hash):
        audit.record(session, audit.PASSWORD, audit.FAILED, now, user.username, address)
        return False
    if current == new:
        raise InputError("Choose a new password, not the current one")
    check_password_policy(user.username, new)
    set_password(session, user, new, temporary=False, now=now, keep_token_id=keep_token_id)
    audit.record(session, audit.PASSWORD, audit.OK, now, user.username, address)
    return True
