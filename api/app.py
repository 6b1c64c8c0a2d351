"""The FastAPI application factory."""

from __future__ import annotations

from typing import Annotated, Iterator

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.orm import Session

from geo.db import get_engine, session_factory
from geo.errors import InputError, NotFound, WanggeError
from geo.models import LAYERS


def get_session(request: Request) -> Iterator[Session]:
    session = request.app.state.sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def parse_bbox(bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (WGS84)")] = None):
    if bbox is None:
        return None
    parts = bbox.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise HTTPException(422, f"bbox {bbox!r} must be four numbers: minlon,minlat,maxlon,maxlat") from None
    if len(values) != 4:
        raise HTTPException(422, f"bbox {bbox!r} must be four numbers: minlon,minlat,maxlon,maxlat")
    x0, y0, x1, y1 = values
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise HTTPException(422, f"bbox {bbox!r} is not minlon,minlat,maxlon,maxlat within -180..180, -90..90")
    return values


def create_app(database_url: str | None = None) -> FastAPI:
    app = FastAPI(
        title="wangge",
        summary="Community grid governance GIS: grids, buildings, responders and geotagged incidents.",
        version="0.1.0",
    )
    app.state.sessions = session_factory(get_engine(database_url))

    @app.exception_handler(WanggeError)
    async def _wangge_error(_request: Request, exc: WanggeError):
        status = 404 if isinstance(exc, NotFound) else 422 if isinstance(exc, InputError) else 409
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def landing() -> str:
        links = "".join(f'<li><a href="/api/v1/{name}">{name}</a></li>' for name in LAYERS)
        return (
            "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>wangge 网格</title></head>"
            "<body><h1>wangge 网格化管理</h1><p><a href='/docs'>API docs</a></p>"
            f"<h2>Layers (GeoJSON)</h2><ul>{links}</ul></body></html>"
        )

    @app.get("/api/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/{layer}")
    def layer(
        layer: str,
        session: SessionDep,
        bbox: Annotated[tuple | None, Depends(parse_bbox)] = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
        offset: Annotated[int, Query(ge=0)] = 0,
    ):
        from geo.features import feature_collection

        if layer not in LAYERS:
            raise HTTPException(404, f"No layer {layer!r}: use one of {', '.join(LAYERS)}")
        return feature_collection(session, layer, bbox=bbox, limit=limit, offset=offset)

    return app
