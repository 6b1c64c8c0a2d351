"""Who is calling: a bearer token names a user; no token is the public."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import SessionDep
from geo.errors import NotAuthenticated
from geo.users import authenticate
from geo.workflow import PUBLIC, Actor

bearer = HTTPBearer(
    auto_error=False,
    description="A token from `wangge user add` or `wangge user token`. Without one you are the public: you may read (without personal data) and report.",
)


def get_now(request: Request) -> datetime:
    """The service's clock (tests replace it to walk through deadlines)."""
    return request.app.state.clock()


NowDep = Annotated[datetime, Depends(get_now)]


def get_actor(session: SessionDep, now: NowDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None) -> Actor:
    if credentials is None:
        return PUBLIC
    if credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("Use an Authorization: Bearer TOKEN header")
    return authenticate(session, credentials.credentials, now)


ActorDep = Annotated[Actor, Depends(get_actor)]
