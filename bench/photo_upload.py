"""Photo upload benchmark (issue 11): a 4 MB JPEG through ``POST /api/v1/incidents/{id}/photos``
against the same bytes through a plain upload endpoint of the same server, in the same run.

The server is the real app (``api.app.create_app``) on a fresh SpatiaLite file, served by
uvicorn on 127.0.0.1; only this benchmark's copy of the app has the plain endpoint, which streams
the body to a file and answers 201. The two kinds of upload alternate, so the machine's noise
falls on both; the ratio of the medians is the result (target ≤ 1.5×). Peak memory per upload is
the peak of Python's allocations (tracemalloc) while one upload is served, client and server.
Each photo upload carries different bytes (a few bytes after the JPEG's end), so the media store
writes every one of them, as the plain endpoint does.

With ``--steps`` the server's steps of each photo upload are timed too (medians), to show
where the time goes.

    python -m bench.photo_upload [--uploads N] [--steps] [--write-md]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from fastapi import Request  # at module level: the endpoint's annotations are read from here
from fastapi.responses import JSONResponse

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
TARGET_RATIO = 1.5
PHOTO_MB = 4.0
SECTION = "## Photo upload (issue 11)"


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def make_jpeg(target_mb: float = PHOTO_MB) -> bytes:
    """A camera-like JPEG of about ``target_mb`` MB: noise over a gradient (JPEG cannot shrink it)."""
    from PIL import Image

    rng = np.random.default_rng(20261202)
    side = 1200
    while True:
        ramp = np.linspace(0, 255, side, dtype=np.float32)
        base = (ramp[None, :, None] + ramp[:, None, None]) / 2
        pixels = np.clip(base + rng.normal(0, 60, (side, side * 4 // 3, 3))[:, :side] * 1.0, 0, 255)
        out = io.BytesIO()
        Image.fromarray(pixels.astype(np.uint8)).save(out, "JPEG", quality=95)
        if out.tell() >= target_mb * 1024 * 1024:
            return out.getvalue()
        side = int(side * 1.15)


# The steps of a photo upload timed by --steps: (label, module, attribute).
STEPS = (
    ("caller's token checked (own turn at the database)", "api.auth", "_check_token"),
    ("multipart form read and hashed as it arrives", "api.forms", "read_form"),
    ("incident read", "api.v1.photos", "get_object"),
    ("add_photo, all of it", "geo.media.photos", "add_photo"),
    ("- structure and EXIF checked (no decode)", "geo.media.images", "inspect_image"),
    ("- incident locked, photos counted", "geo.media.photos", "_lock_and_count"),
    ("- file written to the store", "geo.media.photos", "_put"),
    ("unit of work committed", "sqlalchemy.orm", "Session.commit"),
)


def time_steps() -> dict[str, list[float]]:
    """Wrap each of :data:`STEPS` to record its durations (before the app is built)."""
    import functools
    import importlib
    import inspect

    spent: dict[str, list[float]] = {label: [] for label, _, _ in STEPS}
    for label, module_name, attr in STEPS:
        owner = importlib.import_module(module_name)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        f = getattr(owner, name)

        def timed(f=f, label=label):
            if inspect.iscoroutinefunction(f):

                @functools.wraps(f)
                async def wrapper(*a, **k):
                    start = time.perf_counter()
                    try:
                        return await f(*a, **k)
                    finally:
                        spent[label].append(time.perf_counter() - start)

                return wrapper

            @functools.wraps(f)
            def sync_wrapper(*a, **k):
                start = time.perf_counter()
                try:
                    return f(*a, **k)
                finally:
                    spent[label].append(time.perf_counter() - start)

            return sync_wrapper

        setattr(owner, name, timed())
    return spent


def build_app(database_url: str, plain_dir: Path):
    from api.app import create_app

    app = create_app(database_url, escalate_every_s=0)

    @app.post("/bench/plain-upload")
    async def plain_upload(request: Request) -> JSONResponse:
        # The floor: stream the body to a file, nothing else.
        fd, name = tempfile.mkstemp(dir=plain_dir)
        size = 0
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
                size += len(chunk)
        return JSONResponse({"bytes": size}, status_code=201)

    return app


def serve(app) -> tuple[str, object]:
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/api/v1/health").status_code < 500:
                return base, server
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the benchmark server did not start")


def run(uploads: int, steps: bool = False) -> dict:
    work = Path(tempfile.mkdtemp(prefix="wangge-bench-photos-"))
    os.environ.update(
        {
            "WANGGE_MEDIA_DIR": str(work / "media"),
            "WANGGE_PHOTO_MAX_COUNT": str(uploads + 10),
            "WANGGE_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
        }
    )
    from geo.access.users import add_user, issue_token
    from geo.db import schema
    from geo.db.engine import make_engine
    from geo.db.session import session_scope
    from geo.settings import get_settings

    get_settings.cache_clear()
    spent = time_steps() if steps else {}
    url = os.environ["WANGGE_DATABASE_URL"]
    engine = make_engine(url)
    schema.upgrade(engine)
    with session_scope(engine) as s:
        token = issue_token(s, add_user(s, "bench", "community"))
    (work / "plain").mkdir()
    base, server = serve(build_app(url, work / "plain"))
    photo = make_jpeg()
    log(f"photo: {len(photo) / 1e6:.2f} MB")
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=120) as http:
        body = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [113.0425, 23.6925]},
            "properties": {"kind": "hazard", "category": "fire_safety", "title": "bench"},
        }
        incident = http.post("/api/v1/incidents", json=body, headers=auth).json()["id"]
        times: dict[str, list[float]] = {"photo": [], "plain": []}
        peaks: dict[str, list[int]] = {"photo": [], "plain": []}
        tracemalloc.start()
        for i in range(uploads + 2):  # the first pair warms up and is not counted
            for kind in ("photo", "plain") if i % 2 == 0 else ("plain", "photo"):
                data = photo + i.to_bytes(4, "big") if kind == "photo" else photo
                tracemalloc.reset_peak()
                start = time.perf_counter()
                if kind == "photo":
                    files = {"file": ("photo.jpg", data, "image/jpeg")}
                    r = http.post(
                        f"/api/v1/incidents/{incident}/photos", files=files, data={"stage": "wide"}, headers=auth
                    )
                else:
                    files = {"file": ("photo.jpg", data, "image/jpeg")}
                    r = http.post("/bench/plain-upload", files=files, headers=auth)
                elapsed = time.perf_counter() - start
                assert r.status_code == 201, r.text
                if i >= 2:
                    times[kind].append(elapsed)
                    peaks[kind].append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    server.should_exit = True  # type: ignore[attr-defined]
    photo_s, plain_s = statistics.median(times["photo"]), statistics.median(times["plain"])
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "photo_bytes": len(photo),
        "uploads": uploads,
        "photo_ms": photo_s * 1000,
        "plain_ms": plain_s * 1000,
        "ratio": photo_s / plain_s,
        "photo_peak_mb": max(peaks["photo"]) / 1e6,
        "plain_peak_mb": max(peaks["plain"]) / 1e6,
        # Per photo upload (the token check and commit also run for the incident's creation).
        "steps_ms": {label: statistics.median(v[-uploads:]) * 1000 for label, v in spent.items() if v},
    }


def markdown(r: dict) -> str:
    ok = "met" if r["ratio"] <= TARGET_RATIO else "NOT met"
    return f"""{SECTION}

