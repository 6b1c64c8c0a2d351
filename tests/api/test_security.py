"""Security basics over HTTP, on both databases: headers on every answer, CORS only for the
configured origins, failed token checks slowed and then refused per client address, personal data
and comments limited to a grid worker's own grids, and an incident history that cannot be
truncated."""

from __future__ import annotations

import json
import re
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from api.app import create_app
from api.middleware import script_hashes
from geo.db.session import session_scope
from geo.models import Grid, Incident, IncidentHistory
from geo.settings import get_settings
from geo.spatial.geometry import as_multipolygon, to_db
from tests.support.permissions import API, CODE_A, CODE_B, PHONES, REPORTER, WORLD, Api, make_api

SECRETS = [*REPORTER.values(), *PHONES.values()]


@pytest.fixture
def world_spec():
    return WORLD


@pytest.fixture
def api(db_url, world, clock) -> Api:
    return make_api(db_url, world, clock)


def _set(monkeypatch, **env) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"WANGGE_{name.upper()}", value)
    get_settings.cache_clear()


# --------------------------------------------------------------------------- headers


def _check_headers(response, what: str) -> str:
    h = response.headers
    assert h["x-content-type-options"] == "nosniff", what
    assert h["x-frame-options"] == "DENY", what
    assert h["referrer-policy"] == "strict-origin-when-cross-origin", what
    policy = h["content-security-policy"]
    directives = dict((d.split(" ", 1) + [""])[:2] for d in policy.split("; "))
    assert directives["default-src"] == "'self'" and directives["frame-ancestors"] == "'none'", what
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"], what
    assert (
        "https://tile.openstreetmap.org" in directives["img-src"]
        and "https://*.is.autonavi.com" in directives["img-src"]
    ), what
    return directives["script-src"]


def test_security_headers_on_every_answer(api, world, monkeypatch, tmp_path):
    c = api.client
    answers = {
        "json": c.get(f"{API}/incidents"),
        "one": c.get(f"{API}/incidents/{world.incident['caseA']}"),
        "lean lookup": c.get(f"{API}/grids/locate", params={"lon": 113.0425, "lat": 23.6925}),
        "openapi": c.get("/openapi.json"),
        "static asset": c.get("/static/vendor/leaflet@1.9.4/dist/leaflet.js"),
        "map glue": c.get("/static/maps/shared.js"),
        "map page module": c.get("/static/maps/planner.js"),
        "404": c.get("/no/such/page"),
        "422": c.get(f"{API}/incidents/not-a-number"),
        "401": c.get(f"{API}/incidents", headers={"Authorization": "Bearer wg_wrong"}),
        "413": c.post(
            f"{API}/grids/locate",
            content=b"[]",
            headers={"Content-Length": str(2**40), "Content-Type": "application/json"},
        ),
    }
    expected = {"404": 404, "422": 422, "401": 401, "413": 413}
    for what, r in answers.items():
        assert r.status_code == expected.get(what, 200), (what, r.text[:200])
        assert _check_headers(r, what) == "'self'", what  # no inline script allowed in anything but pages

    # HTML pages: their own inline scripts are allowed by hash, and nothing else inline.
    for path in (
        "/",
        "/docs",
        "/maps/incidents?basemap=none",
        f"/maps/grids/{CODE_A}?basemap=none",
        "/maps/planner?basemap=none",
    ):
        r = c.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), path
        sources = _check_headers(r, path).split()
        hashes = script_hashes(r.content)
        assert sources == ["'self'", *hashes], path
        if path != "/":
            assert hashes, path  # folium's map, Swagger UI's set-up
    docs = c.get("/docs").text
    assert "cdn.jsdelivr.net" not in docs and "/static/vendor/swagger-ui-dist@" in docs
    assert c.get("/redoc").status_code == 404
    swagger = re.search(r'src="(/static/vendor/swagger-ui-dist@[^"]+)"', docs).group(1)
    assert c.get(swagger).status_code == 200

    # 503: the maps and the docs without their assets installed.
    _set(monkeypatch, map_assets_dir=str(tmp_path))
    for path in ("/maps/incidents", "/docs"):
        r = c.get(path)
        assert r.status_code == 503, path
        _check_headers(r, f"503 {path}")


def test_content_security_policy_names_the_configured_tile_servers(monkeypatch, tmp_path):
    _set(monkeypatch, tile_url="http://{s}.tiles.example.local:8080/{z}/{x}/{y}.png", tianditu_key="k")
    client = TestClient(create_app(f"sqlite:///{tmp_path / 'x.db'}", escalate_every_s=0))
    policy = client.get(f"{API}/health").headers["content-security-policy"]
    img = next(d for d in policy.split("; ") if d.startswith("img-src "))
    assert img.split()[1:] == [
        "'self'",
        "data:",
        "blob:",
        "https://tile.openstreetmap.org",
        "https://*.is.autonavi.com",
        "https://*.tianditu.gov.cn",
        "http://*.tiles.example.local:8080",
    ]


