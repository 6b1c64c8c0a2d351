"""The maps in a real headless Chromium (Debian's, driven by Playwright), against a real
``wangge serve`` with the demo community, on SpatiaLite and on PostGIS.

Every page is opened with ``?basemap=none``: no JavaScript error, and no request to any host but
the service (and, once it is chosen, the test's own tile server). A marker is clicked and its
popup read; layers and basemaps are switched; a planner signs in at /login (no page asks for a
token), draws, moves and renames a renovation point that is then found through the API, and signs
out; drawing without signing in, or with a role that may not plan, is refused with a link to sign
in and stores nothing, and what the API refuses is shown with its message. Screenshots of every map, at a desk's and a phone's size, go to
``test-artifacts/maps/`` (not committed). Last, /docs and every map run with the service's
Content-Security-Policy in force: no violation (screenshots in ``test-artifacts/security/``).
"""

from __future__ import annotations

import math
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from api.v1 import API_PREFIX as API
from geo.access.users import add_user, issue_token
from geo.db.engine import get_engine
from geo.db.session import session_scope
from geo.grids.index import grid_index
from geo.io.demo import DEMO_ACCOUNTS, DemoAccount, load_demo
from tests.support.photos import jpeg, upload

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "maps"
VIEWPORTS = {"desk": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
READY = "document.documentElement.getAttribute('data-wangge-ready') === '1'"
IDLE = "document.documentElement.getAttribute('data-wangge-pending') === '0'"


def _png(width: int = 256, height: int = 256, rgb=(236, 232, 220)) -> bytes:
    """A plain tile, made here."""
    row = b"\x00" + bytes(rgb) * width

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


class TileServer:
    """A self-hosted tile server for the test (WANGGE_TILE_URL): every tile is the same PNG."""

    def __init__(self):
        tile = _png()
        self.requests: list[str] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                seen.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(tile)))
                self.end_headers()
                self.wfile.write(tile)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Served:
    base: str
    host: str
    backend: str
    planner: DemoAccount
    viewer: DemoAccount
    tiles: TileServer
    grid: str
    grid_bounds: tuple[float, float, float, float]

    def api(self, path: str, **params) -> httpx.Response:
        return httpx.get(self.base + API + path, params=params, timeout=30)


@pytest.fixture
def served(db_url, request, serve_wangge) -> Served:
    """``wangge serve`` with the demo (its planner and viewer accounts), and a local tile server."""
    from maps import assets

    assert assets.missing() == [], "the map assets are not installed: run scripts/test.sh"
    engine = get_engine(db_url)
    with session_scope(engine) as s:
        load_demo(s)
    planner, viewer = (next(a for a in DEMO_ACCOUNTS if a.role == role) for role in ("planner", "viewer"))
    with session_scope(engine) as s:
        index = grid_index(s)
        code = str(sorted(index.codes)[5])
        geom = index.geoms[list(index.codes).index(code)]
    tiles = TileServer()
    try:
        base = serve_wangge(
            db_url,
            # The self-hosted basemap: drawn like Amap's tiles (GCJ-02), so choosing it shifts the data.
            WANGGE_TILE_URL=f"http://{tiles.host}/{{z}}/{{x}}/{{y}}.png",
            WANGGE_TILE_CRS="gcj02",
        )
        yield Served(
            base,
            base.removeprefix("http://"),
            request.node.callspec.params["db_url"],
            planner,
            viewer,
            tiles,
            code,
            geom.bounds,
        )
    finally:
        tiles.close()


