"""Generate the synthetic demo of 翠湖社区 (Cuihu community), 凤城街道, 清城区, 清远市, Guangdong.

Everything here is invented except the district boundary of 清城区 (see data/demo/README.md for its
origin). The invention follows the community's public figures: 7 garden estates (花园小区) and 235
old standalone buildings (老旧单体楼), about 13,700 residents, 2 party branches with 4 party groups
organised by grid, 43 building heads (楼栋长), 14 finished renovation points, 7 demolished illegal
structures, and a party-and-residents activity centre with a micro fire station in 雅悦花园.

The output is deterministic: one seeded generator consumed in a fixed order, a fixed base time, and
GeoJSON written in a fixed layout, so two runs produce byte-identical files.

    python -m data.generate_demo
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely import affinity
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon, box, mapping

from geo.spatial.codes import community_code, unit_grid_codes
from geo.spatial.crs import CoordinateSystem
from geo.spatial.geometry import as_multipolygon
from geo.models import CATEGORIES, KNOWN_ROLES, BuildingKind
from geo.spatial.topology import check_grids

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "demo"
# The boundary lives beside the repository (shared data); an environment variable can point elsewhere.
DISTRICT_FILE = Path(
    os.environ.get("WANGGE_DISTRICT_FILE", HERE.parents[1] / "shared" / "data" / "qingyuan" / "441802_qingcheng.json")
)

SEED = 441802001
CST = timezone(timedelta(hours=8))
BASE_TIME = datetime(2026, 11, 1, 8, 0, tzinfo=CST)  # "now" for the demo; every time is an offset from it
DECIMALS = 7  # about 1 cm, finer than any survey of these features
PRECISION = 10.0**-DECIMALS

CITY_NAME = "清远市"
DISTRICT_CODE = "441802"
DISTRICT_NAME = "清城区"
STREET_NAME = "凤城街道"
COMMUNITY_NAME = "翠湖社区"
ADDRESS_PREFIX = f"{CITY_NAME}{DISTRICT_NAME}{STREET_NAME}"
CENTRE = (113.045, 23.695)  # WGS84, in the urban centre of the district

N_GRIDS = 12
N_OLD_BUILDINGS = 235
TARGET_RESIDENTS = 13_700
N_BUILDING_HEADS = 43
MIN_EDGE_M = 1.0  # points this close to a grid edge are ambiguous; keep every point further inside

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

SURNAMES = "陈李黄张梁林刘吴罗何郑杨谢邓冯曾彭朱钟周叶苏卢蔡潘许赖郭廖温"
GIVEN_CHARS = "伟强军华明建国志永海文杰斌宏家俊浩嘉锦思雅慧敏丽芳婷燕玲秀兰桂英红霞玉晓欣怡颖诗琪振宇鹏飞德荣辉汉坤洁梅"
MOBILE_PREFIXES = ("139", "138", "137", "136", "135", "150", "158", "188", "189", "133", "180", "186")
CN_DIGITS = "一二三四五六七八九"


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


class LocalFrame:
    """Metres east/north of the community centre (azimuthal equidistant): the demo is drawn in metres."""

    def __init__(self, lon: float, lat: float):
        crs = CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m")
        self._fwd = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        self._inv = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def to_m(self, geom):
        return shapely.transform(geom, lambda xy: np.column_stack(self._fwd.transform(xy[:, 0], xy[:, 1])))

    def to_deg(self, geom):
        # Rounded once, here, so every later check sees exactly the coordinates that are written.
        return shapely.transform(
            geom, lambda xy: np.round(np.column_stack(self._inv.transform(xy[:, 0], xy[:, 1])), DECIMALS)
        )


def snap(geom):
    return shapely.transform(geom, lambda xy: np.round(xy, DECIMALS))


def pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def cn_number(n: int) -> str:
    """Chinese numerals for 1..99, as in 第十二网格."""
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else CN_DIGITS[tens - 1] + "十")
    return head + (CN_DIGITS[ones - 1] if ones else "")


def rect(length: float, depth: float, angle_deg: float, cx: float, cy: float) -> Polygon:
    """A footprint rectangle centred on (cx, cy), long side rotated angle_deg from east."""
    r = box(-length / 2, -depth / 2, length / 2, depth / 2)
    return affinity.translate(affinity.rotate(r, angle_deg, origin=(0, 0)), cx, cy)


def random_point_in(rng: np.random.Generator, poly: Polygon) -> Point:
    x0, y0, x1, y1 = poly.bounds
    while True:
        p = Point(rng.uniform(x0, x1), rng.uniform(y0, y1))
        if poly.contains(p):
            return p


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


class NameMaker:
    """Invented but plausible Chinese names, and mobile numbers that are plainly synthetic."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.used: set[str] = set()

    def person(self) -> str:
        while True:
            given = 2 if self.rng.random() < 0.7 else 1
            name = pick(self.rng, SURNAMES) + "".join(pick(self.rng, GIVEN_CHARS) for _ in range(given))
            if name not in self.used:
                self.used.add(name)
                return name

    def mobile(self) -> str:
        return f"{pick(self.rng, MOBILE_PREFIXES)}{int(self.rng.integers(0, 10**8)):08d}"


