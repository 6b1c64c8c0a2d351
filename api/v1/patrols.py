"""Patrols over HTTP: start, fix batches, end, the tracks one may see, and coverage.

The logic is in geo/patrols/; who may see a track is the access policy's (geo/access/policy.py).
Reading another worker's track is written to the audit log, like a full phone number.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Annotated, Any, Literal

import numpy as np
import orjson
import shapely
from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import CRSDep, FeatureId, NowDep, PageDep, SessionDep
from api.idempotency import IdempotencyDep
from api.privacy import Reader
from api.readlog import ReaderDep
from api.v1 import API_PREFIX
from geo.access.policy import (
    check_may_read_track,
    may_read_track,
    sees_grid_patrols,
    track_scope,
)
from geo.errors import InputError
from geo.layers import LAYERS
from geo.models import Building, Patrol
from geo.patrols import figures, service, tracks
from geo.spatial.crs import WGS84, CoordinateSystem
from geo.spatial.geometry import from_db
from geo.timezones import CHINA_TIME

LAYER = LAYERS["patrols"]
router = APIRouter(prefix="/patrols", tags=[LAYER.title])
coverage_router = APIRouter(tags=[LAYER.title])

Day = Annotated[date | None, Query(description="A day, China time (YYYY-MM-DD)")]


class PatrolStart(BaseModel):
    lon: float | None = Field(None, description="Where the worker stands, in crs (for the check-in)")
    lat: float | None = Field(None, description="Where the worker stands, in crs")


_FIXES_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "array",
                "minItems": 1,
                "maxItems": 10_000,
                "items": {
                    "type": "array",
                    "minItems": 3,
                    "maxItems": 4,
                    "items": {"type": ["number", "null"]},
                    "description": "[lon, lat, unix_time_s, accuracy_m] in crs; accuracy may be null",
                },
            },
            "example": [[113.0451, 23.6952, 1764400000, 8.0], [113.0452, 23.6953, 1764400005, 6.5]],
        }
    },
}


def _geometry(line, crs: CoordinateSystem) -> dict[str, Any] | None:
    if line is None:
        return None
    if crs is not WGS84:
        line = crs.geometries_from_wgs84(np.array([line], dtype=object))[0]
    return shapely.geometry.mapping(line)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(CHINA_TIME).isoformat()


def patrol_properties(patrol: Patrol) -> dict[str, Any]:
    responder = patrol.responder
    return {
        "id": patrol.id,
        "code": patrol.code,
        "responder": responder.code,
        "responder_name": responder.name,
        "grids": sorted(g.code for g in responder.grids),
        "status": patrol.status,
        "source": patrol.source,
        "started_at": _iso(patrol.started_at),
        "ended_at": _iso(patrol.ended_at),
        "checked_in": patrol.checked_in,
        "check_in_distance_m": patrol.check_in_distance_m,
        "distance_m": round(patrol.distance_m, 1),
        "duration_s": round(patrol.duration_s, 1),
        "in_own_grids_s": round(patrol.in_own_grids_s, 1),
        "fixes_received": patrol.fixes_received,
        "fixes_kept": patrol.fixes_kept,
        "dropped": patrol.dropped or {},
        "reordered": patrol.reordered,
        "purged": patrol.purged_at is not None,
    }


def patrol_feature(session, patrol: Patrol, crs: CoordinateSystem, now: datetime, details: bool) -> dict[str, Any]:
    """The patrol as a Feature; with ``details`` (one patrol asked for) the buildings passed and
    still to visit, computed from the fixes so far while it runs."""
    props = patrol_properties(patrol)
    if not details:
        return {
            "type": "Feature",
            "id": patrol.id,
            "geometry": _geometry(from_db(patrol.geom), crs),
            "properties": props,
        }
    if patrol.status == service.RUNNING:
        track = service.compute_track(session, patrol)
        line, visited = track.line, track.visited
        props["duration_s"] = round(max((now - patrol.started_at).total_seconds(), 0.0), 1)
    else:
        line, visited = from_db(patrol.geom), service.visited_ids(session, patrol)
    codes = (
        dict(session.query(Building.id, Building.code).filter(Building.id.in_(list(visited))).all()) if visited else {}
    )
    props["buildings_visited"] = len(visited)
    props["visited"] = sorted(codes.values())
    to_visit = (
        service.buildings_to_visit(session, patrol, set(visited), now) if patrol.status == service.RUNNING else []
    )
    props["to_visit"] = [_building_stop(b, crs) for b in to_visit]
    props["incidents"] = service.incident_ids(session, patrol.id)
    return {"type": "Feature", "id": patrol.id, "geometry": _geometry(line, crs), "properties": props}


def _building_stop(building: Building, crs: CoordinateSystem) -> dict[str, Any]:
    point = from_db(building.geom)
    x, y = crs.from_wgs84(np.array([point.x]), np.array([point.y]))  # type: ignore[union-attr]
    return {"code": building.code, "name": building.name, "lon": float(x[0]), "lat": float(y[0])}


def note_track_read(reader: Reader, patrol: Patrol) -> None:
    """Someone else's track: the audit log says who read it."""
    if patrol.responder_id != reader.actor.responder_id:
        reader.saw("patrols", patrol.id)


