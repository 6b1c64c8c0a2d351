"""Garden estates, the blocks inside them, the old standalone buildings, their addresses and residents."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import Point, Polygon, box

from geo.models import BuildingKind

from .community import Grid, grid_of
from .facts import ADDRESS_PREFIX, N_OLD_BUILDINGS, TARGET_RESIDENTS
from .frame import LocalFrame, place, random_point_in, rotated_rect, snap

ESTATES = (  # name, property company (both invented)
    ("雅悦花园", "清远市悦家物业服务有限公司"),
    ("翠湖花园", "清远市翠湖物业管理有限公司"),
    ("凤城花园", "清远凤城物业管理有限公司"),
    ("锦绣花园", "清远市锦华物业服务有限公司"),
    ("榕景花园", "清远市榕安物业管理有限公司"),
    ("明珠花园", "清远市明珠物业服务有限公司"),
    ("怡景花园", "清远怡居物业管理有限公司"),
)
YAYUE = "雅悦花园"
YAYUE_AMENITIES = "党群活动中心;微消防站"

# Roads used only for house numbers: (name, "h" east-west at y metres | "v" north-south at x metres).
ROADS = (
    ("翠湖北路", "h", 330.0),
    ("翠湖路", "h", 0.0),
    ("翠湖南路", "h", -330.0),
    ("凤鸣街", "v", -320.0),
    ("榕荫街", "v", 320.0),
)


@dataclass(eq=False)
class Estate:
    name: str
    property_company: str
    grid: Grid
    metric: Polygon
    # the placement, reused to lay out the buildings in the estate's own axes
    centre: tuple[float, float]
    angle: float
    size: tuple[float, float]
    geom: Polygon | None = None
    road: str = ""
    number: int = 0

    @property
    def amenities(self) -> str:
        return YAYUE_AMENITIES if self.name == YAYUE else ""


@dataclass(eq=False)
class Building:
    name: str
    kind: str
    footprint_m: Polygon
    households: int = 0
    residents: int = 0
    estate: Estate | None = None
    road: str = ""
    number: int = 0
    code: str = ""
    address: str = ""
    footprint: Polygon | None = None  # WGS84
    point: Point | None = None  # WGS84, on the footprint
    grid: Grid | None = None


def make_buildings(
    rng: np.random.Generator, frame: LocalFrame, community: Polygon, grids: list[Grid]
) -> tuple[list[Estate], list[Building]]:
    """The estates, then every building in the order the file lists them, with residents."""
    estates = place_estates(rng, grids)
    for e in estates:
        e.geom = frame.to_deg(e.metric)
    in_estates = [b for e in estates for b in estate_buildings(rng, e)]
    old = place_old_buildings(rng, frame.to_m(community), grids, estates)
    give_addresses(estates, old, in_estates)
    buildings = number_buildings(frame, grids, old, in_estates)
    assign_residents(rng, buildings)
    return estates, buildings


# ---------------------------------------------------------------------------------------------
# Estates
# ---------------------------------------------------------------------------------------------


def estate_shape(w: float, h: float, cut: float, angle: float, centre: tuple[float, float]) -> Polygon:
    # A rectangle with one chamfered corner, so estates are not plain boxes.
    local = Polygon([(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2 - cut), (w / 2 - cut, h / 2), (-w / 2, h / 2)])
    return place(local, angle, centre)


def place_estates(rng: np.random.Generator, grids: list[Grid]) -> list[Estate]:
    """Each estate sits wholly inside one grid of its own, in grids drawn at random."""
    order = [grids[int(i)] for i in rng.permutation(len(grids))]
    estates: list[Estate] = []
    for name, company in ESTATES:
        free = [g for g in order if all(e.grid is not g for e in estates)]
        estates.append(place_estate(rng, name, company, free))
    return estates


def place_estate(rng: np.random.Generator, name: str, company: str, grids: list[Grid]) -> Estate:
    # Full size in any grid first; shrink only if nothing fits.
    for scale in (1.0, 0.92, 0.85):
        for grid in grids:
            estate = fit_estate(rng, name, company, grid, scale)
            if estate:
                return estate
    raise AssertionError(f"no room for {name}")


def fit_estate(rng: np.random.Generator, name: str, company: str, grid: Grid, scale: float) -> Estate | None:
    room = grid.metric.buffer(-8.0)
    for _ in range(120):
        w, h = rng.uniform(140.0, 175.0) * scale, rng.uniform(110.0, 140.0) * scale
        cut, angle = rng.uniform(0.15, 0.3) * min(w, h), rng.uniform(-18.0, 18.0)
        c = random_point_in(rng, room)
        shape = estate_shape(w, h, cut, angle, (c.x, c.y))
        if room.contains(shape):
            return Estate(name, company, grid, shape, (c.x, c.y), angle, (w, h))
    return None


def estate_slots(rng: np.random.Generator, estate: Estate) -> list[Polygon]:
    """Slab blocks on a regular layout in the estate's own axes, north row first, west to east."""
    length, depth = rng.uniform(22.0, 30.0), rng.uniform(11.0, 14.0)
    gap_x, gap_y, margin = 14.0, 16.0, 10.0  # fire spacing between blocks, and a ring road inside the wall
    w, h = estate.size
    cols = int((w - 2 * margin + gap_x) // (length + gap_x))
    rows = int((h - 2 * margin + gap_y) // (depth + gap_y))
    room = estate.metric.buffer(-4.0)
    slots = []
    for r in range(rows):
        y = ((rows - 1) / 2 - r) * (depth + gap_y)
        for c in range(cols):
            x = (c - (cols - 1) / 2) * (length + gap_x)
            fp = place(box(x - length / 2, y - depth / 2, x + length / 2, y + depth / 2), estate.angle, estate.centre)
            if room.contains(fp):
                slots.append(fp)
    return slots


def activity_centre(estate: Estate, slots: list[Polygon]) -> Building:
    """The activity centre takes the slot nearest the middle (removed from slots), as a smaller low block."""
    mid = Point(estate.centre)
    k = min(range(len(slots)), key=lambda i: slots[i].centroid.distance(mid))
    footprint = affinity.scale(slots.pop(k), 0.75, 0.75)  # uniform, so it stays a rectangle
    return Building(f"{YAYUE}党群活动中心", BuildingKind.public_facility.value, footprint, estate=estate)


def estate_buildings(rng: np.random.Generator, estate: Estate) -> list[Building]:
    slots = estate_slots(rng, estate)
    facilities = [activity_centre(estate, slots)] if estate.name == YAYUE else []
    n = min(len(slots), int(rng.integers(6, 15)))
    assert n >= 6, f"{estate.name} has room for only {len(slots)} blocks"
    chosen = sorted(int(i) for i in rng.choice(len(slots), n, replace=False))
    base_floors = int(rng.integers(9, 19))
    homes = []
    for seq, i in enumerate(chosen, start=1):
        b = Building(f"{estate.name}{seq}栋", BuildingKind.estate_building.value, slots[i], estate=estate)
        b.households = (base_floors + int(rng.integers(-2, 3))) * int(rng.integers(2, 5))
        homes.append(b)
    return homes + facilities  # numbered blocks first, the facility after them


# ---------------------------------------------------------------------------------------------
# Old standalone buildings
# ---------------------------------------------------------------------------------------------


def place_old_buildings(
    rng: np.random.Generator, outline_m: Polygon, grids: list[Grid], estates: list[Estate]
) -> list[Building]:
    """Old walk-ups scattered outside the estates, each wholly inside one grid, 5 m apart."""
    rooms = [g.metric.buffer(-2.5) for g in grids]
    keep_out = shapely.union_all([e.metric.buffer(8.0) for e in estates])
    x0, y0, x1, y1 = outline_m.bounds
    placed: list[Building] = []
    footprints = np.empty(0, dtype=object)
    tries = 0
    while len(placed) < N_OLD_BUILDINGS:
        tries += 1
        assert tries < 200_000, "could not place the old buildings"
        # Old blocks follow the street pattern: mostly aligned, a quarter turned across it.
        angle = 8.0 + rng.normal(0.0, 4.0) + (90.0 if rng.random() < 0.25 else 0.0)
        fp = rotated_rect(
            rng.uniform(12.0, 26.0), rng.uniform(8.0, 13.0), angle, rng.uniform(x0, x1), rng.uniform(y0, y1)
        )
        if not any(room.contains(fp) for room in rooms) or fp.intersects(keep_out):
            continue
        if footprints.size and shapely.dwithin(footprints, fp, 5.0).any():
            continue
        b = Building("", BuildingKind.old_building.value, fp)
        b.households = int(rng.integers(3, 8)) * int(rng.integers(1, 5))  # 3-7 floors, 1-4 flats a floor
        placed.append(b)
        footprints = np.append(footprints, fp)
    return placed


# ---------------------------------------------------------------------------------------------
# Addresses, codes and residents
# ---------------------------------------------------------------------------------------------


def nearest_road(x: float, y: float) -> int:
    return min(range(len(ROADS)), key=lambda r: abs((y if ROADS[r][1] == "h" else x) - ROADS[r][2]))


def road_side(p: Point, axis: str, at: float) -> tuple[bool, float]:
    """(on the odd-numbered side, position along the road): odd is north or west; numbers run east or south."""
    if axis == "h":
        return p.y > at, p.x
    return p.x < at, -p.y


def house_numbers(points: list[Point]) -> list[tuple[str, int]]:
    """(road, number) per point: odd numbers on the north/west side, even opposite, in order along the road."""
    roads = [nearest_road(p.x, p.y) for p in points]
    out: list[tuple[str, int]] = [("", 0)] * len(points)
    for r, (name, axis, at) in enumerate(ROADS):
        sides = [(i, *road_side(points[i], axis, at)) for i in range(len(points)) if roads[i] == r]
        for first, odd in ((1, True), (2, False)):
            # Ties along the road keep the points' order, as a stable sort would.
            side = sorted((along, i) for i, is_odd, along in sides if is_odd == odd)
            for k, (_, i) in enumerate(side):
                out[i] = (name, first + 2 * k)
    return out


def give_addresses(estates: list[Estate], old: list[Building], in_estates: list[Building]) -> None:
    """Estates and old buildings take house numbers; blocks in an estate are addressed through it."""
    numbers = house_numbers([e.metric.centroid for e in estates] + [b.footprint_m.centroid for b in old])
    for e, (road, no) in zip(estates, numbers[: len(estates)], strict=True):
        e.road, e.number = road, no
    for b, (road, no) in zip(old, numbers[len(estates) :], strict=True):
        b.road, b.number = road, no
        b.name = f"{road}{no}号"
        b.address = ADDRESS_PREFIX + b.name
    for b in in_estates:
        assert b.estate is not None  # the blocks of an estate
        b.address = f"{ADDRESS_PREFIX}{b.estate.road}{b.estate.number}号{b.name}"


def number_buildings(
    frame: LocalFrame, grids: list[Grid], old: list[Building], in_estates: list[Building]
) -> list[Building]:
    """Codes, WGS84 footprints and grids, in the order the file lists them: estates first, then along the roads."""
    road_order = {name: i for i, (name, _, _) in enumerate(ROADS)}
    ordered = in_estates + sorted(old, key=lambda b: (road_order[b.road], b.number))
    for seq, b in enumerate(ordered, start=1):
        b.code = f"CH-B{seq:03d}"
        b.footprint = frame.to_deg(b.footprint_m)
        b.point = snap(b.footprint.point_on_surface())
        b.grid = grid_of(grids, frame.to_m(b.point))
        assert b.grid is not None, f"{b.code} is not well inside a grid"
    return ordered


def assign_residents(rng: np.random.Generator, buildings: list[Building]) -> None:
    """Residents per building from its households, scaled so the community matches the public total."""
    hh = np.array([b.households for b in buildings], dtype=float)
    rate = TARGET_RESIDENTS / hh.sum()
    res = np.rint(hh * rate * rng.uniform(0.85, 1.15, hh.size)).astype(int)
    res = np.where(hh > 0, np.maximum(res, 1), 0)
    # Nudge one resident at a time until the total is the public figure.
    while (diff := TARGET_RESIDENTS - int(res.sum())) != 0:
        i = int(rng.integers(hh.size))
        step = 1 if diff > 0 else -1
        if hh[i] > 0 and res[i] + step >= 1:
            res[i] += step
    for b, r in zip(buildings, res, strict=True):
        b.residents = int(r)
