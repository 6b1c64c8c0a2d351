"""``/dashboard``: the indicators of a period on one page, for community staff, administrators
and grid leaders (their grids).

The page is plain HTML with the dashboard's own ES modules (``maps/static/dashboard*.js``); all
figures come from the indicators API (``/api/v1/stats/indicators``, ``/series``, ``/incidents``)
asked by the browser with the visitor's own sign-in, so the API's access policy alone decides
which rows they see. Charts are Apache ECharts, the map of grids Leaflet, both from npm, pinned in
``maps/assets/package.json`` and served by wangge (``maps.assets``): the page asks no other host.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape

from geo.access.policy import Actor, indicator_scope
from maps import assets
from maps.i18n import CATEGORY_LABELS, KINDS, ROLES, dashboard_words, status_labels

# The dashboard's own files in maps/static: the page's module, the modules it imports, its style.
MODULE = "dashboard.js"
IMPORTED = ("dashboard-charts.js", "dashboard-map.js")
CSS = "dashboard.css"
# The vendor files: (npm package, file in it).
VENDOR = {
    "echarts": ("echarts", "dist/echarts.esm.min.js"),
    "leaflet_js": ("leaflet", "dist/leaflet.js"),
    "leaflet_css": ("leaflet", "dist/leaflet.css"),
}
PRESETS = ("week", "month", "quarter", "year")


def _config(lang: str, actor: Actor) -> dict[str, Any]:
    """What the page's module needs: the words, and whose grids it shows (None: all)."""
    own = None if indicator_scope(actor) is None else sorted(actor.grid_codes or ())
    return {
        "lang": lang,
        "words": dashboard_words(lang),
        "kinds": KINDS[lang],
        "categories": CATEGORY_LABELS[lang],
        "statuses": status_labels(lang),
        "grids": own,
    }


def _json_script(element_id: str, data: Any) -> Markup:
    text = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
    return Markup(f"<script type='application/json' id='{element_id}'>{text}</script>")


def _import_map() -> Markup:
    imports = {"echarts": assets.vendor_url(*VENDOR["echarts"])}
    imports.update({f"{assets.GLUE_URL}/{name}": assets.glue_url(name) for name in IMPORTED})
    return Markup("<script type='importmap'>") + Markup(json.dumps({"imports": imports})) + Markup("</script>")


def _section(name: str, title: str, body: Markup, tools: Markup | None = None) -> Markup:
    return (
        Markup(f"<section class='card {name}' id='card-{name}'><header><h2>")
        + escape(title)
        + Markup("</h2>")
        + (tools or Markup(""))
        + Markup("</header>")
        + body
        + Markup("</section>")
    )


def _switch(name: str, options: dict[str, str]) -> Markup:
    """A row of toggle buttons (one pressed), e.g. week/month."""
    out = Markup(f"<div class='switch' role='group' data-switch='{name}'>")
    for i, (value, label) in enumerate(options.items()):
        pressed = "true" if i == 0 else "false"
        out += (
            Markup(f"<button type='button' data-value='{value}' aria-pressed='{pressed}'>")
            + escape(label)
            + Markup("</button>")
        )
    return out + Markup("</div>")


def _filters(w: dict[str, str]) -> Markup:
    presets = Markup("").join(
        Markup(f"<button type='button' data-preset='{p}'>") + escape(w[f"preset_{p}"]) + Markup("</button>")
        for p in PRESETS
    )
    return (
        Markup("<form class='filters' id='filters'><div class='presets' role='group'>")
        + presets
        + Markup("</div><label>")
        + escape(w["start"])
        + Markup(" <input type='date' id='start' name='start' required></label><label>")
        + escape(w["end"])
        + Markup(" <input type='date' id='end' name='end' required></label><label>")
        + escape(w["indicator"])
        + Markup(" <select id='indicator' name='indicator'></select></label>")
        + Markup("<p class='message' id='message' role='alert' hidden></p></form>")
    )


