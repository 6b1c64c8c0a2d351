"""Photos of incidents over HTTP, on both databases: upload, the answers that show them, the
copies without EXIF, the limits, every refusal storing nothing, the report token, the evidence
workflow actions need, idempotent retries, and the 9-photo limit under concurrent uploads."""

from __future__ import annotations

import io
import threading
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from api.app import create_app
from api.v1 import API_PREFIX as API
from geo.db.session import session_scope
from geo.models import Photo
from geo.settings import get_settings
from geo.spatial.crs import wgs84_to_gcj02
from tests.support.one_grid import CENTRE, WORLD
from tests.support.permissions import move
from tests.support.photos import image, jpeg, media_files, upload
from tests.support.world import bearer


@pytest.fixture
def world_spec():
    return WORLD


@pytest.fixture
def client(db_url, world):
    return TestClient(create_app(db_url, escalate_every_s=0))


def report(client, tokens, kind="case", category="dispute", who="community") -> dict:
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(CENTRE)},
        "properties": {"kind": kind, "category": category, "title": "现场"},
    }
    r = client.post(f"{API}/incidents", json=body, headers=bearer(tokens[who]) if who else {})
    assert r.status_code == 201, r.text
    return r.json()


def photo_rows(engine) -> int:
    with session_scope(engine) as s:
        return s.scalar(select(func.count(Photo.id))) or 0


def timeline(client, tokens, incident_id) -> list[dict]:
    return client.get(f"{API}/incidents/{incident_id}/timeline", headers=bearer(tokens["community"])).json()["timeline"]


def test_a_photo_is_read_stored_and_shown(client, tokens, engine):
    iid = report(client, tokens)["id"]
    near = move(CENTRE, 90, 50)
    r = upload(client, iid, jpeg(gps=near), "before", bearer(tokens["worker"]))
    assert r.status_code == 201, r.text
    photo = r.json()
    assert photo["media_type"] == "image/jpeg" and photo["stage"] == "before"
    assert photo["position"]["lon"] == pytest.approx(near[0], abs=1e-6)
    assert photo["position_crs"] == "wgs84" and photo["position_crs_assumed"] is True
    assert photo["distance_m"] == pytest.approx(50, abs=1) and photo["far"] is False
    assert r.headers["Location"] == photo["url"]
    listed = client.get(f"{API}/incidents/{iid}/photos").json()
    assert [p["id"] for p in listed["photos"]] == [photo["id"]] and listed["max_count"] == 9
    assert "position" not in listed["photos"][0]  # the public is not told where it was taken
    one = client.get(f"{API}/incidents/{iid}", headers=bearer(tokens["community"])).json()["properties"]
    assert [p["thumbnail_url"] for p in one["photos"]] == [photo["thumbnail_url"]]
    page = client.get(f"{API}/incidents").json()["features"]
    assert [f["properties"]["photo_count"] for f in page if f["id"] == iid] == [1]
    entry = timeline(client, tokens, iid)[-1]
    assert entry["action"] == "photo" and entry["changes"] == {"photo": photo["id"], "stage": "before"}
    assert len(media_files()) == 1 and photo_rows(engine) == 1


@pytest.mark.parametrize(
    ("gps_of", "datum", "field", "crs", "assumed"),
    [
        ("gcj", None, "gcj02", "gcj02", False),  # the app says so
        ("gcj", "GCJ-02", None, "gcj02", False),  # the camera says so
        ("wgs", "WGS-84", None, "wgs84", False),
    ],
)
def test_exif_coordinate_system_declared(client, tokens, gps_of, datum, field, crs, assumed):
    iid = report(client, tokens)["id"]
    gcj = tuple(float(v) for v in wgs84_to_gcj02(*CENTRE))
    fields = {"exif_crs": field} if field else {}
    data = jpeg(gps=gcj if gps_of == "gcj" else CENTRE, datum=datum)
    photo = upload(client, iid, data, "report", bearer(tokens["community"]), **fields).json()
    assert (photo["position_crs"], photo["position_crs_assumed"]) == (crs, assumed)
    assert photo["distance_m"] < 1  # converted back onto the incident


def test_far_photo_is_flagged_and_time_is_china_time(client, tokens):
    from datetime import datetime

    iid = report(client, tokens)["id"]
    data = jpeg(gps=move(CENTRE, 0, 500), taken=datetime(2027, 6, 1, 9, 30))
    photo = upload(client, iid, data, "wide", bearer(tokens["community"])).json()
    assert photo["far"] is True and photo["distance_m"] > 490
    assert photo["taken_at"] == "2027-06-01T01:30:00+00:00"


