"""intake's use cases: each runs in one unit of work and is the only place that commits.

The message handlers at the end run inside the consumer's unit of work (``shared.outbox.consume``
commits them together with the inbox record).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.intake.domain import scope
from services.intake.domain.dates import month_of, occurred_on_problem
from services.intake.domain.evidence import sniff
from services.intake.domain.scope import Actor
from services.intake.domain.status import advance, status_after_entry
from services.intake.domain.text import search_needles, search_text
from services.intake.orm import Deed, DeedEvidence, EvidenceFile, IntroductionClosure, UnitCarry, UnitMonth
from shared import audit, clock
from shared.db import UnitOfWork, utcnow
from shared.ids import new_id
from shared.messages import (
    CloseIntroductions,
    DeedFateDecided,
    DeedInscribed,
    DeedIntroduced,
    DeedsRecorded,
    IntroductionsClosed,
    ReopenIntroductions,
)
from shared.org import Organisation, OrgRefused
from shared.orgcopy import store_org
from shared.refusals import Conflict, Forbidden, Invalid, NotFound, UnsupportedType
from shared.runtime import Runtime
from shared.tables import idempotency_records

log = logging.getLogger(__name__)

# Evidence may be added while the deed is still intake's alone: once its month is closed the
# council holds a frozen copy, which a later file would silently miss.
EVIDENCE_OPEN = ("recorded", "introduced")


# -- the organisation ----------------------------------------------------------------------------
def _org_problems(session: Session, org: Organisation) -> list[str]:
    """R25 with R5a: deeds introduced to a unit the file dissolves, still waiting for its next
    monthly round, would be stranded (no council is left to vote on them)."""
    rows = session.execute(
        sa.select(Deed.unit, sa.func.count()).where(Deed.status == "introduced").group_by(Deed.unit)
        .order_by(Deed.unit)
    ).all()
    return [f"Đơn vị {unit} còn {n} việc tốt đã giới thiệu đang chờ phiên tháng mà tệp tổ chức bỏ đơn vị này: "
            f"hãy mở và đóng phiên tháng của đơn vị trước khi nạp tổ chức mới." for unit, n in rows if unit not in org.units]


def check_org(runtime: Runtime, doc: dict[str, Any]) -> list[str]:
    """R25: why this organisation may not replace the loaded one here; empty when it may. Deeds
    keep the unit they were recorded in, and their authors read them wherever they serve (``_own``)."""
    org = Organisation.loadable(doc)
    with runtime.db.reading() as s:
        return _org_problems(s, org)


def load_org(runtime: Runtime, doc: dict[str, Any]) -> bool:
    """Keep the organisation; loading the same document again changes nothing (False); one that
    would strand introduced deeds is refused (``OrgRefused``), nothing written."""
    with runtime.db.unit_of_work() as uow:
        changed = load_org_in(uow, doc)
        if changed:
            uow.commit()
    return changed


def load_org_in(uow: UnitOfWork, doc: dict[str, Any], actor: audit.Actor = audit.CLI,
                details: dict[str, Any] | None = None) -> bool:
    """``load_org`` in the caller's transaction, which commits (``services.intake.organisation``)."""
    found = _org_problems(uow.session, Organisation.loadable(doc))
    if found:
        raise OrgRefused(found)
    return store_org(uow, doc, actor, details)


# -- recording -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Placed:
    """A valid deed input placed in the organisation: its unit, sub-unit and author's name."""

    data: dict[str, Any]
    unit: str
    subunit: str | None
    author_name: str


def _place(org: Organisation, actor: Actor, data: dict[str, Any], today: dt.date, since: dt.date,
           late_days: int) -> Placed:
    """R2, R3: check one deed input against the organisation, the actor's scope and the dates."""
    author = data["author"]
    placed = org.author_unit(author)
    if placed is None:
        what = "Cán bộ" if "officer" in author else "Tập thể"
        code = next(iter(author.values()))
        raise Invalid("Tác giả không có trong tổ chức.",
                      {"author": [f"{what} {code} không thuộc đơn vị nào của tổ chức."]})
    if not scope.may_record(org, actor, author):
        raise Forbidden(f"Vai trò {actor.role} của {actor.subject} không được ghi việc tốt của tác giả này.")
    problem = occurred_on_problem(data["occurred_on"], today, since, late_days)
    if problem:
        raise Invalid(problem, {"occurred_on": [problem]})
    unit, subunit = placed
    return Placed(data, unit, subunit, org.author_name(author))


