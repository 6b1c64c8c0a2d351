"""``/dashboard`` as the server sends it: who gets the page, who is sent to sign in, who is
refused; its words in both languages; its scripts from wangge itself (ECharts, Leaflet, its own
modules), allowed by the Content-Security-Policy. In the browser: tests/maps/test_dashboard_browser.py."""

from __future__ import annotations

import json
import re

from geo.io.demo import DEMO_ACCOUNTS
from maps import assets, dashboard


def _config(html: str) -> dict:
    found = re.search(r"<script type='application/json' id='wangge-dashboard'>(.*?)</script>", html)
    assert found is not None
    return json.loads(found.group(1))


def test_not_signed_in_is_sent_to_sign_in_and_back(client):
    r = client.get("/dashboard?start=2026-01-01&end=2026-02-01", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fdashboard%3Fstart%3D2026-01-01%26end%3D2026-02-01&lang=zh"
    r = client.get("/dashboard?lang=en", follow_redirects=False)
    assert r.headers["location"].endswith("&lang=en")


def test_who_sees_the_dashboard(client, demo, add_token):
    for role in ("viewer", "planner", "grid_worker"):
        token = add_token(f"dash-{role}", role, "CH-R017" if role == "grid_worker" else None)
        r = client.get("/dashboard", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403, role
        assert "grid leaders" in r.text and "无权访问" in r.text
    leader = next(a for a in DEMO_ACCOUNTS if a.role == "grid_leader")
    for role, responder in (("community", None), ("admin", None), ("grid_leader", leader.responder)):
        token = add_token(f"dash-ok-{role}", role, responder)
        r = client.get("/dashboard", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, role
        assert r.headers["cache-control"] == "no-store"
        config = _config(r.text)
        # A grid leader's map shows their grids; the community's all of them.
        assert config["grids"] == ([leader.grid] if role == "grid_leader" else None), role


def test_the_page_in_both_languages_with_its_own_assets(client, add_token):
    auth = {"Authorization": f"Bearer {add_token('dash-staff', 'community')}"}
    zh = client.get("/dashboard", headers=auth)
    en = client.get("/dashboard?lang=en&start=2026-01-01", headers=auth)
    assert "<html lang='zh-CN'>" in zh.text and "网格治理看板" in zh.text and "本季度" in zh.text
    assert "<html lang='en'>" in en.text and "Grid governance dashboard" in en.text and "This quarter" in en.text
    assert _config(en.text)["words"]["preset_year"] == "This year"
    # The language switch keeps the rest of the address.
    assert "href='/dashboard?start=2026-01-01&amp;lang=zh'" in en.text
    html = zh.text
    assert assets.vendor_url("echarts", "dist/echarts.esm.min.js") in html
    assert assets.vendor_url("leaflet", "dist/leaflet.js") in html
    assert assets.glue_url(dashboard.MODULE) in html
    for module in dashboard.IMPORTED:
        assert assets.glue_url(module) in html
    assert "http" not in html.split("<body")[0]  # nothing from another host
    assert "script-src 'self' 'sha256-" in zh.headers["content-security-policy"]
    # Every file it names is served.
    for url in re.findall(r"(?:src|href)='(/static/[^']+)'", html) + list(
        json.loads(re.search(r"<script type='importmap'>(.*?)</script>", html).group(1))["imports"].values()
    ):
        assert client.get(url).status_code == 200, url


def test_the_start_page_links_to_the_dashboard(client):
    assert "href='/dashboard'" in client.get("/").text
