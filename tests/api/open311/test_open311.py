"""Open311 GeoReport v2 (/open311), on both databases: discovery, services and their
definitions, reports made as form posts (public, with an api_key, refused with a list of errors
and nothing stored, retried with an Idempotency-Key), requests read back in JSON and XML without
personal data, the georeport client against a real server, and concurrent reports."""

from __future__ import annotations

import threading
import uuid
import xml.etree.ElementTree as ET

import httpx
import pytest
from fastapi.testclient import TestClient
from georeport import GeoReport
from sqlalchemy import func, select

from api.app import create_app
from geo.db.session import session_scope
from geo.models import Building, CatalogueEntry, Incident
from geo.spatial.crs import wgs84_to_gcj02
from tests.support.one_grid import CENTRE, START
from tests.support.world import (
    BuildingSpec,
    CommunitySpec,
    GridSpec,
    UserSpec,
    WorldSpec,
    bearer,
)

V2 = "/open311/v2"
JURISDICTION = "441802001001"
NAME, PHONE, EMAIL = "张三丰", "13812345678", "zhang@example.cn"
PERSONAL = (NAME, "张三", "三丰", PHONE, EMAIL, "device-42")

WORLD = WorldSpec(
    start=START,
    communities=(CommunitySpec(JURISDICTION, "翠湖社区"),),
    grids=(GridSpec("A", "441802001001001", "第一网格", JURISDICTION, (113.040, 23.690, 113.045, 23.695)),),
    buildings=(BuildingSpec("b1", "T-B001", "翠湖路1号楼", CENTRE, 30, 10),),
    users=(UserSpec("community", "community"), UserSpec("viewer", "viewer"), UserSpec("planner", "planner")),
)


@pytest.fixture
def world_spec():
    return WORLD


@pytest.fixture
def client(db_url, world):
    return TestClient(create_app(db_url, escalate_every_s=0))


def incident_count(engine) -> int:
    with session_scope(engine) as s:
        return s.scalar(select(func.count(Incident.id))) or 0


def form(**extra) -> dict[str, str]:
    lon, lat = CENTRE
    return {"service_code": "dispute", "lat": str(lat), "long": str(lon), "description": "楼上漏水", **extra}


def errors_of(r) -> list[dict]:
    if r.headers["content-type"].startswith("text/xml"):
        root = ET.fromstring(r.content)
        assert root.tag == "errors"
        return [{"code": int(e.findtext("code")), "description": e.findtext("description")} for e in root]
    return r.json()


def xml(r) -> ET.Element:
    assert r.headers["content-type"].startswith("text/xml"), r.headers["content-type"]
    assert r.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(r.content)  # well-formed, or this raises


