"""The catalogue (立结案标准): the current version or any other, as JSON, CSV or XLSX."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from api.deps import ActorDep, SessionDep
from geo.access.policy import PUBLIC_ROLE, catalogue_domains
from geo.catalogue.files import FIELDS, file_bytes
from geo.catalogue.store import version_rows

router = APIRouter(tags=["Catalogue"])

_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The version and its 立案条件 as JSON, or the table as CSV or XLSX with f=csv|xlsx",
        "content": {t: {"schema": {"type": "string"}} for t in _TYPES.values()},
    },
    404: {"description": "No catalogue version with that number"},
}


@router.get(
    "/catalogue",
    summary="The catalogue: sub-categories with their 立案条件, time limits and 结案条件",
    description="Signed-in users read events and components; the public, the events it may report. "
    "The table is the one `wangge catalogue import` reads.",
    responses=_RESPONSES,
)
def catalogue(
    session: SessionDep,
    actor: ActorDep,
    version: Annotated[int | None, Query(description="The version's number (default: the current one)")] = None,
    f: Annotated[Literal["json", "csv", "xlsx"], Query(description="json, csv or xlsx")] = "json",
):
    found, rows = version_rows(session, version)
    domains = catalogue_domains(actor)
    rows = [r for r in rows if r.domain in domains]
    if f != "json":
        name = f"wangge-catalogue-{found.number}.{f}"
        return Response(
            file_bytes(rows, name),
            media_type=_TYPES[f],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return {
        "version": {
            "number": found.number,
            "name": found.name,
            "source": found.source,
            "sha256": found.sha256,
            "imported_at": found.imported_at.isoformat(),
            "imported_by": found.imported_by if actor.role != PUBLIC_ROLE else None,
            "is_current": found.is_current,
            "replaced": found.replaced,
        },
        "fields": [{"key": fd.name, "zh": fd.zh} for fd in FIELDS],
        "entries": [{name: getattr(r, name) for name in r.__dataclass_fields__} for r in rows],
    }