def _readable(reader: Reader, patrol: Patrol) -> None:
    grid_ids = [g.id for g in patrol.responder.grids]
    check_may_read_track(reader.actor, patrol.responder_id, grid_ids)
    note_track_read(reader, patrol)


@router.post("", status_code=201, summary="Start a patrol (grid workers and leaders): answers the patrol")
def start(
    session: SessionDep,
    reader: ReaderDep,
    now: NowDep,
    crs: CRSDep,
    response: Response,
    idem: IdempotencyDep,
    body: Annotated[PatrolStart | None, Body()] = None,
) -> dict[str, Any]:
    position = None
    if body is not None and (body.lon is None) != (body.lat is None):
        raise InputError("Give both lon and lat (where you stand), or neither")
    if body is not None and body.lon is not None and body.lat is not None:
        tracks.check_fixes(np.array([[body.lon, body.lat, now.timestamp(), np.nan]]), now, now, 1)
        x, y = crs.to_wgs84(np.array([body.lon]), np.array([body.lat]))
        position = (float(x[0]), float(y[0]))
    patrol = service.start_patrol(session, reader.actor, now, position)
    session.flush()
    response.headers["Location"] = f"{API_PREFIX}/patrols/{patrol.id}"
    return idem.answer(response, patrol_feature(session, patrol, crs, now, details=True), 201)


async def _read_fixes(request: Request) -> Any:
    """The body as parsed JSON: orjson, not a pydantic model (batches run to 10,000 rows)."""
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InputError(f"The body is not JSON: {exc}") from None


FixRows = Annotated[Any, Depends(_read_fixes)]


@router.post(
    "/{feature_id}/fixes",
    summary="Send a batch of GPS fixes: [[lon, lat, unix_time_s, accuracy_m], ...]",
    description=(
        "At most `WANGGE_PATROL_MAX_BATCH` (10,000) fixes per request, in `crs`. Only the worker on patrol sends them, "
        "only while it runs. Fixes that are out of range, not finite, in the future, from before the patrol began or "
        "outside the area wangge serves refuse the whole batch (422 naming the fix); inaccurate (> 50 m), impossibly "
        "fast (> 30 m/s) and repeated fixes are stored but dropped from the track, and counted. Send each batch with an "
        "`Idempotency-Key`: a retry changes nothing twice."
    ),
    openapi_extra={"requestBody": _FIXES_BODY},
)
def fixes(
    feature_id: FeatureId,
    rows: FixRows,
    reader: ReaderDep,
    now: NowDep,
    crs: CRSDep,
    session: SessionDep,
    response: Response,
    idem: IdempotencyDep,
) -> dict[str, Any]:
    array = tracks.as_fixes(rows)
    if len(array) and crs is not WGS84:
        finite = np.isfinite(array[:, :2]).all(axis=1)
        x, y = crs.to_wgs84(array[finite, 0], array[finite, 1])
        array[finite, 0], array[finite, 1] = x, y
    patrol = service.get_patrol(session, feature_id, for_update=True)
    result = service.add_fixes(session, patrol, reader.actor, array, now)
    answer = {
        "patrol": patrol.id,
        "received": result.received,
        "kept": result.kept,
        "dropped": result.dropped,
        "reordered": result.reordered,
        "distance_m": round(patrol.distance_m, 1),
        "fixes_kept": patrol.fixes_kept,
    }
    return idem.answer(response, answer, 200)


@router.post("/{feature_id}/end", summary="End a patrol: its track is rebuilt from every fix and its visits recorded")
def end(
    feature_id: FeatureId,
    session: SessionDep,
    reader: ReaderDep,
    now: NowDep,
    crs: CRSDep,
    response: Response,
    idem: IdempotencyDep,
) -> dict[str, Any]:
    patrol = service.get_patrol(session, feature_id, for_update=True)
    service.end_patrol(session, patrol, reader.actor, now)
    note_track_read(reader, patrol)
    return idem.answer(response, patrol_feature(session, patrol, crs, now, details=True), 200)


