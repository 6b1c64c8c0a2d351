"""Signing in and out: the OAuth2 password flow for API clients (and /docs' "Authorize"), who am
I, changing one's password, and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field

from api.auth import client_address, csrf_token_for
from api.concurrency import turns_for
from api.deps import ActorDep, NowDep, SessionDep
from api.schemas import Moment
from api.sessions import clear_session_cookies, sign_in, sign_out
from geo.access import audit, signin
from geo.access.passwords import MAX_LENGTH
from geo.access.policy import check_may_read_audit_log, check_signed_in
from geo.access.users import get_user
from geo.db.session import session_scope
from geo.errors import InputError
from geo.models import TokenKind
from geo.timezones import assume_china_time

router = APIRouter(prefix="/auth", tags=["Sign-in"])
audit_router = APIRouter(tags=["Sign-in"])


class TokenAnswer(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the token expires")
    must_change_password: bool = Field(
        False,
        description="Signed in with a temporary password: only POST /api/v1/auth/password works until it is changed",
    )


@router.post("/token", summary="Sign in (OAuth2 password flow): a bearer token that expires")
async def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenAnswer:
    grant = await sign_in(request, form.username, form.password, TokenKind.bearer)
    expires_in = round((grant.expires_at - request.app.state.clock()).total_seconds())
    return TokenAnswer(
        access_token=grant.secret, expires_in=expires_in, must_change_password=grant.user.must_change_password
    )


@router.post("/logout", status_code=204, summary="Sign out: the token or the web session stops working")
async def logout(request: Request, actor: ActorDep, now: NowDep) -> Response:
    check_signed_in(actor)
    response = Response(status_code=204)
    if getattr(request.state, "auth", None) is not None:
        await sign_out(request, now)
    clear_session_cookies(response)
    return response


@router.get("/me", summary="Who is signed in: role, responder, grids, and the page's CSRF token")
def me(request: Request, actor: ActorDep, session: SessionDep) -> dict[str, Any]:
    check_signed_in(actor)
    auth = request.state.auth
    user = get_user(session, actor.name)
    responder = user.responder
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "responder": None
        if responder is None
        else {"id": responder.id, "code": responder.code, "name": responder.name},
        "grids": sorted(actor.grid_codes or ()),
        "csrf_token": csrf_token_for(auth.secret) if auth.via_cookie else None,
        "must_change_password": auth.check.must_change_password,
        "expires_at": None if auth.check.expires_at is None else auth.check.expires_at.isoformat(),
    }


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=MAX_LENGTH)
    new_password: str = Field(min_length=1, max_length=MAX_LENGTH)


@router.post("/password", status_code=204, summary="Change your own password (other sign-ins of yours end)")
async def change_password(request: Request, body: PasswordChange, actor: ActorDep, now: NowDep) -> Response:
    check_signed_in(actor)
    await change_own_password(request, actor.name, body.current_password, body.new_password, now)
    return Response(status_code=204)


async def change_own_password(request: Request, username: str, current: str, new: str, now: datetime) -> None:
    """Shared with the sign-in page: a wrong current password is written to the audit log, then
    refused."""
    auth = request.state.auth

    def write() -> bool:
        with session_scope(request.app.state.engine, write=True) as session:
            # Locked: two changes sent at once must not both pass the check of the current password.
            user = get_user(session, username, for_update=True)
            return signin.change_password(
                session, user, current, new, client_address(request), now, keep_token_id=auth.check.token_id
            )

    async with turns_for(request.app).turn(write=True):
        changed = await run_in_threadpool(write)
    if not changed:
        raise InputError("The current password is wrong")


@audit_router.get("/audit", summary="The audit log, newest first (administrators)")
def audit_log(
    actor: ActorDep,
    session: SessionDep,
    user: Annotated[str | None, Query(max_length=64, description="Only this username")] = None,
    event: Annotated[
        str | None, Query(max_length=32, description="sign_in, sign_out, lock, password_changed, personal_data_read")
    ] = None,
    since: Annotated[Moment | None, Query(description="At or after; ISO 8601, +08:00 if no zone")] = None,
    until: Annotated[Moment | None, Query(description="... and before")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    check_may_read_audit_log(actor)
    rows = audit.events(
        session,
        username=user,
        event=event,
        since=None if since is None else assume_china_time(since),
        until=None if until is None else assume_china_time(until),
        limit=limit,
    )
    return {
        "events": [
            {
                "at": r.at.isoformat(),
                "event": r.event,
                "username": r.username,
                "address": r.address,
                "result": r.result,
                "detail": r.detail,
            }
            for r in rows
        ]
    }
