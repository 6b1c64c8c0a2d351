"""OGC API Tiles: vector tiles (MVT) of each collection and of several at once, with TileJSON."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["OGC API Tiles"])

# The conformance classes the tiles add to /ogc/conformance.
CONFORMANCE: tuple[str, ...] = ()
