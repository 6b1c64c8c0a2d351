"""Basemaps: OpenStreetMap, Tianditu, Amap, a self-hosted tile server, and none (offline).

Every basemap has a *frame*: the coordinate system its tiles are drawn in. OpenStreetMap and
Tianditu's ``_w`` layers are Web Mercator over WGS84 (CGCS2000 is the same for mapping); Amap's
tiles are drawn in GCJ-02, about 300-700 m off. The maps ask the API for their data in the frame
of the basemap shown (``crs=gcj02`` for Amap), so the overlays sit right on every basemap.
"""

from __future__ import annotations

from dataclasses import dataclass

import folium

from geo.settings import get_settings
from maps.i18n import t

ORDER = ("osm", "tianditu", "amap", "local", "none")

TIANDITU = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
    "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}"
)
AMAP = "https://webrd0{s}.is.autonavi.com/appmaptile?lang={lang}&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
OSM = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


@dataclass(frozen=True)
class Basemap:
    key: str
    frame: str  # wgs84 or gcj02
    layer: folium.map.Layer


class UnknownBasemap(ValueError):
    pass


def available() -> list[str]:
    settings = get_settings()
    return [
        key for key in ORDER if (key != "tianditu" or settings.tianditu_key) and (key != "local" or settings.tile_url)
    ]


def default() -> str:
    return "local" if get_settings().tile_url else "osm"


def check(key: str | None) -> str:
    """The basemap to show first: ``key`` if this service offers it."""
    if key is None or key == "":
        return default()
    if key not in available():
        hint = "" if key not in ORDER else " (set WANGGE_TIANDITU_KEY for tianditu, WANGGE_TILE_URL for local)"
        raise UnknownBasemap(f"Unknown basemap {key!r}: this service offers {', '.join(available())}{hint}")
    return key


def _tiles(url: str, attr: str, **options) -> folium.TileLayer:
    return folium.TileLayer(tiles=url, attr=attr, control=False, max_zoom=20, max_native_zoom=18, **options)


def _layer(key: str, lang: str, shown: bool) -> folium.map.Layer:
    settings = get_settings()
    name = t(lang, f"basemap_{key}")
    group = folium.FeatureGroup(name=name, overlay=False, show=shown)
    if key == "osm":
        _tiles(OSM, '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>').add_to(group)
    elif key == "tianditu":
        attr = "&copy; 天地图 Tianditu"
        for layer in ("vec", "cva"):
            url = TIANDITU.replace("{layer}", layer).replace("{key}", settings.tianditu_key or "")
            _tiles(url, attr, subdomains="01234567").add_to(group)
    elif key == "amap":
        url = AMAP.replace("{lang}", "en" if lang == "en" else "zh_cn")
        _tiles(url, "&copy; 高德地图 Amap", subdomains="1234").add_to(group)
    elif key == "local":
        _tiles(settings.tile_url or "", settings.tile_attribution).add_to(group)
    return group


def frame_of(key: str) -> str:
    if key == "amap":
        return "gcj02"
    if key == "local":
        return "gcj02" if get_settings().tile_crs.lower() in ("gcj02", "gcj-02") else "wgs84"
    return "wgs84"


def add_basemaps(m: folium.Map, initial: str, lang: str) -> list[Basemap]:
    """Every basemap this service offers, as base layers of ``m``; ``initial`` is shown."""
    bases = []
    for key in available():
        layer = _layer(key, lang, key == initial)
        layer.add_to(m)
        bases.append(Basemap(key, frame_of(key), layer))
    return bases
