"""``/maps/planner``: renovation points (民生改造点位), drawn, changed and moved by planners.

Leaflet.draw (folium's Draw) places a point; the glue asks for a title and a category and stores
it through ``POST /api/v1/incidents`` with the planner's session (signed in at ``/login``: the
cookie, and the CSRF token on every write). Existing points are changed and moved with ``PATCH``
and ``If-Match``. Without a session of a role that may plan, the page says so and links to
``/login``; whatever the API refuses is shown as the API says it, and nothing is stored.
"""

from __future__ import annotations

import json

import folium
from folium import plugins
from sqlalchemy.orm import Session

from geo.grids.index import grid_bounds
from maps import common
from maps.elements import Script
from maps.i18n import DRAW, Catalogue

# Merge our words into L.drawLocal before the draw control is made (it reads them then).
DRAW_LOCAL = """(function merge(into, from) {
    Object.keys(from).forEach(function (k) {
        if (from[k] && typeof from[k] === "object") { merge(into[k] = into[k] || {}, from[k]); } else { into[k] = from[k]; }
    });
})(L.drawLocal, %s);"""


def build_planner_map(
    session: Session, lang: str = "zh", basemap: str | None = None, query: dict[str, str] | None = None
) -> folium.Map:
    title = common.t(lang, "planner_title")
    p = common.new_page("planner", title, lang, basemap, grid_bounds(session), query or {}, Catalogue.of(session))
    common.add_controls(p)

    grids = folium.FeatureGroup(name=common.layer_name("border-all", p.t("grids"))).add_to(p.map)
    renovation = folium.FeatureGroup(
        name=common.layer_name(common.KIND_ICON["renovation"], p.t("renovation_layer"))
    ).add_to(p.map)
    Script(DRAW_LOCAL % json.dumps(DRAW[lang], ensure_ascii=False)).add_to(p.map)
    plugins.Draw(
        feature_group=renovation,
        position="topleft",
        show_geometry_on_click=False,
        draw_options={
            "polyline": False,
            "polygon": False,
            "rectangle": False,
            "circle": False,
            "circlemarker": False,
            "marker": True,
        },
        edit_options={"remove": False},
    ).add_to(p.map)
    common.title_bar(p, title)
    common.legend(p, ["renovation"], common.area_items(p, estates=False)[:1], note=False)
    return common.finish(p, {"grids": grids, "renovation": renovation}, **common.tile_settings(session))
