"""``/maps/grids/{code}``: one grid with its buildings, building heads, responders on duty and
open incidents."""

from __future__ import annotations

import folium
from folium import plugins
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from geo.errors import NotFound
from geo.grids.index import grid_bounds, grid_names
from geo.query.mappoints import KINDS
from maps import common
from maps.i18n import KINDS as KIND_LABELS
from maps.i18n import ROLES


def build_grid_map(
    session: Session, code: str, lang: str = "zh", basemap: str | None = None, query: dict[str, str] | None = None
) -> folium.Map:
    bounds = grid_bounds(session, code)
    if bounds is None:
        raise NotFound(f"No grid with code {code!r}")
    name = grid_names(session).get(code, "")
    title = f"{common.t(lang, 'grid_title')} · {name} {code}"
    p = common.new_page("grid", title, lang, basemap, bounds, query or {})
    common.add_controls(p)

    grids = folium.FeatureGroup(name=common.layer_name("border-all", p.t("grids"))).add_to(p.map)
    buildings = folium.FeatureGroup(name=common.layer_name("building", p.t("buildings"))).add_to(p.map)
    heads = folium.FeatureGroup(name=common.layer_name("house-user", p.t("heads"))).add_to(p.map)
    on_duty = folium.FeatureGroup(name=common.layer_name("person-walking", p.t("on_duty"))).add_to(p.map)
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
    common.legend(p, list(KINDS), common.area_items(p, estates=False) + roles)
    return common.finish(
        p,
        {"grids": grids, "buildings": buildings, "heads": heads, "onDuty": on_duty, "kinds": kinds},
        gridOnly=code,
        filters={"grid": code, "status": "open"},
    )
