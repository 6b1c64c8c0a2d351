"""Users, their roles, passwords and tokens (only a hash of each token is stored)."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from geo.access.passwords import check_password_policy, hash_password
from geo.access.policy import Actor, needs_responder
from geo.errors import Conflict, InputError, NotAuthenticated, NotFound
from geo.models import ApiToken, Responder, TokenKind, User, UserRole, utcnow
from geo.settings import get_settings

TOKEN_PREFIX = "wg_"
_USERNAME = re.compile(r"^[A-Za-z0-9_.\-\u4e00-\u9fff]{2,64}$")
# A web session's last use is written at most this often (not on every request).
TOUCH_EVERY = timedelta(seconds=60)


def hash_token(secret: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def add_user(
    session: Session,
    username: str,
    role: str,
    responder_code: str | None = None,
    display_name: str | None = None,
    password: str | None = None,
    temporary: bool = False,
) -> User:
    """A new user; with ``password`` it may sign in (``temporary``: it must choose a new one at
    its first sign-in), without one it uses tokens only."""
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
    if password is not None:
        set_password(session, user, password, temporary=temporary)
    session.add(user)
    session.flush()
    return user


def temporary_password(username: str = "") -> str:
    """A random password that meets the policy (for ``username``: a short name could turn up in
    it by chance), for an administrator to hand over once."""
    alphabet = string.ascii_letters + string.digits
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(12)) + secrets.choice("-_.!@#%")
        if any(c.islower() for c in candidate) and any(c.isupper() for c in candidate):
            if not username or username.lower() not in candidate.lower():
                return candidate


def set_password(
    session: Session,
    user: User,
    password: str,
    temporary: bool = False,
    now: datetime | None = None,
    keep_token_id: int | None = None,
) -> None:
    """Check ``password`` against the policy and store its hash. A new password ends the user's
    web sessions and signed-in tokens elsewhere (but ``keep_token_id``, the one changing it; their
    `wangge user` tokens stay)."""
    check_password_policy(user.username, password)
    user.password_hash = hash_password(password)
    user.must_change_password = temporary
    user.password_changed_at = now or utcnow()
    if user.id is not None:
        signed_in = (TokenKind.bearer.value, TokenKind.session.value)
        revoke_tokens(session, user, now or utcnow(), kinds=signed_in, keep_token_id=keep_token_id)


def get_user(session: Session, username: str, for_update: bool = False) -> User:
    """The user named ``username``; ``for_update``: its row locked until the unit of work ends
    (PostGIS; SQLite has one writer anyway), so that two changes to it cannot both pass a check."""
    query = select(User).where(User.username == username)
    user = session.scalar(query.with_for_update() if for_update else query)
    if user is None:
        raise NotFound(f"No user {username!r}")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).options(selectinload(User.responder)).order_by(User.username)))


def disable_user(session: Session, username: str, now: datetime | None = None) -> User:
    """The user can no longer sign in, and every token of theirs stops working."""
    user = get_user(session, username)
    user.active = False
    revoke_tokens(session, user, now or utcnow())
    return user


def revoke_tokens(
    session: Session,
    user: User,
    now: datetime,
    kinds: tuple[str, ...] | None = None,
    keep_token_id: int | None = None,
) -> None:
    query = update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    if kinds is not None:
        query = query.where(ApiToken.kind.in_(kinds))
    if keep_token_id is not None:
        query = query.where(ApiToken.id != keep_token_id)
    session.execute(query.values(revoked_at=now))


def issue_token(
    session: Session,
    user: User,
    label: str | None = None,
    expires_at: datetime | None = None,
    kind: TokenKind = TokenKind.api,
    now: datetime | None = None,
) -> str:
    """A new token for ``user``; the secret is returned once and never stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user=user,
            token_hash=hash_token(secret),
            label=label,
            expires_at=expires_at,
            kind=kind.value,
            created_at=now or utcnow(),
            last_used_at=now,
        )
    )
    session.flush()
    return secret


def revoke_token(session: Session, secret: str, now: datetime) -> ApiToken | None:
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if token is not None and token.revoked_at is None:
        token.revoked_at = now
    return token


def actor_for(user: User) -> Actor:
    grid_ids = grid_codes = None
    if needs_responder(user.role):
        grids = user.responder.grids if user.responder else []
        grid_ids = frozenset(g.id for g in grids)
        grid_codes = frozenset(g.code for g in grids)  # answers name an incident's grid by code
    return Actor(user.username, user.role, grid_ids, user.responder_id, grid_codes)


@dataclass(frozen=True)
class TokenCheck:
    """A valid token: who it names, and what the caller must still do about it."""

    actor: Actor
    token_id: int
    kind: str
    must_change_password: bool  # a sign-in with a temporary password: only the password may change
    needs_touch: bool  # a web session whose last use should be written (see TOUCH_EVERY)
    expires_at: datetime | None


def check_token(session: Session, secret: str, now: datetime | None = None) -> TokenCheck:
    now = now or utcnow()
    token = session.scalar(
        select(ApiToken)
        .where(ApiToken.token_hash == hash_token(secret))
        .options(selectinload(ApiToken.user).selectinload(User.responder).selectinload(Responder.grids))
    )
    if token is None or token.revoked_at is not None or not token.user.active:
        raise NotAuthenticated(
            "You are signed out (the token is unknown, revoked, or its user is disabled): sign in again"
        )
    if token.expires_at is not None and token.expires_at <= now:
        raise NotAuthenticated("Your sign-in has expired: sign in again")
    idle = timedelta(seconds=get_settings().session_idle_s)
    last = token.last_used_at or token.created_at
    if token.kind == TokenKind.session.value and last + idle <= now:
        raise NotAuthenticated(
            f"Your session ended after {round(idle.total_seconds() / 60)} minutes without use: sign in again"
        )
    return TokenCheck(
        actor=actor_for(token.user),
        token_id=token.id,
        kind=token.kind,
        must_change_password=token.kind != TokenKind.api.value and token.user.must_change_password,
        needs_touch=token.kind == TokenKind.session.value and last + TOUCH_EVERY <= now,
        expires_at=token.expires_at,
    )


def authenticate(session: Session, secret: str, now: datetime | None = None) -> Actor:
    return check_token(session, secret, now).actor


def touch_token(session: Session, token_id: int, now: datetime) -> None:
    """Note a web session's use, so that it does not end while it is being used."""
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
