"""OGC API Features, parts 1 to 4: landing page, conformance, collections, items, queryables."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["OGC API Features"])
