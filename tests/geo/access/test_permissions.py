"""Who may do what, over HTTP, on both databases; tokens; personal data kept from those who
do not need it: phones in full to those who must call them, masked (138****1234) to those who
only need to know someone is there, reporters to no one else, and every answer with full phones
one row of the audit log, written in batches.

Roles: admin, community (社区 staff), grid_leader and grid_worker (acting for a responder who
serves grid A), planner, viewer, and the public (no token).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from api.readlog import read_log
from api.served import WanggeServer
from api.v1 import API_PREFIX as API
from geo.access import audit
from geo.access.phones import mask_phone
from geo.access.users import issue_token
from geo.db.session import session_scope
from geo.io.demo import DEMO_ACCOUNTS, DEMO_GRID
from geo.models import ApiToken, Base, User
from tests.support.permissions import (
    CENTRE_A,
    CENTRE_B,
    CODE_A,
    CODE_B,
    PHONES,
    REPORTER,
    REPORTER_RENOVATION,
    START,
    WORLD,
    Api,
    make_api,
    move,
    point,
    polygon,
)

NEW_REPORTER_PHONE = "17755550789"
SECRETS = [*PHONES.values(), *REPORTER.values(), *REPORTER_RENOVATION.values(), NEW_REPORTER_PHONE]

ROLES = ["admin", "community", "leaderA", "workerA", "planner", "viewer", None]  # None: the public


@pytest.fixture
def world_spec():
    return WORLD


@pytest.fixture
def api(db_url, world, clock) -> Api:
    return make_api(db_url, world, clock)


def refused_unchanged(api: Api, incident_id: int, status: int, send) -> None:
    before = api.state(incident_id)
    r = send()
    assert r.status_code == status, r.text
    assert r.json()["detail"]
    assert api.state(incident_id) == before


# --------------------------------------------------------------------------- layer writes


def layer_writes(api: Api, suffix: str):
    """One create of each writable layer, then an edit and a delete: (description, response) pairs."""
    yield (
        "create grid",
        lambda who: api.client.post(
            f"{API}/grids",
            json={
                "type": "Feature",
                "geometry": polygon((113.050, 23.690, 113.055, 23.695)),
                "properties": {
                    "code": f"44180200100100{suffix}",
                    "name": f"第{suffix}网格",
                    "community_code": "441802001001",
                },
            },
            headers=api.headers(who),
        ),
    )
    yield (
        "create estate",
        lambda who: api.client.post(
            f"{API}/estates",
            json={
                "type": "Feature",
                "geometry": polygon((113.0405, 23.6905, 113.0415, 23.6915)),
                "properties": {"name": f"测试花园{suffix}"},
            },
            headers=api.headers(who),
        ),
    )
    yield (
        "create building",
        lambda who: api.client.post(
            f"{API}/buildings",
            json={
                "type": "Feature",
                "geometry": point(move(CENTRE_B, 200, 40)),
                "properties": {"code": f"P-B9{suffix}", "name": "新楼"},
            },
            headers=api.headers(who),
        ),
    )
    yield (
        "create responder",
        lambda who: api.client.post(
            f"{API}/responders",
            json={
                "type": "Feature",
                "geometry": point(CENTRE_B),
                "properties": {"code": f"P-R9{suffix}", "name": "新网格员", "role": "part_time", "grids": [CODE_B]},
            },
            headers=api.headers(who),
        ),
    )
    grid_a = api.client.get(f"{API}/grids", params={"grid": CODE_A}).json()["features"][0]["id"]
    building = api.client.get(f"{API}/buildings").json()["features"][0]["id"]
    yield (
        "edit grid",
        lambda who: api.client.patch(
            f"{API}/grids/{grid_a}", json={"properties": {"name": "改名网格"}}, headers=api.headers(who)
        ),
    )
    yield (
        "edit building",
        lambda who: api.client.patch(
            f"{API}/buildings/{building}", json={"properties": {"residents": 51}}, headers=api.headers(who)
        ),
    )
    yield (
        "edit another responder",
        lambda who: api.client.patch(
            f"{API}/responders/{api.world.responder['leaderB']}",
            json={"properties": {"on_duty": False}},
            headers=api.headers(who),
        ),
    )
    yield "delete building", lambda who: api.client.delete(f"{API}/buildings/{building}", headers=api.headers(who))


@pytest.mark.parametrize("who", ["admin", "community"])
def test_staff_write_every_layer(api, who):
    for what, send in layer_writes(api, "3"):
        r = send(who)
        assert r.status_code in (200, 201, 204), (what, r.text)


@pytest.mark.parametrize(
    "who, status", [("leaderA", 403), ("workerA", 403), ("planner", 403), ("viewer", 403), (None, 401)]
)
def test_layer_writes_are_for_staff_only(api, who, status):
    before = {
        layer: api.client.get(f"{API}/{layer}", params={"limit": 1000}).json()
        for layer in ("grids", "estates", "buildings", "responders")
    }
    for what, send in layer_writes(api, "4"):
        r = send(who)
        assert r.status_code == status, (what, r.text)
        assert r.json()["detail"]
    after = {layer: api.client.get(f"{API}/{layer}", params={"limit": 1000}).json() for layer in before}
    assert after == before


# --------------------------------------------------------------------------- incidents by role


def test_admin_and_community_act_everywhere(api, world):
    for who in ("admin", "community"):
        case = api.report(who, "case", "aid", CENTRE_B).json()["id"]
        # Not reported on site: verified (核实) by someone else before anyone registers it.
        assert api.act(case, "register", who).status_code == 409
        assert api.act(case, "verify", who).status_code == 403  # not by the reporter
        assert api.act(case, "verify", "admin" if who == "community" else "community").status_code == 200
        assert api.act(case, "register", who).status_code == 200
        assert api.act(case, "dispatch", who, assignee_id=world.responder["workerB"]).status_code == 200
        assert api.assign(case, who, world.responder["leaderB"]).status_code == 200
        assert api.patch_incident(case, who, description="已联系").status_code == 200
    r = api.act(world.incident["renovationA"], "consult", "community")
    assert r.status_code == 200
    assert api.act(world.incident["hazardA"], "confirm", "admin").status_code == 200
    assert api.client.post(f"{API}/escalations", headers=api.headers("community")).status_code == 200
    assert (
        api.client.delete(f"{API}/incidents/{world.incident['caseB']}", headers=api.headers("community")).status_code
        == 204
    )


def test_grid_leader_acts_in_its_own_grids_only(api, world):
    a, b = world.incident["caseA"], world.incident["caseB"]
    assert api.act(a, "verify", "leaderA").status_code == 200
    assert api.act(a, "register", "leaderA").status_code == 200
    assert api.act(a, "dispatch", "leaderA", assignee_id=world.responder["station"]).status_code == 200
    assert api.assign(a, "leaderA", world.responder["workerA"]).status_code == 200
    assert api.patch_incident(a, "leaderA", description="网格长补充说明").status_code == 200
    refused_unchanged(api, b, 403, lambda: api.act(b, "register", "leaderA"))
    refused_unchanged(api, b, 403, lambda: api.act(b, "reject", "leaderA", comment="不属实"))
    refused_unchanged(api, b, 403, lambda: api.patch_incident(b, "leaderA", description="越界"))
    refused_unchanged(api, b, 403, lambda: api.assign(b, "leaderA", world.responder["workerA"]))
    renovation = world.incident["renovationA"]  # in grid A, but renovation points are the planners'
    refused_unchanged(api, renovation, 403, lambda: api.act(renovation, "consult", "leaderA"))
    refused_unchanged(api, renovation, 403, lambda: api.patch_incident(renovation, "leaderA", description="改"))
    refused_unchanged(api, a, 403, lambda: api.client.delete(f"{API}/incidents/{a}", headers=api.headers("leaderA")))
    assert api.client.post(f"{API}/escalations", headers=api.headers("leaderA")).status_code == 403


def test_grid_worker_acts_in_its_own_grids_only(api, world):
    a, b, hazard = world.incident["caseA"], world.incident["caseB"], world.incident["hazardA"]
    assert api.act(a, "verify", "workerA").status_code == 200
    assert api.act(hazard, "confirm", "workerA").status_code == 200
    assert api.act(hazard, "rectify", "workerA").status_code == 200
    assert api.patch_incident(a, "workerA", description="现场核实：属实").status_code == 200
    r = api.comment(a, "workerA", "已上门走访")
    assert r.status_code == 201
    # Its own grid, but not its step: dispatching and reassigning are for the grid leader.
    refused_unchanged(api, a, 403, lambda: api.act(a, "dispatch", "workerA", assignee_id=world.responder["workerA"]))
    refused_unchanged(api, a, 403, lambda: api.assign(a, "workerA", world.responder["station"]))
    refused_unchanged(api, a, 403, lambda: api.client.delete(f"{API}/incidents/{a}", headers=api.headers("workerA")))
    # Another grid: 403 for everything.
    refused_unchanged(api, b, 403, lambda: api.act(b, "register", "workerA"))
    refused_unchanged(api, b, 403, lambda: api.patch_incident(b, "workerA", description="越界"))
    refused_unchanged(api, b, 403, lambda: api.act(b, "merge", "workerA", target_id=a))
    renovation = world.incident["renovationA"]
    refused_unchanged(api, renovation, 403, lambda: api.patch_incident(renovation, "workerA", description="改"))
    # Anyone but a viewer may report, in any grid.
    assert api.report("workerA", "hazard", "public_safety", CENTRE_B).status_code == 201
    # Its own record: position and duty only.
    me, other = world.responder["workerA"], world.responder["workerB"]
    r = api.client.patch(
        f"{API}/responders/{me}",
        json={"properties": {"on_duty": False}, "geometry": point(move(CENTRE_A, 0, 10))},
        headers=api.headers("workerA"),
    )
    assert r.status_code == 200, r.text
    assert (
        api.client.patch(
            f"{API}/responders/{me}", json={"properties": {"role": "grid_leader"}}, headers=api.headers("workerA")
        ).status_code
        == 403
    )
    assert (
        api.client.patch(
            f"{API}/responders/{other}", json={"properties": {"on_duty": False}}, headers=api.headers("workerA")
        ).status_code
        == 403
    )
    assert api.client.get(f"{API}/responders/{other}").json()["properties"]["on_duty"] is True


def test_planner_owns_renovation_points_only(api, world):
    r = api.report("planner", "renovation", "road", move(CENTRE_B, 0, 100), **REPORTER_RENOVATION)
    assert r.status_code == 201, r.text
    new = r.json()["id"]
    assert api.patch_incident(new, "planner", description="路面破损，拟整体翻修").status_code == 200
    renovation = world.incident["renovationA"]
    for action in ("consult", "approve", "start_construction"):
        assert api.act(renovation, action, "planner").status_code == 200
    assert api.act(new, "reject", "planner", comment="纳入明年计划").status_code == 200
    hazard, case = world.incident["hazardA"], world.incident["caseA"]
    refused_unchanged(api, hazard, 403, lambda: api.act(hazard, "confirm", "planner"))
    refused_unchanged(api, hazard, 403, lambda: api.act(hazard, "reject", "planner", comment="不是隐患"))
    refused_unchanged(api, hazard, 403, lambda: api.patch_incident(hazard, "planner", description="改"))
    refused_unchanged(api, case, 403, lambda: api.act(case, "register", "planner"))
    refused_unchanged(api, case, 403, lambda: api.assign(case, "planner", world.responder["workerA"]))


def test_viewer_reads_and_cannot_write(api, world):
    case, renovation = world.incident["caseA"], world.incident["renovationA"]
    for path in (
        "grids",
        "buildings",
        "responders",
        "incidents",
        "estates",
        "communities",
        f"incidents/{case}",
        f"incidents/{case}/timeline",
        f"incidents/{case}/workflow",
        f"incidents/{case}/responders",
    ):
        assert api.client.get(f"{API}/{path}", headers=api.headers("viewer")).status_code == 200, path
    assert (
        api.client.get(
            f"{API}/grids/locate", params={"lon": CENTRE_A[0], "lat": CENTRE_A[1]}, headers=api.headers("viewer")
        ).status_code
        == 200
    )
    assert (
        api.client.get(
            f"{API}/stats", params={"start": "2027-01-01", "end": "2028-01-01"}, headers=api.headers("viewer")
        ).status_code
        == 200
    )
    before = api.client.get(f"{API}/incidents", headers=api.headers("admin")).json()["numberMatched"]
    r = api.report("viewer", "hazard", "fire_safety", CENTRE_A)
    assert r.status_code == 403
    assert api.client.get(f"{API}/incidents", headers=api.headers("admin")).json()["numberMatched"] == before
    refused_unchanged(api, case, 403, lambda: api.patch_incident(case, "viewer", description="改"))
    refused_unchanged(api, case, 403, lambda: api.act(case, "register", "viewer"))
    refused_unchanged(api, case, 403, lambda: api.assign(case, "viewer", world.responder["workerA"]))
    refused_unchanged(api, case, 403, lambda: api.comment(case, "viewer", "看看"))
    refused_unchanged(
        api, case, 403, lambda: api.client.delete(f"{API}/incidents/{case}", headers=api.headers("viewer"))
    )
    refused_unchanged(api, renovation, 403, lambda: api.act(renovation, "consult", "viewer"))
    assert api.client.post(f"{API}/escalations", headers=api.headers("viewer")).status_code == 403


def test_the_public_reports_and_takes_part_in_consultations_only(api, world):
    r = api.report(None, "hazard", "fire_safety", CENTRE_B, reporter_name="热心居民", reporter_phone="13000000000")
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["status"] == "reported"
    assert api.report(None, "case", "public_order", CENTRE_A).status_code == 201
    before = api.client.get(f"{API}/incidents", params={"kind": "renovation"}).json()["numberMatched"]
    r = api.report(None, "renovation", "greening", CENTRE_A)
    assert r.status_code == 401, r.text
    assert api.client.get(f"{API}/incidents", params={"kind": "renovation"}).json()["numberMatched"] == before
    case, renovation = world.incident["caseA"], world.incident["renovationA"]
    refused_unchanged(api, case, 401, lambda: api.patch_incident(case, None, description="公众改"))
    refused_unchanged(api, case, 401, lambda: api.act(case, "register", None))
    refused_unchanged(api, case, 401, lambda: api.assign(case, None, world.responder["workerA"]))
    refused_unchanged(api, case, 401, lambda: api.client.delete(f"{API}/incidents/{case}"))
    refused_unchanged(api, renovation, 401, lambda: api.patch_incident(renovation, None, description="公众改"))
    refused_unchanged(api, renovation, 401, lambda: api.act(renovation, "consult", None))
    assert api.client.post(f"{API}/escalations").status_code == 401
    # In consultation, residents comment and say whether they support the point.
    assert api.act(renovation, "consult", "planner").status_code == 200
    r = api.comment(renovation, None, "支持加装路灯", "support")
    assert r.status_code == 201, r.text
    assert api.client.get(f"{API}/incidents/{renovation}/timeline").json()["timeline"][-1]["actor"] == "public"


# --------------------------------------------------------------------------- tokens


def test_invalid_revoked_expired_and_disabled_tokens_get_401(api, engine, clock, world):
    probe = lambda token: api.client.get(f"{API}/incidents", headers={"Authorization": f"Bearer {token}"})  # noqa: E731
    assert probe(world.token["viewer"]).status_code == 200
    for bad in ("wg_not-a-real-token", world.token["viewer"] + "x", world.token["viewer"][:-1]):
        r = probe(bad)
        assert r.status_code == 401, bad
        assert r.headers["WWW-Authenticate"] == "Bearer"
    with session_scope(engine) as s:
        user = s.scalar(select(User).where(User.username == "community"))
        short = issue_token(s, user, label="one hour", expires_at=START + timedelta(hours=1))
        second = issue_token(s, user, label="to revoke")
    assert probe(short).status_code == 200
    clock.advance(hours=1)
    assert probe(short).status_code == 401
    assert probe(second).status_code == 200
    with session_scope(engine) as s:
        s.scalar(select(ApiToken).where(ApiToken.label == "to revoke")).revoked_at = clock.now
    r = probe(second)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert probe(world.token["community"]).status_code == 200  # the user's other token still works
    # A 401 token cannot write either, even what the public may do.
    r = api.client.post(
        f"{API}/incidents",
        json={
            "type": "Feature",
            "geometry": point(CENTRE_A),
            "properties": {"kind": "hazard", "category": "fire_safety", "title": "x"},
        },
        headers={"Authorization": f"Bearer {second}"},
    )
    assert r.status_code == 401
    with session_scope(engine) as s:
        s.scalar(select(User).where(User.username == "viewer")).active = False
    assert probe(world.token["viewer"]).status_code == 401


def test_tokens_are_stored_hashed_and_work_from_the_cli(api, cli, engine, db_url, world):
    result = cli("user", "add", "clerk", "--role", "community")
    assert result.exit_code == 0, result.output
    clerk = result.output.strip().splitlines()[-1]
    result = cli("user", "add", "walker", "--role", "grid_worker", "--responder", "P-R02")
    assert result.exit_code == 0, result.output
    walker = result.output.strip().splitlines()[-1]
    refused = cli("user", "add", "drifter", "--role", "grid_worker")  # grid staff must act for a responder
    assert refused.exit_code != 0
    secrets = [clerk, walker, *world.token.values()]
    assert len(set(secrets)) == len(secrets)
    with session_scope(engine) as s:
        stored = {t.token_hash for t in s.scalars(select(ApiToken))}
        assert stored == {hashlib.sha256(t.encode()).hexdigest() for t in secrets}
        assert "drifter" not in set(s.scalars(select(User.username)))
        # Every row of every table, as text: no secret anywhere.
        dump = "\n".join(repr(tuple(row)) for table in Base.metadata.sorted_tables for row in s.execute(table.select()))
    assert hashlib.sha256(clerk.encode()).hexdigest() in dump
    for secret in secrets:
        assert secret not in dump
    if db_url.startswith("sqlite"):
        path = Path(make_url(db_url).database)
        raw = b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())
        assert hashlib.sha256(clerk.encode()).hexdigest().encode() in raw
        for secret in secrets:
            assert secret.encode() not in raw
    # The CLI's tokens work over HTTP, with their role and grids.
    a, b = world.incident["caseA"], world.incident["caseB"]
    world.token.update(clerk=clerk, walker=walker)
    assert api.act(a, "verify", "walker").status_code == 200
    refused_unchanged(api, b, 403, lambda: api.act(b, "register", "walker"))
    assert api.act(b, "verify", "clerk").status_code == 200
    assert (
        api.client.get(f"{API}/incidents/{a}/timeline", headers=api.headers("clerk")).json()["timeline"][-1]["actor"]
        == "walker"
    )


# --------------------------------------------------------------------------- personal data


def _texts(value) -> list[str]:
    """Every string and every key in a JSON answer."""
    if isinstance(value, dict):
        return [k for k in value] + [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return [str(value)] if value is not None else []


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def answers(api: Api, who, world) -> list[tuple[str, object]]:
    """Every answer that names people or incidents, as ``who`` gets it."""
    h = api.headers(who)
    get = lambda path, **params: (path, api.client.get(f"{API}/{path}", params=params, headers=h))  # noqa: E731
    out = [
        get("responders", limit=1000),
        get("responders", grid=CODE_A),
        get("incidents", limit=1000),
        get("incidents", kind="case", crs="gcj02"),
    ]
    out += [get(f"responders/{rid}") for rid in world.responder.values()]
    for iid in world.incident.values():
        out += [
            get(f"incidents/{iid}"),
            get(f"incidents/{iid}/timeline"),
            get(f"incidents/{iid}/workflow"),
            get(f"incidents/{iid}/responders", k=10),
        ]
        out.append(get(f"incidents/{iid}/responders", k=10, on_duty="true", crs="bd09"))
    for where in (CENTRE_A, CENTRE_B):
        out += [
            get("grids/locate", lon=where[0], lat=where[1]),
            get("responders/nearest", lon=where[0], lat=where[1], k=10),
        ]
    out += [
        get("grids"),
        get("buildings"),
        get("communities"),
        get("stats", start="2027-01-01", end="2028-01-01"),
        get("stats", start="2027-01-01", end="2028-01-01", format="csv"),
    ]
    return out


def _phones(value) -> list:
    """Every value of a "phone" key in ``value``."""
    if isinstance(value, dict):
        return [v for k, v in value.items() if k == "phone"] + [p for v in value.values() for p in _phones(v)]
    if isinstance(value, list):
        return [p for v in value for p in _phones(v)]
    return []


MASKED_PHONES = {mask_phone(p) for p in PHONES.values()}


def _check(path, response, who, present: bool):
    """``present``: the full phones and reporters may be there; else no reporter at all, and
    responders' phones only masked (138****1234)."""
    assert response.status_code in (200, 201), (path, response.text)
    body = response.json() if "json" in response.headers.get("content-type", "") else response.text
    text = json.dumps(body, ensure_ascii=False) if not isinstance(body, str) else body
    found = [s for s in SECRETS if s in text]
    if not present:
        assert found == [], (who, path, found)
        if not isinstance(body, str):
            assert _keys(body) & {"reporter_name", "reporter_phone"} == set(), (who, path)
            assert set(_phones(body)) <= MASKED_PHONES, (who, path)
    return found


