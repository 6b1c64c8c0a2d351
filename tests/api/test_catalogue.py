"""The catalogue from the command line (import, export, list) and over HTTP (GET /api/v1/catalogue)."""

from __future__ import annotations

import io
import os
import re
import subprocess
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import func, select

from api.served import wangge_command
from api.v1 import API_PREFIX as API
from geo.catalogue import entry_for, list_versions
from geo.catalogue.default import default_rows
from geo.catalogue.files import parse_catalogue
from geo.db.engine import get_engine
from geo.db.session import session_scope
from geo.models import Incident

CITY = Path(__file__).parents[1] / "data" / "catalogue_441802.csv"


def test_import_export_and_list_from_the_command_line(cli, tmp_path):
    result = cli("catalogue", "import", CITY, "--name", "清城区立结案标准")
    assert result.exit_code == 0, result.output
    assert "catalogue version 2: 36 sub-categories, 41 立案条件, now the current version" in result.output
    result = cli("catalogue", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("    1 ") and "default.csv" in lines[0]
    assert lines[1].startswith("*   2 ") and "清城区立结案标准  (catalogue_441802.csv, by cli:" in lines[1]
    result = cli("catalogue", "export", tmp_path / "out.xlsx", "--version", "1")
    assert result.exit_code == 0, result.output
    assert f"catalogue version 1: {len(default_rows())} 立案条件 written to" in result.output
    assert parse_catalogue((tmp_path / "out.xlsx").read_bytes(), "out.xlsx").rows == list(default_rows())
    result = cli("catalogue", "export", tmp_path / "out.json")
    assert result.exit_code == 2 and "written as .csv or .xlsx" in result.output


def test_the_command_line_refuses_bad_files_and_options(cli, tmp_path):
    bad = tmp_path / "bad.csv"
    lines = CITY.read_text(encoding="utf-8").splitlines()
    bad.write_text("\n".join([lines[0], lines[1].replace(",2,工作时,", ",0,工作时,"), *lines[2:]]), encoding="utf-8")
    result = cli("catalogue", "import", bad)
    assert result.exit_code == 2
    assert "bad.csv: nothing imported." in result.output and "row 1 (E0101)" not in result.output
    assert "row 1: 处置时限 '0' is not a positive number" in result.output
    renamed = tmp_path / "renamed.csv"
    renamed.write_text("\n".join([lines[0].replace("时限单位", "计时方式"), *lines[1:]]), encoding="utf-8")
    assert "no column for 时限单位 (time_unit)" in cli("catalogue", "import", renamed).output
    result = cli("catalogue", "import", renamed, "--field", "time_unit=计时方式")
    assert result.exit_code == 0, result.output
    result = cli("catalogue", "import", CITY, "--replace", "dispute")
    assert result.exit_code == 2 and "--replace takes OLD_CATEGORY=NEW_CATEGORY" in result.output
    assert cli("catalogue", "list").output.splitlines()[-1].startswith("*   2 ")  # the refused ones made none


def test_the_api_gives_the_public_the_events_and_users_everything(client, add_token, cli):
    public = client.get(f"{API}/catalogue")
    assert public.status_code == 200, public.text
    body = public.json()
    assert body["version"]["number"] == 1 and body["version"]["imported_by"] is None
    assert {e["domain"] for e in body["entries"]} == {"event"}
    assert body["fields"][0] == {"key": "domain", "zh": "类型"}
    token = add_token("staff", "community")
    signed_in = client.get(f"{API}/catalogue", headers={"Authorization": f"Bearer {token}"}).json()
    assert {e["domain"] for e in signed_in["entries"]} == {"event", "component"}
    assert len(signed_in["entries"]) == len(default_rows())
    dispute = next(e for e in signed_in["entries"] if e["category"] == "dispute")
    assert (dispute["time_limit"], dispute["time_unit"], dispute["kind"]) == (3, "working_days", "case")
    assert cli("catalogue", "import", CITY).exit_code == 0
    assert client.get(f"{API}/catalogue").json()["version"]["number"] == 2
    old = client.get(
        f"{API}/catalogue", params={"version": 1, "f": "csv"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert old.status_code == 200 and old.headers["content-type"].startswith("text/csv")
    assert 'filename="wangge-catalogue-1.csv"' in old.headers["content-disposition"]
    assert parse_catalogue(old.content, "v1.csv").rows == list(default_rows())
    xlsx = client.get(f"{API}/catalogue", params={"f": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)} == {"事件"}
    missing = client.get(f"{API}/catalogue", params={"version": 9})
    assert missing.status_code == 404 and "No catalogue version 9: there are 1, 2" in missing.text
    assert client.get(f"{API}/catalogue", params={"f": "pdf"}).status_code == 422


def test_two_commands_importing_at_once_number_without_gap_or_duplicate(db_url):
    """Two `wangge catalogue import` processes started together: versions 2 and 3, one current."""
    env = {**os.environ, "WANGGE_DATABASE_URL": db_url}
    procs = [
        subprocess.Popen(
            [*wangge_command(), "catalogue", "import", str(CITY), "--name", f"run {i}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sorted(int(re.search(r"catalogue version (\d+):", out).group(1)) for out in outputs) == [2, 3]
    with session_scope(get_engine(db_url)) as s:
        assert [(v.number, v.is_current) for v in list_versions(s)] == [(1, False), (2, False), (3, True)]


def test_new_and_demo_incidents_are_registered_under_the_current_catalogue(demo, client, add_token):
    with session_scope(demo) as s:
        missing = s.scalar(select(func.count()).where(Incident.catalogue_entry_id.is_(None)))
        assert missing == 0
        entry = entry_for(s, "case", "E0203")
    token = add_token("staff", "community")
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [113.0417, 23.6975]},
        "properties": {"kind": "case", "category": "E0203", "title": "人行道违章停车"},
    }
    headers = {"Authorization": f"Bearer {token}"}
    created = client.post(f"{API}/incidents", json=body, headers=headers)
    assert created.status_code == 201, created.text
    with session_scope(demo) as s:
        incident = s.get(Incident, created.json()["id"])
        assert (incident.catalogue_entry_id, incident.time_limit, incident.time_unit) == (
            entry.id,
            2,
            "emergency_hours",
        )
    body["properties"]["category"] = "E0000"
    refused = client.post(f"{API}/incidents", json=body, headers=headers)
    assert refused.status_code == 422 and "Unknown category 'E0000' for case: use one of E0101" in refused.text
