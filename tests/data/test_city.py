"""The synthetic city (data/city.py) on both databases: grids that tile its box with no gap and no
overlap, coded by community; buildings inside the grid they name; a few estates; and the
command line that loads one (``wangge demo --city``)."""

from __future__ import annotations

import numpy as np
import shapely
from sqlalchemy import func, select

from data.city import make_city
from geo.db.session import session_scope
from geo.grids.index import grid_index, locate_grid_ids
from geo.models import Building, Community, Estate, Grid, Street


def test_a_city_tiles_its_box_and_its_buildings_lie_in_their_grids(db_url, engine):
    city = make_city(db_url, grids=2_000, buildings=20_000, seed=3, estates=7)
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Grid.id))) == 2_000
        assert s.scalar(select(func.count(Building.id))) == 20_000
        assert s.scalar(select(func.count(Estate.id))) == 7
        assert s.scalar(select(func.count(Street.id))) == 16
        communities = dict(s.execute(select(Community.id, Community.code)).all())
        grids = s.execute(select(Grid.id, Grid.code, Grid.community_id)).all()
        # 15-digit codes, each the code of its community and a sequence number
        assert all(len(code) == 15 and code[:12] == communities[c] for _, code, c in grids)
        index = grid_index(s)
        box = shapely.box(*city.box)
        areas = shapely.area(index.geoms)
        assert abs(areas.sum() - box.area) < 1e-9 * box.area  # no overlap ...
        assert abs(shapely.union_all(index.geoms).area - box.area) < 1e-9 * box.area  # ... and no gap
        rows = s.execute(
            select(Building.code, Building.grid_id, func.ST_X(Building.geom), func.ST_Y(Building.geom))
            .order_by(Building.id)
            .limit(2_000)
        ).all()
        codes = {g: code for g, code, _ in grids}
        found = locate_grid_ids(s, np.array([r[2] for r in rows]), np.array([r[3] for r in rows]))
        assert found == [r[1] for r in rows]
        assert all(code.startswith(codes[g]) for code, g, _, _ in rows)


def test_wangge_demo_city_loads_a_city_once(cli, engine):
    done = cli("demo", "--city", "300,1500")
    assert done.exit_code == 0, done.output
    assert "300 grids, 1,500 buildings" in done.output
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Grid.id))) == 300
        assert s.scalar(select(func.count(Building.id))) == 1_500
    again = cli("demo", "--city", "300")
    assert again.exit_code != 0 and "has grids already" in again.output
    bad = cli("demo", "--city", "many")
    assert bad.exit_code != 0 and "--city 100000,1000000" in bad.output
