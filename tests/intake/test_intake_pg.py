"""intake on PostgreSQL (its own schema) and Redis, as in production: the migration, the thin
path's use cases, and the rate limit counted in Redis."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from services.intake import DECLARATION, services
from services.intake.app import build_runtime, create_app
from services.intake.ratelimit import RedisRateLimiter
from shared import clock
from shared.auth import new_token, store_token
from shared.db import utcnow
from shared.messages import CloseIntroductions, DeedFateDecided, DeedInscribed, decode, envelope
from shared.outbox import consume
from shared.tables import outbox
from tests.intake.conftest import auth, deed_body, multipart, people_of

pytestmark = pytest.mark.distributed

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_thin_path_on_postgresql(pg_settings, org_document) -> None:
    rt = build_runtime(pg_settings)
    rt.migrate()
    rt.migrate()  # a second run is a no-op
    assert DECLARATION.load_org(rt, org_document) is True
    assert DECLARATION.load_org(rt, org_document) is False
    app = create_app(runtime=rt)
    client = app.test_client()
    p = people_of(org_document)

    def tok(role: str, subject: str) -> str:
        t = new_token()
        with rt.db.unit_of_work() as uow:
            store_token(uow, t, role, subject, 1)
            uow.commit()
        return t

    officer, lead = tok("officer", p.officer), tok("subunit_lead", p.lead)
    r = client.post("/api/v1/deeds", json=deed_body({"officer": p.officer}, title="Việc tốt trên PostgreSQL"),
                    headers=auth(officer, **{"Idempotency-Key": "pg-1"}))
    assert r.status_code == 201, r.get_data(as_text=True)
    deed = r.get_json()
    assert deed["created_at"].endswith("+07:00")
    again = client.post("/api/v1/deeds", json=deed_body({"officer": p.officer}, title="Việc tốt trên PostgreSQL"),
                        headers=auth(officer, **{"Idempotency-Key": "pg-1"}))
    assert again.get_data() == r.get_data()
    ev = client.post(f"/api/v1/deeds/{deed['id']}/evidence", headers=auth(officer), **multipart({"file": (PNG, "a.png")}))
    assert ev.status_code == 201 and ev.get_json()["content_type"] == "image/png"
    got = client.get(f"/api/v1/deeds/{deed['id']}/evidence/{ev.get_json()['sha256']}", headers=auth(lead))
    assert got.status_code == 200 and got.data == PNG
    r = client.post(f"/api/v1/deeds/{deed['id']}/introduce", json={}, headers=auth(lead))
    assert r.status_code == 200 and r.get_json()["status"] == "introduced"
    found = client.get("/api/v1/deeds?q=viec tot postgresql", headers=auth(lead)).get_json()["items"]
    assert [d["id"] for d in found] == [deed["id"]]

    def deliver(msg, handle) -> None:
        consume(rt.db, envelope(msg, clock.isoformat(utcnow())), handle)

    deliver(CloseIntroductions(round_id="R-pg", council=p.council, unit=p.unit, month=deed["month"]),
            services.close_introductions)
    with rt.db.reading() as s:
        (env,) = s.execute(sa.select(outbox.c.envelope).where(outbox.c.type == "council.introductions_closed")).scalars()
    closed = decode(env)[1]
    assert [d["id"] for d in closed.deeds] == [deed["id"]] and closed.recorded == 1
    assert closed.deeds[0]["evidence"][0]["sha256"] == ev.get_json()["sha256"]
    assert client.post(f"/api/v1/deeds/{deed['id']}/introduce", json={}, headers=auth(lead)).status_code == 409
    deliver(DeedFateDecided(deed_id=deed["id"], status="recognised", round_id="R-pg"), services.deed_fate)
    deliver(DeedInscribed(deed_id=deed["id"], book=p.unit, seq=1), services.deed_inscribed)
    final = client.get(f"/api/v1/deeds/{deed['id']}", headers=auth(officer)).get_json()
    assert (final["status"], final["book_entries"]) == ("recognised", [{"book": p.unit, "seq": 1}])
    rt.db.dispose()


def test_rate_limit_is_shared_through_redis(redis_url) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    one, two = RedisRateLimiter(client, limit=3), RedisRateLimiter(client, limit=3)  # two web processes
    assert [one.hit("t"), two.hit("t"), one.hit("t")] == [None, None, None]
    wait = two.hit("t")
    assert wait is not None and 0 < wait <= 60
    assert one.hit("other-token") is None


def test_no_introduction_is_lost_while_a_month_closes(pg_settings, org_document) -> None:
    """API.md: every introduction answered before the month closed is on the final list, every
    later one is carried over (R5a) onto the next round's list, none on both — with
    introductions and the closing racing on PostgreSQL."""
    import threading

    rt = build_runtime(pg_settings)
    rt.migrate()
    DECLARATION.load_org(rt, org_document)
    app = create_app(runtime=rt)
    rt.db.after_commit.clear()
    p = people_of(org_document)
    t = new_token()
    with rt.db.unit_of_work() as uow:
        store_token(uow, t, "unit_secretary", p.secretary, 1)
        uow.commit()
    client = app.test_client()
    ids = []
    for i in range(20):
        r = client.post("/api/v1/deeds", json=deed_body({"officer": p.officer}, title=f"Việc {i}"), headers=auth(t))
        ids.append(r.get_json()["id"])
    month = client.get(f"/api/v1/deeds/{ids[0]}", headers=auth(t)).get_json()["month"]
    barrier = threading.Barrier(21)
    answers: dict[str, tuple[int, bool]] = {}

    def introduce(deed_id: str) -> None:
        c = app.test_client()
        barrier.wait()
        r = c.post(f"/api/v1/deeds/{deed_id}/introduce", json={}, headers=auth(t))
        answers[deed_id] = (r.status_code, r.get_json()["carried_over"])

    def close(round_id: str, of_month: str) -> None:
        msg = CloseIntroductions(round_id=round_id, council=p.council, unit=p.unit, month=of_month)
        consume(rt.db, envelope(msg, clock.isoformat(utcnow())), services.close_introductions)

    def closing() -> None:
        barrier.wait()
        close("R-race", month)

    threads = [threading.Thread(target=introduce, args=(i,)) for i in ids] + [threading.Thread(target=closing)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)

    def listed(round_id: str) -> set[str]:
        with rt.db.reading() as s:
            (env,) = s.execute(sa.select(outbox.c.envelope).where(
                outbox.c.type == "council.introductions_closed",
                outbox.c.envelope["payload"]["round_id"].as_string() == round_id)).scalars()
        return {d["id"] for d in decode(env)[1].deeds}

    assert len(answers) == 20 and {status for status, _ in answers.values()} == {200}
    first = listed("R-race")
    assert first == {i for i, (_, carried) in answers.items() if not carried}
    for deed_id, (_, carried) in answers.items():
        got = client.get(f"/api/v1/deeds/{deed_id}", headers=auth(t)).get_json()
        assert (got["status"], got["carried_over"]) == ("introduced" if carried else "in_round", carried)
    # The unit's next monthly round takes exactly the carried ones; its closing again, nothing more.
    y, m = map(int, month.split("-"))
    following = f"{y + m // 12:04d}-{m % 12 + 1:02d}"
    close("R-next", following)
    assert listed("R-next") == set(ids) - first
    close("R-after", f"{y + 1:04d}-{m:02d}")
    assert listed("R-after") == set()
    rt.db.dispose()
