"""intake against the clients a unit could write: the authorisation matrix, a corpus
of bad inputs, one Idempotency-Key raced by 20 clients, rate limits, and the OpenAPI document."""

from __future__ import annotations

import collections
import io
import json
import threading

import pytest
import sqlalchemy as sa

from services.intake.openapi import spec
from services.intake.orm import Deed, DeedEvidence, EvidenceFile, UnitMonth
from services.intake.ratelimit import MemoryRateLimiter
from services.intake.schemas import DeedIn, DeedOut
from shared.messages import STATUSES
from shared.tables import idempotency_records, outbox
from tests.intake.conftest import auth, deed_body, multipart

DEEDS = "/api/v1/deeds"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 100


def snapshot(runtime) -> tuple[int, ...]:
    with runtime.db.reading() as s:
        return tuple(
            s.scalar(sa.select(sa.func.count()).select_from(t))
            for t in (Deed.__table__, outbox, EvidenceFile.__table__, DeedEvidence.__table__, UnitMonth.__table__)
        )


# -- the authorisation matrix --------------------------------------------------------------------
ENDPOINTS = ("record", "batch", "get", "list", "introduce", "add_evidence", "get_evidence")
# actor → expected status per endpoint, for a deed authored by a plain officer of sub-unit S of
# unit U ("own" is that officer).
MATRIX = {
    "own officer": (201, 403, 200, 200, 403, 201, 200),
    "colleague in the sub-unit": (403, 403, 200, 200, 403, 403, 200),
    "officer of another sub-unit": (403, 403, 200, 200, 403, 403, 200),
    "officer of another unit": (403, 403, 404, 403, 403, 404, 404),
    "lead of the sub-unit": (201, 201, 200, 200, 200, 201, 200),
    "lead of another sub-unit": (403, 403, 200, 200, 403, 403, 200),
    "secretary of the unit": (201, 201, 200, 200, 200, 201, 200),
    "secretary of another unit": (403, 403, 404, 403, 404, 404, 404),
    "member of the unit council": (403, 403, 200, 200, 403, 403, 200),
    "member of the provincial council": (403, 403, 404, 403, 403, 403, 404),
    "province secretary": (403, 403, 200, 200, 403, 403, 200),
    "press": (403, 403, 403, 403, 403, 403, 403),
    "admin": (403, 403, 403, 403, 403, 403, 403),
}


def actors(people) -> dict[str, tuple[str, str]]:
    return {
        "own officer": ("officer", people.officer),
        "colleague in the sub-unit": ("officer", people.colleague),
        "officer of another sub-unit": ("officer", people.other_officer),
        "officer of another unit": ("officer", people.stranger),
        "lead of the sub-unit": ("subunit_lead", people.lead),
        "lead of another sub-unit": ("subunit_lead", people.other_lead),
        "secretary of the unit": ("unit_secretary", people.secretary),
        "secretary of another unit": ("unit_secretary", people.stranger_secretary),
        "member of the unit council": ("council_member", people.member),
        "member of the provincial council": ("council_member", people.province_officer),
        "province secretary": ("province_secretary", people.province_secretary),
        "press": ("press", people.press),
        "admin": ("admin", "root"),
    }


def test_authorisation_matrix(client, token, people, record) -> None:
    deed = record()
    own = token("officer", people.officer)
    sha = client.post(f"{DEEDS}/{deed['id']}/evidence", headers=auth(own),
                      **multipart({"file": (PNG, "a.png")})).get_json()["sha256"]
    body = deed_body({"officer": people.officer})
    calls = {
        "record": lambda h: client.post(DEEDS, json=body, headers=h),
        "batch": lambda h: client.post(f"{DEEDS}/batch", json={"deeds": [body]}, headers=h),
        "get": lambda h: client.get(f"{DEEDS}/{deed['id']}", headers=h),
        "list": lambda h: client.get(f"{DEEDS}?unit={people.unit}", headers=h),
        "introduce": lambda h: client.post(f"{DEEDS}/{deed['id']}/introduce", json={}, headers=h),
        "add_evidence": lambda h: client.post(f"{DEEDS}/{deed['id']}/evidence", headers=h,
                                              **multipart({"file": (PNG, "a.png")})),
        "get_evidence": lambda h: client.get(f"{DEEDS}/{deed['id']}/evidence/{sha}", headers=h),
    }
    wrong = []
    tried = 0
    for name, (role, subject) in actors(people).items():
        headers = auth(token(role, subject))
        for endpoint, expected in zip(ENDPOINTS, MATRIX[name], strict=True):
            r = calls[endpoint](headers)
            tried += 1
            if r.status_code != expected:
                wrong.append((name, endpoint, expected, r.status_code))
            if r.status_code >= 400:
                assert r.mimetype == "application/problem+json", (name, endpoint)
    for endpoint in ENDPOINTS:  # no token at all
        r = calls[endpoint]({})
        tried += 1
        if r.status_code != 401:
            wrong.append(("nobody", endpoint, 401, r.status_code))
    assert not wrong, wrong
    assert tried == len(MATRIX) * len(ENDPOINTS) + len(ENDPOINTS)


