"""Reusable request dependencies: the session, coordinate systems, points, filters, paging."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session

from api.auth import ActorDep, actor_from_header
from api.concurrency import turns_for
from api.schemas import MAX_ID, Moment
from geo.spatial.coords import check_lonlat
from geo.spatial.crs import CoordinateSystem, parse_crs
from geo.db.session import ReadSession, session_factory
from geo.errors import InputError
from geo.query.filters import Filters


READ_METHODS = ("GET", "HEAD", "OPTIONS")


async def get_session(request: Request, _actor: ActorDep) -> AsyncIterator[Session]:
    """The request's unit of work: it commits before the answer is sent, or rolls back and
    stores nothing.

    The caller is known first (``_actor``: its token is checked in a turn of its own), then the
    request waits for its turn at the database on the event loop, holding neither a connection
    nor a thread; the session connects only in the endpoint's thread. Anything but a read may
    write: on SQLite it takes the write lock from the start.
    """
    write = request.method not in READ_METHODS
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


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """For endpoints that only read (locate, nearest, batch locate): nothing to commit, and no
    trip through the thread pool. The session opens only if the code asks the database."""
    session = ReadSession(request.app.state.engine)
    try:
        yield session
    finally:
        session.close()


# scope="function": the unit of work commits before the response is sent. By default FastAPI runs
# the code after ``yield`` once the response has gone out, so a client could be told 200 for a
# change that then failed to commit, or read elsewhere before it was committed.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]


class CRSName(str, Enum):
    wgs84 = "wgs84"
    cgcs2000 = "cgcs2000"
    gcj02 = "gcj02"
    bd09 = "bd09"


async def get_crs(
    crs: Annotated[
        CRSName,
        Query(description="Coordinate system of the coordinates sent and returned: wgs84 (GPS), cgcs2000, gcj02 (Amap, Tencent), bd09 (Baidu)"),
    ] = CRSName.wgs84,
) -> CoordinateSystem:
    return parse_crs(crs.value)


CRSDep = Annotated[CoordinateSystem, Depends(get_crs)]


class LonLat:
    """A point from ``lon``/``lat`` query parameters, checked and converted to WGS84."""

    def __init__(self, lon: float, lat: float, crs: CoordinateSystem):
        check_lonlat(lon, lat)
        self.given = (lon, lat)
        self.lon, self.lat = crs.point_to_wgs84(lon, lat)


async def get_point(
    lon: Annotated[float, Query(description="Longitude, in the coordinate system named by crs")],
    lat: Annotated[float, Query(description="Latitude, in the coordinate system named by crs")],
    crs: CRSDep,
) -> LonLat:
    return LonLat(lon, lat, crs)


PointDep = Annotated[LonLat, Depends(get_point)]


class LeanRoute(APIRoute):
    """A route whose endpoint takes the Request and returns a Response itself.

    For the hot lookups, which answer in microseconds: FastAPI documents the route as usual
    (its query from :func:`query_openapi`), but runs none of its per-request dependency,
    validation and serialisation machinery, which costs more than the lookup. Errors raised by
    the endpoint go to the application's exception handlers as from any route.
    """

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        return self.endpoint


def lean_get(router: APIRouter, path: str, **kwargs) -> Callable:
    """``@router.get`` for a :class:`LeanRoute` endpoint: ``async def endpoint(request) -> Response``."""

    def register(endpoint: Callable[[Request], Awaitable[Response]]):
        router.add_api_route(path, endpoint, methods=["GET"], route_class_override=LeanRoute, **kwargs)
        return endpoint

    return register


class PointQuery(BaseModel):
    """A coordinate in the query string."""

    lon: float = Field(description="Longitude, in the coordinate system named by crs")
    lat: float = Field(description="Latitude, in the coordinate system named by crs")
    crs: CRSName = Field(CRSName.wgs84, description="wgs84 (GPS), cgcs2000, gcj02 (Amap, Tencent) or bd09 (Baidu)")


def parse_query(model: type[BaseModel], request: Request) -> BaseModel:
    """Validate the query string against ``model`` in one pydantic call.

    For the hot lookups, which answer in microseconds: FastAPI's per-parameter handling costs
    more than the lookup. Errors are the same RequestValidationError, so they read the same.
    """
    try:
        return model.model_validate(_query_dict(request.scope["query_string"]))
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]) from None


def _query_dict(raw: bytes) -> dict[str, str]:
    """The query string as a dict (the last of repeated names wins, as in Starlette's
    ``dict(request.query_params)``). Plain ``name=value`` pairs, what phones and other systems
    send, are split directly; anything escaped goes through ``parse_qsl``."""
    text = raw.decode("latin-1")
    if "%" in text or "+" in text:
        return dict(parse_qsl(text, keep_blank_values=True))
    return dict(pair.partition("=")[::2] for pair in text.split("&") if pair)


def query_openapi(model: type[BaseModel]) -> dict:
    """The OpenAPI description of ``model``'s fields as query parameters, for endpoints that
    read their query with :func:`parse_query`."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    parameters = []
    for name, prop in schema["properties"].items():
        if "$ref" in prop:
            prop = {**defs[prop["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in prop.items() if k != "$ref"}}
        parameters.append({"name": name, "in": "query", "required": name in schema.get("required", ()), "description": prop.get("description", ""), "schema": prop})
    return {"parameters": parameters}


class lookup:
    """``async with lookup(request, query) as q``: everything a read-only spatial lookup needs,
    resolved in one step: ``q.point`` (checked, in WGS84), ``q.crs``, the caller ``q.actor``, and
    ``q.session``, which connects only if asked.

    Opened inside the endpoint, not as a dependency: these endpoints answer in microseconds, and
    FastAPI's dependency machinery would cost more than the lookup itself.
    """

    def __init__(self, request: Request, query: PointQuery):
        self.request = request
        self.crs = parse_crs(query.crs.value)
        self.point = LonLat(query.lon, query.lat, self.crs)
        self.session = ReadSession(request.app.state.engine)

    async def __aenter__(self) -> "lookup":
        self.actor = await actor_from_header(self.request)
        return self

    async def __aexit__(self, *_exc) -> None:
        self.session.close()


def _bbox(text: str | None, crs: CoordinateSystem) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InputError(f"bbox {text!r} must be four numbers: minlon,minlat,maxlon,maxlat") from None
    if len(values) != 4:
        raise InputError(f"bbox {text!r} must be four numbers: minlon,minlat,maxlon,maxlat")
    x0, y0, x1, y1 = values
    check_lonlat(x0, y0, "bbox")
    check_lonlat(x1, y1, "bbox")
    if x0 > x1 or y0 > y1:
        raise InputError(f"bbox {text!r} must be minlon,minlat,maxlon,maxlat with min <= max")
    xs, ys = crs.to_wgs84([x0, x1], [y0, y1])
    return (float(xs[0]), float(ys[0]), float(xs[1]), float(ys[1]))


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    # A time without zone is China Standard Time: that is what people in the community mean.
    from datetime import timedelta

    return value.replace(tzinfo=timezone(timedelta(hours=8)))


def get_filters(
    crs: CRSDep,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat in the crs")] = None,
    grid: Annotated[str | None, Query(description="Grid code")] = None,
    kind: Annotated[str | None, Query(description="Kind (incidents: hazard, case, illegal_structure, renovation)")] = None,
    status: Annotated[str | None, Query(description="Status")] = None,
    category: Annotated[str | None, Query(description="Category")] = None,
    since: Annotated[Moment | None, Query(description="Created (incidents) or located (responders) at or after; ISO 8601, +08:00 if no zone")] = None,
    until: Annotated[Moment | None, Query(description="... and before")] = None,
) -> Filters:
    return Filters(bbox=_bbox(bbox, crs), grid=grid, kind=kind, status=status, category=category, since=_aware(since), until=_aware(until))


FiltersDep = Annotated[Filters, Depends(get_filters)]


# Paging past the largest possible id finds nothing; beyond it the database would overflow.
MAX_OFFSET = MAX_ID


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
