"""Import and export through the command line, on both databases."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box
from sqlalchemy import func, select

from geo.db.session import session_scope
from geo.models import Building, Grid, Responder
from geo.spatial.crs import gcj02_to_wgs84, wgs84_to_gcj02
from geo.spatial.geometry import from_db, geodesic_area_m2


def write_geojson(path: Path, features: list[dict], crs: str | None = None) -> Path:
    doc = {"type": "FeatureCollection", "features": features}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def poly_feature(props: dict, coords) -> dict:
    return {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [coords]}}


def grid_rows(engine) -> dict[str, tuple[str, str]]:
    with session_scope(engine) as s:
        return {g.code: (g.name, from_db(g.geom).wkt) for g in s.scalars(select(Grid))}


@pytest.fixture
def numbered_world(tmp_path, naturalearth_path) -> Path:
    """Natural Earth countries with a numeric code field, as a surveyor's file would carry."""
    df = gpd.read_file(naturalearth_path)
    df["gid"] = np.arange(101, 101 + len(df), dtype=np.int64)
    path = tmp_path / "world.gpkg"
    df.to_file(path)
    return path


@pytest.fixture
def one_grid(tmp_path, cli) -> dict:
    """A database holding one grid, to show that a failed import leaves it as it was."""
    path = write_geojson(
        tmp_path / "seed.geojson",
        [
            poly_feature(
                {"code": "S1", "name": "seed"}, [[113, 23], [113.01, 23], [113.01, 23.01], [113, 23.01], [113, 23]]
            )
        ],
    )
    result = cli("import", "grids", path, "-q")
    assert result.exit_code == 0, result.output
    return {"path": path}


# --------------------------------------------------------------------------- published polygons


def test_published_polygons_import_and_round_trip(cli, engine, numbered_world, tmp_path):
    result = cli("import", "grids", numbered_world, "--code-field", "gid", "--name-field", "name", "-q")
    assert result.exit_code == 0, result.output
    assert "177 rows read" in result.output
    with session_scope(engine) as s:
        grids = {g.code: from_db(g.geom) for g in s.scalars(select(Grid))}
        assert len(grids) == 177
        assert s.scalar(select(Grid.name).where(Grid.code == "101")) is not None
    # Holes and islands survive: some stored grids have several parts, some have interior rings.
    assert sum(len(g.geoms) > 1 for g in grids.values()) >= 20
    assert any(len(p.interiors) for g in grids.values() for p in g.geoms)
    original = {code: geodesic_area_m2(g) for code, g in grids.items()}

    for suffix in ("geojson", "gpkg", "shp", "csv"):
        out = tmp_path / f"export.{suffix}"
        result = cli("export", "grids", out)
        assert result.exit_code == 0, result.output
        with session_scope(engine) as s:
            s.query(Grid).delete()
        result = cli("import", "grids", out, "-q")
        assert result.exit_code == 0, f"{suffix}: {result.output}"
        with session_scope(engine) as s:
            again = {g.code: geodesic_area_m2(from_db(g.geom)) for g in s.scalars(select(Grid))}
        assert again.keys() == original.keys(), suffix
        worst = max(abs(again[c] - original[c]) / original[c] for c in original)
        assert worst < 1e-4, f"{suffix}: an area changed by {worst:.2%}"


def test_export_writes_the_requested_coordinate_system(cli, engine, tmp_path):
    path = write_geojson(
        tmp_path / "b.geojson",
        [
            {
                "type": "Feature",
                "properties": {"code": "B1"},
                "geometry": {"type": "Point", "coordinates": [113.05, 23.7]},
            }
        ],
    )
    assert cli("import", "buildings", path, "-q").exit_code == 0
    out = tmp_path / "b_gcj.geojson"
    assert cli("export", "buildings", out, "--crs", "gcj02").exit_code == 0
    x, y = json.loads(out.read_text())["features"][0]["geometry"]["coordinates"]
    ex, ey = wgs84_to_gcj02(113.05, 23.7)
    assert (x, y) == pytest.approx((float(ex), float(ey)), abs=1e-7)