@dataclass
class Watch:
    """What a page did: JavaScript errors, console errors, and every host it asked."""

    errors: list[str] = field(default_factory=list)
    hosts: set[str] = field(default_factory=set)
    urls: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)  # API refusals the test expects (401, 403)
    aborted: list[str] = field(default_factory=list)  # requests cancelled before their answer

    def attach(self, page):
        page.on("pageerror", lambda e: self.errors.append(f"JavaScript error: {e}"))
        page.on("console", self._console)
        page.on("request", self._request)
        page.on("requestfailed", self._failed)

    def _failed(self, request):
        # ERR_ABORTED is a request the page or the browser cancelled (a reload superseded by the
        # next, a fetch still in flight as the page navigates to sign in), not a failure to serve;
        # where it went is still checked (``hosts``).
        if request.failure == "net::ERR_ABORTED":
            self.aborted.append(request.url)
            return
        self.errors.append(f"request failed: {request.url} {request.failure}")

    def _console(self, message):
        if message.type != "error":
            return
        if "Failed to load resource" in message.text and any(
            f"status of {code}" in message.text for code in ("401", "403")
        ):
            self.refusals.append(message.text)  # the browser notes every refused request
            return
        self.errors.append(f"console error: {message.text}")

    def _request(self, request):
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss"):
            self.hosts.add(parts.netloc)
        self.urls.append(request.url)


def open_map(browser, served: Served, path: str, viewport: str = "desk"):
    # Playwright's wait_for_function runs its predicate through new Function, which the service's
    # Content-Security-Policy refuses: these pages skip it (the Content-Security-Policy test below keeps it).
    page = browser.new_page(viewport=VIEWPORTS[viewport], device_scale_factor=1, bypass_csp=True)
    watch = Watch()
    watch.attach(page)
    page.goto(served.base + path)
    page.wait_for_function(READY, timeout=30_000)
    return page, watch


def sign_in(page, served: Served, account: DemoAccount) -> None:
    """From a map page: its "sign in" link, the /login form, and back to the page, signed in."""
    back = page.url
    page.click(".wg-user .wg-sign-in")
    page.wait_for_url("**/login?**")
    page.fill("#username", account.username)
    page.fill("#password", account.password)
    page.click("form.signin button[type=submit]")
    page.wait_for_url(back)
    page.wait_for_function(READY, timeout=30_000)
    page.wait_for_selector(".wg-user .wg-sign-out")


def no_token_input(page) -> None:
    """No page asks for a pasted token (nor keeps one)."""
    assert page.locator("input[type=password], .wg-token, .wg-token-input").count() == 0
    assert page.evaluate("Object.keys(localStorage).filter((k) => k.indexOf('token') >= 0)") == []


