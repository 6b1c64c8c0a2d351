"""Signing in, on both databases: the OAuth2 password flow, expiry and sign-out, the lockout of
accounts and addresses (429 with Retry-After), web sessions with their cookie, CSRF and idle
timeout, temporary passwords, and the audit log of it all."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from geo.access import audit
from geo.access.users import get_user, set_password
from geo.db.session import session_scope
from geo.models import AuditEvent, Incident
from geo.settings import get_settings
from tests.support.one_grid import CENTRE, WORLD

PASSWORD = "Grid-Walk-2027"
NEW_PASSWORD = "Patrol!Daily9"


@pytest.fixture
def world_spec():
    return WORLD


@pytest.fixture
def app_client(db_url, world, clock, engine) -> TestClient:
    with session_scope(engine) as s:
        for name in ("community", "worker"):
            set_password(s, get_user(s, name), PASSWORD)
    client = TestClient(create_app(db_url))
    client.app.state.clock = clock
    return client


def _token(client: TestClient, username: str = "worker", password: str = PASSWORD):
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _events(engine, event: str | None = None) -> list[AuditEvent]:
    """The audit log, oldest first."""
    with session_scope(engine) as s:
        return list(reversed(audit.events(s, event=event)))


def _web_sign_in(client: TestClient, username: str = "worker", password: str = PASSWORD, next_url: str = "/app/"):
    page = client.get(f"/login?next={next_url}")
    check = re.search(r"name='form_check' value='([^']+)'", page.text).group(1)
    return client.post(
        "/login",
        data={"username": username, "password": password, "form_check": check, "next": next_url},
        follow_redirects=False,
    )


def _report(client: TestClient, headers: dict[str, str]) -> int:
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(CENTRE)},
        "properties": {"kind": "hazard", "category": "fire_safety", "title": "楼道堆放杂物"},
    }
    return client.post("/api/v1/incidents", json=body, headers=headers).status_code


def _incidents(engine) -> int:
    with session_scope(engine) as s:
        return s.scalar(select(func.count()).select_from(Incident))


def test_password_flow_answers_an_expiring_bearer_token(app_client, clock, engine):
    answer = _token(app_client)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == int(get_settings().token_ttl_s) == 8 * 3600
    me = app_client.get("/api/v1/auth/me", headers=_bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["role"] == "grid_worker" and me.json()["grids"] == ["441802001001001"]
    assert me.json()["csrf_token"] is None  # a bearer token needs no CSRF token
    clock.advance(hours=8, seconds=1)
    expired = app_client.get("/api/v1/auth/me", headers=_bearer(body["access_token"]))
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    assert [e.result for e in _events(engine, audit.SIGN_IN)] == ["ok"]


def test_docs_authorize_uses_the_password_flow(app_client):
    schemes = app_client.get("/openapi.json").json()["components"]["securitySchemes"]
    flows = [s["flows"]["password"]["tokenUrl"] for s in schemes.values() if s["type"] == "oauth2"]
    assert flows == ["/api/v1/auth/token"]


def test_logout_revokes_the_token(app_client, engine):
    token = _token(app_client).json()["access_token"]
    assert app_client.post("/api/v1/auth/logout", headers=_bearer(token)).status_code == 204
    refused = app_client.get("/api/v1/auth/me", headers=_bearer(token))
    assert refused.status_code == 401 and "sign in again" in refused.json()["detail"]
    assert [e.event for e in _events(engine)] == [audit.SIGN_IN, audit.SIGN_OUT]


def test_wrong_passwords_lock_the_account_then_it_opens_again(app_client, clock, engine):
    allowed = get_settings().signin_failures_allowed
    for _ in range(allowed):
        wrong = _token(app_client, password="Wrong-pass-1")
        assert wrong.status_code == 401 and wrong.json()["detail"] == "Wrong username or password"
    locked = _token(app_client)  # the right password, but locked
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= get_settings().signin_lock_s
    assert "locked" in locked.json()["detail"] and "try again in 15 minutes" in locked.json()["detail"]
    # Another account from the same address is not locked by this one's failures.
    assert _token(app_client, "community").status_code == 200
    clock.advance(seconds=get_settings().signin_lock_s + 1)
    assert _token(app_client).status_code == 200
    rows = [(e.event, e.result, e.username) for e in _events(engine) if e.username == "worker"]
    assert rows == [(audit.SIGN_IN, "failed", "worker")] * allowed + [
        (audit.LOCK, "locked", "worker"),
        (audit.SIGN_IN, "refused", "worker"),
        (audit.SIGN_IN, "ok", "worker"),
    ]
    assert all(e.address for e in _events(engine))


def test_an_address_trying_many_accounts_is_locked(app_client, monkeypatch, engine):
    monkeypatch.setenv("WANGGE_SIGNIN_ADDRESS_FAILURES_ALLOWED", "6")
    get_settings.cache_clear()
    for i in range(6):  # one try per made-up account: no account reaches its own limit
        assert _token(app_client, f"guess{i}", "Wrong-pass-1").status_code == 401
    refused = _token(app_client, "community")
    assert refused.status_code == 429 and "from this address" in refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) > 0
    assert [e.detail["failures"] for e in _events(engine, audit.LOCK)] == [6]


def test_web_session_cookie_csrf_and_idle_timeout(app_client, clock, engine):
    signed_in = _web_sign_in(app_client)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/app/"
    cookies = signed_in.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("wangge_session="))
    assert "HttpOnly" in session_cookie and "SameSite=strict" in session_cookie
    csrf_cookie = next(c for c in cookies if c.startswith("wangge_csrf="))
    assert "HttpOnly" not in csrf_cookie
    me = app_client.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["username"] == "worker"
    csrf = me.json()["csrf_token"]

    # A write with the cookie alone, or with a forged token, is refused and stores nothing.
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        refused = app_client.post("/api/v1/incidents", json={}, headers=headers)
        assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
    assert _incidents(engine) == 0
    assert _report(app_client, {"X-CSRF-Token": csrf}) == 201
    assert _incidents(engine) == 1

    # Used every 20 minutes it stays; 30 minutes idle end it.
    for _ in range(3):
        clock.advance(minutes=20)
        assert app_client.get("/api/v1/auth/me").status_code == 200
    clock.advance(minutes=30)
    ended = app_client.get("/api/v1/auth/me")
    assert ended.status_code == 401 and "30 minutes without use" in ended.json()["detail"]
    # A page's read still works, as the public; a write with the dead cookie does not.
    assert app_client.get("/api/v1/incidents").status_code == 200
    assert _report(app_client, {"X-CSRF-Token": csrf}) == 401
    assert _incidents(engine) == 1


def test_sign_in_page_refuses_wrong_passwords_and_forged_forms(app_client, engine):
    wrong = _web_sign_in(app_client, password="Wrong-pass-1")
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
    forged = app_client.post(
        "/login", data={"username": "worker", "password": PASSWORD, "form_check": "x"}, follow_redirects=False
    )
    assert forged.status_code == 403 and "wangge_session" not in forged.headers.get("set-cookie", "")
    # Only this site's paths are followed after signing in.
    assert _web_sign_in(app_client, next_url="//evil.example/").headers["location"] == "/"


def test_temporary_password_must_be_changed_first(app_client, engine):
    with session_scope(engine) as s:
        set_password(s, get_user(s, "worker"), PASSWORD, temporary=True)
    answer = _token(app_client).json()
    assert answer["must_change_password"] is True
    headers = _bearer(answer["access_token"])
    blocked = app_client.get("/api/v1/incidents", headers=headers)
    assert blocked.status_code == 403 and "temporary password" in blocked.json()["detail"]
    weak = app_client.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": "worker12345"}, headers=headers
    )
    assert weak.status_code == 422 and "too simple" in weak.json()["detail"]
    wrong = app_client.post(
        "/api/v1/auth/password", json={"current_password": "Nope-1234", "new_password": NEW_PASSWORD}, headers=headers
    )
    assert wrong.status_code == 422 and wrong.json()["detail"] == "The current password is wrong"
    changed = app_client.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=headers
    )
    assert changed.status_code == 204
    assert app_client.get("/api/v1/incidents", headers=headers).status_code == 200
    assert _token(app_client, password=PASSWORD).status_code == 401
    assert _token(app_client, password=NEW_PASSWORD).status_code == 200
    assert [e.result for e in _events(engine, audit.PASSWORD)] == ["failed", "ok"]


def test_sign_in_page_sends_temporary_passwords_to_the_change_form(app_client, engine):
    with session_scope(engine) as s:
        set_password(s, get_user(s, "worker"), PASSWORD, temporary=True)
    signed_in = _web_sign_in(app_client)
    assert signed_in.headers["location"] == "/login/password?next=/app/"
    form = app_client.get("/login/password?next=/app/")
    csrf = re.search(r"name='csrf_token' value='([^']+)'", form.text).group(1)
    fields = {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "csrf_token": csrf, "next": "/app/"}
    differ = app_client.post("/login/password", data={**fields, "confirm_password": "Other!Pass9"})
    assert differ.status_code == 422
    done = app_client.post("/login/password", data={**fields, "confirm_password": NEW_PASSWORD}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/app/"
    assert app_client.get("/api/v1/incidents").status_code == 200  # the same session goes on


def test_audit_log_is_for_administrators_and_kept_180_days(app_client, clock, engine, add_token):
    _token(app_client, password="Wrong-pass-1")
    worker = _token(app_client).json()["access_token"]
    assert app_client.get("/api/v1/audit", headers=_bearer(worker)).status_code == 403
    admin = add_token("admin1", "admin")
    events = app_client.get("/api/v1/audit?user=worker", headers=_bearer(admin)).json()["events"]
    assert [(e["event"], e["result"]) for e in events] == [("sign_in", "ok"), ("sign_in", "failed")]
    assert get_settings().audit_retention_days >= 180
    with session_scope(engine) as s:
        assert audit.purge_expired(s, clock() + timedelta(days=179)) == 0
        assert audit.purge_expired(s, clock() + timedelta(days=181)) == 2


def test_concurrent_sign_ins_on_a_real_server(db_url, world, engine, serve_wangge):
    """Many people sign in at once while someone guesses a password: every right password gets
    its own working token, every guess is answered 401 or 429 (never 5xx), each attempt is one
    audit row, and the guessed account ends locked."""
    import concurrent.futures

    import httpx

    with session_scope(engine) as s:
        for name in ("community", "leader", "worker"):
            set_password(s, get_user(s, name), PASSWORD)
    base = serve_wangge(db_url)
    allowed = get_settings().signin_failures_allowed
    attempts = [("community", PASSWORD), ("leader", PASSWORD)] * 3 + [("worker", "Wrong-pass-1")] * (allowed + 3)

    def attempt(who_password):
        with httpx.Client(base_url=base, timeout=60) as http:
            who, password = who_password
            return who, http.post("/api/v1/auth/token", data={"username": who, "password": password})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(attempt, attempts))
    good = [r for who, r in answers if who != "worker"]
    assert [r.status_code for r in good] == [200] * 6
    tokens = {r.json()["access_token"] for r in good}
    assert len(tokens) == 6
    with httpx.Client(base_url=base, timeout=60) as http:
        for token in tokens:
            assert http.get("/api/v1/auth/me", headers=_bearer(token)).status_code == 200
        locked = http.post("/api/v1/auth/token", data={"username": "worker", "password": PASSWORD})
    guesses = sorted(r.status_code for who, r in answers if who == "worker")
    assert set(guesses) <= {401, 429} and guesses.count(401) >= allowed
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    rows = _events(engine, audit.SIGN_IN)
    assert len(rows) == len(attempts) + 1  # one row per attempt, the last refusal included
    assert sum(1 for e in rows if e.result == "ok") == 6


def test_concurrent_password_changes_on_a_real_server(db_url, world, engine, serve_wangge):
    """Several changes of one password sent at once, each from its own sign-in with the same
    current password: exactly one wins; the others are told the current password is wrong (or,
    arriving after the winner's change ended the other sign-ins, that they are signed out); the
    one that won is the password that works afterwards."""
    import concurrent.futures

    import httpx

    with session_scope(engine) as s:
        set_password(s, get_user(s, "worker"), PASSWORD)
    base = serve_wangge(db_url)
    candidates = [f"Patrol!Daily{i}" for i in range(4)]
    with httpx.Client(base_url=base, timeout=60) as http:
        tokens = [
            http.post("/api/v1/auth/token", data={"username": "worker", "password": PASSWORD}).json()["access_token"]
            for _ in candidates
        ]

    def change(args):
        token, new = args
        with httpx.Client(base_url=base, timeout=60) as http:
            body = {"current_password": PASSWORD, "new_password": new}
            return new, http.post("/api/v1/auth/password", json=body, headers=_bearer(token))

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(change, zip(tokens, candidates)))
    codes = sorted(r.status_code for _, r in answers)
    assert codes.count(204) == 1 and set(codes) <= {204, 401, 422}, [r.text for _, r in answers]
    winner = next(new for new, r in answers if r.status_code == 204)
    with httpx.Client(base_url=base, timeout=60) as http:
        for new in candidates:
            answer = http.post("/api/v1/auth/token", data={"username": "worker", "password": new})
            assert answer.status_code == (200 if new == winner else 401)
    assert [e.result for e in _events(engine, audit.PASSWORD)].count("ok") == 1
