"""Two people changing one incident at once: one wins, the other gets 412, nothing is lost
silently, and the timeline shows exactly what happened. On both databases, in-process and
against real servers.
"""

from __future__ import annotations

import gc
import threading
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError

import geo.incidents.workflow
from api.app import create_app
from api.v1 import API_PREFIX as API
from geo.db.session import session_factory, session_scope
from geo.models import Incident, IncidentHistory
from tests.support.one_grid import CENTRE, START, USERS, WORLD
from tests.support.world import bearer, build_world


@pytest.fixture
def world_spec():
    return WORLD


def new_case(client, tokens) -> tuple[int, str]:
    """A case the grid worker reports on site (so it may be registered without a 核实)."""
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(CENTRE)},
        "properties": {"kind": "case", "category": "dispute", "title": "邻里纠纷"},
    }
    r = client.post(f"{API}/incidents", json=body, headers=bearer(tokens["worker"]))
    assert r.status_code == 201, r.text
    return r.json()["id"], r.headers["ETag"]


def state(client, tokens, incident_id):
    r = client.get(f"{API}/incidents/{incident_id}", headers=bearer(tokens["community"]))
    t = client.get(f"{API}/incidents/{incident_id}/timeline", headers=bearer(tokens["community"]))
    assert t.status_code == 200, (t.status_code, t.text, r.status_code, r.text)
    timeline = t.json()["timeline"]
    return r.json()["properties"], r.headers["ETag"], timeline


# The two changes that race: each is something its sender may do, and each leaves a mark that
# shows whose change it was.
CHANGES = {
    "patch": [
        ("worker", "PATCH", "", {"properties": {"description": "网格员：双方已同意调解"}}),
        ("leader", "PATCH", "", {"properties": {"description": "网格长：需派出所介入"}}),
    ],
    "actions": [
        ("worker", "POST", "/actions/register", {"comment": "属实，立案"}),
        ("leader", "POST", "/actions/reject", {"comment": "不属于网格事项"}),
    ],
    "mixed": [
        ("worker", "PATCH", "", {"properties": {"description": "网格员补充了现场照片"}}),
        ("leader", "POST", "/actions/reject", {"comment": "重复上报"}),
    ],
}


def send(client, tokens, incident_id, etag, change):
    who, method, suffix, body = change
    return client.request(
        method, f"{API}/incidents/{incident_id}{suffix}", json=body, headers=bearer(tokens[who], etag)
    )


def assert_only_the_winner(before_props, props, timeline, winner) -> None:
    """The incident and its timeline show the winner's change, once, and nothing of the loser's."""
    who, method, suffix, body = winner
    assert props["version"] > before_props["version"]
    steps = timeline[1:]
    assert len(steps) == 1, steps
    entry = steps[0]
    assert entry["actor"] == who
    if method == "PATCH":
        assert entry["action"] == "update"
        assert props["description"] == body["properties"]["description"]
        assert entry["changes"]["description"] == [before_props["description"], body["properties"]["description"]]
        assert props["status"] == before_props["status"]
    else:
        action = suffix.rsplit("/", 1)[1]
        assert entry["action"] == action and entry["comment"] == body["comment"]
        assert props["status"] == entry["to_status"] != before_props["status"]
        assert props["description"] == before_props["description"]


# --------------------------------------------------------------------------- one after the other


@pytest.mark.parametrize("kind", list(CHANGES))
def test_a_stale_etag_gets_412_and_changes_nothing(db_url, tokens, kind):
    client = TestClient(create_app(db_url, escalate_every_s=0))
    iid, etag = new_case(client, tokens)
    before, _, _ = state(client, tokens, iid)
    first, second = CHANGES[kind]
    r1 = send(client, tokens, iid, etag, first)
    assert r1.status_code == 200, r1.text
    assert r1.headers["ETag"] != etag
    middle = state(client, tokens, iid)
    r2 = send(client, tokens, iid, etag, second)  # based on the same, now stale, version
    assert r2.status_code == 412, r2.text
    assert "changed" in r2.json()["detail"]
    assert state(client, tokens, iid) == middle
    props, new_etag, timeline = middle
    assert new_etag == r1.headers["ETag"]
    assert_only_the_winner(before, props, timeline, first)
    # Without If-Match: 428, also nothing changed; with the fresh ETag it goes through (if still legal).
    r3 = client.request(
        second[1], f"{API}/incidents/{iid}{second[2]}", json=second[3], headers=bearer(tokens[second[0]])
    )
    assert r3.status_code == 428
    assert state(client, tokens, iid) == middle
    if kind == "patch":
        assert send(client, tokens, iid, new_etag, second).status_code == 200


