"""Benchmark: Lighthouse 12 on the worker app (/app/) with its default mobile emulation and
throttling (a mid-range phone on a slow 4G link), driving Debian's Chromium.

    npm i -E lighthouse@12.2.3 --prefix bench/.lighthouse      # once (not part of the app)
    python -m bench.app_lighthouse                             # SpatiaLite with the demo
    python -m bench.app_lighthouse --write-md                  # ... and add the results to BENCHMARKS.md

A fresh database with the demo community, ``wangge serve`` on a free port, a grid worker signed
in through /login (Lighthouse sends the session cookie), then Lighthouse on /app/: the worker's
task list. Reported: the performance and accessibility scores (targets: at least 90 each), first
contentful paint and the total transfer size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import httpx

from api.served import WanggeServer

ROOT = Path(__file__).resolve().parent.parent
LIGHTHOUSE = ROOT / "bench" / ".lighthouse" / "node_modules" / ".bin" / "lighthouse"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
CHROMIUM = os.environ.get("WANGGE_CHROMIUM", "/usr/bin/chromium")
USER, PASSWORD = "bench-worker", "Lighthouse-run-2027"


def log(*args) -> None:
    print("app_lighthouse:", *args, file=sys.stderr, flush=True)


def prepare(database_url: str) -> None:
    from geo.access.users import add_user, set_password
    from geo.db import schema
    from geo.db.engine import make_engine
    from geo.db.session import session_scope
    from geo.io.demo import load_demo
    from geo.models import Responder

    engine = make_engine(database_url)
    schema.upgrade(engine)
    with session_scope(engine) as s:
        load_demo(s)
        responder = s.query(Responder).filter_by(role="grid_worker").order_by(Responder.id).first()
        set_password(s, add_user(s, USER, "grid_worker", responder_code=responder.code), PASSWORD)
    engine.dispose()


def session_cookie(base: str) -> str:
    """Sign in through the /login form, as a person would; the cookies it sets."""
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        client.get("/login", params={"next": "/app/"})
        check = client.cookies["wangge_login"]  # the form's hidden form_check holds the same value
        r = client.post("/login", data={"username": USER, "password": PASSWORD, "form_check": check, "next": "/app/"})
        assert r.status_code == 303, r.text
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items() if k != "wangge_login")


def lighthouse(url: str, cookie: str, out: Path) -> dict:
    command = [
        str(LIGHTHOUSE),
        url,
        "--only-categories=performance,accessibility",
        "--output=json",
        f"--output-path={out}",
        "--quiet",
        "--chrome-flags=--headless=new --no-sandbox --disable-gpu --disable-background-networking",
        f"--extra-headers={json.dumps({'Cookie': cookie})}",
    ]
    log("running", " ".join(command[:4]), "...")
    subprocess.run(command, check=True, env={**os.environ, "CHROME_PATH": CHROMIUM})
    report = json.loads(out.read_text(encoding="utf-8"))
    audits = report["audits"]
    return {
        "performance": round(report["categories"]["performance"]["score"] * 100),
        "accessibility": round(report["categories"]["accessibility"]["score"] * 100),
        "fcp_ms": round(audits["first-contentful-paint"]["numericValue"]),
        "lcp_ms": round(audits["largest-contentful-paint"]["numericValue"]),
        "transfer_bytes": round(audits["total-byte-weight"]["numericValue"]),
        "failed_accessibility": sorted(
            key
            for key, audit in audits.items()
            if audit.get("score") == 0 and key in {r["id"] for r in report["categories"]["accessibility"]["auditRefs"]}
        ),
        "lighthouse": report["lighthouseVersion"],
    }


def markdown(result: dict) -> str:
    ok = result["performance"] >= 90 and result["accessibility"] >= 90
    return "\n".join(
        [
            f"## The worker app under Lighthouse (issue 11, {datetime.now(UTC).date()})",
            "",
            "`npm i -E lighthouse@12.2.3 --prefix bench/.lighthouse`, then "
            "`python -m bench.app_lighthouse --write-md` (Lighthouse "
            f"{result['lighthouse']}, default mobile emulation and throttling, Debian's Chromium; "
            "a grid worker signed in, /app/ showing the demo's tasks; SpatiaLite)",
            "",
            "| performance | accessibility | first contentful paint | largest contentful paint | transferred |",
            "|---|---|---|---|---|",
            f"| {result['performance']} | {result['accessibility']} | {result['fcp_ms'] / 1000:.1f} s "
            f"| {result['lcp_ms'] / 1000:.1f} s | {result['transfer_bytes'] / 1024:.0f} KiB |",
            "",
            f"Targets: performance ≥ 90 and accessibility ≥ 90: {'met' if ok else 'NOT met'}."
            + (
                f" Failed accessibility audits: {', '.join(result['failed_accessibility'])}."
                if result["failed_accessibility"]
                else ""
            ),
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write-md", action="store_true", help="append the results to BENCHMARKS.md")
    args = parser.parse_args()
    if not LIGHTHOUSE.exists():
        log(f"no Lighthouse at {LIGHTHOUSE}: npm i -E lighthouse@12.2.3 --prefix bench/.lighthouse")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'app.db'}"
        prepare(url)
        with WanggeServer(url, env={"WANGGE_ESCALATION_INTERVAL_S": "0"}) as server:
            server.wait_ready(timeout_s=120)
            result = lighthouse(server.base + "/app/", session_cookie(server.base), Path(tmp) / "report.json")
    print(json.dumps(result, indent=1))
    if args.write_md:
        with BENCHMARKS_MD.open("a", encoding="utf-8") as f:
            f.write("\n" + markdown(result))
    return 0 if result["performance"] >= 90 and result["accessibility"] >= 90 else 1


if __name__ == "__main__":
    sys.exit(main())
