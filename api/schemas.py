"""Request bodies: GeoJSON features whose properties are checked per layer."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from geo.models import BuildingKind, ResponderKind

Text = Field(min_length=1, max_length=200)


class _Props(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CommunityProps(_Props):
    pass


class GridProps(_Props):
    code: str = Field(min_length=1, max_length=64)
    name: str = Text
    community_code: str | None = None
    party_branch: str | None = Field(None, max_length=200)
    properties: dict[str, Any] = Field(default_factory=dict)


class EstateProps(_Props):
    name: str = Text
    property_company: str | None = Field(None, max_length=200)
    community_code: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class BuildingProps(_Props):
    code: str = Field(min_length=1, max_length=64)
    name: str = Text
    kind: BuildingKind = BuildingKind.old_building
    address: str | None = Field(None, max_length=300)
    households: int = Field(0, ge=0, le=100_000)
    residents: int = Field(0, ge=0, le=1_000_000)
    estate: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class ResponderProps(_Props):
    code: str = Field(min_length=1, max_length=64)
    name: str = Text
    kind: ResponderKind = ResponderKind.person
    role: str = Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")
    phone: str | None = Field(None, max_length=32)
    organisation: str | None = Field(None, max_length=200)
    grids: list[str] = Field(default_factory=list)
    building: str | None = None
    on_duty: bool = True
    located_at: datetime | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class IncidentProps(_Props):
    code: str | None = Field(None, max_length=64)
    kind: Literal["hazard", "case", "illegal_structure", "renovation"]
    category: str = Field(min_length=1, max_length=64)
    title: str = Text
    description: str | None = Field(None, max_length=5000)
    reporter_name: str | None = Field(None, max_length=100)
    reporter_phone: str | None = Field(None, max_length=32)
    properties: dict[str, Any] = Field(default_factory=dict)


CREATE_PROPS: dict[str, type[_Props]] = {
    "grids": GridProps,
    "estates": EstateProps,
    "buildings": BuildingProps,
    "responders": ResponderProps,
    "incidents": IncidentProps,
}


def patch_model(model: type[_Props]) -> type[_Props]:
    """The same fields, all optional: a PATCH sends only what changes."""
    fields = {name: (info.annotation | None, None) for name, info in model.model_fields.items()}
    from pydantic import create_model

    return create_model(f"{model.__name__}Patch", __base__=_Props, **fields)


PATCH_PROPS = {layer: patch_model(model) for layer, model in CREATE_PROPS.items()}


class Geometry(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["Point", "Polygon", "MultiPolygon"]
    coordinates: list[Any]


class FeatureIn(BaseModel):
    """A GeoJSON Feature; coordinates in the crs named by the query parameter."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["Feature"] = "Feature"
    geometry: Geometry | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
