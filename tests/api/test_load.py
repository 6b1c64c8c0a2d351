"""Many people at once against a real server: locate, list and public reports mixed, 64 clients.

Every answer is 2xx or a deliberate 4xx, never a 5xx or a dropped connection; every report
answered 201 is stored, and nothing is stored that was not answered 201 (no lost, no phantom
writes). Retries with the same Idempotency-Key, even sent at the same moment, store one report.
Bounded by a number of requests, not by time; no time is asserted.
"""

from __future__ import annotations

import asyncio
import random
import uuid

import httpx
import shapely
from shapely.geometry import shape
from sqlalchemy import func, select

from api.v1 import API_PREFIX as API
from geo.db.session import session_scope
from geo.models import IdempotencyKey, Incident

CLIENTS = 64
ROUNDS = 3


def _points_inside(grids: list[dict], count: int, rng: random.Random) -> list[tuple[float, float]]:
    polygons = [shape(g["geometry"]) for g in grids]
    union = shapely.union_all(polygons)
    x0, y0, x1, y1 = union.bounds
    points = []
    while len(points) < count:
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if union.contains(shapely.Point(x, y)):
            points.append((round(x, 6), round(y, 6)))
    return points


def _report(point, title: str) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(point)},
        "properties": {"kind": "hazard", "category": "fire_safety", "title": title, "reporter_phone": "13800000000"},
    }


async def _client_session(client: httpx.AsyncClient, n: int, points, outcomes: dict) -> None:
    for r in range(ROUNDS):
        lon, lat = points[(n * ROUNDS + r) % len(points)]
        answers = [await client.get(f"{API}/grids/locate", params={"lon": lon, "lat": lat})]
        answers.append(await client.get(f"{API}/incidents", params={"limit": 20, "offset": (n * 7) % 40}))
        title = f"load-{n}-{r}"
        key = str(uuid.uuid4())
        headers = {"Idempotency-Key": key}
        if n % 8 == 0:
            # A phone that sends the same report twice at the same moment (a retry on a bad line).
            pair = await asyncio.gather(
                *(client.post(f"{API}/incidents", json=_report((lon, lat), title), headers=headers) for _ in range(2))
            )
            answers.extend(pair)
            ids = {a.json()["id"] for a in pair if a.status_code == 201}
            outcomes["replays"].append((title, ids))
        else:
            answer = await client.post(f"{API}/incidents", json=_report((lon, lat), title), headers=headers)
            answers.append(answer)
        for a in answers:
            outcomes["statuses"][a.status_code] = outcomes["statuses"].get(a.status_code, 0) + 1
            if a.request.method == "POST" and a.status_code == 201:
                outcomes["created"].setdefault(a.json()["id"], title)


async def _run(base: str, points) -> dict:
    outcomes: dict = {"statuses": {}, "created": {}, "replays": [], "errors": []}
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:

        async def one(n):
            try:
                await _client_session(client, n, points, outcomes)
            except httpx.TransportError as exc:  # a dropped or refused connection
                outcomes["errors"].append(repr(exc))

        await asyncio.gather(*(one(n) for n in range(CLIENTS)))
    return outcomes


def test_mixed_load_64_clients_no_5xx_no_lost_or_phantom_writes(db_url, cli, serve_wangge, engine):
    assert cli("demo", "--quiet").exit_code == 0
    with session_scope(engine) as s:
        before = s.scalar(select(func.count()).select_from(Incident))
    base = serve_wangge(db_url)
    grids = httpx.get(f"{base}{API}/grids", params={"limit": 1000}).json()["features"]
    points = _points_inside(grids, CLIENTS * ROUNDS, random.Random(9))

    outcomes = asyncio.run(_run(base, points))

    assert outcomes["errors"] == []
    statuses = outcomes["statuses"]
    assert not {s for s in statuses if s >= 500}, statuses
    assert set(statuses) <= {200, 201}, statuses
    requests = CLIENTS * ROUNDS * 3 + (CLIENTS // 8) * ROUNDS
    assert sum(statuses.values()) == requests
    with session_scope(engine) as s:
        stored = dict(s.execute(select(Incident.id, Incident.title).where(Incident.title.like("load-%"))).all())
        total = s.scalar(select(func.count()).select_from(Incident))
        keys = s.scalar(select(func.count()).select_from(IdempotencyKey))
    # Every 201 is stored as answered, and nothing else was stored.
    assert stored == outcomes["created"]
    assert total == before + CLIENTS * ROUNDS
    assert keys == CLIENTS * ROUNDS
    # Both copies of a doubled request got the one report.
    for title, ids in outcomes["replays"]:
        assert len(ids) == 1, (title, ids)
        assert stored[next(iter(ids))] == title
