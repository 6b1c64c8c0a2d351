"""``/maps/incidents``: grids, estates, buildings and every kind of incident, for the whole community,
and (off until chosen) each grid coloured by the share of its buildings patrols visited this week,
and the components (部件) of the view.

Nothing but the map's settings is in the page: the glue draws grids, estates and buildings from
vector tiles (``/ogc/tiles``, only the tiles of the view), reads incidents for the visible
bounding box (see ``geo.query.mappoints``) and finds grids by code through the API; the shares
come from ``GET /api/v1/coverage?by=grid`` and colour the grids' tiles.
"""

from __future__ import annotations

from datetime import datetime

import folium
from folium import plugins
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from geo.errors import InputError, NotFound
from geo.grids.index import grid_bounds
from geo.query.filters import Filters
from geo.query.mappoints import KINDS, check_point_filters
from geo.settings import get_settings
from maps import common
from maps.i18n import KINDS as KIND_LABELS
from maps.i18n import Catalogue


def parse_since(since: str | None) -> datetime | None:
    if not since:
        return None
    try:
        return datetime.fromisoformat(since)
    except ValueError:
        raise InputError(
            f"since {since!r} must be a date or time in ISO 8601, e.g. 2026-01-31 or 2026-01-31T08:00+08:00"
        ) from None


def share_items(p: common.Page) -> list[Markup]:
    """The legend of the coverage by grid: a colour for each band of shares."""
    swatch = "<span class='wg-swatch wg-square' style='background:{};border:1px solid #777'></span>"
    items = [Markup("<b>") + escape(p.t("coverage_by_grid")) + Markup("</b>")]
    low = 0.0
    for high, colour in common.SHARE_CLASSES:
        items.append(Markup(swatch.format(colour)) + escape(f"{low:.0%}–{high:.0%}"))
        low = high
    items.append(Markup(swatch.format(common.NO_BUILDINGS_COLOUR)) + escape(p.t("coverage_no_buildings")))
    return items


def build_incident_map(
    session: Session,
    lang: str = "zh",
    basemap: str | None = None,
    grid: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    since: str | None = None,
    query: dict[str, str] | None = None,
) -> folium.Map:
    check_point_filters(Filters(grid=grid, kind=kind, status=status, since=parse_since(since)))
    bounds = grid_bounds(session, grid)
    if grid is not None and bounds is None:
        raise NotFound(f"No grid with code {grid!r}")
    if bounds is None:
        bounds = grid_bounds(session)
    title = common.t(lang, "incidents_title") + (f" · {grid}" if grid else "")
    p = common.new_page("incidents", title, lang, basemap, bounds, query or {}, Catalogue.of(session))
    common.add_controls(p)

    grids = folium.FeatureGroup(name=common.layer_name("border-all", p.t("grids"))).add_to(p.map)
    estates = folium.FeatureGroup(name=common.layer_name("tree-city", p.t("estates"))).add_to(p.map)
    buildings = folium.FeatureGroup(name=common.layer_name("building", p.t("buildings"))).add_to(p.map)
    shown = [kind] if kind else list(KINDS)
    kinds = {
        k: plugins.MarkerCluster(
            name=common.layer_name(common.KIND_ICON[k], KIND_LABELS[lang][k]),
            icon_create_function=common.CLUSTER_ICON,
            options={
                "chunkedLoading": True,
                "showCoverageOnHover": False,
                "maxClusterRadius": 50,
                "disableClusteringAtZoom": 19,
            },
        ).add_to(p.map)
        for k in shown
    }
    coverage = folium.FeatureGroup(
        name=common.layer_name("clipboard-check", p.t("coverage_by_grid")), show=False
    ).add_to(p.map)
    heat = plugins.HeatMap(
        [], name=common.layer_name("fire", p.t("heat")), show=False, radius=20, blur=16, min_opacity=0.35
    ).add_to(p.map)
    components = common.components_layer(p)
    common.title_bar(p, title)
    common.legend(p, shown, common.area_items(p) + share_items(p))
    return common.finish(
        p,
        {
            "grids": grids,
            "estates": estates,
            "buildings": buildings,
            "kinds": kinds,
            "heat": heat,
            "coverage": coverage,
            "components": components,
        },
        **common.tile_settings(session),
        filters={"grid": grid, "kind": kind, "status": status, "since": since},
        shareClasses=common.SHARE_CLASSES,
        noBuildingsColour=common.NO_BUILDINGS_COLOUR,
        staleDays=get_settings().patrol_stale_days,
    )