# ---------------------------------------------------------------------------------------------
# The district and the community
# ---------------------------------------------------------------------------------------------


def load_boundary_wgs84(path: str | Path | None = None) -> MultiPolygon:
    """The real boundary of 清城区 in WGS84; the DataV file is GCJ-02, so it is converted first."""
    doc = json.loads(Path(path or DISTRICT_FILE).read_text(encoding="utf-8"))
    features = doc["features"] if doc.get("type") == "FeatureCollection" else [doc]
    gcj = shapely.union_all([shapely.from_geojson(json.dumps(f["geometry"])) for f in features])
    return as_multipolygon(CoordinateSystem("gcj02").geometries_to_wgs84(gcj))


def community_outline_m(rng: np.random.Generator) -> Polygon:
    """An irregular 16-gon of about 1.2 km × 1.0 km: an ellipse with jittered vertices."""
    n = 16
    angles = np.linspace(0.0, 2 * np.pi, n, endpoint=False) + rng.uniform(-0.1, 0.1, n)
    a, b = 620.0, 510.0
    radius = rng.uniform(0.9, 1.06, n) / np.sqrt((np.cos(angles) / a) ** 2 + (np.sin(angles) / b) ** 2)
    return Polygon(np.column_stack([radius * np.cos(angles), radius * np.sin(angles)]))


@dataclass(eq=False)  # compared by identity: `b.grid is g`, never field by field
class Grid:
    code: str
    name: str
    party_branch: str
    geom: Polygon  # WGS84
    metric: Polygon  # local metres


def grid_cells(rng: np.random.Generator, frame: LocalFrame, outline: Polygon) -> list[Polygon]:
    """12 Voronoi cells of a jittered 4 × 3 lattice, clipped to the community on a 1e-7° grid."""
    inner = frame.to_m(outline).buffer(-90.0)
    seeds = []
    for y in (340.0, 0.0, -340.0):
        for x in (-450.0, -150.0, 150.0, 450.0):
            p = np.array([x, y]) + rng.uniform(-45.0, 45.0, 2)
            while not inner.contains(Point(p)):  # pull rim seeds inward so no grid is a sliver
                p *= 0.92
            seeds.append(p)
    seeds_deg = frame.to_deg(MultiPoint(seeds))
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds_deg, extend_to=outline.buffer(0.01)))
    # Fixed-precision overlay puts every vertex on the 1e-7 grid, so shared edges are bit-identical.
    clipped = snap(shapely.intersection(cells, outline, grid_size=PRECISION))
    assert all(isinstance(c, Polygon) for c in clipped), "every grid must be a single polygon"
    return list(clipped)


def make_grids(rng: np.random.Generator, frame: LocalFrame, outline: Polygon, ccode: str) -> list[Grid]:
    cells = grid_cells(rng, frame, outline)
    codes = unit_grid_codes(ccode, cells)
    grids = []
    for seq, (code, cell) in enumerate(sorted(zip(codes, cells), key=lambda t: t[0]), start=1):
        # Party groups follow grids: 3 grids per group, 2 groups per branch.
        branch, group = (seq - 1) // 6 + 1, (seq - 1) // 3 % 2 + 1
        party = f"{COMMUNITY_NAME}第{cn_number(branch)}党支部第{cn_number(group)}党小组"
        grids.append(Grid(code, f"{COMMUNITY_NAME}第{cn_number(seq)}网格", party, cell, frame.to_m(cell)))
    return grids


def grid_of(grids: list[Grid], point_m: Point) -> Grid | None:
    """The grid holding a point (in metres) at least MIN_EDGE_M inside, else None."""
    for g in grids:
        if g.metric.contains(point_m) and g.metric.boundary.distance(point_m) >= MIN_EDGE_M:
            return g
    return None


# ---------------------------------------------------------------------------------------------
# Estates and buildings
# ---------------------------------------------------------------------------------------------


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


def estate_shape(w: float, h: float, cut: float, angle: float, centre: tuple[float, float]) -> Polygon:
    # A rectangle with one chamfered corner, so estates are not plain boxes.
    local = Polygon([(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2 - cut), (w / 2 - cut, h / 2), (-w / 2, h / 2)])
    return affinity.translate(affinity.rotate(local, angle, origin=(0, 0)), *centre)


def place_estates(rng: np.random.Generator, grids: list[Grid]) -> list[Estate]:
    """Each estate sits wholly inside one grid, in grids drawn at random; shrink only if nothing fits."""
    order = [int(i) for i in rng.permutation(len(grids))]
    used: list[int] = []
    estates = []
    for name, company in ESTATES:
        placed = None
        for scale in (1.0, 0.92, 0.85):
            for gi in (i for i in order if i not in used):
                room = grids[gi].metric.buffer(-8.0)
                for _ in range(120):
                    w, h = rng.uniform(140.0, 175.0) * scale, rng.uniform(110.0, 140.0) * scale
                    cut, angle = rng.uniform(0.15, 0.3) * min(w, h), rng.uniform(-18.0, 18.0)
                    c = random_point_in(rng, room)
                    shape = estate_shape(w, h, cut, angle, (c.x, c.y))
                    if room.contains(shape):
                        placed = Estate(name, company, grids[gi], shape, (c.x, c.y), angle, (w, h))
                        break
                if placed:
                    break
            if placed:
                break
        assert placed, f"no room for {name}"
        used.append(next(i for i, g in enumerate(grids) if g is placed.grid))
        estates.append(placed)
    return estates


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
            local = box(x - length / 2, y - depth / 2, x + length / 2, y + depth / 2)
            fp = affinity.translate(affinity.rotate(local, estate.angle, origin=(0, 0)), *estate.centre)
            if room.contains(fp):
                slots.append(fp)
    return slots


