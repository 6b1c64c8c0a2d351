"""Patrols from and to GPX files: each track of a file becomes one ended patrol of a worker,
walked through the same service as the worker app (cleaning, check-in, visits); patrols' raw
fixes are written back as GPX tracks named by their codes.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from geo.access import audit
from geo.access.policy import SYSTEM, Actor
from geo.errors import InputError, WanggeError
from geo.io.gpx import GpxTrack, is_gpx_path, read_gpx, write_gpx
from geo.io.read import ImportFailed
from geo.models import Patrol, Responder
from geo.patrols import service, tracks
from geo.spatial.crs import parse_crs
from geo.timezones import CHINA_TIME

_FIX_INDEX = re.compile(r"^fix (\d+)\b")


@dataclass
class PatrolImport:
    """What an import made: one ended patrol per track of the file."""

    source: str
    responder: str
    patrols: list[tuple[GpxTrack, Patrol]] = field(default_factory=list)

    def lines(self, session: Session) -> list[str]:
        out = [f"patrols: {len(self.patrols)} imported from {self.source} for {self.responder}"]
        for track, patrol in self.patrols:
            out.append(f"  {patrol.code}  {track.label}: {describe(session, patrol)}")
        return out


def describe(session: Session, patrol: Patrol) -> str:
    """One line of a patrol's figures, as the command line prints them."""
    dropped = ", ".join(f"{reason} {n}" for reason, n in sorted((patrol.dropped or {}).items()) if n)
    checked = {True: "yes", False: "no (started away from the worker's grids)", None: "unknown"}[patrol.checked_in]
    return (
        f"{_when(patrol.started_at, patrol.ended_at)}, {patrol.fixes_kept} of {patrol.fixes_received} fixes kept"
        + (f" (dropped: {dropped})" if dropped else "")
        + f", {patrol.distance_m / 1000:.2f} km, {len(service.visited_ids(session, patrol))} buildings passed"
        + f", checked in: {checked}"
    )


def import_patrols(
    session: Session,
    path: str | Path,
    responder_code: str,
    now: datetime,
    crs: str | None = None,
    actor: Actor = SYSTEM,
) -> PatrolImport:
    """One ended patrol of the responder per track of the GPX file at ``path``. All or nothing:
    every problem raises InputError naming the track (and point), and the caller's transaction
    then writes nothing. ``crs`` names the file's coordinates when they are not WGS84 (GPX is
    WGS84 by the standard; some apps write GCJ-02)."""
    path = Path(path)
    if not is_gpx_path(path):
        raise InputError(f"{path.name}: patrols are imported from GPX files (.gpx); this file is not one")
    gpx_tracks = read_gpx(path)
    # The responder's row is the lock (as for a start in the app): two imports of one file at
    # once cannot both find the other's patrols missing.
    responder = session.scalar(select(Responder).where(Responder.code == responder_code).with_for_update())
    if responder is None:
        raise InputError(f"No responder with code {responder_code!r}")
    if crs:
        system = parse_crs(crs)
        for track in gpx_tracks:
            track.fixes[:, 0], track.fixes[:, 1] = system.to_wgs84(track.fixes[:, 0], track.fixes[:, 1])
    problems = _bad_fixes(session, gpx_tracks, now) + _overlaps(session, responder.id, gpx_tracks)
    if problems:
        raise ImportFailed(path.name, problems)
    report = PatrolImport(path.name, f"{responder.code} ({responder.name})")
    for track in gpx_tracks:
        try:
            patrol = service.import_track(session, actor, responder.id, track.fixes, now)
        except WanggeError as exc:
            raise ImportFailed(path.name, [f"{track.label}: {exc}"]) from None
        report.patrols.append((track, patrol))
    return report


