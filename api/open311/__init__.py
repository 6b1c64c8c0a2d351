"""Open311 GeoReport v2 under /open311: discovery, services, service requests, tokens."""

from __future__ import annotations

from fastapi import APIRouter

from api.open311 import formats  # noqa: F401  (registers the Open311 error format)
from api.open311.georeport import router as georeport

router = APIRouter(prefix="/open311", tags=["Open311 GeoReport v2"])
router.include_router(georeport)