@pytest.fixture
def history_with_personal_data(api, world):
    """Staff change a reporter's phone (an edit in the timeline), the renovation point goes to
    consultation, and the first case is dispatched: every kind of answer has people in it."""
    case = world.incident["caseA"]
    r = api.patch_incident(case, "community", reporter_phone=NEW_REPORTER_PHONE)
    assert r.status_code == 200
    assert api.act(case, "verify", "workerA").status_code == 200
    assert api.act(case, "register", "workerA").status_code == 200
    assert api.act(case, "dispatch", "leaderA", assignee_id=world.responder["station"]).status_code == 200
    assert api.act(world.incident["renovationA"], "consult", "planner").status_code == 200
    return world


@pytest.mark.parametrize("who", ["viewer", None, "planner"])
def test_personal_data_absent_for_the_public_and_viewers(api, history_with_personal_data, who):
    world = history_with_personal_data
    for path, response in answers(api, who, world):
        _check(path, response, who, present=False)
    # Answers to their own writes too.
    renovation = world.incident["renovationA"]
    r = api.comment(renovation, who, "同意改造", "support")
    _check("comment", r, who, present=False)
    if who != "viewer":  # viewers may not report
        r = api.report(who, "hazard", "public_safety", move(CENTRE_B, 0, 70), **REPORTER)
        assert r.status_code == 201
        _check("report", r, who, present=False)
    if who == "planner":
        r = api.act(renovation, "approve", "planner")
        _check("action", r, who, present=False)
        r = api.patch_incident(renovation, "planner", description="居民多数支持")
        _check("patch", r, who, present=False)


