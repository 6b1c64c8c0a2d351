"""The worker app in a real headless Chromium (Debian's, driven by Playwright) on a phone's
screen with an emulated GPS inside a demo grid, against a real ``wangge serve`` with the demo,
on SpatiaLite and on PostGIS.

A grid worker signs in at /login, sees their tasks, reports a hazard with a photo (a JPEG with
EXIF GPS made here) and carries it to ``rectified`` with an ``after`` photo; the same report made
with the network cut after the first visit waits in the outbox and is sent exactly once when the
network returns; and Chromium finds nothing that keeps the app from being installed.
Screenshots go to ``test-artifacts/app/`` (not committed).
"""

from __future__ import annotations

import io
import itertools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
import shapely
from PIL import ExifTags, Image
from pyproj import Geod, Transformer
from shapely.geometry import LineString, shape

from api.v1 import API_PREFIX as API
from geo.access.users import add_user, issue_token, set_password
from geo.db.engine import get_engine
from geo.db.session import session_scope
from geo.io.demo import DEMO_ACCOUNTS, load_demo
from geo.models import Responder
from geo.spatial.geometry import from_db
from geo.timezones import CHINA_TIME
from maps.common import COVERAGE_COLOURS as COLOURS
from maps.common import SHARE_CLASSES
from tests.conftest import CHROMIUM
from tests.maps.test_maps_browser import TileServer

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "app"
PHONE = {"width": 390, "height": 844}
PASSWORD = "Wangge-test-2027"
READY = 'html[data-ready="1"] main'
OFFLINE_READY = 'html[data-offline-ready="1"] main'  # the service worker controls the page


@dataclass
class Served:
    base: str
    backend: str
    admin: str  # a bearer token, for checking through the API
    worker: str  # the grid worker's username
    where: tuple[float, float]  # a point inside the worker's grid (lon, lat)
    responder: int = 0  # the grid worker's responder

    def post(self, path: str, json: dict, etag: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.admin}", **({"If-Match": etag} if etag else {})}
        r = httpx.post(self.base + API + path, json=json, headers=headers)
        assert r.status_code in (200, 201), r.text
        return r

    def api(self, path: str, **params):
        r = httpx.get(self.base + API + path, params=params, headers={"Authorization": f"Bearer {self.admin}"})
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def served(db_url, request, serve_wangge) -> Served:
    engine = get_engine(db_url)
    with session_scope(engine) as s:
        load_demo(s)
        responder = s.query(Responder).filter_by(role="grid_worker").order_by(Responder.id).first()
        inside = from_db(responder.grids[0].geom).representative_point()
        worker = add_user(s, "worker1", "grid_worker", responder_code=responder.code)
        set_password(s, worker, PASSWORD)
        admin = issue_token(s, add_user(s, "admin1", "admin"))
        responder_id = responder.id
    tiles = TileServer()
    try:
        base = serve_wangge(db_url, WANGGE_TILE_URL=f"http://{tiles.host}/{{z}}/{{x}}/{{y}}.png")
        yield Served(base, request.node.callspec.params["db_url"], admin, "worker1", (inside.x, inside.y), responder_id)
    finally:
        tiles.close()


def jpeg_with_gps(lon: float, lat: float, colour=(200, 90, 40)) -> bytes:
    """A real photo file: a JPEG whose EXIF says where it was taken (degrees, minutes, seconds)."""

    def dms(value: float) -> tuple[float, float, float]:
        degrees = int(value)
        minutes = int((value - degrees) * 60)
        return (float(degrees), float(minutes), round(((value - degrees) * 60 - minutes) * 60, 4))

    image = Image.new("RGB", (640, 480), colour)
    exif = Image.Exif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = dms(lat)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = dms(lon)
    exif[ExifTags.Base.DateTimeOriginal] = "2027:05:10 10:00:00"
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=85)
    return out.getvalue()


@pytest.fixture
def phone(browser, served, tmp_path):  # noqa: F811
    lon, lat = served.where
    # A profile on disk, as a phone's browser has: Chromium does not install apps in incognito.
    context = browser.browser_type.launch_persistent_context(
        tmp_path / "profile",
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        geolocation={"latitude": lat, "longitude": lon},
        permissions=["geolocation"],
        service_workers="allow",
    )
    page = context.pages[0] if context.pages else context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield context, page, errors
    context.close()
    assert errors == []


