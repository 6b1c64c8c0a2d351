"""Idempotent writes: a retried request with the same key changes nothing twice.

A phone on a weak signal sends a report, loses the answer, and sends it again with the same
``Idempotency-Key``. The first request stores its change and its answer in one transaction; the
retry finds the answer and gets it again, unchanged. Keys belong to their caller, and are kept
for ``idempotency_ttl_s`` (24 hours by default).

The key's row is written first, before the change itself: a concurrent request with the same key
waits on the unique index (PostgreSQL) or on the write lock (SQLite) until the first one has
committed or rolled back, and then replays its answer or does the work itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.errors import Conflict, InputError
from geo.models import IdempotencyKey

MAX_KEY_CHARS = 255


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    body: str
    headers: dict[str, str]


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests "the same": method, path (with query) and body bytes."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_CHARS or not key.isprintable():
        raise InputError(f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable characters (a UUID is best)")
    return key


def _find(session: Session, caller: str, key: str) -> IdempotencyKey | None:
    return session.scalar(select(IdempotencyKey).where(IdempotencyKey.caller == caller, IdempotencyKey.key == key))


def _answer_of(row: IdempotencyKey, fingerprint: str) -> StoredAnswer:
    if row.request_hash != fingerprint:
        raise Conflict("This Idempotency-Key was already used for a different request; use a new key for a new request")
    return StoredAnswer(row.status_code, row.body, dict(row.headers or {}))


def reserve(
    session: Session, caller: str, key: str, fingerprint: str, now: datetime, ttl_s: float
) -> IdempotencyKey | StoredAnswer:
    """The stored answer of an earlier request with this key, or a new row (flushed, in the
    caller's transaction) to be filled in with :func:`remember` once the change is made.

    Raises Conflict when the key was used for another request.
    """
    row = _find(session, caller, key)
    if row is not None and row.created_at < now - timedelta(seconds=ttl_s):
        session.delete(row)  # expired: the key may be used afresh
        session.flush()
        row = None
    if row is not None:
        return _answer_of(row, fingerprint)
    row = IdempotencyKey(
        caller=caller, key=key, request_hash=fingerprint, status_code=0, body="", headers={}, created_at=now
    )
    session.add(row)
    try:
        session.flush()  # PostgreSQL: waits here while another request holds the same key
    except IntegrityError:
        # That request committed first: this transaction has done nothing yet, so start over
        # and answer as it did.
        session.rollback()
        row = _find(session, caller, key)
        if row is None:  # pragma: no cover - it committed, so its row is there
            raise
        return _answer_of(row, fingerprint)
    return row


def remember(session: Session, row: IdempotencyKey, status_code: int, body: str, headers: dict[str, str]) -> None:
    """Store the answer with the change, in the same transaction."""
    row.status_code = status_code
    row.body = body
    row.headers = headers
    session.flush()


def purge_expired(session: Session, now: datetime, ttl_s: float) -> int:
    # A DELETE's result is a CursorResult, which counts the rows.
    result = cast(
        CursorResult[Any],
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - timedelta(seconds=ttl_s))),
    )
    return result.rowcount or 0
