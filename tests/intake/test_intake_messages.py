"""intake's consumers: closing a month to introductions, and the fate of its deeds told back by
council and book (common flow steps 3 and 7), each applied once whatever the redeliveries."""

from __future__ import annotations

import sqlalchemy as sa

from services.intake import services
from services.intake.worker import create_worker
from shared import clock
from shared.db import utcnow
from shared.messages import (
    CloseIntroductions,
    DeedCopySchema,
    DeedFateDecided,
    DeedInscribed,
    IntroductionsClosed,
    decode,
    envelope,
)
from shared.outbox import consume
from shared.tables import outbox
from tests.intake.conftest import auth

HANDLERS = {
    CloseIntroductions: services.close_introductions,
    DeedFateDecided: services.deed_fate,
    DeedInscribed: services.deed_inscribed,
}


def deliver(runtime, msg, env=None) -> tuple[bool, dict]:
    env = env or envelope(msg, clock.isoformat(utcnow()))
    return consume(runtime.db, env, HANDLERS[type(msg)]), env


def sent(runtime, type_: str) -> list:
    with runtime.db.reading() as s:
        rows = s.execute(sa.select(outbox.c.envelope).where(outbox.c.type == type_).order_by(outbox.c.id)).all()
    return [decode(r.envelope)[1] for r in rows]


def status_of(client, token, people, deed_id: str) -> dict:
    return client.get(f"/api/v1/deeds/{deed_id}", headers=auth(token("unit_secretary", people.secretary))).get_json()


def introduce(client, token, people, deed_id: str) -> None:
    r = client.post(f"/api/v1/deeds/{deed_id}/introduce", json={}, headers=auth(token("unit_secretary", people.secretary)))
    assert r.status_code == 200, r.get_data(as_text=True)


def test_closing_a_month_answers_council_with_frozen_copies(client, token, people, record, runtime) -> None:
    a, b, kept = record(title="Việc A"), record(title="Việc B"), record(title="Chỉ ghi, chưa giới thiệu")
    stranger = record({"officer": people.stranger})
    for d in (a, b, stranger):
        introduce(client, token, people, d["id"]) if d is not stranger else None
    month = a["month"]
    msg = CloseIntroductions(round_id="R-1", council=people.council, unit=people.unit, month=month)
    applied, env = deliver(runtime, msg)
    assert applied

    (closed,) = sent(runtime, "council.introductions_closed")
    assert isinstance(closed, IntroductionsClosed)
    assert (closed.round_id, closed.unit, closed.month, closed.recorded) == ("R-1", people.unit, month, 3)
    assert [d["id"] for d in closed.deeds] == [a["id"], b["id"]]
    copy = closed.deeds[0]
    assert DeedCopySchema().validate(copy) == {}
    assert "beneficiaries" not in copy
    assert copy["author"] == {"officer": people.officer, "name": a["author"]["name"]}
    assert (copy["unit"], copy["subunit"], copy["month"], copy["title"]) == (people.unit, people.subunit, month, "Việc A")
    assert [status_of(client, token, people, d["id"])["status"] for d in (a, b, kept)] == [
        "in_round", "in_round", "recorded"]

    # The same message again, or the same round under another message id: nothing more.
    assert deliver(runtime, msg, env)[0] is False
    deliver(runtime, msg)
    assert len(sent(runtime, "council.introductions_closed")) == 1
    # Introductions to the closed month are carried over (R5a); other units' months stay open.
    r = client.post(f"/api/v1/deeds/{kept['id']}/introduce", json={}, headers=auth(token("subunit_lead", people.lead)))
    assert r.status_code == 200 and r.get_json()["carried_over"] is True
    r = client.post(f"/api/v1/deeds/{stranger['id']}/introduce", json={},
                    headers=auth(token("unit_secretary", people.stranger_secretary)))
    assert r.status_code == 200 and r.get_json()["carried_over"] is False


