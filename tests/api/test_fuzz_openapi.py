"""The whole API, fuzzed from its own OpenAPI document with schemathesis, on both databases, as
the public and as an administrator: no answer is a 5xx, and every answer (errors included) has a
status, content type and body that the document describes.

Each operation gets a bounded number of examples, positive (valid by the document) and negative
(invalid on purpose), derandomized so that every run sends the same requests. The demo community
is loaded first, so that lookups find grids and some generated ids name real features.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from tests.support.world import bearer

# Left out: response_headers_conformance (no header is documented as required), and the checks
# that judge the API's choices rather than its document: negative_data_rejection and
# positive_data_acceptance (a value valid by the schema may still be refused, e.g. a point
# outside every grid, an unknown grid code, or a write the caller's role may not make),
# missing_required_header (If-Match is required by the workflow, answered 428, not by the
# schema), use_after_free and ensure_resource_availability (stateful; the examples are not linked).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

EXAMPLES = 15  # per operation and mode: the whole API on both databases, as two callers, in a few minutes
FIXED_IDS = {"feature_id": 1, "incident_id": 1}  # exist in every layer of the demo


@pytest.fixture
def world(demo, add_token) -> dict[str, dict[str, str]]:
    return {"public": {}, "admin": bearer(add_token("fuzz-admin", "admin"))}


def _fuzz(schema, headers: dict[str, str]) -> list[str]:
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        runs = [(GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
        if names & FIXED_IDS.keys():  # also on features that exist, not only on random ids
            runs.append((GenerationMode.POSITIVE, {n: FIXED_IDS[n] for n in names if n in FIXED_IDS}))
        for mode, path_parameters in runs:

            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
                report_multiple_bugs=False,
            )
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
            def run(case) -> None:
                # The caller's own credentials only: a generated token would be a failed sign-in,
                # and repeated ones are slowed down by design.
                if case.headers:
                    case.headers.pop("Authorization", None)
                response = case.call(headers=headers)
                case.validate_response(response, checks=CHECKS, headers=headers)

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                pass
            except (Exception, BaseExceptionGroup) as exc:  # collect them all: one report names every finding
                failures.append(
                    f"{operation.label} [{mode.value}{', fixed ids' if path_parameters else ''}]: {type(exc).__name__}: {exc}"[
                        :3000
                    ]
                )
    return failures


@pytest.mark.parametrize("caller", ["public", "admin"])
def test_the_api_conforms_to_its_document_and_never_answers_5xx(db_url, world, caller):
    app = create_app(db_url, escalate_every_s=0)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures = _fuzz(schema, world[caller])
    assert not failures, f"{len(failures)} operation(s) failed:\n\n" + "\n\n".join(failures)
