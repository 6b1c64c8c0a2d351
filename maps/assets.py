"""The maps' JavaScript and CSS, served by wangge itself: no page asks a CDN for anything.

folium names each resource it needs (Leaflet, jQuery, Bootstrap, Font Awesome, its plugins) with
a public CDN address. :func:`localise` rewrites each of them, by folium's resource name, to a file
of an npm package pinned in ``maps/assets/package.json`` and installed by ``npm ci`` at set-up
(``scripts/lib.sh``) into ``maps/assets/node_modules``. Those files are served under
``/static/vendor/PACKAGE@VERSION/PATH``; the version in the address is the installed one, so
browsers may keep them for good. A resource folium adds that is not in :data:`FOLIUM_RESOURCES`
stops the page from rendering (:class:`UnknownAsset`) instead of quietly loading from the internet.

The maps' own glue (``maps/static``) is served under ``/static/maps``: native ES modules, one
shared (``shared.js``) and one per page, which imports it. The page's module is addressed with its
content hash; an import map gives the shared module's address its hash too (:func:`import_map`).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from branca.element import Element

from geo.settings import get_settings

ASSETS_DIR = Path(__file__).with_name("assets")
PACKAGE_JSON = ASSETS_DIR / "package.json"
GLUE_DIR = Path(__file__).with_name("static")
VENDOR_URL = "/static/vendor"
GLUE_URL = "/static/maps"
FAVICON = GLUE_URL + "/favicon.svg"
SETUP_COMMAND = "scripts/serve-demo.sh --no-serve"

# folium's resource name -> (npm package, file in it); None: not used by the maps, left out.
FOLIUM_RESOURCES: dict[str, tuple[str, str] | None] = {
    # folium.Map
    "leaflet": ("leaflet", "dist/leaflet.js"),
    "jquery": ("jquery", "dist/jquery.min.js"),
    "bootstrap": ("bootstrap", "dist/js/bootstrap.bundle.min.js"),
    "awesome_markers": ("leaflet.awesome-markers", "dist/leaflet.awesome-markers.min.js"),
    "leaflet_css": ("leaflet", "dist/leaflet.css"),
    "bootstrap_css": ("bootstrap", "dist/css/bootstrap.min.css"),
    "glyphicons_css": None,  # Bootstrap 3's glyphicons: the maps use Font Awesome icons only
    "awesome_markers_font_css": ("@fortawesome/fontawesome-free", "css/all.min.css"),
    "awesome_markers_css": ("leaflet.awesome-markers", "dist/leaflet.awesome-markers.css"),
    "awesome_rotate_css": None,  # rotated icons: not used
    # folium.plugins
    "markerclusterjs": ("leaflet.markercluster", "dist/leaflet.markercluster.js"),
    "markerclustercss": ("leaflet.markercluster", "dist/MarkerCluster.css"),
    "markerclusterdefaultcss": ("leaflet.markercluster", "dist/MarkerCluster.Default.css"),
    "leaflet-heat.js": ("leaflet.heat", "dist/leaflet-heat.js"),
    "Control.Fullscreen.js": ("leaflet.fullscreen", "Control.FullScreen.js"),
    "Control.FullScreen.css": ("leaflet.fullscreen", "Control.FullScreen.css"),
    "Control_locate_min_js": ("leaflet.locatecontrol", "dist/L.Control.Locate.min.js"),
    "Control_locate_min_css": ("leaflet.locatecontrol", "dist/L.Control.Locate.min.css"),
    "leaflet_draw_js": ("leaflet-draw", "dist/leaflet.draw.js"),
    "leaflet_draw_css": ("leaflet-draw", "dist/leaflet.draw.css"),
    "Leaflet.Search.js": ("leaflet-search", "dist/leaflet-search.min.js"),
    "Leaflet.Search.css": ("leaflet-search", "dist/leaflet-search.min.css"),
}

# The maps' own files (maps/static), added by maps.elements.Glue: the module every page imports,
# the module of each page (by the page's name in its settings), the style sheet.
SHARED_MODULE = "shared.js"
PAGE_MODULES = {"incidents": "incidents.js", "grid": "grid.js", "planner": "planner.js"}
GLUE_CSS = "wangge-maps.css"
GLUE_FILES = (SHARED_MODULE, *PAGE_MODULES.values(), GLUE_CSS)


class UnknownAsset(RuntimeError):
    """folium asked for a resource wangge does not serve itself."""


def modules_dir() -> Path:
    configured = get_settings().map_assets_dir
    return Path(configured) if configured else ASSETS_DIR / "node_modules"


@lru_cache
def pinned() -> dict[str, str]:
    """The npm packages the maps use, with their pinned versions."""
    return dict(json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))["dependencies"])


def installed_version(package: str) -> str | None:
    try:
        return json.loads((modules_dir() / package / "package.json").read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        return None


def missing() -> list[str]:
    """What is not installed as pinned: empty when the maps can be served."""
    problems = []
    for package, version in pinned().items():
        found = installed_version(package)
        if found != version:
            problems.append(f"{package}@{version}" + (f" (found {found})" if found else ""))
    for entry in FOLIUM_RESOURCES.values():
        if entry is not None and not (modules_dir() / entry[0] / entry[1]).is_file():
            problems.append(f"{entry[0]}/{entry[1]}")
    return sorted(set(problems))


def vendor_url(package: str, path: str) -> str:
    if package not in pinned():
        raise UnknownAsset(f"{package} is not one of the pinned map packages (maps/assets/package.json)")
    return f"{VENDOR_URL}/{package}@{pinned()[package]}/{path}"


@lru_cache
def _glue_hash(name: str) -> str:
    return hashlib.sha256((GLUE_DIR / name).read_bytes()).hexdigest()[:12]


def glue_url(name: str) -> str:
    """Address of one of the maps' own files, with its content hash (a new file, a new address)."""
    return f"{GLUE_URL}/{name}?v={_glue_hash(name)}"