def test_gcj02_file_is_stored_in_wgs84(cli, engine, tmp_path):
    gx, gy = 113.0512, 23.7034
    csv = tmp_path / "workers.csv"
    csv.write_text(f"工号,姓名,Longitude,Latitude\nW1,张伟,{gx},{gy}\n", encoding="utf-8")
    result = cli(
        "import",
        "responders",
        csv,
        "--code-field",
        "工号",
        "--name-field",
        "姓名",
        "--lon-field",
        "Longitude",
        "--lat-field",
        "Latitude",
        "--role",
        "grid_worker",
        "--crs",
        "gcj02",
        "-q",
    )
    assert result.exit_code == 0, result.output
    with session_scope(engine) as s:
        r = s.scalar(select(Responder))
        point = from_db(r.geom)
        assert (r.code, r.name, r.role) == ("W1", "张伟", "grid_worker")
    wx, wy = gcj02_to_wgs84(gx, gy)
    assert (point.x, point.y) == pytest.approx((float(wx), float(wy)), abs=1e-9)
    # The shift is real: hundreds of metres, not a no-op.
    assert abs(point.x - gx) > 0.001


def test_projected_file_is_reprojected(cli, engine, tmp_path):
    # EPSG:4547 is CGCS2000 / 3-degree Gauss-Kruger CM 114E, as Chinese surveyors deliver.
    from pyproj import Transformer

    fwd = Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True)
    ring = [
        fwd.transform(x, y) for x, y in [(113.0, 23.0), (113.01, 23.0), (113.01, 23.01), (113.0, 23.01), (113.0, 23.0)]
    ]
    gdf = gpd.GeoDataFrame({"code": ["P1"]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:4547")
    gdf.geometry = [gpd.GeoSeries.from_wkt([f"POLYGON(({', '.join(f'{x} {y}' for x, y in ring)}))"])[0]]
    path = tmp_path / "projected.gpkg"
    gdf.set_crs("EPSG:4547", allow_override=True).to_file(path)
    assert cli("import", "grids", path, "-q").exit_code == 0
    x0, y0, x1, y1 = grid_rows_bounds(engine)
    assert (x0, y0, x1, y1) == pytest.approx((113.0, 23.0, 113.01, 23.01), abs=1e-7)


def grid_rows_bounds(engine):
    with session_scope(engine) as s:
        return from_db(s.scalar(select(Grid.geom))).bounds


def test_repairable_geometry_is_repaired_and_reported(cli, engine, tmp_path):
    bowtie = [[113, 23], [113.01, 23.01], [113.01, 23], [113, 23.01], [113, 23]]
    path = write_geojson(tmp_path / "bowtie.geojson", [poly_feature({"code": "X1", "name": "bow"}, bowtie)])
    result = cli("import", "grids", path, "-q")
    assert result.exit_code == 0, result.output
    assert "repaired: row 1 (code 'X1'): Self-intersection" in result.output
    with session_scope(engine) as s:
        geom = from_db(s.scalar(select(Grid.geom)))
    assert geom.is_valid and len(geom.geoms) == 2


def test_topology_problems_are_reported(cli, tmp_path):
    features = [
        poly_feature({"code": "A"}, [[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]),
        poly_feature({"code": "B"}, [[1, 0], [3, 0], [3, 2], [1, 2], [1, 0]]),  # overlaps A
        poly_feature({"code": "C"}, [[0, 2], [3, 2], [3, 5], [0, 5], [0, 2]]),
        poly_feature(
            {"code": "D"}, [[3, 0], [6, 0], [6, 5], [4, 5], [4, 3], [3, 3], [3, 0]]
        ),  # leaves a hole at 3..4 x 3..5? no: closed by E
        poly_feature({"code": "E"}, [[3, 4], [4, 4], [4, 5], [3, 5], [3, 4]]),  # leaves a 1x1 gap at 3..4, 3..4
    ]
    path = write_geojson(tmp_path / "messy.geojson", features)
    result = cli("import", "grids", path, "-q")
    assert result.exit_code == 0, result.output
    assert "overlap: grids A and B" in result.output
    assert "gap:" in result.output and "near lon 3.5" in result.output


def test_csv_buildings_with_coordinate_columns(cli, engine, tmp_path):
    csv = tmp_path / "buildings.csv"
    csv.write_text(
        "code,name,households,residents,X,Y\nB1,一号楼,30,80,113.05,23.7\nB2,二号楼,12,31,113.051,23.701\n",
        encoding="utf-8",
    )
    result = cli("import", "buildings", csv, "--lon-field", "X", "--lat-field", "Y", "-q")
    assert result.exit_code == 0, result.output
    with session_scope(engine) as s:
        assert s.scalar(select(func.sum(Building.residents))) == 111


# --------------------------------------------------------------------------- bad input


BAD_INPUTS = {
    "broken geometry": (
        lambda d: write_geojson(
            d / "f.geojson",
            [
                poly_feature({"code": "G1"}, [[113, 23], [113.01, 23], [113.01, 23.01], [113, 23.01], [113, 23]]),
                poly_feature({"code": "G2"}, [[113, 23], [113.01, 23.01], [113.02, 23.02], [113, 23]]),
            ],
        ),
        [],
        "row 2 (code 'G2'): invalid polygon",
    ),
    "missing mapped field": (
        lambda d: write_geojson(
            d / "f.geojson",
            [poly_feature({"BoroCD": 101, "name": "x"}, [[113, 23], [113.01, 23], [113.01, 23.01], [113, 23]])],
        ),
        ["--code-field", "BoroCode"],
        "field 'BoroCode' (from --code-field) is not in the file. Fields in the file: BoroCD, name",
    ),
    "unknown CRS": (
        lambda d: write_geojson(
            d / "f.geojson", [poly_feature({"code": "G1"}, [[113, 23], [113.01, 23], [113.01, 23.01], [113, 23]])]
        ),
        ["--crs", "gcj03"],
        "Unknown coordinate system 'gcj03': use wgs84, cgcs2000, gcj02, bd09 or EPSG:nnnn",
    ),
    "empty layer": (
        lambda d: write_geojson(d / "f.geojson", []),
        [],
        "the file has no features: nothing to import",
    ),
    "duplicate grid codes": (
        lambda d: write_geojson(
            d / "f.geojson",
            [
                poly_feature({"code": 7}, [[113, 23], [113.01, 23], [113.01, 23.01], [113, 23]]),
                poly_feature({"code": 8}, [[114, 23], [114.01, 23], [114.01, 23.01], [114, 23]]),
                poly_feature({"code": 7}, [[115, 23], [115.01, 23], [115.01, 23.01], [115, 23]]),
            ],
        ),
        [],
        "row 3: duplicate grid code '7' (first on row 1)",
    ),
    "code already stored": (
        lambda d: write_geojson(
            d / "f.geojson",
            [
                poly_feature({"code": "N1"}, [[114, 23], [114.01, 23], [114.01, 23.01], [114, 23]]),
                poly_feature({"code": "S1"}, [[115, 23], [115.01, 23], [115.01, 23.01], [115, 23]]),
            ],
        ),
        [],
        "row 2: grid code 'S1' already exists in the database (use --replace to update it)",
    ),
    "non-numeric coordinate": (
        lambda d: (d / "f.csv").write_text("code,lon,lat\nG1,113.0,23.0\nG2,113.O1,23.0\n") and d / "f.csv",
        [],
        "row 2: lon = '113.O1' is not a number",
    ),
    "swapped coordinates": (
        lambda d: (d / "f.csv").write_text("code,lon,lat\nB1,23.7,113.05\n") and d / "f.csv",
        [],
        "row 1: coordinates (23.7, 113.05) are outside longitude/latitude range (longitude and latitude look swapped)",
    ),
    "unknown file format": (
        lambda d: (d / "f.geojson").write_text("this is not json") and d / "f.geojson",
        [],
        "f.geojson: cannot be read as a spatial file",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_and_changes_nothing(case, cli, engine, one_grid, tmp_path):
    make, args, message = BAD_INPUTS[case]
    before = grid_rows(engine)
    path = make(tmp_path)
    layer = "buildings" if case in ("non-numeric coordinate", "swapped coordinates") else "grids"
    result = cli("import", layer, path, *args, "-q")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "error:" in result.output
    assert grid_rows(engine) == before
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Building.id))) == 0


def test_a_failure_late_in_a_file_writes_none_of_its_rows(cli, engine, one_grid, tmp_path):
    # Every row is checked before any is written: the good rows before the bad one stay out too.
    features = [
        poly_feature({"code": f"L{i}"}, [[114 + i, 23], [114.01 + i, 23], [114.01 + i, 23.01], [114 + i, 23]])
        for i in range(50)
    ]
    features.append(poly_feature({"code": "L99"}, [[120, 23], [120.01, 23.01], [120.02, 23.02], [120, 23]]))
    before = grid_rows(engine)
    result = cli("import", "grids", write_geojson(tmp_path / "late.geojson", features), "-q")
    assert result.exit_code == 2
    assert "row 51 (code 'L99')" in result.output
    assert grid_rows(engine) == before


def test_responder_references_must_exist(cli, engine, one_grid, tmp_path):
    path = write_geojson(
        tmp_path / "r.geojson",
        [
            {
                "type": "Feature",
                "properties": {"code": "R1", "name": "王芳", "role": "grid_worker", "grids": "S1,NOPE"},
                "geometry": {"type": "Point", "coordinates": [113.005, 23.005]},
            }
        ],
    )
    result = cli("import", "responders", path, "-q")
    assert result.exit_code == 2
    assert "row 1 (code 'R1'): grid 'NOPE' does not exist" in result.output
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Responder.id))) == 0


