"""The worker app's files as the server sends them: one shell for every client route, the
manifest, the service worker with its versioned precache list, the words in both languages."""

from __future__ import annotations

import json
import re

import pytest

from geo.access.policy import Permission, roles_with
from geo.settings import get_settings
from maps import assets, worker_app


@pytest.fixture
def pages(client):
    return client


@pytest.mark.parametrize("route", ["/app/", "/app/tasks/12", "/app/report", "/app/patrol", "/app/outbox"])
def test_every_client_route_is_the_shell(pages, route):
    r = pages.get(route)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert '<html lang="zh-CN">' in html and 'rel="manifest" href="/app/manifest.webmanifest"' in html
    assert f'"idb": "{assets.vendor_url("idb", "build/index.js")}"' in html
    # Its inline import map and config are allowed by hash, and nothing else inline.
    assert "script-src 'self' 'sha256-" in r.headers["content-security-policy"]
    assert "http" not in re.sub(r"https://tile\.openstreetmap\.org[^\"]*|http-equiv", "", html.split("<body")[0])


def test_the_shell_names_who_records_patrols_and_how_long_tracks_are_kept(pages):
    html = pages.get("/app/patrol").text
    config = json.loads(re.search(r'<script type="application/json" id="wangge-config">(.*?)</script>', html).group(1))
    assert config["patrol"] == {
        "roles": roles_with(Permission.PATROL),
        "retention_days": get_settings().patrol_retention_days,
    }
    assert set(config["patrol"]["roles"]) == {"grid_worker", "grid_leader"}


def test_app_redirects_to_its_scope(pages):
    r = pages.get("/app", follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == "/app/"


def test_manifest_makes_it_installable_in_its_scope(pages):
    r = pages.get("/app/manifest.webmanifest")
    assert r.headers["content-type"].startswith("application/manifest+json")
    manifest = r.json()
    assert manifest["scope"] == manifest["start_url"] == "/app/"
    assert manifest["display"] == "standalone"
    for icon in manifest["icons"]:
        got = pages.get(icon["src"])
        assert got.status_code == 200 and got.headers["content-type"].startswith("image/svg+xml")


def test_service_worker_precaches_what_the_app_needs_under_a_versioned_name(pages):
    r = pages.get("/app/sw.js")
    assert r.headers["content-type"].startswith("text/javascript")
    text = r.text
    version = json.loads(re.search(r"const VERSION = (\"[0-9a-f]+\");", text).group(1))
    precache = json.loads(re.search(r"const PRECACHE = (\[.*?\]);", text).group(1))
    assert version == worker_app.version()
    assert "/app/" in precache and "/app/assets/main.js" in precache
    assert assets.vendor_url("leaflet", "dist/leaflet.js") in precache
    for url in precache:  # every file it precaches is there (a missing one fails the install)
        assert pages.get(url).status_code == 200, url


def test_words_in_both_languages_with_the_same_keys(pages):
    zh, en = pages.get("/app/locales/zh.json").json(), pages.get("/app/locales/en.json").json()
    assert zh["text"].keys() == en["text"].keys()
    assert zh["text"]["tab_tasks"] == "任务" and en["text"]["tab_tasks"] == "Tasks"
    assert zh["categories"]["hazard"]["fire_safety"] == "消防安全"
    assert pages.get("/app/locales/fr.json").status_code == 404
    assert pages.get("/app/assets/secret.py").status_code == 404
