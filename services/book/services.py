"""The book's use cases: ``fn(uow, ctx, actor, …)`` over the book's unit of work (``work.Work``),
a context (``shared.context``) and the actor — loading the organisation (R25), inscribing (R8,
R14, R15) and the pages it changes one message later (R16), revoking (R15a) and importing a paper
book (R22). A use case decides and writes; it never commits: whoever opened the unit of work — the
web request (``shared.endpoint``), the message (``shared.outbox.consume``), the command
(``app.run``) — commits once, or rolls back what a refusal (``shared.refusals``) left.

The book's consumers and commands give a context whose organisation may be none yet
(``app.context``): a message can arrive before an organisation is loaded.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from services.book.domain import paper
from services.book.domain.authority import may_revoke
from services.book.domain.book import PROVINCE, UNIT, Book
from services.book.domain.chain import GENESIS
from services.book.domain.entries import (
    INSCRIPTION,
    REVOCATION,
    Entry,
    check_revocable,
    inscription,
    public_deed,
    revocation,
)
from services.book.domain.witness import SignedHead
from services.book.signing import keyring
from services.book.work import Work
from shared import audit, clock
from shared.context import Context
from shared.messages import DeedInscribed, DeedRevoked, Inscribe, RepublishPages
from shared.org import Organisation, OrgRefused
from shared.refusals import Conflict, Forbidden, Invalid, NotFound

log = logging.getLogger(__name__)

__all__ = ["PROVINCE", "UNIT"]


def books_of(org: Organisation) -> dict[str, tuple[str, str]]:
    """{code: (name, kind)}: one book per unit, and the provincial book."""
    found = {org.province_code: (org.province_name, PROVINCE)}
    for unit in org.units.values():
        found[unit.code] = (unit.name, UNIT)
    return found


def closed_message(code: str) -> str:
    return f"Sổ vàng {code} đã khoá vì đơn vị không còn trong tổ chức (R25): sổ vẫn công khai, không ghi thêm mục nào."


def _organisation(ctx: Context) -> Organisation | None:
    """The organisation loaded, or None where the entrypoint's context allows none yet."""
    return ctx.organisations()


# -- the organisation (R25) -------------------------------------------------------------------------
def _org_problems(uow: Work, org: Organisation) -> list[str]:
    """R25: a closed book is never written again, so no unit (or province) may take its code back."""
    closed = sorted(b.code for b in uow.books.every() if b.closed and b.code in org.book_codes())
    return [f"Mã {code} là của sổ vàng đã khoá (đơn vị đó đã không còn trong tổ chức): sổ đã khoá không bao giờ "
            f"được ghi tiếp, đơn vị mới phải mang mã mới." for code in closed]


def check_org(uow: Work, ctx: Context, doc: dict[str, Any]) -> list[str]:
    """R25: why this organisation may not replace the loaded one here; empty when it may. Writes
    nothing."""
    return _org_problems(uow, Organisation.loadable(doc))


def load_org(uow: Work, ctx: Context, doc: dict[str, Any], actor: audit.Actor = audit.CLI,
             details: dict[str, Any] | None = None) -> bool:
    """R25: keep the organisation and open a golden book for each unit and the province; the same
    document again changes nothing (False). The book of a unit (or province) the document no
    longer names is closed — kept, public and verifiable, never written again; a document that
    names a closed book's code again is refused (``OrgRefused``), nothing written. ``actor`` and
    ``details`` go on its R23 lines."""
    org = Organisation.loadable(doc)
    found = _org_problems(uow, org)
    if found:
        raise OrgRefused(found)
    if not uow.keep_organisation(doc, actor, details):
        return False
    now = ctx.now.replace(microsecond=0)
    publisher = uow.publications.of(org)
    for code, (name, kind) in books_of(org).items():
        book = uow.books.get(code)
        if book is None:
            uow.books.add(code, name, kind, now)
        elif book.name != name:
            uow.books.rename(code, name)
        else:
            continue
        publisher.book_created(code, now)
    current = org.book_codes()
    for book in uow.books.every():
        if not book.closed and book.code not in current:
            uow.books.close(book.code, now)
            publisher.book_created(book.code, now)  # its honour roll says it is closed
            uow.audit([(actor, "book.closed", book.code, book.code, {"entries": book.entries, "head": book.head})],
                      at=now)
    publisher.globals_changed(now)
    return True


