"""The catalogue from the command line (import, export, list) and over HTTP (GET /api/v1/catalogue)."""

from __future__ import annotations

import io
from pathlib import Path

from openpyxl import load_workbook

from api.v1 import API_PREFIX as API
from geo.catalogue.default import default_rows
from geo.catalogue.files import parse_catalogue

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
