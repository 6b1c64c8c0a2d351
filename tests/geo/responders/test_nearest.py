"""Nearest responders over HTTP against a brute-force geodesic ranking of every responder.

The expected ranking is computed here with pyproj.Geod over ALL responders (no index, no
bounding boxes), sorted by (metres, id): the API must give the same responders in the same
order, each distance within a centimetre, with and without filters, on both databases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import Point, box

from api.v1 import API_PREFIX as API
from geo.access.users import add_user, issue_token
from geo.db.session import session_scope
from geo.edit.features import create_feature
from geo.models import Grid, Responder
from geo.spatial.crs import wgs84_to_gcj02
from geo.spatial.geometry import to_db

GEOD = Geod(ellps="WGS84")
LON0, LAT0, STEP = 113.03, 23.69, 0.004  # a 3 x 3 block of grids, about 1.2 km across
ROLES = ["grid_leader", "grid_worker", "part_time", "police", "urban_management", "building_head", "fire_station"]


@dataclass
class Person:
    id: int
    role: str
    on_duty: bool
    lon: float | None
    lat: float | None
    grids: list[str]
    phone: str


def grid_polygons() -> dict[str, shapely.Polygon]:
    return {
        f"N{r * 3 + c + 1}": box(LON0 + c * STEP, LAT0 - (r + 1) * STEP, LON0 + (c + 1) * STEP, LAT0 - r * STEP)
        for r in range(3)
        for c in range(3)
    }


@pytest.fixture
def world(engine) -> dict:
    """Nine grids and 420 responders: scattered over ~5 km, with groups at identical positions
    (exact ties), a few far away, a few with no known position, and mixed roles and duty."""
    rng = np.random.default_rng(5)
    polygons = grid_polygons()
    people: list[Person] = []
    with session_scope(engine) as s:
        for code, poly in polygons.items():
            create_feature(s, "grids", {"code": code, "name": f"网格{code}"}, poly)
        grids = {g.code: g for g in s.query(Grid)}
        rows = []
        positions = []
        for _ in range(360):
            positions.append((rng.uniform(LON0 - 0.02, LON0 + 0.032), rng.uniform(LAT0 - 0.032, LAT0 + 0.02)))
        for _ in range(12):  # three responders at each of twelve spots: ties broken by id
            spot = (rng.uniform(LON0, LON0 + 0.012), rng.uniform(LAT0 - 0.012, LAT0))
            positions += [spot] * 3
        positions += [(LON0 + 0.3, LAT0 + 0.2), (LON0 - 0.25, LAT0 - 0.1)]  # 25-35 km away
        positions += [None] * 6  # never located: never in any answer
        for i, pos in enumerate(positions):
            role = ROLES[int(rng.integers(len(ROLES)))] if i % 9 else "police"
            served = sorted(rng.choice(sorted(polygons), size=int(rng.integers(0, 3)), replace=False).tolist())
            r = Responder(
                code=f"R{i:04d}",
                name=f"应急{i}",
                role=role,
                kind="facility" if role == "fire_station" else "person",
                phone=f"139{i:08d}",
                on_duty=bool(rng.random() < 0.7),
                geom=to_db(Point(*pos)) if pos else None,
                grids=[grids[c] for c in served],
            )
            s.add(r)
            rows.append((r, pos, served))
        s.flush()
        for r, pos, served in rows:
            people.append(
                Person(r.id, r.role, r.on_duty, pos[0] if pos else None, pos[1] if pos else None, served, r.phone)
            )
        admin = add_user(s, "staff", "admin")
        token = issue_token(s, admin)
    return {"people": people, "polygons": polygons, "token": token}


def brute_force(
    people: list[Person], lon: float, lat: float, k: int, role=None, on_duty=None, max_m=None
) -> list[tuple[int, float]]:
    """Every located responder passing the filters, ranked by ground distance, ties by id."""
    pool = [
        p
        for p in people
        if p.lon is not None and (role is None or p.role == role) and (on_duty is None or p.on_duty == on_duty)
    ]
    if not pool:
        return []
    _, _, dist = GEOD.inv([lon] * len(pool), [lat] * len(pool), [p.lon for p in pool], [p.lat for p in pool])
    ranked = sorted((float(d), p.id) for d, p in zip(dist, pool, strict=True) if max_m is None or d <= max_m)
    return [(pid, d) for d, pid in ranked[:k]]


def grid_at(polygons, lon: float, lat: float) -> str | None:
    covering = sorted(code for code, poly in polygons.items() if poly.covers(Point(lon, lat)))
    return covering[0] if covering else None


def assert_same_ranking(
    answer: dict, expected: list[tuple[int, float]], people_by_id: dict[int, Person], grid: str | None
) -> None:
    got = answer["responders"]
    assert [r["id"] for r in got] == [pid for pid, _ in expected]
    for r, (pid, d) in zip(got, expected, strict=True):
        assert abs(r["distance_m"] - d) < 0.01, (pid, r["distance_m"], d)
        person = people_by_id[pid]
        assert r["role"] == person.role and r["on_duty"] == person.on_duty
        assert r["grids"] == person.grids
        assert r["serves_grid"] == (grid is not None and grid in person.grids)
        assert r["location"] == [person.lon, person.lat]
    assert answer["grid"] == grid
    assert answer["ranking"] == "geodesic"


FILTERS = [
    {},
    {"role": "police"},
    {"on_duty": True},
    {"on_duty": False},
    {"max_m": 400.0},
    {"role": "grid_worker", "on_duty": True, "max_m": 1500.0},
]


@pytest.mark.parametrize("k", [1, 5, 20])
def test_nearest_matches_brute_force_geodesic_ranking(world, client, k):
    """Random origins (inside grids, outside them, far away, on a responder): same responders,
    same order, distances within 1 cm, for every filter combination."""
    people, polygons = world["people"], world["polygons"]
    by_id = {p.id: p for p in people}
    rng = np.random.default_rng(100 + k)
    origins = [(rng.uniform(LON0 - 0.025, LON0 + 0.037), rng.uniform(LAT0 - 0.037, LAT0 + 0.025)) for _ in range(25)]
    origins += [(LON0 + 0.15, LAT0 - 0.3), (people[40].lon, people[40].lat), (people[361].lon, people[361].lat)]
    for lon, lat in origins:
        for filters in FILTERS:
            params = {
                "lon": repr(lon),
                "lat": repr(lat),
                "k": k,
                **{key: str(v).lower() if isinstance(v, bool) else v for key, v in filters.items()},
            }
            r = client.get(f"{API}/responders/nearest", params=params)
            assert r.status_code == 200, r.text
            expected = brute_force(people, lon, lat, k, **filters)
            assert_same_ranking(r.json(), expected, by_id, grid_at(polygons, lon, lat))
            if "max_m" not in filters:
                assert len(expected) == k  # enough responders everywhere: the box had to grow far


def test_ties_are_broken_by_id(world, client):
    """Three responders share each of twelve spots: standing on one, they come first, by id, at 0 m."""
    people = world["people"]
    spot = people[363]
    twins = [p.id for p in people if (p.lon, p.lat) == (spot.lon, spot.lat)]
    assert len(twins) == 3
    answer = client.get(
        f"{API}/responders/nearest", params={"lon": repr(spot.lon), "lat": repr(spot.lat), "k": 5}
    ).json()
    assert [r["id"] for r in answer["responders"][:3]] == sorted(twins)
    assert [r["distance_m"] for r in answer["responders"][:3]] == [0.0, 0.0, 0.0]


def test_max_m_can_leave_fewer_than_k(world, client):
    """A short max_m returns only responders within it, even when k asks for more."""
    people = world["people"]
    lon, lat = LON0 + 0.3 + 0.001, LAT0 + 0.2  # about 100 m from one lone far responder
    answer = client.get(f"{API}/responders/nearest", params={"lon": lon, "lat": lat, "k": 20, "max_m": 500}).json()
    expected = brute_force(people, lon, lat, 20, max_m=500)
    assert len(expected) == 1
    assert [(r["id"], round(r["distance_m"], 2)) for r in answer["responders"]] == [
        (pid, round(d, 2)) for pid, d in expected
    ]
    assert answer["grid"] is None and answer["responders"][0]["serves_grid"] is False


def test_nearest_in_gcj02(world, client):
    """An origin sent in GCJ-02 ranks as its WGS84 original; locations come back in GCJ-02."""
    people = world["people"]
    by_id = {p.id: p for p in people}
    lon, lat = LON0 + 0.006, LAT0 - 0.006
    glon, glat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    answer = client.get(
        f"{API}/responders/nearest", params={"lon": repr(glon), "lat": repr(glat), "k": 5, "crs": "gcj02"}
    ).json()
    expected = brute_force(people, lon, lat, 5)
    assert [r["id"] for r in answer["responders"]] == [pid for pid, _ in expected]
    for r, (pid, d) in zip(answer["responders"], expected, strict=True):
        assert abs(r["distance_m"] - d) < 0.01
        gx, gy = wgs84_to_gcj02(by_id[pid].lon, by_id[pid].lat)
        assert r["location"] == pytest.approx([float(gx), float(gy)], abs=1e-9)
    assert answer["crs"] == "gcj02"


def _post_incident(client, token, lon, lat) -> dict:
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"kind": "hazard", "category": "fire_safety", "title": "楼道堆放杂物"},
    }
    r = client.post(f"{API}/incidents", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    return r


def test_incident_responders_use_the_incidents_point_and_grid(world, client):
    """/incidents/{id}/responders ranks from the incident and marks who serves the incident's grid;
    after the incident moves to another grid, the next answer follows it."""
    people, token = world["people"], world["token"]
    by_id = {p.id: p for p in people}
    lon, lat = LON0 + 1.5 * STEP, LAT0 - 1.5 * STEP  # the middle of N5
    created = _post_incident(client, token, lon, lat)
    incident = created.json()
    assert incident["properties"]["grid"] == "N5"
    for k, filters in [(5, {}), (20, {"on_duty": "true"}), (20, {"role": "police"})]:
        answer = client.get(f"{API}/incidents/{incident['id']}/responders", params={"k": k, **filters}).json()
        assert answer["incident"] == incident["id"]
        plain = {key: (v == "true") if v in ("true", "false") else v for key, v in filters.items()}
        assert_same_ranking(answer, brute_force(people, lon, lat, k, **plain), by_id, "N5")

    new_lon, new_lat = LON0 + 0.5 * STEP, LAT0 - 0.5 * STEP  # the middle of N1
    patch = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [new_lon, new_lat]}, "properties": {}}
    r = client.patch(
        f"{API}/incidents/{incident['id']}",
        json=patch,
        headers={"Authorization": f"Bearer {token}", "If-Match": created.headers["ETag"]},
    )
    assert r.status_code == 200, r.text
    answer = client.get(f"{API}/incidents/{incident['id']}/responders", params={"k": 20}).json()
    assert_same_ranking(answer, brute_force(people, new_lon, new_lat, 20), by_id, "N1")


def test_incident_responders_for_an_unknown_incident_is_404(world, client):
    r = client.get(f"{API}/incidents/999999/responders")
    assert r.status_code == 404 and "999999" in r.json()["detail"]


def test_a_moved_responder_is_ranked_by_its_new_position_on_the_next_request(world, client):
    """PATCH a far responder onto the origin: first at 0 m on the very next request; PATCH it away
    again, or off duty, and the next request ranks accordingly."""
    people, polygons, token = world["people"], world["polygons"], world["token"]
    auth = {"Authorization": f"Bearer {token}"}
    lon, lat = LON0 + 0.0051, LAT0 - 0.0077
    mover = next(
        p
        for p in people
        if p.lon is not None and p.on_duty and p.role == "grid_worker" and brute_force([p], lon, lat, 1)[0][1] > 3000
    )
    params = {"lon": repr(lon), "lat": repr(lat), "k": 5}
    before = client.get(f"{API}/responders/nearest", params=params).json()
    assert mover.id not in [r["id"] for r in before["responders"]]

    def move(to_lon, to_lat):
        body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [to_lon, to_lat]}, "properties": {}}
        r = client.patch(f"{API}/responders/{mover.id}", json=body, headers=auth)
        assert r.status_code == 200, r.text
        mover.lon, mover.lat = to_lon, to_lat

    move(lon, lat)
    answer = client.get(f"{API}/responders/nearest", params=params).json()
    assert answer["responders"][0]["id"] == mover.id and answer["responders"][0]["distance_m"] == 0.0
    by_id = {p.id: p for p in people}
    assert_same_ranking(answer, brute_force(people, lon, lat, 5), by_id, grid_at(polygons, lon, lat))

    move(lon + 0.0009, lat + 0.0004)  # about 100 m away: still near, but no longer first
    answer = client.get(f"{API}/responders/nearest", params={**params, "k": 20}).json()
    assert_same_ranking(answer, brute_force(people, lon, lat, 20), by_id, grid_at(polygons, lon, lat))

    r = client.patch(
        f"{API}/responders/{mover.id}", json={"type": "Feature", "properties": {"on_duty": False}}, headers=auth
    )
    assert r.status_code == 200, r.text
    mover.on_duty = False
    answer = client.get(f"{API}/responders/nearest", params={**params, "k": 20, "on_duty": "true"}).json()
    assert mover.id not in [r["id"] for r in answer["responders"]]
    assert_same_ranking(answer, brute_force(people, lon, lat, 20, on_duty=True), by_id, grid_at(polygons, lon, lat))
