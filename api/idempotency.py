"""The ``Idempotency-Key`` header on writes (see ``geo.db.idempotency``).

A write endpoint takes :data:`IdempotencyDep` and returns its answer through
``idem.answer(...)``, which stores the answer beside the change. A retry with the same key and
request is answered from the store (``Idempotent-Replayed: true``), changing nothing; the same
key with another request gets 409.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from sqlalchemy.orm import Session

from api.deps import ActorDep, NowDep, SessionDep
from api.forms import is_multipart, read_photo_form
from geo.access.policy import Actor
from geo.db import idempotency
from geo.models import IdempotencyKey
from geo.settings import get_settings

# Headers of the first answer that a replay repeats.
REPLAYED_HEADERS = ("ETag", "Location")


class Replay(Exception):
    """Answer with the stored answer of the first request (the unit of work rolls back)."""

    def __init__(self, stored: idempotency.StoredAnswer):
        super().__init__("replayed")
        self.stored = stored

    def response(self) -> Response:
        headers = {**self.stored.headers, "Idempotent-Replayed": "true"}
        return Response(
            self.stored.body, status_code=self.stored.status_code, headers=headers, media_type="application/json"
        )


class Idempotency:
    """The request's key, reserved in its unit of work (or no key: then it does nothing)."""

    def __init__(self, session: Session, row: IdempotencyKey | None):
        self.session = session
        self.row = row

    def answer(self, response: Response, payload: Any, status_code: int) -> Any:
        """Return ``payload`` as the endpoint's answer, stored first when a key was sent."""
        if self.row is not None:
            headers = {h: response.headers[h] for h in REPLAYED_HEADERS if h in response.headers}
            body = orjson.dumps(jsonable_encoder(payload)).decode()
            idempotency.remember(self.session, self.row, status_code, body, headers)
        return payload

    def answer_raw(self, response: Response) -> Response:
        """Return ``response`` (a body already encoded, e.g. XML), stored first when a key was
        sent; its content type is stored with it, so a replay says the same."""
        if self.row is not None:
            headers = {h: response.headers[h] for h in (*REPLAYED_HEADERS, "Content-Type") if h in response.headers}
            idempotency.remember(self.session, self.row, response.status_code, bytes(response.body).decode(), headers)
        return response


def caller_of(actor: Actor) -> str:
    return "public" if actor.role == "public" else f"user:{actor.name}"


async def get_idempotency(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    now: NowDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="Any unique string (a UUID): a retry with the same key and body returns the first answer and changes nothing again; kept 24 hours"
        ),
    ] = None,
) -> Idempotency:
    return await idempotency_for(request, session, actor, now, idempotency_key)


async def idempotency_for(
    request: Request, session: Session, actor: Actor, now: datetime, idempotency_key: str | None
) -> Idempotency:
    """The key of ``actor``'s request reserved in ``session`` (for endpoints that learn who the
    caller is from the body, like Open311's api_key, and so cannot take IdempotencyDep)."""
    if idempotency_key is None:
        return Idempotency(session, None)
    key = idempotency.check_key(idempotency_key)
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    # A form's retry from a browser has a new boundary: its parts, not its bytes, make it the same.
    content = (await read_photo_form(request)).fingerprint() if is_multipart(request) else await request.body()
    fingerprint = idempotency.request_fingerprint(request.method, path, content)
    found = await run_in_threadpool(
        idempotency.reserve, session, caller_of(actor), key, fingerprint, now, get_settings().idempotency_ttl_s
    )
    if isinstance(found, idempotency.StoredAnswer):
        raise Replay(found)
    return Idempotency(session, found)


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]
