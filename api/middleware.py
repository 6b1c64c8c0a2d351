"""Middleware: what every answer carries, whatever route made it."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from api.bodycheck import InputCheck
from api.errors import reformatted
from geo.settings import get_settings
from maps import basemaps


class BodyLimit:
    """Refuse request bodies over the limit with 413, before reading them into memory."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope, receive, send):
        response = JSONResponse({"detail": _too_large(self.max_bytes)}, status_code=413)
        await reformatted(Request(scope), response)(scope, receive, send)


def _too_large(max_bytes: int) -> str:
    limit = f"{max_bytes / (1024 * 1024):.0f} MB" if max_bytes >= 1024 * 1024 else f"{max_bytes:,} bytes"
    return f"The request body is larger than {limit}; send fewer points per request"


class _TooLarge(StarletteHTTPException):
    """A body found too large while it is read (no Content-Length). An HTTPException, so that
    FastAPI passes it on as this 413 rather than as "There was an error parsing the body"."""

    def __init__(self, max_bytes: int):
        super().__init__(413, _too_large(max_bytes))


def install_middleware(app: FastAPI) -> None:
    """Add wangge's middleware to ``app`` (called once by the application factory, after the
    routes). The last one added is the outermost."""
    app.add_middleware(InputCheck)  # inside BodyLimit: it reads only bodies within the size limit
    app.add_middleware(BodyLimit, max_bytes=get_settings().max_body_bytes)
    # Outside BodyLimit: its 413 answers carry the CORS and security headers too.
    install_cors(app)
    app.add_middleware(SecurityHeaders, policy=content_security_policy())


def install_cors(app: FastAPI) -> None:
    """Browser pages of the origins in ``WANGGE_CORS_ORIGINS`` may call the API; by default none."""
    origins = get_settings().cors_origins
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "Idempotency-Key"],
            expose_headers=["ETag", "Location", "Retry-After"],
            max_age=600,
        )


# --------------------------------------------------------------------------- security headers


def _tile_source(url: str | None) -> str | None:
    """The CSP source of a tile URL template: its scheme and host, a ``{s}`` subdomain as ``*``."""
    if not url:
        return None
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    host, *rest = parts.netloc.split(".", 1)
    if "{" in host:
        host = "*"
    return f"{parts.scheme}://{'.'.join([host, *rest])}"


def content_security_policy() -> str:
    """The policy of every answer, without the hashes of a page's inline scripts (added per page).

    Scripts, styles, fonts and data come from wangge itself (the maps' assets and /docs are
    self-hosted); images also from the tile servers of the basemaps the maps offer. Styles may be
    inline: Leaflet and folium place and size everything with style attributes."""
    settings = get_settings()
    tiles = [basemaps.OSM, basemaps.AMAP, basemaps.TIANDITU if settings.tianditu_key else None, settings.tile_url]
    images = "".join(f" {s}" for s in dict.fromkeys(map(_tile_source, tiles)) if s)
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: blob:{images}; font-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )


_INLINE_SCRIPT = re.compile(rb"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
_SRC = re.compile(rb"\bsrc\s*=", re.IGNORECASE)


def script_hashes(html: bytes) -> list[str]:
    """CSP sources allowing exactly the inline scripts of ``html`` (folium writes each map as
    inline scripts): their sha256, over the text as the browser reads it (CR LF as LF)."""
    out = []
    for attrs, body in _INLINE_SCRIPT.findall(html):
        if _SRC.search(attrs):
            continue
        text = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        out.append("'sha256-" + base64.b64encode(hashlib.sha256(text).digest()).decode() + "'")
    return list(dict.fromkeys(out))


class SecurityHeaders:
    """Headers on every answer: no MIME sniffing, no framing, a restrained Referer, and the
    Content-Security-Policy. An HTML page is read whole (pages hold no features, so they are
    small) to allow its own inline scripts by hash, and no other inline script."""

    def __init__(self, app, policy: str):
        self.app = app
        self.policy = policy
        self.fixed = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
        ]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        held: dict | None = None
        chunks: list[bytes] = []

        async def send_with_headers(message):
            nonlocal held
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {k.lower() for k, _ in headers}
                headers += [h for h in self.fixed if h[0] not in names]
                if b"content-security-policy" not in names:
                    if any(k.lower() == b"content-type" and v.lower().startswith(b"text/html") for k, v in headers):
                        held = {**message, "headers": headers}  # sent once the whole page is known
                        return
                    headers.append((b"content-security-policy", self.policy.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and held is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(chunks)
                policy = self.policy.replace(
                    "script-src 'self'", " ".join(["script-src 'self'", *script_hashes(body)]), 1
                )
                start, held = held, None
                await send({**start, "headers": [*start["headers"], (b"content-security-policy", policy.encode())]})
                message = {**message, "body": body}
            await send(message)

        await self.app(scope, receive, send_with_headers)
