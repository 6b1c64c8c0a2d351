"""Patrols from start to end: check-in, fix batches, the rebuilt track, visits, and purging.

A batch of fixes is stored raw and cleaned against the last fix kept, which keeps the running
figures (fixes kept, distance) up to date cheaply; ending the patrol rebuilds everything from all
its raw fixes (late batches included) and records the buildings it passed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Point
from sqlalchemy import ScalarResult, delete, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from geo.access.policy import (
    Actor,
    check_may_end_patrol,
    check_may_patrol,
    check_may_send_fixes,
)
from geo.db import bulk
from geo.edit.features import service_area
from geo.errors import Conflict, InputError, NotFound
from geo.models import (
    Building,
    BuildingVisitDay,
    CoverageDay,
    Grid,
    Incident,
    Patrol,
    PatrolFix,
    PatrolVisit,
    Responder,
    responder_grids,
)
from geo.models.patrols import ENDED, RUNNING
from geo.patrols import tracks
from geo.patrols.coverage import track_visits
from geo.settings import get_settings
from geo.spatial.geometry import from_db, geodesic_distance_to, to_db
from geo.timezones import CHINA_TIME

# Fixes may come from a little before the patrol started (the phone had a fix in hand).
START_SLACK = timedelta(minutes=10)
# A fix this far outside the area wangge serves is refused (a worker may step across a border street).
AREA_MARGIN_M = 1000.0


def china_day(moment: datetime) -> date:
    return moment.astimezone(CHINA_TIME).date()


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """From the start of ``first`` to the end of ``last``, China time."""
    return (
        datetime.combine(first, time(0), CHINA_TIME),
        datetime.combine(last + timedelta(days=1), time(0), CHINA_TIME),
    )


# --------------------------------------------------------------------------- the worker's grids


def responder_grid_ids(session: Session, responder_id: int) -> list[int]:
    return list(
        session.scalars(
            select(responder_grids.c.grid_id)
            .where(responder_grids.c.responder_id == responder_id)
            .order_by(responder_grids.c.grid_id)
        )
    )


def _own_area(session: Session, responder_id: int):
    """The union of the worker's grids (prepared), or None when they serve none."""
    stored: ScalarResult[Any] = session.scalars(
        select(Grid.geom).where(Grid.id.in_(responder_grid_ids(session, responder_id)))
    )
    geoms = [from_db(g) for g in stored]
    if not geoms:
        return None
    area = shapely.union_all(np.array(geoms, dtype=object))
    shapely.prepare(area)
    return area


def _check_in(session: Session, patrol: Patrol, lon: float, lat: float) -> None:
    """Where the patrol began, and whether that was within the check-in distance of the grids."""
    area = _own_area(session, patrol.responder_id)
    patrol.start_geom = to_db(Point(lon, lat))
    distance = None if area is None else geodesic_distance_to(area, lon, lat)
    patrol.check_in_distance_m = None if distance is None else round(distance, 1)
    patrol.checked_in = distance is not None and distance <= get_settings().patrol_checkin_m


# --------------------------------------------------------------------------- start, fixes, end


def running_patrol(session: Session, responder_id: int) -> Patrol | None:
    return session.scalar(select(Patrol).where(Patrol.responder_id == responder_id, Patrol.status == RUNNING))


def start_patrol(
    session: Session,
    actor: Actor,
    now: datetime,
    position: tuple[float, float] | None = None,
    source: str = "app",
    responder_id: int | None = None,
) -> Patrol:
    """A new running patrol of the actor's responder (or ``responder_id``, for imports);
    ``position`` (WGS84) is where the worker stands, for the check-in."""
    if responder_id is None:
        check_may_patrol(actor)
        assert actor.responder_id is not None  # check_may_patrol refuses those without one
        responder_id = actor.responder_id
    # The responder's row is the lock: two starts at once cannot both find no running patrol.
    responder = session.get(Responder, responder_id, with_for_update=True)
    if responder is None:
        raise NotFound(f"No responder with id {responder_id}")
    running = running_patrol(session, responder_id)
    if running is not None:
        raise Conflict(f"{responder.name} already has a running patrol, {running.code} (id {running.id}): end it first")
    patrol = Patrol(responder_id=responder_id, started_by=actor.name, status=RUNNING, source=source, started_at=now)
    session.add(patrol)
    session.flush()
    patrol.code = f"XL{china_day(now):%Y%m%d}-{patrol.id:06d}"
    if position is not None:
        tracks.check_fixes(np.array([[position[0], position[1], now.timestamp(), np.nan]]), now, now, 1)
        _check_in(session, patrol, *position)
    return patrol