def estate_buildings(rng: np.random.Generator, estate: Estate) -> list[Building]:
    slots = estate_slots(rng, estate)
    out = []
    if estate.name == YAYUE:
        # The activity centre takes the slot nearest the middle, as a smaller low block.
        mid = Point(estate.centre)
        k = min(range(len(slots)), key=lambda i: slots[i].centroid.distance(mid))
        centre_fp = affinity.scale(slots.pop(k), 0.75, 0.75)  # uniform, so it stays a rectangle
        out.append(Building(f"{YAYUE}党群活动中心", BuildingKind.public_facility.value, centre_fp, estate=estate))
    n = min(len(slots), int(rng.integers(6, 15)))
    assert n >= 6, f"{estate.name} has room for only {len(slots)} blocks"
    chosen = sorted(int(i) for i in rng.choice(len(slots), n, replace=False))
    base_floors = int(rng.integers(9, 19))
    homes = []
    for seq, i in enumerate(chosen, start=1):
        b = Building(f"{estate.name}{seq}栋", BuildingKind.estate_building.value, slots[i], estate=estate)
        b.households = (base_floors + int(rng.integers(-2, 3))) * int(rng.integers(2, 5))
        homes.append(b)
    return homes + out  # numbered blocks first, the facility after them


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
        fp = rect(rng.uniform(12.0, 26.0), rng.uniform(8.0, 13.0), angle, rng.uniform(x0, x1), rng.uniform(y0, y1))
        if not any(room.contains(fp) for room in rooms) or fp.intersects(keep_out):
            continue
        if footprints.size and shapely.dwithin(footprints, fp, 5.0).any():
            continue
        b = Building("", BuildingKind.old_building.value, fp)
        b.households = int(rng.integers(3, 8)) * int(rng.integers(1, 5))  # 3-7 floors, 1-4 flats a floor
        placed.append(b)
        footprints = np.append(footprints, fp)
    return placed


def nearest_road(x: float, y: float) -> int:
    return min(range(len(ROADS)), key=lambda r: abs((y if ROADS[r][1] == "h" else x) - ROADS[r][2]))


def house_numbers(points: list[Point]) -> list[tuple[str, int]]:
    """(road, number) per point: odd numbers on the north/west side, even opposite, in order along the road."""
    roads = [nearest_road(p.x, p.y) for p in points]
    out: list[tuple[str, int]] = [("", 0)] * len(points)
    for r, (name, axis, at) in enumerate(ROADS):
        members = [i for i in range(len(points)) if roads[i] == r]
        along = (lambda i: points[i].x) if axis == "h" else (lambda i: -points[i].y)
        odd = (lambda i: points[i].y > at) if axis == "h" else (lambda i: points[i].x < at)
        for first, side in ((1, [i for i in members if odd(i)]), (2, [i for i in members if not odd(i)])):
            for k, i in enumerate(sorted(side, key=along)):
                out[i] = (name, first + 2 * k)
    return out


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
    for b, r in zip(buildings, res):
        b.residents = int(r)


def finish_buildings(frame: LocalFrame, grids: list[Grid], estates: list[Estate], old: list[Building], in_estates):
    """Addresses, codes, WGS84 footprints and grids, in the order the file lists them."""
    numbers = house_numbers([e.metric.centroid for e in estates] + [b.footprint_m.centroid for b in old])
    for e, (road, no) in zip(estates, numbers[: len(estates)]):
        e.road, e.number = road, no
    for b, (road, no) in zip(old, numbers[len(estates) :]):
        b.road, b.number = road, no
        b.name = f"{road}{no}号"
        b.address = ADDRESS_PREFIX + b.name
    for b in in_estates:
        b.address = f"{ADDRESS_PREFIX}{b.estate.road}{b.estate.number}号{b.name}"
    road_order = {name: i for i, (name, _, _) in enumerate(ROADS)}
    ordered = in_estates + sorted(old, key=lambda b: (road_order[b.road], b.number))
    for seq, b in enumerate(ordered, start=1):
        b.code = f"CH-B{seq:03d}"
        b.footprint = frame.to_deg(b.footprint_m)
        b.point = snap(b.footprint.point_on_surface())
        b.grid = grid_of(grids, frame.to_m(b.point))
        assert b.grid is not None, f"{b.code} is not well inside a grid"
    return ordered


# ---------------------------------------------------------------------------------------------
# Responders
# ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Responder:
    name: str
    kind: str
    role: str
    phone: str
    organisation: str
    grids: list[Grid]
    point: Point  # WGS84
    on_duty: bool
    located_at: datetime
    building: Building | None = None
    code: str = ""