def _new_row(placed: Placed, created_by: str, now: dt.datetime) -> dict[str, Any]:
    """The ``deeds`` row of a placed input: written with a plain INSERT, no ORM object per deed."""
    data = placed.data
    ((kind, code),) = data["author"].items()
    return {
        "id": new_id(),
        "author_kind": kind,
        "author_code": code,
        "author_name": placed.author_name,
        "unit": placed.unit,
        "subunit": placed.subunit,
        "occurred_on": data["occurred_on"],
        "month": month_of(data["occurred_on"]),
        "kind": data["kind"],
        "relation": data["relation"],
        "title": data["title"],
        "description": data["description"],
        "place": data.get("place"),
        "beneficiaries": data.get("beneficiaries"),
        "search_text": search_text(data["title"], data["description"]),
        "status": "recorded",
        "book_entries": [],
        "created_at": now,
        "created_by": created_by,
    }


def _new_view(row: dict[str, Any]) -> dict[str, Any]:
    """``_view`` of a row just written (no evidence, no book entry yet)."""
    return {
        "id": row["id"],
        "author": {row["author_kind"]: row["author_code"], "name": row["author_name"]},
        "occurred_on": row["occurred_on"],
        "kind": row["kind"],
        "relation": row["relation"],
        "title": row["title"],
        "description": row["description"],
        "place": row["place"],
        "beneficiaries": row["beneficiaries"],
        "unit": row["unit"],
        "subunit": row["subunit"],
        "month": row["month"],
        "status": row["status"],
        "carried_over": False,
        "created_at": row["created_at"],
        "book_entries": [],
        "evidence": [],
    }


def _recorded(rows: list[dict[str, Any]]) -> list[DeedsRecorded]:
    """R10: what council counts, one message per (unit, month) of the deeds, in their order."""
    ids: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        ids.setdefault((row["unit"], row["month"]), []).append(row["id"])
    return [DeedsRecorded(unit=unit, month=month, deed_ids=deed_ids) for (unit, month), deed_ids in ids.items()]


def _recorded_lines(actor: Actor, rows: list[dict[str, Any]]) -> list[audit.Line]:
    """R23: one line per deed recorded; never its text (R2a: the beneficiaries stay in the deed)."""
    return [(actor, "deed.recorded", row["id"], row["unit"], {"month": row["month"], "batch": len(rows) > 1})
            for row in rows]


def _dates(runtime: Runtime) -> tuple[dt.date, dt.date, int]:
    return clock.today(), dt.date.fromisoformat(runtime.settings.programme_since), runtime.settings.late_days


_INSERT_DEED = sa.insert(Deed.__table__)


