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


def test_the_openapi_document_says_what_r16_r19_and_r20a_changed() -> None:
    doc = spec()
    paths, schemas = doc["paths"], doc["components"]["schemas"]
    # R20a: the deadline, the cancel, the statuses.
    patch = paths["/api/v1/rounds/{round_id}"]["patch"]
    assert set(patch["responses"]) >= {"200", "403", "409", "422"}
    assert schemas["DeadlineInput"]["required"] == ["closes_at"]
    cancel = paths["/api/v1/rounds/{round_id}/cancel"]["post"]
    assert set(cancel["responses"]) >= {"200", "403", "409"}
    assert "cancelled" in schemas["Round"]["properties"]["status"]["enum"]
    assert "cancelled" in schemas["RoundResult"]["properties"]["status"]["enum"]
    # R16: the minutes need a token; a result names only what it selected.
    minutes = paths["/api/v1/rounds/{round_id}/minutes.pdf"]["get"]
    assert {} not in minutes["security"] and set(minutes["responses"]) >= {"200", "401", "403"}
    assert {"title", "author"} <= set(schemas["CandidateResultOut"]["properties"])
    # R19: one vote per published object, under its own receipt.
    vote = schemas["BallotOut"]["properties"]
    assert vote["receipt"]["pattern"] == "^[0-9a-f]{16}$"
    assert vote["choices"]["maxProperties"] == vote["choices"]["minProperties"] == 1