def import_map() -> dict[str, dict[str, str]]:
    """The page's import map: the shared module, as the page modules import it (``./shared.js``),
    at its address with its content hash, so that a browser never runs a page's module with an
    older shared one."""
    return {"imports": {f"{GLUE_URL}/{SHARED_MODULE}": glue_url(SHARED_MODULE)}}


def _local(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for name, url in pairs:
        if url.startswith("/static/"):
            out.append((name, url))
            continue
        if name not in FOLIUM_RESOURCES:
            raise UnknownAsset(
                f"folium wants {name!r} from {url}; add it to maps.assets.FOLIUM_RESOURCES and maps/assets/package.json"
            )
        entry = FOLIUM_RESOURCES[name]
        if entry is not None:
            out.append((name, vendor_url(*entry)))
    return out


def _walk(element: Element):
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def localise(element: Element) -> None:
    """Point every JS/CSS resource of the figure holding ``element`` at wangge's own copies."""
    root = element.get_root()
    for el in _walk(root):
        if hasattr(el, "default_js"):
            el.default_js = _local(list(el.default_js))
        if hasattr(el, "default_css"):
            el.default_css = _local(list(el.default_css))


def render(element: Element) -> str:
    """The whole HTML page of the figure holding ``element``, with local assets only."""
    localise(element)
    return element.get_root().render()


def resolve(rest: str) -> Path | None:
    """The file for ``/static/vendor/<rest>``, or None (unknown package, version or file)."""
    parts = rest.split("/")
    if parts[0].startswith("@"):
        if len(parts) < 3:
            return None
        spec, inner = parts[0] + "/" + parts[1], parts[2:]
    else:
        spec, inner = parts[0], parts[1:]
    package, _, version = spec.rpartition("@")
    if not package or pinned().get(package) != version or not inner or any(p in ("", ".", "..") for p in inner):
        return None
    base = (modules_dir() / package).resolve()
    path = base.joinpath(*inner).resolve()
    if base not in path.parents or not path.is_file():
        return None
    return path
