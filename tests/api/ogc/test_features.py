"""OGC API Features over HTTP in-process: landing page, conformance, collections, items with
their filters and paging, CRS (part 2), writes with ETags (part 4), errors in OGC's shape, HTML,
and personal data kept from the public."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import func, select

from geo.db.session import session_scope
from geo.models import Building, Estate, Grid
from geo.spatial.geometry import from_db
from tests.support.world import bearer

OGC = "/ogc"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


@pytest.fixture
def staff(demo, add_token) -> dict:
    """The demo community and a community staff member's token (writes need one)."""
    return bearer(add_token("staff", "community"))


def test_landing_conformance_collections(demo, client):
    landing = client.get(OGC)
    assert landing.status_code == 200 and landing.headers["content-type"].startswith("application/json")
    rels = {link["rel"]: link for link in landing.json()["links"]}
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert rels["service-desc"]["href"].endswith("/ogc/api")
    assert rels["data"]["href"].endswith("/ogc/collections")
    assert {"self", "alternate", "service-doc", "conformance"} <= set(rels)
    classes = client.get(OGC + "/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in classes
    assert "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete" in classes
    found = client.get(OGC + "/collections").json()["collections"]
    names = [c["id"] for c in found]
    assert "grids" in names and "incidents" in names and "patrols" not in names  # the public sees no tracks
    grids = next(c for c in found if c["id"] == "grids")
    with session_scope(demo) as s:
        bounds = shapely.total_bounds(np.array([from_db(g) for g in s.scalars(select(Grid.geom))]))
    assert grids["extent"]["spatial"]["bbox"][0] == pytest.approx(list(bounds), abs=1e-9)
    assert grids["storageCrs"] == CRS84 and EPSG + "4490" in grids["crs"] and grids["itemType"] == "feature"
    incidents = client.get(OGC + "/collections/incidents").json()
    assert incidents["extent"]["temporal"]["interval"][0][0] is not None
    assert client.get(OGC + "/collections/patrols").status_code == 404


def test_items_count_paging_and_filters(demo, client):
    with session_scope(demo) as s:
        total = s.scalar(select(func.count()).select_from(Building))
        code = s.scalar(select(Building.code).order_by(Building.id).limit(1))
    page = client.get(OGC + "/collections/buildings/items")
    assert page.status_code == 200 and page.headers["content-type"] == "application/geo+json"
    body = page.json()
    assert body["numberMatched"] == total and body["numberReturned"] == 10 and "timeStamp" in body
    seen, url = [], OGC + "/collections/buildings/items?limit=100"
    while url:
        answer = client.get(url).json()
        seen += [f["id"] for f in answer["features"]]
        url = next((link["href"] for link in answer["links"] if link["rel"] == "next"), None)
    assert len(seen) == len(set(seen)) == total
    one = client.get(OGC + "/collections/buildings/items", params={"code": code}).json()
    assert [f["properties"]["code"] for f in one["features"]] == [code]


def test_unknown_parameter_is_400_in_ogc_shape(demo, client):
    answer = client.get(OGC + "/collections/grids/items", params={"colour": "red"})
    assert answer.status_code == 400
    assert answer.json()["code"] and "colour" in answer.json()["description"] and "bbox" in answer.json()["description"]
    assert client.get(OGC + "/collections/grids/items", params={"limit": "x"}).status_code == 400
    assert client.get(OGC + "/collections/grids/items", params={"bbox": "1,2,3"}).status_code == 400
    assert client.get(OGC + "/collections/grids/items", params={"crs": "EPSG:9999"}).status_code == 400
    assert client.get(OGC + "/collections/nothing/items").json()["code"] == "NotFound"
    assert client.get(OGC + "/collections/grids/items/abc").status_code == 404
    # Refused before any route (a NUL in the query): in OGC's shape too.
    nul = client.get(OGC + "/collections?f=%00")
    assert nul.status_code == 400 and set(nul.json()) == {"code", "description"}


def test_crs_and_bbox_crs(demo, client):
    first = client.get(OGC + "/collections/buildings/items", params={"limit": 1}).json()["features"][0]
    fid = first["id"]
    lon, lat = first["geometry"]["coordinates"]
    for code, axis_swap in (("4326", True), ("4490", True), ("3857", False)):
        answer = client.get(OGC + f"/collections/buildings/items/{fid}", params={"crs": EPSG + code})
        assert answer.headers["content-crs"] == f"<{EPSG}{code}>"
        expected = Transformer.from_crs("OGC:CRS84", f"EPSG:{code}").transform(lon, lat)
        assert answer.json()["geometry"]["coordinates"] == pytest.approx(list(expected), abs=1e-6)
        if axis_swap:
            assert answer.json()["geometry"]["coordinates"][0] == pytest.approx(lat, abs=1e-4)
    assert client.get(OGC + f"/collections/buildings/items/{fid}").headers["content-crs"] == f"<{CRS84}>"
    # A box around the building given latitude first in EPSG:4326 finds it.
    near = client.get(
        OGC + "/collections/buildings/items",
        params={"bbox": f"{lat - 1e-5},{lon - 1e-5},{lat + 1e-5},{lon + 1e-5}", "bbox-crs": EPSG + "4326"},
    ).json()
    assert fid in [f["id"] for f in near["features"]]
    x, y = Transformer.from_crs("OGC:CRS84", "EPSG:3857", always_xy=True).transform(lon, lat)
    near = client.get(
        OGC + "/collections/buildings/items",
        params={"bbox": f"{x - 1},{y - 1},{x + 1},{y + 1}", "bbox-crs": EPSG + "3857"},
    ).json()
    assert fid in [f["id"] for f in near["features"]]


def test_personal_data_only_for_whom_it_is_for(demo, client, add_token):
    public = client.get(OGC + "/collections/incidents/items", params={"limit": 1000}).json()["features"]
    assert public and not any("reporter_phone" in f["properties"] for f in public)
    responders = client.get(OGC + "/collections/responders/items", params={"limit": 1000}).json()["features"]
    phones = [f["properties"].get("phone") for f in responders if f["properties"].get("phone")]
    assert phones and all("*" in p for p in phones)  # masked, as /api/v1 shows them to the public
    staff = bearer(add_token("boss", "community"))
    seen = client.get(OGC + "/collections/incidents/items", params={"limit": 1000}, headers=staff).json()["features"]
    assert any("reporter_phone" in f["properties"] for f in seen)
    assert "patrols" in [c["id"] for c in client.get(OGC + "/collections", headers=staff).json()["collections"]]


def test_html_by_accept_and_f(demo, client):
    page = client.get(OGC + "/collections/grids/items", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "网格" in page.text
    english = client.get(OGC + "/collections", params={"f": "html", "lang": "en"})
    assert "Collections" in english.text and english.headers["content-type"].startswith("text/html")
    assert client.get(OGC, params={"f": "html"}).text.startswith("<!DOCTYPE html>")


def test_etag_if_match(demo, client, staff):
    fid = client.get(OGC + "/collections/estates/items", params={"limit": 1}).json()["features"][0]["id"]
    url = OGC + f"/collections/estates/items/{fid}"
    read = client.get(url)
    tag = read.headers["etag"]
    props = {"name": read.json()["properties"]["name"], "property_company": "新物业"}
    body = {"type": "Feature", "geometry": read.json()["geometry"], "properties": props}
    stale = client.put(url, json=body, headers={**staff, "If-Match": '"nope"'})
    assert stale.status_code == 412
    assert client.get(url).headers["etag"] == tag
    done = client.put(url, json=body, headers={**staff, "If-Match": tag})
    assert done.status_code == 200, done.text
    assert done.headers["etag"] != tag and done.json()["properties"]["property_company"] == "新物业"
    assert (
        client.patch(
            url, json={"properties": {"property_company": "x"}}, headers={**staff, "If-Match": tag}
        ).status_code
        == 412
    )
    assert client.delete(url, headers={**staff, "If-Match": tag}).status_code == 412
    assert client.delete(url, headers={**staff, "If-Match": done.headers["etag"]}).status_code == 204
    assert client.get(url).status_code == 404


def test_datetime_instant_and_intervals(demo, client):
    everything = client.get(OGC + "/collections/incidents/items", params={"limit": 10_000}).json()["features"]
    created = sorted(datetime.fromisoformat(f["properties"]["created_at"]) for f in everything)
    mid = created[len(created) // 2]
    stamp = mid.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def count(value: str) -> int:
        answer = client.get(OGC + "/collections/incidents/items", params={"datetime": value, "limit": 1})
        assert answer.status_code == 200, answer.text
        return answer.json()["numberMatched"]

    assert count(f"../{stamp}") == sum(c <= mid for c in created)
    assert count(f"{stamp}/..") == sum(c >= mid for c in created)
    assert count(f"{stamp}/{stamp}") == count(stamp) == sum(c == mid for c in created) >= 1
    day = mid.astimezone(timezone(timedelta(hours=8))).date()
    assert count(day.isoformat()) == sum(c.astimezone(timezone(timedelta(hours=8))).date() == day for c in created)
    for bad in ("yesterday", "../..", f"{stamp}/2000-01-01T00:00:00Z"):
        assert client.get(OGC + "/collections/incidents/items", params={"datetime": bad}).status_code == 400
    # Estates have no time to filter on.
    assert client.get(OGC + "/collections/estates/items", params={"datetime": stamp}).status_code == 400


def test_queryables_and_the_openapi_document(demo, client):
    answer = client.get(OGC + "/collections/incidents/queryables")
    assert answer.headers["content-type"] == "application/schema+json"
    schema = answer.json()
    assert schema["properties"]["created_at"]["format"] == "date-time"
    assert "reporter_phone" not in schema["properties"] and "geometry" in schema["properties"]
    doc = client.get(OGC + "/api")
    assert doc.headers["content-type"] == "application/vnd.oai.openapi+json;version=3.0"
    doc = doc.json()
    assert doc["openapi"].startswith("3.0") and doc["servers"][0]["url"].endswith("/ogc")
    for layer in ("grids", "buildings", "incidents"):
        params = {p.get("name") for p in doc["paths"][f"/collections/{layer}/items"]["get"]["parameters"]}
        wanted = set(client.get(OGC + f"/collections/{layer}/queryables").json()["properties"]) - {"geometry"}
        assert wanted <= params, layer
    assert "/collections/{collectionId}/items" in doc["paths"]
    assert any(p.startswith("/ogc/collections") for p in client.get("/openapi.json").json()["paths"])


def test_html_is_escaped(demo, client, staff):
    with session_scope(demo) as s:
        estate = s.scalars(select(Estate).order_by(Estate.id)).first()
        estate.property_company = "<script>alert(1)</script>"
        fid = estate.id
    page = client.get(OGC + f"/collections/estates/items/{fid}", params={"f": "html"})
    assert "<script>alert" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    listing = client.get(OGC + "/collections/estates/items", params={"f": "html", "limit": 1000})
    assert "<script>alert" not in listing.text


def test_writes_take_the_body_crs_and_need_a_writer(demo, client, staff):
    with session_scope(demo) as s:
        at = from_db(s.scalars(select(Grid.geom).order_by(Grid.id)).first()).representative_point()
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [at.y, at.x]},
        "properties": {"code": "OGC-2", "name": "楼"},
    }
    refused = client.post(OGC + "/collections/buildings/items", json=body, headers={"Content-Crs": f"<{EPSG}4326>"})
    assert refused.status_code == 401 and refused.json()["code"] == "NotAuthenticated"
    made = client.post(
        OGC + "/collections/buildings/items", json=body, headers={**staff, "Content-Crs": f"<{EPSG}4326>"}
    )
    assert made.status_code == 201, made.text
    assert made.json()["geometry"]["coordinates"] == pytest.approx([at.x, at.y])  # stored lon/lat
    assert made.headers["location"].endswith(f"/ogc/collections/buildings/items/{made.json()['id']}")
    assert made.headers["etag"] == client.get(made.headers["location"]).headers["etag"]
    # A replacement must say where the feature is.
    replaced = client.put(made.headers["location"], json={"properties": {"code": "OGC-2"}}, headers=staff)
    assert replaced.status_code == 422 and replaced.json()["code"] == "InvalidBody"


def test_filter_parameters_reach_the_cql2_translator(demo, client, monkeypatch):
    """``filter``, ``filter-lang`` and ``filter-crs`` are handed to geo/query/cql2.py as given,
    and its condition selects the features; its conformance classes are declared."""
    from geo.query import cql2
    from geo.query.queryables import queryables

    seen = {}

    def parse(text, lang="cql2-text"):
        seen["parsed"] = (text, lang)
        return ("code", text.split("'")[1] if "'" in text else "")

    def condition(layer, tree, filter_crs=None):
        seen["condition"] = (layer, tree, filter_crs)
        return queryables(layer)[tree[0]].expression == tree[1]

    monkeypatch.setattr(cql2, "parse_filter", parse)
    monkeypatch.setattr(cql2, "filter_condition", condition)
    monkeypatch.setattr(cql2, "CONFORMANCE", ("http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",), raising=False)
    with session_scope(demo) as s:
        code = s.scalars(select(Building.code).order_by(Building.id.desc())).first()
    text = f"code = '{code}'"
    answer = client.get(
        OGC + "/collections/buildings/items", params={"filter": text, "filter-crs": EPSG + "4326"}
    ).json()
    assert [f["properties"]["code"] for f in answer["features"]] == [code]
    assert seen["parsed"] == (text, "cql2-text")
    assert seen["condition"][0] == "buildings" and seen["condition"][2].lat_first
    client.get(OGC + "/collections/buildings/items", params={"filter": "{}", "filter-lang": "cql2-json"})
    assert seen["parsed"][1] == "cql2-json"
    assert (
        client.get(OGC + "/collections/buildings/items", params={"filter": text, "filter-lang": "sql"}).status_code
        == 400
    )
    assert (
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text" in client.get(OGC + "/conformance").json()["conformsTo"]
    )
