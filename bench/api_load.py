"""Create a fresh benchmark database and bulk-load the generated data with SQLAlchemy Core.

One executemany per table (in chunks), geometry as EWKB through geoalchemy2's ``from_shape``
conversion (``WKBElement``), no ORM objects, no per-row flush: the geotagging and revision
hooks of the ORM are not involved, so the revisions are bumped by hand at the end.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import shapely
from geoalchemy2 import WKBElement
from sqlalchemy import Engine, insert, text
from sqlalchemy.engine import make_url

from bench.api_data import Data
from geo.db import schema
from geo.db.engine import make_engine, normalise_url
from geo.models import Community, Grid, Responder, Street, responder_grids

CHUNK = 5_000


def _ewkb(wkb: bytes) -> WKBElement:
    # What geoalchemy2.shape.from_shape(geom, srid=4326) makes, without a shapely round trip.
    return WKBElement(shapely.to_wkb(shapely.from_wkb(wkb), include_srid=True), srid=4326, extended=True)


def _ewkb_many(wkbs: np.ndarray) -> list[WKBElement]:
    geoms = shapely.set_srid(shapely.from_wkb(wkbs), 4326)
    return [WKBElement(b, srid=4326, extended=True) for b in shapely.to_wkb(geoms, include_srid=True)]


def fresh_postgres(url: str, log=print) -> None:
    """Drop and create the database named in ``url`` (connecting to its server's ``postgres``)."""
    import psycopg

    u = make_url(url)
    admin = u.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{u.database}"')
    with psycopg.connect(u.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        version = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
    log(f"postgis: fresh database {u.database} on {u.host}:{u.port or 5432} (PostGIS {version})")


def _chunks(rows: list[dict], size: int = CHUNK):
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def load(url: str, data: Data, log=print) -> dict:
    """Migrate the (empty) database at ``url`` and load ``data``; returns timings in seconds."""
    timings: dict[str, float] = {}
    if make_url(normalise_url(url)).get_backend_name() == "sqlite":
        path = make_url(url).database
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    engine: Engine = make_engine(url)
    t0 = time.perf_counter()
    schema.upgrade(engine)
    timings["migrate_s"] = time.perf_counter() - t0
    now = datetime.now(UTC)

    streets = [
        {
            "id": i + 1,
            "code": code,
            "name": f"基准街道{i + 1:02d}",
            "district_code": "441802",
            "district_name": "清城区",
            "city_name": "清远市",
        }
        for i, code in enumerate(data.street_codes.tolist())
    ]
    boxes = shapely.multipolygons(shapely.box(*data.community_boxes.T).reshape(-1, 1))
    communities = [
        {"id": i + 1, "street_id": int(s), "code": code, "name": f"基准社区{i + 1:04d}", "geom": g}
        for i, (code, s, g) in enumerate(
            zip(data.community_codes.tolist(), data.community_street.tolist(), _ewkb_many(shapely.to_wkb(boxes)))
        )
    ]
    t = time.perf_counter()
    grid_geoms = _ewkb_many(data.grid_wkb)
    grids = [
        {
            "id": i + 1,
            "community_id": int(c),
            "code": code,
            "name": f"第{code[-3:]}网格",
            "party_branch": f"第{code[-3:]}网格党支部",
            "properties": {},
            "geom": g,
            "updated_at": now,
        }
        for i, (code, c, g) in enumerate(zip(data.grid_codes.tolist(), data.grid_community.tolist(), grid_geoms))
    ]
    resp_geoms = _ewkb_many(shapely.to_wkb(shapely.points(data.resp_lon, data.resp_lat)))
    responders = [
        {
            "id": i + 1,
            "code": f"R{i + 1:06d}",
            "name": f"应急人员{i + 1:06d}",
            "kind": "facility" if role == "fire_station" else "person",
            "role": role,
            "phone": f"139{i + 1:08d}",
            "organisation": None,
            "building_id": None,
            "on_duty": bool(duty),
            "located_at": now,
            "properties": {},
            "geom": g,
            "updated_at": now,
        }
        for i, (role, duty, g) in enumerate(zip(data.resp_role.tolist(), data.resp_on_duty.tolist(), resp_geoms))
    ]
    serves = [
        {"responder_id": int(r), "grid_id": int(g)} for r, g in zip(data.serve_resp.tolist(), data.serve_grid.tolist())
    ]
    timings["prepare_rows_s"] = time.perf_counter() - t

    with engine.begin() as conn:
        for name, table, rows in (
            ("streets", Street.__table__, streets),
            ("communities", Community.__table__, communities),
            ("grids", Grid.__table__, grids),
            ("responders", Responder.__table__, responders),
            ("responder_grids", responder_grids, serves),
        ):
            t = time.perf_counter()
            for chunk in _chunks(rows):
                conn.execute(insert(table), chunk)
            timings[f"insert_{name}_s"] = time.perf_counter() - t
            log(f"  loaded {len(rows):>7,} {name} in {timings[f'insert_{name}_s']:.1f} s")
        # In-memory indexes (grid index, grid cards, responder index) follow these counters.
        conn.execute(text("UPDATE layer_revisions SET revision = revision + 1"))
        if conn.dialect.name == "postgresql":
            # Keep the id sequences ahead of the explicit ids, as a real import would.
            for table in ("streets", "communities", "grids", "responders"):
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
                )
    t = time.perf_counter()
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT") if engine.dialect.name == "postgresql" else conn
        conn.execute(text("ANALYZE"))
        if engine.dialect.name == "sqlite":
            conn.commit()
    timings["analyze_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    engine.dispose()
    return timings


def verify(url: str, data: Data) -> dict:
    """Counts and an exact geometry round trip check of a sample of grids."""
    from geo.spatial.geometry import from_db

    engine = make_engine(url)
    out = {}
    with engine.connect() as conn:
        for table in ("grids", "responders", "responder_grids", "communities"):
            out[table] = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        sample = np.linspace(1, len(data.grid_wkb), 200).astype(int)
        from sqlalchemy import select

        rows = conn.execute(select(Grid.id, Grid.geom).where(Grid.id.in_(sample.tolist()))).all()
        same = sum(
            shapely.equals_exact(from_db(g), shapely.from_wkb(data.grid_wkb[i - 1]), tolerance=0) for i, g in rows
        )
        out["geometry_exact_sample"] = f"{same}/{len(rows)}"
    engine.dispose()
    return out


if __name__ == "__main__":  # python -m bench.api_load URL: load into one database (for profiling by hand)
    import sys

    from bench.api_data import Params, load_or_make

    target = sys.argv[1]
    d = load_or_make(Params(), Path(__file__).parent / "results" / "cache")
    if target.startswith("postgresql"):
        fresh_postgres(target)
    print(load(target, d))
    print(verify(target, d))
