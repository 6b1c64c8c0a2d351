"""The incidents in a box as compact points (or counts per cell), what the maps load."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import CRSDep, FiltersDep, NowDep, SessionDep
from geo.query import mappoints

# Included before the incident layer's router: /incidents/points must match before /incidents/{id}.
router = APIRouter(prefix="/incidents", tags=["Maps"])


@router.get(
    "/points", summary="Incidents in a box as compact points, or counts per cell when there are more than limit"
)
def incident_points(
    session: SessionDep,
    filters: FiltersDep,
    crs: CRSDep,
    now: NowDep,
    limit: Annotated[int, Query(ge=1, le=mappoints.MAX_LIMIT, description="Most points to send one by one")] = 5000,
    cell: Annotated[float | None, Query(gt=0, description="Cell size in degrees when counting per cell")] = None,
) -> dict[str, Any]:
    """``points``: ``[id, lon, lat, kind, state]`` (indexes into ``kinds`` and ``states``), or, when
    more than ``limit`` match, ``cells``: ``[lon, lat, kind, count, overdue, closed]``. ``status``
    also takes ``open`` (not closed), ``overdue`` and ``closed``."""
    return mappoints.incident_points(session, filters, limit=limit, cell=cell, crs=crs, now=now)
