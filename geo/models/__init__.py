"""The data model: street → community → grid → building, estates, responders, incidents, patrols.

All geometries are stored in WGS84 (SRID 4326). Every geometry column carries a spatial
index on both databases (GiST on PostGIS, an R*Tree on SpatiaLite).
"""

from geo.models.accounts import ApiToken, AuditEvent, TokenKind, User, UserRole
from geo.models.base import NAMING_CONVENTION, Base, UTCDateTime, utcnow
from geo.models.catalogue import COMPONENT, COMPONENT_STATES, EVENT, CatalogueEntry, CatalogueVersion, Component
from geo.models.evidence import PHOTO_STAGES, Photo
from geo.models.incidents import Incident, IncidentHistory
from geo.models.indicators import COUNTER_COLUMNS, IndicatorDay, IndicatorDayBuilt
from geo.models.kinds import KNOWN_ROLES, BuildingKind, IncidentKind, ResponderKind
from geo.models.patrols import BuildingVisitDay, CoverageDay, Patrol, PatrolFix, PatrolVisit
from geo.models.places import Building, Community, Estate, Grid, Responder, Street, responder_grids
from geo.models.service import IdempotencyKey, LayerRevision

__all__ = [
    "COMPONENT",
    "COMPONENT_STATES",
    "EVENT",
    "CatalogueEntry",
    "CatalogueVersion",
    "Component",
    "COUNTER_COLUMNS",
    "KNOWN_ROLES",
    "NAMING_CONVENTION",
    "PHOTO_STAGES",
    "ApiToken",
    "AuditEvent",
    "Base",
    "Building",
    "BuildingVisitDay",
    "CoverageDay",
    "BuildingKind",
    "Community",
    "Estate",
    "Grid",
    "IdempotencyKey",
    "Incident",
    "IncidentHistory",
    "IncidentKind",
    "IndicatorDay",
    "IndicatorDayBuilt",
    "LayerRevision",
    "Patrol",
    "PatrolFix",
    "PatrolVisit",
    "Photo",
    "Responder",
    "ResponderKind",
    "Street",
    "TokenKind",
    "UTCDateTime",
    "User",
    "UserRole",
    "responder_grids",
    "utcnow",
]
