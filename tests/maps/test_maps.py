"""The maps without a browser: rendered pages reference no external URL, error pages, the
assets wangge serves itself, and the compact incident points the maps load (on both databases)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from sqlalchemy import select

from api.app import create_app
from api.v1 import API_PREFIX as API
from geo.db.session import session_scope
from geo.grids.index import grid_index
from geo.incidents.definitions import is_overdue, workflow
from geo.io.demo import load_demo
from geo.models import Incident
from geo.query.filters import Filters
from geo.query.mappoints import STATES, incident_points
from geo.settings import get_settings
from maps import assets

GEOD = Geod(ellps="WGS84")
# Absolute addresses a page may hold: basemap tile templates (requested only when that basemap
# is shown) and the OpenStreetMap attribution link (a link, never loaded by the page).
ALLOWED_EXTERNAL = re.compile(
    r"^https://(t\{s\}\.tianditu\.gov\.cn|webrd0\{s\}\.is\.autonavi\.com|tile\.openstreetmap\.org)/.*\{z\}|^https://www\.openstreetmap\.org/copyright$"
)
URL = re.compile(r"""(?:https?:)?//[^\s"'<>)\\]+""")


@pytest.fixture
def client(db_url, demo) -> TestClient:
    return TestClient(create_app(db_url, escalate_every_s=0))


def first_grid(engine) -> str:
    with session_scope(engine) as s:
        return str(sorted(grid_index(s).codes)[0])


def map_pages(code: str) -> list[str]:
    return [
        "/maps/incidents",
        "/maps/incidents?lang=en&basemap=none",
        f"/maps/incidents?grid={code}&kind=hazard&status=open&since=2020-01-01",
        f"/maps/grids/{code}",
        f"/maps/grids/{code}?lang=en&basemap=none",
        "/maps/planner",
        "/maps/planner?basemap=amap&lang=en",
    ]


@pytest.mark.parametrize("tianditu", [False, True])
def test_map_pages_load_nothing_from_other_hosts(client, demo, monkeypatch, tianditu):
    if tianditu:
        monkeypatch.setenv("WANGGE_TIANDITU_KEY", "test-key")
        monkeypatch.setenv("WANGGE_TILE_URL", "http://tiles.example.internal/{z}/{x}/{y}.png")
        get_settings.cache_clear()
    for page in ["/", "/?lang=en"] + map_pages(first_grid(demo)):
        response = client.get(page)
        assert response.status_code == 200, (page, response.text[:300])
        html = response.text
        # Every script and stylesheet comes from this service, at a pinned version.
        for tag, attr in (("script", "src"), ("link", "href")):
            for url in re.findall(rf"<{tag}\b[^>]*\b{attr}=[\"']([^\"']+)", html):
                assert url.startswith("/static/"), (page, url)
        decoded = html.replace("\\u0026", "&").replace("\\/", "/")  # JSON inside the page's scripts
        absolute = [u for u in URL.findall(decoded) if not u.startswith("//www.w3.org")]
        for url in absolute:
            if tianditu and url.startswith("http://tiles.example.internal/"):
                continue  # the configured self-hosted tiles
            assert ALLOWED_EXTERNAL.match(url), (page, url)
        if page.startswith("/maps/"):
            assert len(html) < 60_000, "a map page holds settings, not features"
            assert "/static/vendor/leaflet@" + assets.pinned()["leaflet"] in html
    get_settings.cache_clear()


def test_pages_speak_chinese_by_default_and_english_on_request(client, demo):
    code = first_grid(demo)
    zh = client.get("/").text
    en = client.get("/?lang=en").text
    assert "事件地图" in zh and "lang='zh-CN'" in zh and "/docs" in zh and f"/maps/grids/{code}" in zh
    assert "Incident map" in en and "lang='en'" in en and f"/maps/grids/{code}?lang=en" in en
    assert "民生改造点位规划" in client.get("/maps/planner").text
    page = client.get("/maps/planner?lang=en").text
    assert "Renovation planner" in page and '"lang": "en"' in page
    assert "lighting" in page and "照明" not in page.split('"labels"')[1].split('"roles"')[0]


