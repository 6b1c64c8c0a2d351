"""A change to grids tags again only what lies where the grids changed, once per transaction."""

from __future__ import annotations

from shapely.geometry import Point, box
from sqlalchemy import select, text

from geo.db.session import session_scope
from geo.incidents.geotag import retag_area
from geo.models import Building, Grid, Incident
from geo.spatial.geometry import as_multipolygon, to_db


def _seed(engine) -> dict[str, int]:
    """Two grids side by side and a third far away, a building in each."""
    with session_scope(engine) as s:
        s.add_all(
            [
                Grid(code="W", name="west", geom=to_db(as_multipolygon(box(113.00, 23.0, 113.01, 23.01)))),
                Grid(code="E", name="east", geom=to_db(as_multipolygon(box(113.01, 23.0, 113.02, 23.01)))),
                Grid(code="FAR", name="far", geom=to_db(as_multipolygon(box(113.50, 23.5, 113.51, 23.51)))),
                Building(code="IN", name="inside", geom=to_db(Point(113.0095, 23.005))),
                Building(code="OUT", name="outside", geom=to_db(Point(113.505, 23.505))),
            ]
        )
    with session_scope(engine) as s:
        ids = {g.code: g.id for g in s.scalars(select(Grid))}
        ids.update({b.code: b.id for b in s.scalars(select(Building))})
    return ids


def test_a_grid_change_retags_inside_the_changed_area_only(engine):
    ids = _seed(engine)
    with session_scope(engine) as s:
        tags = dict(s.execute(select(Building.code, Building.grid_id)).all())
    assert tags == {"IN": ids["W"], "OUT": ids["FAR"]}
    # A stale tag far from the change: if the retag read or wrote that row, it would be fixed.
    with session_scope(engine) as s:
        s.execute(text("UPDATE buildings SET grid_id = NULL WHERE code = 'OUT'"))
    with session_scope(engine) as s:
        east = s.scalar(select(Grid).where(Grid.code == "E"))
        east.geom = to_db(as_multipolygon(box(113.009, 23.0, 113.02, 23.01)))  # now covers IN, beside W
        s.flush()
        west = s.scalar(select(Grid).where(Grid.code == "W"))
        west.geom = to_db(as_multipolygon(box(113.00, 23.0, 113.009, 23.01)))  # a second flush, one retag
    with session_scope(engine) as s:
        tags = dict(s.execute(select(Building.code, Building.grid_id)).all())
    assert tags["IN"] == ids["E"]
    assert tags["OUT"] is None  # untouched: outside both the old and the new geometry


def test_deleting_a_grid_untags_what_it_covered(engine):
    ids = _seed(engine)
    with session_scope(engine) as s:
        s.delete(s.get(Grid, ids["W"]))
    with session_scope(engine) as s:
        tags = dict(s.execute(select(Building.code, Building.grid_id)).all())
    assert tags == {"IN": None, "OUT": ids["FAR"]}


def test_retag_area_counts_the_rows_it_changed(engine):
    ids = _seed(engine)
    with session_scope(engine) as s:
        s.add(
            Incident(kind="case", category="dispute", status="reported", title="t", geom=to_db(Point(113.0095, 23.006)))
        )
    with session_scope(engine) as s:
        s.execute(text("UPDATE buildings SET grid_id = NULL"))
        s.execute(text("UPDATE incidents SET grid_id = NULL"))
    with session_scope(engine) as s:
        area = box(113.0, 23.0, 113.02, 23.01)
        assert retag_area(s, Building, [area]) == 1  # IN only; OUT lies elsewhere
        assert retag_area(s, Incident, [area]) == 1
        assert retag_area(s, Building, [area]) == 0  # already right: nothing written
    with session_scope(engine) as s:
        tags = dict(s.execute(select(Building.code, Building.grid_id)).all())
        assert s.scalar(select(Incident.grid_id)) == ids["W"]
    assert tags == {"IN": ids["W"], "OUT": None}


def test_a_rolled_back_grid_change_leaves_no_retag_behind(engine):
    ids = _seed(engine)
    with session_scope(engine) as s:
        s.execute(text("UPDATE buildings SET grid_id = NULL WHERE code = 'IN'"))
    from geo.db.session import session_factory

    s = session_factory(engine)()
    try:
        s.get(Grid, ids["W"]).name = "renamed"
        s.get(Grid, ids["E"]).geom = to_db(as_multipolygon(box(113.01, 23.0, 113.03, 23.01)))
        s.flush()
        s.rollback()
        s.commit()  # a new, empty transaction: nothing of the rolled-back change is retagged
    finally:
        s.close()
    with session_scope(engine) as s:
        assert s.scalar(select(Building.grid_id).where(Building.code == "IN")) is None
