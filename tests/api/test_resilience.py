"""Writes that survive retries, a database that goes away, and callers refused in the right order.

- Idempotency-Key: a retried write returns the first answer and stores nothing new, across
  server processes; the same key with another request gets 409.
- Health: liveness never touches the database; readiness does, and says why it is not ready.
- A lost database gives JSON 503 with Retry-After, and the service recovers by itself.
- ``wangge serve`` against an unreachable database prints one line and exits non-zero.
- SQLite's single writer: a writer held elsewhere for too long gives 503, never a 500.
- Permission is checked before the version: the public's stale If-Match gets 401, not 412.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from api.app import create_app
from api.served import free_port
from api.v1 import API_PREFIX as API
from geo.db.session import session_scope
from geo.models import IdempotencyKey, Incident, IncidentHistory
from geo.settings import get_settings
from tests.support.one_grid import CENTRE, START, WORLD
from tests.support.world import bearer, build_world


def report(title: str = "楼道堆放杂物") -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(CENTRE)},
        "properties": {"kind": "hazard", "category": "fire_safety", "title": title},
    }


def count(engine, model) -> int:
    with session_scope(engine) as s:
        return s.scalar(select(func.count()).select_from(model))


@pytest.fixture
def world_spec():
    return WORLD


@pytest.fixture
def client(db_url, world):
    app = create_app(db_url, escalate_every_s=0)
    app.state.clock = lambda: START
    return TestClient(app)


# --------------------------------------------------------------------------- Idempotency-Key


def test_a_retried_report_returns_the_first_answer_and_stores_nothing_new(client, engine):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = client.post(f"{API}/incidents", json=report(), headers=key)
    assert first.status_code == 201, first.text
    again = client.post(f"{API}/incidents", json=report(), headers=key)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count(engine, Incident) == 1
    assert count(engine, IdempotencyKey) == 1


def test_the_same_key_with_another_request_is_refused(client, engine):
    key = {"Idempotency-Key": "phone-7-report-1"}
    assert client.post(f"{API}/incidents", json=report("一"), headers=key).status_code == 201
    other = client.post(f"{API}/incidents", json=report("二"), headers=key)
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json()["detail"]
    assert count(engine, Incident) == 1


def test_keys_belong_to_their_caller(client, world, engine):
    key = {"Idempotency-Key": "shared-key"}
    assert client.post(f"{API}/incidents", json=report(), headers=key).status_code == 201
    staff = client.post(f"{API}/incidents", json=report(), headers={**key, **bearer(world.token["community"])})
    assert staff.status_code == 201 and "Idempotent-Replayed" not in staff.headers
    assert count(engine, Incident) == 2


def test_a_failed_write_keeps_no_key(client, engine):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    bad = report()
    bad["properties"]["category"] = "no_such_category"
    assert client.post(f"{API}/incidents", json=bad, headers=key).status_code == 422
    assert count(engine, IdempotencyKey) == 0
    # The corrected request with the same key goes through.
    assert client.post(f"{API}/incidents", json=report(), headers=key).status_code == 201


def test_an_expired_key_may_be_used_afresh(client, engine, monkeypatch):
    key = {"Idempotency-Key": "old-key"}
    assert client.post(f"{API}/incidents", json=report(), headers=key).status_code == 201
    client.app.state.clock = lambda: START + timedelta(seconds=get_settings().idempotency_ttl_s + 1)
    again = client.post(f"{API}/incidents", json=report(), headers=key)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert count(engine, Incident) == 2
    assert count(engine, IdempotencyKey) == 1


def test_expired_keys_are_purged_and_live_ones_kept(client, engine):
    from geo.db.idempotency import purge_expired

    assert client.post(f"{API}/incidents", json=report("旧"), headers={"Idempotency-Key": "old"}).status_code == 201
    client.app.state.clock = lambda: START + timedelta(hours=20)
    assert client.post(f"{API}/incidents", json=report("新"), headers={"Idempotency-Key": "new"}).status_code == 201
    ttl = get_settings().idempotency_ttl_s
    with session_scope(engine) as s:
        assert purge_expired(s, START + timedelta(seconds=ttl) + timedelta(hours=1), ttl) == 1
    with session_scope(engine) as s:
        assert s.scalars(select(IdempotencyKey.key)).all() == ["new"]
    assert count(engine, Incident) == 2  # the writes themselves stay


def test_workflow_action_comment_and_assignment_are_idempotent(client, world, engine):
    staff = bearer(world.token["community"])
    created = client.post(f"{API}/incidents", json=report(), headers=staff)
    iid, etag = created.json()["id"], created.headers["ETag"]
    history = count(engine, IncidentHistory)

    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = client.post(
        f"{API}/incidents/{iid}/actions/confirm",
        json={"comment": "现场核实"},
        headers={**staff, "If-Match": etag, **key},
    )
    assert first.status_code == 200, first.text
    # Without the key, the same request would now be refused (stale ETag); with it, it is answered again.
    again = client.post(
        f"{API}/incidents/{iid}/actions/confirm",
        json={"comment": "现场核实"},
        headers={**staff, "If-Match": etag, **key},
    )
    assert (again.status_code, again.json(), again.headers["ETag"]) == (200, first.json(), first.headers["ETag"])
    assert count(engine, IncidentHistory) == history + 1

    key = {"Idempotency-Key": str(uuid.uuid4())}
    comments = [
        client.post(f"{API}/incidents/{iid}/comments", json={"text": "已通知物业"}, headers={**staff, **key})
        for _ in range(2)
    ]
    assert [c.status_code for c in comments] == [201, 201]
    assert count(engine, IncidentHistory) == history + 2

    responders = client.get(f"{API}/responders", headers=staff).json()["features"]
    target = next(r["id"] for r in responders if r["properties"]["role"] == "grid_leader")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    etag = comments[0].headers["ETag"]
    assigned = [
        client.post(
            f"{API}/incidents/{iid}/assign", json={"responder_id": target}, headers={**staff, "If-Match": etag, **key}
        )
        for _ in range(2)
    ]
    assert [a.status_code for a in assigned] == [200, 200]
    assert assigned[0].json() == assigned[1].json()
    assert count(engine, IncidentHistory) == history + 3


def test_an_unusable_key_is_refused(client, engine):
    r = client.post(f"{API}/incidents", json=report(), headers={"Idempotency-Key": "x" * 300})
    assert r.status_code == 422 and "Idempotency-Key" in r.json()["detail"]
    assert count(engine, Incident) == 0


def test_a_retry_to_another_server_process_gets_the_first_answer(db_url, world, serve_wangge, engine):
    first_server, second_server = serve_wangge(db_url), serve_wangge(db_url)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = httpx.post(f"{first_server}{API}/incidents", json=report(), headers=key, timeout=30)
    again = httpx.post(f"{second_server}{API}/incidents", json=report(), headers=key, timeout=30)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert count(engine, Incident) == 1


# --------------------------------------------------------------------------- authorisation first


def test_the_public_with_a_stale_if_match_gets_401_not_412(client, world):
    staff = bearer(world.token["community"])
    created = client.post(f"{API}/incidents", json=report(), headers=staff)
    iid = created.json()["id"]
    stale = '"999-999"'
    for path, body in (("actions/confirm", {}), ("assign", {"responder_id": 1})):
        r = client.post(f"{API}/incidents/{iid}/{path}", json=body, headers={"If-Match": stale})
        assert r.status_code == 401, (path, r.status_code, r.text)
    r = client.patch(
        f"{API}/incidents/{iid}", json={"type": "Feature", "properties": {"title": "改"}}, headers={"If-Match": stale}
    )
    assert r.status_code == 401, r.text
    # With the right, the stale version is what is wrong.
    r = client.post(f"{API}/incidents/{iid}/actions/confirm", json={}, headers={**staff, "If-Match": stale})
    assert r.status_code == 412


# --------------------------------------------------------------------------- health and a lost database


def test_health_and_readiness(client):
    assert client.get(f"{API}/health").json() == {"status": "ok"}
    ready = client.get(f"{API}/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_an_unreachable_database_gives_json_503_with_retry_after():
    app = create_app(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere", escalate_every_s=0)
    client = TestClient(app)
    assert client.get(f"{API}/health").status_code == 200  # alive, though not ready
    ready = client.get(f"{API}/health/ready")
    assert ready.status_code == 503 and int(ready.headers["Retry-After"]) > 0
    assert "database" in ready.json()["detail"]
    for r in (client.get(f"{API}/incidents"), client.post(f"{API}/incidents", json=report())):
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/json")
        assert int(r.headers["Retry-After"]) > 0
        assert "database" in r.json()["detail"]


class Proxy:
    """A TCP relay to PostgreSQL that the test can cut and restore, as a network would."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None

    def start(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self.listener.settimeout(0.2)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while self.listener is listener:
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        listener, self.listener = self.listener, None
        listener.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.sockets = []


@pytest.mark.postgis
def test_a_lost_database_gives_503_and_the_service_recovers_by_itself(postgis_url, serve_wangge):
    """A database server that goes away (SpatiaLite is a file inside the process)."""
    url = make_url(postgis_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    base = serve_wangge(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    assert httpx.get(f"{base}{API}/incidents", timeout=30).status_code == 200

    proxy.cut()
    for _ in range(3):
        r = httpx.get(f"{base}{API}/incidents", timeout=30)
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/json") and int(r.headers["Retry-After"]) > 0
    w = httpx.post(f"{base}{API}/incidents", json=report(), timeout=30)
    assert w.status_code == 503
    assert httpx.get(f"{base}{API}/health", timeout=30).status_code == 200
    assert httpx.get(f"{base}{API}/health/ready", timeout=30).status_code == 503

    proxy.start()
    statuses = []
    for _ in range(50):  # bounded: recovery needs no restart, only the next requests
        statuses.append(httpx.get(f"{base}{API}/incidents", timeout=30).status_code)
        if statuses[-1] == 200:
            break
        time.sleep(0.2)
    assert statuses[-1] == 200, statuses
    assert httpx.get(f"{base}{API}/health/ready", timeout=30).status_code == 200
    assert httpx.post(f"{base}{API}/incidents", json=report(), timeout=30).status_code == 201
    proxy.cut()


def test_serve_against_an_unreachable_database_says_so_in_one_line(tmp_path):
    wangge = Path(sys.executable).with_name("wangge")
    env = {**os.environ, "WANGGE_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"}
    done = subprocess.run(
        [str(wangge), "serve", "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "cannot reach the database" in lines[0] and "Traceback" not in done.stderr + done.stdout


def test_a_writer_held_elsewhere_too_long_gives_503_not_500(spatialite_url, monkeypatch):
    """SQLite's single writer, held by another process."""
    db_url = spatialite_url
    from geo.db.engine import get_engine

    engine = get_engine(db_url)
    build_world(engine, WORLD)
    monkeypatch.setenv("WANGGE_DB_WAIT_TIMEOUT_S", "0.5")
    get_settings.cache_clear()
    from geo.db.engine import make_engine

    app = create_app(db_url, escalate_every_s=0)
    app.state.engine = make_engine(db_url)  # with the short busy timeout
    client = TestClient(app)
    # Another process's writer that does not let go (locks are per process: it must be another).
    hold = "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1]); c.execute('BEGIN IMMEDIATE'); print('held', flush=True); time.sleep(30)"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, make_url(db_url).database], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        r = client.post(f"{API}/incidents", json=report())
        assert r.status_code == 503, r.text
        assert int(r.headers["Retry-After"]) > 0
        assert r.json()["detail"]
    finally:
        holder.kill()
        holder.wait()
        app.state.engine.dispose()
    assert count(engine, Incident) == 0
    assert client.post(f"{API}/incidents", json=report()).status_code == 201
