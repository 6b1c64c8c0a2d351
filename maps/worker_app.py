"""The worker app's files (``maps/app``): the HTML shell, its ES modules and style sheet, the
manifest, the service worker and the app's words, served under ``/app/``.

No build step: the modules are served as they are. The shell names the vendor files it needs
(Leaflet, idb) at their pinned ``/static/vendor`` addresses (``maps.assets``). The service worker
is rendered with the list of files to precache and a version made of their contents, so any
change to the app or to a pinned package gives a new cache and the old one is dropped.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from geo.access.policy import Permission, roles_with
from geo.settings import get_settings
from maps import assets, basemaps
from maps.i18n import KINDS, LANGS, Catalogue

APP_DIR = Path(__file__).with_name("app")
BASE = "/app/"
ASSET_URL = BASE + "assets"
# The app's own files served under /app/assets (the shell, the worker and the words are rendered).
FILES = (
    "main.js",
    "api.js",
    "auth.js",
    "outbox.js",
    "patrol.js",
    "i18n.js",
    "map.js",
    "screens.js",
    "app.css",
    "icon.svg",
    "icon-maskable.svg",
)
# Vendor files the app uses: (npm package, file in it).
VENDOR = {
    "leaflet_js": ("leaflet", "dist/leaflet.js"),
    "leaflet_css": ("leaflet", "dist/leaflet.css"),
    "idb": ("idb", "build/index.js"),
    "marker_icon": ("leaflet", "dist/images/marker-icon.png"),
    "marker_icon_2x": ("leaflet", "dist/images/marker-icon-2x.png"),
    "marker_shadow": ("leaflet", "dist/images/marker-shadow.png"),
}
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def file_path(name: str) -> Path | None:
    """One of the app's own files, or None if ``name`` is not one."""
    return APP_DIR / name if name in FILES else None


def asset_url(name: str) -> str:
    return f"{ASSET_URL}/{name}"


def vendor_urls() -> dict[str, str]:
    return {key: assets.vendor_url(*entry) for key, entry in VENDOR.items()}


def _tiles() -> dict[str, str]:
    settings = get_settings()
    if settings.tile_url:
        return {"url": settings.tile_url, "attribution": settings.tile_attribution}
    return {"url": basemaps.OSM, "attribution": "© OpenStreetMap"}


def _config() -> dict[str, Any]:
    """What the modules need from the server, written into the shell."""
    settings = get_settings()
    return {
        "vendor": vendor_urls(),
        "tiles": _tiles(),
        "duplicate_radius_m": settings.duplicate_radius_m,
        # Who records patrols, and how long their tracks are kept (the app tells the worker).
        "patrol": {"roles": roles_with(Permission.PATROL), "retention_days": settings.patrol_retention_days},
    }


def shell(catalogue: Catalogue | None = None) -> str:
    """The HTML of every client route (/app/, /app/tasks/ID, /app/report, /app/patrol, /app/outbox)."""
    html = (APP_DIR / "shell.html").read_text(encoding="utf-8")
    vendor = vendor_urls()
    return (
        html.replace("{{config}}", json.dumps(_config(), ensure_ascii=False).replace("<", "\\u003c"))
        .replace("{{leaflet_css}}", vendor["leaflet_css"])
        .replace("{{idb}}", vendor["idb"])
        .replace("{{version}}", version(catalogue))
    )


def words(lang: str, catalogue: Catalogue | None = None) -> dict[str, Any]:
    """The app's words in ``lang``, with the incident kinds and the categories of ``catalogue`` (the
    database's current one; the shipped one by default)."""
    own = json.loads((APP_DIR / "locales" / f"{lang}.json").read_text(encoding="utf-8"))
    return {
        "text": own,
        "kinds": KINDS[lang],
        "categories": (catalogue or Catalogue.default()).words(lang),
    }


def precache() -> list[str]:
    """What the service worker keeps for use without a network: the shell, the app's files,
    the words of both languages and the vendor files."""
    return [
        BASE,
        BASE + "manifest.webmanifest",
        *(asset_url(name) for name in FILES),
        *(f"{BASE}locales/{lang}.json" for lang in LANGS),
        *vendor_urls().values(),
    ]


@lru_cache
def _files_digest() -> str:
    digest = hashlib.sha256()
    for name in (*FILES, "shell.html", "sw.js", "manifest.webmanifest", *(f"locales/{lang}.json" for lang in LANGS)):
        digest.update((APP_DIR / name).read_bytes())
    return digest.hexdigest()


def version(catalogue: Catalogue | None = None) -> str:
    """Changes with any of the app's files, a pinned vendor package or the shell's settings."""
    digest = hashlib.sha256(_files_digest().encode())
    digest.update(json.dumps([_config(), [words(lang, catalogue) for lang in LANGS]], sort_keys=True).encode())
    return digest.hexdigest()[:16]


def service_worker(catalogue: Catalogue | None = None) -> str:
    text = (APP_DIR / "sw.js").read_text(encoding="utf-8")
    return text.replace("'{{version}}'", json.dumps(version(catalogue))).replace(
        "'{{precache}}'", json.dumps(precache())
    )


def manifest() -> str:
    return (APP_DIR / "manifest.webmanifest").read_text(encoding="utf-8")