def test_unknown_grid_bad_filters_and_basemaps_get_html_error_pages(client):
    missing = client.get("/maps/grids/999999")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert "999999" in missing.text and "未找到" in missing.text
    assert client.get("/maps/incidents?grid=999999").status_code == 404
    for query, words in [
        ("kind=volcano", "Unknown kind"),
        ("status=frozen", "Unknown status"),
        ("since=yesterday", "ISO 8601"),
        ("basemap=google", "Unknown basemap"),
        ("basemap=tianditu", "WANGGE_TIANDITU_KEY"),
    ]:
        response = client.get(f"/maps/incidents?{query}&lang=en")
        assert response.status_code == 422, query
        assert words in response.text and "Bad request" in response.text


def test_patrol_coverage_layers_their_legends_and_the_grid_maps_day(client, demo):
    code = first_grid(demo)

    def text(path: str) -> str:  # the page, with the words folium writes as \uXXXX in its scripts
        return re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), client.get(path).text)

    page = text(f"/maps/grids/{code}?date=2026-05-10")
    # The day goes to the page's glue, which asks the API for it with the visitor's own sign-in.
    assert '"coverage": {"colours": {' in page and '"date": "2026-05-10"' in page
    assert '"date": null' in client.get(f"/maps/grids/{code}").text  # today, as the API counts it
    for words in ("巡查覆盖", "巡查轨迹", "已走访", "未走访", f"{get_settings().patrol_stale_days} 天未走访"):
        assert words in page, words
    english = text(f"/maps/grids/{code}?lang=en")
    assert "Not visited for 7 days" in english and "Patrol tracks" in english
    for bad in ("yesterday", "2026-13-01", "20260510", "2026-5-1"):
        response = client.get(f"/maps/grids/{code}?date={bad}&lang=en")
        assert response.status_code == 422 and "YYYY-MM-DD" in response.text, bad
    # The incident map's coverage by grid, off until chosen, and its legend of shares.
    incidents = text("/maps/incidents")
    assert "巡查覆盖（本周）" in incidents and "0%–20%" in incidents and "80%–100%" in incidents
    assert '"shareClasses": [[0.2, ' in incidents
    # Components (部件): a layer of their own on both maps, coloured by state.
    for text_ in (page, incidents):
        assert "部件" in text_ and '"componentColours": {"damaged": ' in text_


def test_without_installed_assets_the_maps_answer_503_with_the_setup_command(client, tmp_path, monkeypatch):
    monkeypatch.setenv("WANGGE_MAP_ASSETS_DIR", str(tmp_path / "nothing"))
    get_settings.cache_clear()
    try:
        for page in ("/maps/incidents", "/maps/planner"):
            response = client.get(page)
            assert response.status_code == 503
            assert assets.SETUP_COMMAND in response.text and "npm ci" in response.text
        assert client.get("/").status_code == 200  # the start page needs no assets
    finally:
        get_settings.cache_clear()


