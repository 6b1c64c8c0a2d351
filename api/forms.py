"""Multipart forms (a photo and its fields), read as they stream in.

A file part larger than its limit is refused (413) as soon as the bytes say so, without reading
the rest of the body; small fields are limited to :data:`MAX_FIELD_BYTES`. The form is read once
per request and kept on it, so the idempotency check and the endpoint share it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, cast

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from geo.errors import InputError, TooLarge
from geo.media.photos import photo_too_large
from geo.settings import get_settings

MAX_FIELD_BYTES = 1024
MAX_PARTS = 8


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)  # each file's SHA-256, taken as it streamed in

    def fingerprint(self) -> bytes:
        """The same for the same file and fields, whatever boundary the client chose."""
        digest = hashlib.sha256()
        for name in sorted(self.fields):
            digest.update(f"field {name!r}={self.fields[name]!r}\n".encode())
        for name in sorted(self.files):
            digest.update(f"file {name!r}={self.digests[name]}\n".encode())
        return digest.digest()


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


class _Reader:
    def __init__(
        self,
        max_file_bytes: int,
        too_large: TooLarge,
        max_parts: int = MAX_PARTS,
        max_field_bytes: int = MAX_FIELD_BYTES,
    ):
        self.max_file_bytes = max_file_bytes
        self.too_large = too_large
        self.max_parts = max_parts
        self.max_field_bytes = max_field_bytes
        self.form = Form()
        self.parts = 0
        self._header_field = b""
        self._header_value = b""
        self._disposition = b""
        # The part's chunks, joined once at its end (growing one buffer copies it again and again).
        self._chunks: list[bytes] = []
        self._size = 0
        self._hash = hashlib.sha256()
        self._is_file = False

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.max_parts:
            raise InputError(f"The form has more than {self.max_parts} parts")
        self._disposition, self._chunks, self._size, self._is_file = b"", [], 0, False
        self._hash = hashlib.sha256()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_field.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_field, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._is_file = b"filename" in options

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]  # the whole chunk (the usual case) is not copied
        self._chunks.append(chunk)
        self._size += len(chunk)
        if self._is_file:
            self._hash.update(chunk)  # one pass: the store and the idempotency check reuse it
        limit = self.max_file_bytes if self._is_file else self.max_field_bytes
        if self._size > limit:
            if self._is_file:
                raise self.too_large
            raise InputError(f"A form field is longer than {self.max_field_bytes} bytes")

    def on_part_end(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        data = b"".join(self._chunks)
        if self._is_file:
            self.form.files[name] = data
            self.form.digests[name] = self._hash.hexdigest()
        else:
            self.form.fields[name] = data.decode("utf-8", "replace")
        self._chunks, self._size = [], 0


async def read_form(
    request: Request,
    max_file_bytes: int,
    too_large: TooLarge,
    max_parts: int = MAX_PARTS,
    max_field_bytes: int = MAX_FIELD_BYTES,
) -> Form:
    """The request's multipart form, its files at most ``max_file_bytes`` each (else
    ``too_large`` is raised as soon as that many have arrived), at most ``max_parts`` parts and
    fields of at most ``max_field_bytes``."""
    cached = getattr(request.state, "form", None)
    if cached is not None:
        return cached
    if not is_multipart(request):
        raise InputError("Send the photo as multipart/form-data: the file in field 'file', and a field 'stage'")
    _, params = parse_options_header(request.headers["content-type"])
    boundary = params.get(b"boundary")
    if not boundary:
        raise InputError("The multipart/form-data body has no boundary")
    declared = request.headers.get("content-length")
    if (
        declared is not None
        and declared.isdigit()
        and int(declared) > max_file_bytes + max_parts * (max_field_bytes + 512)
    ):
        raise too_large  # no need to read what would be refused
    reader = _Reader(max_file_bytes, too_large, max_parts, max_field_bytes)
    callbacks = {name: getattr(reader, name) for name in dir(reader) if name.startswith("on_")}
    parser = MultipartParser(boundary, cast(Any, callbacks))  # the callbacks are the reader's on_* methods
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise InputError(f"The multipart/form-data body is malformed ({exc}): send the form again") from None
    request.state.form = reader.form
    return reader.form


async def read_photo_form(request: Request) -> Form:
    """A photo upload's form, with the photo limit of the settings."""
    return await read_form(request, get_settings().photo_max_bytes, photo_too_large())
