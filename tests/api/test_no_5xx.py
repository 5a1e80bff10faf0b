"""Never a 500 for any input (API.md, "Common"): arbitrary strings in every path, query and
header of every route of every service — documented or not — get a 4xx (or a 2xx/3xx), never a
5xx; and the requests that once got a 500 or a second address of a page get their 4xx."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from tests.api.system import System, build_system


@pytest.fixture(scope="module")
def system(tmp_path_factory, org_document) -> Iterator[System]:
    from shared.config import Settings

    system = build_system(Settings(home=tmp_path_factory.mktemp("no5xx")), org_document)
    yield system
    system.close()


def _routes(system: System) -> list[tuple[str, str, list[str]]]:
    """(method, rule, its variables) of every route of every service's app."""
    found = []
    for app in system.gateway.apps.values():
        for rule in app.url_map.iter_rules():
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                found.append((method, rule.rule, sorted(rule.arguments)))
    return sorted(set((m, r, tuple(a)) for m, r, a in found))  # type: ignore[arg-type]


VARIABLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
ANY_TEXT = st.text(max_size=40) | st.sampled_from([
    "", "\n", "%", "..", "2025-01\n", "2099-Q1", "2021-Q2", "2024-Q2", "2024-05", "0412-11", "CAT", "CAH-DM",
    "1", "0", "-1", "99999999999999999999", "\x00", "\ud800", "\ufffe", "a" * 300,
])
QUERY_NAMES = st.sampled_from(["limit", "cursor", "month", "unit", "status", "q", "period", "council", "kind",
                               "from", "to", "quarter", "subject", "x"])
HEADER_NAMES = ("Authorization", "Idempotency-Key", "Accept", "Content-Type", "If-None-Match",
                "If-Modified-Since", "Cookie", "X-CSRF-Token", "Range")


def _latin1(text: str) -> str:
    """What a header can carry (no line break; werkzeug reads its bytes as latin-1)."""
    return text.encode("utf-8", "replace").decode("latin-1").replace("\r", "").replace("\n", "")


@st.composite
def requests(draw, routes):  # noqa: ANN001, ANN201
    method, rule, variables = draw(st.sampled_from(routes))
    values = {name: draw(ANY_TEXT) for name in variables}
    path = VARIABLE.sub(lambda m: quote(values[m.group(1)].encode("utf-8", "surrogatepass"), safe=""), rule)
    query = draw(st.lists(st.tuples(QUERY_NAMES | st.text(max_size=8), ANY_TEXT), max_size=4))
    headers = {name: _latin1(draw(ANY_TEXT)) for name in draw(st.lists(st.sampled_from(HEADER_NAMES), max_size=3,
                                                                       unique=True))}
    role = draw(st.none() | st.sampled_from(["officer", "unit_secretary", "council_member", "province_secretary"]))
    body = draw(st.none() | st.binary(max_size=64) | st.sampled_from([b"{}", b'{"x": 1}', b"[[[[", b'"\\ud800"']))
    return method, path, query, headers, role, body


def _send(system: System, method: str, path: str, query, headers, role, body):  # noqa: ANN001, ANN202
    if role is not None and "Authorization" not in headers:
        headers = {**headers, **system.auth(role)}
    qs = "&".join(f"{quote(k.encode('utf-8', 'surrogatepass'), safe='')}="
                  f"{quote(v.encode('utf-8', 'surrogatepass'), safe='')}" for k, v in query)
    return Client(system.gateway).open(path, method=method, query_string=qs, headers=headers, data=body)


def _no_server_error(r, *request) -> None:  # noqa: ANN001
    # /readyz answers 503 by contract while a dependency is away (here the broker: none runs).
    if r.status_code == 503 and request[1] == "/readyz":
        assert r.headers["Retry-After"]
        return
    assert r.status_code < 500, (*request, r.status_code, r.get_data(as_text=True)[:300])


def test_arbitrary_strings_anywhere_get_no_5xx(system: System) -> None:
    routes = _routes(system)
    assert len(routes) >= 25  # every service's routes, not only the documented ones

    @given(req=requests(routes))
    @settings(max_examples=400, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(req) -> None:  # noqa: ANN001
        method, path, query, headers, role, body = req
        r = _send(system, method, path, query, headers, role, body)
        _no_server_error(r, method, path, query, headers)

    run()


def _problem(r, status: int) -> dict:  # noqa: ANN001
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:300])
    assert r.mimetype == "application/problem+json"
    return r.get_json()