def test_discovery_and_services_in_json_and_xml(client, tokens):
    d = client.get("/open311/discovery.json").json()
    (endpoint,) = d["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2") and endpoint["type"] == "production"
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    root = xml(client.get("/open311/discovery.xml"))
    assert root.tag == "discovery" and root.findtext("endpoints/endpoint/url") == endpoint["url"]
    assert {f.text for f in root.findall("endpoints/endpoint/formats/format")} == set(endpoint["formats"])

    public = client.get(f"{V2}/services.json").json()
    codes = {s["service_code"]: s for s in public}
    # The public: the events it may report (no components, no renovation points: the policy's call).
    assert "E0101" in codes and "fire_safety" in codes
    assert "C0101" not in codes and "road" not in codes
    assert codes["E0101"]["service_name"] == "暴露垃圾" and codes["E0101"]["group"] == "市容环境"
    assert codes["E0101"]["metadata"] is False and codes["E0105"]["metadata"] is True
    assert codes["E0101"]["type"] == "realtime"
    staff = {
        s["service_code"]: s for s in client.get(f"{V2}/services.json", headers=bearer(tokens["community"])).json()
    }
    assert staff["C0101"]["metadata"] is True and "road" in staff
    english = {s["service_code"]: s for s in client.get(f"{V2}/services.json?lang=en").json()}
    assert english["fire_safety"]["service_name"] == "fire safety"
    by_header = client.get(f"{V2}/services.json", headers={"Accept-Language": "en-GB,en;q=0.8"}).json()
    assert {s["service_code"]: s["service_name"] for s in by_header}["fire_safety"] == "fire safety"

    root = xml(client.get(f"{V2}/services.xml"))
    assert root.tag == "services"
    assert [s.findtext("service_code") for s in root.findall("service")] == [s["service_code"] for s in public]
    assert root.find("service/metadata").text in ("true", "false")

    definition = client.get(f"{V2}/services/E0105.json").json()
    (condition,) = definition["attributes"]
    assert condition["code"] == "condition" and condition["datatype"] == "singlevaluelist"
    assert [v["key"] for v in condition["values"]] == ["1", "2"]
    root = xml(client.get(f"{V2}/services/E0105.xml"))
    assert root.tag == "service_definition" and root.findtext("attributes/attribute/code") == "condition"
    assert len(root.findall("attributes/attribute/values/value")) == 2
    component = client.get(f"{V2}/services/C0101.json", headers=bearer(tokens["community"])).json()
    assert {a["code"] for a in component["attributes"]} == {"condition", "component_code"}
    assert client.get(f"{V2}/services/rooftop.json").json()["attributes"][0]["code"] == "building_code"

    # Not the public's, not there, or another jurisdiction: 404 in the spec's shape.
    for path in (f"{V2}/services/C0101.json", f"{V2}/services/NOPE.xml", f"{V2}/services.json?jurisdiction_id=x"):
        r = client.get(path)
        assert r.status_code == 404, path
        (error,) = errors_of(r)
        assert error["code"] == 404 and error["description"]
    assert client.get(f"{V2}/services.json?jurisdiction_id={JURISDICTION}").status_code == 200


def test_the_openapi_document_describes_the_errors_in_the_specs_shape(client):
    paths = {p: ops for p, ops in client.get("/openapi.json").json()["paths"].items() if p.startswith("/open311")}
    assert len(paths) == 6
    for path, operations in paths.items():
        for method, op in operations.items():
            responses = op["responses"]
            assert "422" not in responses and {"400", "404", "503"} <= responses.keys(), (method, path)
            listed = responses["400"]["content"]["application/json"]["schema"]
            assert listed["type"] == "array" and listed["items"]["required"] == ["code", "description"]
            assert "text/xml" in responses["400"]["content"] and "Retry-After" in responses["503"]["headers"]
    assert {"403", "409", "415"} <= paths["/open311/v2/requests.{fmt}"]["post"]["responses"].keys()


def test_a_public_report_is_read_back_without_personal_data(client, tokens, engine):
    personal = form(first_name="三丰", last_name="张", phone=PHONE, email=EMAIL, device_id="device-42")
    r = client.post(f"{V2}/requests.json", data=personal)
    assert r.status_code == 201, r.text
    (answer,) = r.json()
    rid = answer["service_request_id"]
    assert answer["report_token"] and answer["service_notice"].startswith("结案条件")
    assert r.headers["Location"].endswith(f"{V2}/requests/{rid}.json")
    # Stored as any report is: geotagged, in its workflow, the reporter kept for the staff only.
    staff_view = client.get(f"/api/v1/incidents/{rid}", headers=bearer(tokens["community"])).json()["properties"]
    assert staff_view["grid"] == "441802001001001" and staff_view["reporter_name"] == NAME
    assert staff_view["reporter_phone"] == PHONE and staff_view["category"] == "dispute"

    bodies = []
    for caller in ({}, bearer(tokens["community"])):  # for any caller
        for path in (
            f"{V2}/requests/{rid}.json",
            f"{V2}/requests/{rid}.xml",
            f"{V2}/requests.json",
            f"{V2}/requests.xml",
        ):
            got = client.get(path, headers=caller)
            assert got.status_code == 200, got.text
            bodies.append(got.content.decode())
    for body in bodies:
        for secret in (*PERSONAL, answer["report_token"]):
            assert secret not in body
    (one,) = client.get(f"{V2}/requests/{rid}.json").json()
    assert one["service_request_id"] == rid and one["status"] == "open" and one["service_code"] == "dispute"
    assert one["description"] == "楼上漏水" and one["agency_responsible"] == "人民调解委员会"
    assert one["address_id"] == "T-B001" and one["address"] == "翠湖路1号楼"
    assert one["lat"] == pytest.approx(CENTRE[1]) and one["long"] == pytest.approx(CENTRE[0])
    assert one["requested_datetime"].endswith("Z") and one["expected_datetime"]
    assert one["status_notes"] == "信息收集"
    root = xml(client.get(f"{V2}/requests/{rid}.xml"))
    assert root.tag == "service_requests" and root.findtext("request/service_request_id") == rid
    assert root.findtext("request/status") == "open"