# --------------------------------------------------------------------------- at the same moment


def race(clients, tokens, incident_id, etag, changes, barrier):
    """Send the two changes from two threads, released together; return the two responses."""
    results: list = [None, None]

    def run(i):
        barrier.wait(timeout=30)
        try:
            results[i] = send(clients[i], tokens, incident_id, etag, changes[i])
        except BaseException as exc:  # surfaced in the assertion below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return results


def check_race(client, tokens, iid, before, changes, results) -> int:
    for r in results:
        assert not isinstance(r, BaseException), repr(r)
    codes = [r.status_code for r in results]
    assert sorted(codes) == [200, 412], (
        [(r.status_code, r.text) for r in results],
        state(client, tokens, iid)[2],
        before,
    )
    winner = codes.index(200)
    props, etag, timeline = state(client, tokens, iid)
    assert etag == results[winner].headers["ETag"]
    assert_only_the_winner(before, props, timeline, changes[winner])
    return winner


@pytest.mark.parametrize("kind", list(CHANGES))
def test_two_clients_at_once_one_wins_one_gets_412(db_url, tokens, kind):
    # Two apps, two clients, two threads: as two workers' phones would be.
    clients = [TestClient(create_app(db_url, escalate_every_s=0)) for _ in range(2)]
    winners = []
    for round_ in range(6):
        iid, etag = new_case(clients[0], tokens)
        before, _, _ = state(clients[0], tokens, iid)
        changes = CHANGES[kind] if round_ % 2 == 0 else CHANGES[kind][::-1]
        results = race(clients, tokens, iid, etag, changes, threading.Barrier(2))
        winners.append(changes[check_race(clients[0], tokens, iid, before, changes, results)][0])
    assert set(winners) <= {"worker", "leader"}


@pytest.mark.parametrize("kind", ["actions", "patch"])
def test_both_read_before_either_writes(db_url, tokens, kind, monkeypatch):
    """The worst interleaving, forced: both requests read the incident and pass the If-Match
    check; then one writes and commits; only then does the other write. The version check in
    its UPDATE must still refuse it (412), however the request got there."""
    import api.v1.layers as layers

    clients = [TestClient(create_app(db_url, escalate_every_s=0)) for _ in range(2)]
    iid, etag = new_case(clients[0], tokens)
    before, _, _ = state(clients[0], tokens, iid)
    checked = threading.Barrier(2)
    first_answered = threading.Event()
    arrivals: list[bool] = []
    lock = threading.Lock()

    def hold(function):
        def held(*args, **kwargs):
            try:
                # SQLite: the other request waits for the write lock this one holds, so it cannot
                # come; PostGIS: it must come, however loaded the machine is.
                checked.wait(timeout=3 if db_url.startswith("sqlite") else 60)
                both = True
            except threading.BrokenBarrierError:
                both = False  # the other request could not get this far: writers were serialised
            with lock:
                second = both and len(arrivals) == 1
                arrivals.append(both)
            if second:
                assert first_answered.wait(timeout=30)  # the other has committed and answered
            gc.collect()  # nothing the request read and checked may quietly be read again
            return function(*args, **kwargs)

        return held

    if kind == "actions":
        monkeypatch.setattr(geo.incidents.workflow, "apply_action", hold(geo.incidents.workflow.apply_action))
    else:
        monkeypatch.setattr(layers, "update_feature", hold(layers.update_feature))
    changes = CHANGES[kind]
    results: list = [None, None]
    start = threading.Barrier(2)

    def run(i):
        start.wait(timeout=30)
        try:
            results[i] = send(clients[i], tokens, iid, etag, changes[i])
        except BaseException as exc:  # surfaced by check_race
            results[i] = exc
        first_answered.set()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    check_race(clients[0], tokens, iid, before, changes, results)
    loser = next(r for r in results if r.status_code == 412)
    if arrivals == [True, True]:
        # Both read version N; the second wrote after the first had committed N + 1.
        assert "at the same moment" in loser.json()["detail"]
    else:
        # SQLite: the second writer waited for the first to finish, then saw the new version.
        assert db_url.startswith("sqlite") and arrivals == [False], arrivals
        assert "changed since you read it" in loser.json()["detail"]


