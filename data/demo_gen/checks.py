"""The promises other code relies on; a failure here means the generator is wrong."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import MultiPolygon

from geo.catalogue.default import default_categories
from geo.models import KNOWN_ROLES, BuildingKind
from geo.spatial.topology import TopologyReport, check_grids

from .buildings import ESTATES, YAYUE
from .community import grid_of
from .demo import Demo
from .facts import (
    MIN_EDGE_M,
    N_BUILDING_HEADS,
    N_GRIDS,
    N_ILLEGAL_STRUCTURES_DEMOLISHED,
    N_OLD_BUILDINGS,
    N_RENOVATIONS_COMPLETED,
    TARGET_RESIDENTS,
)


def verify(demo: Demo, district: MultiPolygon) -> TopologyReport:
    """Check the whole demo; returns the grid topology report."""
    report = check_layout(demo, district)
    check_buildings(demo)
    check_points_inside_grids(demo)
    check_people_and_incidents(demo)
    return report


def check_layout(demo: Demo, district: MultiPolygon) -> TopologyReport:
    assert district.contains(demo.community), "the community must lie inside 清城区"
    assert len(demo.grids) == N_GRIDS
    codes, geoms = [g.code for g in demo.grids], [g.geom for g in demo.grids]
    report = check_grids(codes, geoms, boundary=demo.community)
    assert report.ok, report.lines()
    assert shapely.coverage_is_valid(np.array(geoms, dtype=object)), "grids are not a clean coverage"
    assert all(demo.community.contains(e.geom) for e in demo.estates)
    assert len(demo.estates) == len(ESTATES) and any(e.name == YAYUE for e in demo.estates)
    return report


def check_buildings(demo: Demo) -> None:
    kinds = [b.kind for b in demo.buildings]
    assert kinds.count(BuildingKind.old_building.value) == N_OLD_BUILDINGS
    assert kinds.count(BuildingKind.public_facility.value) == 1
    assert set(kinds) <= {k.value for k in BuildingKind}
    total = sum(b.residents for b in demo.buildings)
    assert abs(total - TARGET_RESIDENTS) <= TARGET_RESIDENTS * 0.01


def check_points_inside_grids(demo: Demo) -> None:
    """Every point is well inside one grid, so no importer can put it in a neighbour; buildings in their own."""
    points = [b.point for b in demo.buildings] + [r.point for r in demo.responders] + [i.point for i in demo.incidents]
    points += [c.point for c in demo.components]
    for p in points:
        assert grid_of(demo.grids, demo.frame.to_m(p)) is not None, f"{p} is not at least {MIN_EDGE_M} m inside a grid"
    for b in demo.buildings:
        assert grid_of(demo.grids, demo.frame.to_m(b.point)) is b.grid


def check_people_and_incidents(demo: Demo) -> None:
    assert all(r.role in KNOWN_ROLES for r in demo.responders)
    assert sum(r.role == "building_head" for r in demo.responders) == N_BUILDING_HEADS
    catalogue = default_categories()
    for i in demo.incidents:
        assert i.category in catalogue[i.kind], (i.kind, i.category)
    done = [(i.kind, i.status) for i in demo.incidents]
    assert done.count(("renovation", "completed")) == N_RENOVATIONS_COMPLETED
    assert done.count(("illegal_structure", "demolished")) == N_ILLEGAL_STRUCTURES_DEMOLISHED