def test_gcj02_coordinates_in_and_out(client):
    gx, gy = (float(v[0]) for v in wgs84_to_gcj02([CENTRE[0]], [CENTRE[1]]))
    r = client.post(f"{V2}/requests.json?crs=gcj02", data=form(lat=str(gy), long=str(gx)))
    assert r.status_code == 201, r.text
    rid = r.json()[0]["service_request_id"]
    (wgs,) = client.get(f"{V2}/requests/{rid}.json").json()
    assert (wgs["long"], wgs["lat"]) == pytest.approx(CENTRE, abs=1e-6)
    (gcj,) = client.get(f"{V2}/requests/{rid}.json?crs=gcj02").json()
    assert (gcj["long"], gcj["lat"]) == pytest.approx((gx, gy), abs=1e-6)
    assert abs(gcj["long"] - wgs["long"]) > 1e-4  # the shift is real


def test_bad_reports_are_lists_of_errors_and_store_nothing(client, tokens, engine):
    before = incident_count(engine)
    lon, lat = CENTRE
    cases = [
        ({"description": "x"}, 400, ["service_code is required", "A location is required"]),
        (form(service_code="NOPE"), 400, ["service_code 'NOPE' not found"]),
        (form(lat="91"), 400, ["lat must be between"]),
        (form(long="east"), 400, ["long must be a number"]),
        (form(lat=""), 400, ["Send both lat and long"]),
        (form(lat="0", long="0"), 400, ["outside the area wangge serves"]),
        (form(**{"attribute[colour]": "red"}), 400, ["attribute[colour] is not an attribute"]),
        (
            form(service_code="E0105", **{"attribute[condition]": "9"}),
            400,
            ["attribute[condition] must be one of 1, 2"],
        ),
        (form(media_url="javascript:alert(1)"), 400, ["media_url must be an http(s) URL"]),
        (form(phone="1" * 40), 400, ["phone"]),
        ({"service_code": "dispute", "address_string": "无此地址"}, 400, ["is not the address, code or name"]),
        (form(service_code="C0101"), 400, ["service_code 'C0101' not found"]),  # not the public's
        (form(service_code="road"), 403, ["Renovation points are proposed by planners"]),
        (form(api_key="not-a-token"), 403, [""]),
        (form(api_key=tokens["viewer"]), 403, ["A viewer may read but not report"]),
        (form(jurisdiction_id="elsewhere"), 404, ["jurisdiction_id 'elsewhere' not found"]),
    ]
    for data, status, messages in cases:
        for ext in ("json", "xml"):
            r = client.post(f"{V2}/requests.{ext}", data=data)
            assert r.status_code == status, (data, r.text)
            errors = errors_of(r)
            assert all(e["code"] == status for e in errors)
            assert len(errors) == len(messages), (data, errors)
            for error, message in zip(errors, messages, strict=True):
                assert message in error["description"], (data, errors)
    r = client.post(f"{V2}/requests.json", json=form())
    assert r.status_code == 415 and errors_of(r)[0]["code"] == 415
    bad_query = client.get(f"{V2}/requests.json?start_date=yesterday")
    assert bad_query.status_code == 400 and "start_date" in errors_of(bad_query)[0]["description"]
    assert (
        client.get(f"{V2}/requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z").status_code
        == 400
    )
    assert client.get(f"{V2}/requests.xml?status=pending").status_code == 400
    # Refused before any handler runs (a NUL in the query), still in the spec's shape.
    nul = client.get(f"{V2}/requests.xml?service_code=%00")
    assert nul.status_code == 400 and "NUL" in errors_of(nul)[0]["description"]
    assert incident_count(engine) == before
    # A location given as a building's code, with lat/long left out, is taken; so is the building
    # an illegal structure is on (its service's attribute).
    r = client.post(f"{V2}/requests.json", data={"service_code": "dispute", "address_string": "T-B001"})
    assert r.status_code == 201, r.text
    rooftop = {"service_code": "rooftop", "attribute[building_code]": "T-B001"}
    r = client.post(f"{V2}/requests.json", data=rooftop)
    assert r.status_code == 201, r.text
    (placed,) = client.get(f"{V2}/requests/{r.json()[0]['service_request_id']}.json?lang=en").json()
    assert (placed["long"], placed["lat"]) == pytest.approx(CENTRE) and placed["address_id"] == "T-B001"
    assert placed["service_name"] == "rooftop addition" and placed["status_notes"] == "reported"
    for wrong in (
        {**rooftop, "attribute[building_code]": "NOPE"},
        form(service_code="rooftop", **{"attribute[building_code]": "NOPE"}),
    ):
        r = client.post(f"{V2}/requests.json", data=wrong)
        assert r.status_code == 400 and "'NOPE' is not the address, code or name" in errors_of(r)[0]["description"]
    assert incident_count(engine) == before + 2


