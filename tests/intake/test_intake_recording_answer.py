"""What recording a deed answers is built without marshmallow's walk over ``DeedOut``
(``schemas.recorded_out``), so it is held here to be the very deed a later read answers, key for
key and in the same order (R2); and the Redis rate limit, counted without MULTI/EXEC, still
expires with its window."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from services.intake import schemas
from services.intake.domain.deed import Deed
from services.intake.ratelimit import RedisRateLimiter
from shared.db import utcnow
from tests.intake.conftest import auth, deed_body

DEEDS = "/api/v1/deeds"


def _same_bytes(a: dict, b: dict) -> bool:
    return json.dumps(a, ensure_ascii=False) == json.dumps(b, ensure_ascii=False)


def test_a_recorded_deed_answers_what_reading_it_answers(client, token, people) -> None:
    """R2: the 201 body is the deed as GET answers it, for each kind of author and with the
    optional fields present, null or left out."""
    cases = [
        ({"officer": people.officer}, "officer", people.officer, {}),
        ({"officer": people.officer}, "officer", people.officer, {"place": None, "beneficiaries": ...}),
        ({"collective": people.subunit}, "subunit_lead", people.lead, {"place": ...}),
        ({"collective": people.unit}, "unit_secretary", people.secretary, {}),
    ]
    for author, role, subject, changes in cases:
        tok = token(role, subject)
        r = client.post(DEEDS, json=deed_body(author, **changes), headers=auth(tok))
        assert r.status_code == 201, r.get_data(as_text=True)
        got = client.get(f"{DEEDS}/{r.get_json()['id']}", headers=auth(tok))
        assert got.status_code == 200
        assert _same_bytes(r.get_json(), got.get_json()), (r.get_json(), got.get_json())


def test_a_recorded_batch_answers_what_reading_each_deed_answers(client, token, people) -> None:
    tok = token("subunit_lead", people.lead)
    body = {"deeds": [deed_body({"officer": people.officer}), deed_body({"collective": people.subunit}, place=None)]}
    r = client.post(f"{DEEDS}/batch", json=body, headers=auth(tok))
    assert r.status_code == 201, r.get_data(as_text=True)
    items = r.get_json()["items"]
    assert len(items) == 2
    for item in items:
        assert _same_bytes(item, client.get(f"{DEEDS}/{item['id']}", headers=auth(tok)).get_json())


@pytest.mark.parametrize("author", [{"officer": "CB-1", "name": "Đại úy Nguyễn Văn A"},
                                    {"collective": "CAH-DM", "name": "Công an huyện Đắk Mil"}])
@pytest.mark.parametrize("optional", [{}, {"place": None, "beneficiaries": None, "subunit": None}])
def test_recorded_out_is_deed_out(author, optional) -> None:
    row = {
        "id": "0190a1b2-0000-7000-8000-000000000001", "author_kind": next(iter(author)),
        "author_code": next(iter(author.values())), "author_name": author["name"], "unit": "CAH-DM",
        "subunit": "CAH-DM-01", "occurred_on": dt.date(2024, 2, 29), "month": "2024-02", "kind": "feat",
        "relation": "indirect", "title": "Cứu người đuối nước", "description": "Dòng một\nDòng hai",
        "place": "Hồ Tây", "beneficiaries": "Em Y Blốk", "status": "recorded", "created_at": utcnow(),
        **optional,
    }
    view = Deed(**row, created_by="officer:CB-1").view([], beneficiaries=True)
    assert _same_bytes(schemas.recorded_out(view), schemas.deed_out(view))


@pytest.mark.distributed
def test_the_rate_limit_count_expires_with_its_window(redis_url) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    limiter = RedisRateLimiter(client, limit=2, window=60, prefix="test:rl")
    assert limiter.hit("t") is None
    (name,) = client.keys("test:rl:t:*")
    # Kept for two windows at most: a window's count never outlives it by much.
    assert 60 < client.ttl(name) <= 120
    assert limiter.hit("t") is None
    wait = limiter.hit("t")
    assert wait is not None and 0 < wait <= 60
    assert int(client.get(name)) == 3