def shot(page, served: Served, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{served.backend}.png"), full_page=True)


def sign_in(page, served: Served, username: str | None = None, password: str = PASSWORD) -> None:
    page.goto(served.base + "/login?next=/app/")
    page.fill("input[name=username]", username or served.worker)
    page.fill("input[name=password]", password)
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_url(served.base + "/app/")
    page.wait_for_selector(READY)


def photo_file(served: Served, name: str, colour) -> dict:
    return {"name": name, "mimeType": "image/jpeg", "buffer": jpeg_with_gps(*served.where, colour=colour)}


def fill_report(page, served: Served, title: str) -> None:
    page.locator(".tabs a[href='/app/report']").click()
    page.wait_for_selector("#report-form")
    page.select_option("#kind", "hazard")
    page.select_option("#category", "fire_safety")
    page.fill("#title", title)
    page.fill("#description", "楼道堆放杂物，堵塞消防通道")
    page.set_input_files("#camera", files=[photo_file(served, "report.jpg", (200, 90, 40))])


def incidents_titled(served: Served, title: str) -> list[dict]:
    found = served.api("/incidents", kind="hazard", limit=1000)["features"]
    return [f for f in found if f["properties"]["title"] == title]


def photo_stages(served: Served, incident_id: int) -> list[str]:
    answer = served.api(f"/incidents/{incident_id}/photos")
    photos = answer["photos"] if isinstance(answer, dict) else answer
    return sorted(p["stage"] for p in photos)


def act(page, action: str, status: str) -> None:
    page.locator(f"button[data-action='{action}']").click()
    page.wait_for_selector(f"#task-status[data-status='{status}']")


def test_a_grid_worker_reports_a_hazard_with_a_photo_and_rectifies_it(phone, served):
    context, page, _ = phone
    # A resident's report the worker is named to verify on site (核实): a check task.
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(served.where)},
        "properties": {"kind": "case", "category": "dispute", "title": "浏览器测试：待核实"},
    }
    case = httpx.post(served.base + API + "/incidents", json=body)
    assert case.status_code == 201, case.text
    served.post(
        f"/incidents/{case.json()['id']}/assign",
        {"responder_id": served.responder, "checker": True},
        case.headers["ETag"],
    )
    sign_in(page, served)
    assert page.locator("#tasks a").count() > 0  # the demo's open incidents in their grid
    check = page.locator(f"#tasks a[data-task='{case.json()['id']}'] [data-check='verify']")
    assert check.inner_text() == "待核实"
    shot(page, served, "tasks")
    title = "浏览器测试：楼道堆物"
    fill_report(page, served, title)
    page.wait_for_selector("#place-grid")
    assert "441802" in page.locator("#place-grid").inner_text()
    shot(page, served, "report")
    page.locator("#send-report").click()
    page.locator("#created-link").click()
    page.wait_for_selector("#action-form")
    act(page, "confirm", "confirmed")
    act(page, "rectify", "rectifying")
    # The last step needs its "after" photo.
    page.set_input_files("#action-photo", files=[photo_file(served, "after.jpg", (40, 160, 90))])
    page.select_option("#photo-stage", "after")
    act(page, "report_rectified", "rectified")
    shot(page, served, "rectified")
    [incident] = incidents_titled(served, title)
    assert incident["properties"]["status"] == "rectified"
    assert photo_stages(served, incident["id"]) == ["after", "report"]


def test_a_report_made_offline_waits_in_the_outbox_and_is_sent_once(phone, served):
    context, page, _ = phone
    sign_in(page, served)
    # The first visit installs the service worker; from then on the app opens with no network.
    page.wait_for_selector(OFFLINE_READY, timeout=30_000)
    context.set_offline(True)
    page.goto(served.base + "/app/report")
    page.wait_for_selector(READY)
    assert page.locator("#offline").is_visible()
    title = "离线测试：配电箱门损坏"
    fill_report(page, served, title)
    page.locator("#send-report").click()
    page.wait_for_selector("#report-message:has-text('联网后自动发送')")
    page.locator(".tabs a[href='/app/outbox']").click()
    page.wait_for_selector("#outbox-list")
    assert page.locator("#outbox-list li").count() == 2  # the report, and its photo waiting for it
    assert page.locator("#outbox-count").inner_text() == "2"
    # Why it waits, in the worker's language, not the browser's ("Failed to fetch").
    errors = page.locator("#outbox-list .error").all_inner_texts()
    assert all(text == "网络不通：联网后会自动重发" for text in errors), errors
    shot(page, served, "outbox-offline")
    assert incidents_titled(served, title) == []
    context.set_offline(False)  # the "online" event sends the outbox
    page.wait_for_selector("#outbox-count", state="hidden", timeout=30_000)
    [incident] = incidents_titled(served, title)
    assert photo_stages(served, incident["id"]) == ["report"]
    # Opening the app again resends nothing.
    page.goto(served.base + "/app/outbox")
    page.wait_for_selector(READY)
    assert len(incidents_titled(served, title)) == 1