`python -m bench.photo_upload --uploads {r["uploads"]}{" --steps" if r.get("steps_ms") else ""} --write-md` ({r["at"]}; {r["machine"]}; SpatiaLite,
one uvicorn server on 127.0.0.1). A {r["photo_bytes"] / 1e6:.2f} MB JPEG, {r["uploads"]} uploads of each kind,
alternating; medians.

| upload | median | peak Python memory per upload (client and server) |
|---|---|---|
| `POST /api/v1/incidents/{{id}}/photos` (caller checked, structure checked without decoding, EXIF read from the header, hashed while it streams in, stored by SHA-256, row and timeline entry) | {r["photo_ms"]:.1f} ms | {r["photo_peak_mb"]:.1f} MB |
| plain upload endpoint of the same server (body streamed to a file) | {r["plain_ms"]:.1f} ms | {r["plain_peak_mb"]:.1f} MB |

Ratio **{r["ratio"]:.2f}×** (target ≤ {TARGET_RATIO}×: {ok}). Thumbnails and the copy without EXIF are made on
their first GET and kept beside the original, so the upload does not wait for them.
{steps_table(r)}"""


def steps_table(r: dict) -> str:
    if not r.get("steps_ms"):
        return ""
    rows = "\n".join(f"| {label} | {ms:.2f} ms |" for label, ms in r["steps_ms"].items())
    return f"""
Where a photo upload's time goes on the server (`--steps`; medians of the last {r["uploads"]}; the rest is
the framework's dependencies, the thread pool hops and the answer):

| step | median |
|---|---|
{rows}
"""


def write_md(text: str) -> None:
    current = BENCHMARKS_MD.read_text(encoding="utf-8")
    if SECTION in current:
        head, _, rest = current.partition(SECTION)
        # Up to the next heading: other benchmarks' sections (## or ###) follow this one.
        ends = [i for i in (rest.find("\n## "), rest.find("\n### ")) if i != -1]
        tail = rest[min(ends) :] if ends else ""
        current = head + text.rstrip() + "\n" + tail
    else:
        current = current.rstrip() + "\n\n" + text
    BENCHMARKS_MD.write_text(current, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--steps", action="store_true", help="time the server's steps of each photo upload")
    parser.add_argument("--write-md", action="store_true")
    args = parser.parse_args()
    result = run(args.uploads, args.steps)
    text = markdown(result)
    print(text)
    if args.write_md:
        write_md(text)
    return 0 if result["ratio"] <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