def record_deed(runtime: Runtime, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """R2: record one deed (status ``recorded``); council hears of it for its counts (R10)."""
    org = runtime.orgs.require()
    placed = _place(org, actor, data, *_dates(runtime))
    row = _new_row(placed, f"{actor.role}:{actor.subject}", utcnow())
    with runtime.db.unit_of_work() as uow:
        # One row as one parameter set, on the session's connection: a list of one would take the
        # executemany path, and the ORM's layers add nothing to a Core INSERT.
        uow.session.connection().execute(_INSERT_DEED, row)
        uow.emit_many(_recorded([row]))
        audit.record_many(uow, _recorded_lines(actor, [row]), at=row["created_at"])
        uow.commit()
    return _private(_new_view(row), org, actor)


def record_batch(runtime: Runtime, actor: Actor, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """All or nothing: every deed is checked first; one refused → nothing stored, reasons by index."""
    if actor.role not in scope.BATCH_RECORDERS:
        raise Forbidden(f"Vai trò {actor.role} không được ghi theo lô.")
    org = runtime.orgs.require()
    dates = _dates(runtime)
    placed: list[Placed] = []
    invalid: dict[str, Any] = {}
    forbidden: dict[str, Any] = {}
    for i, data in enumerate(items):
        try:
            placed.append(_place(org, actor, data, *dates))
        except Invalid as exc:
            invalid[str(i)] = exc.errors
        except Forbidden as exc:
            forbidden[str(i)] = {"author": [exc.detail]}
    if forbidden:
        raise Forbidden("Có việc tốt ngoài phạm vi được ghi; không việc nào được lưu.", forbidden)
    if invalid:
        raise Invalid("Có việc tốt không hợp lệ; không việc nào được lưu.", invalid)
    now = utcnow()
    created_by = f"{actor.role}:{actor.subject}"
    rows = [_new_row(p, created_by, now) for p in placed]
    with runtime.db.unit_of_work() as uow:
        # One multi-row INSERT (insertmanyvalues) and one message per (unit, month), not per deed.
        uow.session.execute(sa.insert(Deed.__table__), rows)
        uow.emit_many(_recorded(rows))
        audit.record_many(uow, _recorded_lines(actor, rows), at=now)
        uow.commit()
    return [_private(_new_view(row), org, actor) for row in rows]


# -- reading -------------------------------------------------------------------------------------
def _evidence_of(session: Session, deed_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {i: [] for i in deed_ids}
    if not deed_ids:
        return out
    rows = session.execute(
        sa.select(DeedEvidence.deed_id, EvidenceFile.sha256, EvidenceFile.size, EvidenceFile.content_type)
        .join(EvidenceFile, EvidenceFile.sha256 == DeedEvidence.sha256)
        .where(DeedEvidence.deed_id.in_(deed_ids))
        .order_by(DeedEvidence.added_at, DeedEvidence.sha256)
    ).all()
    for row in rows:
        out[row.deed_id].append({"sha256": row.sha256, "size": row.size, "content_type": row.content_type})
    return out


def _private(view: dict[str, Any], org: Organisation, actor: Actor) -> dict[str, Any]:
    """R2a: ``view`` without its beneficiaries unless ``actor`` may see them."""
    author = {k: v for k, v in view["author"].items() if k != "name"}
    if not scope.may_see_beneficiaries(org, actor, author, view["unit"], view["subunit"]):
        view.pop("beneficiaries", None)
    return view


def _view(deed: Deed, evidence: list[dict[str, Any]], org: Organisation, actor: Actor) -> dict[str, Any]:
    """What intake may answer about a deed to ``actor``, who may read it (schemas whitelist it;
    the beneficiaries only to those R2a names)."""
    return _private({
        "id": deed.id,
        "author": {**deed.author, "name": deed.author_name},
        "occurred_on": deed.occurred_on,
        "kind": deed.kind,
        "relation": deed.relation,
        "title": deed.title,
        "description": deed.description,
        "place": deed.place,
        "beneficiaries": deed.beneficiaries,
        "unit": deed.unit,
        "subunit": deed.subunit,
        "month": deed.month,
        "status": deed.status,
        "carried_over": bool(deed.carried_over),
        "created_at": deed.created_at,
        "book_entries": list(deed.book_entries or []),
        "evidence": evidence,
    }, org, actor)


def _readable(session: Session, org: Organisation, actor: Actor, deed_id: str) -> Deed:
    """The deed, if the actor may read it; 404 alike for a deed absent and one out of scope, so
    that its existence does not leak to other units."""
    if actor.role not in scope.READERS:
        raise Forbidden(f"Vai trò {actor.role} không được xem việc tốt.")
    deed = session.get(Deed, deed_id) if len(deed_id) <= 36 else None
    if deed is None or not (scope.may_read(org, actor, deed.unit) or _own(actor, deed)):
        raise NotFound("Không tìm thấy việc tốt này.")
    return deed


def _recorded_in(runtime: Runtime, unit: str) -> bool:
    with runtime.db.reading() as s:
        return s.execute(sa.select(Deed.id).where(Deed.unit == unit).limit(1)).first() is not None


def _own(actor: Actor, deed: Deed) -> bool:
    """R25: an officer reads their own deeds wherever they serve now (a deed keeps the unit it was
    recorded in; its author may have moved since)."""
    return (actor.role in ("officer", "council_member") and deed.author_kind == "officer"
            and deed.author_code == actor.subject)


def get_deed(runtime: Runtime, actor: Actor, deed_id: str) -> dict[str, Any]:
    org = runtime.orgs.require()
    with runtime.db.reading() as s:
        deed = _readable(s, org, actor, deed_id)
        return _view(deed, _evidence_of(s, [deed.id])[deed.id], org, actor)


def list_deeds(
    runtime: Runtime, actor: Actor, filters: dict[str, Any], limit: int, after: str | None
) -> list[dict[str, Any]]:
    """Deeds in the actor's scope, oldest first, up to ``limit + 1`` (for the next cursor).

    ``q`` (R4) keeps the deeds where every word of it starts a word of the title or the
    description, ignoring case and diacritics.
    """
    if actor.role not in scope.READERS:
        raise Forbidden(f"Vai trò {actor.role} không được xem việc tốt.")
    org = runtime.orgs.require()
    unit = filters.get("unit")
    if actor.role == "province_secretary":
        if not scope.may_read(org, actor, unit or ""):
            raise Forbidden("Chỉ thư ký Công an tỉnh được xem việc tốt của mọi đơn vị.")
        if unit is not None and unit not in org.units and not _recorded_in(runtime, unit):
            # R25: a unit dissolved since keeps its deeds, readable by the province.
            raise Invalid("Đơn vị không có trong tổ chức.", {"unit": [f"Không có đơn vị {unit}."]})
    else:
        own = scope.actor_unit(org, actor)
        if own is None:
            raise Forbidden(f"{actor.subject} không thuộc đơn vị nào.")
        if unit is not None and unit != own:
            raise Forbidden(f"Chỉ được xem việc tốt của đơn vị mình ({own}).")
        unit = own
    query = sa.select(Deed).order_by(Deed.id).limit(limit + 1)
    if unit is not None and actor.role == "officer" and filters.get("unit") is None:
        # R25: their own deeds too, recorded in a unit they have left.
        query = query.where(sa.or_(Deed.unit == unit, sa.and_(Deed.author_kind == "officer",
                                                              Deed.author_code == actor.subject)))
    elif unit is not None:
        query = query.where(Deed.unit == unit)
    if filters.get("month"):
        query = query.where(Deed.month == filters["month"])
    if filters.get("status"):
        query = query.where(Deed.status == filters["status"])
    # strpos / instr: a plain substring test no index serves. Written ``!= 0`` (never ``> 0``):
    # the planner then takes it to keep almost every row and keeps the plans the LIKE alone
    # gets; ``> 0`` (a third) turned some into slow bitmap scans (bench/analysis.md, R4).
    locate = sa.func.strpos if runtime.db.is_postgres else sa.func.instr
    for needle in search_needles(filters.get("q") or ""):
        # R4: a word's start (" word"). For PostgreSQL's trigram index a word of three letters
        # or more is looked up as before (``LIKE '%word%'``): the space would add the trigrams
        # "  w" and " wo", whose lists hold most deeds. Its start is then checked on the rows
        # found. A shorter word has no trigram of its own (the index would be read whole): its
        # start is what the index looks up.
        if len(needle) > 3:
            query = query.where(Deed.search_text.contains(needle[1:], autoescape=True))
            query = query.where(locate(Deed.search_text, needle) != 0)
        else:
            query = query.where(Deed.search_text.contains(needle, autoescape=True))
    if after is not None:
        query = query.where(Deed.id > after)
    with runtime.db.reading() as s:
        deeds = list(s.scalars(query))
        evidence = _evidence_of(s, [d.id for d in deeds])
        return [_view(d, evidence[d.id], org, actor) for d in deeds]


# -- introducing ---------------------------------------------------------------------------------
def _lock_month(session: Session, unit: str, month: str) -> UnitMonth:
    """The (unit, month) row, locked: introductions and the month's closing take turns on it."""
    dialect = session.get_bind().dialect.name
    values = {"unit": unit, "month": month}
    if dialect == "postgresql":
        stmt = postgresql.insert(UnitMonth).values(values).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(UnitMonth).values(values).on_conflict_do_nothing()
    session.execute(stmt)
    return session.execute(
        sa.select(UnitMonth).where(UnitMonth.unit == unit, UnitMonth.month == month).with_for_update()
    ).scalar_one()


def _lock_carries(session: Session, unit: str) -> None:
    """The unit's row of carried introductions (R5a), locked: a carried introduction and the
    closing of any month of the unit take turns on it."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(UnitCarry).values(unit=unit).on_conflict_do_nothing())
    session.execute(sa.select(UnitCarry.unit).where(UnitCarry.unit == unit).with_for_update()).one()


def introduce(runtime: Runtime, actor: Actor, deed_id: str) -> dict[str, Any]:
    """R5: a sub-unit lead or the unit secretary introduces a recorded deed to its unit. Once the
    unit's round for that month has opened, the deed is carried into the unit's next monthly
    round (R5a: ``carried_over``), so nothing recorded inside R3's window is stranded.
    Introducing it again changes nothing."""
    if actor.role not in scope.INTRODUCERS:
        raise Forbidden(f"Vai trò {actor.role} không được giới thiệu việc tốt.")
    org = runtime.orgs.require()
    with runtime.db.unit_of_work() as uow:
        s = uow.session
        deed = _readable(s, org, actor, deed_id)
        if not scope.may_introduce(org, actor, deed.unit, deed.subunit):
            raise Forbidden("Chỉ trưởng đơn vị cơ sở của việc tốt hoặc thư ký đơn vị được giới thiệu việc tốt này.")
        unit_month = _lock_month(s, deed.unit, deed.month)
        closed = unit_month.closed_at is not None
        if closed:
            # After the month's lock, as the closing of every month takes them (no deadlock).
            _lock_carries(s, deed.unit)
        s.refresh(deed)
        if deed.status not in ("recorded", "introduced"):
            raise Conflict(f"Việc tốt đang ở trạng thái {deed.status}, không thể giới thiệu.")
        if deed.status == "recorded":
            deed.status = "introduced"
            deed.carried_over = closed
            uow.emit(DeedIntroduced(deed_id=deed.id, unit=deed.unit, month=deed.month))
            audit.record(uow, actor, "deed.introduced", deed.id, {"month": deed.month, "carried_over": closed},
                         unit=deed.unit)
        s.flush()
        view = _view(deed, _evidence_of(s, [deed.id])[deed.id], org, actor)
        uow.commit()
    return view


# -- evidence ------------------------------------------------------------------------------------
def add_evidence(runtime: Runtime, actor: Actor, deed_id: str, content: bytes) -> dict[str, Any]:
    """Keep an evidence file by its content hash; its type is read from its bytes."""
    if actor.role not in scope.RECORDERS:
        raise Forbidden(f"Vai trò {actor.role} không được thêm bằng chứng.")
    if not content:
        raise Invalid("Tệp rỗng.", {"file": ["Tệp rỗng."]})
    content_type = sniff(content[:16])
    if content_type is None:
        raise UnsupportedType(
            "Chỉ nhận tệp JPEG, PNG, WebP, PDF hoặc MP4 (kiểu đọc từ nội dung tệp).",
            {"file": ["Kiểu tệp không được chấp nhận."]},
        )
    digest = hashlib.sha256(content).hexdigest()
    org = runtime.orgs.require()
    with runtime.db.unit_of_work() as uow:
        s = uow.session
        deed = _readable(s, org, actor, deed_id)
        if not scope.may_record(org, actor, deed.author):
            raise Forbidden("Chỉ người được ghi việc tốt này mới được thêm bằng chứng.")
        if deed.status not in EVIDENCE_OPEN:
            raise Conflict(f"Việc tốt đang ở trạng thái {deed.status}: bản sao đã chuyển hội đồng, "
                           "không thêm bằng chứng được nữa.")
        now = utcnow()
        if s.get(EvidenceFile, digest) is None:
            s.add(EvidenceFile(sha256=digest, size=len(content), content_type=content_type, data=content,
                               stored_at=now))
            s.flush()
        if s.get(DeedEvidence, (deed.id, digest)) is None:
            s.add(DeedEvidence(deed_id=deed.id, sha256=digest, added_at=now,
                               added_by=f"{actor.role}:{actor.subject}"))
            audit.record(uow, actor, "evidence.added", deed.id,
                         {"sha256": digest, "size": len(content), "content_type": content_type}, unit=deed.unit, at=now)
        uow.commit()
    return {"sha256": digest, "size": len(content), "content_type": content_type}


def get_evidence(runtime: Runtime, actor: Actor, deed_id: str, sha256: str) -> tuple[str, bytes]:
    """An evidence file of a deed, to whoever may read the deed and to the council members while
    the deed is their candidate."""
    org = runtime.orgs.require()
    with runtime.db.reading() as s:
        deed = s.get(Deed, deed_id) if len(deed_id) <= 36 else None
        allowed = deed is not None and (
            scope.may_read(org, actor, deed.unit)
            or scope.may_see_candidate_evidence(org, actor, deed.unit, deed.status)
        )
        if not allowed:
            if actor.role not in (*scope.READERS, "council_member"):
                raise Forbidden(f"Vai trò {actor.role} không được xem bằng chứng.")
            raise NotFound("Không tìm thấy việc tốt này.")
        row = s.execute(
            sa.select(EvidenceFile.content_type, EvidenceFile.data)
            .join(DeedEvidence, DeedEvidence.sha256 == EvidenceFile.sha256)
            .where(DeedEvidence.deed_id == deed_id, EvidenceFile.sha256 == sha256)
        ).first()
        if row is None:
            raise NotFound("Việc tốt này không có tệp bằng chứng đó.")
        return row.content_type, row.data


# -- messages from the other services ------------------------------------------------------------
def _copy(deed: Deed, evidence: list[dict[str, Any]]) -> dict[str, Any]:
    """The frozen public copy of a deed that leaves intake (DeedCopySchema): never beneficiaries."""
    return {
        "id": deed.id,
        "title": deed.title,
        "description": deed.description,
        "kind": deed.kind,
        "relation": deed.relation,
        "occurred_on": deed.occurred_on.isoformat(),
        "month": deed.month,
        "place": deed.place,
        "author": {**deed.author, "name": deed.author_name},
        "unit": deed.unit,
        "subunit": deed.subunit,
        "evidence": evidence,
    }


# A later round of the same month (R9's supplementary round) puts to the vote again what the
# first one did not select; nothing can be introduced to a closed month.
CANDIDATE_STATUSES = ("introduced", "in_round", "not_selected")


def close_introductions(uow: UnitOfWork, msg: CloseIntroductions) -> None:
    """A monthly round is opening: close the unit's month to introductions, put its introduced
    deeds in the round, with the deeds of earlier months carried over to it (R5a), and send
    council the final list with frozen copies, all in this transaction. A round already answered
    is answered once only.

    A carried deed goes to the first round whose closing takes the unit's carry lock after its
    introduction (``carried_to`` records it; the same month's round opened anew takes it again,
    no other round does)."""
    s = uow.session
    if s.get(IntroductionClosure, msg.round_id) is not None:
        return
    unit_month = _lock_month(s, msg.unit, msg.month)
    _lock_carries(s, msg.unit)
    now = utcnow()
    if unit_month.closed_at is None:
        unit_month.closed_at = now
        unit_month.closed_by_round = msg.round_id
    own = sa.and_(Deed.month == msg.month, sa.not_(Deed.carried_over))
    carried = sa.and_(Deed.carried_over, Deed.month < msg.month,
                      sa.or_(Deed.carried_to.is_(None), Deed.carried_to == msg.month))
    deeds = list(s.scalars(
        sa.select(Deed)
        .where(Deed.unit == msg.unit, Deed.status.in_(CANDIDATE_STATUSES), sa.or_(own, carried))
        .order_by(Deed.id)
    ))
    for deed in deeds:
        deed.status = advance(deed.status, "in_round")
        if deed.carried_over:
            deed.carried_to = msg.month
    recorded = s.scalar(
        sa.select(sa.func.count()).select_from(Deed).where(Deed.unit == msg.unit, Deed.month == msg.month)
    )
    evidence = _evidence_of(s, [d.id for d in deeds])
    s.add(IntroductionClosure(round_id=msg.round_id, council=msg.council, unit=msg.unit, month=msg.month,
                              deed_ids=[d.id for d in deeds], closed_at=now))
    audit.record(uow, audit.system("council"), "month.closed_to_introductions", f"{msg.unit}:{msg.month}",
                 {"round": msg.round_id, "deeds": len(deeds)}, unit=msg.unit, at=now)
    uow.emit(IntroductionsClosed(
        round_id=msg.round_id, unit=msg.unit, month=msg.month, recorded=int(recorded or 0),
        deeds=[_copy(d, evidence[d.id]) for d in deeds],
    ))


def reopen_introductions(uow: UnitOfWork, msg: ReopenIntroductions) -> None:
    """R20a: the monthly round that closed this month was cancelled before any ballot. The month
    takes introductions again, and the deeds its closing put in the round are introduced as they
    were: those of the month wait for the month's next round, those carried over from earlier
    months (R5a) for whichever monthly round of the unit comes next.

    Applied once: only while the month is still closed by that round (a new round of the month
    that closed it since has its own deeds, which this message never touches)."""
    s = uow.session
    closure = s.get(IntroductionClosure, msg.round_id)
    if closure is None:
        log.warning("reopen_introductions for round %s, which never closed a month: ignored", msg.round_id)
        return
    unit_month = _lock_month(s, closure.unit, closure.month)
    _lock_carries(s, closure.unit)
    if unit_month.closed_by_round != msg.round_id:
        log.info("reopen_introductions for round %s: the month is no longer closed by it", msg.round_id)
        return
    newer = s.scalars(sa.select(IntroductionClosure.round_id).where(
        IntroductionClosure.unit == closure.unit, IntroductionClosure.month == closure.month,
        IntroductionClosure.closed_at > closure.closed_at,
    ).order_by(IntroductionClosure.closed_at.desc())).first()
    if newer is not None:
        # The month's round opened anew and was answered before this message came: the month stays
        # closed, by that round, which holds the deeds now.
        unit_month.closed_by_round = newer
        return
    unit_month.closed_at = None
    unit_month.closed_by_round = None
    ids = list(closure.deed_ids or [])
    back = []
    for deed in s.scalars(sa.select(Deed).where(Deed.id.in_(ids), Deed.status == "in_round")) if ids else []:
        # The one move back a status makes: the round that took the deed never was (advance()
        # only moves on).
        deed.status = "introduced"
        back.append(deed.id)
        if deed.carried_over:
            deed.carried_to = None
    audit.record(uow, audit.system("council"), "month.reopened_to_introductions", f"{closure.unit}:{closure.month}",
                 {"round": msg.round_id, "deeds_back": len(back)}, unit=closure.unit)


def deed_fate(uow: UnitOfWork, msg: DeedFateDecided) -> None:
    """What a round made of a deed; a status never moves backwards (a late or stale message is
    ignored)."""
    deed = uow.session.get(Deed, msg.deed_id, with_for_update=True)
    if deed is None:
        log.warning("deed_fate for unknown deed %s ignored", msg.deed_id)
        return
    before = deed.status
    deed.status = advance(deed.status, msg.status)
    if deed.status != before:
        audit.record(uow, audit.system("council"), "deed.status_changed", deed.id,
                     {"from": before, "to": deed.status, "round": msg.round_id}, unit=deed.unit)


def deed_inscribed(uow: UnitOfWork, msg: DeedInscribed) -> None:
    """A golden book holds an entry about the deed: list it once, and move the status on
    (recognised for the unit's book, inscribed for the provincial one)."""
    deed = uow.session.get(Deed, msg.deed_id, with_for_update=True)
    if deed is None:
        log.warning("deed_inscribed for unknown deed %s ignored", msg.deed_id)
        return
    entries = list(deed.book_entries or [])
    known = any(e.get("book") == msg.book and e.get("seq") == msg.seq for e in entries)
    if not known:
        entry: dict[str, Any] = {"book": msg.book, "seq": msg.seq}
        if msg.kind != "inscription":
            entry["kind"] = msg.kind
        deed.book_entries = [*entries, entry]
    before = deed.status
    implied = status_after_entry(deed.unit, msg.book, msg.kind)
    if implied:
        deed.status = advance(deed.status, implied)
    if not known or deed.status != before:
        audit.record(uow, audit.system("book"), "deed.book_entry", deed.id,
                     {"book": msg.book, "seq": msg.seq, "kind": msg.kind, "from": before, "to": deed.status},
                     unit=deed.unit)


# -- housekeeping --------------------------------------------------------------------------------
def purge_idempotency_records(runtime: Runtime, now: dt.datetime | None = None) -> int:
    """Forget Idempotency-Keys older than ``idempotency_ttl_hours`` (API.md: kept at least 24 h)."""
    cutoff = (now or utcnow()) - dt.timedelta(hours=runtime.settings.idempotency_ttl_hours)
    t = idempotency_records
    with runtime.db.unit_of_work() as uow:
        result = uow.session.execute(t.delete().where(t.c.created_at < cutoff, t.c.status != 0))
        uow.commit()
    return int(result.rowcount or 0)