def dashboard_page(lang: str, actor: Actor, display_name: str | None, query: dict[str, str]) -> str:
    """The page's HTML: its frame and words; the module fills it from the API."""
    w = dashboard_words(lang)
    other = "zh" if lang == "en" else "en"
    vendor = {key: assets.vendor_url(*entry) for key, entry in VENDOR.items()}
    suffix = "?lang=en" if lang == "en" else ""
    who = f"{display_name or actor.name}（{ROLES[lang].get(actor.role, actor.role)}）"
    if lang == "en":
        who = f"{display_name or actor.name} ({ROLES[lang].get(actor.role, actor.role)})"
    switch_href = "/dashboard?" + urlencode({**query, "lang": other})
    head = (
        Markup("<!doctype html><html lang='")
        + ("en" if lang == "en" else "zh-CN")
        + Markup("'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width, initial-scale=1'>")
        + Markup(f"<link rel='icon' type='image/svg+xml' href='{assets.FAVICON}'><title>")
        + escape(w["title"])
        + Markup(f"</title><link rel='stylesheet' href='{vendor['leaflet_css']}'>")
        + Markup(f"<link rel='stylesheet' href='{assets.glue_url(CSS)}'>")
        + _json_script("wangge-dashboard", _config(lang, actor))
        + _import_map()
        + Markup(f"<script src='{vendor['leaflet_js']}'></script>")
        + Markup(f"<script type='module' src='{assets.glue_url(MODULE)}'></script></head><body>")
    )
    top = (
        Markup("<header class='top'><h1>")
        + escape(w["title"])
        + Markup(f"</h1><nav><a href='/{suffix}'>")
        + escape(w["home"])
        + Markup(f"</a><a href='/maps/incidents{suffix}'>")
        + escape(w["incident_map"])
        + Markup("</a><span class='who'>")
        + escape(who)
        + Markup("</span><a class='lang' id='lang' hreflang='")
        + other
        + Markup("' href='")
        + escape(switch_href)
        + Markup("'>")
        + escape(w["other_lang"])
        + Markup("</a></nav></header>")
    )
    trend_tools = _switch("interval", {"month": w["by_month"], "week": w["by_week"]})
    ranking_tools = _switch("ranking", {"grid": w["grids"], "worker": w["workers"]}) + Markup(
        "<span class='exports' id='exports'></span>"
    )
    main = (
        Markup("<main>")
        + _filters(w)
        + Markup("<div class='kpis' id='kpis'></div><div class='row'>")
        + _section(
            "map",
            w["map"],
            Markup("<div class='map-box' id='map'></div><div class='legend' id='legend' aria-live='polite'></div>"),
        )
        + _section("trend", w["trend"], Markup("<div class='chart' id='trend-chart'></div>"), trend_tools)
        + Markup("</div><div class='row'>")
        + _section(
            "categories",
            w["categories"],
            Markup("<div class='chart' id='category-chart'></div>"),
            Markup("<span class='exports' id='category-exports'></span>"),
        )
        + _section("ranking", w["ranking"], Markup("<div class='table-box' id='ranking-table'></div>"), ranking_tools)
        + Markup("</div><div class='row'>")
        + _section("overdue", w["overdue_list"], Markup("<ul class='incidents' id='overdue-list'></ul>"))
        + _section("supervised", w["supervised_list"], Markup("<ul class='incidents' id='supervised-list'></ul>"))
        + Markup("</div></main>")
    )
    panel = (
        Markup(
            "<aside class='panel' id='panel' hidden aria-labelledby='panel-title'><header><h2 id='panel-title'></h2>"
        )
        + Markup("<button type='button' class='close' id='panel-close' aria-label='")
        + escape(w["close"])
        + Markup(
            "'>×</button></header><p class='muted' id='panel-count'></p><ul class='incidents' id='panel-list'></ul></aside>"
        )
    )
    return str(head + top + main + panel + Markup("</body></html>"))