# -- appending (R15, R15b) --------------------------------------------------------------------------
def _locked_book(uow: Work, ctx: Context, code: str) -> Book:
    """The book, locked; a book the organisation names but that is not open yet (an organisation
    loaded since) is opened here. ``NotFound`` for a book no one names."""
    book = uow.books.lock(code)
    if book is not None:
        return book
    org = _organisation(ctx)
    known = books_of(org) if org else {}
    if code not in known:
        raise NotFound(f"Không có sổ vàng mã {code}.", {"book": ["Không có sổ vàng này."]})
    name, kind = known[code]
    uow.books.add(code, name, kind, ctx.now.replace(microsecond=0))
    book = uow.books.lock(code)
    assert book is not None
    return book


def _append(uow: Work, ctx: Context, book: Book, entry: Entry, source: str, at: dt.datetime,
            advanced_at: dt.datetime | None = None, signed_at: str | None = None) -> SignedHead:
    """R15, R15b: the entry (standing at ``at``), the book's new head (advanced at
    ``advanced_at``, by default ``at``) and its signature, in the entry's transaction: one
    signature per entry, by the key that lives outside the database. Signed at the entry's
    instant unless ``signed_at`` says otherwise (a paper entry's date is not when it is signed).
    R16: the running figures' counts follow the entry."""
    advanced_at = advanced_at or at
    uow.books.append(entry, source, at)
    uow.books.advance(entry.book, entry.seq, entry.hash, advanced_at)
    signed = keyring(ctx.settings).sign(entry.book, entry.seq, entry.hash, signed_at or entry.inscribed_at)
    uow.books.add_head(signed)
    uow.books.count(book.kind, entry.deed_id, advanced_at)
    return signed


# -- inscribing (R8, R14, R16) ------------------------------------------------------------------------
def inscribe(uow: Work, ctx: Context, msg: Inscribe) -> int | None:
    """R8, R14, R15: append the inscription to its book (next ``seq``, chained to the head) and
    tell intake; a command already applied (same ``source``) creates nothing (returns None)."""
    book = _locked_book(uow, ctx, msg.book)
    # Checked under the book's lock, so two deliveries at once cannot both pass.
    if uow.books.source_exists(msg.source):
        log.info("inscription %s already in book %s", msg.source, msg.book)
        return None
    if uow.books.deed_revoked(str(msg.deed.get("id"))):
        # R15a: a revoked recognition is never inscribed again, in any book (a unit book's
        # revocation stops the provincial inscription of a round that closed before it).
        log.warning("inscription %s of deed %s in book %s refused: the deed's recognition was revoked",
                    msg.source, msg.deed.get("id"), msg.book)
        return None
    if book.closed:
        # R25: a closed book is never written again. The deed stays recognised where it was
        # decided (council's decision and tally); the refusal is on the audit record of the book.
        log.warning("inscription %s of deed %s refused: book %s is closed", msg.source, msg.deed.get("id"), msg.book)
        uow.audit([(audit.system("council"), "entry.refused", msg.book, msg.book, {
            "deed_id": msg.deed.get("id"), "decision": msg.decision.get("number"), "source": msg.source,
            "reason": "book_closed"})])
        return None
    at = book.entry_time(ctx.now)
    org = _organisation(ctx)
    author_name = org.author_name(msg.deed.get("author") or {}) if org else None
    deed = public_deed(msg.deed, author_name)
    seq = book.entries + 1
    entry = Entry.of(inscription(
        book=msg.book, seq=seq, prev_hash=book.head or GENESIS, deed=deed, decision=msg.decision,
        tally=msg.tally, at=at,
    ))
    signed = _append(uow, ctx, book, entry, msg.source, at)
    # The feeds are what readers wait for; the pages it changes are dropped now (rendered on
    # request meanwhile) and stored again one message later, a message in this transaction's
    # outbox, so they can never be left missing for good.
    uow.publications.entries_changed(org, msg.book, {seq}, at, "feeds", signed)
    uow.audit([(audit.system("council"), "entry.inscribed", f"{msg.book}:{seq}", msg.book, {
        "deed_id": deed.get("id"), "decision": msg.decision.get("number"), "source": msg.source,
    })], at=at)
    uow.emit_many([
        DeedInscribed(deed_id=deed["id"], book=msg.book, seq=seq, kind=INSCRIPTION),
        RepublishPages(book=msg.book, seqs=[seq], at=clock.isoformat(at)),
    ])
    return seq


