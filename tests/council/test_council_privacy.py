"""R16: a closed round's public result names (title, author) only the deeds it selected, in what it
answers and in what a kept Idempotency-Key answer replays; the counting minutes, which name every
candidate, are for the council's members, its secretary and the province secretary only."""

from __future__ import annotations

import datetime as dt

from shared import clock
from shared.clock import Month
from tests.council.conftest import (
    AUTHORS,
    MEMBERS,
    PROVINCE_SECRETARY,
    PROVINCIAL_MEMBERS,
    deed_copy,
    open_monthly,
    vote,
)

CHOSEN = "Cứu người đuối nước ở sông Đắk Nông"
REJECTED = "Nhặt được ví trả lại người đánh rơi"
REJECTED_AUTHOR = "Hạ sĩ Phan Thị Hồng"


def closed_round(client, runtime, secretary, members, key: str | None = None):
    chosen = deed_copy(title=CHOSEN)
    rejected = deed_copy(title=REJECTED, author={"officer": AUTHORS[1], "name": REJECTED_AUTHOR})
    rnd = open_monthly(client, secretary, runtime, [chosen, rejected])
    c1, c2 = rnd["candidates"]
    for m in MEMBERS:
        assert vote(client, rnd, members[m], {c1["id"]: "approve", c2["id"]: "reject"}).status_code == 201
    headers = {**secretary, "Idempotency-Key": key} if key else secretary
    closed = client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=headers)
    assert closed.status_code == 200, closed.get_json()
    return rnd, chosen, rejected, closed


def test_the_public_result_names_only_the_selected(client, runtime, secretary, members) -> None:
    rnd, chosen, rejected, closed = closed_round(client, runtime, secretary, members, key="close-once")
    public = client.get(f"/api/v1/rounds/{rnd['id']}/result")
    assert public.status_code == 200
    by_deed = {c["deed_id"]: c for c in public.get_json()["candidates"]}
    assert by_deed[chosen["id"]]["selected"] is True
    assert by_deed[chosen["id"]]["title"] == CHOSEN and by_deed[chosen["id"]]["author"] == chosen["author"]
    assert by_deed[rejected["id"]]["selected"] is False
    assert "title" not in by_deed[rejected["id"]] and "author" not in by_deed[rejected["id"]]
    # Nowhere in what is answered or replayed: the close, its kept answer, the public result.
    replay = client.post(f"/api/v1/rounds/{rnd['id']}/close",
                         headers={**secretary, "Idempotency-Key": "close-once"})
    assert replay.status_code == 200 and replay.data == closed.data
    for body in (public.get_data(as_text=True), closed.get_data(as_text=True), replay.get_data(as_text=True)):
        assert REJECTED not in body and REJECTED_AUTHOR not in body and AUTHORS[1] not in body
    assert public.get_json() == closed.get_json()


def test_the_minutes_are_for_the_council_its_secretary_and_the_province_secretary(client, runtime, secretary,
                                                                                   members, auth) -> None:
    earlier = str(Month.of(Month.of(clock.today()).first_day - dt.timedelta(days=1)))
    open_one = open_monthly(client, secretary, runtime, [deed_copy(month=earlier)], period=earlier)
    path = f"/api/v1/rounds/{open_one['id']}/minutes.pdf"
    assert client.get(path).status_code == 401
    assert client.get(path, headers=auth("officer", AUTHORS[0])).status_code == 403
    assert client.get(path, headers=members[MEMBERS[0]]).status_code == 409  # not closed yet

    rnd, *_ = closed_round(client, runtime, secretary, members)
    path = f"/api/v1/rounds/{rnd['id']}/minutes.pdf"
    anonymous = client.get(path)
    assert anonymous.status_code == 401 and anonymous.mimetype == "application/problem+json"
    for headers in (
        auth("officer", AUTHORS[0]),
        auth("press", "CAT"),
        auth("unit_secretary", "CAH-DM-0008"),         # another unit's secretary
        auth("council_member", "CAH-DM-0001"),          # a member of another council
        auth("council_member", PROVINCIAL_MEMBERS[0]),  # the provincial council is another council
    ):
        refused = client.get(path, headers=headers)
        assert refused.status_code == 403 and refused.mimetype == "application/problem+json", refused.get_json()
    for headers in (members[MEMBERS[3]], secretary, auth("province_secretary", PROVINCE_SECRETARY)):
        ok = client.get(path, headers=headers)
        assert ok.status_code == 200 and ok.data.startswith(b"%PDF")
    assert client.get("/api/v1/rounds/nope/minutes.pdf").status_code == 401
    assert client.get("/api/v1/rounds/nope/minutes.pdf", headers=secretary).status_code == 404