def located(rng: np.random.Generator, on_duty: bool) -> datetime:
    # On duty: a fix within the last 90 minutes; off duty: last seen the evening before.
    minutes = int(rng.integers(1, 90)) if on_duty else int(rng.integers(600, 960))
    return BASE_TIME - timedelta(minutes=minutes)


def spot_in(rng: np.random.Generator, frame: LocalFrame, grid: Grid) -> Point:
    return snap(frame.to_deg(random_point_in(rng, grid.metric.buffer(-10.0))))


def make_responders(rng, frame, names: NameMaker, grids, estates, buildings) -> list[Responder]:
    out: list[Responder] = []

    def person(role, organisation, served, point, building=None, duty_rate=0.9):
        on_duty = bool(rng.random() < duty_rate)
        out.append(
            Responder(
                names.person(), "person", role, names.mobile(), organisation, served, point,
                on_duty, located(rng, on_duty), building,
            )
        )

    part_time_kinds = ("凤城街道办事处（驻点干部）", "凤城街道社会工作服务站（社工）")
    for g in grids:
        person("grid_leader", f"{COMMUNITY_NAME}居民委员会", [g], spot_in(rng, frame, g))
        person("grid_worker", f"{COMMUNITY_NAME}网格工作站", [g], spot_in(rng, frame, g), duty_rate=0.95)
        person("part_time", pick(rng, part_time_kinds), [g], spot_in(rng, frame, g), duty_rate=0.7)
    # The first secretary is a part-time grid member for the whole community.
    person("part_time", "清城区派驻翠湖社区第一书记", list(grids), spot_in(rng, frame, grids[len(grids) // 2]))
    # Professional grid members: police officers serve 3 grids each, urban management 4.
    for i in range(0, len(grids), 3):
        served = grids[i : i + 3]
        person("police", "清远市公安局清城分局凤城派出所", served, spot_in(rng, frame, pick(rng, served)))
    for i in range(0, len(grids), 4):
        served = grids[i : i + 4]
        person("urban_management", "清城区城市管理和综合执法局凤城中队", served, spot_in(rng, frame, pick(rng, served)))
    for b in choose_building_heads(rng, grids, buildings):
        person("building_head", f"{COMMUNITY_NAME}楼栋长志愿队", [b.grid], b.point, building=b, duty_rate=0.93)
    out.append(fire_station(rng, frame, grids, estates, buildings))
    for seq, r in enumerate(out, start=1):
        r.code = f"CH-R{seq:03d}"
    return out


def choose_building_heads(rng, grids, buildings) -> list[Building]:
    """Three homes in every grid, the rest anywhere, listed by building code."""
    homes = [b for b in buildings if b.kind != BuildingKind.public_facility.value]
    chosen: list[Building] = []
    for g in grids:
        here = [b for b in homes if b.grid is g]
        assert len(here) >= 3, f"grid {g.code} has fewer than 3 homes"
        chosen += [here[int(i)] for i in rng.choice(len(here), 3, replace=False)]
    rest = [b for b in homes if all(b is not c for c in chosen)]
    chosen += [rest[int(i)] for i in rng.choice(len(rest), N_BUILDING_HEADS - len(chosen), replace=False)]
    return sorted(chosen, key=lambda b: b.code)


def fire_station(rng, frame, grids, estates, buildings) -> Responder:
    """The micro fire station stands beside the activity centre in 雅悦花园 and serves every grid."""
    yayue = next(e for e in estates if e.name == YAYUE)
    centre = next(b for b in buildings if b.kind == BuildingKind.public_facility.value)
    room = yayue.metric.buffer(-3.0)
    blocks = shapely.union_all([b.footprint_m for b in buildings if b.estate is yayue])
    c = centre.footprint_m.centroid
    for _ in range(500):
        r, t = rng.uniform(14.0, 30.0), rng.uniform(0.0, 2 * np.pi)
        p = Point(c.x + r * np.cos(t), c.y + r * np.sin(t))
        if room.contains(p) and blocks.distance(p) > 2.0:
            break
    else:
        raise AssertionError("no room for the micro fire station")
    phone = f"0763-{int(rng.integers(3_000_000, 4_000_000))}"  # a Qingyuan landline number, invented
    return Responder(
        f"{YAYUE}微消防站", "facility", "fire_station", phone, f"{yayue.property_company}（红色管家）",
        list(grids), snap(frame.to_deg(p)), True, located(rng, True),
    )


# ---------------------------------------------------------------------------------------------
# Incidents
# ---------------------------------------------------------------------------------------------

# (kind, category) → (title, where it happens: old | estate | any, what was seen)
TEMPLATES: dict[tuple[str, str], tuple[tuple[str, str, str], ...]] = {
    ("hazard", "safety_production"): (
        ("沿街商铺违规存放液化气罐", "old", "首层商铺后厨存放多个液化气罐，未设独立气瓶间。"),
        ("外墙瓷砖空鼓有脱落风险", "old", "外墙多处瓷砖空鼓开裂，下方为居民出入通道。"),
        ("配电箱柜门破损线路裸露", "any", "楼下公共配电箱柜门损坏，内部线路裸露。"),
        ("装修工地临边防护缺失", "estate", "住户装修施工，阳台临边未设防护栏杆。"),
        ("广告牌支架锈蚀松动", "old", "沿街广告牌支架严重锈蚀，台风天有坠落风险。"),
        ("地下车库积水浸泡配电设施", "estate", "地下车库雨后积水，配电设施底部被水浸泡。"),
    ),
    ("hazard", "fire_safety"): (
        ("电动车楼道充电", "old", "楼道内有住户为电动车充电，电线从窗口拉出。"),
        ("楼道堆放杂物", "old", "楼道及楼梯间堆放纸箱、旧家具等可燃杂物，影响疏散。"),
        ("消防通道被车辆占用", "estate", "消防车通道长期停放私家车，影响消防车通行。"),
        ("消火栓无水", "estate", "网格员巡查发现室内消火栓打开无水。"),
        ("灭火器过期失效", "any", "楼层配置的灭火器压力不足，已超过检验有效期。"),
        ("飞线充电", "old", "住户从楼上窗口拉线到地面为电动车充电。"),
    ),
    ("hazard", "public_safety"): (
        ("窨井盖破损", "any", "路边窨井盖破损下陷，夜间行人易踩空。"),
        ("高空抛物", "estate", "住户反映楼上多次有杂物抛下，险些砸中行人。"),
        ("树木倾斜有倒伏风险", "any", "路边大榕树根部松动、树身倾斜，台风季有倒伏风险。"),
        ("围墙开裂", "old", "临路围墙出现贯穿裂缝，墙体外倾。"),
        ("单元门禁损坏", "estate", "单元门禁损坏无法关闭，外来人员随意进出。"),
        ("楼梯扶手松动", "old", "楼梯扶手多处松动，老年住户上下楼有跌倒风险。"),
    ),
    ("case", "dispute"): (
        ("邻里噪音纠纷", "estate", "楼上住户夜间噪音较大，楼下住户多次沟通未果。"),
        ("楼上漏水引发邻里纠纷", "old", "楼上卫生间漏水渗到楼下天花，双方就维修费用有争议。"),
        ("车位占用纠纷", "estate", "住户固定车位被他人长期占用，双方发生争执。"),
        ("物业费缴纳纠纷", "estate", "部分住户对物业服务不满拒缴物业费，与物业公司产生矛盾。"),
        ("宠物扰民纠纷", "old", "住户饲养的犬只夜间吠叫，邻居投诉影响休息。"),
        ("装修扰民纠纷", "estate", "住户在午休及夜间时段装修施工，邻居投诉。"),
    ),
    ("case", "public_order"): (
        ("夜间烧烤摊占道经营", "old", "夜间有烧烤摊在路边占道经营，油烟和噪音扰民。"),
        ("流动摊贩占道经营", "old", "流动摊贩在路口占道摆卖，影响通行。"),
        ("广场舞噪音扰民", "estate", "晚间广场舞音响音量过大，周边住户投诉。"),
        ("乱张贴小广告", "old", "楼道和墙面被大量张贴小广告。"),
        ("可疑人员徘徊", "estate", "有陌生人员连续多日在楼栋附近徘徊、拍照。"),
        ("共享单车乱停放", "any", "大量共享单车堆放在人行道上，阻碍通行。"),
    ),
    ("case", "aid"): (
        ("独居老人求助", "old", "独居老人行动不便，家中无人照料，请求上门帮扶。"),
        ("残疾人出行困难求助", "old", "住户为下肢残疾人，楼梯无扶手，出行困难。"),
        ("困难家庭申请临时救助", "old", "家庭主要劳动力因病住院，申请临时救助。"),
        ("老人走失求助", "any", "家属反映患阿尔茨海默症的老人外出未归。"),
        ("孤寡老人家中水管爆裂求助", "old", "孤寡老人家中水管爆裂，无力自行维修。"),
        ("低保政策咨询", "estate", "住户咨询最低生活保障申请条件和材料。"),
    ),
    ("illegal_structure", "rooftop"): (
        ("楼顶违建阳光房", "old", "楼顶私自加建钢结构阳光房约30平方米。"),
        ("天台加建铁皮房", "old", "天台加建铁皮房，占用公共屋面。"),
    ),
    ("illegal_structure", "enclosure"): (
        ("私自圈占公共绿地", "any", "住户用铁栏杆圈占楼前公共绿地种菜。"),
        ("首层私自加建围墙圈地", "old", "首层住户私自砌墙圈占公共通道。"),
    ),
    ("illegal_structure", "extension"): (
        ("阳台外扩违建", "estate", "住户将阳台向外扩建，突出建筑外墙。"),
        ("首层外扩加建商铺", "old", "首层向外加建砖混结构商铺，占用人行道。"),
    ),
    ("illegal_structure", "shed"): (
        ("违规搭建铁皮棚", "old", "楼旁空地违规搭建铁皮棚用于堆放货物。"),
        ("占用公共通道搭建雨棚", "any", "在公共通道上方搭建雨棚，影响消防通行。"),
    ),
    ("renovation", "road"): (
        ("巷道路面硬化", "old", "巷道为泥土路面，雨天积水泥泞，居民提出硬化。"),
        ("小区道路破损修复", "estate", "内部道路坑洼破损，居民出行不便。"),
    ),
    ("renovation", "lighting"): (
        ("背街小巷增设路灯", "old", "背街小巷夜间无照明，居民提出增设路灯。"),
        ("楼道感应灯改造", "old", "楼道灯损坏多年，改造为声光控感应灯。"),
    ),
    ("renovation", "drainage"): (
        ("雨污分流改造", "old", "排水管道雨污合流，雨季污水外溢。"),
        ("积水点排水改造", "any", "路口低洼处每逢大雨积水，改造排水管网。"),
    ),
    ("renovation", "elevator"): (
        ("既有住宅加装电梯", "old", "多层住宅无电梯，老年住户上下楼困难，申请加装电梯。"),
    ),
    ("renovation", "greening"): (
        ("口袋公园建设", "any", "闲置空地杂草丛生，居民提出改造为口袋公园。"),
        ("绿化带补植", "estate", "绿化带黄土裸露，补植灌木和草皮。"),
    ),
    ("renovation", "parking"): (
        ("非机动车充电车棚建设", "any", "建设电动车集中充电车棚，解决楼道充电问题。"),
        ("规划增设停车位", "estate", "停车位不足，利用边角空地规划增设停车位。"),
    ),
    ("renovation", "facade"): (
        ("老旧楼房外立面翻新", "old", "外墙老化脱落，对外立面进行翻新。"),
        ("“三线”整治", "old", "楼外电力、通信线缆杂乱如蜘蛛网，进行梳理规整。"),
    ),
}

STATUS_NOTES = {
    ("hazard", "reported"): "居民上报，待网格员现场核实。",
    ("hazard", "confirmed"): "网格员已现场核实，已通知责任人整改。",
    ("hazard", "rectifying"): "责任人正在整改，网格员跟进复查。",
    ("case", "reported"): "居民上报，待受理。",
    ("case", "registered"): "社区已立案。",
    ("case", "dispatched"): "已派遣网格员到场处置。",
    ("case", "handled"): "已处置完毕，待核查结案。",
    ("illegal_structure", "reported"): "群众举报，待核实。",
    ("illegal_structure", "verified"): "经现场核实属违法建设。",
    ("illegal_structure", "notice_served"): "已送达限期拆除通知书。",
    ("illegal_structure", "demolished"): "已依法拆除，现场已清理。",
    ("renovation", "proposed"): "居民提出，待“逢四说事”协商。",
    ("renovation", "in_consultation"): "正在组织居民小协商征求意见。",
    ("renovation", "approved"): "经居民协商一致，已立项待施工。",
    ("renovation", "under_construction"): "正在施工。",
    ("renovation", "completed"): "已完工并通过居民验收。",
}

# Statuses of work still in progress on the demo's "now".
OPEN_STATUSES = {
    "hazard": ("reported", "confirmed", "rectifying"),
    "case": ("reported", "registered", "dispatched", "handled"),
    "illegal_structure": ("reported", "verified", "notice_served"),
    "renovation": ("proposed", "in_consultation", "approved", "under_construction"),
}

# How long ago (days) an incident in this status was created: later stages are older.
AGE_DAYS = {
    "reported": (0, 2), "confirmed": (1, 6), "rectifying": (3, 25), "registered": (0, 3), "dispatched": (0, 4),
    "handled": (1, 8), "verified": (3, 15), "notice_served": (8, 40), "demolished": (60, 420),
    "proposed": (2, 25), "in_consultation": (10, 45), "approved": (30, 100), "under_construction": (60, 160),
    "completed": (150, 600),
}
CLOSE_AFTER_DAYS = {"completed": (30, 120), "demolished": (7, 45)}
REPORTED_BY_RESIDENT = {"hazard": 0.6, "case": 0.7, "illegal_structure": 0.3, "renovation": 0.7}


@dataclass(eq=False)
class Incident:
    kind: str
    category: str
    status: str
    title: str
    description: str
    point: Point  # WGS84
    created_at: datetime
    closed_at: datetime | None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    building: Building | None = field(default=None, repr=False)
    code: str = ""


def incident_plan(rng: np.random.Generator) -> list[tuple[str, str, str]]:
    """(kind, category, status) for every incident: the public totals plus today's open work."""
    reno, illegal = CATEGORIES["renovation"], CATEGORIES["illegal_structure"]
    plan = [("renovation", reno[i % len(reno)], "completed") for i in range(14)]
    plan += [("illegal_structure", illegal[i % len(illegal)], "demolished") for i in range(7)]
    for kind in ("hazard", "case"):
        statuses = OPEN_STATUSES[kind]
        for cat in CATEGORIES[kind]:
            n = len(TEMPLATES[(kind, cat)])
            plan += [(kind, cat, statuses[int(i) % len(statuses)]) for i in rng.permutation(n)]
    for i, status in enumerate(OPEN_STATUSES["illegal_structure"] * 2):
        plan.append(("illegal_structure", illegal[(i + 1) % len(illegal)], status))
    for i, status in enumerate(OPEN_STATUSES["renovation"] + OPEN_STATUSES["renovation"][:2]):
        plan.append(("renovation", reno[(3 * i + 1) % len(reno)], status))
    return plan


def created_time(rng: np.random.Generator, status: str) -> datetime:
    lo, hi = AGE_DAYS[status]
    day = BASE_TIME - timedelta(days=int(rng.integers(lo, hi + 1)))
    t = day.replace(hour=int(rng.integers(7, 22)), minute=int(rng.integers(0, 60)))  # reports come in by day
    return t - timedelta(days=1) if t >= BASE_TIME else t


def closed_time(rng: np.random.Generator, status: str, created: datetime) -> datetime | None:
    if status not in CLOSE_AFTER_DAYS:
        return None
    lo, hi = CLOSE_AFTER_DAYS[status]
    t = (created + timedelta(days=int(rng.integers(lo, hi + 1)))).replace(
        hour=int(rng.integers(9, 18)), minute=int(rng.integers(0, 60))
    )
    return min(t, (BASE_TIME - timedelta(days=2)).replace(hour=16, minute=30))


def near_building(rng, frame: LocalFrame, b: Building) -> Point:
    """A spot a few metres from the building, in the building's own grid."""
    c = b.footprint_m.centroid
    room = b.grid.metric.buffer(-2.0)
    for _ in range(50):
        r, t = rng.uniform(4.0, 18.0), rng.uniform(0.0, 2 * np.pi)
        p = Point(c.x + r * np.cos(t), c.y + r * np.sin(t))
        if room.contains(p):
            return snap(frame.to_deg(p))
    return b.point


def make_incidents(rng, frame, names: NameMaker, buildings: list[Building]) -> list[Incident]:
    pools = {
        "old": [b for b in buildings if b.kind == BuildingKind.old_building.value],
        "estate": [b for b in buildings if b.kind == BuildingKind.estate_building.value],
    }
    pools["any"] = pools["estate"] + pools["old"]
    used: set[str] = set()
    turn: dict[tuple[str, str], int] = {}
    out = []
    for kind, category, status in incident_plan(rng):
        options = TEMPLATES[(kind, category)]
        k = turn.get((kind, category), 0)
        turn[(kind, category)] = k + 1
        title, where, seen = options[k % len(options)]
        free = [b for b in pools[where] if b.code not in used] or pools[where]
        b = free[int(rng.integers(len(free)))]
        used.add(b.code)
        created = created_time(rng, status)
        inc = Incident(
            kind, category, status, title, f"{b.name}{seen}{STATUS_NOTES[(kind, status)]}",
            near_building(rng, frame, b), created, closed_time(rng, status, created), building=b,
        )
        if rng.random() < REPORTED_BY_RESIDENT[kind]:
            inc.reporter_name, inc.reporter_phone = names.person(), names.mobile()
        out.append(inc)
    out.sort(key=lambda i: i.created_at)  # codes run in the order incidents were reported
    for seq, inc in enumerate(out, start=1):
        inc.code = f"CH-I{seq:04d}"
    return out


# ---------------------------------------------------------------------------------------------
# Checks and output
# ---------------------------------------------------------------------------------------------


def verify(frame, district, community, grids, estates, buildings, responders, incidents):
    """The promises other code relies on; a failure here means the generator is wrong."""
    assert district.contains(community), "the community must lie inside 清城区"
    codes, geoms = [g.code for g in grids], [g.geom for g in grids]
    report = check_grids(codes, geoms, boundary=community)
    assert report.ok, report.lines()
    assert shapely.coverage_is_valid(np.array(geoms, dtype=object)), "grids are not a clean coverage"
    assert all(community.contains(e.geom) for e in estates)
    assert len(estates) == len(ESTATES) and any(e.name == YAYUE for e in estates)
    kinds = [b.kind for b in buildings]
    assert kinds.count(BuildingKind.old_building.value) == N_OLD_BUILDINGS
    assert kinds.count(BuildingKind.public_facility.value) == 1
    assert set(kinds) <= {k.value for k in BuildingKind}
    total = sum(b.residents for b in buildings)
    assert abs(total - TARGET_RESIDENTS) <= TARGET_RESIDENTS * 0.01
    points = [b.point for b in buildings] + [r.point for r in responders] + [i.point for i in incidents]
    for p in points:
        assert grid_of(grids, frame.to_m(p)) is not None, f"{p} is not at least {MIN_EDGE_M} m inside a grid"
    for b in buildings:
        assert grid_of(grids, frame.to_m(b.point)) is b.grid
    assert all(r.role in KNOWN_ROLES for r in responders)
    assert sum(r.role == "building_head" for r in responders) == N_BUILDING_HEADS
    for i in incidents:
        assert i.category in CATEGORIES[i.kind], (i.kind, i.category)
    done = [(i.kind, i.status) for i in incidents]
    assert done.count(("renovation", "completed")) == 14 and done.count(("illegal_structure", "demolished")) == 7
    return report


def rounded(coords):
    if isinstance(coords[0], (int, float)):
        return [round(float(v), DECIMALS) for v in coords]
    return [rounded(c) for c in coords]


def geometry_json(geom) -> dict | None:
    if geom is None:
        return None
    g = mapping(shapely.orient_polygons(geom) if geom.geom_type.endswith("Polygon") else geom)
    return {"type": g["type"], "coordinates": rounded(g["coordinates"])}


def feature(properties: dict, geom) -> dict:
    return {"type": "Feature", "properties": properties, "geometry": geometry_json(geom)}


def write_collection(out_dir: Path, name: str, features: list[dict]) -> Path:
    """One feature per line: valid GeoJSON that still diffs well."""
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features]
    body = ",\n".join(lines)
    path = out_dir / f"{name}.geojson"
    path.write_text(f'{{"type":"FeatureCollection","features":[\n{body}\n]}}\n', encoding="utf-8")
    return path


def write_all(out_dir: Path, ccode, community, grids, estates, buildings, responders, incidents) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    admin = {
        "district_code": DISTRICT_CODE, "district_name": DISTRICT_NAME, "city_name": CITY_NAME,
        "street_code": ccode[:9], "street_name": STREET_NAME,
        "community_code": ccode, "community_name": COMMUNITY_NAME,
    }
    layers = {
        "community": [feature(admin, as_multipolygon(community))],
        "grids": [
            feature({"code": g.code, "name": g.name, "community_code": ccode, "party_branch": g.party_branch},
                    MultiPolygon([g.geom]))
            for g in grids
        ],
        "estates": [
            feature({"name": e.name, "property_company": e.property_company, "community_code": ccode,
                     "amenities": e.amenities}, MultiPolygon([e.geom]))
            for e in estates
        ],
        "buildings": [
            feature({"code": b.code, "name": b.name, "kind": b.kind, "address": b.address,
                     "households": b.households, "residents": b.residents,
                     "estate": b.estate.name if b.estate else None}, b.footprint)
            for b in buildings
        ],
        "responders": [
            feature({"code": r.code, "name": r.name, "kind": r.kind, "role": r.role, "phone": r.phone,
                     "organisation": r.organisation, "grids": ",".join(g.code for g in r.grids),
                     "building": r.building.code if r.building else None, "on_duty": r.on_duty,
                     "located_at": iso(r.located_at)}, r.point)
            for r in responders
        ],
        "incidents": [
            feature({"code": i.code, "kind": i.kind, "category": i.category, "status": i.status,
                     "title": i.title, "description": i.description, "reporter_name": i.reporter_name,
                     "reporter_phone": i.reporter_phone, "created_at": iso(i.created_at),
                     "closed_at": iso(i.closed_at)}, i.point)
            for i in incidents
        ],
    }
    return [write_collection(out_dir, name, feats) for name, feats in layers.items()]


def tally(values) -> str:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return ", ".join(f"{k} {n}" for k, n in counts.items())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate the synthetic demo community as GeoJSON.")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder (default {OUT_DIR})")
    out_dir = parser.parse_args(argv).out
    rng = np.random.default_rng(SEED)
    frame = LocalFrame(*CENTRE)
    names = NameMaker(rng)
    district = load_boundary_wgs84()
    ccode = community_code(DISTRICT_CODE, 1, 1)

    outline = shapely.set_precision(frame.to_deg(community_outline_m(rng)), PRECISION)
    assert district.contains(outline), "the community outline must lie inside 清城区"
    grids = make_grids(rng, frame, outline, ccode)
    # The community is exactly the union of its grids, so "in the community" means "in some grid".
    community = snap(shapely.coverage_union_all(np.array([g.geom for g in grids], dtype=object)))
    assert isinstance(community, Polygon) and not community.interiors

    estates = place_estates(rng, grids)
    for e in estates:
        e.geom = frame.to_deg(e.metric)
    in_estates = [b for e in estates for b in estate_buildings(rng, e)]
    old = place_old_buildings(rng, frame.to_m(community), grids, estates)
    buildings = finish_buildings(frame, grids, estates, old, in_estates)
    assign_residents(rng, buildings)

    responders = make_responders(rng, frame, names, grids, estates, buildings)
    incidents = make_incidents(rng, frame, names, buildings)
    report = verify(frame, district, community, grids, estates, buildings, responders, incidents)
    paths = write_all(out_dir, ccode, community, grids, estates, buildings, responders, incidents)

    one_grid = sum(e.grid.geom.contains(e.geom) for e in estates)
    print(f"{COMMUNITY_NAME} ({ccode}) demo written to {out_dir}")
    print(f"  community   1 feature, {len(community.exterior.coords) - 1} vertices")
    print(f"  grids       {len(grids)}")
    print(f"  estates     {len(estates)} ({one_grid} wholly inside one grid)")
    print(f"  buildings   {len(buildings)} ({tally(b.kind for b in buildings)})")
    print(f"  responders  {len(responders)} ({tally(r.role for r in responders)})")
    print(f"  incidents   {len(incidents)} ({tally(i.kind for i in incidents)})")
    print(f"  households  {sum(b.households for b in buildings):,}, residents {sum(b.residents for b in buildings):,}")
    print(f"  topology    {'OK' if report.ok else 'FAILED'}: grids cover the community, no gaps, no overlaps")
    print(f"  size        {sum(p.stat().st_size for p in paths):,} bytes in {len(paths)} files")


if __name__ == "__main__":
    main()
