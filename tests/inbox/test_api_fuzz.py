"""A short schema-driven fuzz of the REST API as a front-desk member of staff, as a shift lead
and as nobody at all: whatever schemathesis sends, the API never answers with a server error.

Roles that change people, calendars or rules (admins, managers) stay out: the fuzz shares the
worker's demo organisation with the other tests."""

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from launch.demo import DEMO_PASSWORD

# Few examples per operation and role: the run stays within about a minute on a busy machine.
EXAMPLES_PER_OPERATION = 3
ROLES = ("zhangmin", "lihua")  # staff, shift lead (manages the site's tasks)
ANONYMOUS: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(demo_org: None) -> schemathesis.BaseSchema:
    from inbox.api.app import create_app

    return schemathesis.openapi.from_asgi("/openapi.json", create_app())


@pytest.fixture(scope="module")
def callers(api_schema: schemathesis.BaseSchema) -> list[dict[str, str]]:
    """The headers of each role that calls every operation, nobody's included."""
    client = TestClient(api_schema.app)
    tokens = [
        client.post(
            "/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD}
        ).json()["access_token"]
        for username in ROLES
    ]
    return [ANONYMOUS, *({"Authorization": f"Bearer {token}"} for token in tokens)]


def test_no_request_gets_a_server_error(
    api_schema: schemathesis.BaseSchema, callers: list[dict[str, str]]
) -> None:
    # Hypothesis directly rather than schemathesis's pytest plugin, which pytest 9 breaks.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:
        if operation.path == "/api/v1/auth/token":
            continue  # wrong passwords would lock the demo accounts; the lockout has its tests

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def call(case: schemathesis.Case) -> None:
            for headers in callers:
                case.call_and_validate(headers=headers, checks=[not_a_server_error])

        call()