@pytest.mark.parametrize("who", ["admin", "community", "leaderA", "workerA"])
def test_personal_data_present_for_staff(api, history_with_personal_data, who):
    world = history_with_personal_data
    seen: dict[str, set[str]] = defaultdict(set)
    for path, response in answers(api, who, world):
        seen[path] |= set(_check(path, response, who, present=True))
    case, renovation = world.incident["caseA"], world.incident["renovationA"]
    assert set(PHONES.values()) <= seen["responders"]
    assert {REPORTER["reporter_name"], NEW_REPORTER_PHONE} <= seen["incidents"]
    assert set(REPORTER_RENOVATION.values()) <= seen[f"incidents/{renovation}"]
    assert {REPORTER["reporter_name"], NEW_REPORTER_PHONE} <= seen[f"incidents/{case}"]
    assert {REPORTER["reporter_phone"], NEW_REPORTER_PHONE} <= seen[
        f"incidents/{case}/timeline"
    ]  # the edit, from and to
    assert {PHONES["leaderA"], PHONES["workerA"], PHONES["leaderB"], PHONES["workerB"]} <= seen["grids/locate"]
    assert set(PHONES.values()) <= seen["responders/nearest"]
    assert PHONES["station"] in seen[f"incidents/{case}/responders"]
    r = api.act(case, "handle", who)
    assert r.status_code == 200
    assert NEW_REPORTER_PHONE in json.dumps(r.json(), ensure_ascii=False)


