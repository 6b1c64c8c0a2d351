"""Who is calling: a bearer token names a user; no token is the public."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from geo.db import session_scope
from geo.errors import NotAuthenticated
from geo.users import authenticate
from geo.workflow import PUBLIC, Actor

bearer = HTTPBearer(
    auto_error=False,
    description="A token from `wangge user add` or `wangge user token`. Without one you are the public: you may read (without personal data) and report.",
)


async def get_now(request: Request) -> datetime:
    """The service's clock (tests replace it to walk through deadlines)."""
    return request.app.state.clock()


NowDep = Annotated[datetime, Depends(get_now)]


async def get_actor(request: Request, now: NowDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None) -> Actor:
    if credentials is None:
        return PUBLIC  # the public costs no database work
    if credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("Use an Authorization: Bearer TOKEN header")
    return await run_in_threadpool(_authenticate, request.app.state.engine, credentials.credentials, now)


async def actor_from_header(request: Request) -> Actor:
    """The caller from the Authorization header, without the dependency machinery."""
    header = request.headers.get("authorization")
    if not header:
        return PUBLIC
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise NotAuthenticated("Use an Authorization: Bearer TOKEN header")
    return await run_in_threadpool(_authenticate, request.app.state.engine, secret.strip(), request.app.state.clock())


def _authenticate(engine, secret: str, now: datetime) -> Actor:
    with session_scope(engine) as session:
        return authenticate(session, secret, now)


ActorDep = Annotated[Actor, Depends(get_actor)]
