"""OGC API Tiles: vector tiles (MVT) of each collection and of several at once, with TileJSON.

Tiles are addressed ``{z}/{x}/{y}`` (zoom, column, row), as web maps ask for them; the tilesets'
templated links name the same places ``{tileMatrix}/{tileCol}/{tileRow}``. A tile answers with
an ETag made from its layers' revisions, so a client revalidating an unchanged tile gets a 304
without the tile being built again; an empty tile is a 204.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response

from api.deps import ActorDep, NowDep, ReadTurnSessionDep, SessionDep
from geo.access.policy import check_may_read_tiles
from geo.errors import InputError, NotFound
from geo.layers import LAYERS
from geo.query.extent import layer_extent
from geo.spatial.crs import parse_crs
from geo.tiles import matrix
from geo.tiles.layers import DEFAULT_LAYERS, TILE_LAYERS, TileLayer, tile_layer, tile_layers
from geo.tiles.service import etag, max_age, stamp, tile_bytes, tile_crs

router = APIRouter(tags=["OGC API Tiles"])

MVT = "application/vnd.mapbox-vector-tile"
_CONF = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"
# The conformance classes the tiles add to /ogc/conformance.
CONFORMANCE: tuple[str, ...] = tuple(
    _CONF + name for name in ("core", "tileset", "tilesets-list", "geodata-tilesets", "dataset-tilesets", "mvt")
) + ("http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",)

TMS = matrix.TMS_ID
_DATASET_TITLE = "Collections as layers of one vector tile"
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such collection, or it has no tiles"}}
_TILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {MVT: {}}, "description": "The tile (Mapbox Vector Tile 2.1)"},
    204: {"description": "The tile holds no feature"},
    304: {"description": "Not modified since the ETag sent in If-None-Match"},
    **_NOT_FOUND,
}

Crs = Annotated[
    Literal["wgs84", "gcj02"],
    Query(description="wgs84, or gcj02 to draw over Amap's (or Tencent's) basemaps, which are shifted"),
]
Collections = Annotated[
    str | None,
    Query(description=f"Comma-separated collections, each a layer of the tile (default: {','.join(DEFAULT_LAYERS)})"),
]


def _collection(collection_id: str, actor) -> TileLayer:
    if collection_id not in LAYERS:
        raise NotFound(f"No collection {collection_id!r}: use one of {', '.join(TILE_LAYERS)}")
    if collection_id not in TILE_LAYERS:
        raise NotFound(f"Collection {collection_id!r} has no vector tiles: a track is personal data")
    check_may_read_tiles(actor, collection_id)
    return tile_layer(collection_id)


def _collections(names: str | None, actor) -> tuple[TileLayer, ...]:
    try:
        layers = tile_layers(names)
    except NotFound as exc:
        raise InputError(f"collections: {exc}") from None
    if not layers:
        raise InputError(f"collections: name at least one of {', '.join(TILE_LAYERS)}")
    for layer in layers:
        check_may_read_tiles(actor, layer.name)
    return layers


def _dataset(names: str | None, actor, crs: str) -> tuple[tuple[TileLayer, ...], str]:
    """The dataset tileset's layers, and the query string that names them (and the CRS) in its links."""
    layers = _collections(names, actor)
    return layers, _query(crs, ",".join(layer.name for layer in layers))


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _query(crs: str, collections: str | None = None) -> str:
    pairs = [("collections", collections)] if collections else []
    pairs += [("crs", crs)] if crs != "wgs84" else []
    return ("?" + "&".join(f"{k}={v}" for k, v in pairs)) if pairs else ""


def _union(boxes: Sequence[tuple[float, float, float, float] | None]) -> list[float] | None:
    found = [b for b in boxes if b is not None]
    if not found:
        return None
    return [min(b[0] for b in found), min(b[1] for b in found), max(b[2] for b in found), max(b[3] for b in found)]


def _bounds(session, layers: Sequence[TileLayer]) -> list[float]:
    box = _union([layer_extent(session, layer.name, layer.deps) for layer in layers])
    return box or [-180.0, -matrix.MAX_LAT, 180.0, matrix.MAX_LAT]


