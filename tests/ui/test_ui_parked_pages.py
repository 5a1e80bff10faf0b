"""The admin's pages of parked messages, ``/admin/parked/{service}/``, each served by its service
through the one origin: what is parked (never its body, R2a), **Gửi lại** that really puts the
message back on its service's queue (a worker then applies it), **Xoá**, a message no key of ours
signed never sent again; each action in the service's audit record (R23); a person who is not an
admin and a form without its CSRF token refused."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from ui_helpers import PROVINCE_SECRETARY, SECRETARY, issue

from services.council import worker as council_worker
from shared import clock
from shared.audit import audit_log
from shared.auth import token_hash
from shared.celery_app import redis_client
from shared.config import Settings
from shared.consumer import park
from shared.db import utcnow
from shared.messages import TokensRevoked, envelope
from shared.signing import message_keys, sign
from shared.tables import parked_messages, tokens
from tests.sessions.site import Site, make_site

ADMIN = PROVINCE_SECRETARY  # the admin while SOVANG_ADMINS is unset
PRIVATE = "Nguyễn Thị Bí Mật, bon Sa Pa"  # what a body might hold and a page must never show


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _parked(site: Site, service: str) -> list[str]:
    with site.runtimes[service].db.reading() as s:
        return list(s.execute(sa.select(parked_messages.c.message_id)).scalars())


def _lines(site: Site, service: str, action: str) -> list[dict]:
    with site.runtimes[service].db.reading() as s:
        return [dict(r) for r in s.execute(sa.select(audit_log).where(audit_log.c.action == action)).mappings()]


def _forged(site: Site) -> dict[str, Any]:
    """A message pushed onto council's queue by someone without the key, parked by the consumer
    itself as a worker would (shared.consumer)."""
    env = envelope(TokensRevoked(token_hashes=["ab" * 32], role="*", subject=SECRETARY, by="kẻ giả mạo"),
                   clock.isoformat(utcnow()))
    env["payload"]["beneficiaries"] = PRIVATE
    council_worker.create_worker(runtime=site.runtimes["council"]).tasks[env["type"]](env)
    return env


def _genuine(site: Site, token: str) -> dict[str, Any]:
    """Intake's real message, parked after failing ten times (the cause since fixed)."""
    msg = TokensRevoked(token_hashes=[token_hash(token)], role="unit_secretary", subject=SECRETARY, by=ADMIN)
    env = sign(envelope(msg, clock.isoformat(utcnow())), message_keys(site.settings))
    park(site.runtimes["council"], env, "OperationalError('cơ sở dữ liệu đang bảo trì')", 10)
    return env


def _token_in_council(site: Site, subject: str) -> str:
    token = issue(site.runtimes["intake"], "unit_secretary", subject)
    with site.runtimes["intake"].db.reading() as s:
        row = dict(s.execute(sa.select(tokens).where(tokens.c.token_hash == token_hash(token))).mappings().one())
    with site.runtimes["council"].db.unit_of_work() as uow:
        uow.session.execute(tokens.insert().values(**row))
        uow.commit()
    return token


