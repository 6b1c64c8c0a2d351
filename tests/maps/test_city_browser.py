"""The incident map on a city of 100,000 grids (``data.city``), in a real headless Chromium
against a real ``wangge serve`` on SpatiaLite: the grids come as vector tiles, only those of the
view, so the map opens as it does on the demo.

The city is generated once per test session and copied for each test. It has 100,000 grids but
200,000 buildings, not a million: the map draws buildings only from zoom 16, where a view holds a
few hundred of either, and a million would add about 40 s to the session's set-up for nothing the
test looks at (bench/map_city.py measures the map on the full million).
"""

from __future__ import annotations

import shutil

import httpx
import pytest

from data.city import make_city
from tests.maps.test_maps_browser import READY, VIEWPORTS, Watch

CITY_GRIDS = 100_000
CITY_BUILDINGS = 200_000
SEED = 14


@pytest.fixture(scope="session")
def city_template(spatialite_template, tmp_path_factory):
    """A SpatiaLite file holding the city, made once per session."""
    path = tmp_path_factory.mktemp("city") / "city.db"
    shutil.copyfile(spatialite_template, path)
    make_city(f"sqlite:///{path}", grids=CITY_GRIDS, buildings=CITY_BUILDINGS, seed=SEED)
    return path


@pytest.fixture
def city(city_template, tmp_path, serve_wangge) -> str:
    """``wangge serve`` on a copy of the city: its base URL."""
    path = tmp_path / "city.db"
    shutil.copyfile(city_template, path)
    return serve_wangge(f"sqlite:///{path}")


GRID_PATHS = "WanggeMaps.instances[0].gridTiles.getContainer().querySelectorAll('path').length"


def test_incident_map_of_a_city_draws_its_grids_from_tiles(browser, city):
    from tests.maps.test_maps_browser import ARTIFACTS

    assert httpx.get(city + "/api/v1/grids", params={"limit": 1}, timeout=60).json()["numberMatched"] == CITY_GRIDS
    page = browser.new_page(viewport=VIEWPORTS["desk"], device_scale_factor=1, bypass_csp=True)
    watch = Watch()
    watch.attach(page)
    page.goto(city + "/maps/incidents?basemap=none")
    page.wait_for_function(READY, timeout=60_000)
    maps = "WanggeMaps.instances[0]"
    # The grids of the view are drawn, from tiles: nothing asked for the grids as GeoJSON.
    page.wait_for_function(f"{GRID_PATHS} > 100", timeout=60_000)
    assert page.evaluate(f"{maps}.map.getZoom()") >= page.evaluate(f"{maps}.cfg.gridsMinZoom") > 10
    assert any("/ogc/tiles/WebMercatorQuad/" in u and "collections=grids" in u for u in watch.urls)
    assert not any("/api/v1/grids?" in u for u in watch.urls)
    # The incidents still come as the view's points.
    assert any("/api/v1/incidents/points" in u for u in watch.urls)

    # A click in the middle of the map: the popup of the grid the API locates there.
    box = page.locator(".folium-map").bounding_box()
    x, y = box["width"] / 2 + 17, box["height"] / 2 - 11
    lon, lat = page.evaluate(
        f"(() => {{ const ll = {maps}.map.containerPointToLatLng([{x}, {y}]); return [ll.lng, ll.lat]; }})()"
    )
    answer = httpx.get(city + "/api/v1/grids/locate", params={"lon": lon, "lat": lat}, timeout=30)
    assert answer.status_code == 200, answer.text
    located = answer.json()["grid"]
    page.mouse.click(box["x"] + x, box["y"] + y)
    popup = page.wait_for_selector(".leaflet-popup-content .wg-popup[data-grid]")
    assert located["code"] in popup.inner_text()
    assert int(popup.get_attribute("data-grid")) == located["id"]
    links = [a.get_attribute("href") for a in popup.query_selector_all("a")]
    assert f"/maps/grids/{located['code']}?" in links and f"/maps/incidents?grid={located['code']}" in links
    # ... completed from the API (the party branch is not in the tiles).
    page.wait_for_function(
        "(t) => document.querySelector('.leaflet-popup-content .wg-popup').innerText.indexOf(t) >= 0",
        arg=located["party_branch"],
    )
    # The grid clicked stands out.
    assert page.evaluate(f"{maps}.gridTiles.wgFocus") == located["id"]

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "city-incidents-desk.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
    assert watch.errors == []
    assert watch.hosts == {city.removeprefix("http://")}, f"requests left the service: {watch.hosts}"
    page.close()
