"""The dashboard in a real headless Chromium (Debian's, driven by Playwright), against the same
real ``wangge serve`` with the demo as the maps' browser tests (their ``served`` fixture), on
SpatiaLite and on PostGIS.

The demo's community staff account is sent to sign in and back; the page draws the period's
figures from the indicators API with no JavaScript error and no request to another host; choosing
another indicator recolours the map and its legend; a figure of the ranking opens the incidents
behind it, the same ones the API names. Screenshots at a desk's and a phone's size (where the
cards stack) go to ``test-artifacts/maps/`` (not committed).
"""

from __future__ import annotations

import httpx

from api.v1 import API_PREFIX as API
from geo.access.users import get_user, issue_token
from geo.db.engine import get_engine
from geo.db.session import session_scope
from geo.io.demo import DEMO_ACCOUNTS
from tests.maps.test_maps_browser import ARTIFACTS, VIEWPORTS, Served, Watch, clean, served  # noqa: F401 (served: the fixture)

READY = "document.documentElement.getAttribute('data-wangge-ready') === '1'"
# The ranking's columns that open incidents (maps/static/dashboard.js, RANKING).
RANKING = ("reports", "registered", "closed", "close_on_time_rate", "overdue")


def shoot(page, where: Served, name: str, full_page: bool = True) -> None:
    """The whole page, as a person scrolling it sees it (or the screen only)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{where.backend}-{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 5_000


def test_dashboard_as_community_staff(browser, served, db_url):  # noqa: F811
    staff = next(a for a in DEMO_ACCOUNTS if a.role == "community")
    with session_scope(get_engine(db_url)) as s:
        auth = {"Authorization": f"Bearer {issue_token(s, get_user(s, staff.username))}"}
    # An incident reported now, so that this year has figures whatever the demo's dates.
    site = served.api("/buildings", grid=served.grid, limit=1).json()["features"][0]["geometry"]["coordinates"]
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": site},
        "properties": {"kind": "case", "category": "dispute", "title": "看板测试：邻里噪音纠纷"},
    }
    assert httpx.post(f"{served.base}{API}/incidents", json=body, headers=auth, timeout=30).status_code == 201

    page = browser.new_page(viewport=VIEWPORTS["desk"], device_scale_factor=1, bypass_csp=True)
    watch = Watch()
    watch.attach(page)
    page.goto(served.base + "/dashboard")
    page.wait_for_url("**/login?**")  # not signed in: sent to sign in, and back
    page.fill("#username", staff.username)
    page.fill("#password", staff.password)
    page.click("form.signin button[type=submit]")
    page.wait_for_url("**/dashboard**")
    page.wait_for_function(READY, timeout=30_000)
    assert page.is_hidden("#message"), page.inner_text("#message")

    # The figures are the API's, for the period the page shows (this year by default).
    start, end = page.input_value("#start"), page.input_value("#end")

    def ask(path: str = "", **params) -> dict:
        r = httpx.get(
            f"{served.base}{API}/stats/indicators{path}",
            params={"start": start, "end": end, **params},
            headers=auth,
            timeout=60,
        )
        assert r.status_code == 200, r.text
        return r.json()

    by_grid = ask(by="grid")
    assert page.locator("#ranking-table tbody tr").count() == min(50, len(by_grid["rows"])) > 0
    assert page.locator("#kpis .kpi").count() >= 8
    assert page.locator("#indicator option").count() == len(by_grid["indicators"])
    assert page.locator("#trend-chart canvas").count() >= 1 and page.locator("#category-chart canvas").count() >= 1
    assert (
        page.locator("#exports a.export-xlsx").get_attribute("href")
        == f"{API}/stats/indicators?start={start}&end={end}&by=grid&f=xlsx"
    )
    shoot(page, served, "dashboard-desk")

    # Another indicator: the map's colours and its legend change.
    colours = "Object.fromEntries(WanggeDashboard.map.colours)"
    before, legend = page.evaluate(colours), page.inner_text("#legend")
    grids = {f["properties"]["code"] for f in served.api("/grids", limit=1000).json()["features"]}
    assert set(before) == grids  # every grid is drawn (incidents in no grid are a row of the ranking only)
    page.select_option("#indicator", "overdue")
    page.wait_for_function(READY)
    assert page.evaluate(colours) != before
    assert page.inner_text("#legend") != legend
    assert page.inner_text("#legend").startswith(next(i["zh"] for i in by_grid["indicators"] if i["key"] == "overdue"))
    assert "indicator=overdue" in page.url

    # A figure of the ranking opens the incidents behind it: the ones the API names.
    row, indicator = next((r, k) for r in by_grid["rows"] for k in RANKING if r.get(k))
    page.click(f"#ranking-table button.cell[data-key='{row['key']}'][data-indicator='{indicator}']")
    page.wait_for_selector("#panel[data-loaded='1']")
    behind = ask("/incidents", by="grid", key=row["key"], indicator=indicator, limit=200)
    listed = [
        int(i) for i in page.eval_on_selector_all("#panel-list li[data-id]", "(els) => els.map((e) => e.dataset.id)")
    ]
    assert listed == [i["id"] for i in behind["incidents"]] and listed
    first = behind["incidents"][0]["id"]
    assert page.get_attribute(f"#panel-list li[data-id='{first}'] a", "href") == f"/app/tasks/{first}"
    shoot(page, served, "dashboard-incidents-desk", full_page=False)
    page.click("#panel-close")
    assert page.is_hidden("#panel")

    # On a phone the cards stack: the trend under the map.
    page.set_viewport_size(VIEWPORTS["phone"])
    page.reload()
    page.wait_for_function(READY, timeout=30_000)
    map_box, trend_box = page.locator("#card-map").bounding_box(), page.locator("#card-trend").bounding_box()
    assert trend_box["y"] >= map_box["y"] + map_box["height"] and map_box["width"] <= VIEWPORTS["phone"]["width"]
    shoot(page, served, "dashboard-phone")
    clean(watch, served)
    page.close()
