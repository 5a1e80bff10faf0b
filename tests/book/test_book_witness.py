"""R15b: the witnessed chain — every head signed by the book service's Ed25519 key (outside the
database), the heads and keys published, feeds and pages carrying the signed head, ``verify``
holding the chain against every head ever signed, the verification page, and the certificate's
QR code of it. The central case: a book rewritten in the database from entry 1 with fresh,
self-consistent hashes passes the chain check alone, and is named as broken at entry 1."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from io import BytesIO

import pytest
import segno
import sqlalchemy as sa
from book_helpers import PROVINCE, UNIT, UNIT_SECRETARY, deed_copy, make_runtime, revoke
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fpdf import FPDF
from pypdf import PdfReader

from services.book import repository as repo
from services.book import signing
from services.book.app import create_app
from services.book.domain import chain, witness
from services.book.domain import publication as pub
from services.book.domain.witness import SignedHead
from services.book.orm import books, entries, heads
from services.book.publication.pdf import qr_code
from shared.auth import Principal
from shared.runtime import Runtime

SV = "{urn:sovang:book}"


def public_keys(client) -> dict[str, Ed25519PublicKey]:  # noqa: ANN001
    body = client.get("/api/v1/books/keys").get_json()
    return {k["key_id"]: Ed25519PublicKey.from_public_bytes(base64.b64decode(k["public_key"])) for k in body["items"]}


def signature_holds(signed: dict, keys: dict[str, Ed25519PublicKey]) -> bool:
    """What a press office checks with nothing but the published key (no code of ours but the
    canonical form, which README documents)."""
    msg = chain.canonical({"format": "sovang-head/1", "book": signed["book"], "entries": signed["entries"],
                           "head": signed["head"], "signed_at": signed["signed_at"]})
    try:
        keys[signed["key_id"]].verify(base64.b64decode(signed["signature"]), msg)
    except Exception:  # noqa: BLE001 - any failure is "does not hold"
        return False
    return True


# -- the rule, alone ----------------------------------------------------------------------------
def _heads(hashes: dict[int, str], book: str = "B") -> list[SignedHead]:
    return [SignedHead(book, n, h, f"2024-06-0{n}T10:00:00+07:00", "sig", "k") for n, h in hashes.items()]


def test_every_signed_head_that_matches_witnesses_the_chain_up_to_it():
    stored = {1: "a", 2: "b", 3: "c"}
    found = witness.check(stored, 3, _heads(stored), lambda h: True)
    assert found.valid and found.signed == 3 and found.latest.entries == 3


def test_a_rewritten_chain_is_named_at_the_first_head_it_contradicts():
    signed = _heads({1: "a", 2: "b", 3: "c"})
    found = witness.check({1: "a", 2: "x", 3: "y"}, 3, signed, lambda h: True)
    assert (found.first_bad_seq, found.latest.entries) == (2, 1)
    assert "mục số 2" in found.problem


def test_entries_after_the_last_signed_head_are_unwitnessed():
    found = witness.check({1: "a", 2: "b"}, 2, _heads({1: "a"}), lambda h: True)
    assert found.first_bad_seq == 2 and "không có đầu chuỗi nào được ký" in found.problem
    assert witness.check({1: "a"}, 1, [], lambda h: True).first_bad_seq == 1


def test_a_head_whose_signature_fails_counts_for_nothing_and_is_named():
    stored = {1: "a", 2: "b"}
    found = witness.check(stored, 2, _heads(stored), lambda h: h.entries != 2)
    assert found.first_bad_seq == 2 and found.signed == 1 and "chữ ký" in found.problem


def test_a_signed_head_beyond_the_book_finds_a_truncation():
    found = witness.check({1: "a"}, 1, _heads({1: "a", 2: "b"}), lambda h: True)
    assert found.first_bad_seq == 2


# -- keys ---------------------------------------------------------------------------------------
def test_the_key_is_generated_once_into_sovang_home_and_published(runtime, client, inscribe):
    inscribe(UNIT)
    path = runtime.settings.home / "book-keys" / "signing.pem"
    assert path.exists() and path.stat().st_mode & 0o077 == 0  # the private key is the owner's alone
    keys = client.get("/api/v1/books/keys").get_json()
    assert keys["next"] is None and len(keys["items"]) == 1
    key = keys["items"][0]
    assert (key["algorithm"], key["current"]) == ("Ed25519", True)
    assert key["key_id"] == signing.keyring(runtime.settings).key_id
    assert "PRIVATE" not in json.dumps(keys)


def test_a_key_given_by_setting_is_used(tmp_path, org_document):
    pem = tmp_path / "secret" / "book.pem"
    pem.parent.mkdir()
    pem.write_bytes(signing.new_private_pem())
    from shared.config import Settings

    settings = Settings.from_env({"SOVANG_HOME": str(tmp_path / "home"), "SOVANG_BOOK_SIGNING_KEY": str(pem)})
    rt = make_runtime(settings, org_document)
    try:
        ring = signing.keyring(settings)
        assert ring.private_path == pem
        assert not (tmp_path / "home" / "book-keys" / "signing.pem").exists()
        assert (tmp_path / "home" / "book-keys" / "public" / f"{ring.key_id}.pem").exists()
    finally:
        rt.db.dispose()


def test_rotation_keeps_the_old_key_listed_and_its_heads_valid(runtime, client, inscribe):
    inscribe(UNIT)
    old, new = signing.rotate(runtime.settings)
    assert old != new
    inscribe(UNIT)
    listed = {k["key_id"]: k["current"] for k in client.get("/api/v1/books/keys").get_json()["items"]}
    assert listed == {old: False, new: True}
    items = client.get(f"/api/v1/books/{UNIT}/heads").get_json()["items"]
    assert [(h["entries"], h["key_id"]) for h in items] == [(2, new), (1, old)]
    assert all(signature_holds(h, public_keys(client)) for h in items)
    assert client.get(f"/api/v1/books/{UNIT}/verify").get_json()["valid"] is True


# -- heads --------------------------------------------------------------------------------------
def test_every_entry_signs_a_head_listed_newest_first(client, runtime, inscribe, token):
    for n in range(3):
        inscribe(UNIT, deed=deed_copy(f"Việc tốt {n}"))
    r = client.post(f"/api/v1/books/{UNIT}/revocations", json={"seq": 2, "reason": "Sai sự thật"},
                    headers={"Authorization": f"Bearer {token('unit_secretary', UNIT_SECRETARY)}"})
    assert r.status_code == 201
    body = client.get(f"/api/v1/books/{UNIT}/heads").get_json()
    assert body["next"] is None
    assert [h["entries"] for h in body["items"]] == [4, 3, 2, 1]
    hashes = {e["seq"]: e["hash"] for e in client.get(f"/api/v1/books/{UNIT}/entries").get_json()["items"]}
    for h in body["items"]:
        assert set(h) >= {"entries", "head", "signed_at", "signature", "key_id"}
        assert h["head"] == hashes[h["entries"]] and h["signed_at"].endswith("+07:00")
        assert signature_holds(h, public_keys(client))
    first = client.get(f"/api/v1/books/{UNIT}/heads?limit=3").get_json()
    assert [h["entries"] for h in first["items"]] == [4, 3, 2] and first["next"]
    rest = client.get(f"/api/v1/books/{UNIT}/heads?limit=3&cursor={first['next']}").get_json()
    assert [h["entries"] for h in rest["items"]] == [1] and rest["next"] is None
    assert client.get("/api/v1/books/NOPE/heads").status_code == 404
    assert client.get(f"/api/v1/books/{UNIT}/heads?limit=0").status_code == 422


def test_the_feeds_and_the_book_page_carry_the_signed_head(client, inscribe, monkeypatch):
    monkeypatch.setattr(pub, "FEED_PAGE", 2)
    for n in range(3):
        inscribe(UNIT, deed=deed_copy(f"Việc tốt {n}"))
    keys = public_keys(client)
    newest = client.get(f"/api/v1/books/{UNIT}/heads").get_json()["items"][0]
    for fmt in ("atom", "rss"):
        tree = ET.fromstring(client.get(f"/feeds/{UNIT}.{fmt}").data)
        found = next(tree.iter(f"{SV}chain"))
        signed = {"book": found.get("book"), "entries": int(found.get("entries")), "head": found.get("head"),
                  "signed_at": found.get("signed_at"), "signature": found.get("signature"), "key_id": found.get("key_id")}
        assert signed == newest and signature_holds(signed, keys)
    assert json.loads(client.get(f"/feeds/{UNIT}.json").data)["_sovang"]["signed_head"] == newest
    # An archive keeps the head signed at its last entry, whatever came after.
    archive = json.loads(client.get(f"/feeds/{UNIT}/archive/1.json").data)["_sovang"]["signed_head"]
    assert archive["entries"] == 2 and signature_holds(archive, keys)
    page = client.get(f"/honour-roll/{UNIT}/").data.decode()
    assert newest["signature"] in page and newest["key_id"] in page


# -- a rewritten chain --------------------------------------------------------------------------
def rewrite_whole_book(runtime: Runtime, code: str, title: str) -> None:
    """What someone who can write the book's tables does: change entry 1, then recompute every
    hash from entry 1 so the chain is self-consistent, and the book's head with it."""
    with runtime.db.unit_of_work() as uow:
        s = uow.session
        prev = chain.GENESIS
        for row in repo.stored_entries(s, code):
            fields = chain.stored_fields(row)
            if row["seq"] == 1:
                fields["deed"] = {**fields["deed"], "title": title}
            fields["prev_hash"] = prev
            sealed = chain.seal(fields)
            s.execute(entries.update().where(entries.c.book == code, entries.c.seq == row["seq"]).values(
                deed=chain.canonical_text(sealed["deed"]), prev_hash=prev, hash=sealed["hash"]))
            prev = sealed["hash"]
        s.execute(books.update().where(books.c.code == code).values(head=prev))
        uow.commit()