# --------------------------------------------------------------------------- phones: full, masked, audited


@pytest.mark.parametrize(
    ("phone", "shown"),
    [
        ("13812341234", "138****1234"),
        ("0763-3381234", "076*-***1234"),
        ("+86 138 1234 5678", "+86 1** **** 5678"),
        ("12345678", "123*5678"),
        ("3381234", "*****34"),
        ("12119", "***19"),
        ("110", "***"),
        ("无", "*"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_phone(phone, shown):
    assert mask_phone(phone) == shown


FULL, MASKED, NONE = "full", "masked", "none"
# What each caller sees of a responder's phone, and of the reporter of an incident in grid A and in grid B.
EXPECTED = {
    "admin": (FULL, FULL, FULL),
    "community": (FULL, FULL, FULL),
    "leaderA": (FULL, FULL, NONE),
    "workerA": (FULL, FULL, NONE),
    "planner": (MASKED, NONE, NONE),
    "viewer": (MASKED, NONE, NONE),
    None: (MASKED, NONE, NONE),
}


def _phone(shown: str, phone: str):
    return {FULL: phone, MASKED: mask_phone(phone)}[shown]


def _reporter(props: dict) -> str:
    if "reporter_phone" not in props and "reporter_name" not in props:
        return NONE
    assert props["reporter_phone"] == REPORTER["reporter_phone"] and props["reporter_name"] == REPORTER["reporter_name"]
    return FULL


@pytest.mark.parametrize("who", ROLES)
def test_phones_per_role(api, world, who):
    h = api.headers(who)
    responders, in_a, in_b = EXPECTED[who]
    leader = api.client.get(f"{API}/responders/{world.responder['leaderA']}", headers=h).json()["properties"]
    assert leader["phone"] == _phone(responders, PHONES["leaderA"])
    listed = api.client.get(f"{API}/responders", headers=h).json()["features"]
    assert {f["properties"]["phone"] for f in listed} == {_phone(responders, p) for p in PHONES.values()}
    card = api.client.get(f"{API}/grids/locate", params={"lon": CENTRE_B[0], "lat": CENTRE_B[1]}, headers=h).json()
    assert card["grid"]["leader"]["phone"] == _phone(responders, PHONES["leaderB"])
    nearest = api.client.get(
        f"{API}/responders/nearest", params={"lon": CENTRE_A[0], "lat": CENTRE_A[1], "k": 5}, headers=h
    ).json()["responders"]
    assert sorted(r["phone"] for r in nearest) == sorted(_phone(responders, p) for p in PHONES.values())

    for incident, shown in ((world.incident["caseA"], in_a), (world.incident["caseB"], in_b)):
        assert _reporter(api.client.get(f"{API}/incidents/{incident}", headers=h).json()["properties"]) == shown
        # The responders suggested for it: in full to whom the incident's people are shown.
        suggested = api.client.get(f"{API}/incidents/{incident}/responders", headers=h).json()["responders"]
        station = next(r for r in suggested if r["id"] == world.responder["station"])
        assert station["phone"] == _phone(FULL if shown == FULL else MASKED, PHONES["station"])
    listed = api.client.get(f"{API}/incidents", params={"kind": "case"}, headers=h).json()["features"]
    assert [_reporter(f["properties"]) for f in sorted(listed, key=lambda f: f["properties"]["grid"])] == [in_a, in_b]


def _flush(api: Api) -> None:
    """Write the noted reads now, as the server does every second (in a thread of its own: the
    session's browser tests may keep an event loop running in this one)."""
    app = api.client.app
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, read_log(app).flush(app)).result()


def _reads(engine) -> list[tuple[str | None, str | None, dict]]:
    with session_scope(engine) as s:
        rows = audit.events(s, event=audit.PERSONAL_DATA_READ)
        return [(r.username, r.address, r.detail) for r in reversed(rows)]


def test_every_answer_with_full_phones_is_one_audit_row(api, world, engine):
    _flush(api)  # the world's reports, made by the community staff, carried their reporters
    before = len(_reads(engine))
    leader = api.headers("leaderA")
    get = api.client.get
    assert get(f"{API}/responders", headers=leader).status_code == 200  # five phones: one row
    assert get(f"{API}/incidents/{world.incident['caseA']}", headers=leader).status_code == 200
    assert get(f"{API}/incidents/{world.incident['caseB']}/responders", params={"k": 2}, headers=leader).is_success
    assert get(f"{API}/grids/locate", params={"lon": CENTRE_A[0], "lat": CENTRE_A[1]}, headers=leader).is_success
    assert get(f"{API}/grids/locate", params={"lon": CENTRE_A[0], "lat": CENTRE_A[1]}, headers=leader).is_success
    # Masked phones, hidden reporters and answers without people are not reads of personal data.
    for who in ("planner", "viewer", None):
        assert get(f"{API}/responders", headers=api.headers(who)).status_code == 200
        assert get(f"{API}/incidents", headers=api.headers(who)).status_code == 200
    assert get(f"{API}/incidents/{world.incident['caseB']}", headers=leader).status_code == 200  # not theirs
    assert get(f"{API}/grids", headers=leader).status_code == 200
    assert get(f"{API}/responders/999999", headers=leader).status_code == 404
    assert _reads(engine)[before:] == []  # nothing written on the reads' path
    _flush(api)
    r, case_a = world.responder, world.incident["caseA"]
    locate = (
        "leaderA",
        "testclient",
        {"path": f"{API}/grids/locate", "layers": {"responders": sorted([r["leaderA"], r["workerA"]])}},
    )
    assert _reads(engine)[before:] == [
        ("leaderA", "testclient", {"path": f"{API}/responders", "layers": {"responders": sorted(r.values())}}),
        ("leaderA", "testclient", {"path": f"{API}/incidents/{case_a}", "layers": {"incidents": [case_a]}}),
        locate,
        locate,
    ]  # grid B's suggested responders came masked: no row
    _flush(api)
    assert len(_reads(engine)) == before + 4  # written once


def test_a_served_wangge_writes_the_reads_while_serving_and_as_it_stops(db_url, demo):
    account = next(a for a in DEMO_ACCOUNTS if a.role == "grid_worker")
    with session_scope(demo) as s:
        from geo.access.users import get_user, issue_token

        token = issue_token(s, get_user(s, account.username))
    server = WanggeServer(db_url, env={"WANGGE_ESCALATION_INTERVAL_S": "0"})
    try:
        server.wait_ready(timeout_s=60)
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.base, headers=auth, timeout=30) as http:
            answers = [http.get(f"{API}/responders", params={"grid": DEMO_GRID}) for _ in range(3)]
            assert all(a.status_code == 200 and "*" not in a.text for a in answers)
            assert http.get(f"{API}/responders", headers={"Authorization": ""}).status_code == 200
    finally:
        server.stop(timeout_s=30)
    rows = [row for row in _reads(demo) if row[0] == account.username]
    ids = sorted(f["properties"]["id"] for f in answers[0].json()["features"] if f["properties"]["phone"])
    assert rows == [(account.username, "127.0.0.1", {"path": f"{API}/responders", "layers": {"responders": ids}})] * 3
