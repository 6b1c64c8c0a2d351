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
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import ExifTags, Image

from api.v1 import API_PREFIX as API
from geo.access.users import add_user, issue_token, set_password
from geo.db.engine import get_engine
from geo.db.session import session_scope
from geo.io.demo import load_demo
from geo.models import Responder
from geo.spatial.geometry import from_db
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
    tiles = TileServer()
    try:
        base = serve_wangge(db_url, WANGGE_TILE_URL=f"http://{tiles.host}/{{z}}/{{x}}/{{y}}.png")
        yield Served(base, request.node.callspec.params["db_url"], admin, "worker1", (inside.x, inside.y))
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


def sign_in(page, served: Served) -> None:
    page.goto(served.base + "/login?next=/app/")
    page.fill("input[name=username]", served.worker)
    page.fill("input[name=password]", PASSWORD)
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
    sign_in(page, served)
    assert page.locator("#tasks a").count() > 0  # the demo's open incidents in their grid
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