def get_patrol(session: Session, patrol_id: int, for_update: bool = False) -> Patrol:
    patrol = session.get(Patrol, patrol_id, with_for_update=for_update)
    if patrol is None:
        raise NotFound(f"No patrol with id {patrol_id}")
    return patrol


@dataclass(frozen=True)
class BatchResult:
    received: int
    kept: int
    dropped: dict[str, int]
    reordered: int


def check_in_area(session: Session, fixes: np.ndarray) -> None:
    """Refuse fixes more than ``AREA_MARGIN_M`` outside the area wangge serves, naming the first."""
    area = service_area(session)
    if area is None:
        return
    margin_deg = AREA_MARGIN_M / 111_320.0  # degrees of latitude; generous in longitude
    near = shapely.dwithin(area, shapely.points(fixes[:, :2]), margin_deg)
    if not near.all():
        i = int(np.flatnonzero(~near)[0])
        raise InputError(
            f"fix {i} ({fixes[i, 0]:.6f}, {fixes[i, 1]:.6f}) is outside the area wangge serves; "
            "is the crs right (gcj02 for Amap/Tencent positions)?"
        )


def add_fixes(
    session: Session,
    patrol: Patrol,
    actor: Actor | None,
    fixes: np.ndarray,
    now: datetime,
    not_before: datetime | None = None,
) -> BatchResult:
    """Store a batch of raw fixes (WGS84) and bring the running figures up to date. ``actor``
    None: an import, already checked."""
    settings = get_settings()
    if actor is not None:
        check_may_send_fixes(actor, patrol.responder_id)
    if patrol.status != RUNNING:
        raise Conflict(f"Patrol {patrol.code} has ended: its fixes can no longer change")
    tracks.check_fixes(fixes, now, not_before or patrol.started_at - START_SLACK, settings.patrol_max_batch)
    check_in_area(session, fixes)
    # Column by column through the bulk writer (COPY on PostGIS): a batch of 500 rows as one
    # executemany of dicts cost most of a batch's time in SQLAlchemy.
    accuracy = fixes[:, tracks.ACC].astype(object)
    accuracy[np.isnan(fixes[:, tracks.ACC])] = None
    bulk.insert(
        session,
        PatrolFix.__table__,
        {
            "patrol_id": [patrol.id] * len(fixes),
            "t": fixes[:, tracks.T],
            "lon": fixes[:, tracks.LON],
            "lat": fixes[:, tracks.LAT],
            "accuracy_m": accuracy,
        },
    )
    previous = None
    if patrol.last_t is not None and patrol.last_lon is not None and patrol.last_lat is not None:
        previous = (patrol.last_t, patrol.last_lon, patrol.last_lat)
    late = 0
    if previous is not None:
        # Fixes from before the last one kept came late (a batch sent after a later one): the
        # rebuild at the end puts them in their place.
        early = fixes[:, tracks.T] < previous[0]
        late = int(early.sum())
        fixes = fixes[~early]
    cleaned = tracks.clean(fixes, settings.patrol_max_accuracy_m, settings.patrol_max_speed_mps, previous)
    kept = cleaned.kept
    patrol.fixes_received += len(fixes) + late
    patrol.fixes_kept += len(kept)
    patrol.dropped = dict(Counter(patrol.dropped or {}) + cleaned.dropped)
    patrol.reordered += cleaned.reordered + late
    if len(kept):
        if patrol.checked_in is None:
            _check_in(session, patrol, float(kept[0, 0]), float(kept[0, 1]))
        joined = kept if previous is None else np.vstack(([[previous[1], previous[2], previous[0], np.nan]], kept))
        patrol.distance_m += tracks.line_length_m(tracks.simplified_line(joined, settings.patrol_simplify_m))
        patrol.last_t, patrol.last_lon, patrol.last_lat = (float(v) for v in kept[-1, [2, 0, 1]])
    return BatchResult(len(fixes) + late, len(kept), dict(cleaned.dropped), cleaned.reordered + late)