# -- the bad-input corpus ------------------------------------------------------------------------
def corpus(people) -> list[tuple[str, dict, int]]:
    """(name, request, expected status) for ``POST /api/v1/deeds`` unless the request says."""
    good = deed_body({"officer": people.officer})

    def js(obj: object) -> dict:
        return {"data": json.dumps(obj, ensure_ascii=False).encode("utf-8"), "content_type": "application/json"}

    def raw(data: bytes, ctype: str = "application/json") -> dict:
        return {"data": data, "content_type": ctype}

    cases: list[tuple[str, dict, int]] = [
        ("malformed JSON", raw(b"{"), 400),
        ("truncated JSON", raw(json.dumps(good).encode()[:-5]), 400),
        ("trailing garbage", raw(json.dumps(good).encode() + b"}"), 400),
        ("JSON nested 100 000 deep", raw(b"[" * 100_000), 400),
        ("integer of 5000 digits", raw(b"1" * 5000), 400),
        ("invalid UTF-8", raw(json.dumps(good).encode().replace(b"Gi", b"\xff\xfe")), 400),
        ("UTF-16 body", raw(json.dumps(good).encode("utf-16")), 400),
        ("a JSON array", js([good]), 422),
        ("a JSON string", js("deed"), 422),
        ("JSON null", js(None), 422),
        ("empty object", js({}), 422),
        ("empty body", raw(b""), 422),
        ("title is a number", js({**good, "title": 5}), 422),
        ("title is NaN", raw(json.dumps({**good, "title": float("nan")}).encode()), 422),
        ("author is a string", js({**good, "author": people.officer}), 422),
        ("author is a list", js({**good, "author": [people.officer]}), 422),
        ("author code is a number", js({**good, "author": {"officer": 7}}), 422),
        ("author names both", js({**good, "author": {"officer": people.officer, "collective": people.subunit}}), 422),
        ("author has an extra key", js({**good, "author": {"officer": people.officer, "x": 1}}), 422),
        ("occurred_on is a number", js({**good, "occurred_on": 20240101}), 422),
        ("occurred_on is a datetime", js({**good, "occurred_on": "2024-01-01T00:00:00"}), 422),
        ("kind is a list", js({**good, "kind": ["feat"]}), 422),
        ("kind is unknown", js({**good, "kind": "heroic"}), 422),
        ("relation in capitals", js({**good, "relation": "DIRECT"}), 422),
        ("place is true", js({**good, "place": True}), 422),
        ("description is an object", js({**good, "description": {"a": 1}}), 422),
        ("title is null", js({**good, "title": None}), 422),
        ("title is empty", js({**good, "title": ""}), 422),
        ("title is blank", js({**good, "title": "   "}), 422),
        ("title of 201 characters", js({**good, "title": "ệ" * 201}), 422),
        ("description of 10 001 characters", js({**good, "description": "a" * 10_001}), 422),
        ("place of 501 characters", js({**good, "place": "a" * 501}), 422),
        ("beneficiaries of 2001 characters", js({**good, "beneficiaries": "a" * 2001}), 422),
        ("author code of 65 characters", js({**good, "author": {"officer": "A" * 65}}), 422),
        ("lone surrogate in the title", raw(json.dumps({**good, "title": "a\ud800b"}).encode()), 422),
        ("lone low surrogate in the description", raw(json.dumps({**good, "description": "\udfff"}).encode()), 422),
        ("NUL in the title", js({**good, "title": "a\x00b"}), 422),
        ("ESC in the description", js({**good, "description": "a\x1b[31mb"}), 422),
        ("BEL in the place", js({**good, "place": "a\x07"}), 422),
        ("newline in the title", js({**good, "title": "a\nb"}), 422),
        ("DEL in the beneficiaries", js({**good, "beneficiaries": "a\x7f"}), 422),
        ("extra field status", js({**good, "status": "inscribed"}), 422),
        ("extra field unit", js({**good, "unit": "CAH-CJ"}), 422),
        ("extra field created_at", js({**good, "created_at": "2020-01-01T00:00:00+07:00"}), 422),
        ("extra field id", js({**good, "id": "0"}), 422),
        ("extra field __proto__", js({**good, "__proto__": {}}), 422),
        ("a date in the future", js({**good, "occurred_on": "2999-01-01"}), 422),
        ("a date before the programme", js({**good, "occurred_on": "2021-08-31"}), 422),
        ("an impossible date", js({**good, "occurred_on": "2024-02-30"}), 422),
        ("an unknown author", js({**good, "author": {"officer": "CAH-DM-9999"}}), 422),
        ("a 10 MB body", raw(b'{"title": "' + b"a" * 10_000_000 + b'"}'), 413),
        ("a 10 MB chunked body without length",
         {"input_stream": io.BytesIO(b'{"t": "' + b"a" * 10_000_000 + b'"}'), "content_type": "application/json",
          "headers": {"Transfer-Encoding": "chunked"}, "environ_overrides": {"wsgi.input_terminated": True}}, 413),
        ("text/plain", raw(json.dumps(good).encode(), "text/plain"), 415),
        ("form-encoded", raw(b"title=x", "application/x-www-form-urlencoded"), 415),
        ("no media type", {"data": json.dumps(good).encode()}, 415),
        ("an Idempotency-Key of 256 characters", {**js(good), "headers": {"Idempotency-Key": "k" * 256}}, 422),
        ("batch: deeds not a list", {**js({"deeds": {"0": good}}), "path": f"{DEEDS}/batch", "role": "lead"}, 422),
        ("batch: 1001 deeds", {**js({"deeds": [good] * 1001}), "path": f"{DEEDS}/batch", "role": "lead"}, 422),
        ("batch: no deeds", {**js({"deeds": []}), "path": f"{DEEDS}/batch", "role": "lead"}, 422),
        ("batch: one bad deed", {**js({"deeds": [good, {**good, "title": ""}]}), "path": f"{DEEDS}/batch",
                                 "role": "lead"}, 422),
        ("list: limit 501", {"method": "GET", "path": f"{DEEDS}?limit=501"}, 422),
        ("list: unknown status", {"method": "GET", "path": f"{DEEDS}?status=lost"}, 422),
        ("list: NUL in q", {"method": "GET", "path": f"{DEEDS}?q=a%00b"}, 422),
        ("list: unknown parameter", {"method": "GET", "path": f"{DEEDS}?sort=desc"}, 422),
        ("introduce: a body with a field", {**js({"force": True}), "path": "INTRODUCE", "role": "lead"}, 422),
        ("introduce: malformed JSON", {**raw(b"{"), "path": "INTRODUCE", "role": "lead"}, 400),
        ("evidence: an executable", {**multipart({"file": (b"MZ" + b"\x00" * 64, "x.png")}), "path": "EVIDENCE"}, 415),
        ("evidence: HTML", {**multipart({"file": (b"<html><script>alert(1)</script>", "x.pdf")}),
                            "path": "EVIDENCE"}, 415),
        ("evidence: as JSON", {**js({"file": "aGVsbG8="}), "path": "EVIDENCE"}, 415),
        ("evidence: no file part", {**multipart({"note": "x"}), "path": "EVIDENCE"}, 422),
        ("evidence: over 20 MiB", {**multipart({"file": (PNG + b"\x00" * (20 * 1024 * 1024), "x.png")}),
                                   "path": "EVIDENCE"}, 413),
    ]
    return cases


