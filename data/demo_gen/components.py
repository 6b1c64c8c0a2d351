"""Components (部件): manhole covers by the buildings, hydrants in the estates, street lights along
翠湖路 and the micro fire station at 雅悦花园's activity centre, coded as GB/T 30428.2 does (district +
大类 + 小类 + serial) with the sub-categories of the default catalogue (data/catalogue/default.csv).

They draw from a generator of their own, so the other layers stay as they were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from shapely.geometry import Point

from geo.models import BuildingKind

from .buildings import Building
from .community import Grid, grid_of
from .facts import DISTRICT_CODE, SEED
from .frame import LocalFrame, random_point_around, snap

# 大类 + 小类 of the default catalogue, and the position accuracy class such a survey reaches.
SUBCATEGORIES = {
    "上水井盖": ("0101", "A"),
    "污水井盖": ("0102", "A"),
    "雨水井盖": ("0103", "A"),
    "消防栓": ("0107", "A"),
    "路灯": ("0108", "B"),
    "微型消防站": ("0109", "C"),
}
COVERS_PER_KIND = 8
HYDRANTS = 8
LIGHT_SPACING_M = 60.0
LIGHT_ROAD_Y_M = 6.0  # 翠湖路 runs east-west through the centre; the lights stand beside it
# Most components are intact; these are drawn for the rest.
OTHER_STATES = ("damaged", "missing", "occupied")


@dataclass
class Component:
    code: str
    name: str
    state: str
    accuracy: str
    point: Point  # WGS84


class _Coder:
    """Serial numbers per sub-category, from 1."""

    def __init__(self) -> None:
        self.serials: dict[str, int] = {}

    def code(self, kind: str) -> str:
        category, _ = SUBCATEGORIES[kind]
        self.serials[category] = self.serials.get(category, 0) + 1
        return f"{DISTRICT_CODE}{category}{self.serials[category]:06d}"


def _state(rng: np.random.Generator) -> str:
    return str(rng.choice(OTHER_STATES)) if rng.random() < 0.15 else "intact"


def _beside(rng: np.random.Generator, frame: LocalFrame, b: Building) -> Point | None:
    """A spot 4 to 15 m from the building, well inside its grid."""
    assert b.grid is not None  # number_buildings gave every building its grid
    room = b.grid.metric.buffer(-2.0)
    for _ in range(50):
        p = random_point_around(rng, b.footprint_m.centroid, 4.0, 15.0)
        if room.contains(p):
            return snap(frame.to_deg(p))
    return None


def make_components(frame: LocalFrame, grids: list[Grid], buildings: list[Building]) -> list[Component]:
    rng = np.random.default_rng(SEED + 30428)
    coder = _Coder()
    out: list[Component] = []

    def add(kind: str, name: str, point: Point | None, state: str | None = None) -> None:
        if point is not None:
            accuracy = SUBCATEGORIES[kind][1]
            out.append(Component(coder.code(kind), name, state or _state(rng), accuracy, point))

    order = rng.permutation(len(buildings))
    picked = [buildings[i] for i in order]
    for n, kind in enumerate(("上水井盖", "污水井盖", "雨水井盖")):
        for b in picked[n * COVERS_PER_KIND : (n + 1) * COVERS_PER_KIND]:
            add(kind, f"{b.name}{kind}", _beside(rng, frame, b))
    estate_buildings = [b for b in picked if b.kind == BuildingKind.estate_building.value]
    for b in estate_buildings[:HYDRANTS]:
        add("消防栓", f"{b.name}消防栓", _beside(rng, frame, b))
    for i, x in enumerate(np.arange(-300.0, 300.1, LIGHT_SPACING_M)):
        spot = Point(float(x), LIGHT_ROAD_Y_M)
        if grid_of(grids, spot) is not None:
            add("路灯", f"翠湖路路灯{i + 1:02d}", snap(frame.to_deg(spot)))
    centre = next(b for b in buildings if b.kind == BuildingKind.public_facility.value)
    add("微型消防站", "雅悦花园微型消防站", centre.point, state="intact")
    return out