def end_patrol(session: Session, patrol: Patrol, actor: Actor | None, now: datetime) -> Patrol:
    if actor is not None:
        check_may_end_patrol(actor, patrol.responder_id)
    if patrol.status != RUNNING:
        raise Conflict(
            f"Patrol {patrol.code} has already ended, at {patrol.ended_at.isoformat() if patrol.ended_at else '?'}"
        )
    patrol.status = ENDED
    patrol.ended_at = now
    rebuild(session, patrol)
    return patrol


# --------------------------------------------------------------------------- the whole track


def raw_fixes(session: Session, patrol_id: int) -> np.ndarray:
    """The patrol's raw fixes in the order they arrived, as an (n, 4) array."""
    rows = session.execute(
        select(PatrolFix.lon, PatrolFix.lat, PatrolFix.t, PatrolFix.accuracy_m)
        .where(PatrolFix.patrol_id == patrol_id)
        .order_by(PatrolFix.id)
    ).all()
    return np.array(rows, dtype=float).reshape(-1, 4)  # None accuracy becomes NaN


@dataclass
class Track:
    """A patrol's cleaned fixes, their simplified line, and the buildings passed (ids, times)."""

    cleaned: tracks.Cleaned
    line: LineString | None
    visited: dict[int, float]  # building id -> Unix time of the first fix near it


def compute_track(session: Session, patrol: Patrol) -> Track:
    settings = get_settings()
    cleaned = tracks.clean(raw_fixes(session, patrol.id), settings.patrol_max_accuracy_m, settings.patrol_max_speed_mps)
    kept = cleaned.kept
    visited: dict[int, float] = {}
    if len(kept):
        # Visits are measured on every kept fix (not the simplified line) so each has its time.
        path = LineString(kept[:, :2]) if len(kept) > 1 else Point(kept[0, :2])
        found = track_visits(session, [path], settings.patrol_visit_m)
        visited = {int(b): float(kept[v, tracks.T]) for b, v in zip(found.building_id, found.vertex, strict=True)}
    return Track(cleaned, tracks.simplified_line(kept, settings.patrol_simplify_m), visited)


def rebuild(session: Session, patrol: Patrol) -> Track:
    """Recompute everything from the raw fixes and store it: the track, its figures, the visits."""
    track = compute_track(session, patrol)
    kept = track.cleaned.kept
    patrol.fixes_received = len(kept) + sum(track.cleaned.dropped.values())
    patrol.fixes_kept = len(kept)
    patrol.dropped = dict(track.cleaned.dropped)
    patrol.reordered = track.cleaned.reordered
    patrol.geom = to_db(track.line)
    patrol.distance_m = round(tracks.line_length_m(track.line), 1)
    patrol.in_own_grids_s = tracks.time_inside_s(kept, _own_area(session, patrol.responder_id))
    if len(kept):
        patrol.last_t, patrol.last_lon, patrol.last_lat = (float(v) for v in kept[-1, [2, 0, 1]])
        if patrol.checked_in is None:
            _check_in(session, patrol, float(kept[0, 0]), float(kept[0, 1]))
    end = patrol.ended_at or datetime.fromtimestamp(patrol.last_t or patrol.started_at.timestamp(), CHINA_TIME)
    patrol.duration_s = max((end - patrol.started_at).total_seconds(), 0.0)
    session.execute(delete(PatrolVisit).where(PatrolVisit.patrol_id == patrol.id))
    if track.visited:
        session.execute(
            insert(PatrolVisit),
            [
                {"patrol_id": patrol.id, "building_id": b, "at": datetime.fromtimestamp(t, CHINA_TIME)}
                for b, t in track.visited.items()
            ],
        )
        days = {(datetime.fromtimestamp(t, CHINA_TIME).date(), b) for b, t in track.visited.items()}
        _insert_ignore(session, BuildingVisitDay, [{"day": d, "building_id": b} for d, b in sorted(days)])
    return track


