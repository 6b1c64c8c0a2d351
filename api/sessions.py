"""Signing in over HTTP, for the token endpoint and the sign-in page alike: the lockout check,
the password check off the database, the outcome written before any refusal, and the cookies of
a web session."""

from __future__ import annotations

from datetime import datetime

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool

from api.auth import CSRF_COOKIE, SESSION_COOKIE, client_address, csrf_token_for
from api.concurrency import turns_for
from geo.access import signin
from geo.access.users import revoke_token
from geo.db.session import session_scope
from geo.errors import Locked, NotAuthenticated
from geo.models import TokenKind
from geo.settings import get_settings


async def sign_in(request: Request, username: str, password: str, kind: TokenKind) -> signin.Grant:
    """A token of ``kind`` for a right username and password; raises :class:`Locked` (429) or
    :class:`NotAuthenticated` (401), with the attempt in the audit log either way."""
    app, now, address = request.app, request.app.state.clock(), client_address(request)
    engine = app.state.engine

    def begin() -> signin.Attempt:
        with session_scope(engine) as session:
            return signin.begin_sign_in(session, username, address, now)

    def refuse(reason: str) -> None:
        with session_scope(engine, write=True) as session:
            signin.record_refused(session, username, address, now, reason)

    def finish(attempt: signin.Attempt, ok: bool) -> signin.Grant | None:
        with session_scope(engine, write=True) as session:
            return signin.finish_sign_in(session, attempt, ok, now, kind)

    turns = turns_for(app)
    try:
        async with turns.turn():
            attempt = await run_in_threadpool(begin)
    except Locked as exc:
        async with turns.turn(write=True):
            await run_in_threadpool(refuse, str(exc))
        raise
    ok = await run_in_threadpool(signin.check_password, attempt, password)  # Argon2: no turn held
    async with turns.turn(write=True):
        grant = await run_in_threadpool(finish, attempt, ok)
    if grant is None:
        raise NotAuthenticated(signin.WRONG)
    return grant


def set_session_cookies(request: Request, response: Response, secret: str) -> None:
    """The session cookie (HttpOnly: scripts never see it) and the CSRF token the page's script
    sends back on writes (readable by the page, useless to another site)."""
    secure = request.url.scheme == "https"
    max_age = int(get_settings().token_ttl_s)
    response.set_cookie(
        SESSION_COOKIE, secret, max_age=max_age, path="/", httponly=True, samesite="strict", secure=secure
    )
    response.set_cookie(
        CSRF_COOKIE, csrf_token_for(secret), max_age=max_age, path="/", httponly=False, samesite="strict", secure=secure
    )


def clear_session_cookies(response: Response) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", samesite="strict")


async def sign_out(request: Request, now: datetime) -> None:
    """Revoke the token the request signed in with, and write it in the audit log."""
    auth = request.state.auth
    engine, address = request.app.state.engine, client_address(request)

    def write() -> None:
        with session_scope(engine, write=True) as session:
            revoke_token(session, auth.secret, now)
            signin.sign_out(session, auth.check.actor.name, address, now, auth.check.kind)

    async with turns_for(request.app).turn(write=True):
        await run_in_threadpool(write)


def safe_next(value: str | None, default: str = "/") -> str:
    """Where to go after signing in: a path on this site only (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value
