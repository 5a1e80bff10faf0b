"""The book service's use cases: loading the organisation, inscribing (R8, R14, R15) and the pages
it changes one message later (R16), and revoking (R15a). The only place that commits; the
consumers' transactions are committed by ``consume``."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import exc as sa_exc

from services.book import repository as repo
from services.book.domain import paper
from services.book.domain.authority import may_revoke
from services.book.domain.chain import GENESIS
from services.book.domain.entries import (
    INSCRIPTION,
    REVOCATION,
    RevocationRefused,
    check_revocable,
    inscription,
    public_deed,
    revocation,
)
from services.book.domain.figures import scope_of
from services.book.domain.witness import SignedHead
from services.book.publisher import Publisher, Rendered, book_pdf_path, certificate_path, lock_globals
from services.book.signing import keyring
from shared import audit, clock
from shared.auth import Principal
from shared.db import UnitOfWork, utcnow
from shared.messages import DeedInscribed, DeedRevoked, Inscribe, RepublishPages
from shared.org import Organisation, OrgRefused
from shared.orgcopy import store_org
from shared.runtime import Runtime

log = logging.getLogger(__name__)

UNIT = "unit"
PROVINCE = "province"


class UnknownBook(LookupError):
    """No golden book has this code."""


class NotAllowed(PermissionError):
    """The principal may not do this to this book."""


def books_of(org: Organisation) -> dict[str, tuple[str, str]]:
    """{code: (name, kind)}: one book per unit, and the provincial book."""
    found = {org.province_code: (org.province_name, PROVINCE)}
    for unit in org.units.values():
        found[unit.code] = (unit.name, UNIT)
    return found


def closed_message(code: str) -> str:
    return f"Sổ vàng {code} đã khoá vì đơn vị không còn trong tổ chức (R25): sổ vẫn công khai, không ghi thêm mục nào."


def _org_problems(session: Any, org: Organisation) -> list[str]:
    """R25: a closed book is never written again, so no unit (or province) may take its code back."""
    closed = sorted(b.code for b in repo.all_books(session) if b.closed_at is not None and b.code in org.book_codes())
    return [f"Mã {code} là của sổ vàng đã khoá (đơn vị đó đã không còn trong tổ chức): sổ đã khoá không bao giờ "
            f"được ghi tiếp, đơn vị mới phải mang mã mới." for code in closed]


def check_org(runtime: Runtime, doc: dict[str, Any]) -> list[str]:
    """R25: why this organisation may not replace the loaded one here; empty when it may."""
    org = Organisation.loadable(doc)
    with runtime.db.reading() as s:
        return _org_problems(s, org)


def load_org(runtime: Runtime, doc: dict[str, Any]) -> bool:
    """Keep the organisation and open a golden book for each unit and the province; the same
    document again changes nothing (returns False). R25: the book of a unit (or province) the
    document no longer names is closed — kept, public and verifiable, never written again; a
    document that names a closed book's code again is refused (``OrgRefused``), nothing written."""
    with runtime.db.unit_of_work() as uow:
        changed = load_org_in(uow, doc)
        if changed:
            uow.commit()
    return changed


def load_org_in(uow: UnitOfWork, doc: dict[str, Any], actor: audit.Actor = audit.CLI,
                details: dict[str, Any] | None = None) -> bool:
    """``load_org`` in the caller's transaction, which commits (the consumer of a load asked for
    on the admin's page, ``shared.org_steps``); ``actor`` and ``details`` go on its R23 lines."""
    org = Organisation.loadable(doc)
    found = _org_problems(uow.session, org)
    if found:
        raise OrgRefused(found)
    if not store_org(uow, doc, actor, details):
        return False
    now = utcnow().replace(microsecond=0)
    publisher = Publisher(uow.session, org)
    for code, (name, kind) in books_of(org).items():
        book = repo.get_book(uow.session, code)
        if book is None:
            repo.add_book(uow.session, code, name, kind, now)
        elif book.name != name:
            repo.rename_book(uow.session, code, name)
        else:
            continue
        publisher.book_created(code, now)
    current = org.book_codes()
    for book in repo.all_books(uow.session):
        if book.closed_at is None and book.code not in current:
            repo.close_book(uow.session, book.code, now)
            publisher.book_created(book.code, now)  # its honour roll says it is closed
            audit.record(uow, actor, "book.closed", book.code,
                         {"entries": book.entries, "head": book.head}, unit=book.code, at=now)
    publisher.globals_changed(now)
    return True