def test_vendor_files_are_the_pinned_ones_and_nothing_else(client):
    version = assets.pinned()["leaflet"]
    js = client.get(f"/static/vendor/leaflet@{version}/dist/leaflet.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "immutable" in js.headers["cache-control"]
    fa = assets.pinned()["@fortawesome/fontawesome-free"]
    font = client.get(f"/static/vendor/@fortawesome/fontawesome-free@{fa}/webfonts/fa-solid-900.woff2")
    assert font.status_code == 200 and font.headers["content-type"] == "font/woff2"
    for bad in (
        "leaflet@0.0.1/dist/leaflet.js",
        "leaflet/dist/leaflet.js",
        "left-pad@1.0.0/index.js",
        f"leaflet@{version}/../jquery/package.json",
        f"leaflet@{version}/%2e%2e/%2e%2e/package.json",
        f"leaflet@{version}/",
    ):
        assert client.get(f"/static/vendor/{bad}").status_code == 404, bad
    shared = client.get(f"/static/maps/{assets.SHARED_MODULE}")
    assert shared.status_code == 200 and "WanggeMaps" in shared.text
    for page, module in assets.PAGE_MODULES.items():
        glue = client.get(f"/static/maps/{module}")
        # A module script runs only when served as JavaScript.
        assert glue.status_code == 200 and glue.headers["content-type"].startswith("text/javascript"), module
        assert f'from "./{assets.SHARED_MODULE}"' in glue.text and f'serve("{page}"' in glue.text, module


def test_each_map_page_loads_its_own_module_and_the_shared_one_by_its_content_hash(client, demo):
    code = first_grid(demo)
    for page, path in (("incidents", "/maps/incidents"), ("grid", f"/maps/grids/{code}"), ("planner", "/maps/planner")):
        html = client.get(path).text
        modules = re.findall(r"<script type=\"module\" src=\"([^\"]+)\"></script>", html)
        assert modules == [assets.glue_url(assets.PAGE_MODULES[page])], page
        imports = json.loads(re.search(r'<script type="importmap">(.*?)</script>', html, re.DOTALL).group(1))
        assert imports == {
            "imports": {f"/static/maps/{assets.SHARED_MODULE}": assets.glue_url(assets.SHARED_MODULE)}
        }, page
        assert html.index('<script type="importmap">') < html.index('<script type="module"'), page
        preload = f'<link rel="modulepreload" href="{assets.glue_url(assets.SHARED_MODULE)}">'
        assert html.index('<script type="importmap">') < html.index(preload), page
        # folium's inline script runs first: it leaves the map for the module, and calls nothing of it.
        assert "(window.wanggeMaps = window.wanggeMaps || []).push([" in html and "WanggeMaps.start(" not in html, page


def test_incident_map_and_planner_draw_grids_from_vector_tiles(client, demo):
    from maps.elements import TILE_JS

    for path in ("/maps/incidents", "/maps/planner"):
        html = client.get(path).text
        for _, (package, file) in TILE_JS:
            assert f'src="{assets.vendor_url(package, file)}"' in html, path
        assert '"tiles": "/ogc/tiles/WebMercatorQuad/{z}/{x}/{y}"' in html, path
        assert '"gridsMinZoom": 10' in html and '"gridCodeLengths": [15]' in html, path  # the demo: any zoom tiles have
    # The grid page keeps its one grid as GeoJSON.
    assert "Leaflet.VectorGrid" not in client.get(f"/maps/grids/{first_grid(demo)}").text


def test_a_citys_grids_are_drawn_from_the_zoom_where_a_view_holds_a_few_thousand():
    from maps.common import grids_min_zoom

    city = (112.85, 23.5, 113.25, 23.9)
    assert grids_min_zoom(12, city) == 0 and grids_min_zoom(3_000, city) == 0
    assert grids_min_zoom(100_000, city) == 15
    assert grids_min_zoom(400_000, city) == 16  # four times as dense: one zoom in
    assert grids_min_zoom(100_000, None) == 0


def test_the_lock_file_pins_what_package_json_asks_for():
    lock = json.loads((assets.ASSETS_DIR / "package-lock.json").read_text(encoding="utf-8"))
    for package, version in assets.pinned().items():
        assert lock["packages"][f"node_modules/{package}"]["version"] == version
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{package} must be pinned to one version"
    assert assets.missing() == [], "run scripts/test.sh (it installs the map assets)"


def test_every_kind_category_and_role_has_a_label_in_both_languages():
    from geo.catalogue.default import default_categories
    from geo.models import KNOWN_ROLES, UserRole
    from geo.query.mappoints import KINDS
    from maps import i18n

    assert i18n.LANGS == ("zh", "en")
    for lang in i18n.LANGS:
        words = json.loads((i18n.LOCALES_DIR / f"{lang}.json").read_text(encoding="utf-8"))
        assert set(words) == {"text", "kinds", "categories", "roles", "draw", "login", "dashboard"}, lang
        assert set(words["dashboard"]) == set(i18n.DASHBOARD["zh"]), lang
        assert set(words["login"]) == set(i18n.LOGIN["zh"]), lang  # the sign-in pages say everything in both
        # The maps name the signed-in user's role.
        assert all(words["text"].get(f"user_role_{r.value}") for r in UserRole), lang
        for kind in KINDS:
            assert i18n.KINDS[lang].get(kind), (lang, kind)
        catalogue = default_categories()
        names = i18n.Catalogue.default().names
        for kind, categories in catalogue.items():
            assert kind in KINDS, kind
            for category in categories:  # English where the locale has it, else the catalogue's Chinese
                assert i18n.CATEGORY_LABELS[lang].get(category) or names[category], (lang, kind, category)
        for role in KNOWN_ROLES:
            assert i18n.ROLES[lang].get(role), (lang, role)
        labels = i18n.labels(lang)
        assert all(
            labels["categories"][k][c] == (i18n.CATEGORY_LABELS[lang].get(c) if lang != "zh" else None) or names[c]
            for k, cs in catalogue.items()
            for c in cs
        )
        assert labels["roles"] == {r: i18n.ROLES[lang][r] for r in KNOWN_ROLES}
    # Both languages say the same things (Leaflet.draw keeps its own English where none is given).
    for part in ("TEXT", "KINDS", "CATEGORY_LABELS", "ROLES"):
        zh, en = getattr(i18n, part)["zh"], getattr(i18n, part)["en"]
        assert set(zh) == set(en), (part, set(zh) ^ set(en))
        assert all(isinstance(v, str) and v for v in [*zh.values(), *en.values()]), part
    assert i18n.t("zh", "incidents_title") == "事件地图" and i18n.t("en", "incidents_title") == "Incident map"


def test_folium_resources_unknown_to_wangge_are_refused():
    import folium
    from branca.element import MacroElement
    from folium.elements import JSCSSMixin

    class Gadget(JSCSSMixin, MacroElement):
        default_js = [("gadget", "https://cdn.example.org/gadget.js")]

    m = folium.Map(tiles=None)
    Gadget().add_to(m)
    with pytest.raises(assets.UnknownAsset, match="gadget"):
        assets.render(m)
    # Every resource folium's own elements ask for is known, by name.
    from folium import plugins

    m = folium.Map(tiles=None)
    for element in (
        plugins.MarkerCluster(),
        plugins.HeatMap([]),
        plugins.Fullscreen(),
        plugins.LocateControl(),
        plugins.Draw(),
    ):
        element.add_to(m)
    html = assets.render(m)
    assert "cdn" not in html and "cloudflare" not in html


# --------------------------------------------------------------------------- /incidents/points


def _incidents(engine) -> list[Incident]:
    with session_scope(engine) as s:
        rows = s.scalars(select(Incident).where(Incident.deleted_at.is_(None)).order_by(Incident.id)).all()
        for r in rows:
            r.grid_code = r.grid.code if r.grid else None
            from geo.spatial.geometry import from_db

            r.point = from_db(r.geom)
        s.expunge_all()
        return rows


def _state(incident: Incident, now: datetime) -> str:
    if not workflow(incident.kind).is_open(incident.status):
        return "closed"
    return "overdue" if is_overdue(incident, now) else "open"


def test_points_are_every_matching_incident_with_its_state(client, demo):
    now = datetime.now(UTC)
    incidents = _incidents(demo)
    answer = client.get(f"{API}/incidents/points", params={"limit": 5000}).json()
    assert answer["mode"] == "points" and answer["numberMatched"] == len(incidents) == len(answer["points"])
    by_id = {i.id: i for i in incidents}
    for pid, lon, lat, kind, state in answer["points"]:
        incident = by_id[pid]
        assert answer["kinds"][kind] == incident.kind
        assert answer["states"][state] == _state(incident, now)
        assert abs(lon - incident.point.x) < 1e-6 and abs(lat - incident.point.y) < 1e-6
    # Filters, each checked against a count made here.
    code = incidents[0].grid_code
    for params, keep in [
        ({"kind": "hazard"}, lambda i: i.kind == "hazard"),
        ({"grid": code}, lambda i: i.grid_code == code),
        ({"status": "closed"}, lambda i: _state(i, now) == "closed"),
        ({"status": "open"}, lambda i: _state(i, now) != "closed"),
        ({"status": "overdue"}, lambda i: _state(i, now) == "overdue"),
        ({"status": "reported"}, lambda i: i.status == "reported"),
        ({"kind": "renovation", "category": "lighting"}, lambda i: i.kind == "renovation" and i.category == "lighting"),
        ({"since": "2000-01-01"}, lambda i: True),
        ({"since": (now + timedelta(days=1)).isoformat()}, lambda i: False),
    ]:
        got = client.get(f"{API}/incidents/points", params=params).json()
        assert sorted(p[0] for p in got["points"]) == sorted(i.id for i in incidents if keep(i)), params
    # The bounding box goes through the spatial index and keeps what lies in it.
    xs = np.array([i.point.x for i in incidents])
    ys = np.array([i.point.y for i in incidents])
    x0, x1, y0, y1 = np.quantile(xs, 0.25), np.quantile(xs, 0.75), np.quantile(ys, 0.25), np.quantile(ys, 0.75)
    got = client.get(f"{API}/incidents/points", params={"bbox": f"{x0},{y0},{x1},{y1}"}).json()
    inside = [i.id for i in incidents if x0 <= i.point.x <= x1 and y0 <= i.point.y <= y1]
    assert 0 < len(inside) < len(incidents)
    assert sorted(p[0] for p in got["points"]) == sorted(inside)


def test_more_than_limit_comes_as_counts_per_cell(client, demo):
    now = datetime.now(UTC)
    incidents = _incidents(demo)
    answer = client.get(f"{API}/incidents/points", params={"limit": 10, "cell": 0.002}).json()
    assert answer["mode"] == "cells" and answer["numberMatched"] == len(incidents)
    assert answer["fields"] == ["lon", "lat", "kind", "count", "overdue", "closed"]
    assert sum(c[3] for c in answer["cells"]) == len(incidents)
    for kind_index, kind in enumerate(answer["kinds"]):
        of_kind = [i for i in incidents if i.kind == kind]
        cells = [c for c in answer["cells"] if c[2] == kind_index]
        assert sum(c[3] for c in cells) == len(of_kind)
        assert sum(c[4] for c in cells) == sum(_state(i, now) == "overdue" for i in of_kind)
        assert sum(c[5] for c in cells) == sum(_state(i, now) == "closed" for i in of_kind)
    # Each cell sits at the mean position of its incidents, inside the cell.
    for lon, lat, _k, _n, _o, _c in answer["cells"]:
        assert any(abs(i.point.x - lon) < 0.002 and abs(i.point.y - lat) < 0.002 for i in incidents)
    coarse = client.get(f"{API}/incidents/points", params={"limit": 10, "cell": 1}).json()
    assert len(coarse["cells"]) <= len(answer["kinds"])


def test_points_in_gcj02_sit_where_amap_draws_them(client, demo):
    plain = client.get(f"{API}/incidents/points").json()["points"]
    shifted = client.get(f"{API}/incidents/points", params={"crs": "gcj02"}).json()["points"]
    assert [p[0] for p in plain] == [p[0] for p in shifted]
    for a, b in zip(plain, shifted, strict=True):
        _, _, metres = GEOD.inv(a[1], a[2], b[1], b[2])
        assert 300 < metres < 700  # the GCJ-02 offset around Qingyuan


def test_points_refuse_what_they_do_not_understand(client):
    for params, words in [
        ({"kind": "volcano"}, "Unknown kind"),
        ({"status": "frozen"}, "Unknown status"),
        ({"kind": "hazard", "status": "proposed"}, "Unknown status"),
        ({"category": "lighting", "kind": "hazard"}, "Unknown category"),
        ({"bbox": "1,2,3"}, "four numbers"),
        ({"limit": 0}, "limit"),
        ({"cell": -1}, "cell"),
    ]:
        response = client.get(f"{API}/incidents/points", params=params)
        assert response.status_code == 422, params
        assert words in response.json()["detail"], (params, response.json())
    # /incidents/points is not taken for an incident id, and an id still works.
    assert client.get(f"{API}/incidents/1").status_code == 200


def test_point_query_in_process(session):
    load_demo(session)
    session.flush()
    answer = incident_points(session, Filters(kind="renovation"), limit=1000)
    assert answer["states"] == list(STATES)
    assert answer["numberMatched"] == len(answer["points"]) > 0
    assert {answer["kinds"][p[3]] for p in answer["points"]} == {"renovation"}


def test_screenshots_folder_is_not_committed():
    ignored = (Path(__file__).resolve().parents[2] / ".gitignore").read_text(encoding="utf-8").split()
    assert "test-artifacts/" in ignored and "node_modules" in ignored  # a folder or a link


def test_amap_pages_ask_for_gcj02_and_fit_the_shifted_grids(client, demo):
    wgs = client.get("/maps/incidents?basemap=none").text
    gcj = client.get("/maps/incidents?basemap=amap").text
    assert '"frame": "wgs84"' in wgs and '"frame": "gcj02"' in gcj
    fit = re.compile(r"fitBounds\(\s*\[\[([\d.]+), ([\d.]+)\]")
    (lat_w, lon_w), (lat_g, lon_g) = (tuple(map(float, fit.search(page).groups())) for page in (wgs, gcj))
    _, _, metres = GEOD.inv(lon_w, lat_w, lon_g, lat_g)
    assert 300 < metres < 700
    # Every basemap is in the layer control; only the chosen one is on the map at first.
    for name in ("OpenStreetMap", "高德地图", "无底图"):
        assert json.dumps(name)[1:-1] in gcj  # the layer control's names are JSON in the script