def test_a_month_with_nothing_introduced_gives_an_empty_list(runtime, record, people) -> None:
    record()
    deliver(runtime, CloseIntroductions(round_id="R-E", council=people.council, unit=people.unit, month="2030-01"))
    (closed,) = sent(runtime, "council.introductions_closed")
    assert (closed.recorded, closed.deeds) == (0, [])


def test_a_deed_follows_its_fate_forward_only(client, token, people, record, runtime) -> None:
    a, b = record(title="Được công nhận"), record(title="Không được chọn")
    for d in (a, b):
        introduce(client, token, people, d["id"])
    deliver(runtime, CloseIntroductions(round_id="R-2", council=people.council, unit=people.unit, month=a["month"]))
    deliver(runtime, DeedFateDecided(deed_id=a["id"], status="recognised", round_id="R-2"))
    deliver(runtime, DeedFateDecided(deed_id=b["id"], status="not_selected", round_id="R-2"))
    inscribed = DeedInscribed(deed_id=a["id"], book=people.unit, seq=4)
    _, env = deliver(runtime, inscribed)
    deliver(runtime, inscribed, env)  # redelivered: once only
    deliver(runtime, inscribed)  # the same entry under a new message id: still once
    got = status_of(client, token, people, a["id"])
    assert got["status"] == "recognised" and got["book_entries"] == [{"book": people.unit, "seq": 4}]
    assert status_of(client, token, people, b["id"])["status"] == "not_selected"

    # A stale message never takes a deed back.
    deliver(runtime, DeedFateDecided(deed_id=a["id"], status="in_round", round_id="R-2"))
    deliver(runtime, DeedFateDecided(deed_id=a["id"], status="not_selected", round_id="R-Q"))
    assert status_of(client, token, people, a["id"])["status"] == "recognised"

    # Proposed to the province, then inscribed in the provincial book.
    deliver(runtime, DeedFateDecided(deed_id=a["id"], status="proposed", round_id="R-Q"))
    deliver(runtime, DeedInscribed(deed_id=a["id"], book="CAT", seq=1))
    got = status_of(client, token, people, a["id"])
    assert got["status"] == "inscribed"
    assert got["book_entries"] == [{"book": people.unit, "seq": 4}, {"book": "CAT", "seq": 1}]
    # R15a: a revocation is listed as such and revokes the deed, for good.
    deliver(runtime, DeedInscribed(deed_id=a["id"], book="CAT", seq=2, kind="revocation"))
    got = status_of(client, token, people, a["id"])
    assert got["status"] == "revoked" and got["book_entries"][-1] == {"book": "CAT", "seq": 2, "kind": "revocation"}
    deliver(runtime, DeedFateDecided(deed_id=a["id"], status="inscribed", round_id="R-late"))
    assert status_of(client, token, people, a["id"])["status"] == "revoked"


def test_an_inscription_heard_before_the_fate_still_counts(client, token, people, record, runtime) -> None:
    a = record()
    introduce(client, token, people, a["id"])
    deliver(runtime, CloseIntroductions(round_id="R-3", council=people.council, unit=people.unit, month=a["month"]))
    deliver(runtime, DeedInscribed(deed_id=a["id"], book=people.unit, seq=1))
    deliver(runtime, DeedFateDecided(deed_id=a["id"], status="recognised", round_id="R-3"))
    got = status_of(client, token, people, a["id"])
    assert got["status"] == "recognised" and got["book_entries"] == [{"book": people.unit, "seq": 1}]


def test_messages_about_unknown_deeds_are_ignored(runtime) -> None:
    assert deliver(runtime, DeedFateDecided(deed_id="nope", status="recognised", round_id="R"))[0]
    assert deliver(runtime, DeedInscribed(deed_id="nope", book="CAH-DM", seq=1))[0]


def test_the_worker_consumes_intake_messages_only(runtime) -> None:
    app = create_worker(runtime=runtime)
    names = {n for n in app.tasks if not n.startswith("celery.")}
    assert names == {"intake.close_introductions", "intake.reopen_introductions", "intake.deed_fate",
                     "intake.deed_inscribed", "intake.organisation_verdict"}
