"""The OGC APIs under /ogc: Features (parts 1 to 4) and Tiles (vector tiles).

Adapters over the same geo/ calls, access policy and personal-data rules as /api/v1.
"""

from __future__ import annotations

from fastapi import FastAPI

OGC_PREFIX = "/ogc"


def install(app: FastAPI) -> None:
    from api.ogc import features, tiles

    app.include_router(tiles.router, prefix=OGC_PREFIX)
    app.include_router(features.router, prefix=OGC_PREFIX)