# --------------------------------------------------------------------------- bulk building imports


def point_feature(props: dict, x: float, y: float) -> dict:
    return {"type": "Feature", "properties": props, "geometry": {"type": "Point", "coordinates": [x, y]}}


def building_rows(engine) -> dict[str, tuple]:
    with session_scope(engine) as s:
        return {
            b.code: (
                b.name,
                b.grid.code if b.grid else None,
                b.households,
                b.properties,
                from_db(b.geom).coords[0],
                b.footprint is not None,
            )
            for b in s.scalars(select(Building))
        }


def test_buildings_are_written_in_bulk_geotagged_and_replaced(cli, engine, one_grid, tmp_path):
    odd = "tab\there, a \\ backslash\nand a line"
    features = [
        point_feature({"code": "B1", "name": odd, "households": 12, "floors": 6}, 113.005, 23.005),
        point_feature({"code": "B2", "households": "7", "floors": None}, 113.001, 23.009),
        point_feature({"code": "B3", "floors": 3}, 113.5, 23.5),  # outside every grid
    ]
    result = cli("import", "buildings", write_geojson(tmp_path / "b.geojson", features), "-q")
    assert result.exit_code == 0, result.output
    assert "3 created, 0 updated" in result.output
    rows = building_rows(engine)
    assert rows["B1"] == (odd, "S1", 12, {"floors": 6}, (113.005, 23.005), False)
    assert rows["B2"][:3] == ("B2", "S1", 7)
    assert rows["B3"][1] is None

    again = [
        point_feature({"code": "B3", "name": "moved in"}, 113.002, 23.002),
        point_feature({"code": "B4"}, 113.003, 23.003),
    ]
    path = write_geojson(tmp_path / "again.geojson", again)
    refused = cli("import", "buildings", path, "-q")
    assert refused.exit_code == 2
    assert "row 1: building code 'B3' already exists in the database (use --replace to update it)" in refused.output
    assert building_rows(engine) == rows
    result = cli("import", "buildings", path, "--replace", "-q")
    assert result.exit_code == 0, result.output
    assert "1 created, 1 updated" in result.output
    after = building_rows(engine)
    assert after["B3"][:2] == ("moved in", "S1") and after["B3"][4] == (113.002, 23.002)
    assert after["B4"][1] == "S1"
    assert after["B1"] == rows["B1"]