def _works_in_council(site: Site, token: str) -> bool:
    return site.client().get("/api/v1/audit/council", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_the_admin_sees_what_is_parked_never_its_body_and_drops_a_forged_one(site: Site) -> None:
    forged = _forged(site)
    [parked_id] = _parked(site, "council")
    assert parked_id != forged["id"]  # kept under an id of its own (shared.consumer.park)
    admin = site.sign_in_page(ADMIN)
    start = admin.get("/admin/").get_data(as_text=True)
    for service in ("intake", "council", "book"):
        assert f'href="/admin/parked/{service}/"' in start
    html = admin.get("/admin/parked/council/").get_data(as_text=True)
    assert "Thư bị giữ lại: Hội đồng" in html and "1 thư đang bị giữ lại" in html
    assert f"<code>{parked_id}</code>" in html and "council.tokens_revoked" in html
    assert "thư không có chữ ký (unsigned message)" in html
    # R2a: the body stays in the table; a message no key of ours signed is offered only Xoá.
    assert "Bí Mật" not in html and "kẻ giả mạo" not in html and "ab" * 32 not in html
    assert f'aria-label="Gửi lại thư {parked_id}"' not in html and f'aria-label="Xoá thư {parked_id}"' in html
    refused = admin.post("/admin/parked/council/", data={"csrf_token": _csrf(html), "action": "replay",
                                                         "message": parked_id})
    assert refused.status_code == 409 and "chỉ có thể xoá" in refused.get_data(as_text=True)
    assert _parked(site, "council") == [parked_id] and not _lines(site, "council", "parked.replayed")

    dropped = admin.post("/admin/parked/council/", data={"csrf_token": _csrf(html), "action": "drop",
                                                         "message": parked_id}, follow_redirects=True)
    text = dropped.get_data(as_text=True)
    assert dropped.status_code == 200 and f"Đã xoá thư {parked_id}." in text and "Không có thư nào bị giữ lại." in text
    assert _parked(site, "council") == []
    [line] = _lines(site, "council", "parked.dropped")
    assert (line["role"], line["subject"], line["object"]) == ("admin", ADMIN, parked_id)
    assert line["details"] == {"type": "council.tokens_revoked", "deliveries": 1}
    again = admin.post("/admin/parked/council/", data={"csrf_token": _csrf(html), "action": "drop",
                                                       "message": parked_id})
    assert again.status_code == 409 and "đã gửi lại hoặc đã xoá" in again.get_data(as_text=True)
    # Each service serves its own, through the one origin.
    for service, name in (("intake", "Tiếp nhận việc tốt"), ("book", "Sổ vàng")):
        page = admin.get(f"/admin/parked/{service}/").get_data(as_text=True)
        assert f"Thư bị giữ lại: {name}" in page and "Không có thư nào bị giữ lại." in page


def test_a_person_not_admin_and_a_form_without_csrf_are_refused(site: Site) -> None:
    _forged(site)
    [parked_id] = _parked(site, "council")
    admin = site.sign_in_page(ADMIN)
    forged_form = admin.post("/admin/parked/council/", data={"action": "drop", "message": parked_id})
    assert forged_form.status_code == 403 and "CSRF" in forged_form.get_data(as_text=True)
    secretary = site.sign_in_page(SECRETARY)
    for service in ("intake", "council", "book"):
        resp = secretary.get(f"/admin/parked/{service}/")
        assert resp.status_code == 403 and "vai trò bạn không giữ" in resp.get_data(as_text=True), service
    page = secretary.get("/unit/").get_data(as_text=True)
    refused = secretary.post("/admin/parked/council/", data={"csrf_token": _csrf(page), "action": "drop",
                                                             "message": parked_id})
    assert refused.status_code == 403
    assert site.client().get("/admin/parked/book/").status_code == 303  # nobody signed in: sign in first
    assert _parked(site, "council") == [parked_id] and not _lines(site, "council", "parked.dropped")


@pytest.fixture
def pg_site(pg_settings: Settings, org_doc: dict[str, Any], tmp_path: Path) -> Iterator[Site]:
    s = make_site(pg_settings, org_doc, (SECRETARY, ADMIN))
    yield s
    s.close()


@pytest.mark.distributed
def test_gui_lai_puts_the_message_back_on_its_queue_and_a_worker_applies_it(pg_site: Site) -> None:
    site = pg_site
    token = _token_in_council(site, SECRETARY)
    env = _genuine(site, token)
    redis = redis_client(site.settings)
    counter = f"sovang:deliveries:council:{env['id']}"
    redis.set(counter, 10)
    assert _works_in_council(site, token)
    admin = site.sign_in_page(ADMIN)
    html = admin.get("/admin/parked/council/").get_data(as_text=True)
    assert f'aria-label="Gửi lại thư {env["id"]}"' in html and "10</td>" in html
    assert "cơ sở dữ liệu đang bảo trì" in html and token_hash(token) not in html

    done = admin.post("/admin/parked/council/", data={"csrf_token": _csrf(html), "action": "replay",
                                                      "message": env["id"]}, follow_redirects=True)
    assert done.status_code == 200 and f"Đã gửi lại thư {env['id']} tới hàng đợi council." in done.get_data(as_text=True)
    assert _parked(site, "council") == [] and redis.get(counter) is None
    [line] = _lines(site, "council", "parked.replayed")
    assert (line["role"], line["subject"], line["object"]) == ("admin", ADMIN, env["id"])
    assert line["details"] == {"type": "council.tokens_revoked", "deliveries": 10}

    # On council's queue as it was received; a worker takes it and applies it.
    [raw] = [raw for raw in redis.lrange("council", 0, -1) if json.loads(raw)["headers"]["id"] == env["id"]]
    redis.lrem("council", 0, raw)
    mine = json.loads(raw)
    [args, _kwargs, _embed] = json.loads(base64.b64decode(mine["body"]))
    assert args == [env]
    council_worker.create_worker(runtime=site.runtimes["council"]).tasks[env["type"]](*args)
    assert not _works_in_council(site, token) and _parked(site, "council") == []
    [revoked] = _lines(site, "council", "token.revoked")
    assert (revoked["subject"], revoked["object"]) == (ADMIN, f"unit_secretary:{SECRETARY}")
