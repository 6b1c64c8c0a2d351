"""The OpenAPI 3.0 document of the OGC API Features at /ogc/api, written for its clients (GDAL's
OAPIF driver, OWSLib, QGIS): paths relative to the /ogc base named in ``servers``, and each
collection's items path with its own queryables as query parameters. GDAL sends an attribute
filter to the server only for the properties it finds declared on
``/collections/<id>/items`` (else on ``/collections/{collectionId}/items``)."""

from __future__ import annotations

from typing import Any

from geo.layers import Layer
from geo.query.ogc import property_names
from geo.query.queryables import queryables
from geo.spatial.crs import CRS84_URI, OGC_CRS

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 10

GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"


def _query(name: str, description: str, schema: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
        **extra,
    }


_CRS_SCHEMA = {"type": "string", "format": "uri", "enum": list(OGC_CRS), "default": CRS84_URI}

COMMON = {
    "f": _query("f", "The answer's format (else by Accept)", {"type": "string", "enum": ["json", "html"]}),
    "lang": _query("lang", "Language of the HTML pages", {"type": "string", "enum": ["zh-CN", "en"]}),
    "limit": _query(
        "limit",
        "Features per page",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        style="form",
        explode=False,
    ),
    "offset": _query("offset", "Features to skip", {"type": "integer", "minimum": 0, "default": 0}),
    "bbox": _query(
        "bbox",
        "minx,miny,maxx,maxy in bbox-crs, in its axis order (EPSG:4326 and 4490: latitude first)",
        {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}},
        style="form",
        explode=False,
    ),
    "bbox-crs": _query("bbox-crs", "The CRS of bbox", _CRS_SCHEMA),
    "crs": _query("crs", "The CRS of the answer's coordinates", _CRS_SCHEMA),
    "datetime": _query(
        "datetime", "An instant or an interval (start/end, .. for an open end) of the collection's time property"
    ),
    "filter": _query("filter", "A CQL2 filter"),
    "filter-lang": _query(
        "filter-lang", "The filter's encoding", {"type": "string", "enum": ["cql2-text", "cql2-json"]}
    ),
    "filter-crs": _query("filter-crs", "The CRS of the filter's geometries", _CRS_SCHEMA),
}
ITEMS_PARAMS = (
    "f",
    "lang",
    "limit",
    "offset",
    "bbox",
    "bbox-crs",
    "crs",
    "datetime",
    "filter",
    "filter-lang",
    "filter-crs",
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _answer(description: str, media: str = JSON) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "object"}}, HTML: {}}}


_ERRORS = {
    "400": {"description": "A parameter that is not understood, or a value that cannot be used"},
    "404": {"description": "No such collection or feature"},
}
_WRITE_ERRORS = {
    "401": {"description": "Sign in (Authorization: Bearer TOKEN)"},
    "403": {"description": "Not yours to change"},
    "412": {"description": "If-Match does not match: the feature changed since it was read"},
    "428": {"description": "Incidents: send If-Match (the ETag read)"},
}
_FEATURE_BODY = {
    "required": True,
    "content": {GEOJSON: {"schema": {"type": "object"}}, JSON: {"schema": {"type": "object"}}},
}
_ID = {"name": "featureId", "in": "path", "required": True, "schema": {"type": "string"}}
_IF_MATCH = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"}}


def _items_get(params: list[dict[str, Any]], summary: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "parameters": params,
        "responses": {"200": _answer("A page of features (GeoJSON)", GEOJSON), **_ERRORS},
    }


def _property_params(entry: Layer) -> list[dict[str, Any]]:
    found = queryables(entry.name)
    return [
        _query(name, f"Only features whose {name} equals this", found[name].schema())
        for name in property_names(entry.name)
    ]


def document(base: str, entries: list[Layer]) -> dict[str, Any]:
    """The OpenAPI document for the collections ``entries`` (those the caller may read)."""
    collection_id = {
        "name": "collectionId",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": [e.name for e in entries]},
    }
    paths: dict[str, Any] = {
        "/": {"get": {"summary": "Landing page", "responses": {"200": _answer("The landing page")}}},
        "/api": {
            "get": {
                "summary": "This document",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.0",
                        "content": {"application/vnd.oai.openapi+json;version=3.0": {}},
                    }
                },
            }
        },
        "/conformance": {"get": {"summary": "Conformance classes", "responses": {"200": _answer("The classes")}}},
        "/collections": {"get": {"summary": "The collections", "responses": {"200": _answer("The collections")}}},
        "/collections/{collectionId}": {
            "get": {
                "summary": "One collection",
                "parameters": [collection_id],
                "responses": {"200": _answer("It"), **_ERRORS},
            }
        },
        "/collections/{collectionId}/queryables": {
            "get": {
                "summary": "The properties a collection can be filtered on (JSON Schema)",
                "parameters": [collection_id],
                "responses": {
                    "200": {"description": "JSON Schema", "content": {"application/schema+json": {}}},
                    **_ERRORS,
                },
            }
        },
        "/collections/{collectionId}/items": {
            "get": _items_get([collection_id, *(_ref(p) for p in ITEMS_PARAMS)], "Features of a collection"),
            "post": {
                "summary": "Add a feature (writable collections; Idempotency-Key to retry safely)",
                "parameters": [collection_id],
                "requestBody": _FEATURE_BODY,
                "responses": {"201": {"description": "Created: Location and ETag"}, **_ERRORS, **_WRITE_ERRORS},
            },
        },
        "/collections/{collectionId}/items/{featureId}": {
            "get": {
                "summary": "One feature, with its ETag",
                "parameters": [collection_id, _ID, _ref("crs"), _ref("f")],
                "responses": {"200": _answer("The feature", GEOJSON), **_ERRORS},
            },
            "put": {
                "summary": "Replace a feature",
                "parameters": [collection_id, _ID, _IF_MATCH],
                "requestBody": _FEATURE_BODY,
                "responses": {"200": _answer("The feature as stored", GEOJSON), **_ERRORS, **_WRITE_ERRORS},
            },
            "patch": {
                "summary": "Change some of a feature's properties or its geometry",
                "parameters": [collection_id, _ID, _IF_MATCH],
                "requestBody": _FEATURE_BODY,
                "responses": {"200": _answer("The feature as stored", GEOJSON), **_ERRORS, **_WRITE_ERRORS},
            },
            "delete": {
                "summary": "Delete a feature",
                "parameters": [collection_id, _ID, _IF_MATCH],
                "responses": {"204": {"description": "Deleted"}, **_ERRORS, **_WRITE_ERRORS},
            },
        },
    }
    for entry in entries:
        # Per collection, with its own properties: what GDAL reads to send filters to the server.
        paths[f"/collections/{entry.name}/items"] = {
            "get": _items_get([*(_ref(p) for p in ITEMS_PARAMS), *_property_params(entry)], f"Features of {entry.name}")
        }
        paths[f"/collections/{entry.name}/items/{{featureId}}"] = {
            "get": {
                "summary": f"One {entry.singular}",
                "parameters": [_ID, _ref("crs"), _ref("f")],
                "responses": {"200": _answer("The feature", GEOJSON), **_ERRORS},
            }
        }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "wangge OGC API Features",
            "version": "1.0.0",
            "description": "Grids, estates, buildings, components, responders and incidents as OGC API Features "
            "(parts 1, 2 and 4; filters by property, bbox, datetime and CQL2).",
        },
        "servers": [{"url": base}],
        "paths": paths,
        "components": {
            "parameters": COMMON,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