def test_an_api_key_reports_what_its_user_may(client, tokens, engine):
    data = form(service_code="C0101", api_key=tokens["community"], **{"attribute[condition]": "2"})
    r = client.post(f"{V2}/requests.xml", data=data)
    assert r.status_code == 201, r.text
    rid = xml(r).findtext("request/service_request_id")
    with session_scope(engine) as s:
        incident = s.get(Incident, int(rid))
        entry = s.get(CatalogueEntry, incident.catalogue_entry_id)
        # Registered under the 立案条件 chosen, with its time limit.
        assert (entry.category, entry.condition_no) == ("C0101", 2)
        assert (incident.time_limit, incident.time_unit) == (entry.time_limit, entry.time_unit)
    # A planner's token proposes a renovation point, which the public may not.
    r = client.post(f"{V2}/requests.json", data=form(service_code="road", api_key=tokens["planner"]))
    assert r.status_code == 201, r.text
    # The Bearer header works as well as the form's api_key.
    r = client.post(f"{V2}/requests.json", data=form(service_code="road"), headers=bearer(tokens["planner"]))
    assert r.status_code == 201, r.text


def test_a_retry_with_its_idempotency_key_reports_once(client, engine):
    before = incident_count(engine)
    for ext in ("json", "xml"):
        key = {"Idempotency-Key": str(uuid.uuid4())}
        first = client.post(f"{V2}/requests.{ext}", data=form(), headers=key)
        again = client.post(f"{V2}/requests.{ext}", data=form(), headers=key)
        assert first.status_code == again.status_code == 201
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.content == first.content and again.headers["content-type"] == first.headers["content-type"]
        other = client.post(f"{V2}/requests.{ext}", data=form(description="另一件事"), headers=key)
        assert other.status_code == 409 and errors_of(other)[0]["code"] == 409
    multipart_key = {"Idempotency-Key": str(uuid.uuid4())}
    fields = {k: (None, v) for k, v in form().items()}
    first = client.post(f"{V2}/requests.json", files=fields, headers=multipart_key)
    again = client.post(f"{V2}/requests.json", files=fields, headers=multipart_key)
    assert first.status_code == 201, first.text
    assert again.json() == first.json()
    assert incident_count(engine) == before + 3