def rewritten_book_is_caught(runtime: Runtime) -> None:
    client = create_app(runtime=runtime).test_client()
    for n in range(3):
        services_inscribe(runtime, f"Việc tốt số {n}")
    revoke(runtime, Principal(subject=UNIT_SECRETARY, role="unit_secretary"), UNIT, 3, "Sai sự thật")
    assert client.get(f"/api/v1/books/{UNIT}/verify").get_json()["valid"] is True
    assert "nguyên vẹn đến mục số 2" in client.get(f"/verify/{UNIT}/2").data.decode()

    rewrite_whole_book(runtime, UNIT, "Một việc chưa từng được công nhận")
    # The rewrite is self-consistent: the chain alone (R15) finds nothing wrong.
    with runtime.db.reading() as s:
        book = s.execute(sa.select(books).where(books.c.code == UNIT)).first()
        alone = chain.verify(UNIT, repo.stored_entries(s, UNIT), book.entries, book.head)
    assert alone.valid
    assert client.get(f"/api/v1/books/{UNIT}/entries/1").get_json()["deed"]["title"] == "Một việc chưa từng được công nhận"

    # R15b: against every head ever signed, it is broken from entry 1.
    verdict = client.get(f"/api/v1/books/{UNIT}/verify").get_json()
    assert (verdict["valid"], verdict["first_bad_seq"]) == (False, 1), verdict
    assert "đầu chuỗi đã ký" in verdict["problem"]
    page = client.get(f"/verify/{UNIT}/2")
    assert page.status_code == 200
    text = page.data.decode()
    assert "CHUỖI KHÔNG NGUYÊN VẸN" in text and "sai từ mục số 1" in text

    # Rewriting the signed heads too does not help: their signatures no longer hold…
    fresh = {e["seq"]: e["hash"] for e in client.get(f"/api/v1/books/{UNIT}/entries").get_json()["items"]}
    with runtime.db.unit_of_work() as uow:
        for seq, h in fresh.items():
            uow.session.execute(heads.update().where(heads.c.book == UNIT, heads.c.entries == seq).values(head=h))
        uow.commit()
    verdict = client.get(f"/api/v1/books/{UNIT}/verify").get_json()
    assert (verdict["valid"], verdict["first_bad_seq"]) == (False, 1) and "chữ ký" in verdict["problem"]
    # … signing them with another key is signing with a key nobody listed…
    forger = Ed25519PrivateKey.generate()
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(heads.delete().where(heads.c.book == UNIT))
        for seq, h in fresh.items():
            at = "2024-06-07T17:00:00+07:00"
            sig = base64.b64encode(forger.sign(witness.message(UNIT, seq, h, at))).decode()
            uow.session.execute(heads.insert().values(book=UNIT, entries=seq, head=h, signed_at=at, signature=sig,
                                                      key_id=signing.keyring(runtime.settings).key_id))
        uow.commit()
    assert client.get(f"/api/v1/books/{UNIT}/verify").get_json()["first_bad_seq"] == 1
    # … and deleting them leaves the book unwitnessed from entry 1.
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(heads.delete().where(heads.c.book == UNIT))
        uow.commit()
    verdict = client.get(f"/api/v1/books/{UNIT}/verify").get_json()
    assert (verdict["valid"], verdict["first_bad_seq"]) == (False, 1)
    assert "CHUỖI KHÔNG NGUYÊN VẸN" in client.get(f"/verify/{UNIT}/1").data.decode()
    # Another book is untouched by all this.
    assert client.get(f"/api/v1/books/{PROVINCE}/verify").get_json()["valid"] is True


