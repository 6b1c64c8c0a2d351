"""The demo community: faithful to the public figures, seamless, deterministic, loadable twice."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, shape
from sqlalchemy import func, select

from data.demo_gen.incidents import DEMO_CATEGORIES
from geo.db.session import session_scope
from geo.io.demo import DEMO_DIR, load_demo
from geo.models import Building, Community, Component, Estate, Grid, Incident, Responder, User
from geo.spatial.codes import unit_grid_codes
from geo.spatial.crs import CoordinateSystem
from geo.spatial.geometry import from_db
from geo.spatial.topology import check_grids

DISTRICT_FILE = Path(__file__).resolve().parents[4] / "shared" / "data" / "qingyuan" / "441802_qingcheng.json"


def read_layer(name: str) -> list[dict]:
    return json.loads((DEMO_DIR / name).read_text(encoding="utf-8"))["features"]


@pytest.fixture
def demo(engine):
    with session_scope(engine) as s:
        reports = load_demo(s)
    assert [r.layer for r in reports] == [
        "communities",
        "grids",
        "estates",
        "buildings",
        "components",
        "responders",
        "incidents",
    ]
    return engine


def test_demo_matches_the_public_figures(demo):
    with session_scope(demo) as s:
        estates = s.scalars(select(Estate)).all()
        assert len(estates) == 7
        assert "雅悦花园" in {e.name for e in estates}
        kinds = Counter(s.scalars(select(Building.kind)))
        assert kinds["old_building"] == 235
        assert kinds["estate_building"] > 0
        residents = s.scalar(select(func.sum(Building.residents)))
        assert abs(residents - 13_700) <= 137
        roles = Counter(s.scalars(select(Responder.role)))
        assert roles["building_head"] == 43
        assert roles["fire_station"] >= 1
        finished = Counter(s.execute(select(Incident.kind, Incident.status)).all())
        assert finished[("renovation", "completed")] == 14
        assert finished[("illegal_structure", "demolished")] == 7
        # Components (部件) of the default catalogue's sub-categories, coded in the demo's district.
        components = Counter(s.scalars(select(Component.category)))
        assert components == {"C0101": 8, "C0102": 8, "C0103": 8, "C0107": 8, "C0108": 11, "C0109": 1}
        assert all(code.startswith("441802") for code in s.scalars(select(Component.code)))


def test_every_grid_is_staffed(demo):
    with session_scope(demo) as s:
        for grid in s.scalars(select(Grid)):
            roles = {r.role for r in grid.responders}
            assert {"grid_leader", "grid_worker", "part_time"} <= roles, grid.code
            assert roles & {"police", "urban_management"}, grid.code
            assert grid.leader is not None and grid.leader.role == "grid_leader"
            assert grid.party_branch


def test_yayue_garden_has_its_activity_centre_and_fire_station(demo):
    with session_scope(demo) as s:
        yayue = s.scalar(select(Estate).where(Estate.name == "雅悦花园"))
        centre = [b for b in yayue.buildings if b.kind == "public_facility"]
        assert centre and "党群活动中心" in centre[0].name
        station = s.scalar(select(Responder).where(Responder.role == "fire_station"))
        assert station.kind == "facility"
        assert from_db(yayue.geom).buffer(0.001).contains(from_db(station.geom))


def test_open_hazards_and_cases_of_every_category(demo):
    closed = {"completed", "demolished", "closed", "evaluated", "rejected", "legalised"}
    with session_scope(demo) as s:
        open_ = {
            (k, c)
            for k, c, st in s.execute(select(Incident.kind, Incident.category, Incident.status))
            if st not in closed
        }
    for kind in ("hazard", "case"):
        for category in DEMO_CATEGORIES[kind]:
            assert (kind, category) in open_, (kind, category)


def test_every_building_component_and_incident_lies_in_a_grid(demo):
    with session_scope(demo) as s:
        assert s.scalar(select(func.count()).where(Building.grid_id.is_(None))) == 0
        assert s.scalar(select(func.count()).where(Component.grid_id.is_(None))) == 0
        assert s.scalar(select(func.count()).where(Incident.grid_id.is_(None))) == 0
        # Incidents are geotagged to a nearby building as well.
        assert s.scalar(select(func.count()).where(Incident.building_id.is_not(None))) >= 0.9 * s.scalar(
            select(func.count(Incident.id))
        )


def test_demo_grids_cover_the_community_without_gaps_or_overlaps(demo):
    with session_scope(demo) as s:
        community = s.scalar(select(Community))
        grids = s.scalars(select(Grid).order_by(Grid.code)).all()
        report = check_grids(
            [g.code for g in grids], [from_db(g.geom) for g in grids], boundary=from_db(community.geom)
        )
    assert report.ok, report.lines()
    assert len(grids) >= 8


def test_demo_grid_codes_are_unit_grid_codes_in_reading_order(demo):
    with session_scope(demo) as s:
        grids = s.scalars(select(Grid)).all()
        codes = [g.code for g in grids]
        assert all(len(c) == 15 and c.startswith("441802001001") for c in codes)
        assert sorted(codes) == [f"441802001001{i:03d}" for i in range(1, len(codes) + 1)]
        assert unit_grid_codes("441802001001", np.array([from_db(g.geom) for g in grids], dtype=object)) == codes


def test_demo_lies_inside_qingcheng_district():
    district = shape(json.loads(DISTRICT_FILE.read_text(encoding="utf-8"))["features"][0]["geometry"])
    district = CoordinateSystem("gcj02").geometries_to_wgs84(np.array([district], dtype=object))[0]
    community = shape(read_layer("community.geojson")[0]["geometry"])
    assert district.contains(community)


def test_loading_the_demo_twice_changes_nothing(demo):
    with session_scope(demo) as s:
        counts = [s.scalar(select(func.count(m.id))) for m in (Grid, Building, Responder, Incident)]
        assert load_demo(s) == []
        assert [s.scalar(select(func.count(m.id))) for m in (Grid, Building, Responder, Incident)] == counts


def test_wangge_numbers_grids_west_to_east_north_to_south(cli, engine, tmp_path):
    """A 3×3 block of grids with wobbly edges, given without codes, in shuffled order."""
    assert cli("import", "communities", DEMO_DIR / "community.geojson", "-q").exit_code == 0
    x0, y0, step = 113.04, 23.70, 0.002
    cells = {}
    for row in range(3):  # row 0 is the northern row
        for col in range(3):
            wobble = 0.0002 * ((row + col) % 2)
            top = y0 - row * step
            cells[(row, col)] = Polygon(
                [
                    (x0 + col * step, top),
                    (x0 + (col + 1) * step, top + wobble),
                    (x0 + (col + 1) * step, top - step),
                    (x0 + col * step, top - step),
                ]
            )
    order = [(2, 1), (0, 2), (1, 0), (0, 0), (2, 2), (1, 2), (0, 1), (2, 0), (1, 1)]
    features = [
        {"type": "Feature", "properties": {"name": f"r{r}c{c}"}, "geometry": shapely.geometry.mapping(cells[(r, c)])}
        for r, c in order
    ]
    path = tmp_path / "unnumbered.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    result = cli("import", "grids", path, "--community", "441802001001", "-q")
    assert result.exit_code == 0, result.output
    with session_scope(engine) as s:
        got = {g.name: g.code for g in s.scalars(select(Grid))}
    assert got == {f"r{r}c{c}": f"441802001001{r * 3 + c + 1:03d}" for r in range(3) for c in range(3)}


def test_the_demo_has_one_account_per_role_that_signs_in_at_once(demo):
    from geo.access.signin import begin_sign_in, check_password, finish_sign_in
    from geo.io.demo import DEMO_ACCOUNTS, DEMO_GRID
    from geo.models import TokenKind, User, UserRole, utcnow

    assert sorted(a.role for a in DEMO_ACCOUNTS) == sorted(r.value for r in UserRole)
    now = utcnow()
    with session_scope(demo) as s:
        for account in DEMO_ACCOUNTS:
            attempt = begin_sign_in(s, account.username, "127.0.0.1", now)
            assert check_password(attempt, account.password), account.username
            assert not check_password(attempt, account.password + "x")
            grant = finish_sign_in(s, attempt, True, now, TokenKind.session)
            assert grant is not None and not grant.user.must_change_password
            assert grant.user.role == account.role
        staff = {u.role: u for u in s.scalars(select(User).where(User.responder_id.is_not(None)))}
        assert set(staff) == {"grid_leader", "grid_worker"}
        for role, user in staff.items():
            assert user.responder.role == role and [g.code for g in user.responder.grids] == [DEMO_GRID]
        # A full-time worker of that grid: a new incident there goes to them.
        assert staff["grid_worker"].responder.kind == "person"


def test_loading_the_demo_twice_keeps_its_accounts_as_they_are(demo):
    from geo.access.users import get_user, set_password

    with session_scope(demo) as s:
        set_password(s, get_user(s, "viewer"), "Changed#2027")
    with session_scope(demo) as s:
        assert load_demo(s) == []
        hashes = {name: h for name, h in s.execute(select(User.username, User.password_hash))}
        assert len(hashes) == 6
    from geo.access.passwords import verify_password

    assert verify_password("Changed#2027", hashes["viewer"])


def test_wangge_demo_prints_the_accounts(cli):
    from geo.io.demo import DEMO_ACCOUNTS

    result = cli("demo", "-q")
    assert result.exit_code == 0, result.output
    table = result.output[result.output.index("demo accounts") :].splitlines()
    assert table[1].split() == ["username", "role", "password", "grid"]
    assert [line.split() for line in table[2:]] == [
        [a.username, a.role, a.password, a.grid or "all"] for a in DEMO_ACCOUNTS
    ]
    again = cli("demo", "-q")
    assert again.exit_code == 0 and "already loaded" in again.output


def test_the_readme_lists_the_demo_accounts_as_they_are():
    from geo.io.demo import DEMO_ACCOUNTS

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Demo accounts") :]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| `")]
    assert [(r[0].strip(" `"), r[2].strip(" `"), r[3].strip()) for r in rows] == [
        (a.username, a.password, a.grid or "all") for a in DEMO_ACCOUNTS
    ]
    assert "change them" in section and "wangge user disable" in section


def test_the_demo_incidents_have_the_timeline_of_their_status(demo):
    """Each incident was walked through the workflow to its status, so the demo year's
    indicators show real work: registrations, handlings, closings (some late), re-work,
    overdue incidents and a supervision order."""
    from datetime import datetime

    from geo.incidents.definitions import workflow
    from geo.indicators.report import indicators
    from geo.io.demo_timeline import DEMO_NOW
    from geo.models import IncidentHistory
    from geo.timezones import CHINA_TIME

    with session_scope(demo) as s:
        last = {}
        for incident_id, to_status in s.execute(
            select(IncidentHistory.incident_id, IncidentHistory.to_status).order_by(IncidentHistory.id)
        ):
            last[incident_id] = to_status
        incidents = s.scalars(select(Incident)).all()
        assert {i.id: i.status for i in incidents} == last
        for incident in incidents:
            flow = workflow(incident.kind)
            assert (incident.closed_at is not None) == (incident.status in flow.closed), incident.code
        year = datetime(DEMO_NOW.year, 1, 1, tzinfo=CHINA_TIME)
        total = indicators(s, year, year.replace(year=year.year + 1), DEMO_NOW, by="none")["total"]
    assert total["registered"] > 0 and total["closed"] > 0 and total["handled"] > 0
    assert 0 < total["closed_on_time"] <= total["closed"]
    assert total["rework_rate"] and total["supervised"] > 0 and total["overdue"] > 0
    assert total["score"] is not None
