"""The small worlds the workflow, permission, statistics and concurrency tests run in, made by
one builder: a street, its communities and grids, responders serving the grids, buildings, users
with tokens and, reported over HTTP, the incidents a test starts from.

Each test says what its world holds with a :class:`WorldSpec`; :func:`build_world` makes the
rows in the order given (so ids follow the spec's order), and :func:`report_incidents` reports
the spec's incidents. ``tests/conftest.py`` turns a module's ``world_spec`` fixture into the
``world``, ``tokens`` and ``clock`` fixtures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shapely.geometry import Point, box

from geo.access.users import add_user, issue_token
from geo.db.session import session_scope
from geo.models import Building, Community, Grid, Responder, Street
from geo.spatial.geometry import as_multipolygon, to_db

# The street every world lies in.
STREET = {
    "code": "441802001",
    "name": "凤城街道",
    "district_code": "441802",
    "district_name": "清城区",
    "city_name": "清远市",
}

Bounds = tuple[float, float, float, float]
Position = tuple[float, float]


class SimClock:
    """The service's clock; time moves only when the test says so."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def bearer(token: str, etag: str | None = None) -> dict[str, str]:
    """Headers of a request sent with ``token`` (and ``If-Match: etag``)."""
    return {"Authorization": f"Bearer {token}", **({"If-Match": etag} if etag else {})}


@dataclass(frozen=True)
class CommunitySpec:
    code: str
    name: str
    bounds: Bounds | None = None  # None: a community without a boundary


@dataclass(frozen=True)
class GridSpec:
    key: str
    code: str
    name: str
    community: str  # a CommunitySpec's code
    bounds: Bounds


@dataclass(frozen=True)
class ResponderSpec:
    key: str
    code: str
    name: str
    role: str
    grids: tuple[str, ...]  # GridSpec keys
    position: Position
    kind: str = "person"
    phone: str | None = None
    on_duty: bool = True
    located_at: datetime | None = None


@dataclass(frozen=True)
class BuildingSpec:
    key: str
    code: str
    name: str
    position: Position
    residents: int
    households: int
    kind: str = "old_building"


@dataclass(frozen=True)
class UserSpec:
    username: str
    role: str
    responder: str | None = None  # a ResponderSpec's key: the user acts for that responder


@dataclass(frozen=True)
class IncidentSpec:
    """An incident reported by the community staff before the test starts."""

    key: str
    kind: str
    category: str
    where: Position
    properties: dict = field(default_factory=dict)  # more properties (a reporter's details, ...)


@dataclass(frozen=True)
class WorldSpec:
    start: datetime  # where the simulated clock starts
    communities: tuple[CommunitySpec, ...]
    grids: tuple[GridSpec, ...]
    responders: tuple[ResponderSpec, ...] = ()
    buildings: tuple[BuildingSpec, ...] = ()
    users: tuple[UserSpec, ...] = ()
    incidents: tuple[IncidentSpec, ...] = ()


@dataclass
class World:
    """Ids, codes, positions and tokens of what was made, by the spec's keys."""

    grid: dict[str, int] = field(default_factory=dict)
    responder: dict[str, int] = field(default_factory=dict)
    building: dict[str, str] = field(default_factory=dict)
    token: dict[str, str] = field(default_factory=dict)
    position: dict[str, Position] = field(default_factory=dict)
    incident: dict[str, int] = field(default_factory=dict)


def _area(bounds: Bounds):
    return to_db(as_multipolygon(box(*bounds)))


def build_world(engine, spec: WorldSpec, *, users: bool = True) -> World:
    """The spec's rows in the database; its users and their tokens unless ``users`` is false."""
    world = World()
    with session_scope(engine) as s:
        street = Street(**STREET)
        communities = {
            c.code: Community(
                street=street, code=c.code, name=c.name, **({"geom": _area(c.bounds)} if c.bounds else {})
            )
            for c in spec.communities
        }
        grids = {
            g.key: Grid(code=g.code, name=g.name, community=communities[g.community], geom=_area(g.bounds))
            for g in spec.grids
        }
        s.add_all([street, *communities.values(), *grids.values()])
        s.flush()
        for r in spec.responders:
            responder = Responder(
                code=r.code,
                name=r.name,
                kind=r.kind,
                role=r.role,
                phone=r.phone,
                on_duty=r.on_duty,
                located_at=r.located_at,
                geom=to_db(Point(r.position)),
                grids=[grids[g] for g in r.grids],
            )
            s.add(responder)
            s.flush()
            world.responder[r.key] = responder.id
            world.position[r.key] = r.position
        for b in spec.buildings:
            s.add(
                Building(
                    code=b.code,
                    name=b.name,
                    kind=b.kind,
                    residents=b.residents,
                    households=b.households,
                    geom=to_db(Point(b.position)),
                )
            )
            world.building[b.key] = b.code
        s.flush()
        if users:
            codes = {r.key: r.code for r in spec.responders}
            for u in spec.users:
                user = add_user(s, u.username, u.role, responder_code=codes[u.responder] if u.responder else None)
                world.token[u.username] = issue_token(s, user)
        world.grid = {key: g.id for key, g in grids.items()}
    return world


def report_incidents(client, world: World, spec: WorldSpec) -> None:
    """Report the spec's incidents as the community staff; their ids go into ``world.incident``."""
    for i in spec.incidents:
        body = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": list(i.where)},
            "properties": {"kind": i.kind, "category": i.category, "title": f"{i.kind} {i.category}", **i.properties},
        }
        r = client.post("/api/v1/incidents", json=body, headers=bearer(world.token["community"]))
        assert r.status_code == 201, r.text
        world.incident[i.key] = r.json()["id"]
