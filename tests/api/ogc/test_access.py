"""Who sees and changes what through /ogc: the same access policy as /api/v1. Patrols (tracks
are personal data) are a collection only for those whose track scope covers some, and only the
tracks it covers; reporters' details only to whom they are for; incidents change only with
If-Match, by those who may change them."""

from __future__ import annotations

import dataclasses

import pytest

from api.v1 import API_PREFIX as API
from tests.support.permissions import CENTRE_A, CENTRE_B, WORLD, Api, make_api
from tests.support.world import UserSpec

OGC = "/ogc"


@pytest.fixture
def world_spec():
    return dataclasses.replace(WORLD, users=WORLD.users + (UserSpec("workerB", "grid_worker", "workerB"),))


@pytest.fixture
def api(db_url, world, clock) -> Api:
    return make_api(db_url, world, clock)


def _start(api: Api, who: str, where) -> int:
    answer = api.client.post(f"{API}/patrols", json={"lon": where[0], "lat": where[1]}, headers=api.headers(who))
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def test_patrols_only_for_whom_their_tracks_are(api):
    mine, theirs = _start(api, "workerA", CENTRE_A), _start(api, "workerB", CENTRE_B)
    get = api.client.get

    for who in (None, "viewer", "planner"):
        names = [c["id"] for c in get(f"{OGC}/collections", headers=api.headers(who)).json()["collections"]]
        assert "patrols" not in names and "grids" in names
        for path in ("/collections/patrols", "/collections/patrols/items", f"/collections/patrols/items/{mine}"):
            assert get(OGC + path, headers=api.headers(who)).status_code == 404, (who, path)
        assert "/collections/patrols/items" not in get(f"{OGC}/api", headers=api.headers(who)).json()["paths"]

    own = get(f"{OGC}/collections/patrols/items", headers=api.headers("workerA")).json()
    assert [f["id"] for f in own["features"]] == [mine] and own["numberMatched"] == 1
    assert get(f"{OGC}/collections/patrols/items/{theirs}", headers=api.headers("workerA")).status_code == 404
    assert get(f"{OGC}/collections/patrols/items/{mine}", headers=api.headers("workerA")).status_code == 200

    every = get(f"{OGC}/collections/patrols/items", headers=api.headers("community")).json()
    assert sorted(f["id"] for f in every["features"]) == sorted([mine, theirs])
    # Tracks are not edited through the features API.
    refused = api.client.delete(f"{OGC}/collections/patrols/items/{mine}", headers=api.headers("community"))
    assert refused.status_code == 405 and set(refused.json()) == {"code", "description"}


def test_reporters_and_incident_writes_follow_the_policy(api):
    get = api.client.get
    public = get(f"{OGC}/collections/incidents/items", params={"limit": 100}).json()["features"]
    staff = get(f"{OGC}/collections/incidents/items", params={"limit": 100}, headers=api.headers("community"))
    assert public and not any("reporter_name" in f["properties"] for f in public)
    assert any(f["properties"].get("reporter_name") for f in staff.json()["features"])
    one = public[0]["id"]
    assert "reporter_phone" not in get(f"{OGC}/collections/incidents/items/{one}").json()["properties"]

    url = f"{OGC}/collections/incidents/items/{one}"
    read = get(url, headers=api.headers("community"))
    tag = read.headers["etag"]
    assert tag == api.etag(one)  # the incident's version, as /api/v1 tags it
    change = {"properties": {"description": "更新的描述"}}
    assert api.client.patch(url, json=change, headers=api.headers("community")).status_code == 428
    refused = api.client.patch(url, json=change, headers=api.headers(None, tag))
    assert refused.status_code == 401 and refused.json()["code"] == "NotAuthenticated"
    assert api.client.patch(url, json=change, headers=api.headers("viewer", tag)).status_code == 403
    done = api.client.patch(url, json=change, headers=api.headers("community", tag))
    assert done.status_code == 200, done.text
    assert done.headers["etag"] != tag and done.json()["properties"]["description"] == "更新的描述"
    assert api.client.patch(url, json=change, headers=api.headers("community", tag)).status_code == 412
