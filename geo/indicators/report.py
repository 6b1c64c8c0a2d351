"""The indicators for a period, grouped; their series by week or month; the incidents behind a
figure. Everything comes from the timeline (geo/indicators/counting.py), long periods mostly from
its rollup (geo/indicators/rollup.py): both give the same numbers.

``grid_ids`` is the caller's scope (geo/access/policy.py :func:`indicator_scope`): None for
everything, else the grids whose rows they may see (a grid leader's).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import func, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from geo.errors import BadQuery, NotFound, PermissionDenied
from geo.indicators import rollup
from geo.indicators.counting import (
    RESPONDER_COUNTERS,
    SUMS,
    H,
    add,
    conditions,
    count_direct,
    owed_open,
    owed_open_rows,
)
from geo.indicators.definitions import BY_KEY, INDICATORS, Counts, values
from geo.models import CatalogueEntry, CatalogueVersion, Community, Grid, Incident, Responder
from geo.settings import get_settings

BY = ("grid", "community", "worker", "department", "category", "none")
NONE_KEY = "(none)"
INTERVALS = ("week", "month")
# The timeline rows behind each figure: a count's own rows; a rate's, those of its denominator.
ROWS_BEHIND: dict[str, tuple[str, ...]] = {
    "reports": ("reports",),
    "valid_report_rate": ("registered", "rejected", "merged"),
    "registered": ("registered",),
    "register_rate": ("reports",),
    "due_to_close": ("closed", "owed"),
    "closed": ("closed",),
    "close_rate": ("closed", "owed"),
    "closed_on_time": ("closed_on_time",),
    "close_on_time_rate": ("closed", "owed"),
    "handled": ("handled",),
    "handle_on_time_rate": ("handle_timed",),
    "rework_rate": ("handled",),
    "verify_on_time_rate": ("verify_timed",),
    "check_on_time_rate": ("check_timed",),
    "avg_handle_work_hours": ("work_hours_n",),
    "supervised": ("supervised",),
    "overdue": ("overdue",),
}


def check_period(start: datetime, end: datetime) -> None:
    if end <= start:
        raise BadQuery(
            f"The period must end after it starts: end {end.isoformat()} is not after start {start.isoformat()}"
        )


def check_by(by: str, allowed: Iterable[str] = BY) -> None:
    if by not in allowed:
        raise BadQuery(f"Unknown grouping by={by!r}: use one of {', '.join(allowed)}")


def _dimension(by: str) -> str:
    return "grid" if by in ("grid", "community", "none") else by


def group_counts(
    session: Session,
    dim: str,
    start: datetime,
    end: datetime,
    now: datetime,
    kind: str | None = None,
    grid_ids: Iterable[int] | None = None,
    use_rollup: bool = True,
) -> tuple[dict[str, Counts], dict[str, int]]:
    """Key -> counters, and key -> the 应结案 term, for dimension ``dim`` over [start, end)."""
    grids = None if grid_ids is None else sorted(grid_ids)
    if not use_rollup or (grids is not None and dim != "grid"):
        counts = count_direct(session, dim, start, end, kind, grids)
    else:
        plan = rollup.ensure(session, rollup.plan(start, end, rollup.china_day(now)))
        keys = None if grids is None else [str(g) for g in grids]
        counts = {}
        for span, days in (("m", plan.months), ("d", plan.days)):
            for key, c in rollup.read(session, span, days, dim, kind, keys).items():
                add(counts, key, c)
        for a, b in plan.direct:
            for key, c in count_direct(session, dim, a, b, kind, grids).items():
                add(counts, key, c)
    return counts, owed_open(session, dim, start, end, kind, grids)


@dataclass(frozen=True)
class Names:
    """Group key (as the timeline has it) -> (key, name) as answers give them."""

    by: str
    keys: dict[str, tuple[str, str]]
    listed: list[str]  # keys every answer lists, with zeros if need be (the grids, communities)

    def of(self, raw: str) -> tuple[str, str]:
        if raw in self.keys:
            return self.keys[raw]
        return (NONE_KEY, "(无)") if raw == "" else (raw, raw)


def _names(session: Session, by: str, grid_ids: Iterable[int] | None) -> Names:
    scope = None if grid_ids is None else set(grid_ids)
    if by in ("grid", "community"):
        grids = [
            g
            for g in session.execute(select(Grid.id, Grid.code, Grid.name, Grid.community_id))
            if scope is None or g.id in scope
        ]
        if by == "grid":
            keys = {str(g.id): (g.code, g.name) for g in grids}
            return Names(by, keys, [str(g.id) for g in grids])
        communities = {
            c.id: (c.code, c.name) for c in session.execute(select(Community.id, Community.code, Community.name))
        }
        keys = {str(g.id): communities.get(g.community_id, (NONE_KEY, "(无)")) for g in grids}
        listed = sorted({str(g.id) for g in grids if g.community_id in communities}, key=lambda k: keys[k][0])
        return Names(by, keys, listed)
    if by == "worker":
        keys = {
            str(r.id): (r.code, r.name) for r in session.execute(select(Responder.id, Responder.code, Responder.name))
        }
        return Names(by, keys, [])
    if by == "category":
        # A sub-category's name as the catalogues call it (the current one's first), else its key.
        names = session.execute(
            select(CatalogueEntry.category, CatalogueEntry.minor_name)
            .join(CatalogueVersion, CatalogueVersion.id == CatalogueEntry.version_id)
            .order_by(CatalogueVersion.is_current, CatalogueVersion.number)
        )
        return Names(by, {category: (category, name) for category, name in names}, [])
    return Names(by, {}, [])


def indicators(
    session: Session,
    start: datetime,
    end: datetime,
    now: datetime,
    by: str = "grid",
    kind: str | None = None,
    grid_ids: Iterable[int] | None = None,
    use_rollup: bool = True,
) -> dict[str, Any]:
    """Every indicator per group of ``by`` and in total, for [start, end)."""
    check_period(start, end)
    check_by(by)
    settings = get_settings()
    weights, grades = settings.indicator_weights, settings.indicator_grades
    counts, owed = group_counts(session, _dimension(by), start, end, now, kind, grid_ids, use_rollup)
    names = _names(session, by, grid_ids)
    grouped: dict[tuple[str, str], Counts] = {}
    grouped_owed: dict[tuple[str, str], int] = {}
    total: dict[str, Counts] = {}
    for raw in dict.fromkeys([*names.listed, *counts, *owed]):
        key = names.of(raw)
        add(grouped, key, counts.get(raw, dict.fromkeys(SUMS, 0)))
        grouped_owed[key] = grouped_owed.get(key, 0) + owed.get(raw, 0)
    for c in counts.values():
        add(total, "total", c)
    total_counts = total.get("total", dict.fromkeys(SUMS, 0))
    total_owed = sum(owed.values())
    total_row = {"key": "total", "name": "合计", **values(total_counts, total_owed, weights, grades)}
    if by == "none":
        rows = [total_row]
    else:
        rows = [
            {"key": key, "name": name, **values(c, grouped_owed[(key, name)], weights, grades)}
            for (key, name), c in sorted(grouped.items())
        ]
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "by": by,
        "kind": kind,
        "indicators": [i.as_json() for i in INDICATORS],
        "rows": rows,
        "total": total_row,
        "weights": weights,
        "grades": [[g, b] for g, b in grades],
    }


# --------------------------------------------------------------------------- series


def _next_boundary(moment: datetime, interval: str) -> datetime:
    day = rollup.china_day(moment)
    if interval == "week":
        nxt = day + timedelta(days=7 - day.weekday())
    else:
        nxt = rollup.month_end(date(day.year, day.month, 1))
    return rollup.midnight(nxt)


def series(
    session: Session,
    start: datetime,
    end: datetime,
    now: datetime,
    interval: str = "month",
    by: str = "none",
    key: str | None = None,
    indicator: str | None = None,
    kind: str | None = None,
    grid_ids: Iterable[int] | None = None,
    limit: int = 400,
) -> dict[str, Any]:
    """The indicators (or one) per week (from Monday) or calendar month in [start, end), in
    total or for one grid (``by`` grid, ``key`` its code)."""
    check_period(start, end)
    check_by(by, ("none", "grid"))
    if interval not in INTERVALS:
        raise BadQuery(f"Unknown interval {interval!r}: use week or month")
    if indicator is not None and indicator not in BY_KEY:
        raise BadQuery(f"Unknown indicator {indicator!r}: use one of {', '.join(BY_KEY)}")
    scope = grid_ids
    if by == "grid":
        if key is None:
            raise BadQuery("by=grid needs key: the grid's code")
        scope = [_grid_id(session, key, grid_ids)]
    periods: list[dict[str, Any]] = []
    a = start
    while a < end:
        if len(periods) >= limit:
            raise BadQuery(f"The period holds more than {limit} {interval}s: ask for a shorter one")
        b = min(_next_boundary(a, interval), end)
        answer = indicators(session, a, b, now, "none", kind, scope)
        figures = answer["total"]
        picked = {k: figures[k] for k in BY_KEY if indicator is None or k == indicator}
        periods.append({"start": a.isoformat(), "end": b.isoformat(), "values": picked})
        a = b
    return {"interval": interval, "by": by, "key": key, "periods": periods}


def _grid_id(session: Session, code: str, grid_ids: Iterable[int] | None) -> int:
    grid_id = session.scalar(select(Grid.id).where(Grid.code == code))
    if grid_id is None:
        raise NotFound(f"No grid with code {code!r}")
    if grid_ids is not None and grid_id not in set(grid_ids):
        raise PermissionDenied(f"Grid {code} is not one of yours: you see the indicators of your own grids")
    return grid_id


# --------------------------------------------------------------------------- incidents behind a figure


def _key_filter(
    session: Session, by: str, key: str | None, counter: str, grid_ids: Iterable[int] | None
) -> list[ColumnElement[bool]]:
    if by == "none" or key is None:
        return []
    if by == "grid":
        return [H.grid_id == _grid_id(session, key, grid_ids)]
    if by == "community":
        community = session.scalar(select(Community.id).where(Community.code == key))
        if community is None:
            raise NotFound(f"No community with code {key!r}")
        return [H.grid_id.in_(select(Grid.id).where(Grid.community_id == community))]
    columns: dict[str, ColumnElement[Any]] = {
        "worker": (H.responder_id if counter in RESPONDER_COUNTERS else H.assignee_id).expression,
        "department": H.department.expression,
        "category": H.category.expression,
    }
    column = columns[by]
    if key == NONE_KEY:
        return [column.is_(None)]
    if by == "worker":
        responder = session.scalar(select(Responder.id).where(Responder.code == key))
        if responder is None:
            raise NotFound(f"No responder with code {key!r}")
        return [column == responder]
    return [column == key]


def incidents_behind(
    session: Session,
    start: datetime,
    end: datetime,
    indicator: str,
    by: str = "none",
    key: str | None = None,
    kind: str | None = None,
    grid_ids: Iterable[int] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """The incidents whose timeline rows in [start, end) make ``indicator`` (a count's rows; a
    rate's denominator's), for the group ``key`` of ``by``; each once, at its first such row."""
    check_period(start, end)
    check_by(by)
    if indicator not in ROWS_BEHIND:
        raise BadQuery(f"No incidents behind {indicator!r}: use one of {', '.join(ROWS_BEHIND)}")
    if by != "none" and key is None:
        raise BadQuery(f"by={by} needs key: the group's key as the indicators give it")
    selects = []
    scope = None if grid_ids is None else sorted(grid_ids)
    for counter in ROWS_BEHIND[indicator]:
        where = _key_filter(session, by, key, counter, grid_ids)
        if kind is not None:
            where.append(H.kind == kind)
        if scope is not None:
            where.append(H.grid_id.in_(scope))
        if counter == "owed":
            selects.append(owed_open_rows(start, end, None, None).where(*where).with_only_columns(H.incident_id, H.at))
        else:
            selects.append(select(H.incident_id, H.at).where(conditions()[counter], H.at >= start, H.at < end, *where))
    rows = union_all(*selects).subquery()
    firsts = select(rows.c.incident_id, func.min(rows.c.at).label("at")).group_by(rows.c.incident_id).subquery()
    total = session.scalar(select(func.count()).select_from(firsts)) or 0
    page = session.execute(
        select(Incident, firsts.c.at, Grid.code)
        .join(firsts, firsts.c.incident_id == Incident.id)
        .outerjoin(Grid, Grid.id == Incident.grid_id)
        .order_by(firsts.c.at, Incident.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return {
        "indicator": indicator,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "by": by,
        "key": key,
        "incidents": [
            {
                "id": i.id,
                "code": i.code,
                "kind": i.kind,
                "category": i.category,
                "title": i.title,
                "status": i.status,
                "grid": code,
                "at": at.isoformat(),
            }
            for i, at, code in cast(list[tuple[Incident, datetime, str | None]], page)
        ],
        "total": total,
    }


__all__ = ["BY", "indicators", "incidents_behind", "series"]