# --------------------------------------------------------------------------- real servers


@pytest.fixture
def two_servers(db_url, cli, serve_wangge):
    """Two `wangge serve` processes on the same database, as two machines behind a balancer."""
    assert cli("init").exit_code == 0
    return [serve_wangge(db_url), serve_wangge(db_url)]


def _server_world(engine, cli) -> dict[str, str]:
    """The world in the servers' database, with its users as an administrator adds them: their tokens."""
    build_world(engine, WORLD, users=False)
    tokens = {}
    for name, role, responder in USERS:
        result = cli("user", "add", name, "--role", role, *(["--responder", responder] if responder else []))
        assert result.exit_code == 0, result.output
        tokens[name] = result.output.strip().splitlines()[-1]
    return tokens


def test_two_servers_at_once_one_wins_one_gets_412(two_servers, cli, engine):
    tokens = _server_world(engine, cli)
    clients = [httpx.Client(base_url=base, timeout=30) for base in two_servers]
    try:
        for round_ in range(6):
            kind = list(CHANGES)[round_ % 3]
            iid, etag = new_case(clients[0], tokens)
            before, _, _ = state(clients[1], tokens, iid)
            changes = CHANGES[kind] if round_ % 2 == 0 else CHANGES[kind][::-1]
            results = race(clients, tokens, iid, etag, changes, threading.Barrier(2))
            check_race(clients[round_ % 2], tokens, iid, before, changes, results)
    finally:
        for c in clients:
            c.close()


# --------------------------------------------------------------------------- the database's own guard


def _one_incident(db_url, tokens) -> int:
    return new_case(TestClient(create_app(db_url, escalate_every_s=0)), tokens)[0]


def test_the_version_column_refuses_a_stale_write(db_url, engine, tokens):
    """Two sessions hold the same version of an incident; the second to commit is refused
    (StaleDataError) and its change is not written."""
    iid = _one_incident(db_url, tokens)
    Session = session_factory(engine)
    s1, s2 = Session(), Session()
    try:
        a, b = s1.get(Incident, iid), s2.get(Incident, iid)
        version = a.version
        assert b.version == version
        s1.commit()  # both now hold version N outside any transaction, as a form left open would
        s2.commit()
        a.description = "first writer"
        s1.add(
            IncidentHistory(
                incident_id=iid,
                at=START,
                actor="s1",
                action="update",
                from_status=a.status,
                to_status=a.status,
                changes={"description": [None, "first writer"]},
            )
        )
        b.description = "second writer"
        s2.add(
            IncidentHistory(
                incident_id=iid,
                at=START,
                actor="s2",
                action="update",
                from_status=b.status,
                to_status=b.status,
                changes={"description": [None, "second writer"]},
            )
        )
        s1.commit()
        with pytest.raises(StaleDataError):
            s2.commit()
        s2.rollback()
    finally:
        s1.close()
        s2.close()
    with session_scope(engine) as s:
        incident = s.get(Incident, iid)
        assert incident.description == "first writer" and incident.version == version + 1
        actors = list(
            s.scalars(
                select(IncidentHistory.actor).where(
                    IncidentHistory.incident_id == iid, IncidentHistory.action == "update"
                )
            )
        )
        assert actors == ["s1"]


def test_two_open_transactions_never_both_write(db_url, engine, tokens):
    """Both sessions read inside open transactions, both change, both commit: the second is
    refused. PostGIS waits for the first and then finds the version gone (StaleDataError);
    SQLite refuses a write from a transaction whose snapshot is no longer the latest."""
    iid = _one_incident(db_url, tokens)
    Session = session_factory(engine)
    s1, s2 = Session(), Session()
    try:
        a, b = s1.get(Incident, iid), s2.get(Incident, iid)
        version = a.version
        a.description, b.description = "first writer", "second writer"
        s1.commit()
        expected = OperationalError if engine.dialect.name == "sqlite" else StaleDataError
        with pytest.raises(expected):
            s2.commit()
        s2.rollback()
    finally:
        s1.close()
        s2.close()
    with session_scope(engine) as s:
        incident = s.get(Incident, iid)
        assert incident.description == "first writer" and incident.version == version + 1


