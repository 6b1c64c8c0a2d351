"""One router per layer: list (filters, paging), and read, create, update, delete one feature."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from shapely.geometry import shape

from api.deps import CRSDep, FiltersDep, PageDep, SessionDep
from api.privacy import public_collection, public_feature
from api.schemas import CREATE_PROPS, PATCH_PROPS, FeatureIn
from geo.crs import CoordinateSystem
from geo.errors import InputError
from geo.features import feature, get_object, query_features
from geo.store import create_feature, delete_feature, update_feature

TITLES = {
    "communities": "Communities (社区)",
    "grids": "Grids (网格)",
    "estates": "Estates (小区)",
    "buildings": "Buildings (楼栋)",
    "responders": "Responders (网格员, 楼栋长, 微消防站)",
    "incidents": "Incidents: hazards, cases, illegal structures, renovation points",
}


def to_wgs84_geometry(body: FeatureIn, crs: CoordinateSystem):
    if body.geometry is None:
        return None
    try:
        geom = shape(body.geometry.model_dump())
    except (ValueError, TypeError, IndexError, shapely.errors.GEOSException) as exc:
        raise InputError(f"geometry: not a valid GeoJSON {body.geometry.type} ({exc})") from None
    coords = shapely.get_coordinates(geom)
    if coords.size and not np.isfinite(coords).all():
        raise InputError("geometry: coordinates must be finite numbers (no NaN or infinity)")
    return crs.geometries_to_wgs84(np.array([geom], dtype=object))[0]


def parse_props(layer: str, body: FeatureIn, partial: bool) -> dict[str, Any]:
    model = (PATCH_PROPS if partial else CREATE_PROPS)[layer]
    try:
        parsed = model.model_validate(body.properties)
    except ValidationError as exc:
        raise InputError("; ".join(f"properties.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    values = parsed.model_dump(exclude_unset=partial)
    return {k: (v.value if hasattr(v, "value") else v) for k, v in values.items()}


def _next_link(request: Request, page, total: int) -> list[dict[str, str]]:
    links = [{"rel": "self", "href": str(request.url)}]
    if page.offset + page.limit < total:
        links.append({"rel": "next", "href": str(request.url.include_query_params(offset=page.offset + page.limit, limit=page.limit))})
    if page.offset > 0:
        links.append({"rel": "prev", "href": str(request.url.include_query_params(offset=max(page.offset - page.limit, 0), limit=page.limit))})
    return links


def layer_router(layer: str, writable: bool = True) -> APIRouter:
    router = APIRouter(prefix=f"/{layer}", tags=[TITLES[layer]])
    singular = layer[:-1]

    @router.get("", summary=f"List {layer} as a GeoJSON FeatureCollection")
    def list_features(request: Request, session: SessionDep, filters: FiltersDep, page: PageDep, crs: CRSDep) -> dict:
        collection = query_features(session, layer, filters, limit=page.limit, offset=page.offset, crs=crs)
        collection["links"] = _next_link(request, page, collection["numberMatched"])
        return public_collection(layer, collection)

    @router.get("/{feature_id}", summary=f"One {singular}", name=f"get_{layer}")
    def get_feature(feature_id: int, session: SessionDep, crs: CRSDep) -> dict:
        return public_feature(layer, feature(get_object(session, layer, feature_id), crs))

    if not writable:
        return router

    @router.post("", status_code=201, summary=f"Create a {singular}")
    def post_feature(body: FeatureIn, request: Request, response: Response, session: SessionDep, crs: CRSDep) -> dict:
        obj = create_feature(session, layer, parse_props(layer, body, partial=False), to_wgs84_geometry(body, crs))
        response.headers["Location"] = str(request.url_for(f"get_{layer}", feature_id=obj.id))
        return public_feature(layer, feature(obj, crs))

    @router.patch("/{feature_id}", summary=f"Change a {singular}: send only what changes")
    def patch_feature(feature_id: int, body: FeatureIn, session: SessionDep, crs: CRSDep) -> dict:
        obj = update_feature(session, layer, feature_id, parse_props(layer, body, partial=True), to_wgs84_geometry(body, crs))
        return public_feature(layer, feature(obj, crs))

    @router.delete("/{feature_id}", status_code=204, summary=f"Delete a {singular}")
    def remove_feature(feature_id: int, session: SessionDep) -> Response:
        delete_feature(session, layer, feature_id)
        return Response(status_code=204)

    return router
