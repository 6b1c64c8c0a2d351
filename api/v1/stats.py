"""Statistics: the older per-status figures (/stats), and the indicators (GB/T 30428.4 style,
geo/indicators) with their series and the incidents behind each figure, as JSON, CSV or XLSX."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from api.deps import ActorDep, NowDep, SessionDep
from api.schemas import Moment
from geo.access.policy import indicator_scope
from geo.indicators import report
from geo.indicators.export import to_csv, to_xlsx
from geo.query.stats import incident_statistics, statistics_csv
from geo.timezones import assume_china_time

router = APIRouter(tags=["Statistics"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_REFUSED: dict[int | str, dict[str, Any]] = {
    400: {"description": "A period that does not end after it starts, or an unknown grouping, interval or indicator"},
    401: {"description": "Not signed in"},
    403: {"description": "Only community staff (every grid) and grid leaders (their own grids) see the indicators"},
    404: {"description": "No grid, community or responder with that key"},
}
_TABLES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, or the table as CSV (f=csv) or XLSX (f=xlsx)",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX: {"schema": {"type": "string", "format": "binary"}},
        },
    },
    **_REFUSED,
}

Start = Annotated[
    Moment, Query(description="Period start: a date (China midnight) or an ISO 8601 time (+08:00 if no zone)")
]
End = Annotated[Moment, Query(description="Period end, exclusive; after start")]
By = Annotated[str, Query(description="grid | community | worker | department | category | none")]
Kind = Annotated[str | None, Query(description="Only incidents of this kind (case, hazard, ...)", max_length=32)]


def _period(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = assume_china_time(start), assume_china_time(end)
    report.check_period(start, end)
    return start, end


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


@router.get(
    "/stats/indicators",
    summary="The indicators (上报数, 结案率, 按期结案率 ...) per grid, community, worker, department or category",
    description=(
        "Counted from the incidents' append-only timeline, so a past period's figures never change. "
        "Rates are fractions from 0 to 1 (null when their denominator is 0); `score` is the weighted "
        "composite (WANGGE_INDICATOR_WEIGHTS) and `grade` its letter (WANGGE_INDICATOR_GRADES). "
        "Grid leaders see their own grids only."
    ),
    responses=_TABLES,
)
def indicators(
    session: SessionDep,
    actor: ActorDep,
    now: NowDep,
    start: Start,
    end: End,
    by: By = "grid",
    kind: Kind = None,
    f: Annotated[Literal["json", "csv", "xlsx"], Query(description="json, csv or xlsx")] = "json",
    lang: Annotated[Literal["zh", "en"], Query(description="Labels of the CSV and XLSX headers")] = "zh",
):
    scope = indicator_scope(actor)
    start, end = _period(start, end)
    answer = report.indicators(session, start, end, now, by, kind, scope)
    name = f"wangge-indicators-{by}-{start.date().isoformat()}-{end.date().isoformat()}"
    if f == "csv":
        return Response(
            to_csv(answer, lang),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if f == "xlsx":
        return Response(
            to_xlsx(answer, lang),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    return answer


@router.get(
    "/stats/indicators/series",
    summary="The indicators per week (from Monday) or calendar month of a period, in total or for one grid",
    responses=_REFUSED,
)
def indicator_series(
    session: SessionDep,
    actor: ActorDep,
    now: NowDep,
    start: Start,
    end: End,
    interval: Annotated[str, Query(description="week | month")] = "month",
    by: Annotated[str, Query(description="none | grid")] = "none",
    key: Annotated[str | None, Query(description="The grid's code (by=grid)", max_length=64)] = None,
    indicator: Annotated[str | None, Query(description="Only this indicator's values", max_length=32)] = None,
    kind: Kind = None,
) -> dict[str, Any]:
    scope = indicator_scope(actor)
    start, end = _period(start, end)
    return report.series(session, start, end, now, interval, by, key, indicator, kind, scope)


@router.get(
    "/stats/indicators/incidents",
    summary="The incidents behind a figure: the timeline rows it counts (a rate: its denominator's)",
    responses=_REFUSED,
)
def indicator_incidents(
    session: SessionDep,
    actor: ActorDep,
    start: Start,
    end: End,
    indicator: Annotated[str, Query(description="An indicator key, e.g. closed, close_rate, overdue", max_length=32)],
    by: By = "none",
    key: Annotated[str | None, Query(description="The group's key as the indicators give it", max_length=100)] = None,
    kind: Kind = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    scope = indicator_scope(actor)
    start, end = _period(start, end)
    return report.incidents_behind(session, start, end, indicator, by, key, kind, scope, limit, offset)
