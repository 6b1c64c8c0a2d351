"""``/maps/grids/{code}``: one grid with its buildings, building heads, responders on duty, open
incidents, its patrol coverage of the day (``?date=YYYY-MM-DD``, today by default) and, off until
chosen, its components (部件).

The coverage comes from ``GET /api/v1/grids/{code}/coverage``, asked by the page in the browser
with the visitor's own sign-in, so that the API's access policy alone decides who sees which
buildings were visited and the tracks: everybody else sees the shares only.
"""

from __future__ import annotations

import re
from datetime import date

import folium
from folium import plugins
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from geo.errors import InputError, NotFound
from geo.grids.index import grid_bounds, grid_names
from geo.query.mappoints import KINDS
from geo.settings import get_settings
from maps import common
from maps.i18n import KINDS as KIND_LABELS
from maps.i18n import ROLES, Catalogue


def parse_day(value: str | None) -> str | None:
    """A China date as YYYY-MM-DD, checked; None for today."""
    if not value:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise InputError(f"date {value!r} must be a day written YYYY-MM-DD, e.g. 2026-05-10")


def coverage_items(p: common.Page, stale_days: int) -> list[Markup]:
    colours = common.COVERAGE_COLOURS
    swatch = "<span class='wg-swatch wg-square' style='background:{}'></span>"
    return [
        Markup(swatch.format(colours["visited"])) + escape(p.t("coverage_visited")),
        Markup(swatch.format(colours["unvisited"])) + escape(p.t("coverage_unvisited")),
        Markup(swatch.format(colours["stale"])) + escape(p.t("coverage_stale").format(days=stale_days)),
        Markup(f"<span class='wg-line' style='border-top-color:{colours['track']}'></span>") + escape(p.t("tracks")),
    ]


def build_grid_map(
    session: Session, code: str, lang: str = "zh", basemap: str | None = None, query: dict[str, str] | None = None
) -> folium.Map:
    day = parse_day((query or {}).get("date"))
    bounds = grid_bounds(session, code)
    if bounds is None:
        raise NotFound(f"No grid with code {code!r}")
    name = grid_names(session).get(code, "")
    title = f"{common.t(lang, 'grid_title')} · {name} {code}"
    p = common.new_page("grid", title, lang, basemap, bounds, query or {}, Catalogue.of(session))
    common.add_controls(p)

    grids = folium.FeatureGroup(name=common.layer_name("border-all", p.t("grids"))).add_to(p.map)
    buildings = folium.FeatureGroup(name=common.layer_name("building", p.t("buildings"))).add_to(p.map)
    heads = folium.FeatureGroup(name=common.layer_name("house-user", p.t("heads"))).add_to(p.map)
    on_duty = folium.FeatureGroup(name=common.layer_name("person-walking", p.t("on_duty"))).add_to(p.map)
    coverage = folium.FeatureGroup(name=common.layer_name("clipboard-check", p.t("coverage"))).add_to(p.map)
    tracks = folium.FeatureGroup(name=common.layer_name("route", p.t("tracks"))).add_to(p.map)
    components = common.components_layer(p)
    kinds = {
        k: plugins.MarkerCluster(
            name=common.layer_name(common.KIND_ICON[k], KIND_LABELS[lang][k]),
            icon_create_function=common.CLUSTER_ICON,
            options={
                "chunkedLoading": True,
                "showCoverageOnHover": False,
                "maxClusterRadius": 40,
                "disableClusteringAtZoom": 18,
            },
        ).add_to(p.map)
        for k in KINDS
    }
    common.title_bar(p, title)
    roles = [
        Markup(f"<i class='fa fa-{icon}'></i> ") + escape(ROLES[lang].get(role, role))
        for role, (icon, _) in common.ROLE_ICON.items()
    ]
    stale_days = get_settings().patrol_stale_days
    common.legend(p, list(KINDS), common.area_items(p, estates=False) + roles + coverage_items(p, stale_days))
    return common.finish(
        p,
        {
            "grids": grids,
            "buildings": buildings,
            "heads": heads,
            "onDuty": on_duty,
            "kinds": kinds,
            "coverage": coverage,
            "tracks": tracks,
            "components": components,
        },
        gridOnly=code,
        filters={"grid": code, "status": "open"},
        coverage={"date": day, "colours": common.COVERAGE_COLOURS, "staleDays": stale_days},
    )
