"""schemathesis against the OpenAPI document the system serves (``/api/v1/openapi.json``):
generated requests, valid and invalid, never get a 5xx, and invalid ones are refused."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import negative_data_rejection, not_a_server_error
from schemathesis.generation import GenerationMode

from services import REGISTRY
from shared.auth import new_token, store_token
from shared.config import Settings
from sovang.cli import _runtimes
from sovang.gateway import create_gateway

TOKENS: dict[str, str] = {}


def _gateway(tmp_path_factory: pytest.TempPathFactory, org_document: dict):
    home = tmp_path_factory.mktemp("fuzz-home")
    app_settings = Settings(home=home)
    runtimes = _runtimes(app_settings)
    for name, rt in runtimes.items():
        REGISTRY[name].load_org(rt, org_document)
    # A unit secretary can reach most of the API: intake's unit, the council's rounds, revocations.
    TOKENS["secretary"] = new_token()
    for rt in runtimes.values():
        with rt.db.unit_of_work() as uow:
            store_token(uow, TOKENS["secretary"], "unit_secretary", "CAH-DM-0008", 1)
            uow.commit()
    return create_gateway(app_settings)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, org_document):
    return _gateway(tmp_path_factory, org_document)


def test_no_server_error_and_invalid_input_is_refused(gateway) -> None:
    """Every operation, with valid (positive) and invalid (negative) generated requests."""
    from hypothesis import given

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", gateway)
    # The token is the test's to send: a "negative" case made by dropping Authorization would
    # get it back from ``headers`` below and no longer be negative.
    schema.config.generation.update(with_security_parameters=False)
    headers = {"Authorization": f"Bearer {TOKENS['secretary']}"}
    tried = 0
    nothing_to_negate: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/readyz":
            continue  # no broker runs in this process: its 503 is the truth (tests/api/test_unavailable.py)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck),
                      derandomize=True, database=None)
            def run(case) -> None:  # noqa: ANN001
                case.call_and_validate(headers=headers, checks=[not_a_server_error, negative_data_rejection])

            try:
                run()
            except Unsatisfiable:
                # An operation with no input to make invalid (no body, no free parameter).
                assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid request generated"
                nothing_to_negate.append(operation.label)
                continue
            tried += 1
    print(f"\nschemathesis: {tried} operation × mode runs without a 5xx, invalid input refused; "
          f"{len(nothing_to_negate)} operations have no input to make invalid")
    assert tried >= 25 + 15


def test_the_document_is_served_and_lists_every_service(gateway) -> None:
    from werkzeug.test import Client

    doc = Client(gateway).get("/api/v1/openapi.json").get_json()
    paths = set(doc["paths"])
    for expected in ("/api/v1/deeds", "/api/v1/rounds/{round_id}/ballots", "/api/v1/books/{code}/verify",
                     "/feeds/{code}.atom", "/api/v1/figures"):
        assert expected in paths
    page = Client(gateway).get("/api/v1/docs/")
    assert page.status_code == 200 and b"swagger-ui" in page.data
    with Client(gateway).get("/api/v1/docs/swagger-ui-bundle.js") as bundle:  # sent from a file: closed
        assert bundle.status_code == 200
