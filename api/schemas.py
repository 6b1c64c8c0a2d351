"""Request bodies: GeoJSON features whose properties are checked per layer."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from geo.models import BuildingKind, ResponderKind

# Integer columns and ids are 32-bit on PostGIS: larger numbers are refused, not overflowed.
MAX_COUNT = MAX_ID = 2**31 - 1

Text = Field(min_length=1, max_length=200)


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL characters: refuse them as input, not as a database error.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _plausible(value: datetime) -> datetime:
    # Far from today, converting between time zones overflows (year 1, year 9999).
    if not 1900 <= value.year <= 2999:
        raise ValueError("must be a date between the years 1900 and 2999")
    return value


def _finite_json(value: dict[str, Any]) -> dict[str, Any]:
    # Python's JSON reader takes NaN and Infinity; JSON (and the database) do not.
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        raise ValueError("numbers must be finite (no NaN or Infinity)") from None
    return value


Moment = Annotated[datetime, AfterValidator(_plausible)]
FreeProperties = Annotated[dict[str, Any], AfterValidator(_finite_json)]

# String fields: lengths match the columns in geo/models.py; references to codes or names
# (community_code, estate, building, grids) are as long as the column they name.
Str = Annotated[str, AfterValidator(_no_nul)]
Code = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_no_nul)]


class _Props(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CommunityProps(_Props):
    pass


class GridProps(_Props):
    code: Code
    name: Str = Text
    community_code: Str | None = Field(None, max_length=12)
    party_branch: Str | None = Field(None, max_length=200)
    properties: FreeProperties = Field(default_factory=dict)


class EstateProps(_Props):
    name: Str = Text
    property_company: Str | None = Field(None, max_length=200)
    community_code: Str | None = Field(None, max_length=12)
    properties: FreeProperties = Field(default_factory=dict)


class BuildingProps(_Props):
    code: Code
    name: Str = Text
    kind: BuildingKind = BuildingKind.old_building
    address: Str | None = Field(None, max_length=300)
    households: int = Field(0, ge=0, le=100_000)
    residents: int = Field(0, ge=0, le=1_000_000)
    estate: Str | None = Field(None, max_length=200)
    properties: FreeProperties = Field(default_factory=dict)


class ResponderProps(_Props):
    code: Code
    name: Str = Text
    kind: ResponderKind = ResponderKind.person
    role: str = Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")
    phone: Str | None = Field(None, max_length=32)
    organisation: Str | None = Field(None, max_length=200)
    grids: list[Code] = Field(default_factory=list, max_length=1000)
    building: Str | None = Field(None, max_length=64)
    on_duty: bool = True
    located_at: Moment | None = None
    properties: FreeProperties = Field(default_factory=dict)


class ComponentProps(_Props):
    # Checked further in geo/components: the code's parts, the catalogue, the state's labels.
    code: Str = Field(min_length=1, max_length=16)
    category: Str | None = Field(None, max_length=64)  # follows the code; refused if it contradicts it
    name: Str | None = Field(None, max_length=200)  # default: the sub-category's name
    state: Str = Field(
        "intact", max_length=32, description="intact 完好, damaged 破损, missing 丢失, occupied 占用, removed 废弃"
    )
    accuracy: Str | None = Field(None, max_length=8, description="position accuracy class: A 一级, B 二级, C 三级")
    department: Str | None = Field(None, max_length=100)  # default: the sub-category's department
    properties: FreeProperties = Field(default_factory=dict)


class IncidentProps(_Props):
    code: Str | None = Field(None, max_length=64)
    kind: Literal["hazard", "case", "illegal_structure", "renovation"]
    category: Str = Field(min_length=1, max_length=64)
    title: Str = Text
    description: Str | None = Field(None, max_length=5000)
    reporter_name: Str | None = Field(None, max_length=100)
    reporter_phone: Str | None = Field(None, max_length=32)
    # The component (部件) the incident concerns, by id or by its 16-digit code (not both).
    component_id: int | None = Field(None, ge=1, le=MAX_ID)
    component_code: Str | None = Field(None, max_length=16)
    properties: FreeProperties = Field(default_factory=dict)


CREATE_PROPS: dict[str, type[_Props]] = {
    "grids": GridProps,
    "estates": EstateProps,
    "buildings": BuildingProps,
    "responders": ResponderProps,
    "components": ComponentProps,
    "incidents": IncidentProps,
}


def _patched(info) -> Any:
    """The field's type and limits; null only where the field may be empty (a column that
    cannot be NULL is not emptied by a PATCH)."""
    kind = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
    return kind | None if not info.is_required() and info.default is None else kind


def patch_model(model: type[_Props]) -> type[_Props]:
    """The same fields and limits, all optional: a PATCH sends only what changes."""
    fields: dict[str, Any] = {name: (_patched(info), None) for name, info in model.model_fields.items()}
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