def _truncated() -> bytes:
    data = jpeg(size=(400, 300))
    return data[: len(data) // 2]


def _bomb() -> bytes:
    out = io.BytesIO()
    Image.new("1", (9000, 9000)).save(out, "PNG")  # 81 million pixels in a few kilobytes
    return out.getvalue()


@pytest.mark.parametrize(
    ("make", "stage", "env", "status", "says"),
    [
        (lambda: b"%PDF-1.4 not a photo at all" * 10, "after", {}, 415, "not a photo"),
        (
            lambda: jpeg(size=(400, 300), color=(1, 2, 3)) + bytes(4096),
            "after",
            {"photo_max_bytes": "2048"},
            413,
            "larger than",
        ),
        (lambda: jpeg(), "selfie", {}, 422, "Unknown photo stage"),
        (_truncated, "after", {}, 422, "incomplete"),
        (_bomb, "after", {}, 422, "million pixels"),
    ],
    ids=["not-an-image", "too-large", "unknown-stage", "truncated", "bomb"],
)
def test_bad_photos_are_refused_and_nothing_is_stored(
    client, tokens, engine, monkeypatch, make, stage, env, status, says
):
    iid = report(client, tokens)["id"]
    for key, value in env.items():
        monkeypatch.setenv(f"WANGGE_{key.upper()}", value)
    get_settings.cache_clear()
    before = timeline(client, tokens, iid)
    r = upload(client, iid, make(), stage, bearer(tokens["community"]))
    assert r.status_code == status, r.text
    assert says in r.json()["detail"]
    assert photo_rows(engine) == 0 and media_files() == []
    assert timeline(client, tokens, iid) == before


def test_accepted_by_content_not_by_name(client, tokens):
    iid = report(client, tokens)["id"]
    png = upload(client, iid, image(fmt="PNG"), "report", bearer(tokens["community"]), filename="x.jpg")
    heic = upload(client, iid, image(fmt="HEIF"), "report", bearer(tokens["community"]), filename="IMG_0001.HEIC")
    webp = upload(client, iid, image(fmt="WEBP"), "report", bearer(tokens["community"]), filename="a.png")
    assert [r.json()["media_type"] for r in (png, heic, webp)] == ["image/png", "image/heic", "image/webp"]


def test_copies_shown_to_the_public_carry_no_exif(client, tokens):
    iid = report(client, tokens)["id"]
    data = jpeg(size=(800, 600), gps=CENTRE)
    photo = upload(client, iid, data, "report", bearer(tokens["community"])).json()
    staff = client.get(photo["url"], headers=bearer(tokens["community"]))
    assert staff.content == data and staff.headers["Cache-Control"].startswith("private")
    assert Image.open(io.BytesIO(staff.content)).getexif().get_ifd(0x8825)  # the GPS is kept for staff
    for url in (photo["url"], photo["thumbnail_url"]):
        r = client.get(url)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert r.headers["Cache-Control"].startswith("public") and r.content != data
        shown = Image.open(io.BytesIO(r.content))
        assert len(shown.getexif()) == 0 and "exif" not in shown.info
        again = client.get(url, headers={"If-None-Match": r.headers["ETag"]})
        assert again.status_code == 304
    thumb = Image.open(io.BytesIO(client.get(photo["thumbnail_url"]).content))
    assert max(thumb.size) == 320


def test_the_same_photo_twice_is_stored_once_and_the_tenth_is_refused(client, tokens, engine):
    iid = report(client, tokens)["id"]
    data = jpeg()
    for _ in range(9):
        assert upload(client, iid, data, "wide", bearer(tokens["community"])).status_code == 201
    assert len(media_files()) == 1
    r = upload(client, iid, jpeg(color=(0, 0, 255)), "wide", bearer(tokens["community"]))
    assert r.status_code == 409 and "9 photos" in r.json()["detail"]
    assert photo_rows(engine) == 9 and len(media_files()) == 1


def test_idempotent_retry_and_a_different_file_with_the_same_key(client, tokens, engine):
    iid = report(client, tokens)["id"]
    headers = {**bearer(tokens["community"]), "Idempotency-Key": str(uuid.uuid4())}
    first = upload(client, iid, jpeg(), "report", headers)
    again = upload(client, iid, jpeg(), "report", headers)  # a new boundary, the same form
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    other = upload(client, iid, jpeg(color=(9, 9, 9)), "report", headers)
    assert other.status_code == 409
    assert photo_rows(engine) == 1 and len(media_files()) == 1


def test_the_public_adds_report_photos_with_its_report_token(client, tokens, engine):
    created = report(client, tokens, who=None)
    iid, token = created["id"], created["report_token"]
    assert token and "report_token" not in created["properties"]
    assert upload(client, iid, jpeg()).status_code == 401  # no token
    assert upload(client, iid, jpeg(), headers={"Report-Token": "forged"}).status_code == 401
    r = upload(client, iid, jpeg(), "after", {"Report-Token": token})
    assert r.status_code == 401 and "report" in r.json()["detail"]
    assert photo_rows(engine) == 0
    assert upload(client, iid, jpeg(), "report", {"Report-Token": token}).status_code == 201
    other = report(client, tokens, who=None)["id"]  # the token is for its own report only
    assert upload(client, other, jpeg(), "report", {"Report-Token": token}).status_code == 401


def test_actions_that_need_an_after_photo(client, tokens, engine):
    iid = report(client, tokens, kind="hazard", category="fire_safety")["id"]
    worker = bearer(tokens["worker"])

    def act(action):
        etag = client.get(f"{API}/incidents/{iid}").headers["ETag"]
        return client.post(f"{API}/incidents/{iid}/actions/{action}", json={}, headers={**worker, "If-Match": etag})

    assert act("confirm").status_code == 200
    upload(client, iid, jpeg(), "after", worker)  # before it entered rectifying: it does not count
    assert act("rectify").status_code == 200
    flow = client.get(f"{API}/incidents/{iid}/workflow").json()
    assert {a["action"]: a["evidence"] for a in flow["actions"] if a["evidence"]} == {"report_rectified": ["after"]}
    before = client.get(f"{API}/incidents/{iid}").json()["properties"]
    r = act("report_rectified")
    assert r.status_code == 422 and "needs an 'after' photo" in r.json()["detail"]
    assert client.get(f"{API}/incidents/{iid}").json()["properties"] == before
    upload(client, iid, jpeg(color=(0, 200, 0)), "after", worker)
    r = act("report_rectified")
    assert r.status_code == 200 and r.json()["properties"]["status"] == "rectified"
    assert [p["stage"] for p in r.json()["properties"]["photos"]] == ["after", "after"]


def test_deleting_an_incident_leaves_no_orphan_file(client, tokens, engine):
    shared, own = jpeg(), jpeg(color=(1, 200, 1))
    first, second = report(client, tokens)["id"], report(client, tokens)["id"]
    upload(client, first, shared, "report", bearer(tokens["community"]))
    upload(client, first, own, "report", bearer(tokens["community"]))
    upload(client, second, shared, "report", bearer(tokens["community"]))
    assert len(media_files()) == 2
    assert client.delete(f"{API}/incidents/{first}", headers=bearer(tokens["community"])).status_code == 204
    assert photo_rows(engine) == 1
    assert len(media_files()) == 1  # the shared photo stays for the other incident
    client.delete(f"{API}/incidents/{second}", headers=bearer(tokens["community"]))
    assert photo_rows(engine) == 0 and media_files() == []


def test_concurrent_uploads_keep_the_limit_and_retries_store_nothing_twice(db_url, world, tokens, serve_wangge):
    base = serve_wangge(db_url)
    with httpx.Client(base_url=base, timeout=60) as http:
        iid = report(http, tokens)["id"]
        keys = [str(uuid.uuid4()) for _ in range(12)]
        results: list[int] = [0] * 12

        def send(i: int) -> None:
            headers = {**bearer(tokens["community"]), "Idempotency-Key": keys[i]}
            results[i] = upload(http, iid, jpeg(color=(i, i, i)), "wide", headers).status_code

        for round_ in range(2):  # the second round retries every request with its key
            threads = [threading.Thread(target=send, args=(i,)) for i in range(12)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            assert sorted(results) == [201] * 9 + [409] * 3, (round_, results)
            listed = http.get(f"{API}/incidents/{iid}/photos").json()["photos"]
            assert len(listed) == 9
    assert len(media_files()) == 9