def services_inscribe(runtime: Runtime, title: str) -> None:
    from book_helpers import deliver, inscribe_command, republish

    deliver(runtime, inscribe_command(UNIT, deed=deed_copy(title)))
    republish(runtime)


def test_a_book_rewritten_from_entry_1_fails_verification(runtime):
    rewritten_book_is_caught(runtime)


@pytest.mark.distributed
def test_a_book_rewritten_from_entry_1_fails_verification_on_postgresql(web):
    rewritten_book_is_caught(web)


# -- the verification page ----------------------------------------------------------------------
def test_the_verification_page_shows_the_entry_its_revocation_and_the_signed_head(client, inscribe, token):
    inscribe(UNIT, deed=deed_copy("Cứu hai em nhỏ đuối nước ở hồ Tây"))
    inscribe(UNIT, deed=deed_copy("Trả lại ví cho người đánh rơi"))
    page = client.get(f"/verify/{UNIT}/1").data.decode()
    assert "Cứu hai em nhỏ đuối nước ở hồ Tây" in page and "còn hiệu lực" in page
    assert "nguyên vẹn đến mục số 1" in page
    signed = client.get(f"/api/v1/books/{UNIT}/heads").get_json()["items"]
    assert signed[1]["signature"] in page and signed[0]["signature"] in page  # its own head and the newest
    r = client.post(f"/api/v1/books/{UNIT}/revocations", json={"seq": 1, "reason": "Khai báo không trung thực"},
                    headers={"Authorization": f"Bearer {token('unit_secretary', UNIT_SECRETARY)}"})
    assert r.status_code == 201
    page = client.get(f"/verify/{UNIT}/1").data.decode()
    assert "đã bị thu hồi (mục số 3)" in page and "Khai báo không trung thực" in page
    assert "Cứu hai em nhỏ đuối nước ở hồ Tây" not in page  # R15a: the revoked deed leaves the public pages
    assert "mục thu hồi" in client.get(f"/verify/{UNIT}/3").data.decode()
    assert client.get(f"/verify/{UNIT}/9").status_code == 404
    assert client.get("/verify/NOPE/1").status_code == 404


