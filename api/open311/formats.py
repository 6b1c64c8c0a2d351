"""GeoReport v2's two formats: the same answer as JSON or as XML (chosen by the path's
extension), and errors as its list of ``{code, description}``."""

from __future__ import annotations

import enum
from typing import Any
from xml.etree import ElementTree as ET

import orjson
from fastapi import Request, Response

from api.errors import register_error_format
from api.openapi import DESCRIPTIONS as OPENAPI_DESCRIPTIONS
from api.openapi import HEADERS, register_error_document

JSON_TYPE = "application/json"
XML_TYPE = "text/xml; charset=utf-8"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

# The element each item of a list is written as, by the list's element.
ITEMS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


class Format(str, enum.Enum):
    json = "json"
    xml = "xml"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    elif isinstance(value, list):
        item = ITEMS[element.tag]
        for child in value:
            _fill(ET.SubElement(element, item), child)
    else:
        element.text = _text(value)


def to_xml(root: str, value: Any) -> bytes:
    element = ET.Element(root)
    _fill(element, value)
    return XML_DECLARATION + ET.tostring(element, encoding="utf-8", xml_declaration=False)


def render(
    value: Any, fmt: Format, root: str, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """``value`` as JSON, or as XML under the element ``root`` (lists' items as :data:`ITEMS` names them)."""
    if fmt is Format.xml:
        return Response(to_xml(root, value), status_code=status_code, headers=headers, media_type=XML_TYPE)
    return Response(orjson.dumps(value), status_code=status_code, headers=headers, media_type=JSON_TYPE)


def format_of_path(path: str) -> Format:
    return Format.xml if path.lower().endswith(".xml") else Format.json


# The spec knows 400 (bad input: wangge's 422 too), 403 (a missing or wrong api_key: wangge's 401) and 404.
STATUS = {422: 400, 401: 403}


def open311_error(request: Request, status: int, message: str, headers: dict[str, str]) -> Response:
    """wangge's error as GeoReport's list of errors, one per line of the message."""
    status = STATUS.get(status, status)
    headers = {k: v for k, v in headers.items() if k.lower() != "www-authenticate"}
    lines = [line.strip().removeprefix("- ") for line in message.split("\n") if line.strip()] or [message]
    errors = [{"code": status, "description": line} for line in lines]
    return render(errors, format_of_path(request.url.path), "errors", status, headers)


ERROR_LIST = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
    },
}
DESCRIPTIONS = {
    400: "Bad input (a parameter, a form field, a service_code, a location): one error per problem",
    403: "A wrong api_key or token, or a report the access policy refuses to the caller",
    404: "No such service, request, token or jurisdiction_id",
}


def error_answers(codes: set[int]) -> dict[int, dict[str, Any]]:
    """The OpenAPI document's error answers of an Open311 operation (``codes``: wangge's)."""
    out = {}
    for code in sorted({STATUS.get(c, c) for c in codes} | {400, 404}):
        answer: dict[str, Any] = {
            "description": DESCRIPTIONS.get(code) or OPENAPI_DESCRIPTIONS[code],
            "content": {JSON_TYPE: {"schema": ERROR_LIST}, "text/xml": {"schema": {"type": "string"}}},
        }
        if code in HEADERS:
            answer["headers"] = HEADERS[code]
        out[code] = answer
    return out


register_error_format("/open311", open311_error)
register_error_document("/open311", error_answers)
