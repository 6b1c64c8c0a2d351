"""What every map shares: the folium map itself, basemaps, controls, legend and title bar."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import folium
from branca.element import Element, Figure
from folium import plugins
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from api.v1 import API_PREFIX  # the prefix only: api.v1 loads no routers
from geo.access.policy import Permission, roles_with
from geo.grids.index import grid_bounds, grid_index
from geo.spatial.crs import parse_crs
from geo.tiles.layers import DEFAULT_LAYERS, tile_layer
from maps import basemaps
from maps.assets import FAVICON
from maps.basemaps import Basemap
from maps.elements import Corner, Glue, html_list
from maps.i18n import KINDS, Catalogue, labels, t

# Grids, estates and buildings come as vector tiles (OGC API Tiles), one request per collection.
TILES_URL = "/ogc/tiles/WebMercatorQuad/{z}/{x}/{y}"
# A city's grids are drawn from the zoom where a desk's view (about 1280 x 800 px) holds no more
# than this many of them on average; fewer grids than this are drawn at every zoom.
GRIDS_IN_VIEW = 3000
VIEW_PIXELS = 1280 * 800
POINT_LIMIT = 3000  # incidents drawn one by one; above that the view comes as counts per cell
KIND_ICON = {
    "hazard": "triangle-exclamation",
    "case": "comments",
    "illegal_structure": "house-circle-xmark",
    "renovation": "screwdriver-wrench",
}
# Clusters' icons come from the glue (maps/static/shared.js). folium's inline script, which names
# the function, runs before the glue's modules: it is looked up when a cluster is drawn.
CLUSTER_ICON = "function (cluster) { return WanggeMaps.clusterIcon(cluster); }"
STATE_COLOURS = {"open": "#38aadd", "overdue": "#d63e2a", "closed": "#72b026"}
# Patrol coverage on the grid map: each building of the grid by whether a patrol passed it in the
# period; those not visited for the stale days stand out; the tracks in a colour of their own.
COVERAGE_COLOURS = {"visited": "#1b7f3b", "unvisited": "#f2a541", "stale": "#c1121f", "track": "#6a3d9a"}
# The incident map's grids by the share of their buildings visited this week: (up to, colour).
SHARE_CLASSES = [(0.2, "#ffffcc"), (0.4, "#c2e699"), (0.6, "#78c679"), (0.8, "#31a354"), (1.0, "#006837")]
NO_BUILDINGS_COLOUR = "#bdbdbd"
# Components (部件) by state, on the layer that is off until chosen.
COMPONENT_ICON = "cubes"
COMPONENT_COLOURS = {
    "intact": "#2e7d32",
    "damaged": "#ef6c00",
    "missing": "#c62828",
    "occupied": "#6a1b9a",
    "removed": "#9e9e9e",
}
# Role -> (Font Awesome icon, Leaflet.awesome-markers colour)
ROLE_ICON = {
    "grid_leader": ("user-tie", "darkblue"),
    "grid_worker": ("person-walking", "blue"),
    "part_time": ("person", "cadetblue"),
    "police": ("user-shield", "darkpurple"),
    "urban_management": ("helmet-safety", "purple"),
    "building_head": ("house-user", "orange"),
    "fire_station": ("fire-extinguisher", "darkred"),
}


# Signing in, and who sees what for it; the roles come from the access policy.
AUTH = {
    "me": f"{API_PREFIX}/auth/me",
    "logout": f"{API_PREFIX}/auth/logout",
    "login": "/login",
    "task": "/app/tasks/",  # + the incident's id: its page in the worker app
    # Staff who work on incidents get the link to the task page.
    "taskRoles": sorted(set(roles_with(Permission.ACT_IN_OWN_GRIDS)) | set(roles_with(Permission.WRITE_ANY_LAYER))),
    "plannerRoles": roles_with(Permission.PROPOSE_RENOVATION),
}


@dataclass
class Page:
    """One map page being built: its map, basemaps and what the glue needs."""

    page: str
    lang: str
    basemap: str
    map: folium.Map
    bases: list[Basemap]
    frame: str
    query: dict[str, str] = field(default_factory=dict)
    catalogue: Catalogue | None = None  # the categories offered (default: the shipped catalogue)

    def t(self, key: str) -> str:
        return t(self.lang, key)

    def config(self, **extra: Any) -> dict[str, Any]:
        return {
            "page": self.page,
            "lang": self.lang,
            "api": API_PREFIX,
            "frame": self.frame,
            "labels": labels(self.lang, self.catalogue),
            "pointLimit": POINT_LIMIT,
            "cellPixels": 64,
            "labelMinZoom": 16,
            "buildingsMinZoom": 16,
            "icons": {"kinds": KIND_ICON, "roles": ROLE_ICON, "component": COMPONENT_ICON},
            "componentColours": COMPONENT_COLOURS,
            "auth": AUTH,
            **extra,
        }


def grids_min_zoom(count: int, bounds: tuple[float, float, float, float] | None) -> int:
    """The lowest zoom at which a view holds about GRIDS_IN_VIEW of ``count`` grids spread over
    ``bounds`` (WGS84); 0 when they are few enough to draw at any zoom."""
    if count <= GRIDS_IN_VIEW or bounds is None:
        return 0
    x0, y0, x1, y1 = bounds
    lat = math.radians((y0 + y1) / 2)
    area_m2 = (x1 - x0) * (y1 - y0) * (111_320.0**2) * math.cos(lat)
    if area_m2 <= 0:
        return 0
    metres_per_pixel_z0 = 156_543.03 * math.cos(lat)
    # count / area * VIEW_PIXELS * (m/px at z)^2 <= GRIDS_IN_VIEW, with m/px halving at each zoom
    ratio = count / area_m2 * VIEW_PIXELS * metres_per_pixel_z0**2 / GRIDS_IN_VIEW
    return max(0, min(18, math.ceil(math.log2(ratio) / 2)))


def tile_settings(session: Session) -> dict[str, Any]:
    """What the glue needs to draw grids from tiles and find them by code."""
    index = grid_index(session)
    codes = list(index.codes)
    least = {name: tile_layer(name).minzoom for name in DEFAULT_LAYERS}  # tiles hold nothing below
    return {
        "tiles": TILES_URL,
        "tileMinZoom": least,
        "gridsMinZoom": max(least["grids"], grids_min_zoom(len(codes), grid_bounds(session))),
        "gridCodeLengths": sorted({len(str(c)) for c in codes}),
    }


def new_page(
    page: str,
    title: str,
    lang: str,
    basemap: str | None,
    bounds: tuple[float, float, float, float] | None,
    query: dict[str, str],
    catalogue: Catalogue | None = None,
) -> Page:
    """A map fitted to ``bounds`` (WGS84) in the frame of the basemap shown first."""
    initial = basemaps.check(basemap)
    frame = basemaps.frame_of(initial)
    fit = None
    center, zoom = [23.69, 113.04], 12  # nothing loaded yet: Qingyuan
    if bounds is not None:
        x0, y0, x1, y1 = bounds
        xs, ys = parse_crs(frame).from_wgs84([x0, x1], [y0, y1])
        fit = [[float(ys[0]), float(xs[0])], [float(ys[1]), float(xs[1])]]
        center, zoom = [float(ys.mean()), float(xs.mean())], 15
    m = folium.Map(location=center, zoom_start=zoom, tiles=None, control_scale=True)
    m.options["maxZoom"] = 20  # folium gives max_zoom to its default tiles only; clustering needs it on the map
    root = m.get_root()
    assert isinstance(root, Figure)  # a folium Map is always placed in a Figure
    root.title = f"{title} · wangge"
    root.header.add_child(Element(f'<link rel="icon" type="image/svg+xml" href="{FAVICON}">'), name="favicon")
    bases = basemaps.add_basemaps(m, initial, lang)
    if fit is not None:
        m.fit_bounds(fit, max_zoom=18)
    return Page(
        page=page, lang=lang, basemap=initial, map=m, bases=bases, frame=frame, query=query, catalogue=catalogue
    )


def add_controls(p: Page) -> None:
    plugins.Fullscreen(position="topleft", title=p.t("fullscreen"), title_cancel=p.t("fullscreen_exit")).add_to(p.map)
    plugins.LocateControl(
        position="topleft", strings={"title": p.t("locate")}, flyTo=True, keepCurrentZoomLevel=False
    ).add_to(p.map)


def title_bar(p: Page, title: str) -> None:
    other = "en" if p.lang == "zh" else "zh"
    href = "?" + urlencode({**p.query, "lang": other})
    home = "/" + ("?lang=en" if p.lang == "en" else "")
    html = (
        Markup("<b>")
        + escape(title)
        + Markup("</b>")
        + Markup(f"<a href='{escape(home)}'>")
        + escape(t(p.lang, "home"))
        + Markup("</a>")
        + Markup(f"<a href='{escape(href)}' hreflang='{other}' class='wg-lang'>")
        + escape(t(p.lang, "other_lang"))
        + Markup("</a>")
    )
    Corner(html, position="topright", css_class="wg-title-bar").add_to(p.map)


def legend(p: Page, kinds: list[str], extra: Sequence[str] | None = None, note: bool = True) -> None:
    items = [Markup(f"<i class='fa fa-{KIND_ICON[k]}'></i> ") + escape(KINDS[p.lang][k]) for k in kinds]
    items += [
        Markup(f"<span class='wg-swatch' style='background:{c}'></span>") + escape(p.t(s))
        for s, c in STATE_COLOURS.items()
    ]
    items += [Markup(e) for e in (extra or [])]
    body = Markup("<details open><summary>") + escape(p.t("legend")) + Markup("</summary>") + html_list(items)
    if note:
        body += Markup("<p>") + escape(p.t("cluster_note")) + Markup("</p>")
    body += Markup("</details>")
    Corner(body, position="bottomright", css_class="wg-legend").add_to(p.map)


def area_items(p: Page, estates: bool = True) -> list[Markup]:
    items = [Markup("<span class='wg-line'></span>") + escape(p.t("grids"))]
    if estates:
        items.append(Markup("<span class='wg-line wg-estate'></span>") + escape(p.t("estates")))
    items.append(
        Markup("<span class='wg-swatch' style='background:#9e9e9e;border:1px solid #555'></span>")
        + escape(p.t("buildings"))
    )
    return items


def components_layer(p: Page) -> folium.FeatureGroup:
    """The components (部件) of the view: off until chosen, read only while shown."""
    group = folium.FeatureGroup(name=layer_name(COMPONENT_ICON, p.t("components")), show=False)
    group.add_to(p.map)
    return group


def layer_name(icon: str, label: str) -> str:
    return str(Markup(f"<i class='fa fa-{icon}'></i> ") + escape(label))


def finish(p: Page, layers: dict[str, Any], **config: Any) -> folium.Map:
    """Layer control and the glue, last (they refer to everything added before)."""
    folium.LayerControl(position="topright", collapsed=True).add_to(p.map)
    Glue(p.config(**config), layers, p.bases).add_to(p.map)
    return p.map