def _insert_ignore(session: Session, model, rows: list[dict]) -> None:
    """Insert rows, leaving those whose key is already there (another patrol that day)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(model).on_conflict_do_nothing()
    session.execute(stmt, rows)


def visited_ids(session: Session, patrol: Patrol) -> dict[int, float]:
    """The buildings a patrol passed: stored for an ended patrol, from its fixes so far while
    it runs (building id -> Unix time)."""
    if patrol.status == RUNNING:
        return compute_track(session, patrol).visited
    rows = session.execute(select(PatrolVisit.building_id, PatrolVisit.at).where(PatrolVisit.patrol_id == patrol.id))
    return {b: at.timestamp() for b, at in rows}


def buildings_to_visit(
    session: Session, patrol: Patrol, visited_now: set[int], now: datetime, limit: int = 200
) -> list[Building]:
    """Buildings of the worker's grids no patrol of theirs has passed today, nearest first."""
    start, end = day_bounds(china_day(now), china_day(now))
    seen_today = (
        select(PatrolVisit.building_id)
        .join(Patrol, Patrol.id == PatrolVisit.patrol_id)
        .where(Patrol.responder_id == patrol.responder_id, PatrolVisit.at >= start, PatrolVisit.at < end)
    )
    candidates = list(
        session.scalars(
            select(Building)
            .where(
                Building.grid_id.in_(responder_grid_ids(session, patrol.responder_id)), Building.id.not_in(seen_today)
            )
            .order_by(Building.code)
        )
    )
    candidates = [b for b in candidates if b.id not in visited_now]
    if patrol.last_lon is not None and candidates:
        points = [from_db(b.geom) for b in candidates]
        lon = np.array([p.x for p in points])  # type: ignore[union-attr]
        lat = np.array([p.y for p in points])  # type: ignore[union-attr]
        _, _, dist = tracks.GEOD.inv(np.full(len(lon), patrol.last_lon), np.full(len(lat), patrol.last_lat), lon, lat)
        candidates = [candidates[i] for i in np.argsort(dist, kind="stable")]
    return candidates[:limit]


# --------------------------------------------------------------------------- retention


def purge_expired(session: Session, now: datetime, retention_days: int | None = None) -> int:
    """Delete the raw fixes, tracks and visits of patrols from days past the retention period,
    first writing each worker's daily figures per grid. Returns how many patrols were purged.

    Whole days at a time, one purge at a time (a lock on PostGIS; SQLite has one writer), so
    each day's figures are counted once."""
    days = get_settings().patrol_retention_days if retention_days is None else retention_days
    cutoff, _ = day_bounds(china_day(now) - timedelta(days=days), china_day(now))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('wangge.patrols.purge'))"))
    patrols = list(session.scalars(select(Patrol).where(Patrol.started_at < cutoff, Patrol.purged_at.is_(None))))
    if not patrols:
        return 0
    for patrol in patrols:
        if patrol.status == RUNNING:  # left running for weeks: it ended with its last fix
            last = patrol.last_t or patrol.started_at.timestamp()
            end_patrol(session, patrol, None, datetime.fromtimestamp(last, CHINA_TIME))
    ids = [p.id for p in patrols]
    _keep_daily_figures(session, patrols)
    session.execute(delete(PatrolFix).where(PatrolFix.patrol_id.in_(ids)))
    session.execute(delete(PatrolVisit).where(PatrolVisit.patrol_id.in_(ids)))
    for patrol in patrols:
        patrol.geom = None
        patrol.start_geom = None
        patrol.last_lon = patrol.last_lat = None
        patrol.purged_at = now
    return len(patrols)


def _keep_daily_figures(session: Session, patrols: list[Patrol]) -> None:
    by_id = {p.id: p for p in patrols}
    rows = session.execute(
        select(PatrolVisit.patrol_id, PatrolVisit.building_id, Building.grid_id)
        .join(Building, Building.id == PatrolVisit.building_id)
        .where(PatrolVisit.patrol_id.in_(list(by_id)), Building.grid_id.is_not(None))
    ).all()
    buildings: dict[tuple[date, int, int], set[int]] = {}
    walked: dict[tuple[date, int, int], set[int]] = {}
    for patrol_id, building_id, grid_id in rows:
        assert grid_id is not None  # selected so
        patrol = by_id[patrol_id]
        key = (china_day(patrol.started_at), grid_id, patrol.responder_id)
        buildings.setdefault(key, set()).add(building_id)
        walked.setdefault(key, set()).add(patrol_id)
    for key, found in buildings.items():
        day, grid_id, responder_id = key
        row = session.get(CoverageDay, (day, grid_id, responder_id))
        if row is None:
            row = CoverageDay(day=day, grid_id=grid_id, responder_id=responder_id, patrols=0, visited=0, distance_m=0.0)
            session.add(row)
        row.patrols += len(walked[key])
        row.visited += len(found)
        row.distance_m += sum(by_id[p].distance_m for p in walked[key])


