"""Importing buildings and responders that come without codes, on both databases, in the demo community."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import Point, box
from sqlalchemy import func, select

from geo.db.session import session_scope
from geo.models import Building, Grid, Responder
from geo.spatial.geometry import from_db

SIDE = 0.00008  # degrees: a footprint about 8 m across


@pytest.fixture
def demo(demo) -> dict[str, object]:
    """The demo community loaded; its grids by code, and their shapes."""
    with session_scope(demo) as s:
        return {g.code: from_db(g.geom) for g in s.scalars(select(Grid))}


def free_spots(engine, grids: dict[str, object], per_grid: int) -> list[tuple[str, object]]:
    """Footprints inside each grid that meet no stored building: (grid code, footprint)."""
    with session_scope(engine) as s:
        stored = [from_db(f if f is not None else g) for f, g in s.execute(select(Building.footprint, Building.geom))]
    taken = shapely.STRtree([g.buffer(SIDE) for g in stored])
    out = []
    for code, shape in sorted(grids.items()):
        x0, y0, x1, y1 = shape.bounds
        found = 0
        steps = 40
        for a in range(1, steps):
            for b in range(1, steps):
                x, y = x0 + (x1 - x0) * a / steps, y0 + (y1 - y0) * b / steps
                square = box(x, y, x + SIDE, y + SIDE)
                if (
                    found < per_grid
                    and shape.contains(square.buffer(SIDE))
                    and not len(taken.query(square, "intersects"))
                ):
                    out.append((code, square))
                    found += 1
        assert found == per_grid, f"no room for {per_grid} new buildings in grid {code}"
    return out


def write(path: Path, rows: list[dict], geoms: list) -> Path:
    gpd.GeoDataFrame(rows or None, geometry=geoms, crs="EPSG:4326").to_file(path, driver="GeoJSON")
    return path


def codes_by_place(engine) -> dict[str, tuple[float, float]]:
    with session_scope(engine) as s:
        return {
            c: (round(p.x, 9), round(p.y, 9))
            for c, p in ((c, from_db(g)) for c, g in s.execute(select(Building.code, Building.geom)))
        }


def count(engine, model) -> int:
    with session_scope(engine) as s:
        return s.scalar(select(func.count()).select_from(model))


def test_footprints_without_a_code_column_get_grid_codes(cli, engine, demo, tmp_path):
    spots = free_spots(engine, demo, 3)
    path = write(
        tmp_path / "osm.geojson",
        [{"name": f"楼{i}", "building": "yes"} for i in range(len(spots))],
        [g for _, g in spots],
    )
    before = codes_by_place(engine)
    result = cli("import", "buildings", path, "-q")
    assert result.exit_code == 0, result.output
    assert f"{len(spots)} created" in result.output
    assert f"codes: {len(spots)} generated" in result.output
    new = {c: p for c, p in codes_by_place(engine).items() if c not in before}
    assert len(new) == len(spots)
    for code, (x, y) in new.items():
        grid_code = next(g for g, square in spots if square.intersects(Point(x, y)))
        assert re.fullmatch(re.escape(grid_code) + r"\d{4}", code), code
    # Numbered from 1 in each grid (the demo's own buildings carry codes of another form).
    assert sorted(c[15:] for c in new if c.startswith(spots[0][0])) == ["0001", "0002", "0003"]


def test_given_codes_are_kept_and_empty_ones_made(cli, engine, demo, tmp_path):
    spots = free_spots(engine, {k: demo[k] for k in sorted(demo)[:1]}, 4)
    grid_code = spots[0][0]
    rows = [
        {"code": "X-1", "name": "given"},
        {"code": "", "name": "empty"},
        {"code": f"{grid_code}0007", "name": "given in the grid's form"},
        {"code": None, "name": "missing"},
    ]
    path = write(tmp_path / "mixed.geojson", rows, [g for _, g in spots])
    result = cli("import", "buildings", path, "-q")
    assert result.exit_code == 0, result.output
    assert "codes: 2 generated" in result.output
    with session_scope(engine) as s:
        names = dict(
            s.execute(select(Building.name, Building.code).where(Building.name.in_([r["name"] for r in rows]))).all()
        )
    assert names["given"] == "X-1"
    assert names["given in the grid's form"] == f"{grid_code}0007"
    # The sequence goes on after the largest one in the file.
    assert sorted([names["empty"], names["missing"]]) == [f"{grid_code}0008", f"{grid_code}0009"]


def test_reimport_with_replace_keeps_the_generated_codes(cli, engine, demo, tmp_path):
    spots = free_spots(engine, demo, 2)
    path = write(tmp_path / "osm.geojson", [{"name": f"楼{i}"} for i in range(len(spots))], [g for _, g in spots])
    assert cli("import", "buildings", path, "-q").exit_code == 0
    first = codes_by_place(engine)
    total = count(engine, Building)

    again = cli("import", "buildings", path, "-q")
    assert again.exit_code != 0
    assert "use --replace" in again.output and "same footprint" in again.output

    result = cli("import", "buildings", path, "--replace", "-q")
    assert result.exit_code == 0, result.output
    assert f"0 created, {len(spots)} updated" in result.output
    assert f"{len(spots)} kept" in result.output
    assert count(engine, Building) == total
    assert codes_by_place(engine) == first

    # The same file written again (another format, another order) still matches.
    shuffled = write(
        tmp_path / "osm2.geojson",
        [{"name": f"楼{i}"} for i in reversed(range(len(spots)))],
        [g for _, g in reversed(spots)],
    )
    assert cli("import", "buildings", shuffled, "--replace", "-q").exit_code == 0
    assert codes_by_place(engine) == first


def test_responders_without_codes_get_generated_ones(cli, engine, demo, tmp_path):
    grid_code = sorted(demo)[2]
    inside = demo[grid_code].representative_point()
    rows = [
        {"name": "王芳", "role": "grid_worker", "phone": "13800000001", "grids": grid_code},
        {"name": "李强", "role": "volunteer", "phone": "13800000002", "grids": None},  # located in the grid
    ]
    path = write(tmp_path / "people.geojson", rows, [None, inside])
    result = cli("import", "responders", path, "-q")
    assert result.exit_code == 0, result.output
    assert "codes: 2 generated" in result.output
    with session_scope(engine) as s:
        codes = dict(
            s.execute(select(Responder.name, Responder.code).where(Responder.name.in_(["王芳", "李强"]))).all()
        )
    assert sorted(codes.values()) == [f"R{grid_code}001", f"R{grid_code}002"]
    total = count(engine, Responder)
    result = cli("import", "responders", path, "--replace", "-q")
    assert result.exit_code == 0, result.output
    assert count(engine, Responder) == total
    with session_scope(engine) as s:
        assert (
            dict(s.execute(select(Responder.name, Responder.code).where(Responder.name.in_(["王芳", "李强"]))).all())
            == codes
        )


def test_building_outside_every_grid_and_community_is_refused(cli, engine, demo, tmp_path):
    spots = free_spots(engine, {k: demo[k] for k in sorted(demo)[:1]}, 1)
    far = box(113.2, 23.9, 113.2 + SIDE, 23.9 + SIDE)
    path = write(tmp_path / "far.geojson", [{"name": "inside"}, {"name": "far away"}], [spots[0][1], far])
    total = count(engine, Building)
    result = cli("import", "buildings", path, "-q")
    assert result.exit_code != 0
    assert "nothing imported" in result.output
    assert "row 2" in result.output and "outside every grid and community" in result.output
    assert "row 1" not in result.output
    assert count(engine, Building) == total


def test_building_outside_the_grids_but_in_a_community_gets_a_community_code(cli, engine, demo, tmp_path):
    community = dict(
        district_code="441802",
        district_name="清城区",
        city_name="清远市",
        street_code="441802001",
        street_name="凤城街道",
        community_code="441802001099",
        community_name="新社区",
    )
    area = box(113.2, 23.9, 113.21, 23.91)
    assert cli("import", "communities", write(tmp_path / "c.geojson", [community], [area]), "-q").exit_code == 0
    squares = [box(113.201 + i * 0.001, 23.901, 113.201 + i * 0.001 + SIDE, 23.901 + SIDE) for i in range(2)]
    path = write(tmp_path / "gap.geojson", [{"name": "新楼1"}, {"name": "新楼2"}], squares)
    result = cli("import", "buildings", path, "-q")
    assert result.exit_code == 0, result.output
    with session_scope(engine) as s:
        codes = dict(s.execute(select(Building.name, Building.code).where(Building.name.like("新楼%"))).all())
    assert codes == {"新楼1": "4418020010990000001", "新楼2": "4418020010990000002"}
