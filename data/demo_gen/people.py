"""Responders: grid leaders and workers, part-time and professional grid members, building heads, the fire station."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import shapely
from shapely.geometry import Point

from geo.models import BuildingKind

from .buildings import YAYUE, Building, Estate
from .community import Grid
from .facts import BASE_TIME, COMMUNITY_NAME, N_BUILDING_HEADS
from .frame import LocalFrame, random_point_around, random_point_in, snap

SURNAMES = "陈李黄张梁林刘吴罗何郑杨谢邓冯曾彭朱钟周叶苏卢蔡潘许赖郭廖温"
GIVEN_CHARS = "伟强军华明建国志永海文杰斌宏家俊浩嘉锦思雅慧敏丽芳婷燕玲秀兰桂英红霞玉晓欣怡颖诗琪振宇鹏飞德荣辉汉坤洁梅"
MOBILE_PREFIXES = ("139", "138", "137", "136", "135", "150", "158", "188", "189", "133", "180", "186")
PART_TIME_ORGANISATIONS = ("凤城街道办事处（驻点干部）", "凤城街道社会工作服务站（社工）")


def pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


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


class Roster:
    """Responders in the order they are listed; names, phones and duty are drawn as each is added."""

    def __init__(self, rng: np.random.Generator, frame: LocalFrame, names: NameMaker):
        self.rng, self.frame, self.names = rng, frame, names
        self.responders: list[Responder] = []

    def add(self, role: str, organisation: str, served: list[Grid], point: Point, building=None, duty_rate=0.9):
        on_duty = bool(self.rng.random() < duty_rate)  # drawn before the name: the seeded order is fixed
        name, phone = self.names.person(), self.names.mobile()
        self.responders.append(
            Responder(
                name, "person", role, phone, organisation, served, point, on_duty, located(self.rng, on_duty), building
            )
        )

    def spot_in(self, grid: Grid) -> Point:
        return spot_in(self.rng, self.frame, grid)


def make_responders(
    rng: np.random.Generator,
    frame: LocalFrame,
    names: NameMaker,
    grids: list[Grid],
    estates: list[Estate],
    buildings: list[Building],
) -> list[Responder]:
    roster = Roster(rng, frame, names)
    add_grid_members(roster, grids)
    for b in choose_building_heads(rng, grids, buildings):
        assert b.grid is not None  # number_buildings gave every building its grid
        roster.add("building_head", f"{COMMUNITY_NAME}楼栋长志愿队", [b.grid], b.point, building=b, duty_rate=0.93)
    out = roster.responders + [fire_station(rng, frame, grids, estates, buildings)]
    for seq, r in enumerate(out, start=1):
        r.code = f"CH-R{seq:03d}"
    return out


def add_grid_members(roster: Roster, grids: list[Grid]) -> None:
    rng = roster.rng
    for g in grids:
        roster.add("grid_leader", f"{COMMUNITY_NAME}居民委员会", [g], roster.spot_in(g))
        roster.add("grid_worker", f"{COMMUNITY_NAME}网格工作站", [g], roster.spot_in(g), duty_rate=0.95)
        roster.add("part_time", pick(rng, PART_TIME_ORGANISATIONS), [g], roster.spot_in(g), duty_rate=0.7)
    # The first secretary is a part-time grid member for the whole community.
    roster.add("part_time", "清城区派驻翠湖社区第一书记", list(grids), roster.spot_in(grids[len(grids) // 2]))
    # Professional grid members: police officers serve 3 grids each, urban management 4.
    for role, organisation, size in (
        ("police", "清远市公安局清城分局凤城派出所", 3),
        ("urban_management", "清城区城市管理和综合执法局凤城中队", 4),
    ):
        for i in range(0, len(grids), size):
            served = grids[i : i + size]
            roster.add(role, organisation, served, roster.spot_in(pick(rng, served)))


def choose_building_heads(rng: np.random.Generator, grids: list[Grid], buildings: list[Building]) -> list[Building]:
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


def fire_station(
    rng: np.random.Generator, frame: LocalFrame, grids: list[Grid], estates: list[Estate], buildings: list[Building]
) -> Responder:
    """The micro fire station stands beside the activity centre in 雅悦花园 and serves every grid."""
    yayue = next(e for e in estates if e.name == YAYUE)
    centre = next(b for b in buildings if b.kind == BuildingKind.public_facility.value)
    room = yayue.metric.buffer(-3.0)
    blocks = shapely.union_all([b.footprint_m for b in buildings if b.estate is yayue])
    beside = centre.footprint_m.centroid
    for _ in range(500):
        p = random_point_around(rng, beside, 14.0, 30.0)
        if room.contains(p) and blocks.distance(p) > 2.0:
            break
    else:
        raise AssertionError("no room for the micro fire station")
    phone = f"0763-{int(rng.integers(3_000_000, 4_000_000))}"  # a Qingyuan landline number, invented
    return Responder(
        f"{YAYUE}微消防站",
        "facility",
        "fire_station",
        phone,
        f"{yayue.property_company}（红色管家）",
        list(grids),
        snap(frame.to_deg(p)),
        True,
        located(rng, True),
    )
