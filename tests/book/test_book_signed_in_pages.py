"""UI.md: the book's published pages — honour rolls, verification (R15b), the press release (R16) —
are pages like every other: the one layout and stylesheet, and a signed-in person sees who they
are, **Đăng xuất** and the pages of their roles in the masthead. The page is the public one
(nothing private is added, R16), and a person's copy is never stored or cached for the public.

The book believes only the edge's signed assertion (``X-Sovang-Person``, docs/sessions.md): here
it is signed with the deployment's key, as intake signs it."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from book_helpers import PROVINCE, UNIT, deed_copy

from shared.sessions import HEADER, Person, session_key, sign

OFFICER = "CAH-DM-0010"
NAME = "Trung uý Võ Xuân Giang"  # the officer's rank and name in the organisation


def signed(runtime, subject: str = OFFICER, roles: tuple[str, ...] = ("officer",)) -> dict[str, str]:
    who = Person(subject, roles, roles[0], "csrf-token-of-the-session", "digest")
    return {HEADER: sign(who, session_key(runtime.settings))}


def main(html: str) -> str:
    """What a page says, without its masthead."""
    return html[html.index('<main id="noi-dung"'):]


PAGES = ("/honour-roll/", f"/honour-roll/{UNIT}/", f"/honour-roll/{UNIT}/2024-05", f"/honour-roll/{UNIT}/2024-Q2",
         f"/verify/{UNIT}/1", f"/verify/{PROVINCE}/1", "/press/2024-Q2.html")


@pytest.fixture
def inscribed(inscribe):
    inscribe(UNIT, deed=deed_copy("Cứu hai em nhỏ đuối nước ở hồ Tây"), period="2024-05")
    inscribe(PROVINCE, deed=deed_copy("Dập lửa cháy rừng thông Đắk Mil"), period="2024-Q2", round_kind="provincial")


def test_every_published_page_is_on_the_one_layout_signed_in_or_not(client, runtime, inscribed):
    for path in PAGES:
        public = client.get(path)
        assert public.status_code == 200, path
        html = public.data.decode()
        assert 'href="/static/sovang.css"' in html and '<a class="skip" href="#noi-dung">' in html, path
        assert "<style" not in html and "Đăng xuất" not in html and 'class="roles"' not in html, path

        mine = client.get(path, headers=signed(runtime))
        assert mine.status_code == 200, path
        own = mine.data.decode()
        # The masthead of every page, for this person: who, Đăng xuất with the session's CSRF
        # token, and the pages of their roles.
        assert f"{NAME} <span class=\"code\">({OFFICER})</span>" in own, path
        assert re.search(r'<form method="post" action="/session/sign-out"[^>]*>\s*<input type="hidden" '
                         r'name="csrf_token" value="csrf-token-of-the-session">\s*<button[^>]*>Đăng xuất</button>',
                         own), path
        assert '<nav class="roles"' in own and '<a href="/deeds/new">Ghi việc tốt</a>' in own, path
        # The same page otherwise, word for word.
        assert main(own) == main(html), path


def test_a_persons_copy_is_never_cached_for_anyone_and_never_a_304_of_the_public_one(client, runtime, inscribed):
    path = f"/honour-roll/{UNIT}/"
    public = client.get(path)
    assert public.headers["ETag"] and public.headers["Cache-Control"] == "public, no-cache"
    # The browser still holds the public copy from before signing in: it asks with its ETag.
    mine = client.get(path, headers={**signed(runtime), "If-None-Match": public.headers["ETag"]})
    assert mine.status_code == 200 and "Đăng xuất" in mine.data.decode()
    assert mine.headers["Cache-Control"] == "private, no-store"
    assert "ETag" not in mine.headers and "Last-Modified" not in mine.headers
    # The public copy is as it was: its ETag, its 304.
    again = client.get(path, headers={"If-None-Match": public.headers["ETag"]})
    assert again.status_code == 304
    assert client.get(path).data == public.data


def test_a_forged_or_stale_assertion_gets_the_public_page(client, runtime, inscribed):
    path = f"/verify/{UNIT}/1"
    public = client.get(path).data
    forged = sign(Person(OFFICER, ("officer",), "officer", "x", "d"), b"not-the-deployments-key")
    stale = sign(Person(OFFICER, ("officer",), "officer", "x", "d"), session_key(runtime.settings), now=0)
    for value in (forged, stale, "garbage"):
        resp = client.get(path, headers={HEADER: value})
        assert resp.status_code == 200 and resp.data == public and b"\xc4\x90\xc4\x83ng xu\xe1\xba\xa5t" not in resp.data


def test_hostile_text_stays_text_in_a_persons_copy(client, runtime, inscribe):
    """R4a: the deed's text is the stored page's, escaped once; the masthead is the person's."""
    hostile = '<script>alert("x")</script> "><img src=x onerror=alert(1)>'
    inscribe(UNIT, deed=deed_copy(hostile), period="2024-05")
    own = client.get(f"/honour-roll/{UNIT}/2024-05", headers=signed(runtime)).data.decode()
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in own and "<img" not in own
    assert own.count("<script") == 1  # the layout's own /static/sovang.js


def test_pages_stored_before_the_one_layout_are_made_again_on_it(client, runtime, inscribed):
    """Revision 0010: the stored HTML pages of a database written before the book's pages took
    the shared layout go (feeds and PDFs stay); the next request renders each on the layout and
    keeps it again."""
    from alembic import command
    from alembic.config import Config

    from services.book import MIGRATIONS, queries
    from services.book.app import run

    path = f"/honour-roll/{UNIT}/"
    old_look = b"<!doctype html><html lang=\"vi\"><head><style>body{}</style></head><body>old</body></html>"
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(sa.text("UPDATE artifacts SET body = :b WHERE path = :p"), {"b": old_look, "p": path})
        uow.commit()
    feed = run(runtime, queries.artifact, f"/feeds/{UNIT}.atom")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with runtime.db.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        cfg.attributes["settings"] = runtime.settings
        command.downgrade(cfg, "0009_books_closed_at")
        command.upgrade(cfg, "head")
        conn.commit()
    assert run(runtime, queries.artifact, path) is None and run(runtime, queries.artifact, "/honour-roll/") is None
    assert run(runtime, queries.artifact, f"/feeds/{UNIT}.atom").body == feed.body
    page = client.get(path)
    assert page.status_code == 200 and b'href="/static/sovang.css"' in page.data and b"<style" not in page.data
    assert run(runtime, queries.artifact, path).body == page.data  # kept again
