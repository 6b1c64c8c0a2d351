"""Users, their roles and bearer tokens (only a hash of each token is stored)."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from geo.access.policy import Actor, needs_responder
from geo.errors import Conflict, InputError, NotAuthenticated
from geo.models import ApiToken, Responder, User, UserRole, utcnow

TOKEN_PREFIX = "wg_"
_USERNAME = re.compile(r"^[A-Za-z0-9_.\-\u4e00-\u9fff]{2,64}$")


def hash_token(secret: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def add_user(
    session: Session, username: str, role: str, responder_code: str | None = None, display_name: str | None = None
) -> User:
    if not _USERNAME.match(username):
        raise InputError(f"Username {username!r}: use 2-64 letters, digits, Chinese characters, '.', '-' or '_'")
    roles = [r.value for r in UserRole]
    if role not in roles:
        raise InputError(f"Unknown role {role!r}: use one of {', '.join(roles)}")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"A user {username!r} already exists")
    responder = None
    if responder_code:
        responder = session.scalar(select(Responder).where(Responder.code == responder_code))
        if responder is None:
            raise InputError(f"No responder with code {responder_code!r}")
    if needs_responder(role) and responder is None:
        raise InputError(f"A {role} acts for a responder: give --responder CODE (the grids it serves are theirs)")
    user = User(username=username, role=role, responder=responder, display_name=display_name or username)
    session.add(user)
    session.flush()
    return user


def issue_token(session: Session, user: User, label: str | None = None, expires_at: datetime | None = None) -> str:
    """A new token for ``user``; the secret is returned once and never stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user=user, token_hash=hash_token(secret), label=label, expires_at=expires_at))
    session.flush()
    return secret


def actor_for(user: User) -> Actor:
    grid_ids = grid_codes = None
    if needs_responder(user.role):
        grids = user.responder.grids if user.responder else []
        grid_ids = frozenset(g.id for g in grids)
        grid_codes = frozenset(g.code for g in grids)  # answers name an incident's grid by code
    return Actor(user.username, user.role, grid_ids, user.responder_id, grid_codes)


def authenticate(session: Session, secret: str, now: datetime | None = None) -> Actor:
    now = now or utcnow()
    token = session.scalar(
        select(ApiToken)
        .where(ApiToken.token_hash == hash_token(secret))
        .options(selectinload(ApiToken.user).selectinload(User.responder).selectinload(Responder.grids))
    )
    if token is None or token.revoked_at is not None or not token.user.active:
        raise NotAuthenticated("The token is not valid (unknown, revoked, or its user is disabled)")
    if token.expires_at is not None and token.expires_at <= now:
        raise NotAuthenticated("The token has expired; ask an administrator for a new one")
    return actor_for(token.user)
