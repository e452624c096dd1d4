"""schemathesis runs the committed OpenAPI document against the live API (a real loopback
server, Redis and broker): no 5xx, and every answer -- status, headers, body -- matches the
document. The operations run with a valid key, so what is tested is the API behind the door;
schemathesis' own auth checks try it without one and with a wrong one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from api_helpers import make_key, serving_api
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from worker.runtime import Runtime

OPENAPI_FILE = Path(__file__).parents[2] / "worker" / "web" / "api" / "openapi.json"
# A generated body that breaks a maxLength may also pass the 16 KiB cap: its documented 413 is a
# rejection too, beside schemathesis' default list for invalid data.
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
schema = schemathesis.openapi.from_path(
    OPENAPI_FILE,
    config=schemathesis.Config.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": [*REJECTED, "5xx"]}}}
    ),
)


@pytest.fixture
def live(runtime: Runtime) -> Iterator[tuple[str, str]]:
    # No per-key budget: hundreds of generated requests must reach every code path, and the
    # global limits still answer (documented) 429s.
    key, _ = make_key(runtime, "schemathesis", per_hour=0, per_day=0)
    with serving_api(runtime) as url:
        yield url, key


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_answer_matches_the_committed_document(
    case: schemathesis.Case, live: tuple[str, str]
) -> None:
    url, key = live
    response = case.call_and_validate(
        base_url=url,
        headers={"Authorization": f"Bearer {key}"},
        # Whether a string is a phone number we may text (its country's numbering plan, the
        # allowed countries) is no JSON Schema rule, so a schema-valid body can rightly be a
        # 400 invalid_phone: every other check runs.
        excluded_checks=[positive_data_acceptance],
    )
    assert response.status_code < 500
