"""Liveness and readiness, for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from geo.db.engine import database_problem

router = APIRouter(tags=["Service"])


def readiness_problems(app: FastAPI) -> list[str]:
    """What keeps the service from answering lookups now (nothing: ready)."""
    problem = database_problem(app.state.engine)
    if problem is not None:
        return [f"the database does not answer ({problem})"]
    if not app.state.indexes_ready.is_set():
        return ["the lookup indexes are still being built"]
    return []


@router.get("/health", summary="Liveness: answers without touching the database")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/health/ready",
    summary="Readiness: the database answers and the lookup indexes are built (503 with the reason when not)",
    responses={503: {"description": "Not ready: the reason, and Retry-After"}},
)
async def ready(request: Request) -> JSONResponse:
    problems = await run_in_threadpool(readiness_problems, request.app)
    if problems:
        return JSONResponse(
            {"status": "not ready", "detail": "; ".join(problems)}, status_code=503, headers={"Retry-After": "5"}
        )
    return JSONResponse({"status": "ready"})