def test_feed_entries_link_to_their_verification_page(client, inscribe):
    inscribe(UNIT)
    atom = ET.fromstring(client.get(f"/feeds/{UNIT}.atom").data)
    entry = atom.find("{http://www.w3.org/2005/Atom}entry")
    links = {link.get("rel", "alternate"): link.get("href") for link in entry.findall("{http://www.w3.org/2005/Atom}link")}
    assert links["alternate"] == f"http://localhost/verify/{UNIT}/1"
    assert client.get(links["alternate"].removeprefix("http://localhost")).status_code == 200


# -- the certificate's QR code ------------------------------------------------------------------
def test_the_qr_code_draws_every_dark_module_of_segnos_matrix():
    url = "https://sovang.example.vn/verify/CAH-DM/12"
    doc = FPDF()
    doc.compress = False
    doc.add_page()
    qr_code(doc, url, 10, 10, 30)
    content = bytes(doc.output())
    runs = 0
    for row in segno.make(url, error="m", micro=False).matrix:
        runs += sum(1 for i, dark in enumerate(row) if dark and (i == 0 or not row[i - 1]))
    assert content.count(b" re f") == runs + 1  # and the white square under it


def test_the_certificate_carries_the_address_of_its_verification_page(runtime, client, inscribe, org_document):
    inscribe(UNIT)
    text = PdfReader(BytesIO(client.get(f"/api/v1/books/{UNIT}/entries/1/certificate.pdf").data)).pages[0].extract_text()
    assert f"http://localhost/verify/{UNIT}/1" in text
    # With a public URL configured, that is the origin whatever the request's.
    public = create_app(runtime=runtime.__class__(
        runtime.service, runtime.settings.with_(public_url="https://sovang.congan.example.vn"), runtime.db,
        runtime.orgs, runtime.migrations)).test_client()
    body = public.get(f"/api/v1/books/{UNIT}/entries/1/certificate.pdf", base_url="http://10.0.0.7:8000").data
    text = PdfReader(BytesIO(body)).pages[0].extract_text()
    assert f"https://sovang.congan.example.vn/verify/{UNIT}/1" in text
    feed = public.get(f"/feeds/{UNIT}.json", base_url="http://10.0.0.7:8000").get_json()
    assert feed["items"][0]["url"] == f"https://sovang.congan.example.vn/verify/{UNIT}/1"
