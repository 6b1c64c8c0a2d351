"""Who is nearest: responders ranked by ground distance from a point or an incident."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from api.auth import ActorDep
from api.deps import CRSDep, CRSName, CRSParam, Lat, Lon, SessionDep, lookup
from api.privacy import redact
from geo.crs import CoordinateSystem
from geo.features import get_object
from geo.geometry import from_db
from geo.locate import grid_index
from geo.responders import nearest_responders

router = APIRouter(tags=["Nearest responders"])

K = Annotated[int, Query(ge=1, le=100, description="How many responders")]
Role = Annotated[str | None, Query(description="Only this role (grid_leader, grid_worker, part_time, police, urban_management, building_head, fire_station, ...)")]
OnDuty = Annotated[bool | None, Query(description="Only responders on duty (true) or off duty (false)")]
MaxM = Annotated[float | None, Query(gt=0, le=20_040_000, description="Only responders within this many metres")]


def _answer(session, actor, lon: float, lat: float, grid_code: str | None, crs: CoordinateSystem, k, role, on_duty, max_m) -> dict[str, Any]:
    ranked = nearest_responders(session, lon, lat, k=k, role=role, on_duty=on_duty, max_m=max_m)
    out = []
    for r in ranked:
        x, y = crs.from_wgs84([r.lon], [r.lat])
        out.append(redact(
            {
                "id": r.responder_id,
                "code": r.code,
                "name": r.name,
                "kind": r.kind,
                "role": r.role,
                "phone": r.phone,
                "on_duty": r.on_duty,
                "distance_m": round(r.cost, 3),
                "grids": list(r.grid_codes),
                "serves_grid": grid_code in r.grid_codes if grid_code else False,
                "location": [float(x[0]), float(y[0])],
                "located_at": r.located_at.isoformat() if r.located_at else None,
            }, actor)
        )
    return {"grid": grid_code, "ranking": "geodesic", "crs": crs.name, "responders": out}


@router.get("/responders/nearest", summary="Responders nearest to a coordinate, by ground distance")
async def nearest(request: Request, lon: Lon, lat: Lat, crs: CRSParam = CRSName.wgs84, k: K = 5, role: Role = None, on_duty: OnDuty = None, max_m: MaxM = None) -> Response:
    async with lookup(request, lon, lat, crs) as q:
        index = grid_index(q.session)
        pos = index.locate([q.point.lon], [q.point.lat])[0]
        grid_code = str(index.codes[pos]) if pos >= 0 else None
        return JSONResponse(_answer(q.session, q.actor, q.point.lon, q.point.lat, grid_code, q.crs, k, role, on_duty, max_m))


@router.get("/incidents/{incident_id}/responders", summary="Responders nearest to an incident, and whether they serve its grid")
def for_incident(incident_id: int, session: SessionDep, crs: CRSDep, actor: ActorDep, k: K = 5, role: Role = None, on_duty: OnDuty = None, max_m: MaxM = None) -> dict:
    incident = get_object(session, "incidents", incident_id)
    p = from_db(incident.geom)
    answer = _answer(session, actor, p.x, p.y, incident.grid.code if incident.grid else None, crs, k, role, on_duty, max_m)
    return {"incident": incident.id, **answer}