def _bad_fixes(session: Session, gpx_tracks: list[GpxTrack], now: datetime) -> list[str]:
    """The service's checks of each fix (time, area), in file order, so that each problem names
    its point: the service sorts a track's fixes by time and takes them in batches. A whole track
    too old to keep is left to the service, which says so for the track."""
    problems = []
    for track in gpx_tracks:
        try:
            tracks.check_fixes(track.fixes, now, datetime.fromtimestamp(0, CHINA_TIME), len(track.fixes))
            service.check_in_area(session, track.fixes)
        except InputError as exc:
            problems.append(f"{track.label}, " + _FIX_INDEX.sub(lambda m: f"point {int(m.group(1)) + 1}", str(exc)))
    return problems


def _overlaps(session: Session, responder_id: int, gpx_tracks: list[GpxTrack]) -> list[str]:
    """Tracks walked during another of the file or during a patrol of the same worker: no one
    walks two at once, and most often it is the same file imported again."""
    problems = []
    spans = [_span(track.fixes) for track in gpx_tracks]
    for i, (track, (first, last)) in enumerate(zip(gpx_tracks, spans, strict=True)):
        during = f"{track.label}: walked {_when(first, last)}, during"
        earlier = next((j for j in range(i) if spans[j][0] < last and first < spans[j][1]), None)
        if earlier is not None:
            problems.append(f"{during} {gpx_tracks[earlier].label} of this file")
            continue
        other = session.scalar(
            select(Patrol)
            .where(Patrol.responder_id == responder_id, Patrol.started_at < last)
            .where(or_(Patrol.ended_at.is_(None), Patrol.ended_at > first))
            .order_by(Patrol.started_at)
            .limit(1)
        )
        if other is not None:
            problems.append(
                f"{during} patrol {other.code} ({_when(other.started_at, other.ended_at)}) of the same worker; "
                "was this file imported already?"
            )
    return problems


def _span(fixes: np.ndarray) -> tuple[datetime, datetime]:
    t = fixes[:, tracks.T]
    return datetime.fromtimestamp(float(t.min()), CHINA_TIME), datetime.fromtimestamp(float(t.max()), CHINA_TIME)


def _when(start: datetime, end: datetime | None) -> str:
    start = start.astimezone(CHINA_TIME)
    if end is None:
        return f"{start:%Y-%m-%d %H:%M}, still running"
    end = end.astimezone(CHINA_TIME)
    return f"{start:%Y-%m-%d %H:%M}-" + (f"{end:%H:%M}" if end.date() == start.date() else f"{end:%Y-%m-%d %H:%M}")


@dataclass(frozen=True)
class PatrolExport:
    patrols: int
    fixes: int
    purged: int  # patrols that matched but whose raw fixes are gone


def export_patrols(
    session: Session,
    path: str | Path,
    reader: str,
    now: datetime,
    responder_code: str | None = None,
    day: date | None = None,
) -> PatrolExport:
    """Write the raw fixes of the patrols begun on ``day`` (China date), of one responder or
    everyone's, as a GPX file: one track per patrol, oldest first, named by its code. Patrols
    already purged have no fixes left and are counted, not written. Nothing is written when no
    patrol has fixes. Tracks are personal data: the audit log notes that ``reader`` read them."""
    path = Path(path)
    if not is_gpx_path(path):
        raise InputError(f"{path.name}: patrols' fixes are written as GPX; name a .gpx file")
    # Every match (the limit is the largest a database takes), oldest first.
    _, found = service.list_patrols(session, None, None, responder_code, day, limit=sys.maxsize, offset=0)
    written: list[tuple[str, np.ndarray]] = []
    ids: list[int] = []
    purged = 0
    for patrol in reversed(found):
        fixes = service.raw_fixes(session, patrol.id)
        if len(fixes):
            written.append((patrol.code or f"patrol {patrol.id}", fixes))
            ids.append(patrol.id)
        elif patrol.purged_at is not None:
            purged += 1
    if written:
        write_gpx(path, written)
        detail = {"path": f"GPX export to {path.name}", "layers": {"patrols": sorted(ids)}}
        audit.record(session, audit.PERSONAL_DATA_READ, audit.OK, now, reader, None, detail)
    return PatrolExport(len(written), sum(len(f) for _, f in written), purged)
