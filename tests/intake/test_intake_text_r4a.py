"""R4a at intake's entry points: every text field of a deed, alone or in a batch, refuses what
cannot be stored (control characters, noncharacters, lone surrogates) with a 422 naming the field,
and nothing is stored."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from services.intake.orm import Deed
from tests.intake.conftest import auth, deed_body
from tests.text_cases import HOSTILE, PLACEHOLDER, body_with, flat_keys

DEEDS = "/api/v1/deeds"
# (field path in the body, the path ``errors`` names it by, multi-line)
FIELDS = [
    (("title",), "title", False),
    (("description",), "description", True),
    (("place",), "place", False),
    (("beneficiaries",), "beneficiaries", True),
    (("author", "officer"), "author.officer", False),
]
CASES = [
    pytest.param(path, named, literal, id=f"{named}-{name}")
    for path, named, multiline in FIELDS
    for name, literal, refused_multiline in HOSTILE
    if not multiline or refused_multiline
]


def _with(body: dict, path: tuple[str, ...]) -> dict:
    body = {**body, path[0]: dict(body[path[0]]) if len(path) > 1 else PLACEHOLDER}
    if len(path) > 1:
        body[path[0]][path[1]] = PLACEHOLDER
    return body


def _stored(runtime) -> int:
    with runtime.db.reading() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Deed))


@pytest.mark.parametrize(("path", "named", "literal"), CASES)
def test_a_deed_with_unstorable_text_is_422_naming_the_field(client, runtime, token, people, path, named, literal):
    body = body_with(_with(deed_body({"officer": people.officer}), path), literal)
    r = client.post(DEEDS, data=body, content_type="application/json", headers=auth(token("officer", people.officer)))
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    assert named in flat_keys(r.get_json()["errors"])
    assert _stored(runtime) == 0


def test_a_collective_author_code_is_checked_too(client, runtime, token, people):
    body = body_with(deed_body({"collective": PLACEHOLDER}), '"a\\ufffe"')
    r = client.post(DEEDS, data=body, content_type="application/json", headers=auth(token("subunit_lead", people.lead)))
    assert r.status_code == 422 and "author.collective" in flat_keys(r.get_json()["errors"])


@pytest.mark.parametrize(("path", "named", "literal"), [c for c in CASES if "FFFE" in c.id or "surrogate" in c.id
                                                         or "vertical" in c.id])
def test_a_batch_names_the_deed_and_its_field_and_stores_nothing(client, runtime, token, people, path, named,
                                                                 literal):
    good = deed_body({"officer": people.officer})
    body = body_with({"deeds": [good, _with(good, path), good]}, literal)
    r = client.post(f"{DEEDS}/batch", data=body, content_type="application/json",
                    headers=auth(token("subunit_lead", people.lead)))
    assert r.status_code == 422, r.get_data(as_text=True)
    errors = r.get_json()["errors"]
    # Keyed by the deed's index, each message naming the deed's field (API.md).
    assert set(errors) == {"1"}
    assert any(message.startswith(f"{named}:") for message in errors["1"]), errors
    assert _stored(runtime) == 0


def test_the_search_query_is_checked_too(client, token, people):
    # A URL carries no lone surrogate (werkzeug decodes it with replacement); a control it does.
    r = client.get(DEEDS, query_string={"q": "a\x0bb"}, headers=auth(token("officer", people.officer)))
    assert r.status_code == 422 and "q" in r.get_json()["errors"]
    r = client.get(DEEDS, query_string={"q": "a\ufffeb"}, headers=auth(token("officer", people.officer)))
    assert r.status_code == 422 and "q" in r.get_json()["errors"]


def test_newlines_and_tabs_stay_in_long_texts(client, token, people):
    body = deed_body({"officer": people.officer}, description="Dòng một\r\n\tdòng hai", beneficiaries="Cụ A\nCụ B")
    r = client.post(DEEDS, json=body, headers=auth(token("officer", people.officer)))
    assert r.status_code == 201
    assert r.get_json()["description"] == "Dòng một\r\n\tdòng hai"
