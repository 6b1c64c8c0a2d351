"""Open311 GeoReport v2 under /open311: discovery, services, service requests, tokens."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/open311", tags=["Open311 GeoReport v2"])
