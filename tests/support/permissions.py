"""The world of the permission tests, which the security tests share: a community of two grids
(A and B) with a leader and a worker each, a micro fire station serving both, a building, a user
of every role, and a case, a hazard and a renovation point reported with a reporter's details;
personal data distinctive enough to be searched for in every answer; and a thin client.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyproj
from fastapi.testclient import TestClient

from api.app import create_app
from api.v1 import API_PREFIX as API
from tests.support.photos import provide_evidence
from tests.support.world import (
    BuildingSpec,
    CommunitySpec,
    GridSpec,
    IncidentSpec,
    ResponderSpec,
    UserSpec,
    World,
    WorldSpec,
    report_incidents,
)

GEOD = pyproj.Geod(ellps="WGS84")
START = datetime(2027, 5, 10, 2, 0, tzinfo=UTC)

GRID_A = (113.040, 23.690, 113.045, 23.695)
GRID_B = (113.045, 23.690, 113.050, 23.695)
CENTRE_A = (113.0425, 23.6925)
CENTRE_B = (113.0475, 23.6925)
CODE_A, CODE_B = "441802001001001", "441802001001002"

# Personal data, distinctive enough to be searched for in every answer.
PHONES = {
    "leaderA": "19876500001",
    "workerA": "19876500002",
    "leaderB": "19876500003",
    "workerB": "19876500004",
    "station": "19876500005",
}
REPORTER = {"reporter_name": "隐私测试员甲", "reporter_phone": "17755550123"}
REPORTER_RENOVATION = {"reporter_name": "隐私测试员乙", "reporter_phone": "17755550456"}


def move(p, bearing, metres):
    lon, lat, _ = GEOD.fwd(p[0], p[1], bearing, metres)
    return (lon, lat)


def polygon(bounds) -> dict:
    x0, y0, x1, y1 = bounds
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def point(p) -> dict:
    return {"type": "Point", "coordinates": list(p)}


WORLD = WorldSpec(
    start=START,
    communities=(CommunitySpec("441802001001", "翠湖社区", (113.040, 23.690, 113.050, 23.695)),),
    grids=(
        GridSpec("A", CODE_A, "第一网格", "441802001001", GRID_A),
        GridSpec("B", CODE_B, "第二网格", "441802001001", GRID_B),
    ),
    responders=tuple(
        ResponderSpec(key, code, name, role, served, pos, kind=kind, phone=PHONES[key], located_at=START)
        for key, code, name, kind, role, served, pos in [
            ("leaderA", "P-R01", "甲网格长", "person", "grid_leader", ("A",), move(CENTRE_A, 0, 50)),
            ("workerA", "P-R02", "甲网格员", "person", "grid_worker", ("A",), move(CENTRE_A, 90, 30)),
            ("leaderB", "P-R03", "乙网格长", "person", "grid_leader", ("B",), move(CENTRE_B, 0, 50)),
            ("workerB", "P-R04", "乙网格员", "person", "grid_worker", ("B",), move(CENTRE_B, 90, 30)),
            ("station", "P-R05", "微消防站", "facility", "fire_station", ("A", "B"), move(CENTRE_A, 90, 250)),
        ]
    ),
    buildings=(BuildingSpec("b1", "P-B01", "一号楼", move(CENTRE_A, 180, 60), residents=50, households=20),),
    users=(
        UserSpec("admin", "admin"),
        UserSpec("community", "community"),
        UserSpec("leaderA", "grid_leader", "leaderA"),
        UserSpec("workerA", "grid_worker", "workerA"),
        UserSpec("planner", "planner"),
        UserSpec("viewer", "viewer"),
    ),
    # The incidents every test starts from, reported by the community staff with a reporter's details.
    incidents=(
        IncidentSpec("caseA", "case", "dispute", CENTRE_A, REPORTER),
        IncidentSpec("caseB", "case", "dispute", CENTRE_B, REPORTER),
        IncidentSpec("hazardA", "hazard", "fire_safety", move(CENTRE_A, 0, 120), REPORTER),
        IncidentSpec("renovationA", "renovation", "lighting", move(CENTRE_A, 270, 120), REPORTER_RENOVATION),
    ),
)


class Api:
    def __init__(self, client: TestClient, world: World):
        self.client = client
        self.world = world

    def headers(self, who, etag=None):
        h = {}
        if who is not None:
            h["Authorization"] = f"Bearer {self.world.token[who]}"
        if etag is not None:
            h["If-Match"] = etag
        return h

    def etag(self, incident_id):
        r = self.client.get(f"{API}/incidents/{incident_id}", headers=self.headers("admin"))
        assert r.status_code == 200
        return r.headers["ETag"]

    def state(self, incident_id):
        props = self.client.get(f"{API}/incidents/{incident_id}", headers=self.headers("admin")).json()["properties"]
        timeline = self.client.get(f"{API}/incidents/{incident_id}/timeline", headers=self.headers("admin")).json()[
            "timeline"
        ]
        return props["version"], props["status"], props["description"], props["assignee"], len(timeline)

    def report(self, who, kind, category, where, **props):
        body = {
            "type": "Feature",
            "geometry": point(where),
            "properties": {"kind": kind, "category": category, "title": f"{kind} {category}", **props},
        }
        return self.client.post(f"{API}/incidents", json=body, headers=self.headers(who))

    def act(self, incident_id, action, who, **body):
        provide_evidence(self.client, incident_id, action, self.headers("admin"))
        return self.client.post(
            f"{API}/incidents/{incident_id}/actions/{action}",
            json=body,
            headers=self.headers(who, self.etag(incident_id)),
        )

    def patch_incident(self, incident_id, who, **props):
        return self.client.patch(
            f"{API}/incidents/{incident_id}",
            json={"properties": props},
            headers=self.headers(who, self.etag(incident_id)),
        )

    def assign(self, incident_id, who, responder_id):
        return self.client.post(
            f"{API}/incidents/{incident_id}/assign",
            json={"responder_id": responder_id},
            headers=self.headers(who, self.etag(incident_id)),
        )

    def comment(self, incident_id, who, text, stance=None):
        return self.client.post(
            f"{API}/incidents/{incident_id}/comments", json={"text": text, "stance": stance}, headers=self.headers(who)
        )


def make_api(db_url: str, world: World, clock) -> Api:
    """The service in-process on the world, with the simulated clock and the world's incidents."""
    app = create_app(db_url, escalate_every_s=0)
    app.state.clock = clock
    api = Api(TestClient(app), world)
    report_incidents(api.client, world, WORLD)
    return api