def test_chromium_finds_the_app_installable(phone, served):
    context, page, _ = phone
    page.goto(served.base + "/app/")
    page.wait_for_selector(READY)
    page.wait_for_selector(OFFLINE_READY, timeout=30_000)
    cdp = context.new_cdp_session(page)
    assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == [] and manifest["url"].endswith("/app/manifest.webmanifest")
    shot(page, served, "welcome")


# --------------------------------------------------------------------------- a patrol

# A walk along 翠湖路 in the demo grid worker's grid (lon, lat), passing a row of its buildings.
PATROL_PATH = [(113.04200, 23.69525), (113.04300, 23.69530), (113.04395, 23.69536)]
STEP_M = 6.0  # one fix every STEP_M metres, every 0.4 s: 15 m/s, well under the speed cleaning drops


def walk_points(path: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points STEP_M apart along ``path`` (its corners included)."""
    geod = Geod(ellps="WGS84")
    out = [path[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(path):
        n = max(1, math.ceil(geod.line_length([x0, x1], [y0, y1]) / STEP_M))
        out += [(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(1, n + 1)]
    return out


def near_and_far(served: Served, grid: str) -> tuple[set[str], set[str]]:
    """The grid's buildings surely passed (footprint within 15 m of the path) and surely not
    (over 100 m away), in metres (UTM 49N)."""
    features = served.api("/buildings", grid=grid, limit=1000)["features"]
    utm = Transformer.from_crs(4326, 32649, always_xy=True)

    def to_m(geoms):
        return shapely.transform(geoms, lambda xy: np.column_stack(utm.transform(xy[:, 0], xy[:, 1])))

    footprints = to_m(np.array([shape(f["geometry"]) for f in features]))
    gaps = shapely.distance(footprints, to_m(LineString(PATROL_PATH)))
    codes = [f["properties"]["code"] for f in features]
    return {c for c, d in zip(codes, gaps) if d < 15}, {c for c, d in zip(codes, gaps) if d > 100}


# What a phone does to a page it puts out of sight, and back.
HIDE = "Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true}); document.dispatchEvent(new Event('visibilitychange'))"
SHOW = "delete document.visibilityState; document.dispatchEvent(new Event('visibilitychange'))"


def go_to(context, page, lon: float, lat: float) -> None:
    context.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": 5})
    page.wait_for_timeout(400)


def drawn_coverage(page) -> dict[str, tuple[str, str]]:
    """Building code -> (coverage state, the fill colour its shape is drawn in) on the grid map."""
    return page.evaluate(
        """() => {
            const out = {};
            WanggeMaps.instances[0].layers.coverage.eachLayer((group) => group.eachLayer((l) => {
                out[l.wgCoverage.code] = [l.wgCoverage.state, l._path.getAttribute('fill')];
            }));
            return out;
        }"""
    )


def test_a_patrol_walked_in_the_app_shows_its_buildings_visited_on_the_grid_map(phone, served, browser):
    context, page, _ = phone
    account = next(a for a in DEMO_ACCOUNTS if a.role == "grid_worker")
    near, far = near_and_far(served, account.grid)
    # The demo's own patrol of this morning visited half the grid: the walk goes past others.
    before = set(served.api(f"/grids/{account.grid}/coverage")["visited_buildings"])
    assert len(near - before) >= 3 and far - before, (near, far, before)
    points = walk_points(PATROL_PATH)
    context.set_geolocation({"latitude": points[0][1], "longitude": points[0][0], "accuracy": 5})
    sign_in(page, served, account.username, account.password)

    page.locator(".tabs a[href='/app/patrol']").click()
    page.wait_for_selector("#start-patrol")
    shot(page, served, "patrol-start")
    page.locator("#start-patrol").click()
    page.wait_for_selector("#patrol-code:has-text('XL')")  # the server's number: it has started
    assert page.locator("#recording").is_visible()  # every screen says the position is recorded
    third = len(points) // 3
    for lon, lat in points[:third]:
        go_to(context, page, lon, lat)
    # The worker turns to another app: the phone may stop the page, so what was recorded goes now.
    page.evaluate(HIDE)
    page.wait_for_selector("#patrol-waiting:text-is('0')")
    page.wait_for_selector("#patrol-visited:not(:text-is('0'))")  # the server's figures so far
    page.evaluate(SHOW)
    for lon, lat in points[third : 2 * third]:
        go_to(context, page, lon, lat)
    # A reload: the patrol runs on, with the fixes not yet sent.
    page.reload()
    page.wait_for_selector(READY)
    page.wait_for_selector("#patrol-code:has-text('XL')")
    assert int(page.inner_text("#patrol-recorded")) >= 2 * third
    assert int(page.inner_text("#patrol-waiting")) >= third - 1
    for lon, lat in points[2 * third :]:
        go_to(context, page, lon, lat)
    shot(page, served, "patrol-running")
    recorded = page.evaluate("JSON.parse(localStorage.getItem('wangge-patrol')).recorded")
    patrol_id = page.evaluate("JSON.parse(localStorage.getItem('wangge-patrol')).id")

    page.locator("#end-patrol").click()
    page.wait_for_selector("#patrol-final")
    assert not page.locator("#recording").is_visible()  # recording stopped with the patrol
    shot(page, served, "patrol-ended")
    final = served.api(f"/patrols/{patrol_id}")["properties"]
    assert final["status"] == "ended" and final["checked_in"] is True
    assert final["fixes_received"] == recorded  # every fix sent once: none lost to the reload, none twice
    assert near <= set(final["visited"]) and not far & set(final["visited"])
    assert page.inner_text("#final-visited") == str(final["buildings_visited"])
    assert page.inner_text("#final-checkin") == "已签到（在网格内）"
    assert 150 < final["distance_m"] < 250

    # The grid map, signed in as the grid's worker: the buildings passed are drawn as visited.
    page.goto(f"{served.base}/maps/grids/{account.grid}?basemap=none")
    page.wait_for_selector("#wg-coverage .wg-coverage-summary:not(:empty)", timeout=30_000)
    drawn = drawn_coverage(page)
    after = served.api(f"/grids/{account.grid}/coverage")
    assert {code for code, (state, _) in drawn.items() if state == "visited"} == set(after["visited_buildings"])
    for code in near:
        assert drawn[code] == ["visited", COLOURS["visited"]], code
    for code in far - before:  # not visited for days: highlighted
        assert drawn[code] == ["stale", COLOURS["stale"]], code
    assert page.evaluate("WanggeMaps.instances[0].stats.tracks") >= 1
    shot(page, served, "grid-coverage")

    # The incident map's coverage by grid (off until chosen): the grid walked has a share this week.
    page.goto(f"{served.base}/maps/incidents?basemap=none")
    page.wait_for_selector('html[data-wangge-ready="1"]', timeout=30_000)
    assert not page.evaluate("WanggeMaps.instances[0].map.hasLayer(WanggeMaps.instances[0].layers.coverage)")
    page.tap(".leaflet-control-layers-toggle")
    page.locator(".leaflet-control-layers-overlays label", has_text="巡查覆盖").locator("input").check()
    page.wait_for_selector("html[data-wangge-coverage]")
    # The grids' tiles coloured by share: the share and fill drawn for the grid walked.
    page.wait_for_function("(code) => WanggeMaps.instances[0].coverageShown(code) !== null", arg=account.grid)
    share = page.evaluate("(code) => WanggeMaps.instances[0].coverageShown(code)", account.grid)
    today = datetime.now(CHINA_TIME).date()
    week = served.api("/coverage", start=str(today - timedelta(days=today.weekday())), end=str(today), by="grid")
    assert share[0] > 0 and share[0] == next(r["share"] for r in week["rows"] if r["grid"] == account.grid)
    assert share[1] == next(colour for upto, colour in SHARE_CLASSES if share[0] <= upto)
    # For the picture: a tap on the map off the grids folds the layer list and closes the tooltip
    # the tap on it opened (it fades out); the legend open.
    page.mouse.click(195, 200)
    page.tap(".wg-legend summary")
    page.wait_for_timeout(300)
    shot(page, served, "incidents-coverage")

    # The public sees the shares only: no building's state, no track.
    public = browser.new_page(viewport=PHONE)
    public.goto(f"{served.base}/maps/grids/{account.grid}?basemap=none")
    public.wait_for_selector("#wg-coverage .wg-coverage-note a.wg-sign-in", timeout=30_000)
    assert drawn_coverage(public) == {}
    assert public.evaluate("WanggeMaps.instances[0].layers.tracks.getLayers().length") == 0
    assert f"{after['visited']}/{after['buildings']}" in public.inner_text("#wg-coverage .wg-coverage-summary")
    public.close()
