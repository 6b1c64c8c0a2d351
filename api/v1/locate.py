"""Which grid covers a coordinate: one point (GET) or up to a million (POST)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import simdjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.bodycheck import MAX_DEPTH
from api.deps import ReadSessionDep
from api.privacy import reader_for, show_person
from api.readlog import note_reads
from api.v1.fastpath import PointQuery, lean_get, lookup, parse_query, query_openapi
from geo.access.policy import responder_phone_view
from geo.errors import InputError
from geo.grids.cards import grid_card, grid_cards
from geo.grids.index import grid_index, locate_point
from geo.spatial.coords import check_lonlat_array
from geo.spatial.crs import parse_crs

router = APIRouter(prefix="/grids", tags=["Locate (which grid covers this coordinate)"])

MAX_BATCH_POINTS = 1_000_000


# JSON of the cards in one grid_cards() dict, by (grid id, phone view); made anew with that dict,
# so an encoding never outlives the card it was made from.
_encoded: tuple[dict, dict] = ({}, {})


def _card_json(session, grid_id: int, q) -> bytes:
    """A grid's card as JSON, made once per card and audience (phones in full, masked or left
    out): the locate answer is built around it without encoding it again. Full phones are noted
    for the audit log on every answer, made anew or not."""
    global _encoded
    cards = grid_cards(session)
    if _encoded[0] is not cards:
        _encoded = (cards, {})
    made = _encoded[1]
    view = responder_phone_view(q.actor)
    reader = reader_for(q.request, q.actor)
    full = _known_card(session, grid_id, cards)
    # Shown on every answer (cheap: a few people), so that each full read is noted.
    leader = None if full["leader"] is None else show_person(full["leader"], reader, view)
    workers = [show_person(p, reader, view) for p in full["workers_on_duty"]]
    key = (grid_id, view)
    card = made.get(key)
    if card is None:
        card = made[key] = orjson.dumps({**full, "leader": leader, "workers_on_duty": workers})
    note_reads(q.request.app, reader)
    return card


def _known_card(session, grid_id: int, cards: dict[int, Any] | None = None) -> dict[str, Any]:
    """The card of a grid the index located, which therefore has one."""
    card = grid_card(session, grid_id, cards)
    assert card is not None
    return card


@lean_get(
    router,
    "/locate",
    summary="The grid covering a coordinate",
    responses={404: {"description": "No grid covers the point"}},
    openapi_extra=query_openapi(PointQuery),
)
async def locate(request: Request) -> Response:
    # async: the lookup is in memory (microseconds), so it runs on the event loop directly.
    async with lookup(request, parse_query(PointQuery, request)) as q:
        return _locate_answer(q)


def _locate_answer(q) -> Response:
    point, session, crs = q.point, q.session, q.crs
    where = locate_point(session, point.lon, point.lat)
    given = {"lon": point.given[0], "lat": point.given[1], "crs": crs.name}
    if where.grid_id is None:
        body: dict[str, Any] = {
            "detail": f"No grid covers lon {point.given[0]:g}, lat {point.given[1]:g} ({crs.name}).",
            "point": given,
            "nearest": None,
        }
        if where.nearest_id is not None and where.nearest_distance_m is not None:  # set with nearest_code
            card = _known_card(session, where.nearest_id)
            body["detail"] += (
                f" The nearest grid is {where.nearest_code} ({card['name']}), {where.nearest_distance_m:.0f} m away."
            )
            body["nearest"] = {
                "code": where.nearest_code,
                "name": card["name"],
                "distance_m": round(where.nearest_distance_m, 2),
            }
        return JSONResponse(body, status_code=404)
    rest = orjson.dumps({"on_boundary": where.on_boundary, "touching": where.touching, "point": given})
    return Response(
        b'{"grid":' + _card_json(session, where.grid_id, q) + b"," + rest[1:], media_type="application/json"
    )


def _points_from_body(doc: Any) -> tuple[np.ndarray, str | None]:
    """(n, 2) array of coordinates and the crs named in the body, from either accepted form."""
    if not isinstance(doc, dict):
        raise InputError(
            'The body must be {"points": [[lon, lat], ...], "crs": "wgs84"} or a GeoJSON FeatureCollection of points'
        )
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
    try:
        xy = np.array(raw, dtype=float)
    except (ValueError, TypeError):
        xy = None
    if xy is None or (len(raw) and (xy.ndim != 2 or xy.shape[1] != 2)):
        bad = next((i for i, p in enumerate(raw) if not _is_pair(p)), 0)
        raise InputError(f"point {bad}: {raw[bad]!r} is not a [lon, lat] pair of numbers")
    return xy.reshape(-1, 2), crs


def _points_fast(body: bytes) -> tuple[np.ndarray, str | None] | None:
    """The usual body, ``{"points": [[lon, lat], ...], "crs": "..."}``, read straight into an
    (n, 2) array by simdjson without making a Python object per number; None for any other body
    (or a malformed one), which the general parser then reads and explains."""
    try:
        doc = simdjson.Parser().parse(body)
        if not isinstance(doc, simdjson.Object):
            return None
        keys = set(doc.keys())
        if not keys <= {"points", "crs"}:
            return None
        points, crs = doc.get("points"), doc.get("crs")
        if not isinstance(points, simdjson.Array) or not (crs is None or isinstance(crs, str)):
            return None
        n = len(points)
        # Flattens nested arrays and refuses anything but numbers ...
        flat = np.frombuffer(points.as_buffer(of_type="d"), dtype=float)
    except (ValueError, TypeError, AttributeError, RuntimeError):
        return None
    # ... so the shape is checked on the text: with only "points" and "crs" in the body, its
    # brackets and commas must be exactly those of n pairs, plus the comma between the two keys.
    text = np.frombuffer(body, dtype=np.uint8)
    tokens = text[(text == 0x5B) | (text == 0x5D) | (text == 0x2C)].tobytes()
    pairs = b"[" + b"[,]," * (n - 1) + b"[,]]" if n else b"[]"
    if len(keys) == 2 and tokens in (b"," + pairs, pairs + b","):
        tokens = pairs
    if flat.size != 2 * n or tokens != pairs:
        return None
    return flat.reshape(n, 2), crs


def _is_pair(p: Any) -> bool:
    return (
        isinstance(p, (list, tuple))
        and len(p) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)
    )


@router.post(
    "/locate",
    summary="The grid covering each of many coordinates (up to 1,000,000), in input order",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "example": {"points": [[113.045, 23.695], [113.05, 23.7]], "crs": "wgs84"},
                    }
                }
            },
            "required": True,
        }
    },
)
async def locate_many(
    request: Request,
    session: ReadSessionDep,
    crs_query: str | None = Query(None, alias="crs", description="Coordinate system, if not named in the body"),
) -> Response:
    body = await request.body()
    # Parsing and locating a million points takes seconds: keep the event loop free meanwhile.
    return await run_in_threadpool(_locate_body, body, session, crs_query)


def _locate_body(body: bytes, session, crs_query: str | None) -> Response:
    fast = _points_fast(body)
    if fast is not None:
        xy, crs_body = fast
    else:
        try:
            doc = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"The body is not valid JSON ({exc})") from None
        except RecursionError:  # a body not labelled JSON skips the nesting check of api.bodycheck
            raise InputError(f"The JSON body is nested more than {MAX_DEPTH} levels deep") from None
        xy, crs_body = _points_from_body(doc)
    if len(xy) > MAX_BATCH_POINTS:
        raise InputError(f"Too many points: {len(xy):,}; at most {MAX_BATCH_POINTS:,} per request")
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
    codes = np.full(pos.shape, None, dtype=object)
    found = pos >= 0
    codes[found] = index.codes[pos[found]]
    payload = {"crs": name, "count": int(pos.size), "located": int((pos >= 0).sum()), "grids": codes.tolist()}
    # orjson directly: FastAPI's encoder walks every element, far too slow for a million.
    return Response(orjson.dumps(payload), media_type="application/json")
