"""The schema on both databases: migrations, spatial indexes, the append-only audit trail."""

from __future__ import annotations

from datetime import UTC

import pytest
from shapely.geometry import Point, box
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError

from geo.db import schema
from geo.db.engine import backend_for
from geo.db.session import session_scope
from geo.models import Base, Building, Grid, Incident, IncidentHistory
from geo.spatial.geometry import as_multipolygon, to_db

GEOMETRY_COLUMNS = [
    ("communities", "geom"),
    ("grids", "geom"),
    ("estates", "geom"),
    ("buildings", "geom"),
    ("buildings", "footprint"),
    ("responders", "geom"),
    ("incidents", "geom"),
    ("patrols", "start_geom"),
    ("patrols", "geom"),
    ("components", "geom"),
]


def test_migrations_create_every_table(engine):
    assert schema.current_revision(engine) == schema.head_revision()
    tables = set(inspect(engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables


@pytest.mark.parametrize("table,column", GEOMETRY_COLUMNS)
def test_every_geometry_column_has_a_spatial_index(session, table, column):
    assert backend_for(session).spatial_index_exists(session, table, column)


def test_migrations_downgrade_and_upgrade_again(engine):
    schema.downgrade(engine, "base")
    assert "grids" not in inspect(engine).get_table_names()
    schema.upgrade(engine)
    schema.upgrade(engine)  # a second upgrade is a no-op
    assert schema.current_revision(engine) == schema.head_revision()


def test_bbox_query_uses_the_spatial_index(engine):
    with session_scope(engine) as s:
        s.add_all(Building(code=f"b{i}", name=f"b{i}", geom=to_db(Point(113 + i * 0.001, 23.7))) for i in range(20))
    with session_scope(engine) as s:
        backend = backend_for(s)
        clause = backend.bbox_filter(Building.__table__.c.geom, "buildings", (113.0045, 23.6, 113.0105, 23.8))
        codes = sorted(b.code for b in s.scalars(select(Building).where(clause)))
        assert codes == sorted(f"b{i}" for i in range(5, 11))
        compiled = str(select(Building.id).where(clause).compile(s.get_bind()))
        if backend.name == "spatialite":
            assert "SpatialIndex" in compiled
        else:
            # With 20 rows a sequential scan is cheaper; forbid it to see that the index can serve.
            s.execute(text("SET LOCAL enable_seqscan = off"))
            sql = select(Building.id).where(clause).compile(s.get_bind(), compile_kwargs={"literal_binds": True})
            plan = "\n".join(r[0] for r in s.execute(text(f"EXPLAIN {sql}")))
            assert "idx_buildings_geom" in plan


def test_incident_history_is_append_only(engine):
    with session_scope(engine) as s:
        s.add(Grid(code="G1", name="g", geom=to_db(as_multipolygon(box(113, 23, 114, 24)))))
    with session_scope(engine) as s:
        incident = Incident(
            kind="hazard", category="fire_safety", status="reported", title="t", geom=to_db(Point(113.5, 23.5))
        )
        s.add(incident)
        s.flush()
        s.add(IncidentHistory(incident_id=incident.id, actor="tester", action="create", to_status="reported"))
    for statement in ("UPDATE incident_history SET actor = 'someone else'", "DELETE FROM incident_history"):
        with pytest.raises(DBAPIError, match="append-only"):
            with session_scope(engine) as s:
                s.execute(text(statement))
    with session_scope(engine) as s:
        assert s.scalars(select(IncidentHistory.actor)).all() == ["tester"]


def test_incidents_are_geotagged_on_every_write(engine):
    with session_scope(engine) as s:
        s.add_all(
            [
                Grid(
                    code="441802001001002", name="east", geom=to_db(as_multipolygon(box(113.01, 23.0, 113.02, 23.01)))
                ),
                Grid(
                    code="441802001001001", name="west", geom=to_db(as_multipolygon(box(113.00, 23.0, 113.01, 23.01)))
                ),
                Building(code="B1", name="near", geom=to_db(Point(113.0151, 23.0051))),
            ]
        )
    with session_scope(engine) as s:
        grids = {g.code: g.id for g in s.scalars(select(Grid))}
        building = s.scalar(select(Building))
        assert building.grid_id == grids["441802001001002"]
        # The client's grid and building are ignored: the point decides.
        incident = Incident(
            kind="case",
            category="dispute",
            status="reported",
            title="t",
            geom=to_db(Point(113.015, 23.005)),
            grid_id=grids["441802001001001"],
        )
        s.add(incident)
        s.flush()
        assert incident.grid_id == grids["441802001001002"]
        assert incident.building_id == building.id
        # On the shared edge both grids cover the point: the smaller code wins, every time.
        incident.geom = to_db(Point(113.01, 23.005))
        s.flush()
        assert incident.grid_id == grids["441802001001001"]
        # Far from every building and outside every grid.
        incident.geom = to_db(Point(113.5, 23.5))
        s.flush()
        assert incident.grid_id is None and incident.building_id is None


def test_timestamps_come_back_timezone_aware_in_utc(engine):
    from datetime import datetime, timedelta, timezone

    cst = timezone(timedelta(hours=8))
    with session_scope(engine) as s:
        incident = Incident(
            kind="hazard",
            category="fire_safety",
            status="reported",
            title="t",
            geom=to_db(Point(1, 1)),
            created_at=datetime(2026, 11, 1, 8, 0, tzinfo=cst),
        )
        s.add(incident)
    with session_scope(engine) as s:
        created = s.scalar(select(Incident.created_at))
    assert created.tzinfo is not None
    assert created == datetime(2026, 11, 1, 0, 0, tzinfo=UTC)


def test_migration_0009_gives_old_timeline_rows_their_steps(engine):
    """Rows written before the indicator columns get the step their action meant and the
    incident's kind, category and grid; the append-only guard is back afterwards."""
    schema.downgrade(engine, "0008")
    with engine.begin() as c:
        # Core, not a session: the session's geotagging knows tables 0008 has not got yet.
        grid_id = c.execute(
            Grid.__table__.insert()
            .values(code="G9", name="g", properties={}, geom=to_db(as_multipolygon(box(113, 23, 114, 24))))
            .returning(Grid.__table__.c.id)
        ).scalar_one()
        c.execute(
            text(
                "INSERT INTO incidents (kind, category, status, title, properties, version, created_at, updated_at, "
                "escalation, possible_duplicates, grid_id, geom) VALUES ('case', 'dispute', 'closed', 't', '{}', 1, "
                ":now, :now, 0, '[]', :grid, ST_GeomFromText('POINT(113.5 23.5)', 4326))"
            ),
            {"now": "2026-11-01 00:00:00+00:00", "grid": grid_id},
        )
        incident_id = c.execute(text("SELECT max(id) FROM incidents")).scalar()
        for action, changes in (
            ("report", "{}"),
            ("escalate", '{"level": 1}'),
            ("escalate", '{"level": 2}'),
            ("close", "{}"),
            ("comment", "{}"),
        ):
            c.execute(
                text(
                    "INSERT INTO incident_history (incident_id, at, actor, action, changes) "
                    "VALUES (:i, :at, 'tester', :action, :changes)"
                ),
                {"i": incident_id, "at": "2026-11-01 00:00:00+00:00", "action": action, "changes": changes},
            )
    schema.upgrade(engine)
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT action, step, kind, category, grid_id FROM incident_history WHERE incident_id = :i ORDER BY id"
            ),
            {"i": incident_id},
        ).all()
    assert [(r.action, r.step) for r in rows] == [
        ("report", "report"),
        ("escalate", "overdue"),
        ("escalate", None),
        ("close", "close"),
        ("comment", None),
    ]
    assert {(r.kind, r.category, r.grid_id) for r in rows} == {("case", "dispute", grid_id)}
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as c:
        c.execute(text("UPDATE incident_history SET actor = 'someone else'"))
