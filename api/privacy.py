"""Personal data in answers: phones and reporters are masked unless the caller may see them.

Until users and roles exist everyone is treated as the public: phones show only their first
three and last four digits, reporters' names only their family name.
"""

from __future__ import annotations

from typing import Any

PERSONAL_FIELDS = {"phone", "reporter_phone", "reporter_name"}


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    digits = str(phone)
    return digits[:3] + "*" * max(len(digits) - 7, 0) + digits[-4:] if len(digits) > 7 else "*" * len(digits)


def mask_name(name: str | None) -> str | None:
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)


def mask(props: dict[str, Any]) -> dict[str, Any]:
    out = dict(props)
    for key in ("phone", "reporter_phone"):
        if key in out:
            out[key] = mask_phone(out[key])
    if "reporter_name" in out:
        out["reporter_name"] = mask_name(out["reporter_name"])
    return out


def public_feature(layer: str, feature: dict[str, Any]) -> dict[str, Any]:
    return {**feature, "properties": mask(feature["properties"])}


def public_collection(layer: str, collection: dict[str, Any]) -> dict[str, Any]:
    return {**collection, "features": [public_feature(layer, f) for f in collection["features"]]}


def public_person(person: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if person is None else mask(person)
