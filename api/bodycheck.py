"""Refuse input no parser or database should see: JSON bodies nested too deeply, and NUL
characters in the query string or the path.

JSON parsers recurse once per ``[`` or ``{``: a body of a few kilobytes nested a thousand deep
makes Python's parser raise RecursionError, deep in the framework, where it would be a 500.
GeoJSON needs six levels at most (a Feature's multipolygon), so anything past
:data:`MAX_DEPTH` is refused with 422 after one pass over the bytes at C speed. PostgreSQL text
cannot hold NUL characters, so a ``%00`` anywhere in the query is refused with 422 naming the
parameter, and in the path with 404 (it names nothing).
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import numpy as np
from fastapi import Request
from fastapi.responses import JSONResponse

from api.errors import reformatted

MAX_DEPTH = 64

_STRUCTURAL = b'[]{}"'
_DROP = bytes(b for b in range(256) if b not in _STRUCTURAL)
_STEP = np.zeros(256, dtype=np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1


def json_depth(body: bytes) -> int:
    """How deeply ``body``'s arrays and objects nest, counting brackets outside strings.

    Exact for valid JSON. For invalid JSON it is exact up to the first error, which is as far as
    any parser reads, so a parser never nests deeper than this says.
    """
    if body[:4].count(0) or body[:2] in (b"\xff\xfe", b"\xfe\xff"):
        # UTF-16 or UTF-32 (Python's json reads those too): scan the same text as UTF-8.
        try:
            body = body.decode(json.detect_encoding(body)).encode("utf-8")
        except (UnicodeError, LookupError):
            return 0  # not text at all: every parser refuses it before nesting anything
    if b"\\" in body:
        # In a run of backslashes, pairs are escaped backslashes (drop them); a single one left
        # before a quote escapes it (drop both). Other escapes hold no quote or bracket.
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = body.translate(None, _DROP)  # brackets and quotes only, in order
    if b'"' in marks:
        marks = b"".join(marks.split(b'"')[::2])  # what lies between quote pairs is in strings
    if not marks:
        return 0
    return int(np.cumsum(_STEP[np.frombuffer(marks, dtype=np.uint8)], dtype=np.int32).max(initial=0))


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    """JSON, or no content type at all (FastAPI reads such a body as JSON)."""
    for name, value in headers:
        if name.lower() == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            subtype = media.rpartition(b"/")[2]
            return subtype == b"json" or subtype.endswith(b"+json")
    return True


def _refuse(status: int, message: str, loc: list[str]) -> JSONResponse:
    return JSONResponse(
        {"detail": message, "errors": [{"loc": loc, "msg": message}]} if status == 422 else {"detail": message},
        status_code=status,
    )


def _nul_in(scope) -> JSONResponse | None:
    query = scope.get("query_string") or b""
    if b"%00" in query:
        names = [
            name for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if "\x00" in name + value
        ]
        name = names[0] if names else "query"
        return _refuse(422, f"{name!r} must not contain NUL characters (%00)", ["query", name])
    if b"%00" in (scope.get("raw_path") or b"") or "\x00" in scope.get("path", ""):
        return _refuse(404, "No such resource: a path never contains NUL characters (%00)", ["path"])
    return None


class InputCheck:
    """ASGI middleware: refuse NUL characters in the query or path; read a JSON body whole,
    refuse it with 422 if it nests deeper than ``max_depth``, else hand it on unchanged in one
    message. Other requests pass untouched."""

    def __init__(self, app, max_depth: int = MAX_DEPTH):
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = _nul_in(scope)
        if refusal is not None:
            return await reformatted(Request(scope), refusal)(scope, receive, send)
        if scope["method"] in ("GET", "HEAD", "OPTIONS") or not _is_json(scope.get("headers") or []):
            return await self.app(scope, receive, send)
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return await self.app(scope, _replay([message], receive), send)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        del chunks
        if body and json_depth(body) > self.max_depth:
            response = _refuse(422, f"The JSON body is nested more than {self.max_depth} levels deep", ["body"])
            return await reformatted(Request(scope), response)(scope, receive, send)
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _replay(messages: list[dict], receive):
    async def replayed():
        return messages.pop(0) if messages else await receive()

    return replayed
