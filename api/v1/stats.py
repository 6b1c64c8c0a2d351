"""Statistics per grid or community for a period, as JSON or CSV."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api.deps import SessionDep
from api.schemas import Moment
from geo.query.stats import incident_statistics, statistics_csv
from geo.timezones import assume_china_time

router = APIRouter(tags=["Statistics"])


@router.get(
    "/stats",
    summary="Reported, closed, overdue, people served and median minutes per step",
    responses={
        200: {
            "description": "The rows as JSON, or as CSV with format=csv",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
def stats(
    session: SessionDep,
    start: Annotated[Moment, Query(description="Period start (ISO 8601; +08:00 if no zone)")],
    end: Annotated[Moment, Query(description="Period end, exclusive")],
    by: Annotated[Literal["grid", "community"], Query()] = "grid",
    format: Annotated[Literal["json", "csv"], Query()] = "json",
):
    start, end = assume_china_time(start), assume_china_time(end)
    rows = incident_statistics(session, start, end, by)
    if format == "csv":
        return Response(
            statistics_csv(rows, by),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="wangge-stats-{by}.csv"'},
        )
    return {"start": start.isoformat(), "end": end.isoformat(), "by": by, "rows": rows}