def republish_pages(uow: Work, ctx: Context, msg: RepublishPages) -> bool:
    """R16: regenerate the pages and global publications of inscriptions, after their own
    transactions. Rendered from what the book holds now, for every entry after the last one whose
    pages are published (``books.pages_seq``): in a burst the first message publishes the pages of
    all, and the others, a redelivery included, find nothing left to do. Returns whether the
    message names entries of the book (False for a book or entry that does not exist)."""
    book = uow.books.lock(msg.book)
    seqs = {s for s in msg.seqs if 1 <= s <= (book.entries if book is not None else 0)}
    if book is None or not seqs:
        log.warning("no entries %s in book %s to republish pages for", msg.seqs, msg.book)
        return False
    if max(seqs) <= book.pages_seq:
        return True  # published already, with a later entry's
    touched = seqs | set(range(book.pages_seq + 1, book.entries + 1))
    at = dt.datetime.fromisoformat(msg.at)
    if book.updated_at is not None and book.entries > max(seqs):
        # Later entries are on the pages too: they date from the latest of them.
        at = max(at, book.updated_at)
    uow.publications.entries_changed(_organisation(ctx), msg.book, touched, clock.local(at), "pages")
    uow.books.pages_published(msg.book, book.entries)
    return True


# -- revoking (R15a) --------------------------------------------------------------------------------
def revocable(uow: Work, ctx: Context, actor: audit.Actor, code: str) -> Book:
    """R15a: the book whose entries ``actor`` means to revoke, locked until the revocation is
    appended (``revoke``): one that exists, is open (R25) and is the actor's to revoke in."""
    book = uow.books.lock(code)
    if book is None:
        raise NotFound(f"Không có sổ vàng mã {code}.")
    if book.closed:
        raise Conflict(closed_message(code))
    if not may_revoke(ctx.organisation, actor.role, actor.subject, code):
        raise Forbidden(f"Chỉ thư ký của đơn vị sở hữu sổ vàng {code} mới được thu hồi mục của sổ này.")
    return book