_TRACKS_REFUSED: dict[int | str, dict[str, Any]] = {
    403: {"description": "Tracks are personal data: viewers and planners see only coverage figures"},
    404: {"description": "No grid or responder with that code"},
}


@router.get("", summary="Patrols whose tracks I may see, newest first", responses=_TRACKS_REFUSED)
def list_patrols(
    session: SessionDep,
    reader: ReaderDep,
    now: NowDep,
    crs: CRSDep,
    page: PageDep,
    grid: Annotated[str | None, Query(description="Patrols of the workers serving this grid (its code)")] = None,
    responder: Annotated[str | None, Query(description="Patrols of this worker (responder code)")] = None,
    date: Day = None,
) -> dict[str, Any]:
    scope = track_scope(reader.actor)
    allowed = service.responders_in_scope(session, scope.everyone, scope.grid_ids, scope.responder_id)
    total, found = service.list_patrols(session, allowed, grid, responder, date, page.limit, page.offset)
    for patrol in found:
        note_track_read(reader, patrol)
    features = [patrol_feature(session, p, crs, now, details=False) for p in found]
    return {"type": "FeatureCollection", "numberMatched": total, "numberReturned": len(features), "features": features}


@router.get("/{feature_id}", summary="One patrol", responses=_TRACKS_REFUSED)
def one_patrol(
    feature_id: FeatureId, session: SessionDep, reader: ReaderDep, now: NowDep, crs: CRSDep
) -> dict[str, Any]:
    patrol = service.get_patrol(session, feature_id)
    _readable(reader, patrol)
    return patrol_feature(session, patrol, crs, now, details=True)


# --------------------------------------------------------------------------- coverage


def _period(now: datetime, day: date | None, start: date | None, end: date | None) -> tuple[date, date]:
    if day is not None and (start is not None or end is not None):
        raise InputError("Give either date, or start and end, not both")
    if day is not None:
        return day, day
    today = service.china_day(now)
    return (start or end or today), (end or start or today)


@coverage_router.get(
    "/grids/{code}/coverage",
    summary="A grid's coverage: buildings, visited, the share, not visited for days, by worker",
    description=(
        "A building counts as visited when a patrol's track passed within `WANGGE_PATROL_VISIT_M` (30 m) of it. "
        "Everyone sees the figures; which buildings, by whom, and the tracks only those who may see the grid's "
        "patrols (its workers and leader, community staff)."
    ),
)
def grid_coverage(
    code: str,
    session: SessionDep,
    reader: ReaderDep,
    now: NowDep,
    crs: CRSDep,
    date: Day = None,
    start: Day = None,
    end: Day = None,
) -> dict[str, Any]:
    first, last = _period(now, date, start, end)
    found = figures.grid_coverage(session, code, first, last)
    answer = found.summary()
    if sees_grid_patrols(reader.actor, found.grid.id):
        answer.update(found.details())
        answer["tracks"] = _period_tracks(session, reader, found.grid.id, first, last, crs, now)
    return answer


def _period_tracks(session, reader: Reader, grid_id: int, first: date, last: date, crs, now) -> dict[str, Any]:
    """The period's tracks of the grid's workers that the caller may see."""
    lo, hi = service.day_bounds(first, last)
    patrols = service.patrols_of_grid(session, grid_id, lo, hi)
    features = []
    for patrol in patrols:
        grid_ids = [g.id for g in patrol.responder.grids]
        if may_read_track(reader.actor, patrol.responder_id, grid_ids):
            note_track_read(reader, patrol)
            features.append(patrol_feature(session, patrol, crs, now, details=False))
    return {"type": "FeatureCollection", "features": features}


@coverage_router.get(
    "/coverage",
    summary="Coverage of every grid for a period, as JSON or CSV",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def all_coverage(
    request: Request,
    session: SessionDep,
    now: NowDep,
    start: Day = None,
    end: Day = None,
    by: Annotated[Literal["grid"], Query(description="One row per grid")] = "grid",
    format: Annotated[Literal["json", "csv"] | None, Query(description="csv, or json (also by Accept)")] = None,
):
    first, last = _period(now, None, start, end)
    rows = figures.all_grids_coverage(session, first, last)
    wants_csv = format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))
    if wants_csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["grid", "name", "buildings", "visited", "share", "stale"])
        writer.writeheader()
        writer.writerows(rows)
        return Response(
            buffer.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="wangge-coverage-{first}-{last}.csv"'},
        )
    return {"start": first.isoformat(), "end": last.isoformat(), "by": by, "rows": rows}
