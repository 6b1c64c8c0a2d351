"""The demo community: faithful to the public figures, seamless, deterministic, loadable twice."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, shape
from sqlalchemy import func, select

from geo.db.session import session_scope
from geo.io.demo import DEMO_DIR, load_demo
from geo.models import CATEGORIES, Building, Community, Estate, Grid, Incident, Responder
from geo.spatial.codes import unit_grid_codes
from geo.spatial.crs import CoordinateSystem
from geo.spatial.geometry import from_db
from geo.spatial.topology import check_grids

DISTRICT_FILE = Path(__file__).resolve().parents[4] / "shared" / "data" / "qingyuan" / "441802_qingcheng.json"


def read_layer(name: str) -> list[dict]:
    return json.loads((DEMO_DIR / name).read_text(encoding="utf-8"))["features"]


@pytest.fixture
def demo(engine):
    with session_scope(engine) as s:
        reports = load_demo(s)
    assert [r.layer for r in reports] == ["communities", "grids", "estates", "buildings", "responders", "incidents"]
    return engine


def test_demo_matches_the_public_figures(demo):
    with session_scope(demo) as s:
        estates = s.scalars(select(Estate)).all()
        assert len(estates) == 7
        assert "雅悦花园" in {e.name for e in estates}
        kinds = Counter(s.scalars(select(Building.kind)))
        assert kinds["old_building"] == 235
        assert kinds["estate_building"] > 0
        residents = s.scalar(select(func.sum(Building.residents)))
        assert abs(residents - 13_700) <= 137
        roles = Counter(s.scalars(select(Responder.role)))
        assert roles["building_head"] == 43
        assert roles["fire_station"] >= 1
        finished = Counter(s.execute(select(Incident.kind, Incident.status)).all())
        assert finished[("renovation", "completed")] == 14
        assert finished[("illegal_structure", "demolished")] == 7


def test_every_grid_is_staffed(demo):
    with session_scope(demo) as s:
        for grid in s.scalars(select(Grid)):
            roles = {r.role for r in grid.responders}
            assert {"grid_leader", "grid_worker", "part_time"} <= roles, grid.code
            assert roles & {"police", "urban_management"}, grid.code
            assert grid.leader is not None and grid.leader.role == "grid_leader"
            assert grid.party_branch


def test_yayue_garden_has_its_activity_centre_and_fire_station(demo):
    with session_scope(demo) as s:
        yayue = s.scalar(select(Estate).where(Estate.name == "雅悦花园"))
        centre = [b for b in yayue.buildings if b.kind == "public_facility"]
        assert centre and "党群活动中心" in centre[0].name
        station = s.scalar(select(Responder).where(Responder.role == "fire_station"))
        assert station.kind == "facility"
        assert from_db(yayue.geom).buffer(0.001).contains(from_db(station.geom))


def test_open_hazards_and_cases_of_every_category(demo):
    closed = {"completed", "demolished", "closed", "evaluated", "rejected", "legalised"}
    with session_scope(demo) as s:
        open_ = {
            (k, c)
            for k, c, st in s.execute(select(Incident.kind, Incident.category, Incident.status))
            if st not in closed
        }
    for kind in ("hazard", "case"):
        for category in CATEGORIES[kind]:
            assert (kind, category) in open_, (kind, category)


def test_every_building_and_incident_lies_in_a_grid(demo):
    with session_scope(demo) as s:
        assert s.scalar(select(func.count()).where(Building.grid_id.is_(None))) == 0
        assert s.scalar(select(func.count()).where(Incident.grid_id.is_(None))) == 0
        # Incidents are geotagged to a nearby building as well.
        assert s.scalar(select(func.count()).where(Incident.building_id.is_not(None))) >= 0.9 * s.scalar(
            select(func.count(Incident.id))
        )


def test_demo_grids_cover_the_community_without_gaps_or_overlaps(demo):
    with session_scope(demo) as s:
        community = s.scalar(select(Community))
        grids = s.scalars(select(Grid).order_by(Grid.code)).all()
        report = check_grids(
            [g.code for g in grids], [from_db(g.geom) for g in grids], boundary=from_db(community.geom)
        )
    assert report.ok, report.lines()
    assert len(grids) >= 8


def test_demo_grid_codes_are_unit_grid_codes_in_reading_order(demo):
    with session_scope(demo) as s:
        grids = s.scalars(select(Grid)).all()
        codes = [g.code for g in grids]
        assert all(len(c) == 15 and c.startswith("441802001001") for c in codes)
        assert sorted(codes) == [f"441802001001{i:03d}" for i in range(1, len(codes) + 1)]
        assert unit_grid_codes("441802001001", np.array([from_db(g.geom) for g in grids], dtype=object)) == codes


def test_demo_lies_inside_qingcheng_district():
    district = shape(json.loads(DISTRICT_FILE.read_text(encoding="utf-8"))["features"][0]["geometry"])
    district = CoordinateSystem("gcj02").geometries_to_wgs84(np.array([district], dtype=object))[0]
    community = shape(read_layer("community.geojson")[0]["geometry"])
    assert district.contains(community)


def test_loading_the_demo_twice_changes_nothing(demo):
    with session_scope(demo) as s:
        counts = [s.scalar(select(func.count(m.id))) for m in (Grid, Building, Responder, Incident)]
        assert load_demo(s) == []
        assert [s.scalar(select(func.count(m.id))) for m in (Grid, Building, Responder, Incident)] == counts


def test_wangge_numbers_grids_west_to_east_north_to_south(cli, engine, tmp_path):
    """A 3×3 block of grids with wobbly edges, given without codes, in shuffled order."""
    assert cli("import", "communities", DEMO_DIR / "community.geojson", "-q").exit_code == 0
    x0, y0, step = 113.04, 23.70, 0.002
    cells = {}
    for row in range(3):  # row 0 is the northern row
        for col in range(3):
            wobble = 0.0002 * ((row + col) % 2)
            top = y0 - row * step
            cells[(row, col)] = Polygon(
                [
                    (x0 + col * step, top),
                    (x0 + (col + 1) * step, top + wobble),
                    (x0 + (col + 1) * step, top - step),
                    (x0 + col * step, top - step),
                ]
            )
    order = [(2, 1), (0, 2), (1, 0), (0, 0), (2, 2), (1, 2), (0, 1), (2, 0), (1, 1)]
    features = [
        {"type": "Feature", "properties": {"name": f"r{r}c{c}"}, "geometry": shapely.geometry.mapping(cells[(r, c)])}
        for r, c in order
    ]
    path = tmp_path / "unnumbered.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    result = cli("import", "grids", path, "--community", "441802001001", "-q")
    assert result.exit_code == 0, result.output
    with session_scope(engine) as s:
        got = {g.name: g.code for g in s.scalars(select(Grid))}
    assert got == {f"r{r}c{c}": f"441802001001{r * 3 + c + 1:03d}" for r in range(3) for c in range(3)}