def test_footprints_give_the_building_its_point(cli, engine, one_grid, tmp_path):
    square = [[113.004, 23.004], [113.0042, 23.004], [113.0042, 23.0042], [113.004, 23.0042], [113.004, 23.004]]
    result = cli(
        "import", "buildings", write_geojson(tmp_path / "f.geojson", [poly_feature({"code": "F1"}, square)]), "-q"
    )
    assert result.exit_code == 0, result.output
    with session_scope(engine) as s:
        b = s.scalar(select(Building))
        assert from_db(b.footprint).contains(from_db(b.geom))
        assert b.grid.code == "S1"


def table_schema(engine, table: str) -> set:
    """Indexes, foreign keys and triggers of a table, as the database describes them."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE tablename = %(t)s UNION ALL "
                "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %(t)s::regclass",
                {"t": table},
            )
        else:
            rows = conn.exec_driver_sql(
                "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master WHERE tbl_name = ?", (table,)
            )
        return {r[0] for r in rows}


def test_a_large_import_keeps_the_spatial_indexes(cli, engine, one_grid, tmp_path, monkeypatch):
    """Large loads rebuild the spatial index (PostGIS) or fill the R*Tree in one statement
    (SpatiaLite); the indexes must answer as before and be back in place afterwards."""
    from geo.db import bulk
    from geo.db.engine import backend_for

    monkeypatch.setattr(bulk, "DEFER_INDEXES_FROM", 10)
    monkeypatch.setattr(bulk, "SPATIALITE_DEFER_FROM", 10)
    before = table_schema(engine, "buildings")
    rng = np.random.default_rng(3)
    xs, ys = rng.uniform(113.0, 113.01, 60), rng.uniform(23.0, 23.01, 60)
    features = [
        point_feature({"code": f"L{i}"}, float(x), float(y)) for i, (x, y) in enumerate(zip(xs, ys, strict=True))
    ]
    result = cli("import", "buildings", write_geojson(tmp_path / "many.geojson", features), "-q")
    assert result.exit_code == 0, result.output
    with session_scope(engine) as s:
        backend = backend_for(s)
        assert backend.spatial_index_exists(s, "buildings", "geom")
        assert backend.spatial_index_exists(s, "buildings", "footprint")
        found = set(
            s.scalars(
                select(Building.code).where(
                    backend.bbox_filter(Building.__table__.c.geom, "buildings", (113.0, 23.0, 113.005, 23.01))
                )
            )
        )
        assert found == {f"L{i}" for i, x in enumerate(xs) if x <= 113.005}
        assert s.scalar(select(func.count()).where(Building.grid_id.is_(None))) == 0
    assert table_schema(engine, "buildings") == before
    # The insert triggers and index are back: an ordinary write is indexed too.
    more = write_geojson(tmp_path / "one.geojson", [point_feature({"code": "M1"}, 113.0071, 23.0071)])
    assert cli("import", "buildings", more, "-q").exit_code == 0
    with session_scope(engine) as s:
        backend = backend_for(s)
        near = set(
            s.scalars(
                select(Building.code).where(
                    backend.bbox_filter(Building.__table__.c.geom, "buildings", (113.007, 23.007, 113.0072, 23.0072))
                )
            )
        )
        assert "M1" in near


def test_a_large_import_refused_by_a_restored_constraint_leaves_nothing(engine, one_grid, tmp_path, monkeypatch):
    """A large PostGIS load puts the unique constraint on the code back only after the rows are
    in; a duplicate that slipped past the checks (stored by another writer meanwhile) must still
    fail the import as a whole, and leave the table and its schema as they were."""
    from geo.db import bulk
    from geo.io import importers as geo_io
    from geo.io.read import ImportOptions

    monkeypatch.setattr(bulk, "DEFER_INDEXES_FROM", 10)
    monkeypatch.setattr(bulk, "SPATIALITE_DEFER_FROM", 10)
    first = write_geojson(tmp_path / "first.geojson", [point_feature({"code": "D0"}, 113.001, 23.001)])
    with session_scope(engine) as s:
        geo_io.import_layer(s, "buildings", first, ImportOptions(progress=False))
    before = table_schema(engine, "buildings")
    square = lambda x, y: [[x, y], [x + 0.0002, y], [x + 0.0002, y + 0.0002], [x, y + 0.0002], [x, y]]  # noqa: E731
    features = [
        poly_feature({"code": f"D{i}"}, square(113.001 + i * 0.0003, 23.002)) for i in range(20)
    ]  # D0 is stored already
    monkeypatch.setattr(geo_io, "_existing_ids", lambda *a, **k: {})  # the check ran before the other writer committed
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        with session_scope(engine) as s:
            geo_io.import_layer(
                s, "buildings", write_geojson(tmp_path / "many.geojson", features), ImportOptions(progress=False)
            )
    with session_scope(engine) as s:
        assert s.scalars(select(Building.code)).all() == ["D0"]
    assert table_schema(engine, "buildings") == before


def test_bulk_incidents_match_the_per_row_geotagging(engine):
    """Imported incidents are tagged in one batch; the answer is the one a single write gets."""
    from geo.grids.index import locate_grid_ids
    from geo.incidents.definitions import workflows
    from geo.incidents.geotag import nearest_building_id
    from geo.incidents.workflow import default_assignee
    from geo.io.demo import DEMO_DIR
    from geo.io.importers import import_layer
    from geo.io.read import ImportOptions
    from geo.layers import LAYERS
    from geo.models import Incident, IncidentHistory

    with session_scope(engine) as s:
        # The demo's files as they are (load_demo then walks the incidents through the workflow).
        for entry in LAYERS.values():
            if entry.in_demo:
                import_layer(s, entry.name, DEMO_DIR / entry.demo_file, ImportOptions())
    flows = workflows()
    with session_scope(engine) as s:
        incidents = s.scalars(select(Incident)).all()
        assert len(incidents) > 50
        for inc in incidents:
            p = from_db(inc.geom)
            assert inc.grid_id == locate_grid_ids(s, [p.x], [p.y])[0], inc.code
            assert inc.building_id == nearest_building_id(s, p.x, p.y), inc.code
            flow = flows[inc.kind]
            assert inc.assignee_id == (default_assignee(s, inc.grid_id) if flow.is_open(inc.status) else None), inc.code
            allowance = flow.allowance(inc.status, inc.category)
            assert inc.due_at == (inc.status_since + allowance if allowance else None)
            assert inc.handling_due_at == (inc.due_at if inc.status == flow.handling else None)
            assert inc.version == 1 and inc.escalation == 0 and inc.possible_duplicates == []
            assert inc.created_at.tzinfo is not None and inc.status_since == inc.updated_at
        history = s.execute(
            select(
                IncidentHistory.incident_id,
                IncidentHistory.action,
                IncidentHistory.to_status,
                IncidentHistory.step,
                IncidentHistory.kind,
                IncidentHistory.category,
                IncidentHistory.grid_id,
                IncidentHistory.assignee_id,
            )
        ).all()
        # Each row with the incident's state when it was written, as the indicators read it.
        assert sorted(history) == sorted(
            (i.id, "import", i.status, "report", i.kind, i.category, i.grid_id, i.assignee_id) for i in incidents
        )


def test_bulk_writes_bump_the_revisions_the_orm_would(engine):
    """Rows written around the ORM still reach the in-memory indexes that follow revisions."""
    from datetime import datetime

    from geo.db import bulk
    from geo.db.revisions import read_revisions
    from geo.grids.index import locate_grid_ids
    from geo.spatial.geometry import as_multipolygon

    with session_scope(engine) as s:
        assert locate_grid_ids(s, [113.005], [23.005]) == [None]
        before = read_revisions(s, ("grids",))
        now = datetime.now(UTC)
        bulk.insert(
            s,
            Grid.__table__,
            dict(
                code=["BG"],
                name=["bulk"],
                properties=[{}],
                geom=[as_multipolygon(box(113, 23, 113.01, 23.01))],
                updated_at=[now],
            ),
        )
        assert read_revisions(s, ("grids",)) == (before[0] + 1,)
    with session_scope(engine) as s:
        grid_id = s.scalar(select(Grid.id).where(Grid.code == "BG"))
        assert locate_grid_ids(s, [113.005], [23.005]) == [grid_id]
