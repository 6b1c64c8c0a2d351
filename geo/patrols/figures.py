"""Coverage: how many of a grid's buildings patrols passed in a period, which not for days, and
by whom. Read from the visits that outlive the tracks (which buildings on which day) and, per
worker, from the visits still kept plus the daily figures written when tracks are purged."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.errors import InputError, NotFound
from geo.models import Building, BuildingVisitDay, CoverageDay, Grid, Patrol, PatrolVisit, Responder
from geo.patrols.service import day_bounds
from geo.settings import get_settings

MAX_DAYS = 366


def check_period(start: date, end: date) -> None:
    if end < start:
        raise InputError(f"The period ends ({end}) before it starts ({start})")
    if (end - start).days >= MAX_DAYS:
        raise InputError(f"Ask for at most {MAX_DAYS} days at a time")


def _share(visited: int, buildings: int) -> float:
    return round(visited / buildings, 4) if buildings else 0.0


@dataclass
class GridCoverage:
    grid: Grid
    start: date
    end: date
    buildings: list[Building]
    visited: set[int]
    last_visit: dict[int, date]  # building id -> its latest day visited, up to ``end``
    days: list[dict[str, Any]]
    stale_days: int
    by_worker: list[dict[str, Any]] = field(default_factory=list)

    @property
    def stale(self) -> list[Building]:
        since = self.end - timedelta(days=self.stale_days - 1)
        return [b for b in self.buildings if self.last_visit.get(b.id, date.min) < since]

    def summary(self) -> dict[str, Any]:
        n = len(self.buildings)
        return {
            "grid": self.grid.code,
            "name": self.grid.name,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "visit_m": get_settings().patrol_visit_m,
            "stale_days": self.stale_days,
            "buildings": n,
            "visited": len(self.visited),
            "share": _share(len(self.visited), n),
            "stale": len(self.stale),
            "days": self.days,
        }

    def details(self) -> dict[str, Any]:
        """Which buildings and who: for those who may see the grid's patrols."""
        return {
            "visited_buildings": sorted(b.code for b in self.buildings if b.id in self.visited),
            "stale_buildings": [
                {
                    "code": b.code,
                    "name": b.name,
                    "last_visited": self.last_visit[b.id].isoformat() if b.id in self.last_visit else None,
                }
                for b in self.stale
            ],
            "by_worker": self.by_worker,
        }


def grid_coverage(session: Session, code: str, start: date, end: date) -> GridCoverage:
    check_period(start, end)
    grid = session.scalar(select(Grid).where(Grid.code == code))
    if grid is None:
        raise NotFound(f"No grid with code {code!r}")
    stale_days = get_settings().patrol_stale_days
    buildings = list(session.scalars(select(Building).where(Building.grid_id == grid.id).order_by(Building.code)))
    in_grid = select(Building.id).where(Building.grid_id == grid.id).scalar_subquery()
    rows = session.execute(
        select(BuildingVisitDay.building_id, BuildingVisitDay.day).where(
            BuildingVisitDay.building_id.in_(in_grid), BuildingVisitDay.day <= end
        )
    ).all()
    visited = {b for b, d in rows if start <= d <= end}
    last_visit: dict[int, date] = {}
    per_day: dict[date, int] = {}
    for b, d in rows:
        last_visit[b] = max(last_visit.get(b, d), d)
        if start <= d <= end:
            per_day[d] = per_day.get(d, 0) + 1
    n = len(buildings)
    days = []
    day = start
    while day <= end:
        days.append({"date": day.isoformat(), "visited": per_day.get(day, 0), "share": _share(per_day.get(day, 0), n)})
        day += timedelta(days=1)
    result = GridCoverage(grid, start, end, buildings, visited, last_visit, days, stale_days)
    result.by_worker = _by_worker(session, grid.id, start, end)
    return result