def test_the_requests_that_got_a_500_get_a_4xx(system: System) -> None:
    client = Client(system.gateway)
    csv = {**system.auth("unit_secretary"), "Accept": "text/csv"}
    # A trailing newline after a month is not a month (patterns are matched whole).
    body = _problem(client.get("/api/v1/reports/monthly?month=2025-01%0A", headers=csv), 422)
    assert list(body["errors"]) == ["month"]
    assert client.get("/api/v1/reports/monthly?month=2025-01", headers=csv).status_code == 200
    # A cursor nested 1 200 deep (the old JSON form, and the new one) is refused, bounded.
    deep = base64.urlsafe_b64encode(b"[" * 1200).decode()
    for cursor in (deep, "~" + deep.rstrip("=")):
        assert "cursor" in _problem(client.get(f"/api/v1/books?cursor={cursor}"), 422)["errors"]
    for path in ("/api/v1/rounds", "/api/v1/deeds"):
        r = client.get(f"{path}?cursor=~{deep.rstrip('=')}", headers=system.auth("unit_secretary"))
        assert "cursor" in _problem(r, 422)["errors"]
    # A NUL anywhere in an address names nothing.
    assert client.get("/api/v1/deeds/%00", headers=system.auth("unit_secretary")).status_code == 404
    assert "unit" in _problem(client.get("/api/v1/deeds?unit=%00", headers=system.auth("unit_secretary")),
                              422)["errors"]


def test_periods_outside_the_programme_name_no_page(system: System) -> None:
    client = Client(system.gateway)
    for path in ("/honour-roll/CAT/2025-01%0A", "/honour-roll/CAT/2025-01%0a", "/honour-roll/CAT/2099-01",
                 "/honour-roll/CAT/2099-Q1", "/honour-roll/CAT/2021-08", "/honour-roll/CAT/2020-Q4",
                 "/press/2099-Q1.pdf", "/press/2099-Q1.html", "/press/2021-Q2.html", "/press/2024-Q2%0A.html"):
        _problem(client.get(path), 404)
    # The current quarter has not ended: no press release yet, in either format.
    from shared import clock

    current = clock.Month.of(clock.today()).quarter
    for fmt in ("html", "pdf"):
        _problem(client.get(f"/press/{current}.{fmt}"), 404)
    assert client.get("/honour-roll/CAT/2024-05").status_code == 200
    assert client.get("/press/2024-Q2.html").status_code == 200


def test_an_idempotency_key_is_bounded_and_refused_as_a_field(system: System) -> None:
    client = Client(system.gateway)
    headers = system.auth("unit_secretary")
    for key in ("k" * 256, "a\tb", "\x7f"):
        r = client.post("/api/v1/rounds", json={}, headers={**headers, "Idempotency-Key": key})
        assert list(_problem(r, 422)["errors"]) == ["Idempotency-Key"]


def test_arbitrary_strings_get_no_5xx_on_postgresql(pg_settings, org_document, request) -> None:
    """The same on the distributed path: PostgreSQL refuses a NUL in text with an error of its
    own, which must never be where a request's text ends up."""
    system = build_system(pg_settings, org_document)
    request.addfinalizer(system.close)
    routes = _routes(system)

    @given(req=requests(routes))
    @settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(req) -> None:  # noqa: ANN001
        method, path, query, headers, role, body = req
        r = _send(system, method, path, query, headers, role, body)
        _no_server_error(r, method, path, query, headers)

    run()
    client = Client(system.gateway)
    for path in ("/api/v1/deeds/%00", "/api/v1/rounds/%00", "/api/v1/rounds/%00/result", "/api/v1/books/%00/verify",
                 "/feeds/%00.atom", "/honour-roll/%00/"):
        assert client.get(path, headers=system.auth("unit_secretary")).status_code == 404, path
    r = client.post("/api/v1/rounds", json={"council": "HD\u0000", "kind": "monthly", "period": "2024-05"},
                    headers=system.auth("unit_secretary"))
    assert r.status_code == 422 and "council" in r.get_json()["errors"]
