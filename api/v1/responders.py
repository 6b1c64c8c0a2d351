"""Who is nearest: responders ranked by ground distance from a point or an incident."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import CRSDep, IncidentId, SessionDep
from api.privacy import Reader, reader_for, show_person
from api.readlog import ReaderDep, note_reads
from api.v1.fastpath import PointQuery, lean_get, lookup, parse_query, query_openapi
from geo.access.policy import PhoneView, responder_phone_view, sees_incident_personal_data
from geo.grids.index import grid_index
from geo.query.features import get_object
from geo.responders.nearest import nearest_responders, responder_index
from geo.spatial.crs import CoordinateSystem
from geo.spatial.geometry import from_db

router = APIRouter(tags=["Nearest responders"])


class RankingQuery(BaseModel):
    """Which responders, and how many."""

    k: int = Field(5, ge=1, le=100, description="How many responders")
    role: str | None = Field(
        None,
        description="Only this role (grid_leader, grid_worker, part_time, police, urban_management, building_head, fire_station, ...)",
    )
    on_duty: bool | None = Field(None, description="Only responders on duty (true) or off duty (false)")
    max_m: float | None = Field(None, gt=0, le=20_040_000, description="Only responders within this many metres")


class NearestQuery(RankingQuery, PointQuery):
    pass


def _answer(
    session,
    reader: Reader,
    view: PhoneView,
    lon: float,
    lat: float,
    grid_code: str | None,
    crs: CoordinateSystem,
    q: RankingQuery,
) -> dict[str, Any]:
    index = responder_index(session)
    ranked = nearest_responders(session, lon, lat, k=q.k, role=q.role, on_duty=q.on_duty, max_m=q.max_m, index=index)
    xs, ys = [index.lon[r.position] for r in ranked], [index.lat[r.position] for r in ranked]
    if crs.name != "wgs84":
        xs, ys = (v.tolist() for v in crs.from_wgs84(xs, ys))
    # The position is answered as "location", in the caller's coordinate system.
    out = []
    for r, x, y in zip(ranked, xs, ys, strict=True):
        card = show_person(index.card(r.position, _POSITION), reader, view)
        out.append(
            {
                **card,
                "distance_m": round(r.cost, 3),
                "serves_grid": grid_code in card["grids"] if grid_code else False,
                "location": [float(x), float(y)],
            }
        )
    return {"grid": grid_code, "ranking": "geodesic", "crs": crs.name, "responders": out}


_POSITION = ("lon", "lat")


@lean_get(
    router,
    "/responders/nearest",
    summary="Responders nearest to a coordinate, by ground distance",
    openapi_extra=query_openapi(NearestQuery),
)
async def nearest(request: Request) -> Response:
    query = parse_query(NearestQuery, request)
    async with lookup(request, query) as q:
        index = grid_index(q.session)
        pos = index.locate_one(q.point.lon, q.point.lat)
        grid_code = str(index.codes[pos]) if pos >= 0 else None
        reader = reader_for(request, q.actor)
        answer = _answer(
            q.session, reader, responder_phone_view(q.actor), q.point.lon, q.point.lat, grid_code, q.crs, query
        )
        note_reads(request.app, reader)
        return Response(orjson.dumps(answer), media_type="application/json")


@router.get(
    "/incidents/{incident_id}/responders", summary="Responders nearest to an incident, and whether they serve its grid"
)
def for_incident(
    incident_id: IncidentId,
    session: SessionDep,
    crs: CRSDep,
    reader: ReaderDep,
    ranking: Annotated[RankingQuery, Query()],
) -> dict:
    incident = get_object(session, "incidents", incident_id)
    p = from_db(incident.geom)
    assert p is not None  # the column is NOT NULL
    # In full to those who may see this incident's people: they may have to call them about it.
    answer = _answer(
        session,
        reader,
        responder_phone_view(reader.actor, sees_incident_personal_data(reader.actor, incident.grid_id)),
        p.x,
        p.y,
        incident.grid.code if incident.grid else None,
        crs,
        ranking,
    )
    return {"incident": incident.id, **answer}