def revoke(uow: Work, ctx: Context, actor: audit.Actor, book: Book, seq: int, reason: str) -> Entry:
    """R15a: append a revocation of entry ``seq`` of ``book`` (as ``revocable`` gave it) with its
    reason; the revoked deed leaves the pages and feeds with a notice and stays in the chain.
    Returns the new entry."""
    code = book.code
    target = check_revocable(code, seq, uow.books.entry(code, seq), uow.books.revoked_by(code, seq))
    at = book.entry_time(ctx.now)
    new_seq = book.entries + 1
    decision = {
        "date": clock.local(at).date().isoformat(),
        "issuer": code,
        "issuer_name": book.name,
        "by": actor.subject,
        "role": actor.role,
    }
    entry = Entry.of(revocation(
        book=code, seq=new_seq, prev_hash=book.head or GENESIS, target=target, reason=reason,
        decision=decision, at=at,
    ))
    signed = _append(uow, ctx, book, entry, f"{REVOCATION}:{code}:{seq}", at)
    uow.publications.certificate_revoked(code, seq)
    deed = target.deed or {}
    uow.emit_many([
        DeedInscribed(deed_id=deed["id"], book=code, seq=new_seq, kind=REVOCATION),
        # R15a: council withdraws it from open rounds and never puts it to the vote again.
        DeedRevoked(deed_id=deed["id"], unit=str(deed.get("unit") or ""),
                    month=str(deed.get("occurred_on") or "")[:7], book=code, seq=new_seq, revokes=seq),
    ])
    uow.publications.entries_changed(_organisation(ctx), code, {seq, new_seq}, at, signed=signed)
    uow.audit([(actor, "entry.revoked", f"{code}:{seq}", code,
                {"revocation": new_seq, "deed_id": deed["id"], "reason": reason})], at=at)
    return entry


# -- a paper book (R22) -------------------------------------------------------------------------------
def import_paper_book(uow: Work, ctx: Context, actor: audit.Actor, document: Any) -> list[Entry]:
    """R22: enter a paper book once, in order, into a book that has no entry yet: each entry an
    inscription marked as from the paper book, with its original decision and tally, chained and
    its head signed as any other (R15, R15b), counted in the running figures (R16); R3 does not
    apply. All or nothing, recorded (R23) as done by ``actor`` (the operator at the command line).
    A refusal names each problem by its place in the file (``entries[3].deed.title``). Returns
    the new entries."""
    org = _organisation(ctx)
    if org is None:
        raise Conflict("Chưa nạp tổ chức: chạy `sovang org load FILE.json` trước.")
    try:
        paper_book = paper.read(document, dt.date.fromisoformat(org.since), ctx.today)
    except paper.PaperBookInvalid as invalid:
        raise Invalid("Tệp sổ giấy không hợp lệ: không mục nào được nhập.", invalid.errors) from None
    code = paper_book.book
    book = _locked_book(uow, ctx, code)
    if book.closed:
        raise Conflict(f"Sổ vàng {code} đã khoá (R25): không được ghi thêm.", {"book": ["Sổ đã khoá."]})
    if book.entries:
        raise Conflict(
            f"Sổ vàng {code} đã có {book.entries} mục: sổ giấy chỉ được nhập vào một sổ chưa có mục nào.",
            {"book": ["Sổ đã có mục."]},
        )
    now = ctx.now.replace(microsecond=0)
    signed_at = clock.isoformat(clock.local(now))
    head, created = GENESIS, []
    signed = None
    for seq, paper_entry in enumerate(paper_book.entries, 1):
        deed = public_deed(paper_entry.deed, org.author_name(paper_entry.deed["author"]))
        decision = {**paper_entry.decision, "issuer": code, "issuer_name": book.name}
        # Only the day is known: the entry stands at its start, Asia/Ho_Chi_Minh.
        at = clock.at_local(paper_entry.inscribed_on, 0)
        entry = Entry.of(inscription(book=code, seq=seq, prev_hash=head, deed=deed, decision=decision,
                                     tally=paper_entry.tally, at=at))
        signed = _append(uow, ctx, book, entry, f"{paper.PAPER}:{code}:{seq}", at, now, signed_at)
        head = entry.hash
        created.append(entry)
    uow.publications.entries_changed(org, code, set(range(1, len(created) + 1)), now, signed=signed)
    uow.books.pages_published(code, len(created))
    uow.audit([(actor, "book.imported", code, code, {
        "entries": len(created), "first_decision": (created[0].decision or {})["number"],
        "last_decision": (created[-1].decision or {})["number"], "head": head,
    })], at=now)
    log.info("paper book %s imported: %d entries", code, len(created))
    return created