def count_fixes(session: Session, patrol_id: int) -> int:
    return session.scalar(select(func.count()).select_from(PatrolFix).where(PatrolFix.patrol_id == patrol_id)) or 0


def import_track(session: Session, actor: Actor, responder_id: int, fixes: np.ndarray, now: datetime) -> Patrol:
    """One ended patrol from a track recorded elsewhere (a GPX file): it begins at its first fix
    and ends at its last, and is cleaned and measured like a patrol walked with the app."""
    if len(fixes) == 0:
        raise InputError("The track has no points")
    fixes = fixes[np.argsort(fixes[:, tracks.T], kind="stable")]
    first = datetime.fromtimestamp(float(fixes[0, tracks.T]), CHINA_TIME)
    last = datetime.fromtimestamp(float(fixes[-1, tracks.T]), CHINA_TIME)
    retention = timedelta(days=get_settings().patrol_retention_days)
    if first < now - retention:
        raise InputError(
            f"The track begins {first.isoformat(timespec='seconds')}, more than {retention.days} days ago: "
            "tracks that old are no longer kept"
        )
    patrol = start_patrol(session, actor, first, source="gpx", responder_id=responder_id)
    for start in range(0, len(fixes), get_settings().patrol_max_batch):
        add_fixes(session, patrol, None, fixes[start : start + get_settings().patrol_max_batch], now, now - retention)
    return end_patrol(session, patrol, None, last)


def list_patrols(
    session: Session,
    scope_responders: list[int] | None,
    grid_code: str | None,
    responder_code: str | None,
    day: date | None,
    limit: int,
    offset: int,
) -> tuple[int, list[Patrol]]:
    """Patrols, newest first: of ``scope_responders`` (None: everyone's), of the workers serving
    the grid, of one worker, begun on one (China) day. Returns the total and the page."""
    stmt = select(Patrol)
    if scope_responders is not None:
        stmt = stmt.where(Patrol.responder_id.in_(scope_responders))
    if grid_code is not None:
        grid_id = session.scalar(select(Grid.id).where(Grid.code == grid_code))
        if grid_id is None:
            raise NotFound(f"No grid with code {grid_code!r}")
        stmt = stmt.where(
            Patrol.responder_id.in_(select(responder_grids.c.responder_id).where(responder_grids.c.grid_id == grid_id))
        )
    if responder_code is not None:
        responder_id = session.scalar(select(Responder.id).where(Responder.code == responder_code))
        if responder_id is None:
            raise NotFound(f"No responder with code {responder_code!r}")
        stmt = stmt.where(Patrol.responder_id == responder_id)
    if day is not None:
        lo, hi = day_bounds(day, day)
        stmt = stmt.where(Patrol.started_at >= lo, Patrol.started_at < hi)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = session.scalars(stmt.order_by(Patrol.started_at.desc(), Patrol.id.desc()).limit(limit).offset(offset))
    return total, list(page)


def responders_in_scope(
    session: Session, everyone: bool, grid_ids: frozenset[int], responder_id: int | None
) -> list[int] | None:
    """The responders whose tracks a scope covers (None: everyone's)."""
    if everyone:
        return None
    ids = set(session.scalars(select(responder_grids.c.responder_id).where(responder_grids.c.grid_id.in_(grid_ids))))
    if responder_id is not None:
        ids.add(responder_id)
    return sorted(ids)


def incident_ids(session: Session, patrol_id: int) -> list[int]:
    """The incidents reported during the patrol."""
    return list(session.scalars(select(Incident.id).where(Incident.patrol_id == patrol_id).order_by(Incident.id)))


def patrols_of_grid(session: Session, grid_id: int, start: datetime, end: datetime) -> list[Patrol]:
    """Patrols begun in [start, end) by the workers serving the grid, or that passed one of its
    buildings, oldest first."""
    passed = (
        select(PatrolVisit.patrol_id)
        .join(Building, Building.id == PatrolVisit.building_id)
        .where(Building.grid_id == grid_id)
    )
    serving = select(responder_grids.c.responder_id).where(responder_grids.c.grid_id == grid_id)
    return list(
        session.scalars(
            select(Patrol)
            .where(Patrol.started_at >= start, Patrol.started_at < end)
            .where(Patrol.id.in_(passed) | Patrol.responder_id.in_(serving))
            .order_by(Patrol.started_at, Patrol.id)
        )
    )