def shoot(page, served: Served, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{served.backend}-{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 5_000
    return path


def metres(lon1, lat1, lon2, lat2) -> float:
    k = math.cos(math.radians((lat1 + lat2) / 2))
    return 6_371_000 * math.radians(math.hypot((lon2 - lon1) * k, lat2 - lat1))


def clean(watch: Watch, served: Served, extra_hosts: set[str] = frozenset()):
    assert watch.errors == []
    assert watch.hosts <= {served.host} | set(extra_hosts), f"requests left the service: {watch.hosts}"


# --------------------------------------------------------------------------- every map


def test_every_map_opens_offline_with_no_errors_and_a_screenshot(browser, served):
    pages = {
        "start": "/",
        "incidents": "/maps/incidents?basemap=none",
        "incidents-en": "/maps/incidents?basemap=none&lang=en",
        "grid": f"/maps/grids/{served.grid}?basemap=none",
        "planner": "/maps/planner?basemap=none",
    }
    for name, path in pages.items():
        for size in VIEWPORTS:
            page = browser.new_page(viewport=VIEWPORTS[size], device_scale_factor=1, bypass_csp=True)
            watch = Watch()
            watch.attach(page)
            page.goto(served.base + path)
            if name != "start":
                page.wait_for_function(READY, timeout=30_000)
                assert page.locator(".leaflet-marker-pane > *").count() > 0, (name, size)
                assert page.locator(".leaflet-control-layers").count() == 1
                assert page.locator(".wg-legend").count() == 1
            if name != "start":
                no_token_input(page)
                assert page.locator(".wg-user .wg-sign-in").count() == 1  # nobody signed in: a link to /login
            page.wait_for_timeout(300)  # let the last tiles of markers settle before the picture
            shoot(page, served, f"{name}-{size}")
            clean(watch, served)
            page.close()

    # The grid map holds that grid, its buildings, heads, grid workers on duty and open incidents.
    page, watch = open_map(browser, served, f"/maps/grids/{served.grid}?basemap=none")
    stats = page.evaluate("WanggeMaps.instances[0].stats")
    buildings = served.api("/buildings", grid=served.grid, limit=1000).json()["numberMatched"]
    open_incidents = served.api("/incidents/points", grid=served.grid, status="open").json()["numberMatched"]
    assert stats["grids"] == 1 and stats["buildings"] == buildings > 0
    assert stats["heads"] > 0 and stats["onDuty"] > 0 and stats["incidents"] == open_incidents > 0
    assert served.grid in page.title()
    # The page's module and the shared one it imports, each at its address with its content hash.
    from maps import assets

    for module in (assets.PAGE_MODULES["grid"], assets.SHARED_MODULE):
        assert served.base + assets.glue_url(module) in watch.urls, module
    clean(watch, served)
    page.close()
    # An unknown grid gets a page that says so.
    page = browser.new_page(bypass_csp=True)
    response = page.goto(served.base + "/maps/grids/000000?basemap=none")
    assert response.status == 404 and "000000" in page.inner_text("body")
    page.close()


def _clickable_marker(page, selector: str):
    return page.evaluate(
        """(selector) => {
            for (const el of document.querySelectorAll(selector)) {
                const r = el.getBoundingClientRect();
                const x = r.left + r.width / 2, y = r.top + r.height / 3;
                if (x < 60 || y < 60 || x > innerWidth - 60 || y > innerHeight - 60) continue;
                const hit = document.elementFromPoint(x, y);
                if (hit && (hit === el || el.contains(hit))) return [x, y];
            }
            return null;
        }""",
        selector,
    )


MARKER_AT = """(id) => {
    const maps = WanggeMaps.instances[0];
    for (const group of Object.values(maps.layers.kinds)) {
        const found = group.getLayers().find((m) => m.options.incidentId === id);
        if (found) { const ll = found.getLatLng(); return [ll.lng, ll.lat]; }
    }
    return null;
}"""


def test_incident_map_popups_layers_basemaps_and_search(browser, served):
    page, watch = open_map(browser, served, "/maps/incidents?basemap=none")
    maps = "WanggeMaps.instances[0]"

    # A marker's popup comes from the API: title, status, deadline, assignee, link to the record.
    xy = _clickable_marker(page, ".leaflet-marker-pane .awesome-marker")
    assert xy is not None, "no incident marker to click"
    page.mouse.click(*xy)
    popup = page.wait_for_selector(".leaflet-popup-content .wg-popup[data-incident]")
    incident_id = int(popup.get_attribute("data-incident"))
    record = served.api(f"/incidents/{incident_id}").json()["properties"]
    text = popup.inner_text()
    assert record["title"] in text and "办理期限" in text and "责任人" in text and "状态" in text
    assert popup.query_selector(f"a[href='{API}/incidents/{incident_id}']") is not None
    if record.get("status_label"):
        assert record["status_label"] in text
    assert popup.query_selector(".wg-task-link") is None  # the public has no task page
    page.keyboard.press("Escape")

    # Layers: hazards off and on again.
    page.hover(".leaflet-control-layers")
    hazards = page.locator(".leaflet-control-layers-overlays label", has_text="隐患").locator("input")
    assert page.evaluate(f"{maps}.map.hasLayer({maps}.layers.kinds.hazard)")
    hazards.uncheck()
    assert not page.evaluate(f"{maps}.map.hasLayer({maps}.layers.kinds.hazard)")
    assert page.locator(".leaflet-marker-pane .fa-triangle-exclamation").count() == 0
    hazards.check()
    assert page.evaluate(f"{maps}.map.hasLayer({maps}.layers.kinds.hazard)")
    heat = page.locator(".leaflet-control-layers-overlays label", has_text="热力图").locator("input")
    heat.check()
    page.wait_for_selector("canvas.leaflet-heatmap-layer")
    heat.uncheck()
    # Components (部件): off until chosen, then those of the view.
    assert not page.evaluate(f"{maps}.map.hasLayer({maps}.layers.components)")
    parts = page.locator(".leaflet-control-layers-overlays label", has_text="部件").locator("input")
    parts.dispatch_event("click")  # the last overlay, under the open legend: not clicked through it
    page.wait_for_function(f"{maps}.stats.components > 0")
    parts.dispatch_event("click")
    assert not page.evaluate(f"{maps}.map.hasLayer({maps}.layers.components)")

    # Basemaps: the self-hosted tiles (drawn in GCJ-02) shift the data; "none" shifts it back.
    wgs = page.evaluate(MARKER_AT, incident_id)
    page.hover(".leaflet-control-layers")
    page.locator(".leaflet-control-layers-base label", has_text="自建瓦片").locator("input").check()
    page.wait_for_function(f"{maps}.frame === 'gcj02'")
    page.wait_for_function(IDLE)
    page.wait_for_selector(".leaflet-tile-pane img.leaflet-tile-loaded")
    assert served.tiles.requests, "the chosen tile server was asked for tiles"
    assert any("crs=gcj02" in u and "/incidents/points" in u for u in watch.urls)
    page.wait_for_function(f"({MARKER_AT})({incident_id}) !== null")
    gcj = page.evaluate(MARKER_AT, incident_id)
    assert 300 < metres(*wgs, *gcj) < 700, (wgs, gcj)
    assert "basemap=local" in page.url
    page.hover(".leaflet-control-layers")
    page.locator(".leaflet-control-layers-base label", has_text="无底图").locator("input").check()
    page.wait_for_function(f"{maps}.frame === 'wgs84'")
    page.wait_for_function(IDLE)
    page.wait_for_function(f"(({MARKER_AT})({incident_id}) || [0])[0] === {wgs[0]}")
    assert page.locator(".leaflet-tile-pane img").count() == 0
    assert "basemap=none" in page.url
    clean(watch, served, {served.tiles.host})

    # Search by grid code (asked of the API): the map goes to that grid; a code no grid has is
    # said so, and a part of a code asks nothing.
    name = served.api("/grids", grid=served.grid).json()["features"][0]["properties"]["name"]
    x0, y0, x1, y1 = served.grid_bounds
    in_grid = f"(() => {{ const c = {maps}.map.getCenter(); return c.lng > {x0} && c.lng < {x1} && c.lat > {y0} && c.lat < {y1}; }})()"
    search = ".leaflet-control-search input.search-input"
    page.evaluate(f"{maps}.map.setView([0, 0], 3, {{animate: false}})")
    page.click(".leaflet-control-search .search-button")
    page.fill(search, served.grid)
    page.dispatch_event(search, "keyup")  # leaflet-search reads keyup (typing CJK goes through an IME)
    page.locator(".leaflet-control-search .search-tip", has_text=f"{served.grid} {name}").first.click()
    page.wait_for_function(in_grid, timeout=10_000)
    asked = len([u for u in watch.urls if "/grids?" in u])
    page.click(".leaflet-control-search .search-button")
    page.fill(search, served.grid[:-3])
    page.dispatch_event(search, "keyup")
    page.wait_for_timeout(800)
    assert len([u for u in watch.urls if "/grids?" in u]) == asked
    clean(watch, served, {served.tiles.host})
    page.close()

    # Filters from the address: only hazards of one grid.
    page, watch = open_map(browser, served, f"/maps/incidents?basemap=none&kind=hazard&grid={served.grid}")
    expected = served.api("/incidents/points", kind="hazard", grid=served.grid).json()["numberMatched"]
    assert page.evaluate(f"{maps}.stats.incidents") == expected
    assert page.evaluate(f"Object.keys({maps}.layers.kinds)") == ["hazard"]
    clean(watch, served)
    page.close()


# --------------------------------------------------------------------------- the planner


def _place_point(page, dx: int = -40, dy: int = 30):
    """Draw a marker near the middle of the map; returns where it was put (lon, lat).

    A click that lands on an existing marker, or comes while the map is still settling, draws
    nothing: then cancel the drawing and try a little further along.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.wait_for_selector(".leaflet-popup", state="detached")  # a closing popup fades out for a moment
    box = page.locator(".folium-map").bounding_box()
    for attempt in range(5):
        page.click(".leaflet-draw-draw-marker")
        x = box["x"] + box["width"] / 2 + dx + 37 * attempt
        y = box["y"] + box["height"] / 2 + dy - 23 * attempt
        page.mouse.click(x, y)
        try:
            page.wait_for_selector(".wg-form .wg-title", timeout=6000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            page.wait_for_selector(".leaflet-popup", state="detached")
    else:
        raise AssertionError("drawing a marker never opened the form")
    return page.evaluate(
        f"(() => {{ const ll = WanggeMaps.instances[0].map.containerPointToLatLng([{x - box['x']}, {y - box['y']}]); return [ll.lng, ll.lat]; }})()"
    )


def _drag_marker(page, incident_id: int, dx: float, dy: float) -> None:
    """Drag a renovation marker (the edit tool is on) by (dx, dy) pixels, and see that it moved.

    The drag waits until the marker is draggable and the map has settled; a drag that moved
    nothing (it started while the map was still moving) is tried again from where the marker is.
    """
    marker = f"WanggeMaps.instances[0].layers.renovation.getLayers().find((l) => l.wgId === {incident_id})"
    page.wait_for_function(
        f"(() => {{ const m = {marker}; return m && m._icon && m.dragging && m.dragging.enabled(); }})()"
    )
    start = page.evaluate(f"(() => {{ const ll = {marker}.getLatLng(); return [ll.lng, ll.lat]; }})()")
    settled = f"({IDLE}) && (() => {{ const map = WanggeMaps.instances[0].map; return !map._animatingZoom && !(map._panAnim && map._panAnim._inProgress); }})()"
    for _attempt in range(4):
        page.wait_for_function(settled)
        icon = page.evaluate(
            f"(() => {{ const r = {marker}._icon.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
        )
        page.mouse.move(*icon)
        page.mouse.down()
        page.mouse.move(icon[0] + dx / 2, icon[1] + dy / 2, steps=8)
        page.mouse.move(icon[0] + dx, icon[1] + dy, steps=8)
        page.mouse.up()
        now = page.evaluate(f"(() => {{ const ll = {marker}.getLatLng(); return [ll.lng, ll.lat]; }})()")
        if metres(*now, *start) > 5:
            return
        page.wait_for_timeout(300)
    raise AssertionError("dragging the marker never moved it")


def _api_eventually(served: Served, path: str, check, seconds: float = 10.0):
    deadline = time.time() + seconds
    while True:
        response = served.api(path)
        if response.status_code == 200 and check(response.json()):
            return response.json()
        if time.time() > deadline:
            raise AssertionError(f"{path}: {response.status_code} {response.text[:300]}")
        time.sleep(0.2)


def test_signed_in_staff_get_task_links_and_who_is_signed_in(browser, served):
    worker = next(a for a in DEMO_ACCOUNTS if a.role == "grid_worker")
    page, watch = open_map(browser, served, f"/maps/grids/{worker.grid}?basemap=none&lang=en")
    sign_in(page, served, worker)
    assert page.inner_text(".wg-user .wg-user-name") == "邓秀洁 (grid worker)"
    # An incident's popup (as a click on its marker makes it) links to its task page in the worker app.
    feature = served.api("/incidents", grid=worker.grid, limit=1).json()["features"][0]
    html = page.evaluate("(f) => WanggeMaps.instances[0].incidentHtml(f)", feature)
    assert f"<a class='wg-task-link' href='/app/tasks/{feature['id']}'>Open the task in the app</a>" in html
    clean(watch, served)
    page.close()


def test_planner_draws_moves_and_renames_a_renovation_point(browser, served):
    page, watch = open_map(browser, served, "/maps/planner?basemap=none")
    no_token_input(page)
    sign_in(page, served, served.planner)
    assert page.url.endswith("/maps/planner?basemap=none")
    assert page.inner_text(".wg-user .wg-user-name") == "规划员（规划人员）"
    assert "点击左侧的标注按钮" in page.inner_text(".wg-access")
    no_token_input(page)

    where = _place_point(page)
    title = f"楼道照明改造 {served.backend}"
    page.fill(".wg-form .wg-title", title)
    page.select_option(".wg-form .wg-category", "lighting")
    page.fill(".wg-form .wg-description", "三楼以上楼道无灯")
    page.click(".wg-form .wg-save")
    page.wait_for_function("document.documentElement.getAttribute('data-wangge-created')")
    new_id = int(page.evaluate("document.documentElement.getAttribute('data-wangge-created')"))
    # It is on the map at once, with its details.
    assert title in page.wait_for_selector(f".wg-popup[data-incident='{new_id}'] h6").inner_text()
    shoot(page, served, "planner-drawn-desk")

    # ... and stored: found through the API where it was drawn.
    stored = _api_eventually(served, f"/incidents/{new_id}", lambda f: True)
    props = stored["properties"]
    assert (props["kind"], props["category"], props["title"], props["status"]) == (
        "renovation",
        "lighting",
        title,
        "proposed",
    )
    assert metres(*stored["geometry"]["coordinates"], *where) < 1.0
    listed = served.api("/incidents", kind="renovation", limit=1000).json()
    assert new_id in [f["id"] for f in listed["features"]]

    # Moving it: the edit tool, a drag, save; PATCH with If-Match.
    page.keyboard.press("Escape")
    page.click(".leaflet-popup-close-button") if page.locator(".leaflet-popup").count() else None
    page.click(".leaflet-draw-edit-edit")
    _drag_marker(page, new_id, 60, 40)
    page.locator(".leaflet-draw-actions a", has_text="保存").first.click()
    moved = _api_eventually(served, f"/incidents/{new_id}", lambda f: metres(*f["geometry"]["coordinates"], *where) > 5)
    assert moved["properties"]["version"] > props["version"]
    page.wait_for_function(IDLE)

    # Renaming it: its popup has a form; PATCH with If-Match. The click goes to its own icon (a
    # click at its position could land on another marker that the drag brought it next to).
    icon = page.evaluate_handle(
        f"WanggeMaps.instances[0].layers.renovation.getLayers().find((l) => l.wgId === {new_id})._icon"
    )
    icon.dispatch_event("click")
    page.wait_for_selector(f".wg-popup[data-incident='{new_id}']")
    form_title = page.wait_for_selector(".wg-popup .wg-form .wg-title")
    assert form_title.input_value() == title
    form_title.fill(title + "（已协商）")
    page.click(".wg-popup .wg-form .wg-save")
    page.wait_for_selector(".wg-popup .wg-message.wg-ok")
    _api_eventually(served, f"/incidents/{new_id}", lambda f: f["properties"]["title"] == title + "（已协商）")
    # Every write went with the session's CSRF token: the API refused none.
    assert watch.refusals == []

    # Signing out ends the session: the page offers to sign in again.
    page.click(".wg-user .wg-sign-out")
    page.wait_for_selector(".wg-user .wg-sign-in")
    assert "需要登录" in page.inner_text(".wg-access")
    assert page.evaluate("document.cookie").find("wangge_csrf") < 0
    clean(watch, served)
    page.close()


def test_planner_without_the_right_is_refused_and_nothing_is_stored(browser, served):
    before = served.api("/incidents", kind="renovation", limit=1000).json()["numberMatched"]
    page, watch = open_map(browser, served, "/maps/planner?basemap=none")
    assert "需要登录" in page.inner_text(".wg-access .wg-access-note")
    assert page.get_attribute(".wg-access .wg-sign-in", "href") == "/login?next=%2Fmaps%2Fplanner%3Fbasemap%3Dnone"

    # Not signed in: the page says so, with a link to sign in, and sends nothing.
    _place_point(page)
    page.fill(".wg-form .wg-title", "未登录的点位")
    page.click(".wg-form .wg-save")
    message = page.wait_for_selector(".wg-form .wg-message.wg-error")
    assert "需要登录" in message.inner_text() and message.query_selector("a.wg-sign-in") is not None
    shoot(page, served, "planner-refused-desk")
    page.click(".wg-form .wg-cancel")

    # A viewer: may not plan, says so, and offers to sign in as someone else.
    sign_in(page, served, served.viewer)
    assert "当前账号（查看人员）不能标注改造点位" in page.inner_text(".wg-access")
    _place_point(page, dx=50, dy=-20)
    page.fill(".wg-form .wg-title", "查看者的点位")
    page.click(".wg-form .wg-save")
    message = page.wait_for_selector(".wg-form .wg-message.wg-error").inner_text()
    assert "不能标注改造点位" in message and "换个账号登录" in message
    page.click(".wg-form .wg-cancel")

    # A planner whose session ends meanwhile: the API's refusal and its message.
    page.click(".wg-user .wg-sign-out")
    page.wait_for_selector(".wg-user .wg-sign-in")
    sign_in(page, served, served.planner)
    page.context.clear_cookies(name="wangge_session")
    _place_point(page, dx=-40, dy=30)
    page.fill(".wg-form .wg-title", "会话已结束的点位")
    page.click(".wg-form .wg-save")
    message = page.wait_for_selector(".wg-form .wg-message.wg-error")
    assert "未保存: 401" in message.inner_text() and "planners" in message.inner_text()
    assert message.query_selector("a.wg-sign-in").inner_text() == "登录"

    assert page.evaluate("document.documentElement.getAttribute('data-wangge-created')") is None
    time.sleep(0.5)
    after = served.api("/incidents", kind="renovation", limit=1000).json()
    assert after["numberMatched"] == before
    assert not any(
        f["properties"]["title"] in ("未登录的点位", "查看者的点位", "会话已结束的点位") for f in after["features"]
    )
    assert len(watch.refusals) == 1
    clean(watch, served)
    page.close()


# --------------------------------------------------------------------------- the Content-Security-Policy
# These pages keep the policy in force, so their waits poll from Python: wait_for_function
# evaluates its predicate with new Function, which the policy rightly refuses.

SECURITY_ARTIFACTS = ARTIFACTS.parent / "security"

# Every violation the page sees.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
    window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`);
});
"""


def _until_csp(page, expression: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(100)


def _open_csp(browser, served, path: str):
    page = browser.new_page(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
    page.add_init_script(RECORD_VIOLATIONS)
    watch = Watch()
    watch.attach(page)
    response = page.goto(served.base + path)
    assert (
        response.status == 200
        and "'unsafe-inline'" not in response.headers["content-security-policy"].split("script-src")[1].split(";")[0]
    )
    return page, watch


def _clean_csp(page, watch: Watch, allowed_hosts: set[str], tiles: str | None = None) -> None:
    assert page.evaluate("window.__cspViolations") == []
    assert [e for e in watch.errors if "Content Security Policy" in e or "BLOCKED_BY_CSP" in e] == []
    # Leaflet drops the tiles it no longer needs when the view moves (the popup pans it).
    assert [
        e
        for e in watch.errors
        if not (e.endswith("net::ERR_ABORTED") and e.startswith(f"request failed: http://{tiles}/"))
    ] == []
    assert watch.hosts <= allowed_hosts, f"requests left the service: {watch.hosts - allowed_hosts}"


def _shoot_csp(page, served, name: str) -> None:
    SECURITY_ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = SECURITY_ARTIFACTS / f"{served.backend}-{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 5_000


def test_docs_and_maps_run_under_the_content_security_policy(browser, served):
    # /docs: Swagger UI renders the API, and an operation runs from the page.
    page, watch = _open_csp(browser, served, "/docs")
    page.wait_for_selector(".swagger-ui .information-container .title", timeout=30_000)
    assert page.locator(".opblock").count() > 10
    operation = page.locator(".opblock", has_text="/api/v1/health").first
    operation.locator(".opblock-summary").click()
    page.locator(".try-out__btn").first.click()
    page.locator(".execute").first.click()
    page.wait_for_selector(".responses-table .response-col_status", timeout=10_000)
    assert '"status": "ok"' in page.locator(".highlight-code").first.inner_text()
    _shoot_csp(page, served, "docs")
    _clean_csp(page, watch, {served.host})
    # An inline script the page did not come with is refused, and the refusal is seen.
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1'; document.body.append(s); }"
    )
    _until_csp(page, "window.__cspViolations.length > 0", 5)
    assert page.evaluate("window.injected") is None
    assert "script-src" in page.evaluate("window.__cspViolations")[0]
    page.close()

    # The incident map on the self-hosted tiles (img-src), with a popup read from the API.
    page, watch = _open_csp(browser, served, "/maps/incidents?basemap=local")
    _until_csp(page, READY)
    assert page.locator(".leaflet-marker-pane > *").count() > 0
    _until_csp(page, "document.querySelectorAll('.leaflet-tile-loaded').length > 0", 10)
    page.locator(".leaflet-marker-pane .awesome-marker").first.click(force=True)
    page.wait_for_selector(".leaflet-popup-content .wg-popup[data-incident]", timeout=10_000)
    page.wait_for_timeout(300)
    _shoot_csp(page, served, "incidents")
    _clean_csp(page, watch, {served.host, served.tiles.host}, served.tiles.host)
    assert served.tiles.requests, "the self-hosted tiles were not asked for"
    page.close()

    # The other pages load under the policy too.
    for path in ("/", f"/maps/grids/{served.grid}?basemap=none", "/maps/planner?basemap=none"):
        page, watch = _open_csp(browser, served, path)
        if path != "/":
            _until_csp(page, READY)
            assert page.locator(".leaflet-marker-pane > *").count() > 0, path
        page.wait_for_timeout(200)
        _clean_csp(page, watch, {served.host})
        page.close()


# --------------------------------------------------------------------------- photos in popups

INCIDENT_MARKER = """(id) => {
    for (const group of Object.values(WanggeMaps.instances[0].layers.kinds)) {
        const marker = group.getLayers().find((m) => m.options.incidentId === id);
        if (marker) return marker;
    }
    return null;
}"""


def test_incident_and_grid_map_popups_show_the_photo_thumbnail(browser, served, db_url):
    """One photo of an incident in the grid, seen in the popup of both maps (one popup code)."""
    with session_scope(get_engine(db_url)) as s:
        auth = {"Authorization": f"Bearer {issue_token(s, add_user(s, 'staff1', 'community'))}"}
    site = served.api("/buildings", grid=served.grid, limit=1).json()["features"][0]["geometry"]["coordinates"]
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": site},
        "properties": {"kind": "hazard", "category": "fire_safety", "title": "楼道堆放杂物"},
    }
    incident_id = httpx.post(f"{served.base}{API}/incidents", json=body, headers=auth, timeout=30).json()["id"]
    with httpx.Client(base_url=served.base, timeout=30) as http:
        r = upload(http, incident_id, jpeg(size=(640, 480)), "report", auth)
    assert r.status_code == 201, r.text
    for name, path in (("incidents", "/maps/incidents"), ("grid", f"/maps/grids/{served.grid}")):
        page, watch = open_map(browser, served, f"{path}?basemap=none")
        page.evaluate(f"WanggeMaps.instances[0].map.setView([{site[1]}, {site[0]}], 18, {{animate: false}})")
        page.wait_for_function(f"({INCIDENT_MARKER})({incident_id}) !== null", timeout=30_000)
        page.evaluate(
            f"""(() => {{ const m = ({INCIDENT_MARKER})({incident_id});
                const group = Object.values(WanggeMaps.instances[0].layers.kinds).find((g) => g.hasLayer(m));
                group.zoomToShowLayer ? group.zoomToShowLayer(m, () => m.openPopup()) : m.openPopup(); }})()"""
        )
        thumb = f".wg-popup[data-incident='{incident_id}'] img.wg-photo"
        page.wait_for_function(f'(() => {{ const i = document.querySelector("{thumb}"); return i && i.complete; }})()')
        assert page.eval_on_selector(thumb, "(img) => img.naturalWidth") > 0, f"no thumbnail loaded on the {name} map"
        page.wait_for_function("getComputedStyle(document.querySelector('.leaflet-popup')).opacity === '1'")  # faded in
        shoot(page, served, f"photo-popup-{name}")
        clean(watch, served)
        page.close()