LONG_AGO = datetime(2020, 1, 6, 1, 0, tzinfo=UTC)


def _walk(client, tokens, incident_id, steps) -> str:
    """Take ``steps`` (who, action, body) one after the other; the last ETag."""
    etag = client.get(f"{API}/incidents/{incident_id}", headers=bearer(tokens["community"])).headers["ETag"]
    for who, action, body in steps:
        r = client.post(f"{API}/incidents/{incident_id}/actions/{action}", json=body, headers=bearer(tokens[who], etag))
        assert r.status_code == 200, r.text
        etag = r.headers["ETag"]
    return etag


def test_two_servers_suspend_check_and_supervise_at_once(two_servers, cli, engine):
    """The new write paths raced on two real servers: two leaders suspending, a check against a
    return for re-work, two supervision orders. One of each pair wins; the timeline holds it once."""
    from tests.support.photos import jpeg, upload

    tokens = _server_world(engine, cli)
    clients = [httpx.Client(base_url=base, timeout=30) for base in two_servers]
    with engine.connect() as conn:
        worker = conn.execute(text("SELECT id FROM responders WHERE code = 'C-R02'")).scalar_one()
    try:
        for round_ in range(2):
            # Suspend (挂账) twice at once.
            iid, _ = new_case(clients[0], tokens)
            etag = _walk(clients[0], tokens, iid, [("worker", "register", {})])
            changes = [
                ("leader", "POST", "/actions/suspend", {"comment": "等待配合"}),
                ("community", "POST", "/actions/suspend", {"comment": "社区批准挂账"}),
            ][:: 1 if round_ == 0 else -1]
            _race_once(clients, tokens, iid, etag, changes, "suspend")
            # The check (核查) against a return for re-work.
            iid, _ = new_case(clients[0], tokens)
            steps = [("worker", "register", {}), ("leader", "dispatch", {"assignee_id": worker})]
            etag = _walk(clients[0], tokens, iid, steps)
            r = upload(clients[0], iid, jpeg(color=(1, round_, 2)), "after", bearer(tokens["worker"]))
            assert r.status_code == 201, r.text
            etag = _walk(clients[0], tokens, iid, [("worker", "handle", {})])
            r = upload(clients[0], iid, jpeg(color=(3, round_, 4)), "verify", bearer(tokens["leader"]))
            assert r.status_code == 201, r.text
            etag = clients[0].get(f"{API}/incidents/{iid}", headers=bearer(tokens["community"])).headers["ETag"]
            changes = [
                ("leader", "POST", "/actions/check", {"comment": "核查合格"}),
                ("community", "POST", "/actions/return", {"comment": "返工"}),
            ][:: 1 if round_ == 0 else -1]
            _race_once(clients, tokens, iid, etag, changes, "check", "return")
            # Two supervision orders (督办) on an overdue case.
            iid, _ = new_case(clients[0], tokens)
            with engine.begin() as conn:
                # Due long ago (a real server runs on the real clock).
                conn.execute(text("UPDATE incidents SET due_at = :t WHERE id = :i"), {"t": LONG_AGO, "i": iid})
            etag = clients[0].get(f"{API}/incidents/{iid}", headers=bearer(tokens["community"])).headers["ETag"]
            changes = [
                ("leader", "POST", "/actions/supervise", {"comment": "限今日办结"}),
                ("community", "POST", "/actions/supervise", {"comment": "社区督办"}),
            ]
            _race_once(clients, tokens, iid, etag, changes, "supervise")
            props = clients[1].get(f"{API}/incidents/{iid}", headers=bearer(tokens["community"])).json()["properties"]
            assert props["supervision_count"] == 1
    finally:
        for c in clients:
            c.close()


def _race_once(clients, tokens, incident_id, etag, changes, *actions) -> None:
    results = race(clients, tokens, incident_id, etag, changes, threading.Barrier(2))
    for r in results:
        assert not isinstance(r, BaseException), repr(r)
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 412], [(r.status_code, r.text) for r in results]
    _, _, timeline = state(clients[0], tokens, incident_id)
    raced = [e for e in timeline if e["action"] in actions]
    winner = changes[[r.status_code for r in results].index(200)]
    assert [(e["actor"], e["comment"]) for e in raced] == [(winner[0], winner[3]["comment"])]