def _locked_book(runtime: Runtime, uow: UnitOfWork, code: str) -> Any:
    """The book's head row, locked; a book the organisation names but that is not open yet
    (an organisation loaded since) is opened here."""
    book = repo.lock_book(uow.session, code)
    if book is not None:
        return book
    org = runtime.orgs.get()
    known = books_of(org) if org else {}
    if code not in known:
        raise UnknownBook(code)
    name, kind = known[code]
    repo.add_book(uow.session, code, name, kind, utcnow().replace(microsecond=0))
    return repo.lock_book(uow.session, code)


def _entry_time(book: Any) -> dt.datetime:
    """Now, to the second, and never before the book's last entry (feeds stay in order)."""
    now = utcnow().replace(microsecond=0)
    return max(now, book.updated_at) if book.updated_at else now


def _advance(
    runtime: Runtime, uow: UnitOfWork, fields: dict[str, Any], at: dt.datetime, signed_at: str | None = None
) -> SignedHead:
    """The book's new head (R15) and its signature (R15b), in the entry's transaction: one
    signature per entry, by the key that lives outside the database. Signed at the entry's
    instant unless ``signed_at`` says otherwise (a paper entry's date is not when it is signed)."""
    code, seq = fields["book"], fields["seq"]
    repo.advance_book(uow.session, code, seq, fields["hash"], at)
    signed = keyring(runtime.settings).sign(code, seq, fields["hash"], signed_at or fields["inscribed_at"])
    repo.add_head(uow.session, signed)
    return signed


def _publish(
    runtime: Runtime, uow: UnitOfWork, code: str, touched: set[int], at: dt.datetime, part: str = "all",
    signed: SignedHead | None = None,
) -> None:
    """Regenerate the publications entries change, in their transaction: ``"all"`` of them;
    ``"feeds"``, the feeds (the pages and global publications are dropped, to be rendered on
    request until ``republish_pages`` stores them); ``"pages"``, those pages. A failure to render
    never loses the entry: the stale artifacts go and requests render them afresh."""
    publisher = Publisher(uow.session, runtime.orgs.get())
    if signed is not None:
        publisher.knows_head(signed)
    if part == "all":
        repo.drop_artifact(uow.session, book_pdf_path(code))  # "feeds" drops it with the pages
    try:
        with uow.session.begin_nested():
            if part in ("all", "feeds"):
                publisher.feeds_changed(code, touched, at)
            if part == "feeds":
                publisher.pages_stale(code, touched, at)
            else:
                publisher.pages_changed(code, touched, at)
    except Exception:
        log.exception("publishing %s of book %s after entries %s failed; serving it unrendered", part, code,
                      sorted(touched))
        repo.drop_artifacts(uow.session, code)


def _count(uow: UnitOfWork, book_kind: str, deed_id: object, at: dt.datetime) -> None:
    """R16: keep the running figures' counts in step with the entry just added (its transaction)."""
    lock_globals(uow.session, at)
    repo.settle_figure(uow.session, scope_of(book_kind), None if deed_id is None else str(deed_id))


def store_certificate(
    runtime: Runtime, code: str, seq: int, made: Rendered, at: dt.datetime, revoked: bool, path: str | None = None
) -> None:
    """Keep a certificate rendered on request, unless the entry's revocation state changed since
    it was rendered (R15a: a certificate is never stored valid once revoked). Under the book's
    lock, as a revocation drops it under the same lock."""
    try:
        with runtime.db.unit_of_work() as uow:
            if repo.lock_book(uow.session, code) is None:
                return
            if (repo.revocations_of(uow.session, code, [seq]).get(seq) is not None) != revoked:
                return
            repo.put_artifact(uow.session, path or certificate_path(code, seq), code, made.content_type, made.body, at)
            uow.commit()
    except sa_exc.IntegrityError:
        log.info("certificate %s/%s stored by another request meanwhile", code, seq)


def keep_rendered(
    runtime: Runtime, code: str, path: str, made: Rendered, entries: int, at: dt.datetime
) -> None:
    """Keep a page rendered on request (a period's honour roll, a press release) so that it is
    rendered once, not per request; only if the book has had no entry since it was rendered
    (``entries``): under the book's lock, as an inscription drops the pages it changes
    (``Publisher.pages_stale``) under the same lock."""
    try:
        with runtime.db.unit_of_work() as uow:
            row = repo.lock_book(uow.session, code)
            if row is None or row.entries != entries:
                return
            repo.add_artifact(uow.session, path, code, made.content_type, made.body, at)
            uow.commit()
    except sa_exc.IntegrityError:
        log.info("%s stored by another request meanwhile", path)