# --------------------------------------------------------------------------- CORS


def test_cors_is_off_by_default_and_on_for_the_configured_origins_only(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    preflight = {
        "Origin": "https://app.example.org",
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "Authorization, If-Match, Idempotency-Key",
    }
    client = TestClient(create_app(url, escalate_every_s=0))
    r = client.get(f"{API}/health", headers={"Origin": "https://app.example.org"})
    assert r.status_code == 200 and not any(k.startswith("access-control-") for k in r.headers)
    r = client.options(f"{API}/incidents/1", headers=preflight)
    assert not any(k.startswith("access-control-") for k in r.headers)

    _set(monkeypatch, cors_origins='["https://app.example.org", "http://localhost:5173"]')
    client = TestClient(create_app(url, escalate_every_s=0))
    r = client.get(f"{API}/health", headers={"Origin": "https://app.example.org"})
    assert r.headers["access-control-allow-origin"] == "https://app.example.org"
    assert {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")} == {
        "etag",
        "location",
        "retry-after",
    }
    r = client.options(f"{API}/incidents/1", headers=preflight)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example.org"
    assert {m.strip() for m in r.headers["access-control-allow-methods"].split(",")} == {
        "GET",
        "POST",
        "PATCH",
        "DELETE",
    }
    assert {"authorization", "if-match", "idempotency-key"} <= {
        h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")
    }
    _check_headers(r, "preflight")
    # Another origin gets nothing that lets its pages read the answer.
    r = client.get(f"{API}/health", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in r.headers
    r = client.options(f"{API}/incidents/1", headers={**preflight, "Origin": "https://evil.example.com"})
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers


# --------------------------------------------------------------------------- failed sign-ins


def test_failed_token_checks_are_slowed_then_refused_per_client_address(api, world, monkeypatch):
    _set(monkeypatch, auth_failures_allowed="3", auth_failure_window_s="300")
    wrong = {"Authorization": "Bearer wg_guessed-token"}
    statuses, times = [], []
    for _ in range(25):
        started = time.monotonic()
        r = api.client.get(f"{API}/incidents", headers=wrong)
        times.append(time.monotonic() - started)
        statuses.append(r.status_code)
        assert r.json()["detail"]
    assert statuses == [401] * 6 + [429] * 19
    assert sum(times[3:6]) >= 0.1 + 0.2 + 0.4 - 0.05  # the 4th to 6th attempts waited, longer each time
    r = api.client.get(f"{API}/incidents", headers=wrong)
    retry = int(r.headers["Retry-After"])
    assert r.status_code == 429 and 0 < retry <= 300 and "Too many failed sign-ins" in r.json()["detail"]
    # Refused without looking at the token, on the lean lookups too.
    good = {"Authorization": f"Bearer {world.token['community']}"}
    assert api.client.get(f"{API}/incidents", headers=good).status_code == 429
    assert (
        api.client.get(f"{API}/responders/nearest", params={"lon": 113.0425, "lat": 23.6925}, headers=good).status_code
        == 429
    )
    # The public (no token) is not affected, nor is any other address.
    assert api.client.get(f"{API}/incidents").status_code == 200
    other = TestClient(api.client.app, client=("192.0.2.7", 40000))
    assert other.get(f"{API}/incidents", headers=good).status_code == 200
    for _ in range(3):
        assert other.get(f"{API}/incidents", headers=wrong).status_code == 401
    # ... and its success cleared nothing here.
    assert api.client.get(f"{API}/incidents", headers=good).status_code == 429
    # Once the window has passed, the address may sign in again.
    _set(monkeypatch, auth_failures_allowed="3", auth_failure_window_s="0.5")
    time.sleep(0.6)
    assert api.client.get(f"{API}/incidents", headers=good).status_code == 200


def test_failed_sign_ins_are_remembered_in_bounded_memory(monkeypatch):
    from api.auth import AuthThrottle

    _set(monkeypatch, auth_failures_allowed="2", auth_failure_window_s="300")
    throttle = AuthThrottle()
    throttle.MAX_ADDRESSES = 100
    for i in range(1000):
        throttle.failed(f"198.51.{i // 256}.{i % 256}")
    for _ in range(10):
        throttle.failed("203.0.113.9")
    assert len(throttle._failures) == 100 and len(throttle._failures["203.0.113.9"]) == 4
    assert "198.51.0.0" not in throttle._failures  # the longest ago went first
    _set(monkeypatch, auth_failures_allowed="2", auth_failure_window_s="0.01")
    time.sleep(0.02)
    throttle.failed("203.0.113.10")
    assert list(throttle._failures) == ["203.0.113.10"]  # expired entries are dropped


# --------------------------------------------------------------------------- grid workers' own grids


def _secrets(body) -> set[str]:
    text = json.dumps(body, ensure_ascii=False)
    return {s for s in SECRETS if s in text}


@pytest.mark.parametrize("who", ["leaderA", "workerA"])
def test_grid_workers_see_personal_data_in_their_own_grids_only(api, world, who):
    a, b = world.incident["caseA"], world.incident["caseB"]
    h = api.headers(who)
    get = lambda path, **params: api.client.get(f"{API}/{path}", params=params, headers=h)  # noqa: E731
    own, other = get(f"incidents/{a}").json()["properties"], get(f"incidents/{b}").json()["properties"]
    assert own["reporter_phone"] == REPORTER["reporter_phone"] and own["reporter_name"] == REPORTER["reporter_name"]
    assert other["grid"] == CODE_B and not {"reporter_phone", "reporter_name"} & set(other)
    for collection in (
        get("incidents", limit=1000).json(),
        get("incidents", grid=CODE_B).json(),
        get("incidents", kind="case", crs="gcj02").json(),
    ):
        for f in collection["features"]:
            p = f["properties"]
            assert ("reporter_phone" in p) == (p["grid"] == CODE_A), p
    assert REPORTER["reporter_phone"] in json.dumps(get("incidents", grid=CODE_A).json())
    # An answer to its own action in its grid carries them.
    r = api.act(a, "verify", who)
    assert r.status_code == 200 and r.json()["properties"]["reporter_phone"] == REPORTER["reporter_phone"]
    # Community staff and administrators see them everywhere.
    for staff in ("community", "admin"):
        assert (
            api.client.get(f"{API}/incidents/{b}", headers=api.headers(staff)).json()["properties"]["reporter_phone"]
            == REPORTER["reporter_phone"]
        )


@pytest.mark.parametrize("who", ["leaderA", "workerA"])
def test_grid_workers_timeline_and_responders_of_other_grids_have_no_personal_data(api, world, who):
    a, b = world.incident["caseA"], world.incident["caseB"]
    api.patch_incident(b, "community", reporter_phone="17755550999")  # an edit naming a phone in B's timeline
    api.patch_incident(a, "community", reporter_phone="17755550998")
    h = api.headers(who)
    get = lambda path, **params: api.client.get(f"{API}/{path}", params=params, headers=h).json()  # noqa: E731
    assert "17755550998" in json.dumps(get(f"incidents/{a}/timeline"))
    assert PHONES["station"] in json.dumps(get(f"incidents/{a}/responders", k=10))
    assert "17755550999" not in json.dumps(get(f"incidents/{b}/timeline"))
    assert _secrets(get(f"incidents/{b}/responders", k=10)) == set()


def test_grid_workers_comment_in_their_own_grids_only(api, world, engine):
    a, b = world.incident["caseA"], world.incident["caseB"]
    assert api.comment(a, "workerA", "已上门走访").status_code == 201
    for who in ("workerA", "leaderA"):
        before = api.state(b)
        r = api.comment(b, who, "越界留言")
        assert r.status_code == 403 and "own grids" in r.json()["detail"]
        assert api.state(b) == before
    with session_scope(engine) as s:
        assert (
            s.scalar(select(func.count()).select_from(IncidentHistory).where(IncidentHistory.comment == "越界留言"))
            == 0
        )
    for staff in ("community", "admin"):
        assert api.comment(b, staff, "社区已知悉").status_code == 201


# --------------------------------------------------------------------------- the history cannot be truncated


@pytest.mark.postgis
def test_incident_history_refuses_truncate(postgis_url):
    """PostgreSQL only: SQLite has no TRUNCATE (its DELETE triggers already refuse)."""
    from shapely.geometry import Point, box

    from geo.db.engine import get_engine

    engine = get_engine(postgis_url)

    with session_scope(engine) as s:
        s.add(Grid(code="G1", name="g", geom=to_db(as_multipolygon(box(113, 23, 114, 24)))))
    with session_scope(engine) as s:
        incident = Incident(
            kind="hazard", category="fire_safety", status="reported", title="t", geom=to_db(Point(113.5, 23.5))
        )
        s.add(incident)
        s.flush()
        s.add(IncidentHistory(incident_id=incident.id, actor="tester", action="create", to_status="reported"))
    for statement in (
        "TRUNCATE incident_history",
        "TRUNCATE incident_history RESTART IDENTITY CASCADE",
        "TRUNCATE incidents CASCADE",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            with session_scope(engine) as s:
                s.execute(text(statement))
    with session_scope(engine) as s:
        assert s.scalars(select(IncidentHistory.actor)).all() == ["tester"]
        assert s.scalar(select(func.count()).select_from(Incident)) == 1
