"""folium elements of wangge's own: the glue that fills the layers from the API, a legend, a title."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from branca.element import Element, Figure, MacroElement
from folium.elements import JSCSSMixin
from folium.template import Template
from markupsafe import Markup, escape

from maps.assets import GLUE_CSS, PAGE_MODULES, SHARED_MODULE, glue_url, import_map, vendor_url
from maps.basemaps import Basemap

# The pages drawn from vector tiles: Leaflet.VectorGrid (with its protobuf reader) and leaflet-search.
TILE_JS = [
    ("leaflet_vectorgrid", ("leaflet.vectorgrid", "dist/Leaflet.VectorGrid.bundled.min.js")),
    ("leaflet_search", ("leaflet-search", "dist/leaflet-search.min.js")),
]
TILE_CSS = [("leaflet_search_css", ("leaflet-search", "dist/leaflet-search.min.css"))]


class HeadHtml(Element):
    """A piece of HTML in the page's head, written as it is (not a template)."""

    _template = Template("{{ this.html }}")

    def __init__(self, html: str):
        super().__init__()
        self._name = "HeadHtml"
        self.html = str(html)


class Glue(JSCSSMixin, MacroElement):
    """Starts the map's page (maps/static: the page's ES module, which imports ``shared.js``) on
    the map with the named layers.

    folium's inline script runs before any module script: it leaves the map, the page's settings,
    its layers and basemaps in the queue ``window.wanggeMaps``, and the page's module starts the
    map from there once it has loaded (``serve`` in maps/static/shared.js).

    Add it to the map after every layer and control it refers to.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            (window.wanggeMaps = window.wanggeMaps || []).push([
                {{ this._parent.get_name() }},
                {{ this.config|tojson }},
                {
                {%- for key, layer in this.layers.items() %}
                    {%- if layer is mapping %}
                    {{ key|tojson }}: {
                        {%- for sub, l in layer.items() %}{{ sub|tojson }}: {{ l.get_name() }},{% endfor -%}
                    },
                    {%- else %}
                    {{ key|tojson }}: {{ layer.get_name() }},
                    {%- endif %}
                {%- endfor %}
                },
                [
                {%- for base in this.bases %}
                    [{{ base.layer.get_name() }}, {{ base.frame|tojson }}, {{ base.key|tojson }}],
                {%- endfor %}
                ]
            ]);
        {% endmacro %}
        """
    )

    def __init__(self, config: dict[str, Any], layers: dict[str, Any], bases: list[Basemap]):
        super().__init__()
        self._name = "WanggeGlue"
        self.config = config
        self.layers = layers
        self.bases = bases
        self.module = PAGE_MODULES[config["page"]]
        self.default_js = []
        self.default_css = [("wangge_maps_css", glue_url(GLUE_CSS))]
        if "tiles" in config:  # vector tiles, and the search by code that goes with them
            self.default_js += [(name, vendor_url(*where)) for name, where in TILE_JS]
            self.default_css += [(name, vendor_url(*where)) for name, where in TILE_CSS]

    def render(self, **kwargs):
        # The import map first: it must be known before any module is fetched. The shared module
        # is fetched along with the page's (not after it): the map starts as soon as the page is read.
        root = self.get_root()
        assert isinstance(root, Figure)  # rendered as part of a map's Figure
        header = root.header
        imports = json.dumps(import_map()).replace("<", "\\u003c")
        header.add_child(HeadHtml(f'<script type="importmap">{imports}</script>'), name="wangge_maps_importmap")
        header.add_child(
            HeadHtml(f'<link rel="modulepreload" href="{glue_url(SHARED_MODULE)}">'), name="wangge_maps_shared"
        )
        header.add_child(
            HeadHtml(f'<script type="module" src="{glue_url(self.module)}"></script>'), name="wangge_maps_js"
        )
        super().render(**kwargs)


class Corner(MacroElement):
    """A fixed box of HTML in one corner of the map (a Leaflet control), e.g. a legend."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
            {{ this.get_name() }}.onAdd = function () {
                var div = L.DomUtil.create("div", {{ this.css_class|tojson }});
                div.innerHTML = {{ this.html|tojson }};
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, html: str, position: str = "bottomright", css_class: str = ""):
        super().__init__()
        self._name = "Corner"
        self.html = str(html)
        self.position = position
        self.css_class = css_class


def html_list(items: Sequence[str]) -> Markup:
    return (
        Markup("<ul>") + Markup("").join(Markup("<li>") + Markup(i) + Markup("</li>") for i in items) + Markup("</ul>")
    )


def text(value: Any) -> Markup:
    return escape(value)


class Script(MacroElement):
    """A few lines of JavaScript run where the element stands among the map's scripts."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            {{ this.code }}
        {% endmacro %}
        """
    )

    def __init__(self, code: str):
        super().__init__()
        self._name = "Script"
        self.code = code