def inscribe(runtime: Runtime, uow: UnitOfWork, msg: Inscribe) -> int | None:
    """R8, R14, R15: append the inscription to its book (next ``seq``, chained to the head) and
    tell intake; a command already applied (same ``source``) creates nothing (returns None)."""
    book = _locked_book(runtime, uow, msg.book)
    # Checked under the book's lock, so two deliveries at once cannot both pass.
    if repo.source_exists(uow.session, msg.source):
        log.info("inscription %s already in book %s", msg.source, msg.book)
        return None
    if repo.deed_revoked(uow.session, str(msg.deed.get("id"))):
        # R15a: a revoked recognition is never inscribed again, in any book (a unit book's
        # revocation stops the provincial inscription of a round that closed before it).
        log.warning("inscription %s of deed %s in book %s refused: the deed's recognition was revoked",
                    msg.source, msg.deed.get("id"), msg.book)
        return None
    if book.closed_at is not None:
        # R25: a closed book is never written again. The deed stays recognised where it was
        # decided (council's decision and tally); the refusal is on the audit record of the book.
        log.warning("inscription %s of deed %s refused: book %s is closed", msg.source, msg.deed.get("id"), msg.book)
        audit.record(uow, audit.system("council"), "entry.refused", msg.book, {
            "deed_id": msg.deed.get("id"), "decision": msg.decision.get("number"), "source": msg.source,
            "reason": "book_closed"}, unit=msg.book)
        return None
    at = _entry_time(book)
    org = runtime.orgs.get()
    author_name = org.author_name(msg.deed.get("author") or {}) if org else None
    deed = public_deed(msg.deed, author_name)
    seq = book.entries + 1
    fields = inscription(
        book=msg.book, seq=seq, prev_hash=book.head or GENESIS, deed=deed, decision=msg.decision,
        tally=msg.tally, at=at,
    )
    repo.insert_entry(uow.session, fields, msg.source, at)
    signed = _advance(runtime, uow, fields, at)
    _count(uow, book.kind, deed.get("id"), at)
    # The feeds are what readers wait for; the pages it changes are dropped now (rendered on
    # request meanwhile) and stored again one message later, a message in this transaction's
    # outbox, so they can never be left missing for good.
    _publish(runtime, uow, msg.book, {seq}, at, "feeds", signed)
    audit.record(uow, audit.system("council"), "entry.inscribed", f"{msg.book}:{seq}", {
        "deed_id": deed.get("id"), "decision": msg.decision.get("number"), "source": msg.source,
    }, unit=msg.book, at=at)
    uow.emit_many([
        DeedInscribed(deed_id=deed["id"], book=msg.book, seq=seq, kind=INSCRIPTION),
        RepublishPages(book=msg.book, seqs=[seq], at=clock.isoformat(at)),
    ])
    return seq


def republish_pages(runtime: Runtime, uow: UnitOfWork, msg: RepublishPages) -> bool:
    """R16: regenerate the pages and global publications of inscriptions, after their own
    transactions. Rendered from what the book holds now, for every entry after the last one whose
    pages are published (``books.pages_seq``): in a burst the first message publishes the pages of
    all, and the others, a redelivery included, find nothing left to do. Returns whether the
    message names entries of the book (False for a book or entry that does not exist)."""
    book = repo.lock_book(uow.session, msg.book)
    seqs = {s for s in msg.seqs if 1 <= s <= (book.entries if book is not None else 0)}
    if not seqs:
        log.warning("no entries %s in book %s to republish pages for", msg.seqs, msg.book)
        return False
    if max(seqs) <= book.pages_seq:
        return True  # published already, with a later entry's
    touched = seqs | set(range(book.pages_seq + 1, book.entries + 1))
    at = dt.datetime.fromisoformat(msg.at)
    if book.updated_at is not None and book.entries > max(seqs):
        # Later entries are on the pages too: they date from the latest of them.
        at = max(at, book.updated_at)
    _publish(runtime, uow, msg.book, touched, clock.local(at), "pages")
    repo.pages_published(uow.session, msg.book, book.entries)
    return True


