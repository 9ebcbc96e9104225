"""Schemathesis against the API's own OpenAPI document: whatever the schema allows, no 5xx.

Every operation is fuzzed (Hypothesis, a bounded number of examples so the suite stays fast). Requests carry an
API key, so the generated bodies reach the models instead of stopping at the sign-in check.
"""
from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from zoo.service.app import create_app  # noqa: E402
from zoo.service.security import ApiSecurity, new_api_key, read_api_keys  # noqa: E402

KEY, LINE = new_api_key("fuzz")


@pytest.fixture(scope="module")
def api_schema(test_zoo, tmp_path_factory):
    keys = tmp_path_factory.mktemp("fuzz") / "keys.txt"
    keys.write_text(LINE + "\n")
    app = create_app(test_zoo.path, ApiSecurity(api_keys=read_api_keys(keys)), zoo=test_zoo)
    from fastapi.testclient import TestClient

    with TestClient(app) as c:  # the first prediction loads the models: not a fuzz example's time
        assert c.post("/v1/predict", json={"age": 60}, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    return schemathesis.openapi.from_asgi("/openapi.json", app)


OPERATIONS = [("GET", "/health"), ("GET", "/v1/models"), ("POST", "/v1/predict"), ("POST", "/v1/predict/fhir"),
              ("POST", "/v1/predict/images"), ("POST", "/v1/predict/batch")]


def test_the_fuzzed_operations_are_all_the_api_has(api_schema):
    ops = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert ops == set(OPERATIONS)


# schemathesis' own pytest plugin (from_fixture) does not run under pytest 9, so each operation's strategy is
# driven by Hypothesis directly; the check is schemathesis' not_a_server_error
@pytest.mark.parametrize("method, path", OPERATIONS)
def test_no_request_the_schema_allows_gives_a_server_error(api_schema, method, path):
    op = api_schema[path][method]

    @given(case=op.as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case):
        case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, checks=[not_a_server_error],
                             timeout=120)

    run()
