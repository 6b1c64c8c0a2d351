"""My tasks, and what a report form shows before it is sent (thin: the logic is in
``geo.incidents.tasks``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from api.deps import CRSDep, IncidentId, NowDep, PageDep, SessionDep
from api.geojson import feature
from api.params import LonLat
from api.privacy import Reader, redact_feature
from api.readlog import ReaderDep
from api.v1.layers import etag
from geo.errors import InputError
from geo.incidents.tasks import Task, my_tasks, report_preview, task_of
from geo.query.features import get_object

router = APIRouter(tags=["Worker app"])

OptionalLon = Annotated[float | None, Query(description="Where I stand: longitude in crs (with lat: distances)")]
OptionalLat = Annotated[float | None, Query(description="Where I stand: latitude in crs")]


async def get_standing(crs: CRSDep, lon: OptionalLon = None, lat: OptionalLat = None) -> tuple[float, float] | None:
    """Where the caller stands, in WGS84, if they said."""
    if (lon is None) != (lat is None):
        raise InputError("Give both lon and lat (where you stand), or neither")
    if lon is None or lat is None:
        return None
    point = LonLat(lon, lat, crs)
    return (point.lon, point.lat)


StandingDep = Annotated[tuple[float, float] | None, Depends(get_standing)]


@router.get(
    "/tasks",
    summary="My tasks: open incidents that are mine or await my on-site check; supervised, then overdue first, then by deadline",
)
def tasks(
    session: SessionDep,
    reader: ReaderDep,
    now: NowDep,
    crs: CRSDep,
    page: PageDep,
    standing: StandingDep,
) -> dict[str, Any]:
    found = my_tasks(session, reader.actor, now, standing, page.limit, page.offset)
    features = [_task_feature(task, crs, now, reader) for task in found.tasks]
    return {
        "type": "FeatureCollection",
        "numberMatched": found.total,
        "numberReturned": len(features),
        "features": features,
    }


@router.get("/tasks/{incident_id}", summary="One incident as a task: distance, and the actions I may take now")
def one_task(
    incident_id: IncidentId,
    response: Response,
    session: SessionDep,
    reader: ReaderDep,
    now: NowDep,
    crs: CRSDep,
    standing: StandingDep,
) -> dict[str, Any]:
    incident = get_object(session, "incidents", incident_id)
    response.headers["ETag"] = etag(incident)
    return _task_feature(task_of(session, reader.actor, incident, standing, now), crs, now, reader)


def _task_feature(task: Task, crs, now, reader: Reader) -> dict[str, Any]:
    out = redact_feature(feature(task.incident, crs, now), reader)
    out["properties"] = {
        **out["properties"],
        "distance_m": task.distance_m,
        "my_actions": task.actions,
        "my_check": task.check,
        "supervision": task.supervision,
    }
    return out


@router.get(
    "/incidents/nearby",
    summary="Before reporting: the grid and nearest building of a point, and open incidents of the same kind nearby",
)
def nearby(
    session: SessionDep,
    crs: CRSDep,
    lon: Annotated[float, Query(description="Longitude in crs")],
    lat: Annotated[float, Query(description="Latitude in crs")],
    kind: Annotated[str, Query(description="hazard, case, illegal_structure or renovation")],
    category: Annotated[str | None, Query(max_length=64, description="Only this category")] = None,
) -> dict[str, Any]:
    point = LonLat(lon, lat, crs)
    return report_preview(session, point.lon, point.lat, kind, category or None)
