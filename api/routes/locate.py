"""Which grid covers a coordinate: one point (GET) or up to a million (POST)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.deps import CRSName, CRSParam, Lat, Lon, ReadSessionDep, lookup
from api.privacy import redact
from geo.cards import grid_card
from geo.coords import check_lonlat_array
from geo.crs import parse_crs
from geo.errors import InputError
from geo.locate import grid_index, locate_point

router = APIRouter(prefix="/grids", tags=["Locate (which grid covers this coordinate)"])

MAX_BATCH_POINTS = 1_000_000


def _card_for(card: dict[str, Any], actor) -> dict[str, Any]:
    return {**card, "leader": redact(card["leader"], actor), "workers_on_duty": [redact(p, actor) for p in card["workers_on_duty"]]}


@router.get("/locate", summary="The grid covering a coordinate", responses={404: {"description": "No grid covers the point"}})
async def locate(request: Request, lon: Lon, lat: Lat, crs: CRSParam = CRSName.wgs84) -> Response:
    # async: the lookup is in memory (microseconds), so it runs on the event loop directly.
    async with lookup(request, lon, lat, crs) as q:
        return _locate_answer(q)


def _locate_answer(q) -> Response:
    point, session, crs, actor = q.point, q.session, q.crs, q.actor
    where = locate_point(session, point.lon, point.lat)
    given = {"lon": point.given[0], "lat": point.given[1], "crs": crs.name}
    if where.grid_id is None:
        body: dict[str, Any] = {"detail": f"No grid covers lon {point.given[0]:g}, lat {point.given[1]:g} ({crs.name}).", "point": given, "nearest": None}
        if where.nearest_code is not None:
            card = grid_card(session, where.nearest_id)
            body["detail"] += f" The nearest grid is {where.nearest_code} ({card['name']}), {where.nearest_distance_m:.0f} m away."
            body["nearest"] = {"code": where.nearest_code, "name": card["name"], "distance_m": round(where.nearest_distance_m, 2)}
        return JSONResponse(body, status_code=404)
    return JSONResponse(
        {
            "grid": _card_for(grid_card(session, where.grid_id), actor),
            "on_boundary": where.on_boundary,
            "touching": where.touching,
            "point": given,
        }
    )


def _points_from_body(doc: Any) -> tuple[np.ndarray, str | None]:
    """(n, 2) array of coordinates and the crs named in the body, from either accepted form."""
    if not isinstance(doc, dict):
        raise InputError('The body must be {"points": [[lon, lat], ...], "crs": "wgs84"} or a GeoJSON FeatureCollection of points')
    if doc.get("type") == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise InputError("features: a FeatureCollection needs a list of features")
        coords = []
        for i, f in enumerate(features):
            geometry = f.get("geometry") if isinstance(f, dict) else None
            if not isinstance(geometry, dict) or geometry.get("type") != "Point":
                raise InputError(f"features[{i}]: only Point features can be located")
            coords.append(geometry.get("coordinates"))
        raw, crs = coords, doc.get("crs") if isinstance(doc.get("crs"), str) else None
    elif "points" in doc:
        raw, crs = doc["points"], doc.get("crs")
        if not isinstance(raw, list):
            raise InputError("points: must be a list of [lon, lat] pairs")
    else:
        raise InputError('The body needs "points": [[lon, lat], ...] or must be a GeoJSON FeatureCollection')
    if len(raw) > MAX_BATCH_POINTS:
        raise InputError(f"Too many points: {len(raw):,}; at most {MAX_BATCH_POINTS:,} per request")
    try:
        xy = np.array(raw, dtype=float)
    except (ValueError, TypeError):
        xy = None
    if xy is None or (len(raw) and (xy.ndim != 2 or xy.shape[1] != 2)):
        bad = next((i for i, p in enumerate(raw) if not _is_pair(p)), 0)
        raise InputError(f"point {bad}: {raw[bad]!r} is not a [lon, lat] pair of numbers")
    return xy.reshape(-1, 2), crs


def _is_pair(p: Any) -> bool:
    return isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)


@router.post(
    "/locate",
    summary="The grid covering each of many coordinates (up to 1,000,000), in input order",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {"type": "object", "example": {"points": [[113.045, 23.695], [113.05, 23.7]], "crs": "wgs84"}}
                }
            },
            "required": True,
        }
    },
)
async def locate_many(request: Request, session: ReadSessionDep, crs_query: str | None = Query(None, alias="crs", description="Coordinate system, if not named in the body")) -> Response:
    body = await request.body()
    # Parsing and locating a million points takes seconds: keep the event loop free meanwhile.
    return await run_in_threadpool(_locate_body, body, session, crs_query)


def _locate_body(body: bytes, session, crs_query: str | None) -> Response:
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"The body is not valid JSON ({exc})") from None
    xy, crs_body = _points_from_body(doc)
    if crs_body and crs_query and parse_crs(crs_body) != parse_crs(crs_query):
        raise InputError(f"The body says crs {crs_body!r} but the query says {crs_query!r}")
    name = crs_body or crs_query or "wgs84"
    if parse_crs(name).name not in ("wgs84", "EPSG:4490", "gcj02", "bd09"):
        raise InputError(f"Unknown coordinate system {name!r}: use wgs84, cgcs2000, gcj02 or bd09")
    crs = parse_crs(name)
    lon, lat = xy[:, 0], xy[:, 1]
    check_lonlat_array(lon, lat)
    lon, lat = crs.to_wgs84(lon, lat)
    index = grid_index(session)
    pos = index.locate(lon, lat)
    codes = np.where(pos >= 0, index.codes[np.maximum(pos, 0)] if index.codes.size else None, None)
    payload = {"crs": name, "count": int(pos.size), "located": int((pos >= 0).sum()), "grids": codes.tolist()}
    # orjson directly: FastAPI's encoder walks every element, far too slow for a million.
    return Response(orjson.dumps(payload), media_type="application/json")
