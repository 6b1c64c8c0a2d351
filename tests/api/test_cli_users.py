"""`wangge user ...`: accounts with passwords (from stdin or temporary), disabling, the list."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from geo.access import audit
from geo.access.passwords import verify_password
from geo.access.users import check_token
from geo.db.session import session_scope
from geo.errors import NotAuthenticated
from geo.models import ApiToken, User, utcnow

GOOD = "Cuihu-2026!"


@pytest.fixture
def wangge(db_url):
    """Run ``wangge ARGS`` in-process with ``stdin`` as standard input."""
    from typer.testing import CliRunner

    from api.cli import app

    runner = CliRunner()

    def run(*args: str, stdin: str | None = None):
        return runner.invoke(app, list(args), input=stdin, catch_exceptions=False)

    return run


def _user(engine, username: str) -> User | None:
    with session_scope(engine) as s:
        user = s.scalar(select(User).where(User.username == username))
        if user is not None:
            s.expunge(user)
        return user


def _token_of(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("wg_"))


def test_add_with_a_password_from_stdin_and_a_token_for_machines(wangge, engine):
    r = wangge("user", "add", "zhang", "--role", "viewer", "--name", "张三", "--password-stdin", stdin=GOOD + "\n")
    assert r.exit_code == 0, r.output
    assert GOOD not in r.output  # the password given is never echoed
    user = _user(engine, "zhang")
    assert user is not None and user.display_name == "张三" and not user.must_change_password
    assert verify_password(GOOD, user.password_hash)
    with session_scope(engine) as s:
        check = check_token(s, _token_of(r.output))
        assert check.actor.name == "zhang" and check.kind == "api"
        assert s.scalar(select(ApiToken.expires_at).where(ApiToken.id == check.token_id)) is None


def test_add_without_a_password_prints_a_temporary_one_to_change(wangge, engine):
    r = wangge("user", "add", "li", "--role", "planner")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    temporary = lines[lines.index(next(line for line in lines if "temporary password" in line)) + 1]
    user = _user(engine, "li")
    assert user is not None and user.must_change_password
    assert verify_password(temporary, user.password_hash) and "li" not in temporary.lower()
    assert _token_of(r.output) != temporary


@pytest.mark.parametrize(
    ("password", "reason"),
    [("Ab1!", "too short"), ("abcdefghij", "too simple"), ("Xwangwu-2026", "must not contain the username")],
)
def test_a_weak_password_is_refused_with_its_reason_and_nothing_is_made(wangge, engine, password, reason):
    r = wangge("user", "add", "wangwu", "--role", "viewer", "--password-stdin", stdin=password + "\n")
    assert r.exit_code == 2 and reason in r.output
    assert _user(engine, "wangwu") is None


def test_unknown_role_responder_or_user_are_clear_errors(wangge, engine, demo):
    r = wangge("user", "add", "a1", "--role", "mayor")
    assert r.exit_code == 2 and "Unknown role 'mayor'" in r.output
    r = wangge("user", "add", "a1", "--role", "grid_worker", "--responder", "NOPE")
    assert r.exit_code == 2 and "No responder with code 'NOPE'" in r.output
    r = wangge("user", "add", "a1", "--role", "grid_worker")
    assert r.exit_code == 2 and "--responder" in r.output
    assert _user(engine, "a1") is None
    r = wangge("user", "password", "ghost", "--password-stdin", stdin=GOOD + "\n")
    assert r.exit_code == 2 and "No user 'ghost'" in r.output
    for command in ("disable", "token"):
        r = wangge("user", command, "ghost")
        assert r.exit_code == 2 and "No user 'ghost'" in r.output
    r = wangge("user", "add", "a1", "--role", "viewer", "--password-stdin", stdin="\n")
    assert r.exit_code == 2 and "no password" in r.output


def test_password_sets_a_new_one_and_ends_web_sessions_but_not_api_tokens(wangge, engine):
    api_token = _token_of(wangge("user", "add", "zhao", "--role", "viewer", "--password-stdin", stdin=GOOD).output)
    from geo.access.users import get_user, issue_token
    from geo.models import TokenKind

    with session_scope(engine) as s:
        web = issue_token(s, get_user(s, "zhao"), kind=TokenKind.session, now=utcnow())
    r = wangge("user", "password", "zhao", "--password-stdin", stdin="Qingyuan#88\n")
    assert r.exit_code == 0, r.output
    assert verify_password("Qingyuan#88", _user(engine, "zhao").password_hash)
    with session_scope(engine) as s:
        with pytest.raises(NotAuthenticated):
            check_token(s, web)
        assert check_token(s, api_token).actor.name == "zhao"
    r = wangge("user", "password", "zhao")  # no stdin: a new temporary password
    assert r.exit_code == 0 and "temporary password" in r.output
    assert _user(engine, "zhao").must_change_password
    r = wangge("user", "password", "zhao", "--password-stdin", stdin="short\n")
    assert r.exit_code == 2 and "too short" in r.output
    assert _user(engine, "zhao").must_change_password  # unchanged


def test_disable_revokes_every_token(wangge, engine):
    token = _token_of(wangge("user", "add", "qian", "--role", "viewer").output)
    r = wangge("user", "disable", "qian")
    assert r.exit_code == 0, r.output
    assert not _user(engine, "qian").active
    with session_scope(engine) as s:
        with pytest.raises(NotAuthenticated):
            check_token(s, token)


def test_list_shows_role_responder_state_and_last_sign_in(wangge, engine, demo):
    assert wangge("user", "add", "sun", "--role", "grid_worker", "--responder", "CH-R008").exit_code == 0
    assert wangge("user", "add", "zhou", "--role", "viewer", "--password-stdin", stdin=GOOD).exit_code == 0
    assert wangge("user", "disable", "zhou").exit_code == 0
    at = utcnow().replace(year=2026, month=3, day=1, hour=1, minute=2)
    with session_scope(engine) as s:
        audit.record(s, audit.SIGN_IN, audit.OK, at, "sun", "10.0.0.1")
        audit.record(s, audit.SIGN_IN, audit.FAILED, at.replace(hour=5), "sun", "10.0.0.1")
    r = wangge("user", "list")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].split()[:4] == ["username", "role", "responder", "active"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows["sun"].split()[1:4] == ["grid_worker", "CH-R008", "yes"]
    assert "must change" in rows["sun"] and rows["sun"].endswith("2026-03-01 09:02")  # China time, the success
    assert rows["zhou"].split()[1:5] == ["viewer", "-", "no", "set"] and rows["zhou"].endswith("never")