def test_requests_are_selected_by_id_code_status_and_time(client, tokens, engine):
    ids = [
        client.post(f"{V2}/requests.json", data=form(service_code=c)).json()[0]["service_request_id"]
        for c in ("dispute", "aid", "aid")
    ]
    with session_scope(engine) as s:  # one of them closed, as its workflow closes incidents
        s.get(Incident, int(ids[2])).status = "closed"
    listed = client.get(f"{V2}/requests.json").json()
    assert [r["service_request_id"] for r in listed] == ids[::-1]  # newest first
    assert {r["service_request_id"] for r in client.get(f"{V2}/requests.json?service_code=aid").json()} == set(ids[1:])
    assert [r["service_request_id"] for r in client.get(f"{V2}/requests.json?status=closed").json()] == [ids[2]]
    assert {r["service_request_id"] for r in client.get(f"{V2}/requests.json?status=open").json()} == set(ids[:2])
    assert len(client.get(f"{V2}/requests.json?status=open,closed").json()) == 3
    picked = client.get(f"{V2}/requests.xml?service_request_id={ids[0]},{ids[2]}&status=open")
    assert [r.findtext("service_request_id") for r in xml(picked).findall("request")] == [ids[0], ids[2]]
    assert (
        client.get(f"{V2}/requests.json?start_date=2020-01-01T00:00:00Z&end_date=2020-02-01T00:00:00%2B08:00").json()
        == []
    )
    closed = client.get(f"{V2}/requests/{ids[2]}.json").json()[0]
    assert closed["status"] == "closed" and closed["expected_datetime"] is None
    assert client.get(f"{V2}/requests/999999.json").status_code == 404
    assert client.get(f"{V2}/requests/abc.xml").status_code == 400
    # A token is another public name of a request: its id (or its code), nothing more.
    (token,) = client.get(f"{V2}/tokens/{ids[0]}.json").json()
    assert token == {"service_request_id": ids[0], "token": ids[0]}
    assert xml(client.get(f"{V2}/tokens/{ids[0]}.xml")).findtext("request/service_request_id") == ids[0]
    assert client.get(f"{V2}/tokens/nope.json").status_code == 404


def test_the_georeport_client_reads_the_demo_and_reports_at_an_address(db_url, demo, serve_wangge):
    base = serve_wangge(db_url)
    with session_scope(demo) as s:
        building = s.scalars(select(Building).where(Building.address.is_not(None)).order_by(Building.code)).first()
        address, code = building.address, building.code
        demo_people = {
            p for row in s.execute(select(Incident.reporter_name, Incident.reporter_phone)) for p in row if p
        }
    with httpx.Client(base_url=base, timeout=60) as http:
        r = http.post(
            f"{V2}/requests.json", data={"service_code": "fire_safety", "address_string": address, "first_name": NAME}
        )
        assert r.status_code == 201, r.text
        rid = r.json()[0]["service_request_id"]
        raw = [
            http.get(
                f"{V2}/requests.{ext}",
                params={"start_date": "2025-01-01T00:00:00Z", "end_date": "2025-03-31T00:00:00Z"},
            ).text
            for ext in ("json", "xml")
        ]
    assert demo_people
    for fmt in ("json", "xml"):
        client = GeoReport(f"{base}{V2}", jurisdiction=JURISDICTION, output_format=fmt)
        services = client.get_service_list()
        assert "fire_safety" in {s["service_code"] for s in services}
        definition = client.get_service_definition("E0105")
        assert definition["service_code"] == "E0105"
        mine = client.get_service_request(rid)
        assert mine["service_request_id"] == rid and mine["address_id"] == code and mine["address"] == address
        recent = client.get_service_requests(status="open")
        recent = recent if isinstance(recent, list) else [recent]  # xmltodict: one request is a dict
        assert rid in {r["service_request_id"] for r in recent}
        old = client.get_service_requests(start_date="2025-03-01T00:00:00Z", end_date="2025-05-30T00:00:00Z")
        old = old if isinstance(old, list) else [old]
        assert old and all(r["requested_datetime"] < "2025-05-30T00" for r in old)
        raw.append(str(old))
    for body in raw:
        assert not any(p in body for p in (*demo_people, NAME))


def test_concurrent_reports_are_each_stored_once(db_url, world, engine, serve_wangge):
    base = serve_wangge(db_url)
    before = incident_count(engine)
    keys = [str(uuid.uuid4()) for _ in range(8)]
    answers: list[tuple[int, str]] = [(0, "")] * 8
    with httpx.Client(base_url=base, timeout=60) as http:

        def send(i: int) -> None:
            r = http.post(
                f"{V2}/requests.json", data=form(description=f"第{i}件"), headers={"Idempotency-Key": keys[i]}
            )
            answers[i] = (r.status_code, r.text)

        first = None
        for _ in range(2):  # the second round retries every report with its key
            threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            assert [status for status, _ in answers] == [201] * 8, answers
            first = first or list(answers)
            assert answers == first  # the retries got the first answers
    assert incident_count(engine) == before + 8
    assert len({text for _, text in answers}) == 8
