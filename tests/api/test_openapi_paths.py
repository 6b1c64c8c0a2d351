"""The public API's shape stays put: every path, its operations and each operation's documented
status codes are those recorded in tests/data/openapi_paths.json.

A deliberate change to the API updates that file in the same commit (write ``_shape(...)`` of the
new document to it); anything else that changes it (a module moved, a router included in another
order or not at all) is a regression.
"""

from __future__ import annotations

import json
from pathlib import Path

from api.app import create_app

SNAPSHOT = Path(__file__).parents[1] / "data" / "openapi_paths.json"
METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")


def _shape(document: dict) -> dict:
    """``{"paths": {path: [methods]}, "responses": {"METHOD path": [status codes]}}``, sorted."""
    paths, responses = {}, {}
    for path, item in document["paths"].items():
        operations = sorted(method for method in item if method in METHODS)
        paths[path] = operations
        for method in operations:
            responses[f"{method.upper()} {path}"] = sorted(item[method].get("responses", {}))
    return {"paths": dict(sorted(paths.items())), "responses": dict(sorted(responses.items()))}


def _differences(expected: dict, actual: dict) -> list[str]:
    out = []
    for part in ("paths", "responses"):
        want, got = expected[part], actual[part]
        out += [f"{part}: {key} is gone (was {want[key]})" for key in sorted(want.keys() - got.keys())]
        out += [f"{part}: {key} is new ({got[key]})" for key in sorted(got.keys() - want.keys())]
        out += [
            f"{part}: {key} was {want[key]}, now {got[key]}"
            for key in sorted(want.keys() & got.keys())
            if want[key] != got[key]
        ]
    return out


def test_the_openapi_paths_operations_and_status_codes_are_unchanged(tmp_path):
    # The document is made from the routes alone: the database is never asked.
    app = create_app(f"sqlite:///{tmp_path / 'unused.db'}", escalate_every_s=0)
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    actual = _shape(app.openapi())
    differences = _differences(expected, actual)
    assert not differences, "The OpenAPI document differs from tests/data/openapi_paths.json:\n" + "\n".join(
        differences
    )
    assert actual == expected  # the same, down to the order of the codes