def revoke(runtime: Runtime, principal: Principal, code: str, seq: int, reason: str) -> dict[str, Any]:
    """R15a: append a revocation of entry ``seq`` with its reason; the revoked deed leaves the
    pages and feeds with a notice and stays in the chain. Returns the new entry."""
    org = runtime.orgs.require()
    with runtime.db.unit_of_work() as uow:
        book = repo.lock_book(uow.session, code)
        if book is None:
            raise UnknownBook(code)
        if book.closed_at is not None:
            raise RevocationRefused("book_closed", closed_message(code))
        if not may_revoke(org, principal.role, principal.subject, code):
            raise NotAllowed(code)
        target = repo.entry(uow.session, code, seq)
        check_revocable(target, repo.revocations_of(uow.session, code, [seq]).get(seq))
        at = _entry_time(book)
        new_seq = book.entries + 1
        decision = {
            "date": clock.local(at).date().isoformat(),
            "issuer": code,
            "issuer_name": book.name,
            "by": principal.subject,
            "role": principal.role,
        }
        fields = revocation(
            book=code, seq=new_seq, prev_hash=book.head or GENESIS, target=target, reason=reason,
            decision=decision, at=at,
        )
        repo.insert_entry(uow.session, fields, f"{REVOCATION}:{code}:{seq}", at)
        signed = _advance(runtime, uow, fields, at)
        _count(uow, book.kind, (target["deed"] or {}).get("id"), at)
        # R15a: the certificate stored for the entry must not go on being served as valid; the
        # next request renders the notice of its revocation in its place.
        repo.drop_artifact_variants(uow.session, certificate_path(code, seq))
        deed = target["deed"] or {}
        uow.emit_many([
            DeedInscribed(deed_id=deed["id"], book=code, seq=new_seq, kind=REVOCATION),
            # R15a: council withdraws it from open rounds and never puts it to the vote again.
            DeedRevoked(deed_id=deed["id"], unit=str(deed.get("unit") or ""),
                        month=str(deed.get("occurred_on") or "")[:7], book=code, seq=new_seq, revokes=seq),
        ])
        _publish(runtime, uow, code, {seq, new_seq}, at, signed=signed)
        audit.record(uow, principal, "entry.revoked", f"{code}:{seq}",
                     {"revocation": new_seq, "deed_id": target["deed"]["id"], "reason": reason}, unit=code, at=at)
        uow.commit()
    return dict(fields)


class ImportRefused(Exception):
    """R22: the paper book cannot be imported; nothing was written. ``errors`` names each problem
    by its place in the file (``entries[3].deed.title``), in Vietnamese."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


def import_paper_book(runtime: Runtime, document: Any, actor: audit.Actor = audit.CLI) -> list[dict[str, Any]]:
    """R22: enter a paper book once, in order, into a book that has no entry yet: each entry an
    inscription marked as from the paper book, with its original decision and tally, chained and
    its head signed as any other (R15, R15b), counted in the running figures (R16); R3 does not
    apply. All or nothing, in one transaction, recorded (R23) as done by ``actor`` (the operator at
    the command line). Returns the new entries."""
    org = runtime.orgs.get()
    if org is None:
        raise ImportRefused("Chưa nạp tổ chức: chạy `sovang org load FILE.json` trước.")
    try:
        paper_book = paper.read(document, dt.date.fromisoformat(org.since), clock.today())
    except paper.PaperBookInvalid as invalid:
        raise ImportRefused("Tệp sổ giấy không hợp lệ: không mục nào được nhập.", invalid.errors) from None
    code = paper_book.book
    with runtime.db.unit_of_work() as uow:
        try:
            book = _locked_book(runtime, uow, code)
        except UnknownBook:
            raise ImportRefused(f"Không có sổ vàng mã {code}.", {"book": ["Không có sổ vàng này."]}) from None
        if book.closed_at is not None:
            raise ImportRefused(f"Sổ vàng {code} đã khoá (R25): không được ghi thêm.", {"book": ["Sổ đã khoá."]})
        if book.entries:
            raise ImportRefused(
                f"Sổ vàng {code} đã có {book.entries} mục: sổ giấy chỉ được nhập vào một sổ chưa có mục nào.",
                {"book": ["Sổ đã có mục."]},
            )
        now = utcnow().replace(microsecond=0)
        signed_at = clock.isoformat(clock.local(now))
        head, created = GENESIS, []
        signed = None
        for seq, entry in enumerate(paper_book.entries, 1):
            deed = public_deed(entry.deed, org.author_name(entry.deed["author"]))
            decision = {**entry.decision, "issuer": code, "issuer_name": book.name}
            # Only the day is known: the entry stands at its start, Asia/Ho_Chi_Minh.
            at = clock.at_local(entry.inscribed_on, 0)
            fields = inscription(book=code, seq=seq, prev_hash=head, deed=deed, decision=decision, tally=entry.tally,
                                 at=at)
            repo.insert_entry(uow.session, fields, f"{paper.PAPER}:{code}:{seq}", at)
            signed = _advance(runtime, uow, fields, now, signed_at)
            _count(uow, book.kind, deed["id"], now)
            head = fields["hash"]
            created.append(dict(fields))
        _publish(runtime, uow, code, set(range(1, len(created) + 1)), now, signed=signed)
        repo.pages_published(uow.session, code, len(created))
        audit.record(uow, actor, "book.imported", code, {
            "entries": len(created), "first_decision": created[0]["decision"]["number"],
            "last_decision": created[-1]["decision"]["number"], "head": head,
        }, unit=code, at=now)
        uow.commit()
    log.info("paper book %s imported: %d entries", code, len(created))
    return created
