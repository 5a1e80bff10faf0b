"""The generated OpenAPI document agrees with API.md's council contract."""

from __future__ import annotations

from services.council.openapi import spec


def test_the_openapi_document_lists_the_contract() -> None:
    doc = spec()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    assert set(paths["/api/v1/rounds"]) == {"get", "post"}
    for path in ("ballots", "paper-ballots", "close"):
        assert "post" in paths[f"/api/v1/rounds/{{round_id}}/{path}"]
    assert "get" in paths["/api/v1/rounds/{round_id}/result"]
    assert "get" in paths["/api/v1/reports/monthly"]
    for path in ("/api/v1/rounds/{round_id}/decision.pdf", "/api/v1/dossiers", "/api/v1/dossiers/{dossier_id}",
                 "/api/v1/dossiers/{dossier_id}.pdf"):
        assert "get" in paths[path], path
    schemas = doc["components"]["schemas"]
    assert set(schemas["Round"]["properties"]) == {
        "id", "council", "kind", "period", "status", "opens_at", "closes_at", "entitled", "voted", "candidates",
        "runoff_of", "referred_from"}
    assert set(schemas["RoundResult"]["properties"]) == {
        "round", "status", "candidates", "ballots", "decision", "runoff", "quota_met"}
    assert set(schemas["RoundInput"]["properties"]) == {"council", "kind", "period", "closes_at"}
    assert schemas["RoundInput"]["properties"]["kind"]["enum"] == ["monthly", "supplementary", "quarterly", "provincial"]
