"""The fast path of the two hot lookups, locate and nearest (``GET /grids/locate``,
``GET /responders/nearest``).

They answer in microseconds, and FastAPI's per-request machinery (dependencies, per-parameter
validation, response serialisation) would cost more than the lookup. So their routes are
:class:`LeanRoute`\\ s, which call the endpoint with the Request; the endpoint reads its query
with one pydantic call (:func:`parse_query`) and opens everything else it needs in one step
(:class:`lookup`). They are still documented in OpenAPI as usual (:func:`query_openapi`), and
their errors go to the application's exception handlers like any route's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, ValidationError

from api.auth import actor_from_header
from api.deps import read_session
from api.params import CRSName, LonLat
from geo.spatial.crs import parse_crs


class LeanRoute(APIRoute):
    """A route whose endpoint takes the Request and returns a Response itself.

    FastAPI documents the route as usual (its query from :func:`query_openapi`), but runs none of
    its per-request dependency, validation and serialisation machinery, which costs more than the
    lookup. Errors raised by the endpoint go to the application's exception handlers as from any
    route.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
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


QueryModel = TypeVar("QueryModel", bound=BaseModel)


def parse_query(model: type[QueryModel], request: Request) -> QueryModel:
    """Validate the query string against ``model`` in one pydantic call.

    Errors are the same RequestValidationError as FastAPI's, so they read the same.
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
        parameters.append(
            {
                "name": name,
                "in": "query",
                "required": name in schema.get("required", ()),
                "description": prop.get("description", ""),
                "schema": prop,
            }
        )
    return {"parameters": parameters}


class lookup:
    """``async with lookup(request, query) as q``: everything a read-only spatial lookup needs,
    resolved in one step: ``q.point`` (checked, in WGS84), ``q.crs``, the caller ``q.actor``, and
    ``q.session``, which connects only if asked.

    Opened inside the endpoint, not as a dependency: FastAPI's dependency machinery would cost
    more than the lookup itself.
    """

    def __init__(self, request: Request, query: PointQuery):
        self.request = request
        self.crs = parse_crs(query.crs.value)
        self.point = LonLat(query.lon, query.lat, self.crs)
        self.session = read_session(request.app.state.engine)

    async def __aenter__(self) -> lookup:
        self.actor = await actor_from_header(self.request)
        return self

    async def __aexit__(self, *_exc) -> None:
        self.session.close()
