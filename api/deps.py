"""FastAPI dependencies: the caller, the clock, the unit of work, coordinate systems, points,
filters, paging and path ids."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, cast

from fastapi import Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.auth import SESSION_COOKIE, actor_of_request, bearer, oauth2
from api.concurrency import turns_for
from api.params import MAX_OFFSET, CRSName, LonLat, parse_bbox
from api.schemas import MAX_ID, Moment
from geo.access.policy import PUBLIC, Actor
from geo.db.session import ReadSession, session_factory
from geo.errors import NotAuthenticated
from geo.query.filters import Filters
from geo.spatial.crs import CoordinateSystem, parse_crs
from geo.timezones import assume_china_time


async def get_now(request: Request) -> datetime:
    """The service's clock (tests replace it to walk through deadlines)."""
    return request.app.state.clock()


NowDep = Annotated[datetime, Depends(get_now)]


async def get_actor(
    request: Request,
    now: NowDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
    _signed_in: Annotated[str | None, Depends(oauth2)] = None,  # documents /docs' "Authorize" sign-in
) -> Actor:
    if credentials is not None and credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("Use an Authorization: Bearer TOKEN header")
    secret = credentials.credentials if credentials is not None else None
    if secret is None and SESSION_COOKIE not in request.cookies:
        return PUBLIC  # the public costs no database work
    return await actor_of_request(request, secret, now)


ActorDep = Annotated[Actor, Depends(get_actor)]


async def get_session(request: Request, _actor: ActorDep) -> AsyncIterator[Session]:
    """The request's unit of work: it commits before the answer is sent, or rolls back and
    stores nothing.

    The caller is known first (``_actor``: its token is checked in a turn of its own), then the
    request waits for its turn at the database on the event loop, holding neither a connection
    nor a thread; the session connects only in the endpoint's thread. Anything but a read may
    write: on SQLite it takes the write lock from the start.
    """
    write = request.method not in ("GET", "HEAD", "OPTIONS")
    async with turns_for(request.app).turn(write=write):
        session = session_factory(request.app.state.engine)()
        try:
            if write:
                await run_in_threadpool(session.connection, execution_options={"wangge_write": True})
            yield session
            await run_in_threadpool(session.commit)
        except BaseException:
            await run_in_threadpool(session.rollback)
            raise
        finally:
            await run_in_threadpool(session.close)


def read_session(engine: Engine) -> Session:
    """A :class:`ReadSession`, typed as the Session it stands in for: it answers what the caches
    ask itself and hands everything else to a real Session, opened then."""
    return cast(Session, ReadSession(engine))


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """For endpoints that only read (locate, nearest, batch locate): nothing to commit, and no
    trip through the thread pool. The session opens only if the code asks the database."""
    session = read_session(request.app.state.engine)
    try:
        yield session
    finally:
        session.close()


async def get_read_turn_session(request: Request) -> AsyncIterator[Session]:
    """For reads that are all database work (vector tiles): a turn at the database like any
    request, then a session used and closed in the endpoint's own thread, with nothing to commit
    (no hops through the thread pool to open, commit and close it)."""
    async with turns_for(request.app).turn():
        session = read_session(request.app.state.engine)
        try:
            yield session
        finally:
            session.close()


# scope="function": the unit of work commits before the response is sent. By default FastAPI runs
# the code after ``yield`` once the response has gone out, so a client could be told 200 for a
# change that then failed to commit, or read elsewhere before it was committed.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
ReadTurnSessionDep = Annotated[Session, Depends(get_read_turn_session, scope="function")]


async def get_crs(
    crs: Annotated[
        CRSName,
        Query(
            description="Coordinate system of the coordinates sent and returned: wgs84 (GPS), cgcs2000, gcj02 (Amap, Tencent), bd09 (Baidu)"
        ),
    ] = CRSName.wgs84,
) -> CoordinateSystem:
    return parse_crs(crs.value)


CRSDep = Annotated[CoordinateSystem, Depends(get_crs)]


async def get_point(
    lon: Annotated[float, Query(description="Longitude, in the coordinate system named by crs")],
    lat: Annotated[float, Query(description="Latitude, in the coordinate system named by crs")],
    crs: CRSDep,
) -> LonLat:
    return LonLat(lon, lat, crs)


PointDep = Annotated[LonLat, Depends(get_point)]


def get_filters(
    crs: CRSDep,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat in the crs")] = None,
    grid: Annotated[str | None, Query(description="Grid code")] = None,
    kind: Annotated[
        str | None, Query(description="Kind (incidents: hazard, case, illegal_structure, renovation)")
    ] = None,
    status: Annotated[str | None, Query(description="Status")] = None,
    category: Annotated[str | None, Query(description="Category")] = None,
    state: Annotated[
        str | None, Query(description="Components: intact, damaged, missing, occupied or removed (or 完好 …)")
    ] = None,
    since: Annotated[
        Moment | None,
        Query(description="Created (incidents) or located (responders) at or after; ISO 8601, +08:00 if no zone"),
    ] = None,
    until: Annotated[Moment | None, Query(description="... and before")] = None,
) -> Filters:
    return Filters(
        bbox=parse_bbox(bbox, crs),
        grid=grid,
        kind=kind,
        status=status,
        category=category,
        state=state,
        since=None if since is None else assume_china_time(since),
        until=None if until is None else assume_china_time(until),
    )


FiltersDep = Annotated[Filters, Depends(get_filters)]


def id_path(what: str):
    """A path id, range-checked so that the database is never asked about an impossible one."""
    return Annotated[int, Path(ge=1, le=MAX_ID, description=f"The {what}'s id")]


IncidentId = id_path("incident")
FeatureId = id_path("feature")


class Page:
    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=10_000, description="Features per page")] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Features to skip")] = 0,
    ):
        self.limit = limit
        self.offset = offset


PageDep = Annotated[Page, Depends(Page)]