def test_bad_input_corpus(client, token, people, record, runtime, capsys) -> None:
    deed = record()
    with runtime.db.unit_of_work() as uow:  # only the deed recorded above: forget its message
        uow.session.execute(outbox.delete())
        uow.commit()
    before = snapshot(runtime)
    tokens = {"officer": token("officer", people.officer), "lead": token("subunit_lead", people.lead)}
    outcomes: collections.Counter[int] = collections.Counter()
    wrong = []
    cases = corpus(people)
    for name, req, expected in cases:
        req = dict(req)
        method = req.pop("method", "POST")
        path = req.pop("path", DEEDS).replace("INTRODUCE", f"{DEEDS}/{deed['id']}/introduce")
        path = path.replace("EVIDENCE", f"{DEEDS}/{deed['id']}/evidence")
        headers = {**auth(tokens[req.pop("role", "officer")]), **req.pop("headers", {})}
        r = client.open(path, method=method, headers=headers, **req)
        outcomes[r.status_code] += 1
        body = r.get_json(silent=True) or {}
        ok = (r.status_code == expected and r.mimetype == "application/problem+json"
              and body.get("status") == expected and body.get("detail"))
        if not ok:
            wrong.append((name, expected, r.status_code, r.get_data(as_text=True)[:200]))
    with capsys.disabled():
        summary = ", ".join(f"{status}×{n}" for status, n in sorted(outcomes.items()))
        print(f"\nintake bad-input corpus: {len(cases)} inputs tried → {summary}; "
              f"{len(cases) - len(wrong)} answered as expected")
    assert not wrong, wrong
    assert snapshot(runtime) == before, "a refused input changed the database"
    with runtime.db.reading() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(idempotency_records)) == 0


