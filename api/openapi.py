"""The error answers in the OpenAPI document, as they really are (see ``api.errors``).

FastAPI documents only a 422 of its own shape (``detail`` a list). wangge's errors are
``{"detail": message}``, and a 422 may also list ``errors`` with where each problem is. Every
operation gets the error answers it can give, documented with these models, when the document is
first made (so routes added after :func:`document_errors` are covered too).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field


class ErrorAnswer(BaseModel):
    """Every error answer: a message a person can act on."""

    detail: str = Field(description="What went wrong and what to change, in words a phone app can show")


class ErrorLocation(BaseModel):
    loc: list[str | int] = Field(
        description='Where: "query", "path", "header" or "body", then the field name (and index)'
    )
    msg: str = Field(description="What is wrong there")


class ValidationErrorAnswer(ErrorAnswer):
    """Input the service cannot use. Refused request parameters and bodies also list each problem."""

    errors: list[ErrorLocation] = Field(
        default_factory=list, description="Each problem found in the request's parameters or body"
    )


MODELS = (ErrorAnswer, ErrorLocation, ValidationErrorAnswer)

DESCRIPTIONS = {
    400: "The body could not be read",
    401: "The bearer token is missing where needed, unknown, revoked or expired",
    403: "Signed in, but this role may not do this",
    404: "Nothing with this id (or, for a coordinate, no grid covers it)",
    409: "Conflicts with stored data: a duplicate code, a feature still in use, a closed incident, a reused Idempotency-Key",
    412: "If-Match names a version that is no longer current: read again and retry",
    413: "The body is larger than the service accepts",
    415: "The file is not of a kind the service takes (photos: JPEG, PNG, WebP, HEIC), whatever its name says",
    422: "A parameter or the body cannot be used as given (wrong type, out of range, unknown value, nested too deeply, invalid geometry)",
    428: "If-Match is required: send the ETag you read",
    429: "Too many wrong tokens or passwords (from this address, or for this account): wait for Retry-After seconds",
    503: "The database is busy or away; nothing was changed: retry after Retry-After seconds",
}

_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}}
HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    429: _RETRY_AFTER,
    503: _RETRY_AFTER,
}

WRITES = ("post", "put", "patch", "delete")
_UNDOCUMENTED_TAGS = {"Service"}  # health checks: they answer without the database


def error_codes(method: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer with."""
    parameters = operation.get("parameters", [])
    codes = {401, 422, 429, 503}  # any request may carry a token; any may wait for the database
    if any(p["in"] == "path" for p in parameters) or "404" in operation.get("responses", {}):
        codes.add(404)
    if "requestBody" in operation:
        codes |= {400, 413}
        if "multipart/form-data" in operation["requestBody"].get("content", {}):
            codes.add(415)  # a file is judged by its content
    if method in WRITES:
        codes |= {403, 409}
    if any(p["in"] == "header" and p["name"].lower() == "if-match" for p in parameters):
        codes |= {412, 428}
    return codes


def error_response(code: int, given: dict[str, Any] | None = None) -> dict[str, Any]:
    model = ValidationErrorAnswer if code == 422 else ErrorAnswer
    answer: dict[str, Any] = {
        "description": (given or {}).get("description") or DESCRIPTIONS[code],
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
    }
    if code in HEADERS:
        answer["headers"] = HEADERS[code]
    return answer


# Paths whose errors are answered in a standard's own shape (api.errors.register_error_format)
# describe them themselves: a path prefix, and a function from the error statuses wangge would
# give an operation to the error answers (status -> response object) the document shows.
ErrorDocument = Callable[[set[int]], dict[int, dict[str, Any]]]
_ERROR_DOCUMENTS: list[tuple[str, ErrorDocument]] = []


def register_error_document(prefix: str, document: ErrorDocument) -> None:
    """Operations under ``prefix`` document their error answers with ``document``."""
    _ERROR_DOCUMENTS.append((prefix, document))


def _error_document(path: str) -> ErrorDocument | None:
    return next((d for prefix, d in _ERROR_DOCUMENTS if path == prefix or path.startswith(prefix + "/")), None)


def documents_own_errors(path: str) -> bool:
    """Whether the operations of ``path`` answer errors in a standard's shape, not wangge's."""
    return _error_document(path) is not None


def add_error_responses(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with every operation's error answers described by the models above, and
    FastAPI's own (unused) validation error schemas gone."""
    document = copy.deepcopy(document)
    for path, operations in document.get("paths", {}).items():
        own = _error_document(path)
        for method, operation in operations.items():
            if method not in ("get", "put", "post", "patch", "delete") or _UNDOCUMENTED_TAGS & set(
                operation.get("tags", ())
            ):
                continue
            responses = operation.setdefault("responses", {})
            if own is not None:
                errors = own(error_codes(method, operation))
                responses.pop("422", None)  # FastAPI's own: answered in the standard's shape, with its status
                responses.update({str(code): answer for code, answer in errors.items()})
                operation["responses"] = dict(sorted(responses.items()))
                continue
            for code in sorted(error_codes(method, operation)):
                given = responses.get(str(code))
                # Keep a route's own description (e.g. locate's 404); the 422 is always ours.
                responses[str(code)] = error_response(code, given if code != 422 else None)
            operation["responses"] = dict(sorted(responses.items()))
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas.setdefault(name, sub)
        schemas[model.__name__] = schema
    text = repr(document["paths"])
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"/{unused}'" not in text:
            schemas.pop(unused, None)
    return document


def document_errors(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document describe its error answers (done when first asked for)."""
    make = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_error_responses(make())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to replace the document