def _tileset(
    request: Request, session, layers: Sequence[TileLayer], path: str, title: str, query: str
) -> dict[str, Any]:
    """The tileset's metadata (OGC API Tiles, tileset conformance class)."""
    base = _base(request)
    bounds = _bounds(session, layers)
    minzoom = min(layer.minzoom for layer in layers)
    return {
        "title": title,
        "dataType": "vector",
        "crs": matrix.CRS_URI,
        "tileMatrixSetURI": matrix.TMS_URI,
        "boundingBox": {
            "lowerLeft": bounds[:2],
            "upperRight": bounds[2:],
            "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
        },
        "tileMatrixSetLimits": [
            {"tileMatrix": str(z), **_limits(bounds, z)} for z in range(minzoom, matrix.MAX_ZOOM + 1)
        ],
        "layers": [
            {
                "id": layer.name,
                "title": LAYERS[layer.name].plural,
                "dataType": "vector",
                "geometryDimension": 0 if "POINT" in _geometry(layer) else 2,
                "minTileMatrix": str(layer.minzoom),
                "maxTileMatrix": str(matrix.MAX_ZOOM),
                "propertiesSchema": {
                    "type": "object",
                    "properties": {f: {"type": t.lower()} for f, t in layer.field_types().items()},
                },
            }
            for layer in layers
        ],
        "links": [
            {"rel": "self", "type": "application/json", "href": f"{base}{path}{query}"},
            _tiling_scheme(base),
            {
                "rel": "item",
                "type": MVT,
                "templated": True,
                "href": f"{base}{path}/{{tileMatrix}}/{{tileCol}}/{{tileRow}}{query}",
            },
            {"rel": "describedby", "type": "application/json", "href": f"{base}{path}/tilejson.json{query}"},
        ],
    }


def _tiling_scheme(base: str) -> dict[str, str]:
    return {
        "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
        "type": "application/json",
        "href": f"{base}/ogc/tileMatrixSets/{TMS}",
    }


def _tilesets(request: Request, path: str, title: str, query: str) -> dict[str, Any]:
    """The tilesets at ``path`` (OGC API Tiles, tilesets-list): one, in WebMercatorQuad."""
    base = _base(request)
    return {
        "tilesets": [
            {
                "title": title,
                "dataType": "vector",
                "crs": matrix.CRS_URI,
                "tileMatrixSetURI": matrix.TMS_URI,
                "links": [
                    {"rel": "self", "type": "application/json", "href": f"{base}{path}/{TMS}{query}"},
                    _tiling_scheme(base),
                ],
            }
        ],
        "links": [{"rel": "self", "type": "application/json", "href": f"{base}{path}{query}"}],
    }


def _geometry(layer: TileLayer) -> str:
    return str(LAYERS[layer.name].model.__table__.c.geom.type.geometry_type)  # type: ignore[attr-defined]


def _limits(bounds: list[float], z: int) -> dict[str, int]:
    top_left = matrix.tile_at(bounds[0], bounds[3], z)
    bottom_right = matrix.tile_at(bounds[2], bounds[1], z)
    return {
        "minTileRow": top_left.y,
        "maxTileRow": bottom_right.y,
        "minTileCol": top_left.x,
        "maxTileCol": bottom_right.x,
    }


def _tilejson(request: Request, session, layers: Sequence[TileLayer], path: str, query: str) -> dict[str, Any]:
    """TileJSON 3.0.0: what MapLibre, Leaflet.VectorGrid and OpenLayers read to draw the tiles."""
    bounds = _bounds(session, layers)
    minzoom = min(layer.minzoom for layer in layers)
    return {
        "tilejson": "3.0.0",
        "name": ",".join(layer.name for layer in layers),
        "scheme": "xyz",
        "tiles": [f"{_base(request)}{path}/{{z}}/{{x}}/{{y}}{query}"],
        "minzoom": minzoom,
        "maxzoom": matrix.MAX_ZOOM,
        "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, max(minzoom, 14)],
        "vector_layers": [
            {
                "id": layer.name,
                "description": LAYERS[layer.name].title,
                "minzoom": layer.minzoom,
                "maxzoom": matrix.MAX_ZOOM,
                "fields": layer.field_types(),
            }
            for layer in layers
        ],
    }


def _tile_response(
    session, layers: Sequence[TileLayer], z: int, x: int, y: int, crs_name: str, now, if_none_match: str | None
) -> Response:
    tile = matrix.tile(z, x, y)
    crs = tile_crs(parse_crs(crs_name))
    revision = stamp(session, layers, now)
    tag = etag(layers, revision, tile, crs)
    headers = {
        "ETag": tag,
        "Cache-Control": f"public, max-age={max_age(layers)}, must-revalidate",
        "Vary": "Accept-Encoding",
    }
    if if_none_match is not None and _matches(if_none_match, tag):
        return Response(status_code=304, headers=headers)
    body = tile_bytes(session, layers, tile, now, crs, revision)
    if not body:
        return Response(status_code=204, headers=headers)
    return Response(body, media_type=MVT, headers=headers)


def _matches(if_none_match: str, tag: str) -> bool:
    given = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in given or tag in given


# --------------------------------------------------------------------------- tile matrix sets


@router.get("/tileMatrixSets", summary="The tile matrix sets (tiling schemes) tiles are offered in")
def tile_matrix_sets(request: Request) -> dict[str, Any]:
    href = f"{_base(request)}/ogc/tileMatrixSets/{TMS}"
    return {
        "tileMatrixSets": [
            {
                "id": TMS,
                "title": "Google Maps Compatible for the World",
                "uri": matrix.TMS_URI,
                "links": [{"rel": "self", "type": "application/json", "href": href}],
            }
        ]
    }