def test_nfd_input_is_accepted_and_stored_nfc(client, token, people) -> None:
    r = client.post(DEEDS, json=deed_body({"officer": people.officer}, description="Nha\u0300 ve\u0302\u0300"),
                    headers=auth(token("officer", people.officer)))
    assert r.status_code == 201 and r.get_json()["description"] == "Nhà về"


# -- one key, twenty clients ---------------------------------------------------------------------
def test_twenty_parallel_requests_with_one_key_make_one_deed(app, token, people, runtime) -> None:
    tok = token("subunit_lead", people.lead)
    body = deed_body({"officer": people.officer}, title="Hai mươi lần gửi, một việc tốt")
    barrier = threading.Barrier(20)
    results: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def send() -> None:
        client = app.test_client()
        barrier.wait()
        r = client.post(DEEDS, json=body, headers=auth(tok, **{"Idempotency-Key": "race-1"}))
        with lock:
            results.append((r.status_code, r.get_data()))

    threads = [threading.Thread(target=send) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 20
    assert {status for status, _ in results} == {201}
    assert len({data for _, data in results}) == 1, "every client gets the first response, byte for byte"
    with runtime.db.reading() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Deed)) == 1
        assert s.scalar(sa.select(sa.func.count()).select_from(outbox)) == 1


# -- rate limits ---------------------------------------------------------------------------------
def test_rate_limit_per_token(app, client, token, people) -> None:
    app.extensions["intake.rate_limiter"] = MemoryRateLimiter(limit=3)
    a, b = token("officer", people.officer), token("officer", people.colleague)
    assert [client.get(DEEDS, headers=auth(a)).status_code for _ in range(3)] == [200, 200, 200]
    r = client.get(DEEDS, headers=auth(a))
    assert r.status_code == 429 and r.mimetype == "application/problem+json"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert client.get(DEEDS, headers=auth(b)).status_code == 200


def test_memory_rate_limiter_windows() -> None:
    now = [1000.0]
    limiter = MemoryRateLimiter(limit=2, window=60, now=lambda: now[0])
    assert [limiter.hit("t"), limiter.hit("t")] == [None, None]
    assert limiter.hit("t") == pytest.approx(20.0)  # 1000 s is 40 s into a 60 s window
    now[0] = 1020.0
    assert limiter.hit("t") is None


# -- OpenAPI -------------------------------------------------------------------------------------
def test_openapi_agrees_with_api_md_and_the_schemas() -> None:
    doc = spec()
    assert doc["openapi"].startswith("3.")
    json.dumps(doc)  # serialisable as served
    paths = {p: set(ops) for p, ops in doc["paths"].items()}
    assert paths == {
        "/api/v1/deeds": {"get", "post"},
        "/api/v1/deeds/batch": {"post"},
        "/api/v1/deeds/{deed_id}": {"get"},
        "/api/v1/deeds/{deed_id}/introduce": {"post"},
        "/api/v1/deeds/{deed_id}/evidence": {"post"},
        "/api/v1/deeds/{deed_id}/evidence/{sha256}": {"get"},
        # R24: people sign in (API.md, Common)
        "/api/v1/session": {"post", "delete", "get"},
        "/api/v1/session/role": {"post"},
        "/api/v1/session/check": {"get"},
        # R23: the audit record (API.md, Common)
        "/api/v1/audit/intake": {"get"},
        # API.md, Common: on every service
        "/healthz": {"get"},
        "/readyz": {"get"},
    }
    assert "201" in doc["paths"]["/api/v1/deeds"]["post"]["responses"]
    assert "409" in doc["paths"]["/api/v1/deeds/{deed_id}/introduce"]["post"]["responses"]
    schemas = doc["components"]["schemas"]
    assert set(schemas["DeedInput"]["properties"]) == set(DeedIn().fields)
    assert schemas["DeedInput"]["additionalProperties"] is False
    assert set(schemas["Deed"]["properties"]) == set(DeedOut().fields)
    assert schemas["Deed"]["properties"]["status"]["enum"] == list(STATUSES)
    assert schemas["DeedInput"]["properties"]["kind"]["enum"] == ["good_deed", "achievement", "feat", "exemplar"]
    assert schemas["DeedInput"]["properties"]["title"]["maxLength"] == 200
    assert {"id", "unit", "subunit", "month", "status", "created_at", "book_entries"} <= set(schemas["Deed"]["properties"])
    params = {p["name"] for p in doc["paths"]["/api/v1/deeds"]["get"]["parameters"]}
    assert {"unit", "month", "status", "q", "limit", "cursor"} <= params