def _by_worker(session: Session, grid_id: int, start: date, end: date) -> list[dict[str, Any]]:
    """Per worker: patrols, distinct buildings of the grid passed and distance, from the visits
    still kept, plus the daily figures of days already purged."""
    lo, hi = day_bounds(start, end)
    kept = session.execute(
        select(
            Patrol.responder_id,
            func.count(func.distinct(Patrol.id)),
            func.count(func.distinct(PatrolVisit.building_id)),
        )
        .join(PatrolVisit, PatrolVisit.patrol_id == Patrol.id)
        .join(Building, Building.id == PatrolVisit.building_id)
        .where(Building.grid_id == grid_id, Patrol.started_at >= lo, Patrol.started_at < hi)
        .group_by(Patrol.responder_id)
    ).all()
    figures: dict[int, dict[str, float]] = {r: {"patrols": p, "visited": v, "distance_m": 0.0} for r, p, v in kept}
    walked = session.execute(
        select(Patrol.responder_id, func.sum(Patrol.distance_m))
        .where(
            Patrol.started_at >= lo,
            Patrol.started_at < hi,
            Patrol.id.in_(
                select(PatrolVisit.patrol_id)
                .join(Building, Building.id == PatrolVisit.building_id)
                .where(Building.grid_id == grid_id)
            ),
        )
        .group_by(Patrol.responder_id)
    ).all()
    for r, d in walked:
        figures.setdefault(r, {"patrols": 0, "visited": 0, "distance_m": 0.0})["distance_m"] += float(d or 0.0)
    purged = session.execute(
        select(
            CoverageDay.responder_id,
            func.sum(CoverageDay.patrols),
            func.sum(CoverageDay.visited),
            func.sum(CoverageDay.distance_m),
        )
        .where(CoverageDay.grid_id == grid_id, CoverageDay.day >= start, CoverageDay.day <= end)
        .group_by(CoverageDay.responder_id)
    ).all()
    for r, p, v, d in purged:
        row = figures.setdefault(r, {"patrols": 0, "visited": 0, "distance_m": 0.0})
        row["patrols"] += int(p or 0)
        row["visited"] += int(v or 0)  # days purged count each day's buildings
        row["distance_m"] += float(d or 0.0)
    people = {r.id: r for r in session.scalars(select(Responder).where(Responder.id.in_(list(figures))))}
    return [
        {
            "responder": people[r].code,
            "name": people[r].name,
            "patrols": int(f["patrols"]),
            "visited": int(f["visited"]),
            "distance_m": round(f["distance_m"], 1),
        }
        for r, f in sorted(figures.items(), key=lambda item: people[item[0]].code)
    ]


def all_grids_coverage(session: Session, start: date, end: date) -> list[dict[str, Any]]:
    """Per grid: buildings, visited in the period, the share, and how many not visited for the
    stale period ending at ``end``."""
    check_period(start, end)
    stale_days = get_settings().patrol_stale_days
    since = end - timedelta(days=stale_days - 1)
    counts: dict[int | None, int] = {
        grid_id: n
        for grid_id, n in session.execute(
            select(Building.grid_id, func.count()).where(Building.grid_id.is_not(None)).group_by(Building.grid_id)
        )
    }

    def distinct_visited(first: date) -> dict[int | None, int]:
        return {
            grid_id: n
            for grid_id, n in session.execute(
                select(Building.grid_id, func.count(func.distinct(BuildingVisitDay.building_id)))
                .join(Building, Building.id == BuildingVisitDay.building_id)
                .where(BuildingVisitDay.day >= first, BuildingVisitDay.day <= end)
                .group_by(Building.grid_id)
            )
        }

    visited = distinct_visited(start)
    recent = distinct_visited(since)
    rows = []
    for grid_id, code, name in session.execute(select(Grid.id, Grid.code, Grid.name).order_by(Grid.code)):
        n = counts.get(grid_id, 0)
        v = visited.get(grid_id, 0)
        rows.append(
            {
                "grid": code,
                "name": name,
                "buildings": n,
                "visited": v,
                "share": _share(v, n),
                "stale": n - recent.get(grid_id, 0),
            }
        )
    return rows