@router.get(
    "/tileMatrixSets/{tileMatrixSetId}",
    summary="A tile matrix set's definition",
    responses={404: {"description": "No such tile matrix set"}},
)
def tile_matrix_set(tileMatrixSetId: str) -> dict[str, Any]:  # noqa: N803 (OGC's name)
    if tileMatrixSetId != TMS:
        raise NotFound(f"No tile matrix set {tileMatrixSetId!r}: tiles come in {TMS}")
    return matrix.tile_matrix_set()


# --------------------------------------------------------------------------- one collection


@router.get("/collections/{collectionId}/tiles", summary="A collection's tilesets", responses=_NOT_FOUND)
def collection_tilesets(
    request: Request,
    collectionId: str,  # noqa: N803
    actor: ActorDep,
    crs: Crs = "wgs84",
) -> dict[str, Any]:
    layer = _collection(collectionId, actor)
    path = f"/ogc/collections/{layer.name}/tiles"
    return _tilesets(request, path, f"{LAYERS[layer.name].plural}, vector tiles", _query(crs))


@router.get(f"/collections/{{collectionId}}/tiles/{TMS}", summary="A collection's vector tileset", responses=_NOT_FOUND)
def collection_tileset(
    request: Request,
    collectionId: str,  # noqa: N803
    session: SessionDep,
    actor: ActorDep,
    crs: Crs = "wgs84",
) -> dict[str, Any]:
    layer = _collection(collectionId, actor)
    path = f"/ogc/collections/{layer.name}/tiles/{TMS}"
    return _tileset(request, session, [layer], path, f"{LAYERS[layer.name].plural}, vector tiles", _query(crs))


@router.get(
    f"/collections/{{collectionId}}/tiles/{TMS}/tilejson.json",
    summary="A collection's vector tiles as TileJSON 3.0.0",
    responses=_NOT_FOUND,
)
def collection_tilejson(
    request: Request,
    collectionId: str,  # noqa: N803
    session: SessionDep,
    actor: ActorDep,
    crs: Crs = "wgs84",
) -> dict[str, Any]:
    layer = _collection(collectionId, actor)
    return _tilejson(request, session, [layer], f"/ogc/collections/{layer.name}/tiles/{TMS}", _query(crs))


@router.get(
    f"/collections/{{collectionId}}/tiles/{TMS}/{{z}}/{{x}}/{{y}}",
    summary="A vector tile of a collection: zoom z, column x, row y",
    response_class=Response,
    responses=_TILE_RESPONSES,
)
def collection_tile(
    collectionId: str,  # noqa: N803
    z: int,
    x: int,
    y: int,
    session: ReadTurnSessionDep,
    actor: ActorDep,
    now: NowDep,
    crs: Crs = "wgs84",
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    layer = _collection(collectionId, actor)
    return _tile_response(session, [layer], z, x, y, crs, now, if_none_match)


# --------------------------------------------------------------------------- several collections


@router.get("/tiles", summary="The dataset's tilesets (several collections in each tile)")
def dataset_tilesets(request: Request) -> dict[str, Any]:
    return _tilesets(request, "/ogc/tiles", _DATASET_TITLE, "")


@router.get(f"/tiles/{TMS}", summary="The vector tileset of several collections (the maps' layers)")
def dataset_tileset(
    request: Request, session: SessionDep, actor: ActorDep, collections: Collections = None, crs: Crs = "wgs84"
) -> dict[str, Any]:
    layers, query = _dataset(collections, actor, crs)
    return _tileset(request, session, layers, f"/ogc/tiles/{TMS}", _DATASET_TITLE, query)


@router.get(f"/tiles/{TMS}/tilejson.json", summary="The vector tiles of several collections as TileJSON 3.0.0")
def dataset_tilejson(
    request: Request, session: SessionDep, actor: ActorDep, collections: Collections = None, crs: Crs = "wgs84"
) -> dict[str, Any]:
    layers, query = _dataset(collections, actor, crs)
    return _tilejson(request, session, layers, f"/ogc/tiles/{TMS}", query)


@router.get(
    f"/tiles/{TMS}/{{z}}/{{x}}/{{y}}",
    summary="A vector tile with one layer per collection: zoom z, column x, row y",
    response_class=Response,
    responses={k: v for k, v in _TILE_RESPONSES.items() if k != 404},
)
def dataset_tile(
    z: int,
    x: int,
    y: int,
    session: ReadTurnSessionDep,
    actor: ActorDep,
    now: NowDep,
    collections: Collections = None,
    crs: Crs = "wgs84",
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    layers = _collections(collections, actor)
    return _tile_response(session, layers, z, x, y, crs, now, if_none_match)
