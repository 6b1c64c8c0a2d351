"""Geotagging and the revision counters run on wangge's own sessions only: importing geo changes
nothing about SQLAlchemy's other sessions (Alembic's, a script's)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.db.session import session_factory, session_scope
from geo.models import Grid, Incident, LayerRevision, utcnow
from geo.spatial.geometry import from_db, to_db


def _report(session, point) -> Incident:
    incident = Incident(
        kind="hazard", category="fire_safety", title="hooks", status="reported", geom=to_db(point), created_at=utcnow()
    )
    session.add(incident)
    return incident


def _revision(session, layer: str) -> int:
    return session.scalar(select(LayerRevision.revision).where(LayerRevision.layer == layer))


def test_only_wangges_sessions_geotag_and_count_revisions(demo):
    with session_scope(demo) as s:
        grid = s.scalars(select(Grid).order_by(Grid.code)).first()
        point = s.scalar(select(Grid.geom.ST_PointOnSurface()).where(Grid.id == grid.id))
        grid_id, before = grid.id, _revision(s, "grids")
    point = from_db(point)

    with Session(demo) as plain:  # SQLAlchemy's own session class, as Alembic or a script uses it
        incident = _report(plain, point)
        plain.get(Grid, grid_id).name = "renamed by a plain session"
        plain.commit()
        assert incident.grid_id is None
        assert _revision(plain, "grids") == before

    with session_factory(demo)() as ours:
        incident = _report(ours, point)
        ours.get(Grid, grid_id).name = "renamed by wangge"
        ours.commit()
        assert incident.grid_id == grid_id
        assert _revision(ours, "grids") == before + 1
