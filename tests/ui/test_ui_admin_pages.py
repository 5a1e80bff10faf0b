"""The admin's page ``/admin/`` for program tokens (R24): listed without their secret, revoked one
by one or all of a subject's, at intake at once and by a message to council and book; each
revocation in the audit record with the admin as its actor (R23); a form without its CSRF token
and a person who is not an admin are refused."""

from __future__ import annotations

import json
import re

import sqlalchemy as sa
from ui_helpers import PROVINCE_SECRETARY, SECRETARY, issue
from werkzeug.test import Client

from shared.audit import audit_log
from shared.auth import token_hash
from shared.tables import outbox, tokens
from tests.sessions.site import Site

ADMIN = PROVINCE_SECRETARY  # the admin while SOVANG_ADMINS is unset


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _issue_everywhere(site: Site, role: str, subject: str) -> str:
    """A token as ``sovang token issue`` makes it: the same one in every service's database."""
    token = issue(site.runtimes["intake"], role, subject)
    for name in ("council", "book"):
        with site.runtimes[name].db.unit_of_work() as uow:
            uow.session.execute(tokens.insert().values(
                **{k: v for k, v in _row(site, "intake", token).items() if k != "last_used_at"}))
            uow.commit()
    return token


def _row(site: Site, service: str, token: str) -> dict:
    with site.runtimes[service].db.reading() as s:
        return dict(s.execute(sa.select(tokens).where(tokens.c.token_hash == token_hash(token))).mappings().one())


def _works(site: Site, service: str, token: str) -> bool:
    resp = site.client().get(f"/api/v1/audit/{service}", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code in (200, 401), resp.get_data(as_text=True)
    return resp.status_code == 200


def _audit(site: Site, service: str, action: str) -> list[dict]:
    with site.runtimes[service].db.reading() as s:
        return [dict(r) for r in s.execute(sa.select(audit_log).where(audit_log.c.action == action)).mappings()]


def _sent(site: Site) -> list[dict]:
    with site.runtimes["intake"].db.reading() as s:
        return list(s.execute(sa.select(outbox.c.envelope).where(outbox.c.type.like("%.tokens_revoked"))).scalars())


def test_the_admin_lists_tokens_without_their_secret_and_revokes_one(site: Site) -> None:
    token = _issue_everywhere(site, "unit_secretary", SECRETARY)
    other = _issue_everywhere(site, "province_secretary", PROVINCE_SECRETARY)
    handle = token_hash(token)[:12]
    admin = site.sign_in_page(ADMIN)
    html = admin.get("/admin/").get_data(as_text=True)
    assert "Mã truy cập của chương trình" in html and "2 mã đang có hiệu lực" in html
    assert f"<code>{handle}</code>" in html and "Thư ký đơn vị" in html
    assert f'aria-label="Thu hồi mã {handle} của {SECRETARY}"' in html
    # R24: the page never shows a token, nor the whole of its hash.
    assert token not in html and other not in html and token_hash(token) not in html

    revoked = admin.post("/admin/tokens/", data={"csrf_token": _csrf(html), "token": handle}, follow_redirects=True)
    text = revoked.get_data(as_text=True)
    assert revoked.status_code == 200 and f"Đã thu hồi 1 mã truy cập của {SECRETARY}" in text
    assert "1 mã đang có hiệu lực" in text and f"<code>{handle}</code>" not in text
    # At intake at once; at council and book once the message is delivered (tests/flow).
    assert not _works(site, "intake", token) and _works(site, "intake", other)
    assert _works(site, "council", token) and _works(site, "book", token)
    sent = _sent(site)
    assert sorted(e["type"] for e in sent) == ["book.tokens_revoked", "council.tokens_revoked"]
    assert all(e["payload"]["token_hashes"] == [token_hash(token)] and e["payload"]["by"] == ADMIN for e in sent)
    assert token not in json.dumps(sent)
    # R23: who revoked whose access, in the same transaction; never the token.
    [line] = _audit(site, "intake", "token.revoked")
    assert (line["role"], line["subject"], line["object"]) == ("admin", ADMIN, f"unit_secretary:{SECRETARY}")
    assert line["details"] == {"tokens": 1, "token": handle} and line["unit"] == "CAH-DM"

    again = admin.post("/admin/tokens/", data={"csrf_token": _csrf(html), "token": handle})
    assert again.status_code == 409 and "không còn hiệu lực" in again.get_data(as_text=True)
    assert len(_sent(site)) == 2 and len(_audit(site, "intake", "token.revoked")) == 1


def test_the_admin_revokes_every_token_of_a_subject(site: Site) -> None:
    first = _issue_everywhere(site, "unit_secretary", SECRETARY)
    second = _issue_everywhere(site, "officer", SECRETARY)
    kept = _issue_everywhere(site, "province_secretary", PROVINCE_SECRETARY)
    admin = site.sign_in_page(ADMIN)
    html = admin.get("/admin/").get_data(as_text=True)
    assert '<label for="token-subject">Thu hồi mọi mã của</label>' in html
    assert f'<option value="{SECRETARY}">' in html and ">Thu hồi mọi mã</button>" in html
    done = admin.post("/admin/tokens/", data={"csrf_token": _csrf(html), "subject": SECRETARY}, follow_redirects=True)
    assert done.status_code == 200 and f"Đã thu hồi 2 mã truy cập của {SECRETARY}" in done.get_data(as_text=True)
    assert not _works(site, "intake", first) and _row(site, "intake", second)["revoked_at"] is not None
    assert _works(site, "intake", kept)
    [line] = _audit(site, "intake", "token.revoked")
    assert (line["subject"], line["object"], line["details"]) == (ADMIN, f"*:{SECRETARY}", {"tokens": 2})
    assert {h for e in _sent(site) for h in e["payload"]["token_hashes"]} == {token_hash(first), token_hash(second)}


def test_a_form_without_its_csrf_token_and_a_person_not_admin_are_refused(site: Site, client: Client) -> None:
    token = _issue_everywhere(site, "unit_secretary", SECRETARY)
    handle = token_hash(token)[:12]
    admin = site.sign_in_page(ADMIN)
    forged = admin.post("/admin/tokens/", data={"token": handle})
    assert forged.status_code == 403 and "CSRF" in forged.get_data(as_text=True)
    secretary = site.sign_in_page(SECRETARY)
    assert secretary.get("/admin/").status_code == 403
    page = secretary.get("/unit/").get_data(as_text=True)
    refused = secretary.post("/admin/tokens/", data={"csrf_token": _csrf(page), "token": handle})
    assert refused.status_code == 403 and "vai trò bạn không giữ" in refused.get_data(as_text=True)
    # Nobody signed in: the form is kept for after signing in, nothing revoked.
    assert client.post("/admin/tokens/", data={"token": handle}).status_code == 401
    assert _works(site, "intake", token) and not _sent(site) and not _audit(site, "intake", "token.revoked")


def test_a_revocation_without_a_choice_or_of_an_unknown_handle_says_why(site: Site) -> None:
    admin = site.sign_in_page(ADMIN)
    html = admin.get("/admin/").get_data(as_text=True)
    assert "Không có mã truy cập nào đang có hiệu lực." in html
    empty = admin.post("/admin/tokens/", data={"csrf_token": _csrf(html)})
    assert empty.status_code == 422 and "Hãy chọn mã hoặc chủ thể" in empty.get_data(as_text=True)
    for bad in ("0123456789ab", "<script>", "zz"):
        resp = admin.post("/admin/tokens/", data={"csrf_token": _csrf(html), "token": bad})
        assert resp.status_code == 409, bad
