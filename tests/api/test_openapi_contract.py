"""The served OpenAPI document says what the services enforce (API.md, "Common"): constraints
from the marshmallow schemas that validate, every status the shared machinery can answer,
Retry-After on 429 and 503, Idempotency-Key on every POST, and links between operations."""

from __future__ import annotations

import re

import pytest

from services.intake.domain.evidence import EXTENSIONS
from shared.clock import MONTH_PATTERN, PERIOD_PATTERN, QUARTER_PATTERN
from shared.config import Settings
from sovang.gateway import _merged_openapi

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def doc() -> dict:
    return _merged_openapi()


def _operations(doc: dict):  # noqa: ANN202
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _param(op: dict, name: str) -> dict:
    return next(p for p in op["parameters"] if p["name"] == name)


def test_every_operation_documents_what_the_shared_machinery_answers(doc: dict) -> None:
    for path, method, op in _operations(doc):
        responses = op["responses"]
        where = f"{method.upper()} {path}"
        assert "503" in responses, where
        for status in ("429", "503"):
            if status in responses:
                assert responses[status]["headers"]["Retry-After"]["required"] is True, where
        if any(req for req in op.get("security", []) if req):
            assert {"401", "403"} <= set(responses), where
        if "{" in path:
            assert "404" in responses, where
        if "requestBody" in op:
            assert {"400", "413", "415", "422"} <= set(responses), where
        if method == "post":
            key = _param(op, "Idempotency-Key")
            assert key["in"] == "header" and key["schema"]["maxLength"] == 255 and key["schema"]["pattern"], where
            assert {"409", "422"} <= set(responses), where
        for status, response in responses.items():
            if int(status) >= 400:
                assert response["content"]["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"}, where
    errors = doc["components"]["schemas"]["Problem"]["properties"]["errors"]
    assert errors["additionalProperties"] == {"type": "array", "items": {"type": "string"}}


def test_constraints_come_from_the_validating_schemas(doc: dict) -> None:
    schemas, paths = doc["components"]["schemas"], doc["paths"]
    deed_in = schemas["DeedInput"]["properties"]
    assert deed_in["occurred_on"]["format"] == "date"
    assert (deed_in["title"]["minLength"], deed_in["title"]["maxLength"]) == (1, 200)
    assert re.fullmatch(deed_in["title"]["pattern"], "Giúp cụ bà") and not re.fullmatch(deed_in["title"]["pattern"], "  ")
    assert deed_in["kind"]["enum"] == ["good_deed", "achievement", "feat", "exemplar"]
    author = schemas["DeedAuthorIn"]
    assert (author["minProperties"], author["maxProperties"], author["additionalProperties"]) == (1, 1, False)
    assert schemas["Deed"]["properties"]["created_at"]["format"] == "date-time"
    listing = paths["/api/v1/deeds"]["get"]
    assert _param(listing, "month")["schema"]["pattern"] == MONTH_PATTERN
    assert _param(listing, "limit")["schema"] == {"type": "integer", "minimum": 1, "maximum": 500}
    assert _param(listing, "cursor")["schema"]["pattern"]
    assert _param(paths["/api/v1/deeds/{deed_id}"]["get"], "deed_id")["schema"]["format"] == "uuid"
    assert _param(paths["/api/v1/rounds/{round_id}"]["get"], "round_id")["schema"]["format"] == "uuid"
    assert _param(paths["/api/v1/reports/monthly"]["get"], "month")["schema"]["pattern"] == MONTH_PATTERN
    assert _param(paths["/press/{quarter}.pdf"]["get"], "quarter")["schema"]["pattern"] == QUARTER_PATTERN
    assert _param(paths["/honour-roll/{code}/{period}"]["get"], "period")["schema"]["pattern"] == PERIOD_PATTERN
    assert schemas["RoundInput"]["properties"]["period"]["pattern"] == PERIOD_PATTERN
    assert schemas["RoundInput"]["properties"]["closes_at"]["format"] == "date-time"
    assert schemas["Revocation"]["properties"]["reason"]["maxLength"] == 2000
    upload = paths["/api/v1/deeds/{deed_id}/evidence"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert set(upload["encoding"]["file"]["contentType"].split(", ")) == set(EXTENSIONS) >= {
        "image/jpeg", "image/png", "image/webp", "application/pdf", "video/mp4"}
    for pattern in (MONTH_PATTERN, QUARTER_PATTERN):
        assert not re.fullmatch(pattern, "2021-08") and not re.fullmatch(pattern, "0412-11")
    assert re.fullmatch(MONTH_PATTERN, "2021-09") and not re.fullmatch(MONTH_PATTERN, "2025-01\n")
    # What a schema cannot say is said in words.
    assert "R3" in paths["/api/v1/deeds"]["post"]["description"]
    assert "409" in paths["/api/v1/rounds"]["post"]["description"]


def test_creating_operations_link_to_what_uses_their_answer(doc: dict) -> None:
    paths = doc["paths"]
    deed = paths["/api/v1/deeds"]["post"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in deed.values()} == {"getDeed", "introduceDeed", "addEvidence"}
    assert all(link["parameters"] == {"deed_id": "$response.body#/id"} for link in deed.values())
    rnd = paths["/api/v1/rounds"]["post"]["responses"]["201"]["links"]
    assert {"castBallot", "getResult", "getMinutes", "closeRound", "getRound"} <= {
        link["operationId"] for link in rnd.values()}
    operation_ids = {op["operationId"] for _, _, op in _operations(doc)}
    for _, _, op in _operations(doc):
        for response in op["responses"].values():
            for link in response.get("links", {}).values():
                assert link["operationId"] in operation_ids


def test_health_and_readiness_are_documented_and_answer_get_alone(doc: dict, tmp_path, org_document) -> None:
    """API.md: ``GET /healthz`` and ``GET /readyz`` on every service, in the document too; at the
    gateway another method is 405, as for any operation the document does not list."""
    from werkzeug.test import Client

    from sovang.gateway import create_gateway

    assert doc["paths"]["/healthz"]["get"]["responses"]["200"]
    assert {"200", "503"} <= set(doc["paths"]["/readyz"]["get"]["responses"])
    client = Client(create_gateway(Settings(home=tmp_path)))
    up = client.get("/healthz")
    assert up.status_code == 200 and up.get_json()["status"] == "ok"
    assert set(up.get_json()["services"]) == {"intake", "council", "book"}
    for method in ("POST", "DELETE", "TRACE"):
        refused = client.open("/readyz", method=method)
        assert refused.status_code == 405 and refused.headers["Allow"] == "GET, HEAD"
