"""The command line as a user runs it: help, init, demo and a real server."""

from __future__ import annotations

import httpx
import pytest

from geo.db import schema
from geo.db.engine import make_engine

COMMANDS = ["init", "demo", "serve", "import", "export", "patrols", "tiles", "catalogue"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    from typer.testing import CliRunner

    from api.cli import app

    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage: wangge" in result.output or "Usage: " in result.output
    assert command in result.output


def test_init_creates_a_spatialite_file_on_first_use(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from api.cli import app
    from geo.settings import get_settings

    path = tmp_path / "sub" / "new.db"
    monkeypatch.setenv("WANGGE_DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["init"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert path.exists()
    assert schema.current_revision(make_engine(f"sqlite:///{path}")) == schema.head_revision()


def test_serve_answers_over_http_with_the_demo(db_url, cli, serve_wangge):
    assert cli("demo", "-q").exit_code == 0
    base = serve_wangge(db_url, WANGGE_ESCALATION_INTERVAL_S=None)  # escalation as configured, as `wangge serve` runs
    grids = httpx.get(f"{base}/api/v1/grids").json()
    assert grids["type"] == "FeatureCollection"
    assert grids["numberMatched"] == 12
    assert {f["properties"]["code"][:12] for f in grids["features"]} == {"441802001001"}
    # The bounding-box filter goes through the spatial index and keeps only what meets the box.
    x, y = grids["features"][0]["geometry"]["coordinates"][0][0][0]
    near = httpx.get(
        f"{base}/api/v1/buildings", params={"bbox": f"{x - 0.001},{y - 0.001},{x + 0.001},{y + 0.001}"}
    ).json()
    assert 0 < near["numberMatched"] < 297
    bad = httpx.get(f"{base}/api/v1/buildings", params={"bbox": "1,2,3"})
    assert bad.status_code == 422 and "four numbers" in bad.json()["detail"]
    assert httpx.get(f"{base}/docs").status_code == 200
